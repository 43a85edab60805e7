// The sharded connection table: pools, linear-probing indexes, NAT tuple choice, early drop
// and the reaper's slices. See conntrack.h for the layout and the locking rules.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <sys/mman.h>

#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"
#include "xredir/packet_rewrite.h"
#include "xredir/seq_spin_lock.h"

namespace xredir {
namespace {

// Entry flag bits.
enum : std::uint8_t {
  kInUse = 1 << 0,
  kSeenReply = 1 << 1,
  kAssured = 1 << 2,
  kDstTranslated = 1 << 3,
  kSrcRemapped = 1 << 4,
  kSrcTranslated = 1 << 5,
};

constexpr std::uint32_t kNil = 0xffffffffU;
constexpr std::uint32_t kGaveUp = kNil - 1;  // find: probe limit reached (optimistic reads only)

// Entry is one connection: the original tuple, and of the reply tuple what may differ from the
// original's inverse: its source (the translated destination) and, for a source-translated
// connection, its destination. Such a connection's reply path is the injection pair, which the
// datapath knows, so the bytes of the reply path hold that address instead (`path` and
// `reply_dst_addr` share storage; kSrcTranslated says which): a connection stays 88 bytes
// (static_assert below), i.e. 112 with its index slots. The translation's checksum deltas fill
// what was the entry's padding.
struct Entry {
  std::array<std::uint8_t, 16> client_addr;     // original src (== reply dst unless src translated)
  std::array<std::uint8_t, 16> orig_dst_addr;   // original dst
  std::array<std::uint8_t, 16> reply_src_addr;  // reply src (== orig dst unless translated)
  std::uint64_t last_use_ns;
  std::uint16_t client_port;
  std::uint16_t orig_dst_port;
  std::uint16_t reply_src_port;
  std::uint16_t reply_dst_port;
  struct Path {
    std::uint32_t ifindex;  // while free: the next free entry (kNil ends the list)
    MacAddr peer_mac;
    MacAddr own_mac;
  };
  union {
    Path path;                                    // without kSrcTranslated
    std::array<std::uint8_t, 16> reply_dst_addr;  // with kSrcTranslated
  };
  std::uint8_t protocol;
  Family family;
  TcpState tcp_state;
  std::uint8_t flags;     // 0 while free
  ChecksumDeltas deltas;  // the original direction's translation; the reply's is its inverse

