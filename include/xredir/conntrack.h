// conntrack.h owns the connection table: a bounded, sharded store of tracked connections, each
// with its original tuple and its reply tuple (the reply tuple carries the translation, as in
// gVisor's insertRedirectConn and Linux's nf_conn), protocol state, last use and what the
// reply path needs. Both directions are indexed, so a lookup by either tuple finds the entry and
// says which direction the packet travels. It also answers the original-destination question
// behind SO_ORIGINAL_DST.
//
// Layout and memory. The table is split into a power-of-two number of shards, and a connection
// lives, with BOTH its tuples, in the shard of its client endpoint (seeded endpoint hash of
// conntrack_tuple.h): the original tuple's source, which is also the reply tuple's destination —
// a translation rewrites the other side, so the client keeps its port (as with the kernel's
// REDIRECT/DNAT; nf_nat-style remapping happens only when two connections would share a reply
// tuple). A tuple can therefore live only in its source's shard (as an original) or in its
// destination's (as a reply): a lookup probes those two, the likelier first (the endpoint with
// the higher port, usually the client's ephemeral one), so it takes one lock, sometimes two, one
// after the other. A source-translated connection (the OUTPUT hook's) has a reply destination of
// its own; the insert picks its port so that it hashes to the connection's shard. Each shard owns a
// preallocated pool of entries (88 bytes) and a linear-probing index of 8-byte slots, 3 slots per
// pool entry (two tuples per entry, load <= 2/3), so a connection costs a fixed 112 bytes whether
// or not the table is full; nothing is allocated after construction. Pools and indexes are two
// anonymous mappings, with transparent huge pages requested when large (random probes into
// hundreds of MB otherwise miss the TLB on nearly every lookup).
//
// Concurrency. One spinlock per shard guards that shard's pool, index, cursors and counters.
// It is also a seqlock (seq_spin_lock.h): a packet that changes nothing but its connection's last
// use (an established TCP connection's ACKs and data, an assured UDP flow's datagrams: nearly
// every packet) reads the shard without taking the lock, checks the lock's version afterwards,
// and stores only the last-use word; any other packet, or a read that a holder overlapped, takes
// the lock. Pool and index words are therefore read and written atomically. Hot-path rules: a
// critical section does one probe and copies out at most a tuple; nothing allocates, blocks, logs
// or calls out while holding a shard lock. Only insert holds more than one lock: the connection's
// shard and the (at most two) shards where its new tuples could already exist as another
// connection's, so that no tuple is ever indexed twice; it takes them in ascending shard order, the
// table's one lock order. Everything else holds one at a time. Rule evaluation happens outside any
// lock (conntrack_step.h). The one call-out is the TranslationObserver below, made under the shard
// lock on purpose: it is how the shared original-destination view stays exact (never answering for
// a connection the table no longer holds), because under that lock insert and removal of one
// connection are already ordered. It is allowed because the observer's store is bounded and
// lock-free for its readers: a few compares and one seqlocked write into shared memory, serialised
// by per-bucket spin locks that only observer calls take and that are leaves (shard lock first,
// then bucket locks; no bucket lock holder ever waits for a shard lock), with no allocation,
// blocking, logging or system call.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "xredir/conntrack_counters.h"
#include "xredir/conntrack_state.h"
#include "xredir/conntrack_tuple.h"
#include "xredir/ip_addr.h"
#include "xredir/packet.h"
#include "xredir/packet_rewrite.h"

namespace xredir {

// TranslationObserver hears of every translated connection (one whose destination was rewritten:
// what originalDst answers kFound for) when it enters the table and when it leaves it, for any
// reason: expiry seen by trackPacket, the reaper, early-drop eviction, remove(), a SYN reopening
// a closed connection, an expired entry replaced by insert, a RST before any reply. Calls are
// made under the connection's shard lock (see the concurrency note above for what an observer
// may do there) before the change is visible to any other lookup, so an observer that mirrors the
// table never holds a connection the table has dropped. Calls for one connection never overlap;
// calls for different connections may come from several threads at once.
class TranslationObserver {
 public:
  // onTranslatedInserted: a translated connection was inserted. `reply` is its reply tuple,
  // what the proxy's accepted socket sees (source = the proxy's address, destination = the
  // client's); `original_dst` is where the client was going.
  virtual void onTranslatedInserted(const FlowTuple& reply, const Endpoint& original_dst) = 0;
  // onTranslatedRemoved: the translated connection with this reply tuple is being removed.
  virtual void onTranslatedRemoved(const FlowTuple& reply) = 0;

