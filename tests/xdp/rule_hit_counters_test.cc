// Tests of the per-rule hit counters (src/xdp/rule_hit_counters.h) as the datapath uses them:
// the conntrack step names the rule that decided each new connection and the counters add it
// up, per rule and per policy, summed over the workers' stripes.
#include "xdp/rule_hit_counters.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support/packet_builder.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_step.h"
#include "xredir/packet.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_loader.h"

namespace xredir::xdp {
namespace {

// Line numbers matter to nobody here; positions do: XR_IN 1..3 decide, PREROUTING 1 jumps.
constexpr const char* kRules = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:XR_IN - [0:0]
-A PREROUTING -i eth0 -j XR_IN
-A XR_IN -p tcp --dport 443 -j REDIRECT --to-ports 15001
-A XR_IN -p udp --dport 53 -j REDIRECT --to-ports 15053
-A XR_IN -p tcp --dport 22 -j ACCEPT
-A OUTPUT -p tcp --dport 443 -j REDIRECT --to-ports 15001
COMMIT
)";

RuleSet loadRules(Family family) {
  auto loaded = loadRuleSet({{"rules", kRules}}, {}, LoadOptions{family});
  if (auto* error = std::get_if<LoadError>(&loaded)) {
    ADD_FAILURE() << error->message();
    return {};
  }
  return std::get<RuleSet>(loaded);
}

// Key names a sample as the metric labels it: table, chain, 1-based position (0: policy).
using Key = std::tuple<std::string, std::string, int>;

std::map<Key, std::uint64_t> sampleMap(const RuleHitCounters& hits) {
  std::map<Key, std::uint64_t> out;
  for (const auto& s : hits.samples()) {
    const Key key{tableName(s.table), std::string(s.chain), s.position.value_or(0)};
    EXPECT_EQ(out.count(key), 0U) << "one sample per rule";
    out[key] = s.hits;
  }
  return out;
}

TEST(RuleHitCounters, CountsTheRuleThatDecidedEachNewConnection) {
  struct Flows {
    std::uint8_t proto;
    std::uint16_t dport;
    int connections;
  };
  // Each connection sends its first packet and then a second one, which conntrack handles
  // without the rules and must not count.
  const std::vector<Flows> flows = {
      {kIpProtoTcp, 443, 7}, {kIpProtoUdp, 53, 3}, {kIpProtoTcp, 22, 2}, {kIpProtoTcp, 8080, 4}};
  for (Family family : {Family::kV4, Family::kV6}) {
    SCOPED_TRACE(family == Family::kV4 ? "v4" : "v6");
    const bool v4 = family == Family::kV4;
    const RuleSet rules = loadRules(family);
    const auto compiled = compileRuleSet(rules);
    ConntrackConfig ct;
    ct.max_entries = 1024;
    ct.shard_count = 4;
    ConntrackTable table(ct);
    StepConfig config;
    config.proxy_v4 = parseIpAddr("169.254.77.1");
    config.proxy_v6 = parseIpAddr("fd00::77");
    PacketMeta context;
    context.in_iface = "eth0";
    const EvalContext eval;
    RuleHitCounters hits(rules, 2);

    std::uint16_t port = 40000;
    for (const Flows& f : flows) {
      for (int i = 0; i < f.connections; ++i, ++port) {
        const Endpoint client{*parseIpAddr(v4 ? "10.0.0.1" : "2001:db8::1"), port};
        const Endpoint dst{*parseIpAddr(v4 ? "203.0.113.7" : "2001:db8:77::7"), f.dport};
        const bool tcp = f.proto == kIpProtoTcp;
        for (std::uint8_t flags :
             {tcp ? kTcpSyn : std::uint8_t{0}, tcp ? kTcpAck : std::uint8_t{0}}) {
          auto frame = testing::buildPacket(
                           {.src = client, .dst = dst, .protocol = f.proto, .tcp_flags = flags})
                           .bytes;
          ParsedPacket parsed;
          ASSERT_EQ(parsePacket(frame, parsed), ParseStatus::kOk);
          StepInput in;
          in.hook = Hook::kPrerouting;
          in.context = &context;
          in.ingress_ifindex = 3;
          const StepResult r = stepPacket(table, config, *compiled, eval, frame, parsed, in);
          if (r.decision) {
            EXPECT_TRUE(hits.count(*r.decision));
          }
        }
      }
    }

    const std::map<Key, std::uint64_t> want = {
        {{"nat", "XR_IN", 1}, 7},       // REDIRECT :443
        {{"nat", "XR_IN", 2}, 3},       // REDIRECT udp :53
        {{"nat", "XR_IN", 3}, 2},       // ACCEPT :22
        {{"nat", "PREROUTING", 0}, 4},  // :8080 falls to the policy
        {{"nat", "OUTPUT", 1}, 0},      // not evaluated at PREROUTING
        {{"nat", "OUTPUT", 0}, 0},
    };
    // Jumps (PREROUTING 1) never decide, and INPUT/POSTROUTING policies are never evaluated:
    // neither is listed.
    EXPECT_EQ(sampleMap(hits), want);
  }
}

TEST(RuleHitCounters, SlotsNameEachRuleOnce) {
  const RuleSet rules = loadRules(Family::kV4);
  RuleHitCounters hits(rules, 1);
  struct Case {
    Table table;
    const char* chain;
    std::optional<int> index;
    bool exists;
  };
  const std::vector<Case> cases = {
      {Table::kNat, "PREROUTING", 0, true},
      {Table::kNat, "PREROUTING", std::nullopt, true},
      {Table::kNat, "XR_IN", 0, true},
      {Table::kNat, "XR_IN", 2, true},
      {Table::kNat, "XR_IN", std::nullopt, false},
      {Table::kNat, "OUTPUT", 0, true},
      {Table::kNat, "XR_IN", 3, false},
      {Table::kNat, "XR_IN", -1, false},
      {Table::kNat, "NO_SUCH", 0, false},
      {Table::kFilter, "PREROUTING", 0, false},
      {Table::kMangle, "OUTPUT", std::nullopt, false},
  };
  std::map<std::uint32_t, std::string> seen;
  for (const Case& c : cases) {
    const std::string name =
        std::string(c.chain) + " " + (c.index ? std::to_string(*c.index) : std::string("policy"));
    SCOPED_TRACE(name);
    const auto slot = hits.slotOf(c.table, c.chain, c.index);
    ASSERT_EQ(slot.has_value(), c.exists);
    if (!slot) {
      // A decision naming no rule of this generation is refused, not counted anywhere.
      EXPECT_FALSE(hits.count(RuleDecision{VerdictKind::kAccept, c.table, c.chain, c.index}));
      continue;
    }
    EXPECT_LT(*slot, hits.slotCount());
    EXPECT_TRUE(seen.emplace(*slot, name).second) << "slot shared with " << seen[*slot];
  }
  for (std::uint32_t slot = 0; slot < hits.slotCount(); ++slot) EXPECT_EQ(hits.hits(slot), 0U);
}

TEST(RuleHitCounters, ConcurrentWorkersSumExactly) {
  const RuleSet rules = loadRules(Family::kV4);
  constexpr int kPerThread = 20000;
  // Fewer stripes than threads (shared stripes) and as many as threads.
  for (unsigned stripes : {2u, 4u}) {
    SCOPED_TRACE(stripes);
    RuleHitCounters hits(rules, stripes);
    const RuleDecision redirect{VerdictKind::kRedirect, Table::kNat, "XR_IN", 0};
    const RuleDecision policy{VerdictKind::kAccept, Table::kNat, "PREROUTING", std::nullopt};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) hits.count(i % 4 == t ? policy : redirect);
      });
    }
    for (auto& w : workers) w.join();
    const auto samples = sampleMap(hits);
    EXPECT_EQ(samples.at({"nat", "XR_IN", 1}), 4U * kPerThread * 3 / 4);
    EXPECT_EQ(samples.at({"nat", "PREROUTING", 0}), 4U * kPerThread / 4);
    EXPECT_EQ(samples.at({"nat", "XR_IN", 2}), 0U);
  }
}

}  // namespace
}  // namespace xredir::xdp