  const std::array<std::uint8_t, 16>& replyDst() const {
    return (flags & kSrcTranslated) ? reply_dst_addr : client_addr;
  }
  ReplyPath replyPath() const {
    if (flags & kSrcTranslated) return ReplyPath{};
    // One 16-byte copy: built field by field, the result was read back with a wide load that
    // stalled on store forwarding (a fifth of trackPacket's time on an established flow).
    return std::bit_cast<ReplyPath>(path);
  }
  FlowTuple original() const {
    FlowTuple t;
    t.src_addr = client_addr;
    t.dst_addr = orig_dst_addr;
    t.src_port = client_port;
    t.dst_port = orig_dst_port;
    t.protocol = protocol;
    t.family = family;
    return t;
  }
  FlowTuple reply() const {
    FlowTuple t;
    t.src_addr = reply_src_addr;
    t.dst_addr = replyDst();
    t.src_port = reply_src_port;
    t.dst_port = reply_dst_port;
    t.protocol = protocol;
    t.family = family;
    return t;
  }
  bool matches(const FlowTuple& t, Direction dir) const {
    if (protocol != t.protocol || family != t.family) return false;
    if (dir == Direction::kOriginal) {
      return client_port == t.src_port && orig_dst_port == t.dst_port &&
             sameAddr(client_addr, t.src_addr) && sameAddr(orig_dst_addr, t.dst_addr);
    }
    return reply_src_port == t.src_port && reply_dst_port == t.dst_port &&
           sameAddr(reply_src_addr, t.src_addr) && sameAddr(replyDst(), t.dst_addr);
  }
  std::uint64_t timeoutNs() const {
    if (protocol == kIpProtoTcp) return tcpTimeoutNs(tcp_state);
    return ((flags & kAssured) ? kUdpTimeoutStreamS : kUdpTimeoutUnrepliedS) * kNanosPerSecond;
  }
  std::uint64_t expiresNs() const { return last_use_ns + timeoutNs(); }
  bool expired(std::uint64_t now_ns) const { return now_ns >= expiresNs(); }
};
static_assert(sizeof(Entry) == ConntrackTable::kEntryBytes);
static_assert(std::is_trivially_copyable_v<Entry> && sizeof(Entry) % 8 == 0);

// EntryCell is where an Entry lives in a pool: its bytes as 8-byte words, each read and written
// atomically, because an established flow's packet reads entries without the shard lock (the
// seqlock of seq_spin_lock.h) and refreshes the last-use word without it. Holders of the lock
// copy a whole entry out, change the copy and store it back (storeEntry); the words' orders
// are the seqlock's (acquire loads, release stores; x86 movs either way).
struct EntryCell {
  static constexpr std::size_t kWords = sizeof(Entry) / 8;
  std::uint64_t words[kWords];
};
static_assert(sizeof(EntryCell) == sizeof(Entry));

// loadEntry copies a cell into `e` (in place: returned by value, the copy was made twice).
[[gnu::always_inline]] inline void loadEntry(const EntryCell& cell, Entry& e) {
  const auto word = [&cell](std::size_t i) {
    // atomic_ref needs a non-const object; it only loads here.
    return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(cell.words[i]))
        .load(std::memory_order_acquire);
  };
  // The words are loaded one at a time but written into the copy in 16-byte pairs: the copy is
  // then read 16 bytes at a time (addresses, the reply path), and a 16-byte load from two 8-byte
  // stores cannot be forwarded (a store-forwarding stall that cost more than the lock it spares).
  // Words of the entry's later cache lines are loaded first: loaded in order, in a loop, the
  // misses of its two or three lines did not overlap (11% slower at 1M flows).
  using Pair = std::uint64_t __attribute__((vector_size(16)));
  static_assert(EntryCell::kWords == 11);
  const std::uint64_t w10 = word(10);
  const std::uint64_t w8 = word(8);
  const std::uint64_t w0 = word(0);
  const std::uint64_t w6 = word(6);
  auto* out = reinterpret_cast<unsigned char*>(&e);
  const Pair p0 = {w0, word(1)};
  const Pair p1 = {word(2), word(3)};
  const Pair p2 = {word(4), word(5)};
  const Pair p3 = {w6, word(7)};
  const Pair p4 = {w8, word(9)};
  std::memcpy(out, &p0, 16);
  std::memcpy(out + 16, &p1, 16);
  std::memcpy(out + 32, &p2, 16);
  std::memcpy(out + 48, &p3, 16);
  std::memcpy(out + 64, &p4, 16);
  std::memcpy(out + 80, &w10, 8);
}

void storeEntry(EntryCell& cell, const Entry& entry) {
  const auto w = std::bit_cast<std::array<std::uint64_t, EntryCell::kWords>>(entry);
  for (std::size_t i = 0; i < EntryCell::kWords; ++i) {
    std::atomic_ref<std::uint64_t>(cell.words[i]).store(w[i], std::memory_order_release);
  }
}

// touchEntry refreshes an entry's last use without the lock. Relaxed: the word is a time that
// only ever moves on, and nothing is published with it.
void touchEntry(EntryCell& cell, std::uint64_t now_ns) {
  constexpr std::size_t kLastUseWord = offsetof(Entry, last_use_ns) / 8;
  static_assert(offsetof(Entry, last_use_ns) % 8 == 0);
  std::atomic_ref<std::uint64_t>(cell.words[kLastUseWord]).store(now_ns, std::memory_order_relaxed);
}

// freeEntry is a free pool entry: no flags, and the next free entry in the path's ifindex.
Entry freeEntry(std::uint32_t next_free) {
  Entry e{};
  e.path.ifindex = next_free;
  return e;
}

// Slot is one index cell: the low 32 bits of the tuple hash (home position and a cheap
// filter before comparing tuples) and the entry number with the direction in bit 0. Slots are
// read and written whole and atomically, with the seqlock's orders (as EntryCell's words):
// lookups of established flows and prefetchEntry read them without the lock.
struct alignas(8) Slot {
  std::uint32_t tag;
  std::uint32_t ref;  // kNil: empty
};
static_assert(sizeof(Slot) == ConntrackTable::kIndexSlotBytes);

inline std::uint32_t makeRef(std::uint32_t entry, Direction dir) {
  return (entry << 1) | static_cast<std::uint32_t>(dir);
}

// The nf_nat source-port ranges (nf_nat_l4proto_unique_tuple): a port below 512 stays below
// 512, below 1024 stays in 600..1023, others use 1024..65535.
void sourcePortRange(std::uint16_t port, std::uint32_t& lo, std::uint32_t& hi) {
  if (port < 512) {
    lo = 1;
    hi = 511;
  } else if (port < 1024) {
    lo = 600;
    hi = 1023;
  } else {
    lo = 1024;
    hi = 65535;
  }
}

// PageArray is a fixed array of trivially copyable T in its own anonymous mapping. Pools and
// indexes of a large table are hundreds of MB probed at random: with 4 KiB pages nearly every
// lookup also misses the TLB, so mappings of 2 MiB or more ask for transparent huge pages
// (MADV_HUGEPAGE; this machine's THP mode is "madvise"). A failed madvise only costs speed.
template <typename T>
class PageArray {
 public:
  PageArray() = default;
  explicit PageArray(std::size_t count) : bytes_(roundUp(count * sizeof(T))) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      bytes_ = 0;
      return;  // data_ stays null: the constructor of the table checks
    }
    if (bytes_ >= kHugePage) madvise(p, bytes_, MADV_HUGEPAGE);
    data_ = static_cast<T*>(p);
  }
  ~PageArray() {
    if (data_ != nullptr) munmap(data_, bytes_);
  }
  PageArray(const PageArray&) = delete;
  PageArray& operator=(const PageArray&) = delete;
  PageArray(PageArray&& o) noexcept { *this = std::move(o); }
  PageArray& operator=(PageArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* get() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  static constexpr std::size_t kHugePage = 2U << 20;
  static std::size_t roundUp(std::size_t n) {
    const std::size_t unit = n >= kHugePage ? kHugePage : 4096;
    return (n + unit - 1) / unit * unit;
  }
  T* data_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace

// Shard: everything below `lock` is guarded by it (see conntrack.h for the rules), and the pool
// and index are also read optimistically (the lock's version says whether the read was clean).
// The first cache line holds what is fixed at construction (read without the lock, written by no
// packet, so every core keeps a copy); the second starts with the lock and the counters, written
// by holders only: an established flow's packet reads that line and writes none of the shard's.
struct alignas(64) ConntrackTable::Shard {
  EntryCell* pool = nullptr;  // this shard's part of the table's one pool mapping
  Slot* slots = nullptr;      // this shard's part of the table's one index mapping
  std::uint32_t capacity = 0;
  std::uint32_t num_slots = 0;
  TranslationObserver* observer = nullptr;

  alignas(64) mutable SeqSpinLock lock;
  ConntrackCounters counters;
  std::uint32_t used = 0;
  std::uint32_t free_head = kNil;
  std::uint32_t evict_cursor = 0;

  std::uint32_t home(std::uint32_t tag) const {
    // Lemire's fastrange: maps the tag onto [0, num_slots) without a division.
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(tag) * num_slots) >> 32);
  }
  std::uint32_t next(std::uint32_t pos) const { return pos + 1 == num_slots ? 0 : pos + 1; }

  Entry entry(std::uint32_t e) const {
    Entry copy;
    loadEntry(pool[e], copy);
    return copy;
  }
  void store(std::uint32_t e, const Entry& entry) { storeEntry(pool[e], entry); }
  Slot slot(std::uint32_t pos) const {
    return std::atomic_ref<Slot>(const_cast<Slot&>(slots[pos])).load(std::memory_order_acquire);
  }
  void storeSlot(std::uint32_t pos, Slot s) {
    std::atomic_ref<Slot>(slots[pos]).store(s, std::memory_order_release);
  }

  // find returns the slot position holding `t` (its slot in *found_slot and its entry in
  // *found, when given), or kNil. Under the lock a probe always ends (the index is at most 2/3
  // full); an optimistic reader, who may see slots from several moments, passes a probe limit
  // and gets kGaveUp when it is reached. Candidates are loaded straight into *found (copying a
  // match out afterwards was a tenth of an established packet's conntrack work), so after a
  // miss it holds the last candidate compared.
  std::uint32_t find(const FlowTuple& t,
                     std::uint32_t tag,
                     Slot* found_slot = nullptr,
                     Entry* found = nullptr,
                     std::uint32_t max_probes = 0xffffffffU) const {
    Entry scratch;
    Entry& candidate = found != nullptr ? *found : scratch;
    std::uint32_t pos = home(tag);
    for (std::uint32_t probes = 0; probes < max_probes; ++probes, pos = next(pos)) {
      const Slot s = slot(pos);
      if (s.ref == kNil) return kNil;
      if (s.tag != tag) continue;
      loadEntry(pool[s.ref >> 1], candidate);
      if (candidate.matches(t, static_cast<Direction>(s.ref & 1))) {
        if (found_slot != nullptr) *found_slot = s;
        return pos;
      }
    }
    return kGaveUp;
  }

  void insertSlot(std::uint32_t tag, std::uint32_t ref) {
    std::uint32_t pos = home(tag);
    while (slot(pos).ref != kNil) pos = next(pos);
    storeSlot(pos, Slot{tag, ref});
  }

  // eraseSlot removes the slot holding `ref` (probing from its tag's home) with backward-shift
  // deletion, so linear probing needs no tombstones.
  void eraseSlot(std::uint32_t tag, std::uint32_t ref) {
    std::uint32_t i = home(tag);
    while (slot(i).ref != ref) {
      assert(slot(i).ref != kNil);
      i = next(i);
    }
    std::uint32_t j = i;
    for (;;) {
      j = next(j);
      const Slot moved = slot(j);
      if (moved.ref == kNil) break;
      const std::uint32_t k = home(moved.tag);
      // Move slots[j] into the hole at i unless its home lies cyclically in (i, j].
      const bool home_in_between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
      if (!home_in_between) {
        storeSlot(i, moved);
        i = j;
      }
    }
    storeSlot(i, Slot{0, kNil});
  }

  std::uint32_t allocate() {
    const std::uint32_t e = free_head;
    if (e == kNil) return kNil;
    free_head = entry(e).path.ifindex;
    ++used;
    return e;
  }

  // removeEntry unlinks both index slots of entry `e` and frees it.
  void removeEntry(const FlowHasher& hasher, std::uint32_t e) {
    const Entry removed = entry(e);
    const auto orig_tag = static_cast<std::uint32_t>(hasher.tupleHash(removed.original()));
    const auto reply_tag = static_cast<std::uint32_t>(hasher.tupleHash(removed.reply()));
    eraseSlot(orig_tag, makeRef(e, Direction::kOriginal));
    eraseSlot(reply_tag, makeRef(e, Direction::kReply));
    // Every removal path comes through here, under the shard lock.
    if (observer != nullptr && (removed.flags & kDstTranslated)) {
      observer->onTranslatedRemoved(removed.reply());
    }
    release(e);
  }

  void release(std::uint32_t e) {
    store(e, freeEntry(free_head));
    free_head = e;
    --used;
  }
};

