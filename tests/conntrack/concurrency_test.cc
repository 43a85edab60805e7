// Several threads insert, look up, translate, reap and (through a small capacity) evict at
// once; invariants are checked on every observation and at the end. Build it with
// ThreadSanitizer (meson setup build-conntrack-tsan -Db_sanitize=thread -Dbuildtype=debug) to
// check the locking; without TSan it still checks the invariants under contention.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"
#include "xredir/conntrack_reaper.h"

namespace xredir {
namespace {

struct Recorded {
  FlowTuple orig;
  FlowTuple reply;
};

FlowTuple randomFlow(std::mt19937_64& rng, std::uint8_t proto) {
  // Few client addresses and ports: clashes at the proxy endpoint are frequent, so the NAT
  // port search runs concurrently too.
  std::array<std::uint8_t, 16> client{10, 0, 0, static_cast<std::uint8_t>(rng() % 4 + 1)};
  std::array<std::uint8_t, 16> dst{203, 0, static_cast<std::uint8_t>(rng() % 256),
                                   static_cast<std::uint8_t>(rng() % 256)};
  FlowTuple t;
  t.src_addr = client;
  t.dst_addr = dst;
  t.src_port = static_cast<std::uint16_t>(40000 + rng() % 8);
  t.dst_port = 443;
  t.protocol = proto;
  return t;
}

TEST(ConntrackConcurrency, InsertLookupReapEvictKeepInvariants) {
  constexpr int kWorkers = 4;
  constexpr int kOpsPerWorker = 20000;
  ConntrackConfig cfg = cttest::smallConfig(2048, 8);
  ConntrackTable table(cfg);
  ManualClock clock;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> violations{0};
  std::atomic<std::uint64_t> inserted{0};
  const auto proxy = *parseIpAddr("169.254.77.1");

  auto check = [&](bool ok) {
    if (!ok) violations.fetch_add(1, std::memory_order_relaxed);
  };

  auto worker = [&](int id) {
    std::mt19937_64 rng(1000 + id);
    std::vector<Recorded> mine;
    for (int op = 0; op < kOpsPerWorker; ++op) {
      const std::uint64_t now = clock.nowNs();
      const int kind = static_cast<int>(rng() % 10);
      if (kind < 4 || mine.empty()) {
        const std::uint8_t proto = (rng() & 1) ? kIpProtoTcp : kIpProtoUdp;
        const FlowTuple t = randomFlow(rng, proto);
        NewConnection nc = cttest::noop(t, proto == kIpProtoTcp ? kTcpSyn : 0);
        if (rng() % 4 != 0) {
          nc.translate_dst = true;
          nc.to_addr = proxy.bytes;
          nc.to_port_first = 15001;
          nc.to_port_last = 15001;
        }
        const InsertResult r = table.insert(nc, now);
        if (r.status == InsertStatus::kInserted) {
          inserted.fetch_add(1, std::memory_order_relaxed);
          mine.push_back({t, r.target.inverted()});
          // One shard, the client's, holds both tuples: the original's source is the
          // reply's destination.
          check(table.shardOf(t.src()) == table.shardOf(r.target.inverted().dst()));
        } else {
          check(r.status == InsertStatus::kExists || r.status == InsertStatus::kRefusedFull ||
                r.status == InsertStatus::kNatExhausted);
        }
      } else if (kind < 8) {
        const Recorded& rec = mine[rng() % mine.size()];
        const bool reply = rng() & 1;
        const FlowTuple& t = reply ? rec.reply : rec.orig;
        const TrackResult tr = table.trackPacket(t, reply ? (kTcpSyn | kTcpAck) : kTcpAck, now);
        if (tr.status == TrackStatus::kHit) {
          // The tuple may meanwhile belong to a newer connection (the old one evicted, reaped
          // or removed), so check what holds for every connection with this tuple: the
          // direction, the client address, and where the translation points.
          check(tr.dir == (reply ? Direction::kReply : Direction::kOriginal));
          if (reply) {
            check(tr.target.dst_addr == t.dst_addr && tr.target.src_port == 443);
          } else {
            check(tr.target.src_addr == t.src_addr);
            check(tr.target.dst() == t.dst() ||
                  (tr.target.dst_addr == proxy.bytes && tr.target.dst_port == 15001));
          }
        }
      } else if (kind == 8) {
        const Recorded& rec = mine[rng() % mine.size()];
        const auto hit = table.lookup(rec.reply);
        if (hit) {
          check(hit->dir == Direction::kReply);
          check(hit->conn.reply == rec.reply);
          check(hit->conn.original.src_addr == rec.orig.src_addr);
          check(table.shardOf(hit->conn.original.src()) == table.shardOf(hit->conn.reply.dst()));
          const OriginalDstResult od =
              table.originalDst(rec.orig.protocol, rec.reply.dst(), rec.reply.src());
          check(od.status != OriginalDstStatus::kFound || od.dst.port == 443);
        }
      } else {
        const Recorded& rec = mine[rng() % mine.size()];
        table.remove(rec.orig);
      }
    }
  };

  std::thread reaper_thread([&] {
    ConntrackReaper reaper(table);
    while (!stop.load(std::memory_order_relaxed)) {
      clock.advance(kNanosPerSecond);  // time moves: entries expire while in use
      reaper.tick(clock.nowNs());
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) workers.emplace_back(worker, i);
  for (auto& t : workers) t.join();
  stop.store(true);
  reaper_thread.join();

  EXPECT_EQ(violations.load(), 0U);
  const ConntrackCounters c = table.totalCounters();
  EXPECT_EQ(c.inserts, inserted.load());
  EXPECT_LE(table.size(), table.capacity());
  // Every inserted entry is either still live or was removed exactly once.
  EXPECT_EQ(c.inserts, table.size() + c.evictions + c.reaped + c.removed);
  EXPECT_GT(c.inserts, 1000U);
  // The capacity is small on purpose: early drop and refusals happen under contention.
  EXPECT_GT(c.evictions + c.refusals, 0U);
  std::printf(
      "inserts %llu evictions %llu refusals %llu reaped %llu removed %llu remaps %llu "
      "exhausted %llu misses %llu\n",
      (unsigned long long)c.inserts, (unsigned long long)c.evictions,
      (unsigned long long)c.refusals, (unsigned long long)c.reaped, (unsigned long long)c.removed,
      (unsigned long long)c.nat_port_remaps, (unsigned long long)c.nat_exhausted,
      (unsigned long long)c.lookup_misses);
  // Drain: after every timeout has passed, one reaper pass empties the table.
  clock.advance(6 * 24 * 3600 * kNanosPerSecond);
  table.reapSlice(clock.nowNs(), table.capacity());
  EXPECT_EQ(table.size(), 0U);
}

// Established flows' packets read their entry without the shard lock (a seqlock read). While a
// writer keeps replacing the connections with ones translated elsewhere (remove, insert,
// handshake to assured: every step a locked write to the same shard), readers must only ever
// see one whole translation or a miss, never the address of one and the port of the other.
TEST(ConntrackConcurrency, LockFreeHitsNeverSeeATornEntry) {
  constexpr int kReaders = 2;
  constexpr int kFlows = 8;
  // Torn reads are rare even when the seqlock is broken: the test runs a million rounds (a
  // couple of seconds) or until a deadline, and needs at least a tenth of them to mean anything.
  constexpr std::uint64_t kMinHits = 200000;
  constexpr std::uint64_t kRounds = 1000000;
  constexpr std::uint64_t kMinRounds = kRounds / 10;
  ConntrackTable table(cttest::smallConfig(64, 1));  // one shard: every write overlaps reads
  struct Target {
    std::array<std::uint8_t, 16> addr;
    std::uint16_t port;
  };
  const Target targets[2] = {{parseIpAddr("169.254.77.1")->bytes, 15001},
                             {parseIpAddr("169.254.77.2")->bytes, 15002}};
  std::vector<FlowTuple> flows;
  for (int i = 0; i < kFlows; ++i) {
    FlowTuple t;
    t.src_addr = parseIpAddr("10.0.0." + std::to_string(i + 1))->bytes;
    t.dst_addr = parseIpAddr("203.0.113.7")->bytes;
    t.src_port = static_cast<std::uint16_t>(40000 + i);
    t.dst_port = 443;
    t.protocol = kIpProtoTcp;
    flows.push_back(t);
  }
  auto establish = [&](const FlowTuple& orig, const Target& to) {
    NewConnection nc;
    nc.original = orig;
    nc.tcp_flags = kTcpSyn;
    nc.translate_dst = true;
    nc.to_addr = to.addr;
    nc.to_port_first = nc.to_port_last = to.port;
    const InsertResult ir = table.insert(nc, 1);
    if (ir.status != InsertStatus::kInserted) return false;
    table.trackPacket(ir.target.inverted(), kTcpSyn | kTcpAck, 1);
    table.trackPacket(orig, kTcpAck, 1);
    table.trackPacket(orig, kTcpAck, 1);
    return true;
  };
  for (const FlowTuple& f : flows) ASSERT_TRUE(establish(f, targets[0]));

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> failed_inserts{0};
  std::atomic<std::uint64_t> rounds{0};
  std::thread writer([&] {
    for (std::uint64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
      const FlowTuple& f = flows[round % kFlows];
      table.remove(f);
      if (!establish(f, targets[(round / kFlows) % 2])) failed_inserts.fetch_add(1);
      rounds.store(round + 1, std::memory_order_relaxed);
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      const auto enough = [&] {
        return hits.load(std::memory_order_relaxed) >= kMinHits &&
               rounds.load(std::memory_order_relaxed) >= kRounds;
      };
      for (std::uint64_t i = r;
           !enough() && (i % 1024 != 0 || std::chrono::steady_clock::now() < deadline); ++i) {
        const FlowTuple& f = flows[i % kFlows];
        const TrackResult tr = table.trackPacket(f, kTcpAck, 1);
        if (tr.status != TrackStatus::kHit) continue;
        hits.fetch_add(1, std::memory_order_relaxed);
        const Target& t = tr.target.dst_port == targets[0].port ? targets[0] : targets[1];
        const bool whole = tr.dir == Direction::kOriginal && tr.rewrite &&
                           tr.target.dst_port == t.port && tr.target.dst_addr == t.addr &&
                           tr.target.src_addr == f.src_addr && tr.target.src_port == f.src_port;
        if (!whole) torn.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : readers) t.join();
  stop.store(true);
  writer.join();
  EXPECT_EQ(torn.load(), 0U);
  EXPECT_EQ(failed_inserts.load(), 0U);
  EXPECT_GE(hits.load(), kMinHits);
  EXPECT_GE(rounds.load(), kMinRounds);
  std::printf("hits %llu rounds %llu\n", (unsigned long long)hits.load(),
              (unsigned long long)rounds.load());
}

}  // namespace
}  // namespace xredir
