// spin_lock.h owns the lock of xredir's short critical sections (the shared original-destination
// view's buckets; conntrack's shards use its versioned twin, seq_spin_lock.h). Those sections are
// a probe and a few stores (tens of ns), so spinning beats parking; after a short spin the waiter
// yields, because the machine may run more threads than cores and a preempted holder must get
// the CPU back.
#pragma once

#include <atomic>
#include <thread>

namespace xredir {

// SpinWait is the waiting half of a spin lock: pause, and after a short spin yield.
class SpinWait {
 public:
  void once() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (++spins_ == kSpinsBeforeYield) {
      std::this_thread::yield();
      spins_ = 0;
    }
  }

 private:
  static constexpr int kSpinsBeforeYield = 128;
  int spins_ = 0;
};

inline void spinLockAcquire(std::atomic<bool>& locked) noexcept {
  for (;;) {
    if (!locked.exchange(true, std::memory_order_acquire)) return;
    SpinWait wait;
    while (locked.load(std::memory_order_relaxed)) wait.once();
  }
}

inline void spinLockRelease(std::atomic<bool>& locked) noexcept {
  locked.store(false, std::memory_order_release);
}

// SpinLock is the same lock as a BasicLockable object (for std::lock_guard).
class SpinLock {
 public:
  void lock() noexcept { spinLockAcquire(locked_); }
  void unlock() noexcept { spinLockRelease(locked_); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace xredir
