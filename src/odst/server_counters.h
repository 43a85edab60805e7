// server_counters.h owns the numbers the original-destination API server exports: queries by
// status, refused connections by reason, connections open, shared views handed out. They are
// updated from every I/O thread with relaxed atomics (they are statistics, not synchronisation) and
// read as a snapshot.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "xredir/odst.h"

namespace xredir::odst {

// kStatusCount covers every enum xredir_odst_status value, XREDIR_ODST_INVALID included.
inline constexpr std::size_t kStatusCount = XREDIR_ODST_BUSY + 1;

struct CountersSnapshot {
  std::uint64_t queries = 0;  // lookups (and malformed frames) answered, whatever the status
  std::array<std::uint64_t, kStatusCount> by_status{};
  std::uint64_t refused_permission = 0;  // connections refused by the access policy
  std::uint64_t refused_busy = 0;        // connections refused at the connection cap
  std::uint64_t accepted = 0;            // connections admitted
  std::uint64_t open = 0;                // connections open now
  std::uint64_t view_requests = 0;       // map-view requests answered (with a view or without)
  std::uint64_t views_sent = 0;          // view descriptors sent
};

class ServerCounters {
 public:
  // countAnswer records one answered request with its status.
  void countAnswer(xredir_odst_status status) {
    queries_.fetch_add(1, std::memory_order_relaxed);
    by_status_[static_cast<std::size_t>(status) % kStatusCount].fetch_add(
        1, std::memory_order_relaxed);
  }
  void countRefusedPermission() { refused_permission_.fetch_add(1, std::memory_order_relaxed); }
  void countRefusedBusy() { refused_busy_.fetch_add(1, std::memory_order_relaxed); }
  void countAccepted() { accepted_.fetch_add(1, std::memory_order_relaxed); }
  void countViewRequest() { view_requests_.fetch_add(1, std::memory_order_relaxed); }
  void countViewSent() { views_sent_.fetch_add(1, std::memory_order_relaxed); }
  // snapshot reads every counter; the values are each exact but not taken at one instant.
  CountersSnapshot snapshot(std::uint64_t open) const {
    CountersSnapshot s;
    s.queries = queries_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kStatusCount; ++i) {
      s.by_status[i] = by_status_[i].load(std::memory_order_relaxed);
    }
    s.refused_permission = refused_permission_.load(std::memory_order_relaxed);
    s.refused_busy = refused_busy_.load(std::memory_order_relaxed);
    s.accepted = accepted_.load(std::memory_order_relaxed);
    s.open = open;
    s.view_requests = view_requests_.load(std::memory_order_relaxed);
    s.views_sent = views_sent_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::atomic<std::uint64_t> queries_{0};
  std::array<std::atomic<std::uint64_t>, kStatusCount> by_status_{};
  std::atomic<std::uint64_t> refused_permission_{0};
  std::atomic<std::uint64_t> refused_busy_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> view_requests_{0};
  std::atomic<std::uint64_t> views_sent_{0};
};

}  // namespace xredir::odst