// Memory owns the two mappings the shards point into.
struct ConntrackTable::Memory {
  PageArray<EntryCell> pool;
  PageArray<Slot> slots;
};

ConntrackTable::ConntrackTable(const ConntrackConfig& config)
    : hasher_(config.hash_seed),
      shard_count_(std::max<std::uint32_t>(1, config.shard_count)),
      shard_shift_(0),
      per_shard_capacity_(0),
      eviction_scan_(std::max<std::uint32_t>(1, config.eviction_scan)) {
  assert(std::has_single_bit(shard_count_));
  shard_shift_ = static_cast<std::uint32_t>(std::countr_zero(shard_count_));
  per_shard_capacity_ =
      std::max<std::uint32_t>(1, (config.max_entries + shard_count_ - 1) / shard_count_);
  shards_ = std::make_unique<Shard[]>(shard_count_);
  const std::size_t slots_per_shard = per_shard_capacity_ * kIndexSlotsPerEntry;
  auto pool_memory = std::make_unique<PageArray<EntryCell>>(
      static_cast<std::size_t>(per_shard_capacity_) * shard_count_);
  auto slot_memory = std::make_unique<PageArray<Slot>>(slots_per_shard * shard_count_);
  if (pool_memory->get() == nullptr || slot_memory->get() == nullptr) {
    // Start-up zone: the table's size is configuration; failing loudly is the contract.
    std::fprintf(stderr, "xredir: conntrack: cannot map a table of %u entries\n", capacity());
    std::abort();
  }
  for (std::uint32_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    s.capacity = per_shard_capacity_;
    s.num_slots = static_cast<std::uint32_t>(per_shard_capacity_ * kIndexSlotsPerEntry);
    s.pool = pool_memory->get() + static_cast<std::size_t>(i) * s.capacity;
    s.slots = slot_memory->get() + static_cast<std::size_t>(i) * s.num_slots;
    for (std::uint32_t k = 0; k < s.num_slots; ++k) s.storeSlot(k, Slot{0, kNil});
    for (std::uint32_t e = 0; e < s.capacity; ++e) {
      s.store(e, freeEntry((e + 1 < s.capacity) ? e + 1 : kNil));
    }
    s.free_head = 0;
    s.observer = config.translation_observer;
  }
  memory_ = std::make_unique<Memory>(Memory{std::move(*pool_memory), std::move(*slot_memory)});
}

