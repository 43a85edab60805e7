// connection.h owns the proxied connections of one worker thread (ConnectionTable): their slots,
// their state machine (described at the top of connection.cc) and the relay of bytes in both
// directions through the worker's provided-buffer ring. Everything here runs on the worker's
// thread; the only shared state is the active-connection gauge (an atomic).
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "config.h"
#include "metrics.h"
#include "odst_async.h"
#include "proxy_protocol.h"
#include "ring.h"
#include "user_data.h"
#include "xredir/ip_addr.h"

namespace xredir::proxy {

enum class ConnState : std::uint8_t {
  kFree = 0,
  kResolving,      // waiting for the original destination
  kConnecting,     // upstream connect in flight (the tick enforces its timeout)
  kSendingHeader,  // PROXY v2 header to upstream
  kRelaying,       // both directions relaying (or one finished after a half-close)
  kClosing,        // cancellations issued; waiting for in-flight operations to finish
};

// Direction is one half of the relay: bytes from a source socket to a destination socket,
// through at most one provided buffer at a time (back-pressure: the next recv from the source
// is only armed when the previous buffer has been sent in full).
struct Direction {
  bool has_buffer = false;
  bool done = false;     // the source sent FIN (passed on as shutdown(SHUT_WR) once relaying)
  bool reading = false;  // a recv from the source is in the ring
  bool starved = false;  // parked in starved_ until a buffer comes back
  std::uint16_t bid = 0;
  std::uint32_t len = 0;
  std::uint32_t off = 0;
};

struct Connection {
  ConnState state = ConnState::kFree;
  std::uint32_t generation = 0;
  std::uint32_t slot = 0;
  int client_fd = -1;
  int upstream_fd = -1;
  std::uint32_t inflight = 0;  // operations in the ring that reference this connection
  bool rst_client = false;
  bool rst_upstream = false;
  bool have_client = false;  // `client` has been read (getpeername), only when something needs it
  bool have_local = false;   // `local` has been read (getsockname), likewise
  // watch_*: an error poll was armed on that socket (at most once per connection, see onTick).
  bool watch_client = false;
  bool watch_upstream = false;
  std::int64_t last_activity_ns = 0;
  Endpoint client;  // peer of the accepted socket (valid when have_client)
  Endpoint local;   // local address of the accepted socket (valid when have_local)
  Direction to_upstream;
  Direction to_client;
  sockaddr_storage upstream_addr{};
  socklen_t upstream_len = 0;
  std::uint8_t header[kProxyV2MaxSize] = {};
  std::uint8_t header_len = 0;
  std::uint8_t header_sent = 0;
};

class ConnectionTable final : public OdstSink {
 public:
  ConnectionTable(Ring& ring,
                  BufferRing& buffers,
                  const Config& config,
                  std::vector<Endpoint> listen,
                  WorkerCounters& counters,
                  std::atomic<std::int64_t>& active);
  ~ConnectionTable();
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  // setOdstClient gives the table the worker's original-destination client (xredir mode).
  void setOdstClient(OdstClient* odst) { odst_ = odst; }
  // onAccepted takes ownership of an accepted client socket.
  void onAccepted(int fd, std::int64_t now_ns);
  // onCompletion handles a completion of a connection operation kind.
  void onCompletion(const UserData& ud, const io_uring_cqe& cqe, std::int64_t now_ns);
  // onTick closes idle connections, expires stuck original-destination queries and connects,
  // watches the sources of parked directions for errors, and trims the relay buffers of an idle
  // worker.
  void onTick(std::int64_t now_ns);
  // closeAll closes every connection (drain deadline).
  void closeAll();
  // live returns how many slots are in use (including closing ones).
  std::size_t live() const { return live_; }

  void onOriginalDst(std::uint64_t token,
                     const std::optional<Endpoint>& destination,
                     OdstError error) override;

 private:
  Connection* allocate();
  Connection* lookup(const UserData& ud);
  std::uint64_t userData(const Connection& c, OpKind kind) const {
    return encodeUserData({kind, c.slot, c.generation});
  }
  void refuse(Connection& c, FailReason reason);
  // resolve learns the connection's original destination (at once in kernel mode, or by an
  // asynchronous query) and starts the upstream connect, or refuses the connection.
  void resolve(Connection& c, std::int64_t now_ns);
  void startConnect(Connection& c, const Endpoint& destination, std::int64_t now_ns);
  void onConnect(Connection& c, int res);
  void sendHeader(Connection& c);
  void startRelay(Connection& c);
  void armRecv(Connection& c, bool to_upstream);
  void armSend(Connection& c, bool to_upstream);
  void onRecv(Connection& c, bool to_upstream, const io_uring_cqe& cqe, std::int64_t now_ns);
  void onSend(Connection& c, bool to_upstream, int res, std::int64_t now_ns);
  void recycle(std::uint16_t bid);
  bool knowClient(Connection& c);
  bool knowLocal(Connection& c);
  void armWatch(Connection& c, bool client_side);
  void onWatch(Connection& c, bool client_side, int res);
  void closeSocket(int fd, bool reset);
  void closeConnection(Connection& c);
  void maybeRelease(Connection& c);
  void release(Connection& c);
  bool isLoop(const Endpoint& destination, Connection& c);

  Ring& ring_;
  BufferRing& buffers_;
  const Config& config_;
  std::vector<Endpoint> listen_;
  WorkerCounters& counters_;
  std::atomic<std::int64_t>& active_;
  OdstClient* odst_ = nullptr;
  std::vector<std::unique_ptr<Connection>> slots_;  // stable addresses: the ring points into them
  std::vector<std::uint32_t> free_;
  std::size_t live_ = 0;
  bool buffers_used_ = false;
  // starved_ holds directions whose recv found no free buffer (ENOBUFS): flow control, they are
  // re-armed as buffers come back. Entries are (slot, generation, to_upstream).
  struct Starved {
    std::uint32_t slot;
    std::uint32_t generation;
    bool to_upstream;
  };
  std::vector<Starved> starved_;
};

}  // namespace xredir::proxy
