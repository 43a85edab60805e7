// worker.cc: one proxy thread's event loop (see worker.h).
#include "worker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <spdlog/spdlog.h>

#include "connection.h"
#include "odst_async.h"
#include "ring.h"
#include "user_data.h"

namespace xredir::proxy {

namespace {

// kRingEntries: submission queue size; the completion queue is 4x (ring.cc).
constexpr unsigned kRingEntries = 4096;
constexpr std::uint16_t kBufferGroup = 0;

// bufferCount sizes the provided-buffer ring of one worker: two per connection it may hold,
// a power of two between 64 and 512 (512 x 64 KiB = 32 MiB per worker at most). Fewer buffers
// than directions is fine: a recv that finds none waits for one (back-pressure).
unsigned bufferCount(const Config& config) {
  const unsigned per_worker = config.max_connections / config.threads + 1;
  unsigned n = 64;
  while (n < 2 * per_worker && n < 512) n *= 2;
  return n;
}

// kInitialBuffers: buffers provided at start-up; the ring grows towards bufferCount() only as
// recvs find none (ConnectionTable::onRecv), so an idle or lightly loaded worker keeps a few
// buffers resident instead of all of them.
constexpr unsigned kInitialBuffers = 16;

}  // namespace

std::int64_t monotonicNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Worker::Worker(const Config& config,
               std::vector<int>& listen_fds,
               std::vector<Endpoint> listen,
               WorkerCounters& counters,
               std::atomic<std::int64_t>& active)
    : config_(config),
      listen_fds_(listen_fds),
      listen_(std::move(listen)),
      counters_(counters),
      active_(active),
      stop_fd_(eventfd(0, EFD_CLOEXEC)) {
  tick_ts_.tv_sec = 0;
  tick_ts_.tv_nsec = kTickNs;
}

Worker::~Worker() {
  if (stop_fd_ >= 0) close(stop_fd_);
}

void Worker::requestStop() {
  const std::uint64_t one = 1;
  // An eventfd write never blocks below 2^64-1 and is async-signal-safe.
  [[maybe_unused]] const ssize_t n = write(stop_fd_, &one, sizeof(one));
}

bool Worker::runLoop(std::string* error, void (*ready)(void*, bool), void* ctx) {
  if (stop_fd_ < 0) {
    *error = std::string("eventfd: ") + std::strerror(errno);
    ready(ctx, false);
    return false;
  }
  std::optional<Ring> ring = Ring::create(kRingEntries, error);
  if (!ring) {
    ready(ctx, false);
    return false;
  }
  std::optional<BufferRing> buffers = BufferRing::create(
      *ring, kBufferGroup, bufferCount(config_), kInitialBuffers, config_.buffer_size, error);
  if (!buffers) {
    ready(ctx, false);
    return false;
  }
  ConnectionTable table(*ring, *buffers, config_, listen_, counters_, active_);
  OdstClient odst(*ring, config_.odst_socket, table);
  if (config_.original_dst == OriginalDstMode::kXredir) table.setOdstClient(&odst);

  auto armAccept = [&](std::uint32_t i) {
    io_uring_sqe* sqe = ring->sqe();
    io_uring_prep_multishot_accept(sqe, listen_fds_[i], nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, encodeUserData({OpKind::kAccept, i, 0}));
  };
  auto armStop = [&] {
    io_uring_sqe* sqe = ring->sqe();
    io_uring_prep_read(sqe, stop_fd_, &stop_value_, sizeof(stop_value_), 0);
    io_uring_sqe_set_data64(sqe, encodeUserData({OpKind::kStop, 0, 0}));
  };
  auto armTick = [&] {
    io_uring_sqe* sqe = ring->sqe();
    io_uring_prep_timeout(sqe, &tick_ts_, 0, 0);
    io_uring_sqe_set_data64(sqe, encodeUserData({OpKind::kTick, 0, 0}));
  };
  std::size_t accepts_armed = 0;
  for (std::uint32_t i = 0; i < listen_fds_.size(); ++i) {
    armAccept(i);
    ++accepts_armed;
  }
  armStop();
  armTick();
  ring->submitAndWait(0);
  ready(ctx, true);

  bool draining = false;
  std::int64_t drain_deadline_ns = 0;
  bool tick_armed = true;
  std::int64_t accept_error_logged_ns = 0;
  for (;;) {
    if (draining && table.live() == 0 && accepts_armed == 0) break;
    const int rc = ring->submitAndWait(1);
    if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY) {
      spdlog::error("io_uring_submit_and_wait: {}", std::strerror(-rc));
      break;
    }
    const std::int64_t now = monotonicNowNs();
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring->raw(), head, cqe) {
      ++seen;
      const io_uring_cqe c = *cqe;
      const UserData ud = decodeUserData(c.user_data);
      switch (ud.kind) {
        case OpKind::kAccept: {
          if (c.res >= 0) {
            if (draining) {
              close(c.res);  // raced with the cancellation
            } else {
              table.onAccepted(c.res, now);
            }
          } else if (c.res != -ECANCELED && now - accept_error_logged_ns > 1000000000) {
            // EMFILE/ENFILE/ENOMEM: the accept goes on; say so at most once a second.
            accept_error_logged_ns = now;
            spdlog::warn("accept: {}", std::strerror(-c.res));
          }
          if (!(c.flags & IORING_CQE_F_MORE)) {
            if (!draining && c.res != -EINVAL) {
              armAccept(ud.slot);
            } else {
              if (c.res == -EINVAL && !draining) {
                spdlog::error("multishot accept refused (EINVAL): needs Linux 5.19 or later");
              }
              --accepts_armed;
              close(listen_fds_[ud.slot]);
              listen_fds_[ud.slot] = -1;
            }
          }
          break;
        }
        case OpKind::kStop:
          if (!draining) {
            draining = true;
            drain_deadline_ns =
                now + static_cast<std::int64_t>(config_.drain_timeout_s) * 1000000000;
            for (std::uint32_t i = 0; i < listen_fds_.size(); ++i) {
              if (listen_fds_[i] < 0) continue;
              io_uring_sqe* sqe = ring->sqe();
              io_uring_prep_cancel64(sqe, encodeUserData({OpKind::kAccept, i, 0}), 0);
              io_uring_sqe_set_data64(sqe, encodeUserData({OpKind::kIgnore, 0, 0}));
            }
            if (config_.drain_timeout_s == 0) table.closeAll();
          } else {
            table.closeAll();  // second signal: do not wait any longer
          }
          armStop();
          break;
        case OpKind::kTick:
          tick_armed = false;
          table.onTick(now);
          if (draining && now >= drain_deadline_ns) table.closeAll();
          break;
        case OpKind::kOdstSend:
        case OpKind::kOdstRecv:
          odst.onCompletion(ud, c.res);
          break;
        case OpKind::kIgnore:
        case OpKind::kInvalid:
          break;
        case OpKind::kConnect:
        case OpKind::kSendHeader:
        case OpKind::kRecvClient:
        case OpKind::kRecvUpstream:
        case OpKind::kSendUpstream:
        case OpKind::kSendClient:
        case OpKind::kCancel:
        case OpKind::kWatchClient:
        case OpKind::kWatchUpstream:
          table.onCompletion(ud, c, now);
          break;
      }
    }
    io_uring_cq_advance(ring->raw(), seen);
    if (!tick_armed) {
      armTick();
      tick_armed = true;
    }
  }
  // Closes queued by the last releases go out now (the loop submits only at its top).
  ring->submitAndWait(0);
  // Let the original-destination client's operations finish before its buffers go away.
  odst.close();
  while (!odst.idle()) {
    if (ring->submitAndWait(1) < 0) break;
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring->raw(), head, cqe) {
      ++seen;
      const UserData ud = decodeUserData(cqe->user_data);
      if (ud.kind == OpKind::kOdstSend || ud.kind == OpKind::kOdstRecv) {
        odst.onCompletion(ud, cqe->res);
      }
    }
    io_uring_cq_advance(ring->raw(), seen);
  }
  return true;
}

}  // namespace xredir::proxy