 protected:
  ~TranslationObserver() = default;
};

struct ConntrackConfig {
  // Upper bound on live connections, split evenly over the shards (a shard may fill before the
  // table does; early drop and refusal then act within that shard).
  std::uint32_t max_entries = 1U << 20;
  std::uint32_t shard_count = 16;                   // power of two, >= 1
  std::uint64_t hash_seed = 0x5eed5eed5eed5eedULL;  // the daemon passes a random seed
  // How many pool slots early drop examines when the shard is full. Linux examines up to
  // NF_CT_EVICTION_RANGE (8) hash-chain entries; scanning the pool needs a few more to find the
  // oldest evictable one among live entries.
  std::uint32_t eviction_scan = 64;
  // Told of translated connections entering and leaving the table; must outlive the table.
  TranslationObserver* translation_observer = nullptr;
};

// ReplyPath is what the reply direction needs to send a packet back to the client: the
// interface the original direction came in on and the Ethernet addresses seen there.
struct ReplyPath {
  std::uint32_t ifindex = 0;
  MacAddr peer_mac{};  // the client side's MAC (source MAC of the first packet)
  MacAddr own_mac{};   // our MAC on that interface (destination MAC of the first packet)
};

// ConnectionView is a copy of one entry, taken under its shard lock.
struct ConnectionView {
  FlowTuple original;
  FlowTuple reply;
  TcpState tcp_state = TcpState::kNone;  // kNone for UDP
  bool seen_reply = false;
  bool assured = false;
  bool dst_translated = false;     // the reply source differs from the original destination
  bool src_port_remapped = false;  // the client's port was changed to keep the reply unique
  bool src_translated = false;     // the reply destination differs from the original source
  std::uint64_t last_use_ns = 0;
  std::uint64_t expires_ns = 0;
  ReplyPath reply_path;
};

struct LookupHit {
  Direction dir;
  ConnectionView conn;
};

// TrackResult is the answer of trackPacket. On kHit, `target` is the tuple the packet must carry
// after translation (the inverse of the other direction's tuple) and `rewrite` says whether it
// differs from the packet's tuple.
enum class TrackStatus : std::uint8_t { kHit = 1, kMiss };
// TupleHashes are one tuple's hashes under a table's seed (ConntrackTable::hashOf): each
// endpoint's, which name the two shards the tuple can live in, and the tuple's own (the index).
struct TupleHashes {
  std::uint64_t src = 0;
  std::uint64_t dst = 0;
  std::uint64_t tuple = 0;
};

struct TrackResult {
  TrackStatus status = TrackStatus::kMiss;
  Direction dir = Direction::kOriginal;
  bool rewrite = false;
  bool state_invalid = false;  // the TCP state machine refused the packet (state unchanged)
  FlowTuple target;
  ChecksumDeltas deltas;  // of rewriting the packet's tuple into `target` (packet_rewrite.h)
  ReplyPath reply_path;
};

// NewConnection describes a connection to insert, from its first packet.
struct NewConnection {
  FlowTuple original;  // the first packet's tuple
  // Destination translation (REDIRECT/DNAT). Without it the entry is a no-op entry (gVisor's
  // maybeInsertNoop): replies are matched and not mistranslated.
  bool translate_dst = false;
  std::array<std::uint8_t, 16> to_addr{};  // same family as `original`
  std::uint16_t to_port_first = 0;         // inclusive range of destination ports
  std::uint16_t to_port_last = 0;
  // Source translation of a translated connection: the reply is addressed to `src_to_addr`
  // instead of the client. The OUTPUT hook needs it: a local client's address is local, so
  // the proxy's replies to it would be delivered over lo and never cross the datapath; the
  // proxy sees the injection pair's next hop as the client instead (same family as `original`;
  // only with translate_dst). Such a connection's reply path is the injection pair, known to
  // the datapath: its `reply_path` is not stored and reads back as all zero.
  bool translate_src = false;
  std::array<std::uint8_t, 16> src_to_addr{};
  ReplyPath reply_path;
  std::uint8_t tcp_flags = 0;  // the first packet's flags; TCP must be a SYN without ACK
};

enum class InsertStatus : std::uint8_t {
  kInserted = 1,
  kExists,        // the original tuple is already tracked (another worker won the race)
  kRefusedFull,   // shard full and nothing evictable (counted in refusals)
  kNatExhausted,  // no unique reply tuple could be found (counted in nat_exhausted)
  kBadRequest,    // protocol is not TCP/UDP, a TCP first packet that is not a SYN, bad range
};

struct InsertResult {
  InsertStatus status = InsertStatus::kBadRequest;
  FlowTuple target;       // kInserted: what the first packet's tuple becomes
  ChecksumDeltas deltas;  // kInserted: of that rewrite (packet_rewrite.h)
  bool evicted = false;
};

struct ReapStats {
  std::uint32_t scanned = 0;  // live entries examined
  std::uint32_t reaped = 0;   // of which expired and removed
};

// OriginalDstStatus: gVisor's OriginalDst distinguishes "not tracked" from "not redirected";
// so does this. The zero value is not a status.
enum class OriginalDstStatus : std::uint8_t {
  kFound = 1,
  kNotTracked,           // no connection has this (proxy <- client) reply tuple
  kNotTranslated,        // tracked, but its destination was not translated
  kUnsupportedProtocol,  // neither TCP nor UDP (Linux: ENOPROTOOPT)
};

struct OriginalDstResult {
  OriginalDstStatus status = OriginalDstStatus::kNotTracked;
  Endpoint dst;  // kFound: the destination the client originally addressed
};

class ConntrackTable {
 public:
  // Entry and index sizes, for memory accounting (see the file comment).
  static constexpr std::size_t kEntryBytes = 88;
  static constexpr std::size_t kIndexSlotBytes = 8;
  static constexpr std::size_t kIndexSlotsPerEntry = 3;
  static constexpr std::size_t kBytesPerConnection =
      kEntryBytes + kIndexSlotBytes * kIndexSlotsPerEntry;

