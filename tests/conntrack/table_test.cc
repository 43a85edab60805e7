// The table: both directions indexed, state and timeouts driven through trackPacket with a
// manual clock, assured as Linux, memory per connection.
#include <gtest/gtest.h>

#include <tuple>
#include <utility>
#include <vector>

#include "test_util.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"

namespace xredir {
namespace {

using cttest::noop;
using cttest::redirect;
using cttest::smallConfig;
using cttest::tuple;

constexpr std::uint64_t kSec = kNanosPerSecond;

TEST(ConntrackTable, LookupByEitherDirectionReturnsEntryAndDirection) {
  for (std::uint32_t shards : {1U, 4U, 16U}) {
    ConntrackTable table(smallConfig(1024, shards));
    const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:443");
    const InsertResult ir = table.insert(redirect(orig, "169.254.77.1", 15001, 15001), 0);
    ASSERT_EQ(ir.status, InsertStatus::kInserted);
    const FlowTuple reply = ir.target.inverted();
    EXPECT_EQ(formatEndpoint(reply.src()), "169.254.77.1:15001");
    EXPECT_EQ(reply.dst().addr, orig.src().addr);

    const auto by_orig = table.lookup(orig);
    ASSERT_TRUE(by_orig.has_value());
    EXPECT_EQ(by_orig->dir, Direction::kOriginal);
    EXPECT_EQ(by_orig->conn.original, orig);
    EXPECT_EQ(by_orig->conn.reply, reply);
    EXPECT_TRUE(by_orig->conn.dst_translated);
    const auto by_reply = table.lookup(reply);
    ASSERT_TRUE(by_reply.has_value());
    EXPECT_EQ(by_reply->dir, Direction::kReply);
    EXPECT_EQ(by_reply->conn.original, orig);
    // Both tuples of a connection live in its client's shard, and the client keeps its port.
    EXPECT_EQ(table.shardOf(orig.src()), table.shardOf(reply.dst())) << shards;
    EXPECT_EQ(reply.dst(), orig.src()) << shards;
    EXPECT_FALSE(table.lookup(orig.inverted()).has_value());
    EXPECT_EQ(table.size(), 1U);
  }
}

TEST(ConntrackTable, NoopEntryKeepsTuplesAndReportsNoRewrite) {
  ConntrackTable table(smallConfig(64, 4));
  const FlowTuple orig = tuple(kIpProtoTcp, "[2001:db8::1]:5555", "[2001:db8::2]:22");
  const InsertResult ir = table.insert(noop(orig), 0);
  ASSERT_EQ(ir.status, InsertStatus::kInserted);
  EXPECT_EQ(ir.target, orig);
  const TrackResult tr = table.trackPacket(orig.inverted(), kTcpSyn | kTcpAck, 1);
  EXPECT_EQ(tr.status, TrackStatus::kHit);
  EXPECT_EQ(tr.dir, Direction::kReply);
  EXPECT_FALSE(tr.rewrite);
  EXPECT_EQ(tr.target, orig.inverted());
}

TEST(ConntrackTable, TrackPacketTranslatesBothWays) {
  ConntrackTable table(smallConfig(64, 8));
  const FlowTuple orig = tuple(kIpProtoUdp, "10.1.1.1:5353", "10.2.2.2:53");
  const InsertResult ir = table.insert(redirect(orig, "127.0.0.1", 15053, 15053, 0), 0);
  ASSERT_EQ(ir.status, InsertStatus::kInserted);
  const TrackResult fwd = table.trackPacket(orig, 0, 1);
  ASSERT_EQ(fwd.status, TrackStatus::kHit);
  EXPECT_EQ(fwd.target, ir.target);
  EXPECT_TRUE(fwd.rewrite);
  const TrackResult back = table.trackPacket(ir.target.inverted(), 0, 2);
  ASSERT_EQ(back.status, TrackStatus::kHit);
  EXPECT_EQ(back.dir, Direction::kReply);
  // The reply becomes the inverse of the original: the translation inverts.
  EXPECT_EQ(back.target, orig.inverted());
}

TEST(ConntrackTable, HitsCarryTheChecksumDeltasOfTheirRewrite) {
  // The deltas stored at insert (and returned for the first packet), on the lock-free path
  // (established) and the locked one (the handshake), in both directions and both families.
  ConntrackTable table(smallConfig(64, 8));
  for (const auto& [client, server, proxy] :
       {std::tuple{"10.1.1.1:40000", "10.2.2.2:80", "169.254.7.1"},
        std::tuple{"[2001:db8::1]:40000", "[2001:db8::2]:443", "fd00::7"}}) {
    const FlowTuple orig = tuple(kIpProtoTcp, client, server);
    const InsertResult ir = table.insert(redirect(orig, proxy, 15001, 15001, kTcpSyn), 0);
    ASSERT_EQ(ir.status, InsertStatus::kInserted);
    EXPECT_EQ(ir.deltas,
              translationDeltas(orig.src(), orig.dst(), ir.target.src(), ir.target.dst()))
        << client << " insert";
    const FlowTuple reply = ir.target.inverted();
    std::uint64_t now = 1;
    using Packet = std::pair<FlowTuple, int>;
    for (const auto& [t, flags] : {Packet{reply, kTcpSyn | kTcpAck}, Packet{orig, kTcpAck},
                                   Packet{orig, kTcpAck}, Packet{reply, kTcpAck}}) {
      const TrackResult tr = table.trackPacket(t, static_cast<std::uint8_t>(flags), ++now);
      ASSERT_EQ(tr.status, TrackStatus::kHit);
      EXPECT_EQ(tr.deltas, translationDeltas(t.src(), t.dst(), tr.target.src(), tr.target.dst()))
          << client << " dir " << static_cast<int>(tr.dir);
    }
  }
}

// Drives a TCP connection to a state, then checks the state's timeout through the table.
TEST(ConntrackTable, TcpTimeoutsPerStateWithManualClock) {
  struct Packet {
    Direction dir;
    std::uint8_t flags;
  };
  struct Case {
    const char* name;
    std::vector<Packet> after_syn;
    TcpState state;
    std::uint64_t timeout_s;
    bool assured;
  };
  const Direction O = Direction::kOriginal;
  const Direction R = Direction::kReply;
  const std::vector<Case> cases = {
      {"syn_sent", {}, TcpState::kSynSent, 120, false},
      {"syn_recv", {{R, kTcpSyn | kTcpAck}}, TcpState::kSynRecv, 60, false},
      {"established",
       {{R, kTcpSyn | kTcpAck}, {O, kTcpAck}},
       TcpState::kEstablished,
       5 * 24 * 3600,
       true},
      {"fin_wait",
       {{R, kTcpSyn | kTcpAck}, {O, kTcpAck}, {O, kTcpFin | kTcpAck}},
       TcpState::kFinWait,
       120,
       true},
      {"close_wait",
       {{R, kTcpSyn | kTcpAck}, {O, kTcpAck}, {O, kTcpFin | kTcpAck}, {R, kTcpAck}},
       TcpState::kCloseWait,
       60,
       true},
      {"last_ack",
       {{R, kTcpSyn | kTcpAck}, {O, kTcpAck}, {O, kTcpFin | kTcpAck}, {R, kTcpFin | kTcpAck}},
       TcpState::kLastAck,
       30,
       true},
      {"time_wait",
       {{R, kTcpSyn | kTcpAck},
        {O, kTcpAck},
        {O, kTcpFin | kTcpAck},
        {R, kTcpFin | kTcpAck},
        {O, kTcpAck}},
       TcpState::kTimeWait,
       120,
       true},
      {"close", {{R, kTcpSyn | kTcpAck}, {O, kTcpAck}, {R, kTcpRst}}, TcpState::kClose, 10, true},
  };
  for (const Case& c : cases) {
    ManualClock clock;
    ConntrackTable table(smallConfig(64, 4));
    const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "10.0.0.2:80");
    const InsertResult ir =
        table.insert(redirect(orig, "169.254.77.1", 15001, 15001), clock.nowNs());
    ASSERT_EQ(ir.status, InsertStatus::kInserted) << c.name;
    const FlowTuple reply = ir.target.inverted();
    for (const Packet& p : c.after_syn) {
      clock.advanceSeconds(1);
      const TrackResult tr = table.trackPacket(p.dir == O ? orig : reply, p.flags, clock.nowNs());
      ASSERT_EQ(tr.status, TrackStatus::kHit) << c.name;
      EXPECT_FALSE(tr.state_invalid) << c.name;
    }
    const auto hit = table.lookup(orig);
    ASSERT_TRUE(hit.has_value()) << c.name;
    EXPECT_EQ(hit->conn.tcp_state, c.state) << c.name;
    EXPECT_EQ(hit->conn.assured, c.assured) << c.name;
    EXPECT_EQ(hit->conn.expires_ns - hit->conn.last_use_ns, c.timeout_s * kSec) << c.name;
    // One nanosecond before the timeout the entry is alive; at the timeout it is gone. An
    // ignored packet (a bare SYN in the reply direction) does not refresh the timer.
    clock.advance(c.timeout_s * kSec - 1);
    EXPECT_EQ(table.trackPacket(reply, kTcpSyn, clock.nowNs()).status, TrackStatus::kHit) << c.name;
    clock.advance(1);
    EXPECT_EQ(table.trackPacket(reply, kTcpSyn, clock.nowNs()).status, TrackStatus::kMiss)
        << c.name;
    EXPECT_EQ(table.size(), 0U) << c.name;
    EXPECT_EQ(table.totalCounters().reaped, 1U) << c.name;
  }
}

TEST(ConntrackTable, UdpUnrepliedThenStreamAndAssured) {
  ManualClock clock;
  ConntrackTable table(smallConfig(64, 2));
  const FlowTuple orig = tuple(kIpProtoUdp, "10.0.0.1:1000", "10.0.0.2:53");
  ASSERT_EQ(table.insert(noop(orig, 0), clock.nowNs()).status, InsertStatus::kInserted);
  auto view = table.lookup(orig)->conn;
  EXPECT_EQ(view.expires_ns - view.last_use_ns, 30 * kSec);
  EXPECT_FALSE(view.assured);

  clock.advanceSeconds(29);
  ASSERT_EQ(table.trackPacket(orig.inverted(), 0, clock.nowNs()).status, TrackStatus::kHit);
  view = table.lookup(orig)->conn;
  EXPECT_TRUE(view.seen_reply);
  EXPECT_FALSE(view.assured) << "the first reply itself still gets the unreplied timeout";
  EXPECT_EQ(view.expires_ns - view.last_use_ns, 30 * kSec);

  clock.advanceSeconds(1);
  ASSERT_EQ(table.trackPacket(orig, 0, clock.nowNs()).status, TrackStatus::kHit);
  view = table.lookup(orig)->conn;
  EXPECT_TRUE(view.assured);
  EXPECT_EQ(view.expires_ns - view.last_use_ns, 120 * kSec);

  clock.advanceSeconds(119);
  EXPECT_EQ(table.trackPacket(orig, 0, clock.nowNs()).status, TrackStatus::kHit);
  clock.advanceSeconds(120);
  EXPECT_EQ(table.trackPacket(orig, 0, clock.nowNs()).status, TrackStatus::kMiss);
}

TEST(ConntrackTable, RstBeforeAnyReplyRemovesAfterTranslating) {
  ConntrackTable table(smallConfig(64, 4));
  const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "10.0.0.2:80");
  const InsertResult ir = table.insert(redirect(orig, "169.254.77.1", 15001, 15001), 0);
  ASSERT_EQ(ir.status, InsertStatus::kInserted);
  const TrackResult tr = table.trackPacket(ir.target.inverted(), kTcpRst | kTcpAck, 1);
  ASSERT_EQ(tr.status, TrackStatus::kHit);
  EXPECT_EQ(tr.target, orig.inverted()) << "the RST itself still goes back translated";
  EXPECT_FALSE(table.lookup(orig).has_value());
  EXPECT_EQ(table.totalCounters().removed, 1U);
}