ConntrackTable::~ConntrackTable() = default;

namespace {
// shardIndex maps an endpoint hash to its shard (bits 40..; the index uses a tuple hash).
inline std::uint32_t shardIndex(std::uint64_t endpoint_hash, std::uint32_t shard_count) {
  return static_cast<std::uint32_t>(endpoint_hash >> 40) & (shard_count - 1);
}
}  // namespace

std::uint32_t ConntrackTable::shardOf(const Endpoint& client) const {
  return shardIndex(hasher_.endpointHash(client.addr.bytes, client.port), shard_count_);
}

[[gnu::always_inline]] inline std::pair<std::uint32_t, std::uint32_t> ConntrackTable::probeOrder(
    const FlowTuple& tuple, const TupleHashes& hashes) const {
  // As an original the tuple lives in its source's shard, as a reply in its destination's. The
  // client's ephemeral port is usually the higher one, and the client's shard holds both.
  const std::uint32_t as_original = shardIndex(hashes.src, shard_count_);
  const std::uint32_t as_reply = shardIndex(hashes.dst, shard_count_);
  if (tuple.src_port >= tuple.dst_port) return {as_original, as_reply};
  return {as_reply, as_original};
}

// ShardLocks takes up to three shards' locks in ascending shard order (the table's lock order)
// and releases them on destruction. Duplicates are taken once.
class ConntrackTable::ShardLocks {
 public:
  ShardLocks(Shard* shards, std::uint32_t a, std::uint32_t b, std::uint32_t c) : shards_(shards) {
    std::uint32_t order[3] = {a, b, c};
    std::sort(order, order + 3);
    for (std::uint32_t i = 0; i < 3; ++i) {
      if (count_ > 0 && held_[count_ - 1] == order[i]) continue;
      held_[count_++] = order[i];
      shards_[order[i]].lock.lock();
    }
  }
  ~ShardLocks() {
    for (std::uint32_t i = count_; i-- > 0;) shards_[held_[i]].lock.unlock();
  }
  ShardLocks(const ShardLocks&) = delete;
  ShardLocks& operator=(const ShardLocks&) = delete;
  bool holds(std::uint32_t shard) const {
    return std::find(held_, held_ + count_, shard) != held_ + count_;
  }

 private:
  Shard* shards_;
  std::uint32_t held_[3] = {};
  std::uint32_t count_ = 0;
};

namespace {

ConnectionView viewOf(const Entry& e) {
  ConnectionView v;
  v.original = e.original();
  v.reply = e.reply();
  v.tcp_state = e.protocol == kIpProtoTcp ? e.tcp_state : TcpState::kNone;
  v.seen_reply = (e.flags & kSeenReply) != 0;
  v.assured = (e.flags & kAssured) != 0;
  v.dst_translated = (e.flags & kDstTranslated) != 0;
  v.src_port_remapped = (e.flags & kSrcRemapped) != 0;
  v.src_translated = (e.flags & kSrcTranslated) != 0;
  v.last_use_ns = e.last_use_ns;
  v.expires_ns = e.expiresNs();
  v.reply_path = e.replyPath();
  return v;
}

// fillHit sets a hit's result from its entry: the target is the other direction's tuple
// inverted, built in place rather than through two temporary tuples.
void fillHit(const Entry& entry, Direction dir, TrackResult& result) {
  result.status = TrackStatus::kHit;
  result.dir = dir;
  result.rewrite = (entry.flags & (kDstTranslated | kSrcRemapped | kSrcTranslated)) != 0;
  FlowTuple& target = result.target;
  if (dir == Direction::kOriginal) {
    target.src_addr = entry.replyDst();
    target.dst_addr = entry.reply_src_addr;
    target.src_port = entry.reply_dst_port;
    target.dst_port = entry.reply_src_port;
  } else {
    target.src_addr = entry.orig_dst_addr;
    target.dst_addr = entry.client_addr;
    target.src_port = entry.orig_dst_port;
    target.dst_port = entry.client_port;
  }
  target.protocol = entry.protocol;
  target.family = entry.family;
  result.deltas = dir == Direction::kOriginal ? entry.deltas : entry.deltas.inverse();
  result.reply_path = entry.replyPath();
}

// changesNothingButLastUse is true when a packet of `dir` with `tcp_flags` leaves `entry` as it
// is apart from its last use: an assured connection whose state the packet keeps (an
// established TCP connection's ACKs and data, an assured UDP flow's datagrams), not expired.
bool changesNothingButLastUse(const Entry& entry,
                              Direction dir,
                              std::uint8_t tcp_flags,
                              std::uint64_t now_ns) {
  constexpr std::uint8_t kSettled = kInUse | kSeenReply | kAssured;
  if ((entry.flags & kSettled) != kSettled || entry.expired(now_ns)) return false;
  if (entry.protocol != kIpProtoTcp) return true;
  const TcpTransition tr = tcpTransition(entry.tcp_state, dir, tcpEventFromFlags(tcp_flags));
  return tr.verdict == TcpVerdict::kAdvance && tr.next == entry.tcp_state;
}

}  // namespace