  // ConntrackTable preallocates every shard's pool and index. Precondition: shard_count is a
  // power of two and max_entries >= shard_count.
  explicit ConntrackTable(const ConntrackConfig& config);
  ~ConntrackTable();
  ConntrackTable(const ConntrackTable&) = delete;
  ConntrackTable& operator=(const ConntrackTable&) = delete;

  // trackPacket is the per-packet lookup: finds the connection of `tuple` in either direction,
  // advances its protocol state with `tcp_flags`, refreshes its last use and returns the
  // translation to apply. An expired entry is removed and reported as a miss; so is a TCP
  // connection that a new SYN reopens (TIME_WAIT/CLOSE). A RST seen before any reply removes
  // the entry after translating the RST (Linux kills such connections at once).
  TrackResult trackPacket(const FlowTuple& tuple, std::uint8_t tcp_flags, std::uint64_t now_ns) {
    return trackPacket(tuple, hashOf(tuple), tcp_flags, now_ns);
  }
  // The same with the tuple's hashOf already computed (by a batch that prefetched it).
  TrackResult trackPacket(const FlowTuple& tuple,
                          const TupleHashes& hashes,
                          std::uint8_t tcp_flags,
                          std::uint64_t now_ns);

  // hashOf returns the tuple's hashes under this table's seed. A batch computes them once per
  // frame and hands them to prefetch, prefetchEntry and trackPacket (a tuple hash is three
  // multiplies in a chain, a tenth of a hot packet's cost; computed three times it was more
  // than the misses the prefetches hid at 1K flows).
  TupleHashes hashOf(const FlowTuple& tuple) const {
    TupleHashes h;
    h.src = hasher_.endpointHash(tuple.src_addr, tuple.src_port);
    h.dst = hasher_.endpointHash(tuple.dst_addr, tuple.dst_port);
    h.tuple = hasher_.combine(h.src, h.dst, tuple.protocol, tuple.family);
    return h;
  }

  // prefetch starts loading the index slot where `tuple` would be found (in the shard a lookup
  // probes first), without locking or reading anything shared. A worker that calls it for
  // every frame of a batch before stepping them overlaps the batch's cache misses instead of
  // taking them one after another.
  void prefetch(const FlowTuple& tuple, const TupleHashes& hashes) const;

  // prefetchEntry is the second stage: it reads the index slot (without the lock; a stale
  // slot only wastes the prefetch) and starts loading the entry it names. Called for every
  // frame of a batch after prefetch and before stepping, it hides the entry's miss as well;
  // called without prefetch first it waits for the slot's miss itself.
  void prefetchEntry(const FlowTuple& tuple, const TupleHashes& hashes) const;

