// conntrack_counters.h owns the per-shard event counters of the connection table: what
// happened to entries (inserted, evicted, refused, reaped) and how lookups went. Each shard
// updates its own copy under its own lock; readers take a snapshot per shard and add them up.
#pragma once

#include <cstdint>

namespace xredir {

// The counters share a cache line with the shard's lock; an established flow's packet, which
// takes no lock (conntrack.h), writes neither. Hits are not counted here for that reason: the
// workers count the packets they translate.
struct ConntrackCounters {
  std::uint64_t lookup_misses = 0;    // trackPacket did not
  std::uint64_t invalid = 0;          // packets the TCP state machine called invalid
  std::uint64_t inserts = 0;          // entries created
  std::uint64_t evictions = 0;        // entries dropped by early drop to make room
  std::uint64_t refusals = 0;         // new flows refused: shard full, nothing evictable
  std::uint64_t nat_exhausted = 0;    // new flows refused: no free reply tuple found
  std::uint64_t nat_port_remaps = 0;  // entries whose client port was changed (nf_nat style)
  std::uint64_t reaped = 0;           // expired entries removed by the reaper or on lookup
  std::uint64_t removed = 0;          // entries removed otherwise (RST before reply, reopen, API)

  // add accumulates another snapshot into this one.
  void add(const ConntrackCounters& o) {
    inserts += o.inserts;
    evictions += o.evictions;
    refusals += o.refusals;
    nat_exhausted += o.nat_exhausted;
    nat_port_remaps += o.nat_port_remaps;
    reaped += o.reaped;
    removed += o.removed;
    lookup_misses += o.lookup_misses;
    invalid += o.invalid;
  }
};

}  // namespace xredir