TrackResult ConntrackTable::trackPacket(const FlowTuple& tuple,
                                        const TupleHashes& hashes,
                                        std::uint8_t tcp_flags,
                                        std::uint64_t now_ns) {
  const auto [first, second] = probeOrder(tuple, hashes);
  const auto tag = static_cast<std::uint32_t>(hashes.tuple);
  TrackResult result;
  if (trackWithoutLock(tuple, tag, first, second, tcp_flags, now_ns, result)) return result;
  if (trackIn(shards_[first], tuple, tag, tcp_flags, now_ns, second == first, result) ==
          Probe::kAbsent &&
      second != first) {
    (void)trackIn(shards_[second], tuple, tag, tcp_flags, now_ns, true, result);
  }
  return result;
}

[[gnu::always_inline]] inline bool ConntrackTable::trackWithoutLock(const FlowTuple& tuple,
                                                                    std::uint32_t tag,
                                                                    std::uint32_t first,
                                                                    std::uint32_t second,
                                                                    std::uint8_t tcp_flags,
                                                                    std::uint64_t now_ns,
                                                                    TrackResult& result) {
  // Probe sequences are short at load <= 2/3; a longer one is left to the locked path.
  constexpr std::uint32_t kMaxProbes = 32;
  for (const std::uint32_t index : {first, second}) {
    Shard& shard = shards_[index];
    const std::uint32_t version = shard.lock.readBegin();
    Slot slot{};
    Entry entry;
    const std::uint32_t pos = shard.find(tuple, tag, &slot, &entry, kMaxProbes);
    if (pos == kGaveUp) return false;
    if (pos == kNil) {
      // Absent from the likelier shard (if the read was clean): try the other one.
      if (!shard.lock.readValid(version) || second == first) return false;
      continue;
    }
    const auto dir = static_cast<Direction>(slot.ref & 1);
    if (!changesNothingButLastUse(entry, dir, tcp_flags, now_ns)) return false;
    if (!shard.lock.readValid(version)) return false;
    // The entry may be removed and its cell reused between readValid and this store; the
    // store then gives a connection inserted a moment ago a last use of now, which is harmless.
    touchEntry(shard.pool[slot.ref >> 1], now_ns);
    fillHit(entry, dir, result);
    return true;
  }
  return false;
}

ConntrackTable::Probe ConntrackTable::trackIn(Shard& shard,
                                              const FlowTuple& tuple,
                                              std::uint32_t tag,
                                              std::uint8_t tcp_flags,
                                              std::uint64_t now_ns,
                                              bool last_probe,
                                              TrackResult& result) {
  std::lock_guard<SeqSpinLock> guard(shard.lock);
  Slot slot{};
  Entry entry;
  if (shard.find(tuple, tag, &slot, &entry) == kNil) {
    if (last_probe) ++shard.counters.lookup_misses;
    return Probe::kAbsent;
  }
  const std::uint32_t e = slot.ref >> 1;
  const auto dir = static_cast<Direction>(slot.ref & 1);
  if (entry.expired(now_ns)) {
    shard.removeEntry(hasher_, e);
    ++shard.counters.reaped;
    ++shard.counters.lookup_misses;
    return Probe::kGone;
  }
  const bool seen_reply = (entry.flags & kSeenReply) != 0;
  bool kill_after = false;
  if (entry.protocol == kIpProtoTcp) {
    const TcpEvent event = tcpEventFromFlags(tcp_flags);
    const TcpTransition tr = tcpTransition(entry.tcp_state, dir, event);
    switch (tr.verdict) {
      case TcpVerdict::kReopen:
        shard.removeEntry(hasher_, e);
        ++shard.counters.removed;
        ++shard.counters.lookup_misses;
        return Probe::kGone;
      case TcpVerdict::kInvalid:
        ++shard.counters.invalid;
        result.state_invalid = true;
        break;
      case TcpVerdict::kIgnore:
        break;
      case TcpVerdict::kAdvance: {
        const TcpState old = entry.tcp_state;
        entry.tcp_state = tr.next;
        entry.last_use_ns = now_ns;
        // Linux tcp_packet: assured on a valid ACK that keeps/makes ESTABLISHED after
        // SYN_RECV, once a reply has been seen.
        if (seen_reply && (old == TcpState::kSynRecv || old == TcpState::kEstablished) &&
            tr.next == TcpState::kEstablished && !(entry.flags & kAssured)) {
          entry.flags |= kAssured;
        }
        // Linux: "If only reply is a RST, we can consider ourselves not to have an
        // established connection" — a RST before any reply kills the entry.
        if (!seen_reply && event == TcpEvent::kRst) kill_after = true;
        break;
      }
    }
  } else {
    entry.last_use_ns = now_ns;
    // Linux udp_packet: traffic after a reply makes the flow a stream: assured, 120 s.
    if (seen_reply && !(entry.flags & kAssured)) entry.flags |= kAssured;
  }
  if (dir == Direction::kReply && !seen_reply) entry.flags |= kSeenReply;
  shard.store(e, entry);
  fillHit(entry, dir, result);
  if (kill_after) {
    shard.removeEntry(hasher_, e);
    ++shard.counters.removed;
  }
  return Probe::kHit;
}

