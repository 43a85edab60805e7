// bench_thread_cursor.h: how the conntrack benchmarks share their prebuilt inputs among threads.
// The inputs are laid out so that with two threads each walks its own half (its own flows), as
// RSS gives each AF_XDP worker its own flows; one thread walks them all.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace xredir::benchsupport {

class ThreadCursor {
 public:
  // total must be a power of two and a multiple of the thread count.
  ThreadCursor(const benchmark::State& state, std::uint32_t total)
      : span_(total / static_cast<std::uint32_t>(state.threads())),
        base_(span_ * static_cast<std::uint32_t>(state.thread_index())) {}
  std::uint32_t next() { return base_ + (k_++ & (span_ - 1)); }

 private:
  std::uint32_t span_;
  std::uint32_t base_;
  std::uint32_t k_ = 0;
};

}  // namespace xredir::benchsupport
