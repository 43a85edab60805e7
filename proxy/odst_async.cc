// odst_async.cc: the ring-driven original-destination client (see odst_async.h).
#include "odst_async.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xredir::proxy {

OdstError odstErrorFromStatus(std::uint8_t status) {
  switch (status) {
    case XREDIR_ODST_NOT_TRACKED:
      return OdstError::kNotTracked;
    case XREDIR_ODST_NOT_TRANSLATED:
      return OdstError::kNotTranslated;
    case XREDIR_ODST_PERMISSION_DENIED:
      return OdstError::kPermissionDenied;
    case XREDIR_ODST_MALFORMED:
    case XREDIR_ODST_UNSUPPORTED_VERSION:
      return OdstError::kMalformed;
    case XREDIR_ODST_BUSY:
      return OdstError::kUnavailable;
    default:
      return OdstError::kOther;
  }
}

OdstClient::OdstClient(Ring& ring, std::string socket_path, OdstSink& sink)
    : ring_(ring), socket_path_(std::move(socket_path)), sink_(sink) {}

OdstClient::~OdstClient() {
  if (fd_ >= 0) ::close(fd_);
}

void OdstClient::adoptConnection(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  ++epoch_;
  recv_len_ = 0;
  armRecv();
}

bool OdstClient::connect(std::int64_t now_ns) {
  if (now_ns < retry_after_ns_) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  // Nonblocking so that a full backlog fails at once (EAGAIN) instead of blocking the ring;
  // a Unix stream connect otherwise completes synchronously.
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    retry_after_ns_ = now_ns + kReconnectBackoffNs;
    return false;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    retry_after_ns_ = now_ns + kReconnectBackoffNs;
    return false;
  }
  adoptConnection(fd);
  return true;
}

bool OdstClient::query(std::uint64_t token,
                       const Endpoint& client,
                       const Endpoint& proxy,
                       std::int64_t now_ns) {
  if (fd_ < 0) {
    // The previous connection's operations must finish before its buffers are reused.
    if (!idle() || !connect(now_ns)) return false;
  }
  xredir_odst_request req{};
  req.version = XREDIR_ODST_VERSION;
  req.family = client.addr.family == Family::kV4 ? XREDIR_ODST_FAMILY_V4 : XREDIR_ODST_FAMILY_V6;
  req.protocol = IPPROTO_TCP;
  std::memcpy(req.client_addr, client.addr.bytes.data(), 16);
  req.client_port = client.port;
  std::memcpy(req.proxy_addr, proxy.addr.bytes.data(), 16);
  req.proxy_port = proxy.port;
  const std::size_t at = queued_.size();
  queued_.resize(at + XREDIR_ODST_REQUEST_SIZE);
  xredir_odst_encode_request(&req, queued_.data() + at);
  tokens_.push_back(token);
  if (!send_inflight_) startSend();
  return true;
}

void OdstClient::startSend() {
  if (sending_.size() == sent_) {
    if (queued_.empty()) return;
    sending_.swap(queued_);
    queued_.clear();
    sent_ = 0;
  }
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_send(sqe, fd_, sending_.data() + sent_, sending_.size() - sent_, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, encodeUserData({OpKind::kOdstSend, epoch_, 0}));
  send_inflight_ = true;
}

void OdstClient::armRecv() {
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_recv(sqe, fd_, recv_buf_ + recv_len_, kRecvBytes - recv_len_, 0);
  io_uring_sqe_set_data64(sqe, encodeUserData({OpKind::kOdstRecv, epoch_, 0}));
  recv_inflight_ = true;
}

void OdstClient::deliver(std::uint64_t token, const std::optional<Endpoint>& dst, OdstError error) {
  sink_.onOriginalDst(token, dst, error);
}

void OdstClient::onCompletion(const UserData& ud, int res) {
  const bool current = ud.slot == epoch_ && fd_ >= 0;
  if (ud.kind == OpKind::kOdstSend) {
    send_inflight_ = false;
    if (!current) return;
    if (res <= 0) {
      fail();
      return;
    }
    sent_ += static_cast<std::size_t>(res);
    if (sent_ == sending_.size()) {
      sending_.clear();
      sent_ = 0;
    }
    startSend();
    return;
  }
  // kOdstRecv
  recv_inflight_ = false;
  if (!current) return;
  if (res <= 0) {
    fail();
    return;
  }
  recv_len_ += static_cast<std::size_t>(res);
  std::size_t off = 0;
  while (recv_len_ - off >= XREDIR_ODST_RESPONSE_SIZE) {
    xredir_odst_response resp{};
    const bool decoded = xredir_odst_decode_response(recv_buf_ + off, &resp) == 0;
    off += XREDIR_ODST_RESPONSE_SIZE;
    if (tokens_.empty()) {
      // An answer to no question: the stream cannot be trusted any more.
      fail();
      return;
    }
    const std::uint64_t token = tokens_.front();
    tokens_.pop_front();
    if (!decoded) {
      deliver(token, std::nullopt, OdstError::kMalformed);
      fail();
      return;
    }
    if (resp.status == XREDIR_ODST_OK) {
      Endpoint ep;
      ep.addr.family = resp.family == XREDIR_ODST_FAMILY_V4 ? Family::kV4 : Family::kV6;
      std::memcpy(ep.addr.bytes.data(), resp.addr, 16);
      ep.port = resp.port;
      deliver(token, ep, OdstError::kInvalid);
    } else {
      deliver(token, std::nullopt, odstErrorFromStatus(resp.status));
    }
    if (fd_ < 0) return;  // the sink closed us
  }
  std::memmove(recv_buf_, recv_buf_ + off, recv_len_ - off);
  recv_len_ -= off;
  armRecv();
}

void OdstClient::fail() {
  if (fd_ >= 0) {
    // shutdown makes the in-flight send/recv complete now; the fd is closed here and the
    // operations, holding their own reference to the file, finish with an error or EOF.
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    fd_ = -1;
  }
  ++epoch_;
  queued_.clear();
  sending_.clear();
  sent_ = 0;
  recv_len_ = 0;
  std::deque<std::uint64_t> failed;
  failed.swap(tokens_);
  for (std::uint64_t token : failed) deliver(token, std::nullopt, OdstError::kUnavailable);
}

void OdstClient::close() {
  fail();
}

}  // namespace xredir::proxy