void ConntrackTable::prefetch(const FlowTuple& tuple, const TupleHashes& hashes) const {
  // pool/slots/num_slots are fixed at construction, so reading them needs no lock.
  const Shard& shard = shards_[probeOrder(tuple, hashes).first];
  __builtin_prefetch(&shard.slots[shard.home(static_cast<std::uint32_t>(hashes.tuple))]);
  // The lock's line too: when another worker used the shard last, fetching it is a transfer
  // between cores, which a batch overlaps like the other misses.
  __builtin_prefetch(&shard.lock, 1);
}

void ConntrackTable::prefetchEntry(const FlowTuple& tuple, const TupleHashes& hashes) const {
  constexpr std::uint32_t kSlotsExamined = 4;  // probe sequences are short at load <= 2/3
  const Shard& shard = shards_[probeOrder(tuple, hashes).first];
  const auto tag = static_cast<std::uint32_t>(hashes.tuple);
  std::uint32_t pos = shard.home(tag);
  for (std::uint32_t i = 0; i < kSlotsExamined; ++i, pos = shard.next(pos)) {
    // An unlocked, possibly stale read: a writer may move or clear the slot meanwhile, but a
    // slot read whole always names some entry of this shard's pool, and a prefetch of the
    // wrong entry costs only the wasted load. The lookup proper re-probes under the lock.
    const Slot s = shard.slot(pos);
    if (s.ref == kNil) return;
    if (s.tag != tag) continue;
    const auto* entry = reinterpret_cast<const char*>(&shard.pool[s.ref >> 1]);
    // An entry is 88 bytes over two or three lines: bytes 0, 64 and 87 touch each of them.
    __builtin_prefetch(entry);
    __builtin_prefetch(entry + 64);
    __builtin_prefetch(entry + sizeof(Entry) - 1);
    return;
  }
}

