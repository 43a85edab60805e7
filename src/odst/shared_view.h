// shared_view.h owns the writer of the shared original-destination view (layout, read protocol and
// liveness in include/xredir/odst_view.h): a sealed memfd holding a bucketed hash table that
// xredir fills as conntrack inserts and removes translated connections, and that allowed clients
// map read-only to answer SO_ORIGINAL_DST questions in their own threads.
//
// Concurrency. Readers (other processes) never lock: each slot is a seqlock. Writers (datapath
// workers inserting connections, the reaper and workers removing them) serialise per bucket with
// a one-byte spin lock kept in this process's memory, never in the shared file, so no reader can
// hold or break it. A publish takes the locks of its key's two buckets in ascending order, an
// unpublish likewise; nothing else is held meanwhile except the caller's conntrack shard lock,
// which is always taken first (lock order: shard lock, then bucket locks). A critical section
// compares at most 2 * 4 slots and writes one: bounded, no allocation, no system call.
//
// Lifetime. A keeper thread holds the view's robust owner mutex from creation until retire (or
// the destructor); releasing it clears the owner word, which retires the view for every reader.
// Should the process die instead, the kernel marks the owner dead. The memfd lives as long as a
// mapping or descriptor of it does: nothing is left on disk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "odst/request_handler.h"
#include "xredir/os_status.h"
#include "xredir/ip_addr.h"
#include "xredir/odst_view.h"

namespace xredir::odst {

struct SharedViewCounters {
  std::uint64_t slots = 0;         // capacity
  std::uint64_t entries = 0;       // keys published now
  std::uint64_t publish_full = 0;  // publishes refused because both buckets were full
};

class SharedView {
 public:
  // create makes a view of at least `slots` slots (whole buckets of XREDIR_ODST_VIEW_BUCKET_SLOTS,
  // at most 2^32 - 1 buckets): a memfd sized and sealed (shrink, grow, future writes), mapped
  // read-write here, and a read-only descriptor of it to hand out. Memory is taken from the
  // kernel as slots are first written (64 bytes per slot at most). Returns nullptr and sets
  // `status` on failure.
  static std::unique_ptr<SharedView> create(std::uint64_t slots,
                                            std::uint64_t hash_seed,
                                            Status& status);
  // The destructor retires the view (if retire was not called) and unmaps it.
  ~SharedView();
  SharedView(const SharedView&) = delete;
  SharedView& operator=(const SharedView&) = delete;

  // publish makes the view answer `original` for (protocol, client, proxy), replacing an answer
  // it held for the same key. Returns false, and counts it, when both of the key's buckets are
  // full: the connection is then only answered over the socket. client and proxy share a family.
  bool publish(std::uint8_t protocol,
               const Endpoint& client,
               const Endpoint& proxy,
               const Endpoint& original) noexcept;
  // unpublish removes the key; a key that is not there (its publish found the buckets full) is
  // not an error.
  void unpublish(std::uint8_t protocol, const Endpoint& client, const Endpoint& proxy) noexcept;
  // retire clears the owner word: from then on no reader answers from this view, whatever it
  // holds. Publishing and unpublishing stay harmless. Idempotent; called by the view's owner,
  // not by two threads at once.
  void retire();

  // readOnlyFd is the descriptor handed to clients (O_RDONLY, sealed), owned by the view.
  int readOnlyFd() const { return ro_fd_; }
  ViewOffer offer() const { return ViewOffer{XREDIR_ODST_VIEW_LAYOUT, bytes_}; }
  std::uint64_t bytes() const { return bytes_; }
  SharedViewCounters counters() const;
  // base is this process's read-write mapping: tests read where the writer writes, so that
  // ThreadSanitizer sees both sides of the seqlock.
  const void* base() const { return base_; }

 private:
  SharedView() = default;
  Status init(std::uint64_t slots, std::uint64_t hash_seed);
  void startKeeper();
  xredir_odst_view_slot* bucket(std::uint32_t index) const;
  void lockBuckets(const std::uint32_t (&b)[2]) noexcept;
  void unlockBuckets(const std::uint32_t (&b)[2]) noexcept;

  int memfd_ = -1;
  int ro_fd_ = -1;
  unsigned char* base_ = nullptr;
  std::uint64_t bytes_ = 0;
  std::uint32_t bucket_count_ = 0;
  std::uint64_t hash_seed_ = 0;
  std::unique_ptr<std::atomic<bool>[]> bucket_locks_;
  std::atomic<std::uint64_t> entries_{0};
  std::atomic<std::uint64_t> publish_full_{0};

  // The keeper thread holds the owner mutex from startKeeper until retire.
  std::thread keeper_;
  std::mutex keeper_mu_;
  std::condition_variable keeper_cv_;
  bool keeper_holding_ = false;
  bool keeper_stop_ = false;
};

}  // namespace xredir::odst
