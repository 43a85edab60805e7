// Bounded table: early drop order, refusal when nothing is evictable, the incremental reaper
// and its adaptive interval.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"
#include "xredir/conntrack_reaper.h"

namespace xredir {
namespace {

using cttest::noop;
using cttest::smallConfig;
using cttest::tuple;

FlowTuple udpFlow(int i) {
  return tuple(kIpProtoUdp, "10.0.0." + std::to_string(i + 1) + ":1000", "10.1.0.1:53");
}

// makeAssured turns a UDP entry into an assured stream (reply, then one more packet).
void makeAssured(ConntrackTable& table, const FlowTuple& orig, std::uint64_t now) {
  ASSERT_EQ(table.trackPacket(orig.inverted(), 0, now).status, TrackStatus::kHit);
  ASSERT_EQ(table.trackPacket(orig, 0, now).status, TrackStatus::kHit);
}

TEST(ConntrackEviction, EvictsOldestNonAssuredFirst) {
  struct Case {
    const char* name;
    std::vector<int> assured;  // which of the 4 resident flows are assured
    int want_victim;           // -1: refused
  };
  const std::vector<Case> cases = {
      {"none assured: oldest goes", {}, 0},
      {"oldest assured: next oldest goes", {0}, 1},
      {"only the newest is not assured", {0, 1, 2}, 3},
      {"all assured: refused", {0, 1, 2, 3}, -1},
  };
  for (const Case& c : cases) {
    ManualClock clock;
    ConntrackTable table(smallConfig(4, 1));
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(table.insert(noop(udpFlow(i), 0), clock.nowNs()).status, InsertStatus::kInserted);
      clock.advanceSeconds(1);
    }
    // Assuring refreshes last use; do it in flow order so age order is preserved.
    for (int i : c.assured) makeAssured(table, udpFlow(i), clock.nowNs() + i);
    const InsertResult r = table.insert(noop(udpFlow(10), 0), clock.nowNs() + 10);
    const ConntrackCounters counters = table.totalCounters();
    if (c.want_victim < 0) {
      EXPECT_EQ(r.status, InsertStatus::kRefusedFull) << c.name;
      EXPECT_EQ(counters.refusals, 1U) << c.name;
      EXPECT_EQ(counters.evictions, 0U) << c.name;
      EXPECT_EQ(table.size(), 4U) << c.name;
      continue;
    }
    ASSERT_EQ(r.status, InsertStatus::kInserted) << c.name;
    EXPECT_TRUE(r.evicted) << c.name;
    EXPECT_EQ(counters.evictions, 1U) << c.name;
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(table.lookup(udpFlow(i)).has_value(), i != c.want_victim) << c.name << " " << i;
    }
    EXPECT_TRUE(table.lookup(udpFlow(10)).has_value()) << c.name;
    EXPECT_EQ(table.size(), 4U) << c.name;
  }
}

TEST(ConntrackEviction, ExpiredEntryIsTakenBeforeLiveOnes) {
  ManualClock clock;
  ConntrackTable table(smallConfig(2, 1));
  ASSERT_EQ(table.insert(noop(udpFlow(0), 0), clock.nowNs()).status, InsertStatus::kInserted);
  makeAssured(table, udpFlow(0), clock.nowNs());
  clock.advanceSeconds(100);
  ASSERT_EQ(table.insert(noop(udpFlow(1), 0), clock.nowNs()).status, InsertStatus::kInserted);
  makeAssured(table, udpFlow(1), clock.nowNs());
  clock.advanceSeconds(30);  // flow 0: 130 s idle > 120 s stream timeout; flow 1: 30 s
  const InsertResult r = table.insert(noop(udpFlow(2), 0), clock.nowNs());
  ASSERT_EQ(r.status, InsertStatus::kInserted);
  EXPECT_FALSE(table.lookup(udpFlow(0)).has_value());
  EXPECT_TRUE(table.lookup(udpFlow(1)).has_value());
}

