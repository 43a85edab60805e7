// connection.cc: the per-connection state machine and the relay (see connection.h).
//
// State machine of one connection (slot):
//
//   kFree --accept--> kResolving --original dst--> kConnecting --connected--> [kSendingHeader]
//                        |  (xredir: async query;          |   (timeout: the tick,  |  PROXY v2
//                        |   kernel: getsockopt, at once)  |    see onTick)         v
//                        |                                 |                    kRelaying
//                        +----- failure: RST to client ----+-------------------+    |
//                                                                              v    v
//                                                                           kClosing --> kFree
//
// The client's first bytes are read while the original destination is resolved and upstream
// connects (the recv is armed at accept, behind the connect, and its buffer held), so that once
// connected the request goes out at once instead of one more ring round trip later: 10-14 us per
// connection here (bench/RESULTS.md). A FIN read then is passed on once relaying; an error closes
// the connection.
//
// kRelaying runs two independent directions (client->upstream, upstream->client). Each loops
// recv (one provided buffer) -> send (until the whole buffer is out, re-sending after short
// sends) -> recv. A recv of 0 bytes (FIN) shuts the destination's write side down and ends that
// direction only (half-close); when both have ended the connection closes normally (the second
// FIN goes out with the close, not with a shutdown of its own). A recv or send error closes both
// sides; the side opposite the failure gets an RST (SO_LINGER 0), so a client learns at once that
// its upstream failed. ENOBUFS (no free buffer) parks the direction until a buffer is recycled
// (or, first, grows the buffer ring): flow control, not failure.
// A direction whose buffer is parked in a send to a slow destination has no recv armed on its
// source, so nothing would notice that source resetting: the tick arms a poll for errors on it
// (once per socket; it stays armed until the connection ends) and an error closes the
// connection, resetting the other side.
//
// Per-connection work is kept off the syscall path where io_uring or the kernel can carry it:
// TCP_NODELAY is inherited from the listener, the client's addresses are read only when
// something needs them (xredir queries, PROXY v2, loop checks against a wildcard listener,
// debug logs), the connect timeout is checked by the worker's tick instead of a linked timer
// per connection, and sockets are closed by IORING_OP_CLOSE in the next submit.
//
// kClosing: every operation still in the ring refers to the slot (its buffers, its sockaddr), so
// the slot is released only when `inflight` drops to zero; cancellations by fd speed that up.
// Completions carry the slot's generation, so one arriving after a reuse is recognised.
#include "connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <spdlog/spdlog.h>

#include "original_dst_kernel.h"
#include "original_dst_view.h"
#include "sockaddr_util.h"
#include "worker.h"

