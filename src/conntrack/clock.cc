// The monotonic clock.
#include <time.h>

#include "xredir/conntrack_clock.h"

namespace xredir {

std::uint64_t SteadyClock::nowNs() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * kNanosPerSecond +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace xredir
