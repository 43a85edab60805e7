// seq_spin_lock.h owns SeqSpinLock: a spin lock whose word is also a version (a seqlock), so that
// a reader can read what the lock guards without taking it and learn afterwards whether a holder
// was inside meanwhile. The conntrack shards use it: an established flow's packet looks its
// connection up without the lock's atomic exchange (a full barrier, the hot path's largest
// cost) and without writing the lock's cache line, which two workers would otherwise pass
// between their cores on every packet.
//
// The word is even when free and odd while held; every lock()/unlock() pair adds 2. A holder's
// stores to the guarded data must be atomic with release ordering (on x86 a plain mov) and an
// optimistic reader's loads atomic with acquire: a reader that sees any store of a holder then
// sees the word odd or later on readValid (the release store carries the lock's acquisition
// with it), so a torn read is always detected. No fences are used: ThreadSanitizer models the
// per-access orderings, not stand-alone fences.
#pragma once

#include <atomic>
#include <cstdint>

#include "xredir/spin_lock.h"

namespace xredir {

class SeqSpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      std::uint32_t v = word_.load(std::memory_order_relaxed);
      if ((v & 1) == 0 && word_.compare_exchange_weak(v, v + 1, std::memory_order_acquire,
                                                      std::memory_order_relaxed)) {
        return;
      }
      SpinWait wait;
      while (word_.load(std::memory_order_relaxed) & 1) wait.once();
    }
  }
  // unlock is a plain store: only the holder writes the word while it is odd.
  void unlock() noexcept {
    word_.store(word_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // readBegin returns the version an optimistic read starts from; odd means held (the reader
  // should not bother).
  std::uint32_t readBegin() const noexcept { return word_.load(std::memory_order_acquire); }
  // readValid is true when no holder was inside since readBegin returned `version`.
  bool readValid(std::uint32_t version) const noexcept {
    return (version & 1) == 0 && word_.load(std::memory_order_relaxed) == version;
  }

 private:
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace xredir