namespace xredir::proxy {

namespace {

// readsClient: the states in which the client's recv runs (from accept until closing).
bool readsClient(ConnState state) {
  return state == ConnState::kResolving || state == ConnState::kConnecting ||
         state == ConnState::kSendingHeader || state == ConnState::kRelaying;
}

void setNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// armReset makes the next close of fd send an RST instead of a FIN.
void armReset(int fd) {
  const linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

// closeWithReset closes fd so that the peer receives an RST instead of a FIN.
void closeWithReset(int fd) {
  armReset(fd);
  close(fd);
}

bool debugLogging() {
  return spdlog::default_logger_raw()->should_log(spdlog::level::debug);
}

bool isLoopback(const IpAddr& a) {
  if (a.family == Family::kV4) return a.bytes[0] == 127;
  static constexpr std::uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  for (int i = 0; i < 16; ++i) {
    if (a.bytes[i] != kV6Loopback[i]) return false;
  }
  return true;
}

std::uint64_t tokenOf(const Connection& c) {
  return (static_cast<std::uint64_t>(c.generation) << 32) | c.slot;
}

}  // namespace

ConnectionTable::ConnectionTable(Ring& ring,
                                 BufferRing& buffers,
                                 const Config& config,
                                 std::vector<Endpoint> listen,
                                 WorkerCounters& counters,
                                 std::atomic<std::int64_t>& active)
    : ring_(ring),
      buffers_(buffers),
      config_(config),
      listen_(std::move(listen)),
      counters_(counters),
      active_(active) {}

ConnectionTable::~ConnectionTable() {
  // Only reached when the ring has no operation of ours left (see Worker::run); close leftovers.
  for (auto& c : slots_) {
    if (c->state == ConnState::kFree) continue;
    if (c->client_fd >= 0) close(c->client_fd);
    if (c->upstream_fd >= 0) close(c->upstream_fd);
    active_.fetch_sub(1, std::memory_order_relaxed);
  }
}

Connection* ConnectionTable::allocate() {
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(std::make_unique<Connection>());
    slots_.back()->slot = slot;
  }
  Connection& c = *slots_[slot];
  const std::uint32_t generation = (c.generation + 1) & kGenerationMask;
  c = Connection{};
  c.slot = slot;
  c.generation = generation;
  ++live_;
  return &c;
}

Connection* ConnectionTable::lookup(const UserData& ud) {
  if (ud.slot >= slots_.size()) return nullptr;
  Connection* c = slots_[ud.slot].get();
  if (c->state == ConnState::kFree || c->generation != ud.generation) return nullptr;
  return c;
}

void ConnectionTable::onAccepted(int fd, std::int64_t now_ns) {
  counters_.add(counters_.connections_total);
  if (active_.fetch_add(1, std::memory_order_relaxed) >=
      static_cast<std::int64_t>(config_.max_connections)) {
    active_.fetch_sub(1, std::memory_order_relaxed);
    counters_.fail(FailReason::kLimit);
    closeWithReset(fd);
    return;
  }
  Connection& c = *allocate();
  c.client_fd = fd;
  c.state = ConnState::kResolving;
  c.last_activity_ns = now_ns;
  // No TCP_NODELAY here: the listener has it and accepted sockets inherit it.
  resolve(c, now_ns);
  // The client's recv goes into the ring after the connect, so that the upstream SYN leaves
  // first; the two share one submission.
  if (readsClient(c.state)) armRecv(c, /*to_upstream=*/true);
}

void ConnectionTable::resolve(Connection& c, std::int64_t now_ns) {
  const int fd = c.client_fd;
  switch (config_.original_dst) {
    case OriginalDstMode::kKernel: {
      OdstError error = OdstError::kInvalid;
      std::optional<Endpoint> dst = kernelOriginalDst(fd, &error);
      if (!dst) {
        counters_.odstError(error);
        refuse(c, FailReason::kOriginalDst);
        return;
      }
      startConnect(c, *dst, now_ns);
      return;
    }
    case OriginalDstMode::kXredir:
      if (!knowClient(c) || !knowLocal(c)) {  // the client is already gone
        counters_.odstError(OdstError::kOther);
        refuse(c, FailReason::kOriginalDst);
        return;
      }
      if (config_.odst_view) {
        if (std::optional<Endpoint> dst = viewOriginalDst(c.client, c.local)) {
          counters_.add(counters_.odst_view_answers);
          startConnect(c, *dst, now_ns);
          return;
        }
      }
      if (odst_ == nullptr || !odst_->query(tokenOf(c), c.client, c.local, now_ns)) {
        counters_.odstError(OdstError::kUnavailable);
        refuse(c, FailReason::kOriginalDst);
      }
      return;
  }
}

void ConnectionTable::onOriginalDst(std::uint64_t token,
                                    const std::optional<Endpoint>& destination,
                                    OdstError error) {
  const std::uint32_t slot = static_cast<std::uint32_t>(token);
  const std::uint32_t generation = static_cast<std::uint32_t>(token >> 32);
  Connection* c = lookup({OpKind::kInvalid, slot, generation});
  // A connection that timed out or was closed while its query was pending is no longer waiting.
  if (c == nullptr || c->state != ConnState::kResolving) return;
  if (!destination) {
    counters_.odstError(error);
    refuse(*c, FailReason::kOriginalDst);
    return;
  }
  counters_.add(counters_.odst_server_answers);
  startConnect(*c, *destination, monotonicNowNs());
}

bool ConnectionTable::knowClient(Connection& c) {
  if (c.have_client) return true;
  std::optional<Endpoint> peer = peerEndpoint(c.client_fd);
  if (!peer) return false;
  c.client = *peer;
  c.have_client = true;
  return true;
}

bool ConnectionTable::knowLocal(Connection& c) {
  if (c.have_local) return true;
  std::optional<Endpoint> local = localEndpoint(c.client_fd);
  if (!local) return false;
  c.local = *local;
  c.have_local = true;
  return true;
}

void ConnectionTable::refuse(Connection& c, FailReason reason) {
  counters_.fail(reason);
  if (debugLogging() && knowClient(c)) {
    spdlog::debug("{} refused: {}", formatEndpoint(c.client), failReasonLabel(reason));
  }
  c.rst_client = true;
  closeConnection(c);
}

bool ConnectionTable::isLoop(const Endpoint& destination, Connection& c) {
  for (const Endpoint& l : listen_) {
    if (l.port != destination.port) continue;
    if (l.addr == destination.addr) return true;
    // A wildcard listener owns the port on every local address; the accepted socket's own
    // address and loopback are the local addresses we can name without asking the kernel
    // (beyond one getsockname, only made here). A socket too gone to tell is refused.
    if (l.addr.isUnspecified() && l.addr.family == destination.addr.family &&
        (isLoopback(destination.addr) || !knowLocal(c) || destination.addr == c.local.addr)) {
      return true;
    }
  }
  return false;
}

void ConnectionTable::startConnect(Connection& c,
                                   const Endpoint& destination,
                                   std::int64_t now_ns) {
  // One line per connection, at debug level only (the demo shows it; production stays quiet).
  if (debugLogging() && knowClient(c) && knowLocal(c)) {
    spdlog::debug("{} -> {} original destination {}", formatEndpoint(c.client),
                  formatEndpoint(c.local), formatEndpoint(destination));
  }
  if (isLoop(destination, c)) {
    refuse(c, FailReason::kLoop);
    return;
  }
  c.upstream_len = toSockaddr(destination, &c.upstream_addr);
  const int fd = socket(c.upstream_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    refuse(c, FailReason::kConnectError);
    return;
  }
  c.upstream_fd = fd;
  if (config_.mark != 0 &&
      setsockopt(fd, SOL_SOCKET, SO_MARK, &config_.mark, sizeof(config_.mark)) != 0) {
    // Without the mark the capture would divert our own connection back to us.
    SPDLOG_DEBUG("SO_MARK {}: {}", config_.mark, std::strerror(errno));
    refuse(c, FailReason::kConnectError);
    return;
  }
  setNoDelay(fd);
  if (config_.proxy_protocol) {
    if (!knowClient(c)) {  // the client is already gone
      counters_.odstError(OdstError::kOther);
      refuse(c, FailReason::kOriginalDst);
      return;
    }
    sockaddr_storage src{};
    toSockaddr(c.client, &src);
    c.header_len = static_cast<std::uint8_t>(encodeProxyV2(src, c.upstream_addr, c.header));
  }
  c.state = ConnState::kConnecting;
  c.last_activity_ns = now_ns;  // the connect deadline counts from here (onTick)
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&c.upstream_addr),
                        c.upstream_len);
  io_uring_sqe_set_data64(sqe, userData(c, OpKind::kConnect));
  ++c.inflight;
}

