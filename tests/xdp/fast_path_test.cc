// Fast-path entries (src/xdp/fast_path.h) are computed from real conntrack entries and checked
// against what the slow path does with the same connection: for each direction, the entry
// must rewrite a packet to exactly the tuple conntrack's trackPacket returns as its target,
// and send it where the AF_XDP path would (xr0 with the pair's MACs; the capture interface with
// the MACs recorded at the first packet).
#include "xdp/fast_path.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "xdp/steering.h"
#include "xredir/conntrack_state.h"

namespace xredir::xdp {
namespace {

IpAddr addr(const char* text) {
  return *parseIpAddr(text);
}

FlowTuple tuple(std::uint8_t proto,
                const char* src,
                std::uint16_t sport,
                const char* dst,
                std::uint16_t dport) {
  return FlowTuple::fromEndpoints(proto, Endpoint{addr(src), sport}, Endpoint{addr(dst), dport});
}

// target is the tuple a packet's fast-path entry makes it carry.
FlowTuple target(const xredir_fast_entry& e, const FlowTuple& like) {
  FlowTuple t = like;
  std::memcpy(t.src_addr.data(), e.src_be, 16);
  std::memcpy(t.dst_addr.data(), e.dst_be, 16);
  t.src_port = ntohs(e.sport_be);
  t.dst_port = ntohs(e.dport_be);
  return t;
}

ConntrackConfig smallConfig() {
  ConntrackConfig c;
  c.max_entries = 1024;
  c.shard_count = 4;
  return c;
}

const FastPathLinks kLinks{7, {0x02, 0, 0, 0, 0, 0x07}, {0x02, 0, 0, 0, 0, 0x08}};
const ReplyPath kReplyPath{3, {0x0a, 1, 1, 1, 1, 1}, {0x0a, 2, 2, 2, 2, 2}};

struct Scenario {
  const char* name;
  FlowTuple original;
  const char* to_addr;
  std::uint16_t to_port;
  bool translate = true;
  bool translate_src = false;
  ReplyPath reply_path = kReplyPath;
  int handshake_steps = 3;  // SYN (insert), SYN/ACK, ACK: 3 is ESTABLISHED
  bool expect_entries = true;
};

class FastPathTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(FastPathTest, EntriesRewriteLikeConntrack) {
  const Scenario& s = GetParam();
  ConntrackTable table(smallConfig());
  std::uint64_t now = 1'000'000;
  NewConnection nc;
  nc.original = s.original;
  nc.translate_dst = s.translate;
  if (s.translate) {
    nc.to_addr = addr(s.to_addr).bytes;
    nc.to_port_first = nc.to_port_last = s.to_port;
  }
  if (s.translate_src) {
    nc.translate_src = true;
    nc.src_to_addr = addr("169.254.77.2").bytes;
  }
  nc.reply_path = s.reply_path;
  nc.tcp_flags = s.original.protocol == kIpProtoTcp ? kTcpSyn : 0;
  const InsertResult ins = table.insert(nc, now);
  ASSERT_EQ(ins.status, InsertStatus::kInserted);
  const std::optional<LookupHit> first = table.lookup(s.original);
  ASSERT_TRUE(first);
  const FlowTuple reply = first->conn.reply;  // as the proxy's packets arrive
  if (s.handshake_steps >= 2) (void)table.trackPacket(reply, kTcpSyn | kTcpAck, ++now);
  if (s.handshake_steps >= 3) (void)table.trackPacket(s.original, kTcpAck, ++now);

  const std::optional<LookupHit> hit = table.lookup(s.original);
  ASSERT_TRUE(hit);
  const std::optional<FastPathPair> pair = fastPathEntries(hit->conn, kLinks);
  ASSERT_EQ(pair.has_value(), s.expect_entries);
  if (!pair) return;

  // Keys: the tuples the two directions arrive with.
  const xredir_flow_key orig_key =
      flowKeyOf(s.original.protocol, s.original.src(), s.original.dst());
  const xredir_flow_key reply_key = flowKeyOf(reply.protocol, reply.src(), reply.dst());
  EXPECT_EQ(std::memcmp(&pair->original.key, &orig_key, sizeof orig_key), 0);
  EXPECT_EQ(std::memcmp(&pair->reply.key, &reply_key, sizeof reply_key), 0);
  EXPECT_EQ(tupleOfKey(pair->original.key), s.original);
  EXPECT_EQ(tupleOfKey(pair->reply.key), reply);

  // Rewrites: what the slow path does to a data segment of each direction.
  const TrackResult fwd = table.trackPacket(s.original, kTcpAck, ++now);
  ASSERT_EQ(fwd.status, TrackStatus::kHit);
  EXPECT_EQ(target(pair->original.value, s.original), fwd.target);
  const TrackResult back = table.trackPacket(reply, kTcpAck, ++now);
  ASSERT_EQ(back.status, TrackStatus::kHit);
  EXPECT_EQ(target(pair->reply.value, reply), back.target);