  // insert creates a connection from its first packet, choosing the reply tuple as nf_nat's
  // get_unique_tuple does: the destination port is the original one when it lies in
  // [to_port_first, to_port_last], else first + (flow hash mod range size); ports of the range
  // are tried from there (at most kMaxNatAttempts) for a reply tuple that is unused and hashes
  // to this shard; failing that, the client's port is searched in nf_nat's source range
  // (1-511, 600-1023 or 1024-65535, by the original port) from a hashed offset, at most
  // kMaxNatAttempts unused-checks. When the shard is full, early drop evicts first.
  InsertResult insert(const NewConnection& conn, std::uint64_t now_ns);

  // lookup returns a copy of the connection holding `tuple` in either direction, with no state
  // change (expired entries are reported as they are).
  std::optional<LookupHit> lookup(const FlowTuple& tuple) const;

  // remove deletes the connection holding `tuple` in either direction; false if none.
  bool remove(const FlowTuple& tuple);

  // originalDst answers SO_ORIGINAL_DST for a socket whose peer is `client` and whose local
  // address is `proxy`: it looks up the reply tuple (proxy -> client) and returns the
  // original direction's destination. IPv4 and IPv6; `client` and `proxy` share a family.
  OriginalDstResult originalDst(std::uint8_t protocol,
                                const Endpoint& client,
                                const Endpoint& proxy) const;

  // reapSlice examines the next `max_scan` pool slots (round robin over all shards, one shard
  // lock at a time) and removes expired entries. Safe to call concurrently with everything.
  ReapStats reapSlice(std::uint64_t now_ns, std::uint32_t max_scan);

  std::size_t size() const;  // live entries (sum over shards, each read under its lock)
  std::uint32_t capacity() const { return per_shard_capacity_ * shard_count_; }
  std::uint32_t shardCount() const { return shard_count_; }
  // shardOf returns the shard that holds the connections of `client` (their original tuple's
  // source, their reply tuple's destination).
  std::uint32_t shardOf(const Endpoint& client) const;
  ConntrackCounters shardCounters(std::uint32_t shard) const;
  ConntrackCounters totalCounters() const;
  // allocatedBytes is the memory the pools and indexes hold (allocated once, at construction).
  std::size_t allocatedBytes() const;

  // Linux's max_attempts in nf_nat_l4proto_unique_tuple.
  static constexpr std::uint32_t kMaxNatAttempts = 128;

 private:
  struct Shard;
  class ShardLocks;
  // Probe says what a probe of one shard found of a tuple.
  enum class Probe : std::uint8_t { kAbsent, kHit, kGone };

  // probeOrder returns the shards that can hold `tuple`, likelier first (equal when both
  // endpoints share a shard).
  std::pair<std::uint32_t, std::uint32_t> probeOrder(const FlowTuple& tuple,
                                                     const TupleHashes& hashes) const;
  // trackWithoutLock is trackPacket's path for a packet that changes nothing but its
  // connection's last use (see changesNothingButLastUse): a seqlock read of the shards `first`
  // then `second`, then a store of the last use. False when it cannot tell (a holder was inside
  // meanwhile, the tuple is in neither shard, the packet changes more): the locked path decides.
  bool trackWithoutLock(const FlowTuple& tuple,
                        std::uint32_t tag,
                        std::uint32_t first,
                        std::uint32_t second,
                        std::uint8_t tcp_flags,
                        std::uint64_t now_ns,
                        TrackResult& result);
  // trackIn is trackPacket within one shard; kGone: found but removed (expired, reopened).
  // The last probe of a lookup counts its miss.
  Probe trackIn(Shard& shard,
                const FlowTuple& tuple,
                std::uint32_t tag,
                std::uint8_t tcp_flags,
                std::uint64_t now_ns,
                bool last_probe,
                TrackResult& result);
  struct Memory;

  FlowHasher hasher_;
  std::uint32_t shard_count_;
  std::uint32_t shard_shift_;
  std::uint32_t per_shard_capacity_;
  std::uint32_t eviction_scan_;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<Memory> memory_;  // the pool and index mappings (huge pages when large)
  std::atomic<std::uint64_t> reap_cursor_{0};
};

}  // namespace xredir
