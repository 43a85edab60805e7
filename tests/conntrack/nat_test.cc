// NAT tuple choice: --to-ports ranges, reply-tuple uniqueness by client-port remapping (the
// nf_nat_used_tuple + port search), the nf_nat source-port classes, exhaustion.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "test_util.h"
#include "xredir/conntrack.h"

namespace xredir {
namespace {

using cttest::ep;
using cttest::noop;
using cttest::redirect;
using cttest::smallConfig;
using cttest::tuple;

TEST(ConntrackNat, SameClientEndpointToDifferentDestinationsGetsDistinctReplyTuples) {
  struct Case {
    const char* client;
    const char* dst1;
    const char* dst2;
    const char* proxy;
    std::uint8_t proto;
    std::uint32_t shards;
  };
  const std::vector<Case> cases = {
      {"10.0.0.1:40000", "203.0.113.7:443", "198.51.100.9:443", "169.254.77.1", kIpProtoTcp, 1},
      {"10.0.0.1:40000", "203.0.113.7:443", "198.51.100.9:443", "169.254.77.1", kIpProtoTcp, 16},
      {"10.0.0.1:53000", "203.0.113.7:53", "203.0.113.8:53", "127.0.0.1", kIpProtoUdp, 4},
      {"[2001:db8::1]:40000", "[2001:db8:1::7]:443", "[2001:db8:1::8]:443", "fd00::1", kIpProtoTcp,
       1},
      {"[2001:db8::1]:40000", "[2001:db8:1::7]:443", "[2001:db8:1::8]:443", "fd00::1", kIpProtoTcp,
       8},
  };
  for (const Case& c : cases) {
    ConntrackTable table(smallConfig(1024, c.shards));
    const FlowTuple a = tuple(c.proto, c.client, c.dst1);
    const FlowTuple b = tuple(c.proto, c.client, c.dst2);
    const InsertResult ra = table.insert(redirect(a, c.proxy, 15001, 15001), 0);
    const InsertResult rb = table.insert(redirect(b, c.proxy, 15001, 15001), 0);
    ASSERT_EQ(ra.status, InsertStatus::kInserted);
    ASSERT_EQ(rb.status, InsertStatus::kInserted);
    // What the proxy sees: local = proxy:15001, peer = client (port possibly remapped).
    const Endpoint peer_a = ra.target.src();
    const Endpoint peer_b = rb.target.src();
    EXPECT_EQ(peer_a.addr, a.src().addr);
    EXPECT_EQ(peer_b.addr, b.src().addr);
    EXPECT_NE(peer_a, peer_b) << "reply tuples must differ: " << c.client;
    EXPECT_EQ(ra.target.dst().port, 15001);
    EXPECT_EQ(rb.target.dst().port, 15001);
    const Endpoint proxy{*parseIpAddr(c.proxy), 15001};
    const OriginalDstResult oa = table.originalDst(c.proto, peer_a, proxy);
    const OriginalDstResult ob = table.originalDst(c.proto, peer_b, proxy);
    ASSERT_EQ(oa.status, OriginalDstStatus::kFound);
    ASSERT_EQ(ob.status, OriginalDstStatus::kFound);
    EXPECT_EQ(formatEndpoint(oa.dst), formatEndpoint(a.dst()));
    EXPECT_EQ(formatEndpoint(ob.dst), formatEndpoint(b.dst()));
    // Whatever the shard count, exactly one of the two needed a remap: the second, whose reply
    // tuple would have been the first's.
    EXPECT_EQ(table.totalCounters().nat_port_remaps, 1U);
    EXPECT_EQ(peer_a.port, a.src_port) << "the first connection keeps its port";
    // Replies of each connection translate back to that connection's original destination.
    const TrackResult back_b = table.trackPacket(rb.target.inverted(), kTcpSyn | kTcpAck, 1);
    ASSERT_EQ(back_b.status, TrackStatus::kHit);
    EXPECT_EQ(back_b.target, b.inverted());
  }
}

TEST(ConntrackNat, ToPortsRangeChoice) {
  struct Case {
    const char* dst;
    std::uint16_t first;
    std::uint16_t last;
    bool keeps_original_port;
  };
  const std::vector<Case> cases = {
      {"10.9.9.9:15005", 15001, 15010, true},  // in range: kept (Linux does the same)
      {"10.9.9.9:80", 15001, 15010, false},    // outside: a hashed port of the range
      {"10.9.9.9:80", 15001, 15001, false},    // single port
      {"10.9.9.9:15001", 15001, 15001, true},
  };
  for (const Case& c : cases) {
    ConntrackTable table(smallConfig(256, 1));
    const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", c.dst);
    const InsertResult ir = table.insert(redirect(orig, "127.0.0.1", c.first, c.last), 0);
    ASSERT_EQ(ir.status, InsertStatus::kInserted);
    EXPECT_GE(ir.target.dst_port, c.first) << c.dst;
    EXPECT_LE(ir.target.dst_port, c.last) << c.dst;
    EXPECT_EQ(ir.target.dst_port == orig.dst_port, c.keeps_original_port) << c.dst;
    EXPECT_EQ(ir.target.src_port, orig.src_port) << "no clash, no remap";
  }
}

TEST(ConntrackNat, RangeOfProxyPortsAbsorbsClashesBeforeRemappingTheClient) {
  // Two connections from one client endpoint into a 4-port range, one shard: the second takes
  // another proxy port rather than changing the client's port.
  ConntrackTable table(smallConfig(256, 1));
  const InsertResult a = table.insert(
      redirect(tuple(kIpProtoTcp, "10.0.0.1:40000", "10.9.9.1:80"), "127.0.0.1", 15001, 15004), 0);
  const InsertResult b = table.insert(
      redirect(tuple(kIpProtoTcp, "10.0.0.1:40000", "10.9.9.2:80"), "127.0.0.1", 15001, 15004), 0);
  ASSERT_EQ(a.status, InsertStatus::kInserted);
  ASSERT_EQ(b.status, InsertStatus::kInserted);
  EXPECT_EQ(a.target.src_port, 40000);
  EXPECT_EQ(b.target.src_port, 40000);
  EXPECT_NE(a.target.dst_port, b.target.dst_port);
  EXPECT_EQ(table.totalCounters().nat_port_remaps, 0U);
}

TEST(ConntrackNat, RemappedPortStaysInNfNatSourceClass) {
  struct Case {
    std::uint16_t client_port;
    std::uint16_t lo;
    std::uint16_t hi;
  };
  const std::vector<Case> cases = {{100, 1, 511}, {700, 600, 1023}, {40000, 1024, 65535}};
  for (const Case& c : cases) {
    ConntrackTable table(smallConfig(256, 1));
    const std::string client = "10.0.0.1:" + std::to_string(c.client_port);
    ASSERT_EQ(
        table
            .insert(redirect(tuple(kIpProtoTcp, client, "10.9.9.1:80"), "127.0.0.1", 15001, 15001),
                    0)
            .status,
        InsertStatus::kInserted);
    const InsertResult b = table.insert(
        redirect(tuple(kIpProtoTcp, client, "10.9.9.2:80"), "127.0.0.1", 15001, 15001), 0);
    ASSERT_EQ(b.status, InsertStatus::kInserted);
    EXPECT_NE(b.target.src_port, c.client_port);
    EXPECT_GE(b.target.src_port, c.lo) << c.client_port;
    EXPECT_LE(b.target.src_port, c.hi) << c.client_port;
  }
}

TEST(ConntrackNat, ExhaustedSourceRangeRefusesAndCounts) {
  // Port 100 remaps within 1..511: at most 511 connections from 10.0.0.1:100 can share the
  // proxy endpoint. More must be refused, never given a duplicate reply tuple.
  ConntrackTable table(smallConfig(2048, 1));
  std::set<std::uint16_t> ports;
  std::uint32_t inserted = 0;
  std::uint32_t exhausted = 0;
  for (std::uint32_t i = 0; i < 600; ++i) {
    const std::string dst =
        "10.8." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":80";
    const InsertResult r = table.insert(
        redirect(tuple(kIpProtoTcp, "10.0.0.1:100", dst), "127.0.0.1", 15001, 15001), 0);
    if (r.status == InsertStatus::kInserted) {
      ++inserted;
      EXPECT_TRUE(ports.insert(r.target.src_port).second) << "duplicate reply tuple";
    } else {
      ASSERT_EQ(r.status, InsertStatus::kNatExhausted);
      ++exhausted;
    }
  }
  EXPECT_LE(inserted, 511U);
  EXPECT_GT(inserted, 128U);
  EXPECT_EQ(exhausted, 600U - inserted);
  EXPECT_EQ(table.totalCounters().nat_exhausted, exhausted);
}

TEST(ConntrackNat, NoopEntryClashingWithTranslatedReplyIsRemapped) {
  // A translated connection's reply tuple is (P:15001 -> C:40000). A direct connection
  // C:40000 -> P:15001 would have the inverse as its own reply: nf_nat's null binding remaps
  // its source port, and so does the table.
  ConntrackTable table(smallConfig(256, 1));
  const InsertResult a = table.insert(
      redirect(tuple(kIpProtoTcp, "10.0.0.1:40000", "10.9.9.1:80"), "10.0.0.9", 15001, 15001), 0);
  ASSERT_EQ(a.status, InsertStatus::kInserted);
  ASSERT_EQ(a.target.src_port, 40000);
  const FlowTuple direct = tuple(kIpProtoTcp, "10.0.0.1:40000", "10.0.0.9:15001");
  // The original tuple is new (the index holds the translated reply tuple, not this one).
  const InsertResult b = table.insert(noop(direct), 0);
  ASSERT_EQ(b.status, InsertStatus::kInserted);
  EXPECT_NE(b.target.src_port, 40000);
  EXPECT_EQ(b.target.dst(), direct.dst());
  const auto view = table.lookup(direct);
  ASSERT_TRUE(view.has_value());
  EXPECT_TRUE(view->conn.src_port_remapped);
  EXPECT_FALSE(view->conn.dst_translated);
}

TEST(ConntrackNat, RedirectedClientsKeepTheirPortsWhateverTheShardCount) {
  // The kernel's REDIRECT leaves the client's port alone; so does the table, with one shard or
  // many: a connection lives in its client's shard, so no port is changed to place it.
  for (const std::uint32_t shards : {1U, 16U, 64U}) {
    ConntrackTable table(smallConfig(4096, shards));
    for (std::uint32_t i = 0; i < 2000; ++i) {
      const std::string client = "10.0." + std::to_string(i / 250) + "." +
                                 std::to_string(i % 250 + 1) + ":" + std::to_string(32768 + i);
      const FlowTuple orig = tuple(kIpProtoTcp, client, "203.0.113.7:443");
      const InsertResult r = table.insert(redirect(orig, "169.254.77.1", 15001, 15001), 0);
      ASSERT_EQ(r.status, InsertStatus::kInserted) << shards << " " << client;
      ASSERT_EQ(r.target.src(), orig.src()) << shards << " " << client;
      const OriginalDstResult od =
          table.originalDst(kIpProtoTcp, orig.src(), {*parseIpAddr("169.254.77.1"), 15001});
      ASSERT_EQ(od.status, OriginalDstStatus::kFound);
      ASSERT_EQ(od.dst, orig.dst());
    }
    EXPECT_EQ(table.totalCounters().nat_port_remaps, 0U) << shards;
  }
}

TEST(ConntrackNat, ATupleHeldInAnotherShardIsNeverIndexedTwice) {
  for (const std::uint32_t shards : {1U, 16U}) {
    SCOPED_TRACE(shards);
    ConntrackTable table(smallConfig(256, shards));
    // A connection from the proxy's endpoint to a client endpoint lives in the proxy
    // endpoint's shard. A redirected connection of that client endpoint would have that very
    // tuple as its reply: its port is remapped, as nf_nat does for a used tuple.
    const FlowTuple from_proxy = tuple(kIpProtoTcp, "169.254.77.1:15001", "10.0.0.1:40000");
    ASSERT_EQ(table.insert(noop(from_proxy), 0).status, InsertStatus::kInserted);
    const FlowTuple client = tuple(kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:80");
    const InsertResult r = table.insert(redirect(client, "169.254.77.1", 15001, 15001), 0);
    ASSERT_EQ(r.status, InsertStatus::kInserted);
    EXPECT_NE(r.target.src_port, 40000);
    EXPECT_EQ(table.lookup(from_proxy)->dir, Direction::kOriginal);
    EXPECT_EQ(table.lookup(from_proxy)->conn.original, from_proxy);

    // A connection redirected to 10.0.0.2:40000 has reply 10.0.0.2:40000 -> its client. A new
    // connection with that tuple as its original is that connection's reply, not a new one.
    const FlowTuple to_b = tuple(kIpProtoTcp, "10.0.0.3:5000", "198.51.100.1:80");
    const InsertResult rb = table.insert(redirect(to_b, "10.0.0.2", 40000, 40000), 0);
    ASSERT_EQ(rb.status, InsertStatus::kInserted);
    const FlowTuple b_reply = rb.target.inverted();
    EXPECT_EQ(table.insert(noop(b_reply), 0).status, InsertStatus::kExists);
    EXPECT_EQ(table.trackPacket(b_reply, kTcpSyn | kTcpAck, 1).dir, Direction::kReply);
  }
}

// Source translation (the OUTPUT hook): the reply goes to the translated source, both
// directions find the entry and carry the inverse translation, and the original-destination
// API answers the proxy's (translated client, proxy) pair.
TEST(ConntrackNat, SourceTranslationSendsRepliesToTheTranslatedClient) {
  struct Case {
    const char* client;
    const char* dst;
    const char* proxy;
    const char* snat;
    std::uint8_t proto;
    std::uint32_t shards;
  };
  const std::vector<Case> cases = {
      {"10.78.2.1:40000", "198.51.100.20:80", "169.254.77.1", "169.254.77.2", kIpProtoTcp, 1},
      {"10.78.2.1:40000", "198.51.100.20:80", "169.254.77.1", "169.254.77.2", kIpProtoTcp, 16},
      {"10.78.2.1:53000", "198.51.100.20:53", "169.254.77.1", "169.254.77.2", kIpProtoUdp, 8},
      {"[fd00:78:2::1]:40000", "[2001:db8:78::20]:80", "fd78::1", "fd78::2", kIpProtoTcp, 16},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.client);
    ConntrackTable table(smallConfig(1024, c.shards));
    const FlowTuple orig = tuple(c.proto, c.client, c.dst);
    NewConnection nc = redirect(orig, c.proxy, 15001, 15001);
    nc.translate_src = true;
    nc.src_to_addr = parseIpAddr(c.snat)->bytes;
    const InsertResult r = table.insert(nc, 0);
    ASSERT_EQ(r.status, InsertStatus::kInserted);
    // The first packet becomes snat:port -> proxy:15001.
    EXPECT_EQ(formatIpAddr(r.target.src().addr), formatIpAddr(*parseIpAddr(c.snat)));
    EXPECT_EQ(r.target.dst(), (Endpoint{*parseIpAddr(c.proxy), 15001}));
    // Later original-direction packets get the same translation.
    const TrackResult fwd = table.trackPacket(orig, kTcpSyn, 1);
    ASSERT_EQ(fwd.status, TrackStatus::kHit);
    EXPECT_EQ(fwd.dir, Direction::kOriginal);
    EXPECT_TRUE(fwd.rewrite);
    EXPECT_EQ(fwd.target, r.target);
    // The proxy's reply (proxy:15001 -> snat:port) is translated back to dst -> client.
    const TrackResult back = table.trackPacket(r.target.inverted(), kTcpSyn | kTcpAck, 2);
    ASSERT_EQ(back.status, TrackStatus::kHit);
    EXPECT_EQ(back.dir, Direction::kReply);
    EXPECT_TRUE(back.rewrite);
    EXPECT_EQ(back.target, orig.inverted());
    // The client itself is not a reply destination: only the translated source is.
    FlowTuple untranslated_reply = r.target.inverted();
    untranslated_reply.dst_addr = orig.src_addr;
    EXPECT_FALSE(table.lookup(untranslated_reply).has_value());
    const OriginalDstResult o = table.originalDst(c.proto, r.target.src(), r.target.dst());
    ASSERT_EQ(o.status, OriginalDstStatus::kFound);
    EXPECT_EQ(formatEndpoint(o.dst), formatEndpoint(orig.dst()));
    const auto view = table.lookup(orig);
    ASSERT_TRUE(view.has_value());
    EXPECT_TRUE(view->conn.src_translated);
    EXPECT_TRUE(view->conn.dst_translated);
    EXPECT_EQ(back.reply_path.ifindex, 0U) << "no reply path is stored for a translated source";
    // Removing by the reply tuple removes the entry (both index slots found by their hashes).
    EXPECT_TRUE(table.remove(r.target.inverted()));
    EXPECT_FALSE(table.lookup(orig).has_value());
    EXPECT_EQ(table.size(), 0U);
  }
}

TEST(ConntrackNat, SourceTranslationWithoutDestinationTranslationIsRefused) {
  ConntrackTable table(smallConfig(64, 1));
  NewConnection nc = cttest::noop(tuple(kIpProtoTcp, "10.0.0.1:40000", "10.0.0.2:80"));
  nc.translate_src = true;
  nc.src_to_addr = parseIpAddr("169.254.77.2")->bytes;
  EXPECT_EQ(table.insert(nc, 0).status, InsertStatus::kBadRequest);
}

}  // namespace
}  // namespace xredir
