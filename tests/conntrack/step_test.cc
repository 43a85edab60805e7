// The per-packet step on real frames (tests/support/packet_builder.h): original direction
// rewritten to the proxy, replies rewritten back, checksums valid, no-op entries, untracked
// packets, drops, DNAT, IPv4 and IPv6 x TCP and UDP.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "step_rules.h"
#include "test_util.h"
#include "support/packet_builder.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"
#include "xredir/conntrack_step.h"
#include "xredir/packet.h"
#include "xredir/packet_checksum.h"

namespace xredir {
namespace {

using testing::buildPacket;
using testing::BuiltPacket;
using testing::PacketSpec;

constexpr std::uint32_t kIfindex = 7;

struct Frame {
  std::vector<std::uint8_t> bytes;
  ParsedPacket parsed;
};

Frame makeFrame(const PacketSpec& spec) {
  Frame f{buildPacket(spec).bytes, {}};
  EXPECT_EQ(parsePacket(f.bytes, f.parsed), ParseStatus::kOk);
  return f;
}

// Harness: one family's rules compiled, a table, a clock, a step config.
class StepHarness {
 public:
  explicit StepHarness(Family family, ConntrackConfig cfg = {})
      : rules_(cttest::stepRuleSet(family)), compiled_(compileRuleSet(rules_)), table_(cfg) {
    config_.proxy_v4 = parseIpAddr("169.254.77.1");
    config_.proxy_v6 = parseIpAddr("fd00::77");
    context_.in_iface = "eth0";
  }

  StepResult step(Frame& f) {
    StepInput in;
    in.hook = Hook::kPrerouting;
    in.context = &context_;
    in.ingress_ifindex = kIfindex;
    in.now_ns = clock_.nowNs();
    if (pass_hash_) {
      // As a batch that prefetched the frame passes it (conntrack_step.h, tuple_hashes).
      in.tuple_hashes = table_.hashOf(FlowTuple::fromEndpoints(
          f.parsed.protocol, {f.parsed.src, f.parsed.sport}, {f.parsed.dst, f.parsed.dport}));
    }
    const StepResult r = stepPacket(table_, config_, *compiled_, eval_, f.bytes, f.parsed, in);
    // The frame must still parse to what `parsed` says, with valid checksums.
    ParsedPacket again;
    EXPECT_EQ(parsePacket(f.bytes, again), ParseStatus::kOk);
    EXPECT_EQ(again.src, f.parsed.src);
    EXPECT_EQ(again.dst, f.parsed.dst);
    EXPECT_EQ(again.sport, f.parsed.sport);
    EXPECT_EQ(again.dport, f.parsed.dport);
    if (again.protocol == kIpProtoTcp || again.protocol == kIpProtoUdp) {
      EXPECT_EQ(verifyPacketChecksums(f.bytes, again), ChecksumStatus::kOk);
    }
    return r;
  }

  // passHash makes step() hand stepPacket the tuple's hash instead of letting it compute one.
  void passHash(bool on) { pass_hash_ = on; }
  ConntrackTable& table() { return table_; }
  StepConfig& config() { return config_; }
  ManualClock& clock() { return clock_; }