  // fastPathKeys finds both keys from either direction's packet (arrived, translated).
  const auto from_fwd = fastPathKeys(s.original, fwd.target);
  EXPECT_EQ(std::memcmp(&from_fwd.first, &orig_key, sizeof orig_key), 0);
  EXPECT_EQ(std::memcmp(&from_fwd.second, &reply_key, sizeof reply_key), 0);
  const auto from_back = fastPathKeys(reply, back.target);
  EXPECT_EQ(std::memcmp(&from_back.first, &reply_key, sizeof reply_key), 0);
  EXPECT_EQ(std::memcmp(&from_back.second, &orig_key, sizeof orig_key), 0);

  // Egress and L2: towards the proxy through the pair, back out the capture interface.
  EXPECT_EQ(pair->original.value.ifindex, kLinks.inject_ifindex);
  EXPECT_EQ(std::memcmp(pair->original.value.src_mac, kLinks.inject_mac.data(), 6), 0);
  EXPECT_EQ(std::memcmp(pair->original.value.dst_mac, kLinks.proxy_mac.data(), 6), 0);
  EXPECT_EQ(pair->reply.value.ifindex, s.reply_path.ifindex);
  EXPECT_EQ(std::memcmp(pair->reply.value.src_mac, s.reply_path.own_mac.data(), 6), 0);
  EXPECT_EQ(std::memcmp(pair->reply.value.dst_mac, s.reply_path.peer_mac.data(), 6), 0);
  EXPECT_EQ(pair->original.value.last_seen_ns, 0u);
  EXPECT_EQ(pair->reply.value.last_seen_ns, 0u);
}

const FlowTuple kClientTcp = tuple(kIpProtoTcp, "10.77.1.1", 40000, "203.0.113.7", 443);

INSTANTIATE_TEST_SUITE_P(
    Table,
    FastPathTest,
    ::testing::Values(
        Scenario{"RedirectEstablished", kClientTcp, "169.254.77.1", 15001, true, false, kReplyPath,
                 3, true},
        Scenario{"DnatSamePort", tuple(kIpProtoTcp, "10.77.1.1", 40001, "203.0.113.7", 8080),
                 "10.9.9.9", 8080, true, false, kReplyPath, 3, true},
        Scenario{"NotYetEstablishedSynRecv", kClientTcp, "169.254.77.1", 15001, true, false,
                 kReplyPath, 2, false},
        Scenario{"NotYetEstablishedSynSent", kClientTcp, "169.254.77.1", 15001, true, false,
                 kReplyPath, 1, false},
        Scenario{"NotTranslated", kClientTcp, nullptr, 0, false, false, kReplyPath, 3, false},
        Scenario{"SourceTranslatedOutputHook", kClientTcp, "169.254.77.1", 15001, true, true,
                 kReplyPath, 3, false},
        Scenario{"NoReplyPath", kClientTcp, "169.254.77.1", 15001, true, false, ReplyPath{}, 3,
                 false},
        Scenario{"Udp", tuple(kIpProtoUdp, "10.77.1.1", 40000, "203.0.113.7", 53), "169.254.77.1",
                 15001, true, false, kReplyPath, 1, false},
        Scenario{"Ipv6StaysOnAfXdp",
                 tuple(kIpProtoTcp, "2001:db8:1::1", 40000, "2001:db8:77::7", 443),
                 "fd78:7265:6469::1", 15001, true, false, kReplyPath, 3, false}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

TEST(FastPathTest, ClosingConnectionHasNoEntries) {
  ConntrackTable table(smallConfig());
  NewConnection nc;
  nc.original = kClientTcp;
  nc.translate_dst = true;
  nc.to_addr = addr("169.254.77.1").bytes;
  nc.to_port_first = nc.to_port_last = 15001;
  nc.reply_path = kReplyPath;
  nc.tcp_flags = kTcpSyn;
  ASSERT_EQ(table.insert(nc, 1).status, InsertStatus::kInserted);
  const FlowTuple reply = table.lookup(kClientTcp)->conn.reply;
  (void)table.trackPacket(reply, kTcpSyn | kTcpAck, 2);
  (void)table.trackPacket(kClientTcp, kTcpAck, 3);
  ASSERT_TRUE(fastPathEntries(table.lookup(kClientTcp)->conn, kLinks));
  (void)table.trackPacket(kClientTcp, kTcpFin | kTcpAck, 4);
  EXPECT_EQ(table.lookup(kClientTcp)->conn.tcp_state, TcpState::kFinWait);
  EXPECT_FALSE(fastPathEntries(table.lookup(kClientTcp)->conn, kLinks));
}

}  // namespace
}  // namespace xredir::xdp
