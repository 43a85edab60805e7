// metrics.h owns the proxy's counters and their Prometheus text exposition. Each worker thread
// increments its own WorkerCounters (relaxed atomics on their own cache lines, so threads never
// share a written line); a scrape sums them. The active-connection gauge is the one shared
// atomic, because it also enforces --max-connections across threads. MetricsServer is a small
// blocking HTTP responder for GET /metrics on its own thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "xredir/ip_addr.h"

namespace xredir::proxy {

// FailReason is why a connection was refused or failed before relaying (label `reason`).
enum class FailReason : std::uint8_t {
  kInvalid = 0,
  kOriginalDst,
  kConnectRefused,
  kConnectTimeout,
  kConnectError,
  kLimit,
  kLoop,
};
inline constexpr std::size_t kFailReasonCount = 7;

// OdstError is why an original-destination query failed (label `status`).
enum class OdstError : std::uint8_t {
  kInvalid = 0,
  kNotTracked,
  kNotTranslated,
  kPermissionDenied,
  kUnavailable,
  kMalformed,
  kOther,
};
inline constexpr std::size_t kOdstErrorCount = 7;

// failReasonLabel / odstErrorLabel return the label values of the contract.
const char* failReasonLabel(FailReason r);
const char* odstErrorLabel(OdstError e);

using Counter = std::atomic<std::uint64_t>;

// WorkerCounters belong to one worker; only that worker writes them (relaxed), scrapes read.
struct alignas(64) WorkerCounters {
  Counter connections_total{0};
  Counter idle_closed{0};
  Counter bytes_to_upstream{0};
  Counter bytes_to_client{0};
  std::array<Counter, kFailReasonCount> failed{};
  std::array<Counter, kOdstErrorCount> odst_errors{};
  Counter odst_view_answers{0};    // original destinations read from xredir's shared view
  Counter odst_server_answers{0};  // ... and answered by xredir's server over the socket

  void add(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  void fail(FailReason r) { add(failed[static_cast<std::size_t>(r)]); }
  void odstError(OdstError e) { add(odst_errors[static_cast<std::size_t>(e)]); }
};

// MetricsRegistry holds every worker's counters and the shared active gauge.
class MetricsRegistry {
 public:
  explicit MetricsRegistry(unsigned workers) : workers_(workers) {}
  WorkerCounters& worker(unsigned i) { return workers_[i]; }
  std::atomic<std::int64_t>& active() { return active_; }
  // render returns the Prometheus text exposition of the sums.
  std::string render() const;

 private:
  std::vector<WorkerCounters> workers_;
  alignas(64) std::atomic<std::int64_t> active_{0};
};

// MetricsServer serves registry.render() at GET /metrics on its own thread.
class MetricsServer {
 public:
  MetricsServer() = default;
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  ~MetricsServer();
  // start binds and listens on `at` and starts the thread. Returns false and sets *error to one
  // line when the address cannot be bound.
  bool start(const Endpoint& at, const MetricsRegistry& registry, std::string* error);
  // boundPort returns the port actually bound (useful with port 0).
  std::uint16_t boundPort() const { return port_; }
  void stop();

 private:
  void serve(const MetricsRegistry& registry);
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace xredir::proxy
