// worker.h owns one proxy thread's event loop (Worker): its ring, its provided buffers, the
// multishot accepts on its SO_REUSEPORT listeners, its original-destination client, its
// connection table, the periodic tick (idle timeouts, drain deadline) and the stop eventfd that
// starts a graceful drain. Nothing here is shared with other workers except the counters'
// active gauge.
#pragma once

#include <linux/time_types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "metrics.h"
#include "xredir/ip_addr.h"

namespace xredir::proxy {

// monotonicNowNs returns CLOCK_MONOTONIC in nanoseconds.
std::int64_t monotonicNowNs();

class Worker {
 public:
  // kTickNs: period of the idle/drain scan (250 ms).
  static constexpr std::int64_t kTickNs = 250'000'000;

  // Worker borrows listen_fds (its own row of the ListenerSet; it closes them when draining and
  // sets them to -1). listen are the bound listen addresses (for loop detection).
  Worker(const Config& config,
         std::vector<int>& listen_fds,
         std::vector<Endpoint> listen,
         WorkerCounters& counters,
         std::atomic<std::int64_t>& active);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // run sets up the ring on the calling thread, calls ready(true) (or ready(false) after setting
  // *error to one line), and serves until a stop request has drained every connection.
  // Returns false on a set-up failure.
  template <typename Ready>
  bool run(std::string* error, Ready&& ready) {
    return runLoop(
        error, [](void* r, bool ok) { (*static_cast<Ready*>(r))(ok); }, &ready);
  }
  // requestStop asks the worker (from any thread) to drain; a second request closes every
  // connection at once.
  void requestStop();

 private:
  bool runLoop(std::string* error, void (*ready)(void*, bool), void* ctx);

  const Config& config_;
  std::vector<int>& listen_fds_;
  std::vector<Endpoint> listen_;
  WorkerCounters& counters_;
  std::atomic<std::int64_t>& active_;
  int stop_fd_ = -1;  // eventfd
  std::uint64_t stop_value_ = 0;
  __kernel_timespec tick_ts_{};
};

}  // namespace xredir::proxy