void ConnectionTable::onConnect(Connection& c, int res) {
  if (c.state != ConnState::kConnecting) return;
  if (res < 0) {
    switch (-res) {
      case ETIMEDOUT:  // the kernel gave up before our deadline
        refuse(c, FailReason::kConnectTimeout);
        return;
      case ECONNREFUSED:
        refuse(c, FailReason::kConnectRefused);
        return;
      default:
        refuse(c, FailReason::kConnectError);
        return;
    }
  }
  if (c.header_len > 0) {
    c.state = ConnState::kSendingHeader;
    sendHeader(c);
    return;
  }
  startRelay(c);
}

void ConnectionTable::sendHeader(Connection& c) {
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_send(sqe, c.upstream_fd, c.header + c.header_sent,
                     static_cast<std::size_t>(c.header_len - c.header_sent), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, userData(c, OpKind::kSendHeader));
  ++c.inflight;
}

void ConnectionTable::startRelay(Connection& c) {
  c.state = ConnState::kRelaying;
  // Client to upstream: what was read while connecting goes out now.
  Direction& d = c.to_upstream;
  if (d.has_buffer) {
    armSend(c, /*to_upstream=*/true);
  } else if (d.done) {
    shutdown(c.upstream_fd, SHUT_WR);
  } else if (!d.reading && !d.starved) {
    armRecv(c, /*to_upstream=*/true);
  }
  armRecv(c, /*to_upstream=*/false);
}