TEST(ConntrackTable, SynOnClosedConnectionReopens) {
  ConntrackTable table(smallConfig(64, 4));
  const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "10.0.0.2:80");
  const InsertResult ir = table.insert(noop(orig), 0);
  ASSERT_EQ(ir.status, InsertStatus::kInserted);
  ASSERT_EQ(table.trackPacket(orig.inverted(), kTcpSyn | kTcpAck, 1).status, TrackStatus::kHit);
  ASSERT_EQ(table.trackPacket(orig, kTcpAck, 2).status, TrackStatus::kHit);
  ASSERT_EQ(table.trackPacket(orig, kTcpRst, 3).status, TrackStatus::kHit);
  EXPECT_EQ(table.lookup(orig)->conn.tcp_state, TcpState::kClose);
  EXPECT_EQ(table.trackPacket(orig, kTcpSyn, 4).status, TrackStatus::kMiss);
  EXPECT_FALSE(table.lookup(orig).has_value());
  EXPECT_EQ(table.insert(noop(orig), 4).status, InsertStatus::kInserted);
}

TEST(ConntrackTable, InvalidPacketCountedStateKept) {
  ConntrackTable table(smallConfig(64, 4));
  const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "10.0.0.2:80");
  ASSERT_EQ(table.insert(noop(orig), 0).status, InsertStatus::kInserted);
  const TrackResult tr = table.trackPacket(orig, kTcpSyn | kTcpAck, 5);  // SYN/ACK from client
  EXPECT_EQ(tr.status, TrackStatus::kHit);
  EXPECT_TRUE(tr.state_invalid);
  const auto view = table.lookup(orig)->conn;
  EXPECT_EQ(view.tcp_state, TcpState::kSynSent);
  EXPECT_EQ(view.last_use_ns, 0U) << "invalid packets do not refresh the timeout";
  EXPECT_EQ(table.totalCounters().invalid, 1U);
}