InsertResult ConntrackTable::insert(const NewConnection& conn, std::uint64_t now_ns) {
  InsertResult result;
  const FlowTuple& orig = conn.original;
  if (orig.protocol != kIpProtoTcp && orig.protocol != kIpProtoUdp) return result;
  if (orig.protocol == kIpProtoTcp && tcpEventFromFlags(conn.tcp_flags) != TcpEvent::kSyn) {
    return result;
  }
  if (conn.translate_dst && conn.to_port_first > conn.to_port_last) return result;
  if (conn.translate_src && !conn.translate_dst) return result;

  // Hashes that do not depend on the table's contents are computed before taking the locks.
  const std::uint64_t client_hash = hasher_.endpointHash(orig.src_addr, orig.src_port);
  const std::uint64_t orig_dst_hash = hasher_.endpointHash(orig.dst_addr, orig.dst_port);
  const std::uint64_t orig_hash =
      hasher_.combine(client_hash, orig_dst_hash, orig.protocol, orig.family);
  // The connection lives in its client's shard (see conntrack.h).
  const std::uint32_t shard_index = shardIndex(client_hash, shard_count_);
  Shard& shard = shards_[shard_index];
  // The reply's destination: the client, or the address a source translation gives it.
  const std::array<std::uint8_t, 16>& reply_dst_addr =
      conn.translate_src ? conn.src_to_addr : orig.src_addr;
  const std::uint64_t reply_client_hash =
      conn.translate_src ? hasher_.endpointHash(reply_dst_addr, orig.src_port) : client_hash;

  const std::array<std::uint8_t, 16>& to_addr = conn.translate_dst ? conn.to_addr : orig.dst_addr;
  const std::uint32_t first = conn.translate_dst ? conn.to_port_first : orig.dst_port;
  const std::uint32_t last = conn.translate_dst ? conn.to_port_last : orig.dst_port;
  const std::uint32_t range = last - first + 1;
  const std::uint32_t start_port = (orig.dst_port >= first && orig.dst_port <= last)
                                       ? orig.dst_port
                                       : first + static_cast<std::uint32_t>(orig_hash % range);
  const std::uint64_t start_hash =
      hasher_.endpointHash(to_addr, static_cast<std::uint16_t>(start_port));

  FlowTuple reply;
  reply.src_addr = to_addr;
  reply.dst_addr = reply_dst_addr;
  reply.dst_port = orig.src_port;
  reply.protocol = orig.protocol;
  reply.family = orig.family;

  // Besides the connection's shard: the original tuple could already be another connection's
  // reply (in the shard of its destination), and the reply tuple another's original (in the
  // shard of its source, the translated destination).
  const std::uint32_t orig_as_reply_shard = shardIndex(orig_dst_hash, shard_count_);
  const ShardLocks locks(shards_.get(), shard_index, orig_as_reply_shard,
                         shardIndex(start_hash, shard_count_));
  // A live entry with this original tuple means another worker inserted it first; one holding
  // it as its reply means the packet belongs to that connection (its caller looks again).
  for (const std::uint32_t index : {shard_index, orig_as_reply_shard}) {
    Shard& holder = shards_[index];
    Slot slot{};
    Entry existing{};
    if (holder.find(orig, static_cast<std::uint32_t>(orig_hash), &slot, &existing) == kNil) {
      continue;
    }
    if (!existing.expired(now_ns)) {
      result.status = InsertStatus::kExists;
      return result;
    }
    holder.removeEntry(hasher_, slot.ref >> 1);
    ++holder.counters.reaped;
  }

  // usable: no connection uses the candidate reply tuple (Linux's nf_nat_used_tuple): not as its
  // reply (every such connection lives in the shard of the tuple's destination, which must be
  // this shard for the reply to be found) nor as its original (in the shard of the tuple's
  // source, which is checked only when its lock is held: a candidate of a --to-ports range
  // whose shard is not held is passed over, and the client's port is remapped instead).
  auto usable = [&](std::uint64_t src_hash, std::uint64_t dst_hash, std::uint64_t h) {
    const std::uint32_t as_original = shardIndex(src_hash, shard_count_);
    return shardIndex(dst_hash, shard_count_) == shard_index && locks.holds(as_original) &&
           shard.find(reply, static_cast<std::uint32_t>(h)) == kNil &&
           shards_[as_original].find(reply, static_cast<std::uint32_t>(h)) == kNil;
  };
  bool found = false;
  std::uint64_t reply_hash = 0;
  // 1. Destination ports of the range, from start_port, with the client's port unchanged.
  const std::uint32_t port_tries = std::min(range, kMaxNatAttempts);
  for (std::uint32_t k = 0; k < port_tries && !found; ++k) {
    reply.src_port = static_cast<std::uint16_t>(first + (start_port - first + k) % range);
    const std::uint64_t src_hash =
        k == 0 ? start_hash : hasher_.endpointHash(to_addr, reply.src_port);
    reply_hash = hasher_.combine(src_hash, reply_client_hash, orig.protocol, orig.family);
    found = usable(src_hash, reply_client_hash, reply_hash);
  }
  // 2. The client's port, as nf_nat picks a source port for a clashing tuple (and, for a
  // source-translated connection, so that its reply lands in this shard).
  bool remapped = false;
  if (!found) {
    reply.src_port = static_cast<std::uint16_t>(start_port);
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    sourcePortRange(orig.src_port, lo, hi);
    const std::uint32_t size = hi - lo + 1;
    const auto offset = static_cast<std::uint32_t>((orig_hash >> 16) % size);
    std::uint32_t attempts = 0;
    for (std::uint32_t i = 0; i < size && attempts < kMaxNatAttempts; ++i) {
      const auto port = static_cast<std::uint16_t>(lo + (offset + i) % size);
      reply.dst_port = port;
      const std::uint64_t dst_hash = hasher_.endpointHash(reply_dst_addr, port);
      if (shardIndex(dst_hash, shard_count_) != shard_index) continue;  // cheap; not counted
      ++attempts;
      reply_hash = hasher_.combine(start_hash, dst_hash, orig.protocol, orig.family);
      if (usable(start_hash, dst_hash, reply_hash)) {
        found = true;
        remapped = port != orig.src_port;
        break;
      }
    }
  }
  if (!found) {
    ++shard.counters.nat_exhausted;
    result.status = InsertStatus::kNatExhausted;
    return result;
  }

  std::uint32_t e = shard.allocate();
  if (e == kNil) {
    // Early drop (Linux early_drop): within a bounded window of the pool, evict an expired
    // entry, else the oldest entry that is not assured or whose TCP state is closing
    // (tcp_can_early_drop). Assured, live connections are never evicted.
    std::uint32_t victim = kNil;
    std::uint64_t victim_use = ~0ULL;
    const std::uint32_t scan = std::min(eviction_scan_, shard.capacity);
    for (std::uint32_t i = 0; i < scan; ++i) {
      const std::uint32_t c = shard.evict_cursor;
      shard.evict_cursor = shard.evict_cursor + 1 == shard.capacity ? 0 : shard.evict_cursor + 1;
      const Entry cand = shard.entry(c);
      if (!(cand.flags & kInUse)) continue;
      if (cand.expired(now_ns)) {
        victim = c;
        break;
      }
      const bool evictable = !(cand.flags & kAssured) ||
                             (cand.protocol == kIpProtoTcp && tcpIsClosing(cand.tcp_state));
      if (evictable && cand.last_use_ns < victim_use) {
        victim = c;
        victim_use = cand.last_use_ns;
      }
    }
    if (victim == kNil) {
      ++shard.counters.refusals;
      result.status = InsertStatus::kRefusedFull;
      return result;
    }
    shard.removeEntry(hasher_, victim);
    ++shard.counters.evictions;
    result.evicted = true;
    e = shard.allocate();
    // The eviction may have freed the reply tuple chosen above only if the victim held it,
    // which `usable` excluded, so the choice stands.
  }

  Entry entry{};
  entry.client_addr = orig.src_addr;
  entry.orig_dst_addr = orig.dst_addr;
  entry.reply_src_addr = reply.src_addr;
  entry.last_use_ns = now_ns;
  entry.client_port = orig.src_port;
  entry.orig_dst_port = orig.dst_port;
  entry.reply_src_port = reply.src_port;
  entry.reply_dst_port = reply.dst_port;
  if (conn.translate_src) {
    entry.reply_dst_addr = reply.dst_addr;
  } else {
    entry.path =
        Entry::Path{conn.reply_path.ifindex, conn.reply_path.peer_mac, conn.reply_path.own_mac};
  }
  entry.protocol = orig.protocol;
  entry.family = orig.family;
  entry.tcp_state = orig.protocol == kIpProtoTcp ? TcpState::kSynSent : TcpState::kNone;
  const bool dst_translated = reply.src_addr != orig.dst_addr || reply.src_port != orig.dst_port;
  entry.flags = static_cast<std::uint8_t>(kInUse | (dst_translated ? kDstTranslated : 0) |
                                          (remapped ? kSrcRemapped : 0) |
                                          (conn.translate_src ? kSrcTranslated : 0));
  const FlowTuple target = reply.inverted();
  entry.deltas = translationDeltas(orig.src(), orig.dst(), target.src(), target.dst());
  shard.store(e, entry);
  shard.insertSlot(static_cast<std::uint32_t>(orig_hash), makeRef(e, Direction::kOriginal));
  shard.insertSlot(static_cast<std::uint32_t>(reply_hash), makeRef(e, Direction::kReply));
  if (dst_translated && shard.observer != nullptr) {
    shard.observer->onTranslatedInserted(
        reply, Endpoint{IpAddr{orig.dst_addr, orig.family}, orig.dst_port});
  }
  ++shard.counters.inserts;
  if (remapped) ++shard.counters.nat_port_remaps;
  result.status = InsertStatus::kInserted;
  result.target = target;
  result.deltas = entry.deltas;
  return result;
}