void ConnectionTable::armRecv(Connection& c, bool to_upstream) {
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_recv(sqe, to_upstream ? c.client_fd : c.upstream_fd, nullptr, buffers_.bufferSize(),
                     0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffers_.group();
  io_uring_sqe_set_data64(sqe,
                          userData(c, to_upstream ? OpKind::kRecvClient : OpKind::kRecvUpstream));
  ++c.inflight;
  (to_upstream ? c.to_upstream : c.to_client).reading = true;
}

void ConnectionTable::armSend(Connection& c, bool to_upstream) {
  Direction& d = to_upstream ? c.to_upstream : c.to_client;
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_send(sqe, to_upstream ? c.upstream_fd : c.client_fd, buffers_.data(d.bid) + d.off,
                     d.len - d.off, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe,
                          userData(c, to_upstream ? OpKind::kSendUpstream : OpKind::kSendClient));
  ++c.inflight;
}

void ConnectionTable::recycle(std::uint16_t bid) {
  buffers_.recycle(bid);
  // A buffer is free again: give a parked direction its chance.
  while (!starved_.empty()) {
    const Starved s = starved_.back();
    starved_.pop_back();
    Connection* c = lookup({OpKind::kInvalid, s.slot, s.generation});
    if (c == nullptr) continue;
    (s.to_upstream ? c->to_upstream : c->to_client).starved = false;
    if (c->state != ConnState::kRelaying && !(s.to_upstream && readsClient(c->state))) continue;
    armRecv(*c, s.to_upstream);
    return;
  }
}

void ConnectionTable::onRecv(Connection& c,
                             bool to_upstream,
                             const io_uring_cqe& cqe,
                             std::int64_t now_ns) {
  const bool has_buffer = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
  const auto bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  Direction& d = to_upstream ? c.to_upstream : c.to_client;
  d.reading = false;
  // Before relaying only the client is read (see the top of this file); what it reads is held
  // for startRelay, and the connect deadline keeps counting from the connect.
  const bool relaying = c.state == ConnState::kRelaying;
  if (!relaying && !(to_upstream && readsClient(c.state))) {
    if (has_buffer) recycle(bid);
    return;
  }
  const int res = cqe.res;
  if (res > 0 && has_buffer) {
    d.has_buffer = true;
    d.bid = bid;
    d.len = static_cast<std::uint32_t>(res);
    d.off = 0;
    if (relaying) {
      c.last_activity_ns = now_ns;
      armSend(c, to_upstream);
    }
    return;
  }
  if (has_buffer) recycle(bid);
  if (res == 0) {
    d.done = true;
    if (!relaying) return;
    c.last_activity_ns = now_ns;
    const Direction& other = to_upstream ? c.to_client : c.to_upstream;
    if (!other.done) {
      shutdown(to_upstream ? c.upstream_fd : c.client_fd, SHUT_WR);
      return;
    }
    // The last direction: the close sends this FIN (every byte before it was handed over and
    // the destination's own FIN was read, so nothing unread turns the close into an RST): one
    // shutdown syscall fewer per connection.
    closeConnection(c);
    return;
  }
  switch (-res) {
    case ENOBUFS:
      // Every provided buffer was taken. Some may have come back since (try again), else provide
      // more while the ring may grow, else wait for one.
      if (buffers_.available() > 0 || buffers_.grow()) {
        armRecv(c, to_upstream);
      } else {
        d.starved = true;
        starved_.push_back({c.slot, c.generation, to_upstream});
      }
      return;
    case EINTR:
    case EAGAIN:
      armRecv(c, to_upstream);
      return;
    default:
      // The source reset or failed: reset the other side too, so neither waits for more.
      if (to_upstream) {
        c.rst_upstream = true;
      } else {
        c.rst_client = true;
      }
      closeConnection(c);
      return;
  }
}

void ConnectionTable::onSend(Connection& c, bool to_upstream, int res, std::int64_t now_ns) {
  Direction& d = to_upstream ? c.to_upstream : c.to_client;
  if (c.state != ConnState::kRelaying) {
    if (d.has_buffer) {
      d.has_buffer = false;
      recycle(d.bid);
    }
    return;
  }
  if (res > 0) {
    c.last_activity_ns = now_ns;
    counters_.add(to_upstream ? counters_.bytes_to_upstream : counters_.bytes_to_client,
                  static_cast<std::uint64_t>(res));
    d.off += static_cast<std::uint32_t>(res);
    if (d.off < d.len) {  // short send: the rest of the same buffer
      armSend(c, to_upstream);
      return;
    }
    d.has_buffer = false;
    recycle(d.bid);
    armRecv(c, to_upstream);
    return;
  }
  if (res == -EINTR || res == -EAGAIN) {
    armSend(c, to_upstream);
    return;
  }
  d.has_buffer = false;
  recycle(d.bid);
  // The destination failed: the source is reset (to_upstream failing means upstream failed,
  // so the client gets the RST).
  if (to_upstream) {
    c.rst_client = true;
  } else {
    c.rst_upstream = true;
  }
  closeConnection(c);
}

void ConnectionTable::onCompletion(const UserData& ud,
                                   const io_uring_cqe& cqe,
                                   std::int64_t now_ns) {
  if (cqe.flags & IORING_CQE_F_BUFFER) {
    buffers_.noteTaken();
    buffers_used_ = true;
  }
  Connection* c = lookup(ud);
  if (c == nullptr) {
    // Cannot happen while slots wait for their operations; still never leak a buffer.
    if (cqe.flags & IORING_CQE_F_BUFFER) {
      buffers_.recycle(static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT));
    }
    return;
  }
  --c->inflight;
  switch (ud.kind) {
    case OpKind::kConnect:
      onConnect(*c, cqe.res);
      break;
    case OpKind::kSendHeader:
      if (c->state != ConnState::kSendingHeader) break;
      if (cqe.res <= 0) {
        refuse(*c, FailReason::kConnectError);
        break;
      }
      c->header_sent = static_cast<std::uint8_t>(c->header_sent + cqe.res);
      if (c->header_sent < c->header_len) {
        sendHeader(*c);
      } else {
        startRelay(*c);
      }
      break;
    case OpKind::kRecvClient:
      onRecv(*c, true, cqe, now_ns);
      break;
    case OpKind::kRecvUpstream:
      onRecv(*c, false, cqe, now_ns);
      break;
    case OpKind::kSendUpstream:
      onSend(*c, true, cqe.res, now_ns);
      break;
    case OpKind::kSendClient:
      onSend(*c, false, cqe.res, now_ns);
      break;
    case OpKind::kCancel:
      break;
    case OpKind::kWatchClient:
      onWatch(*c, true, cqe.res);
      break;
    case OpKind::kWatchUpstream:
      onWatch(*c, false, cqe.res);
      break;
    case OpKind::kInvalid:
    case OpKind::kAccept:
    case OpKind::kStop:
    case OpKind::kTick:
    case OpKind::kOdstSend:
    case OpKind::kOdstRecv:
    case OpKind::kIgnore:
      break;  // not connection operations; the worker routes them
  }
  // The handlers above may have released the slot (state kFree) already.
  if (c->state == ConnState::kClosing) maybeRelease(*c);
}