TEST(ConntrackTable, InsertRejectsBadRequestsAndDuplicates) {
  ConntrackTable table(smallConfig(64, 4));
  const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "10.0.0.2:80");
  EXPECT_EQ(table.insert(noop(orig, kTcpAck), 0).status, InsertStatus::kBadRequest);
  EXPECT_EQ(table.insert(noop(orig, kTcpSyn | kTcpAck), 0).status, InsertStatus::kBadRequest);
  EXPECT_EQ(table.insert(noop(tuple(kIpProtoIcmp, "10.0.0.1:0", "10.0.0.2:0")), 0).status,
            InsertStatus::kBadRequest);
  EXPECT_EQ(table.insert(redirect(orig, "127.0.0.1", 20, 10), 0).status, InsertStatus::kBadRequest);
  EXPECT_EQ(table.insert(noop(orig), 0).status, InsertStatus::kInserted);
  EXPECT_EQ(table.insert(noop(orig), 0).status, InsertStatus::kExists);
  EXPECT_EQ(table.totalCounters().inserts, 1U);
}

TEST(ConntrackTable, MemoryPerConnectionIsBounded) {
  EXPECT_LE(ConntrackTable::kBytesPerConnection, 128U);
  ConntrackTable table(smallConfig(1 << 16, 16));
  EXPECT_EQ(table.capacity(), 1U << 16);
  const double per_conn = static_cast<double>(table.allocatedBytes()) / table.capacity();
  EXPECT_LE(per_conn, 128.0);
  EXPECT_GE(per_conn, static_cast<double>(ConntrackTable::kBytesPerConnection));
}

}  // namespace
}  // namespace xredir
