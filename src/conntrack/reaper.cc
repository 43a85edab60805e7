// The adaptive incremental reaper (gVisor conntrack.go, reapUnused).
#include "xredir/conntrack_reaper.h"

#include <algorithm>

namespace xredir {

ConntrackReaper::ConntrackReaper(ConntrackTable& table, const ReaperConfig& config)
    : table_(table),
      config_(config),
      slice_(std::max<std::uint32_t>(
          64, table.capacity() / std::max<std::uint32_t>(1, config.fraction_per_tick))),
      interval_ns_(config.max_interval_ns) {}

std::uint64_t ConntrackReaper::tick(std::uint64_t now_ns) {
  last_ = table_.reapSlice(now_ns, slice_);
  // gVisor: more than 90% expired -> halve the interval; under 10% -> double it.
  if (last_.scanned > 0) {
    const std::uint64_t expired_pct = 100ULL * last_.reaped / last_.scanned;
    if (expired_pct > 90) {
      interval_ns_ /= 2;
    } else if (expired_pct < 10) {
      interval_ns_ *= 2;
    }
  } else {
    interval_ns_ *= 2;  // an empty slice: nothing to do soon
  }
  interval_ns_ = std::clamp(interval_ns_, config_.min_interval_ns, config_.max_interval_ns);
  return interval_ns_;
}

}  // namespace xredir