std::optional<LookupHit> ConntrackTable::lookup(const FlowTuple& tuple) const {
  const TupleHashes h = hashOf(tuple);
  const auto [first, second] = probeOrder(tuple, h);
  for (const std::uint32_t index : {first, second}) {
    const Shard& shard = shards_[index];
    std::lock_guard<SeqSpinLock> guard(shard.lock);
    Slot s{};
    Entry entry{};
    if (shard.find(tuple, static_cast<std::uint32_t>(h.tuple), &s, &entry) == kNil) continue;
    return LookupHit{static_cast<Direction>(s.ref & 1), viewOf(entry)};
  }
  return std::nullopt;
}

bool ConntrackTable::remove(const FlowTuple& tuple) {
  const TupleHashes h = hashOf(tuple);
  const auto [first, second] = probeOrder(tuple, h);
  for (const std::uint32_t index : {first, second}) {
    Shard& shard = shards_[index];
    std::lock_guard<SeqSpinLock> guard(shard.lock);
    Slot s{};
    if (shard.find(tuple, static_cast<std::uint32_t>(h.tuple), &s) == kNil) continue;
    shard.removeEntry(hasher_, s.ref >> 1);
    ++shard.counters.removed;
    return true;
  }
  return false;
}

namespace {
// answerOf is originalDst's answer for the entry found under `slot`.
OriginalDstResult answerOf(const Entry& entry, Slot slot) {
  OriginalDstResult result;
  // Found as an original tuple: the "proxy" endpoint opened this connection itself.
  if (static_cast<Direction>(slot.ref & 1) != Direction::kReply ||
      !(entry.flags & kDstTranslated)) {
    result.status = OriginalDstStatus::kNotTranslated;
    return result;
  }
  result.status = OriginalDstStatus::kFound;
  result.dst = Endpoint{IpAddr{entry.orig_dst_addr, entry.family}, entry.orig_dst_port};
  return result;
}
}  // namespace

OriginalDstResult ConntrackTable::originalDst(std::uint8_t protocol,
                                              const Endpoint& client,
                                              const Endpoint& proxy) const {
  OriginalDstResult result;
  if (protocol != kIpProtoTcp && protocol != kIpProtoUdp) {
    result.status = OriginalDstStatus::kUnsupportedProtocol;
    return result;
  }
  if (client.addr.family != proxy.addr.family) {
    result.status = OriginalDstStatus::kNotTracked;
    return result;
  }
  // The proxy's socket sees the reply direction: local = reply source, peer = reply dest.
  const FlowTuple reply = FlowTuple::fromEndpoints(protocol, proxy, client);
  const TupleHashes h = hashOf(reply);
  // The client's shard first (where a reply tuple lives), then the proxy side's (where the
  // same tuple could only be some connection's original).
  const std::uint32_t as_reply = shardIndex(h.dst, shard_count_);
  const std::uint32_t as_original = shardIndex(h.src, shard_count_);
  for (const std::uint32_t index : {as_reply, as_original}) {
    const Shard& shard = shards_[index];
    std::lock_guard<SeqSpinLock> guard(shard.lock);
    Slot s{};
    Entry entry{};
    if (shard.find(reply, static_cast<std::uint32_t>(h.tuple), &s, &entry) == kNil) continue;
    return answerOf(entry, s);
  }
  result.status = OriginalDstStatus::kNotTracked;
  return result;
}

ReapStats ConntrackTable::reapSlice(std::uint64_t now_ns, std::uint32_t max_scan) {
  // Lock hold per shard visit is bounded so a large slice never stalls that shard's workers.
  constexpr std::uint32_t kMaxSlotsPerLockHold = 256;
  ReapStats stats;
  const std::uint64_t total = static_cast<std::uint64_t>(per_shard_capacity_) * shard_count_;
  std::uint64_t pos = reap_cursor_.fetch_add(max_scan, std::memory_order_relaxed) % total;
  std::uint32_t remaining = static_cast<std::uint32_t>(std::min<std::uint64_t>(max_scan, total));
  while (remaining > 0) {
    Shard& shard = shards_[pos / per_shard_capacity_];
    const auto first = static_cast<std::uint32_t>(pos % per_shard_capacity_);
    const std::uint32_t n =
        std::min({remaining, per_shard_capacity_ - first, kMaxSlotsPerLockHold});
    {
      std::lock_guard<SeqSpinLock> guard(shard.lock);
      for (std::uint32_t e = first; e < first + n; ++e) {
        const Entry entry = shard.entry(e);
        if (!(entry.flags & kInUse)) continue;
        ++stats.scanned;
        if (entry.expired(now_ns)) {
          shard.removeEntry(hasher_, e);
          ++shard.counters.reaped;
          ++stats.reaped;
        }
      }
    }
    remaining -= n;
    pos = (pos + n) % total;
  }
  return stats;
}

std::size_t ConntrackTable::size() const {
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<SeqSpinLock> guard(shards_[i].lock);
    n += shards_[i].used;
  }
  return n;
}

ConntrackCounters ConntrackTable::shardCounters(std::uint32_t shard) const {
  std::lock_guard<SeqSpinLock> guard(shards_[shard].lock);
  return shards_[shard].counters;
}

ConntrackCounters ConntrackTable::totalCounters() const {
  ConntrackCounters total;
  for (std::uint32_t i = 0; i < shard_count_; ++i) total.add(shardCounters(i));
  return total;
}

std::size_t ConntrackTable::allocatedBytes() const {
  return sizeof(*this) + sizeof(Shard) * shard_count_ + memory_->pool.bytes() +
         memory_->slots.bytes();
}

}  // namespace xredir