void ConnectionTable::armWatch(Connection& c, bool client_side) {
  (client_side ? c.watch_client : c.watch_upstream) = true;
  io_uring_sqe* sqe = ring_.sqe();
  // POLLERR only; io_uring always adds POLLHUP and POLLRDHUP, which onWatch tells apart.
  io_uring_prep_poll_add(sqe, client_side ? c.client_fd : c.upstream_fd, POLLERR);
  io_uring_sqe_set_data64(sqe,
                          userData(c, client_side ? OpKind::kWatchClient : OpKind::kWatchUpstream));
  ++c.inflight;
}

void ConnectionTable::onWatch(Connection& c, bool client_side, int res) {
  // The watch is not re-armed: a FIN (POLLRDHUP/POLLHUP without POLLERR) would fire it again at
  // once, and the FIN itself is read by the source's recv when its direction resumes.
  if (c.state != ConnState::kRelaying || res <= 0 || !(res & POLLERR)) return;
  // The source failed (typically reset) while its direction was parked: reset the other side.
  if (client_side) {
    c.rst_upstream = true;
  } else {
    c.rst_client = true;
  }
  closeConnection(c);
}

void ConnectionTable::closeSocket(int fd, bool reset) {
  if (reset) armReset(fd);
  // The close goes out with the next submit; nothing refers to fd afterwards, and the number is
  // not reused before the close has run.
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_close(sqe, fd);
  sqe->flags |= ring_.skipSuccessFlag();
  io_uring_sqe_set_data64(sqe, encodeUserData({OpKind::kIgnore, 0, 0}));
}