TEST(ConntrackEviction, AssuredTcpInClosingStateIsEvictable) {
  ManualClock clock;
  ConntrackTable table(smallConfig(2, 1));
  const FlowTuple a = tuple(kIpProtoTcp, "10.0.0.1:1000", "10.1.0.1:80");
  const FlowTuple b = tuple(kIpProtoTcp, "10.0.0.2:1000", "10.1.0.1:80");
  for (const FlowTuple& t : {a, b}) {
    ASSERT_EQ(table.insert(noop(t), clock.nowNs()).status, InsertStatus::kInserted);
    ASSERT_EQ(table.trackPacket(t.inverted(), kTcpSyn | kTcpAck, clock.nowNs()).status,
              TrackStatus::kHit);
    ASSERT_EQ(table.trackPacket(t, kTcpAck, clock.nowNs()).status, TrackStatus::kHit);
    ASSERT_TRUE(table.lookup(t)->conn.assured);
  }
  clock.advanceSeconds(1);
  ASSERT_EQ(table.trackPacket(b, kTcpFin | kTcpAck, clock.nowNs()).status, TrackStatus::kHit);
  // a is older but established; b is newer but closing (Linux tcp_can_early_drop).
  const InsertResult r =
      table.insert(noop(tuple(kIpProtoTcp, "10.0.0.3:1000", "10.1.0.1:80")), clock.nowNs());
  ASSERT_EQ(r.status, InsertStatus::kInserted);
  EXPECT_TRUE(table.lookup(a).has_value());
  EXPECT_FALSE(table.lookup(b).has_value());
}

TEST(ConntrackReaper, ReapsOnlyExpiredEntriesIncrementally) {
  ManualClock clock;
  ConntrackTable table(smallConfig(256, 4));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(table.insert(noop(udpFlow(i), 0), clock.nowNs()).status, InsertStatus::kInserted);
  }
  clock.advanceSeconds(20);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(table.trackPacket(udpFlow(i), 0, clock.nowNs()).status, TrackStatus::kHit);
  }
  clock.advanceSeconds(15);  // 90 flows idle 35 s (> 30 s), 10 flows idle 15 s
  // Slices of 16 slots: no single call visits the whole table.
  std::uint32_t reaped = 0;
  std::uint32_t calls = 0;
  while (calls * 16 < table.capacity()) {
    const ReapStats s = table.reapSlice(clock.nowNs(), 16);
    EXPECT_LE(s.scanned, 16U);
    reaped += s.reaped;
    ++calls;
  }
  EXPECT_EQ(reaped, 90U);
  EXPECT_EQ(table.size(), 10U);
  EXPECT_EQ(table.totalCounters().reaped, 90U);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(table.lookup(udpFlow(i)).has_value());
  // The reaped tuples are free again: the same flows can be inserted anew.
  EXPECT_EQ(table.insert(noop(udpFlow(50), 0), clock.nowNs()).status, InsertStatus::kInserted);
}

TEST(ConntrackReaper, IntervalAdaptsToExpiredRatio) {
  ManualClock clock;
  ConntrackTable table(smallConfig(128, 1));
  ReaperConfig rc;
  rc.fraction_per_tick = 1;  // each tick covers the whole (small) table
  rc.min_interval_ns = 1'000'000;
  rc.max_interval_ns = 64'000'000;
  ConntrackReaper reaper(table, rc);
  EXPECT_EQ(reaper.interval(), rc.max_interval_ns);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(table.insert(noop(udpFlow(i), 0), clock.nowNs()).status, InsertStatus::kInserted);
  }
  // Nothing expired: the interval stays at its maximum (doubling is clamped).
  EXPECT_EQ(reaper.tick(clock.nowNs()), rc.max_interval_ns);
  EXPECT_EQ(reaper.lastStats().reaped, 0U);
  // Everything expired: the interval halves.
  clock.advanceSeconds(31);
  EXPECT_EQ(reaper.tick(clock.nowNs()), rc.max_interval_ns / 2);
  EXPECT_EQ(reaper.lastStats().reaped, 100U);
  // Empty table: back off again.
  EXPECT_EQ(reaper.tick(clock.nowNs()), rc.max_interval_ns);
}

}  // namespace
}  // namespace xredir
