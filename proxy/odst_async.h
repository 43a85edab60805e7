// odst_async.h owns the proxy's asynchronous client of the original-destination API (protocol in
// include/xredir/odst.h): one persistent Unix stream connection per worker thread, driven by that
// worker's io_uring so that a query never blocks the ring. Queries are pipelined: each is
// appended to the outgoing byte stream and its token to a FIFO; the server answers in request
// order, so the n-th response belongs to the n-th token.
//
// Failure handling: when the server closes the connection or an I/O error occurs, every pending
// query fails with OdstError::kUnavailable and the connection is dropped; the next query
// reconnects (a nonblocking connect on a Unix socket completes or fails at once). After a failed
// connect, queries fail immediately for kReconnectBackoffNs instead of trying again each time.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "metrics.h"
#include "ring.h"
#include "user_data.h"
#include "xredir/ip_addr.h"
#include "xredir/odst.h"

namespace xredir::proxy {

// OdstSink receives the answers. destination is set on success; otherwise error says why.
class OdstSink {
 public:
  virtual void onOriginalDst(std::uint64_t token,
                             const std::optional<Endpoint>& destination,
                             OdstError error) = 0;

 protected:
  ~OdstSink() = default;
};

// odstErrorFromStatus maps a response status other than OK to the metric label.
OdstError odstErrorFromStatus(std::uint8_t status);

class OdstClient {
 public:
  // kReconnectBackoffNs: how long queries fail fast after a failed connect (100 ms).
  static constexpr std::int64_t kReconnectBackoffNs = 100'000'000;

  OdstClient(Ring& ring, std::string socket_path, OdstSink& sink);
  ~OdstClient();
  OdstClient(const OdstClient&) = delete;
  OdstClient& operator=(const OdstClient&) = delete;

  // query asks for the original destination of the TCP connection client -> proxy. Returns true
  // when the query was sent (the answer comes through the sink, later, never from inside this
  // call) and false when the server is unavailable right now (no answer will come).
  bool query(std::uint64_t token,
             const Endpoint& client,
             const Endpoint& proxy,
             std::int64_t now_ns);

  // onCompletion handles a completion of kind kOdstSend or kOdstRecv.
  void onCompletion(const UserData& ud, int res);

  // adoptConnection uses an already connected stream socket (tests: one end of a socketpair).
  void adoptConnection(int fd);
  // pending returns how many queries await an answer.
  std::size_t pending() const { return tokens_.size(); }
  // idle reports that no operation of this client is in flight in the ring.
  bool idle() const { return !send_inflight_ && !recv_inflight_; }
  // close fails pending queries (kUnavailable) and shuts the connection down; in-flight
  // operations then complete promptly.
  void close();

 private:
  bool connect(std::int64_t now_ns);
  void armRecv();
  void startSend();
  void fail();
  void deliver(std::uint64_t token, const std::optional<Endpoint>& dst, OdstError error);

  Ring& ring_;
  std::string socket_path_;
  OdstSink& sink_;
  int fd_ = -1;
  std::uint32_t epoch_ = 0;  // bumped per connection; stale completions are recognised by it
  bool send_inflight_ = false;
  bool recv_inflight_ = false;
  std::int64_t retry_after_ns_ = 0;
  std::deque<std::uint64_t> tokens_;
  std::vector<std::uint8_t> queued_;   // encoded requests not yet handed to the ring
  std::vector<std::uint8_t> sending_;  // the bytes of the send in flight
  std::size_t sent_ = 0;
  static constexpr std::size_t kRecvBytes = XREDIR_ODST_RESPONSE_SIZE * 128;
  std::uint8_t recv_buf_[kRecvBytes];
  std::size_t recv_len_ = 0;
};

}  // namespace xredir::proxy
