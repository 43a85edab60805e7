// conntrack_clock.h owns where conntrack's notion of "now" comes from. The table itself takes
// `now` as an argument (a worker reads the clock once per batch, not once per packet); the Clock
// interface is the seam through which workers, the reaper and tests obtain it. Tests advance a
// ManualClock instead of sleeping (as gVisor's conntrack tests do).
#pragma once

#include <atomic>
#include <cstdint>

namespace xredir {

inline constexpr std::uint64_t kNanosPerSecond = 1'000'000'000ULL;

// Clock returns monotonic nanoseconds. Implementations are safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // nowNs returns the current monotonic time in nanoseconds; never decreases.
  virtual std::uint64_t nowNs() const = 0;
};

// SteadyClock reads CLOCK_MONOTONIC.
class SteadyClock final : public Clock {
 public:
  std::uint64_t nowNs() const override;
};

// ManualClock is a clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::uint64_t start_ns = kNanosPerSecond) : now_(start_ns) {}
  std::uint64_t nowNs() const override { return now_.load(std::memory_order_relaxed); }
  // advance moves the clock forward by `ns`.
  void advance(std::uint64_t ns) { now_.fetch_add(ns, std::memory_order_relaxed); }
  void advanceSeconds(std::uint64_t s) { advance(s * kNanosPerSecond); }

 private:
  std::atomic<std::uint64_t> now_;
};

}  // namespace xredir
