// conntrack_reaper.h owns the incremental removal of expired connections, modelled on gVisor's
// conntrack reaper (reapUnused): each tick examines one slice of the table (1/128 of the pool,
// one shard lock at a time, so lookups in other shards never wait and a shard waits at most one
// bounded sub-slice) and adapts the delay to the next tick to how much of the slice had expired:
// mostly expired -> come back sooner, almost nothing -> later, within [min, max]. The default
// max lets a full pass over the table take at most kMaxFullTableReap, as gVisor's bound.
// Expired entries are also removed by the lookups that find them; the reaper frees the memory
// of flows that are never seen again.
#pragma once

#include <cstdint>

#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"

namespace xredir {

struct ReaperConfig {
  std::uint32_t fraction_per_tick = 128;                   // gVisor's fractionPerReaping
  std::uint64_t min_interval_ns = kNanosPerSecond / 1000;  // 1 ms
  // gVisor's maxFullTableReap (5 s) spread over the slices of one pass.
  std::uint64_t max_interval_ns = 5 * kNanosPerSecond / 128;
};

class ConntrackReaper {
 public:
  ConntrackReaper(ConntrackTable& table, const ReaperConfig& config = {});

  // tick reaps one slice at `now_ns` and returns the delay until the next tick should run.
  // Not thread-safe by itself (one reaper per table, driven by one worker's timer); the table
  // it works on may be used by any number of threads meanwhile.
  std::uint64_t tick(std::uint64_t now_ns);

  std::uint64_t interval() const { return interval_ns_; }
  const ReapStats& lastStats() const { return last_; }

 private:
  ConntrackTable& table_;
  ReaperConfig config_;
  std::uint32_t slice_;
  std::uint64_t interval_ns_;
  ReapStats last_;
};

}  // namespace xredir