void ConnectionTable::closeConnection(Connection& c) {
  if (c.state == ConnState::kClosing || c.state == ConnState::kFree) return;
  c.state = ConnState::kClosing;
  if (c.inflight == 0) {
    release(c);
    return;
  }
  // Cancel whatever is still pending on either socket; the slot is released when the last
  // completion (the cancellations' own included) has arrived.
  for (int fd : {c.client_fd, c.upstream_fd}) {
    if (fd < 0) continue;
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, userData(c, OpKind::kCancel));
    ++c.inflight;
  }
}

void ConnectionTable::maybeRelease(Connection& c) {
  if (c.inflight == 0) release(c);
}

void ConnectionTable::release(Connection& c) {
  if (c.to_upstream.has_buffer) recycle(c.to_upstream.bid);
  if (c.to_client.has_buffer) recycle(c.to_client.bid);
  if (c.client_fd >= 0) closeSocket(c.client_fd, c.rst_client);
  if (c.upstream_fd >= 0) closeSocket(c.upstream_fd, c.rst_upstream);
  c.client_fd = -1;
  c.upstream_fd = -1;
  c.state = ConnState::kFree;
  free_.push_back(c.slot);
  --live_;
  active_.fetch_sub(1, std::memory_order_relaxed);
}

void ConnectionTable::onTick(std::int64_t now_ns) {
  const std::int64_t idle_ns = static_cast<std::int64_t>(config_.idle_timeout_s) * 1000000000;
  const std::int64_t connect_ns = static_cast<std::int64_t>(config_.connect_timeout_ms) * 1000000;
  for (auto& slot : slots_) {
    Connection& c = *slot;
    switch (c.state) {
      case ConnState::kResolving:
        if (now_ns - c.last_activity_ns > connect_ns) {
          // The server took longer than a connect may: give up (its late answer is ignored).
          counters_.odstError(OdstError::kUnavailable);
          refuse(c, FailReason::kOriginalDst);
        }
        break;
      case ConnState::kConnecting:
        // Checked here rather than by a linked timer per connect: no timer to arm and cancel on
        // every connection, for a deadline that fires up to one tick (250 ms) late.
        if (now_ns - c.last_activity_ns > connect_ns) {
          refuse(c, FailReason::kConnectTimeout);  // its cancellation ends the connect
        }
        break;
      case ConnState::kRelaying:
        if (c.to_upstream.has_buffer && !c.watch_client) armWatch(c, /*client_side=*/true);
        if (c.to_client.has_buffer && !c.watch_upstream) armWatch(c, /*client_side=*/false);
        [[fallthrough]];
      case ConnState::kSendingHeader:
        if (now_ns - c.last_activity_ns > idle_ns) {
          counters_.add(counters_.idle_closed);
          closeConnection(c);
        }
        break;
      case ConnState::kFree:
      case ConnState::kClosing:
        break;
    }
  }
  // No connection left, so no recv can be selecting a buffer: give their pages back.
  if (live_ == 0 && buffers_used_) {
    buffers_.trim();
    buffers_used_ = false;
  }
}

void ConnectionTable::closeAll() {
  for (auto& slot : slots_) closeConnection(*slot);
}

}  // namespace xredir::proxy