 private:
  RuleSet rules_;
  std::unique_ptr<const CompiledRuleSet> compiled_;
  ConntrackTable table_;
  StepConfig config_;
  PacketMeta context_;
  EvalContext eval_;
  ManualClock clock_;
  bool pass_hash_ = false;
};

const MacAddr kClientMac{0x02, 0xaa, 0, 0, 0, 0x01};
const MacAddr kNodeMac{0x02, 0xbb, 0, 0, 0, 0x02};
const MacAddr kVethMac{0x02, 0xcc, 0, 0, 0, 0x03};

struct RedirectCase {
  const char* name;
  std::uint8_t proto;
  const char* client;
  const char* dst;
  const char* proxy;  // where the flow must go
};

TEST(ConntrackStep, RedirectRewritesBothDirections) {
  const std::vector<RedirectCase> cases = {
      {"v4 tcp", kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:80", "169.254.77.1:15001"},
      {"v6 tcp", kIpProtoTcp, "[2001:db8::1]:40000", "[2001:db8:99::7]:80", "[fd00::77]:15001"},
      {"v4 udp", kIpProtoUdp, "10.0.0.1:5353", "203.0.113.7:53", "169.254.77.1:15053"},
      {"v6 udp", kIpProtoUdp, "[2001:db8::1]:5353", "[2001:db8:99::7]:53", "[fd00::77]:15053"},
      {"v4 tcp no --to-ports", kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:81", "169.254.77.1:81"},
      {"v4 dnat", kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:8080", "192.0.2.10:9090"},
      {"v6 dnat", kIpProtoTcp, "[2001:db8::1]:40000", "[2001:db8:99::7]:8080",
       "[2001:db8:d::10]:9090"},
  };
  for (const bool pass_hash : {false, true})
    for (const RedirectCase& c : cases) {
      SCOPED_TRACE(std::string(c.name) + (pass_hash ? ", hash passed in" : ""));
      const Endpoint client = *parseEndpoint(c.client);
      const Endpoint dst = *parseEndpoint(c.dst);
      const Endpoint proxy = *parseEndpoint(c.proxy);
      const bool tcp = c.proto == kIpProtoTcp;
      StepHarness h(client.addr.family, cttest::smallConfig(1024, 8));
      h.passHash(pass_hash);

      // 1. First packet: rewritten toward the proxy.
      Frame syn = makeFrame(
          {.dst_mac = kNodeMac,
           .src_mac = kClientMac,
           .src = client,
           .dst = dst,
           .protocol = c.proto,
           .tcp_flags = kTcpSyn,
           .payload = tcp ? std::vector<std::uint8_t>{} : std::vector<std::uint8_t>{1, 2, 3}});
      StepResult r = h.step(syn);
      EXPECT_EQ(r.action, StepAction::kTranslatedForward);
      EXPECT_EQ(r.detail, StepDetail::kNewFlow);
      EXPECT_EQ(formatEndpoint({syn.parsed.dst, syn.parsed.dport}), c.proxy);
      EXPECT_EQ(syn.parsed.src, client.addr);
      const Endpoint seen_client{syn.parsed.src, syn.parsed.sport};  // port may be remapped

      // 2. The proxy's answer: rewritten back to come from the original destination.
      Frame answer = makeFrame({.dst_mac = kVethMac,
                                .src_mac = kVethMac,
                                .src = proxy,
                                .dst = seen_client,
                                .protocol = c.proto,
                                .tcp_flags = kTcpSyn | kTcpAck});
      r = h.step(answer);
      EXPECT_EQ(r.action, StepAction::kTranslatedReply);
      EXPECT_EQ(r.dir, Direction::kReply);
      EXPECT_EQ(formatEndpoint({answer.parsed.src, answer.parsed.sport}), c.dst);
      EXPECT_EQ(formatEndpoint({answer.parsed.dst, answer.parsed.dport}), c.client);
      EXPECT_EQ(r.reply_path.ifindex, kIfindex);
      EXPECT_EQ(r.reply_path.peer_mac, kClientMac);
      EXPECT_EQ(r.reply_path.own_mac, kNodeMac);

      // 3. The client's next packet follows the same translation.
      Frame ack = makeFrame({.src = client, .dst = dst, .protocol = c.proto, .tcp_flags = kTcpAck});
      r = h.step(ack);
      EXPECT_EQ(r.action, StepAction::kTranslatedForward);
      EXPECT_EQ(r.detail, StepDetail::kNone);
      EXPECT_EQ(ack.parsed.dst, syn.parsed.dst);
      EXPECT_EQ(ack.parsed.sport, syn.parsed.sport);

      // 4. The proxy asks where the connection was going.
      const OriginalDstResult od = h.table().originalDst(c.proto, seen_client, proxy);
      ASSERT_EQ(od.status, OriginalDstStatus::kFound);
      EXPECT_EQ(formatEndpoint(od.dst), c.dst);
      if (tcp) {
        EXPECT_EQ(h.table().lookup(FlowTuple::fromEndpoints(c.proto, client, dst))->conn.tcp_state,
                  TcpState::kEstablished);
      }
    }
}

TEST(ConntrackStep, OutcomesWithoutTranslation) {
  struct Case {
    const char* name;
    Family family;
    std::uint8_t proto;
    std::uint8_t flags;
    std::uint16_t dport;
    StepAction want_action;
    StepDetail want_detail;
    std::size_t want_entries;
  };
  const std::vector<Case> cases = {
      {"accept inserts a no-op entry", Family::kV4, kIpProtoTcp, kTcpSyn, 22,
       StepAction::kPassNotTranslated, StepDetail::kNewFlow, 1},
      {"v6 accept", Family::kV6, kIpProtoUdp, 0, 123, StepAction::kPassNotTranslated,
       StepDetail::kNewFlow, 1},
      {"tcp ack miss is untracked", Family::kV4, kIpProtoTcp, kTcpAck, 80,
       StepAction::kPassUntracked, StepDetail::kNotConnectionStart, 0},
      {"tcp syn-ack miss is untracked", Family::kV6, kIpProtoTcp, kTcpSyn | kTcpAck, 80,
       StepAction::kPassUntracked, StepDetail::kNotConnectionStart, 0},
      {"icmp is untracked", Family::kV4, kIpProtoIcmp, 0, 0, StepAction::kPassUntracked,
       StepDetail::kNotTcpUdp, 0},
      {"drop verdict", Family::kV4, kIpProtoTcp, kTcpSyn, 666, StepAction::kDrop,
       StepDetail::kRuleDrop, 0},
      {"v6 drop verdict", Family::kV6, kIpProtoTcp, kTcpSyn, 666, StepAction::kDrop,
       StepDetail::kRuleDrop, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StepHarness h(c.family, cttest::smallConfig(64, 4));
    const bool v4 = c.family == Family::kV4;
    const Endpoint client{*parseIpAddr(v4 ? "10.0.0.1" : "2001:db8::1"), 40000};
    const Endpoint dst{*parseIpAddr(v4 ? "10.0.0.9" : "2001:db8::9"), c.dport};
    Frame f = makeFrame({.src = client,
                         .dst = dst,
                         .protocol = c.proto == kIpProtoIcmp && !v4 ? kIpProtoIcmpv6 : c.proto,
                         .tcp_flags = c.flags});
    const std::vector<std::uint8_t> before = f.bytes;
    const StepResult r = h.step(f);
    EXPECT_EQ(r.action, c.want_action);
    EXPECT_EQ(r.detail, c.want_detail);
    EXPECT_EQ(f.bytes, before) << "no rewrite";
    EXPECT_EQ(h.table().size(), c.want_entries);
    if (c.want_entries == 1) {
      // The reply of a no-op flow is recognised and left alone.
      Frame reply = makeFrame(
          {.src = dst, .dst = client, .protocol = c.proto, .tcp_flags = kTcpSyn | kTcpAck});
      const std::vector<std::uint8_t> reply_before = reply.bytes;
      const StepResult rr = h.step(reply);
      EXPECT_EQ(rr.action, StepAction::kPassNotTranslated);
      EXPECT_EQ(rr.dir, Direction::kReply);
      EXPECT_EQ(reply.bytes, reply_before);
      EXPECT_EQ(h.table().originalDst(c.proto, client, dst).status,
                OriginalDstStatus::kNotTranslated);
    }
  }
}

TEST(ConntrackStep, RedirectWithoutProxyAddressFailsClosed) {
  StepHarness h(Family::kV6, cttest::smallConfig(64, 4));
  h.config().proxy_v6.reset();
  Frame f = makeFrame({.src = *parseEndpoint("[2001:db8::1]:40000"),
                       .dst = *parseEndpoint("[2001:db8::9]:80"),
                       .tcp_flags = kTcpSyn});
  const StepResult r = h.step(f);
  EXPECT_EQ(r.action, StepAction::kDrop);
  EXPECT_EQ(r.detail, StepDetail::kNoProxyAddress);
  EXPECT_EQ(h.table().size(), 0U);
}

TEST(ConntrackStep, FullTableOfAssuredFlowsDropsNewFlows) {
  StepHarness h(Family::kV4, cttest::smallConfig(1, 1));
  const Endpoint client = *parseEndpoint("10.0.0.1:40000");
  const Endpoint dst = *parseEndpoint("10.0.0.9:22");
  Frame syn = makeFrame({.src = client, .dst = dst, .tcp_flags = kTcpSyn});
  Frame synack = makeFrame({.src = dst, .dst = client, .tcp_flags = kTcpSyn | kTcpAck});
  Frame ack = makeFrame({.src = client, .dst = dst, .tcp_flags = kTcpAck});
  ASSERT_EQ(h.step(syn).detail, StepDetail::kNewFlow);
  ASSERT_EQ(h.step(synack).action, StepAction::kPassNotTranslated);
  ASSERT_EQ(h.step(ack).action, StepAction::kPassNotTranslated);
  Frame other =
      makeFrame({.src = *parseEndpoint("10.0.0.2:40000"), .dst = dst, .tcp_flags = kTcpSyn});
  const StepResult r = h.step(other);
  EXPECT_EQ(r.action, StepAction::kDrop);
  EXPECT_EQ(r.detail, StepDetail::kTableFull);
  EXPECT_EQ(h.table().totalCounters().refusals, 1U);
}

TEST(ConntrackStep, ReportsTheRuleThatDecidedEachNewFlow) {
  // stepRuleSet (step_rules.h): mangle PREROUTING 0 DROPs :666; nat PREROUTING 0..3 are the
  // REDIRECTs of :80 and udp :53, the DNAT of :8080 and the REDIRECT of :81; all else falls to
  // nat PREROUTING's policy (nat is the last table at PREROUTING).
  struct Case {
    const char* name;
    std::uint8_t proto;
    std::uint16_t dport;
    VerdictKind kind;
    Table table;
    std::optional<int> rule_index;
  };
  const std::vector<Case> cases = {
      {"redirect :80", kIpProtoTcp, 80, VerdictKind::kRedirect, Table::kNat, 0},
      {"redirect udp :53", kIpProtoUdp, 53, VerdictKind::kRedirect, Table::kNat, 1},
      {"dnat :8080", kIpProtoTcp, 8080, VerdictKind::kDnat, Table::kNat, 2},
      {"redirect :81", kIpProtoTcp, 81, VerdictKind::kRedirect, Table::kNat, 3},
      {"mangle drop :666", kIpProtoTcp, 666, VerdictKind::kDrop, Table::kMangle, 0},
      {"policy :22", kIpProtoTcp, 22, VerdictKind::kAccept, Table::kNat, std::nullopt},
  };
  for (Family family : {Family::kV4, Family::kV6}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(c.name) + (family == Family::kV4 ? " v4" : " v6"));
      StepHarness h(family, cttest::smallConfig(64, 4));
      const bool v4 = family == Family::kV4;
      const Endpoint client{*parseIpAddr(v4 ? "10.0.0.1" : "2001:db8::1"), 40000};
      const Endpoint dst{*parseIpAddr(v4 ? "10.0.0.9" : "2001:db8::9"), c.dport};
      const std::uint8_t first_flags = c.proto == kIpProtoTcp ? kTcpSyn : 0;
      Frame first =
          makeFrame({.src = client, .dst = dst, .protocol = c.proto, .tcp_flags = first_flags});
      const StepResult r = h.step(first);
      ASSERT_TRUE(r.decision.has_value()) << "the first packet ran the chains";
      EXPECT_EQ(r.decision->kind, c.kind);
      EXPECT_EQ(r.decision->table, c.table);
      EXPECT_EQ(r.decision->chain, "PREROUTING");
      EXPECT_EQ(r.decision->rule_index, c.rule_index);
      if (c.kind == VerdictKind::kDrop) continue;
      // A later packet of the same connection is conntrack's: no rule decided it.
      Frame later = makeFrame({.src = client,
                               .dst = dst,
                               .protocol = c.proto,
                               .tcp_flags = c.proto == kIpProtoTcp ? kTcpAck : std::uint8_t{0}});
      EXPECT_FALSE(h.step(later).decision.has_value());
    }
  }
}

TEST(ConntrackStep, ReportsNoRuleWhenTheChainsDidNotRun) {
  StepHarness h(Family::kV4, cttest::smallConfig(64, 4));
  Frame ack = makeFrame({.src = *parseEndpoint("10.0.0.1:40000"),
                         .dst = *parseEndpoint("10.0.0.9:80"),
                         .tcp_flags = kTcpAck});
  const StepResult r = h.step(ack);
  EXPECT_EQ(r.detail, StepDetail::kNotConnectionStart);
  EXPECT_FALSE(r.decision.has_value());
  Frame icmp = makeFrame({.src = *parseEndpoint("10.0.0.1:0"),
                          .dst = *parseEndpoint("10.0.0.9:0"),
                          .protocol = kIpProtoIcmp});
  EXPECT_FALSE(h.step(icmp).decision.has_value());
}

TEST(ConntrackStep, ReportsTheRuleOfANewFlowRefusedByAFullTable) {
  // The verdict was reached (as the kernel counts the rule) even though the flow is refused.
  StepHarness h(Family::kV4, cttest::smallConfig(1, 1));
  const Endpoint dst = *parseEndpoint("10.0.0.9:22");
  const Endpoint client = *parseEndpoint("10.0.0.1:40000");
  Frame syn = makeFrame({.src = client, .dst = dst, .tcp_flags = kTcpSyn});
  Frame synack = makeFrame({.src = dst, .dst = client, .tcp_flags = kTcpSyn | kTcpAck});
  Frame ack = makeFrame({.src = client, .dst = dst, .tcp_flags = kTcpAck});
  ASSERT_EQ(h.step(syn).detail, StepDetail::kNewFlow);
  ASSERT_EQ(h.step(synack).action, StepAction::kPassNotTranslated);
  ASSERT_EQ(h.step(ack).action, StepAction::kPassNotTranslated);
  Frame other = makeFrame({.src = *parseEndpoint("10.0.0.2:40000"),
                           .dst = *parseEndpoint("10.0.0.9:80"),
                           .tcp_flags = kTcpSyn});
  const StepResult r = h.step(other);
  ASSERT_EQ(r.detail, StepDetail::kTableFull);
  ASSERT_TRUE(r.decision.has_value());
  EXPECT_EQ(r.decision->kind, VerdictKind::kRedirect);
  EXPECT_EQ(r.decision->rule_index, std::optional<int>(0));
}

TEST(ConntrackStep, TwoClientsSameEndpointToOneProxyAreKeptApart) {
  // The same client endpoint reaches two different destinations (a client reusing its source
  // port); both are redirected to the one proxy endpoint.
  StepHarness h(Family::kV4, cttest::smallConfig(1024, 1));
  const Endpoint client = *parseEndpoint("10.0.0.1:40000");
  const Endpoint proxy = *parseEndpoint("169.254.77.1:15001");
  std::vector<Endpoint> seen;
  for (const char* dst : {"203.0.113.7:80", "198.51.100.1:80"}) {
    Frame f = makeFrame({.src = client, .dst = *parseEndpoint(dst), .tcp_flags = kTcpSyn});
    ASSERT_EQ(h.step(f).action, StepAction::kTranslatedForward);
    seen.push_back(Endpoint{f.parsed.src, f.parsed.sport});
  }
  ASSERT_NE(seen[0], seen[1]);
  EXPECT_EQ(formatEndpoint(h.table().originalDst(kIpProtoTcp, seen[0], proxy).dst),
            "203.0.113.7:80");
  EXPECT_EQ(formatEndpoint(h.table().originalDst(kIpProtoTcp, seen[1], proxy).dst),
            "198.51.100.1:80");
  // Each proxy reply goes back to the client's real port, from the right original destination.
  for (int i = 0; i < 2; ++i) {
    Frame reply = makeFrame({.src = proxy, .dst = seen[i], .tcp_flags = kTcpSyn | kTcpAck});
    ASSERT_EQ(h.step(reply).action, StepAction::kTranslatedReply);
    EXPECT_EQ(reply.parsed.dport, 40000);
    EXPECT_EQ(formatIpAddr(reply.parsed.src), i == 0 ? "203.0.113.7" : "198.51.100.1");
  }
}

}  // namespace
}  // namespace xredir
