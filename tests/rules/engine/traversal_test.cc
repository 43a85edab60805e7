// traversal_test.cc: the traversal and target rules (policies, ACCEPT/DROP scope, jump, goto,
// RETURN, MARK, REDIRECT/DNAT with later tables and the translated packet they see, the
// jump-stack cap), each run against both engines, plus the reference's trace events.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/engine/rule_set_builder.h"
#include "xredir/rule_eval.h"

namespace xredir {
namespace {

using namespace testdata;  // NOLINT(google-build-using-namespace): test vocabulary

enum class Engine { kReference, kCompiled };

class TraversalTest : public ::testing::TestWithParam<Engine> {
 protected:
  // eval asks the engine under test; the rule set must stay alive for the verdict's views.
  Verdict eval(const RuleSet& rs, Hook hook, const PacketMeta& p, const EvalContext& ctx = {}) {
    switch (GetParam()) {
      case Engine::kReference:
        return ReferenceEvaluator(rs).evaluate(hook, p, ctx);
      case Engine::kCompiled:
        return evaluateCompiled(*compileRuleSet(rs), hook, p, ctx);
    }
    return {};
  }
};

// Expected names the deciding rule; rule -1 is the policy.
struct Expected {
  VerdictKind kind;
  Table table;
  std::string chain;
  int rule;
};

void expectVerdict(const Verdict& v, const Expected& e, const std::string& context = "") {
  EXPECT_EQ(v.kind, e.kind) << context << ": " << describeVerdict(v);
  EXPECT_EQ(v.table, e.table) << context << ": " << describeVerdict(v);
  EXPECT_EQ(std::string(v.chain), e.chain) << context << ": " << describeVerdict(v);
  if (e.rule < 0) {
    EXPECT_FALSE(v.rule_index.has_value()) << context << ": " << describeVerdict(v);
  } else {
    EXPECT_EQ(v.rule_index, std::optional<int>(e.rule)) << context << ": " << describeVerdict(v);
  }
}

const PacketMeta kWeb = tcp("192.0.2.10", 40000, "10.96.0.1", 80);

TEST_P(TraversalTest, FallingOffBuiltinChainAppliesPolicy) {
  for (const Policy policy : {Policy::kAccept, Policy::kDrop}) {
    const RuleSet rs = ruleSet(
        {table(Table::kNat, {builtin("PREROUTING", policy, {R().p(IPPROTO_UDP).j(drop())})})});
    const Verdict v = eval(rs, Hook::kPrerouting, kWeb);
    expectVerdict(v, {policy == Policy::kDrop ? VerdictKind::kDrop : VerdictKind::kAccept,
                      Table::kNat, "PREROUTING", -1});
  }
}

TEST_P(TraversalTest, NoTablesAcceptsNamingTheHooksLastTable) {
  const RuleSet rs = ruleSet({});
  expectVerdict(eval(rs, Hook::kOutput, kWeb),
                {VerdictKind::kAccept, Table::kFilter, "OUTPUT", -1});
  expectVerdict(eval(rs, Hook::kPrerouting, kWeb),
                {VerdictKind::kAccept, Table::kNat, "PREROUTING", -1});
}

TEST_P(TraversalTest, AcceptEndsOnlyItsTableAndDropEndsTheHook) {
  // mangle ACCEPT: nat still runs and redirects.
  const RuleSet accept_then_nat = ruleSet({
      table(Table::kMangle, {builtin("PREROUTING", Policy::kAccept, {R().j(accept())})}),
      table(Table::kNat, {builtin("PREROUTING", Policy::kAccept,
                                  {R().p(IPPROTO_TCP).j(redirect(PortRange{15001, 15001}))})}),
  });
  const Verdict v = eval(accept_then_nat, Hook::kPrerouting, kWeb);
  expectVerdict(v, {VerdictKind::kRedirect, Table::kNat, "PREROUTING", 0});
  EXPECT_EQ(v.to_ports, (PortRange{15001, 15001}));

  // mangle DROP: nat never runs.
  const RuleSet drop_then_nat = ruleSet({
      table(Table::kMangle,
            {builtin("PREROUTING", Policy::kAccept, {R().j(log()), R().j(drop())})}),
      table(Table::kNat, {builtin("PREROUTING", Policy::kAccept, {R().j(redirect())})}),
  });
  const Verdict d = eval(drop_then_nat, Hook::kPrerouting, kWeb);
  expectVerdict(d, {VerdictKind::kDrop, Table::kMangle, "PREROUTING", 1});
  EXPECT_FALSE(d.to_ports.has_value());

  // ACCEPT in the first table, nothing in nat: the last table's policy is reported.
  const RuleSet accept_only = ruleSet({
      table(Table::kMangle, {builtin("PREROUTING", Policy::kAccept, {R().j(accept())})}),
      table(Table::kNat, {builtin("PREROUTING", Policy::kAccept, {})}),
  });
  expectVerdict(eval(accept_only, Hook::kPrerouting, kWeb),
                {VerdictKind::kAccept, Table::kNat, "PREROUTING", -1});
}

TEST_P(TraversalTest, JumpReturnsToTheCallersNextRule) {
  const RuleSet rs = ruleSet({table(
      Table::kNat,
      {
          builtin(
              "PREROUTING", Policy::kAccept,
              {
                  R().j(jump("A")),                                 // 0
                  R().p(IPPROTO_TCP).j(redirect(PortRange{1, 1})),  // 1: reached after A returns
              }),
          user("A",
               {
                   R().d("10.96.0.1/32").j(jump("B")),  // 0
                   R().j(
                       redirect(PortRange{2, 2})),  // 1: skipped, B returns explicitly... then here
               }),
          user("B",
               {
                   R().p(IPPROTO_TCP).j(ret()),  // 0: back to A rule 1
                   R().j(drop()),
               }),
      })});
  const Verdict v = eval(rs, Hook::kPrerouting, kWeb);
  expectVerdict(v, {VerdictKind::kRedirect, Table::kNat, "A", 1});
  EXPECT_EQ(v.to_ports, (PortRange{2, 2}));

  // A packet B does not return early: B drops.
  const Verdict u =
      eval(rs, Hook::kPrerouting, packet(IPPROTO_UDP, "192.0.2.1", 1, "10.96.0.1", 53));
  expectVerdict(u, {VerdictKind::kDrop, Table::kNat, "B", 1});
}

TEST_P(TraversalTest, FallingOffAUserChainReturns) {
  const RuleSet rs =
      ruleSet({table(Table::kNat, {
                                      builtin("PREROUTING", Policy::kDrop,
                                              {
                                                  R().j(jump("EMPTY")),
                                                  R().j(jump("NOMATCH")),
                                                  R().p(IPPROTO_TCP).j(accept()),
                                              }),
                                      user("EMPTY"),
                                      user("NOMATCH", {R().p(IPPROTO_UDP).j(drop())}),
                                  })});
  expectVerdict(eval(rs, Hook::kPrerouting, kWeb),
                {VerdictKind::kAccept, Table::kNat, "PREROUTING", 2});
}

TEST_P(TraversalTest, ReturnInBuiltinChainAppliesPolicy) {
  const RuleSet rs =
      ruleSet({table(Table::kNat, {
                                      builtin("PREROUTING", Policy::kDrop,
                                              {R().p(IPPROTO_TCP).j(ret()), R().j(accept())}),
                                  })});
  expectVerdict(eval(rs, Hook::kPrerouting, kWeb),
                {VerdictKind::kDrop, Table::kNat, "PREROUTING", -1});
}

TEST_P(TraversalTest, GotoReturnsToTheLastJumpsCaller) {
  const RuleSet rs = ruleSet({table(
      Table::kNat, {
                       builtin("PREROUTING", Policy::kAccept,
                               {
                                   R().j(jump("A")),                  // 0
                                   R().j(redirect(PortRange{7, 7})),  // 1: where RETURN in G lands
                               }),
                       user("A",
                            {
                                R().j(gotoChain("G")),  // 0: no return point pushed
                                R().j(drop()),          // 1: never reached
                            }),
                       user("G", {R().p(IPPROTO_TCP).j(ret()), R().j(drop())}),
                   })});
  const Verdict v = eval(rs, Hook::kPrerouting, kWeb);
  expectVerdict(v, {VerdictKind::kRedirect, Table::kNat, "PREROUTING", 1});

  // Falling off the goto'd chain behaves the same as RETURN.
  const RuleSet fall =
      ruleSet({table(Table::kNat, {
                                      builtin("PREROUTING", Policy::kAccept,
                                              {R().j(jump("A")), R().j(redirect(PortRange{7, 7}))}),
                                      user("A", {R().j(gotoChain("G")), R().j(drop())}),
                                      user("G", {R().p(IPPROTO_UDP).j(drop())}),
                                  })});
  expectVerdict(eval(fall, Hook::kPrerouting, kWeb),
                {VerdictKind::kRedirect, Table::kNat, "PREROUTING", 1});
}

TEST_P(TraversalTest, GotoFromBuiltinThenReturnAppliesPolicy) {
  const RuleSet rs = ruleSet(
      {table(Table::kNat,
             {
                 builtin("PREROUTING", Policy::kDrop, {R().j(gotoChain("G")), R().j(accept())}),
                 user("G", {R().p(IPPROTO_UDP).j(accept())}),
             })});
  expectVerdict(eval(rs, Hook::kPrerouting, kWeb),
                {VerdictKind::kDrop, Table::kNat, "PREROUTING", -1});
}

TEST_P(TraversalTest, DeepNestingAndStackOverflowDrops) {
  // A chain of N nested jumps, the innermost redirects.
  const auto nested = [](int n) {
    std::vector<Chain> chains = {builtin("OUTPUT", Policy::kAccept, {R().j(jump("C0"))})};
    for (int i = 0; i < n; ++i) {
      const std::string next = i + 1 < n ? cat("C", std::to_string(i + 1)) : "";
      chains.push_back(user(cat("C", std::to_string(i)),
                            {next.empty() ? R().j(redirect()) : R().j(jump(next))}));
    }
    return ruleSet({table(Table::kNat, std::move(chains))});
  };
  const RuleSet ok = nested(100);
  expectVerdict(eval(ok, Hook::kOutput, kWeb), {VerdictKind::kRedirect, Table::kNat, "C99", 0});
  // 300 nested jumps exceed the fixed jump stack: dropped at the jump that overflowed, as Linux.
  const RuleSet deep = nested(300);
  const Verdict v = eval(deep, Hook::kOutput, kWeb);
  EXPECT_EQ(v.kind, VerdictKind::kDrop) << describeVerdict(v);
  EXPECT_EQ(v.table, Table::kNat);
  EXPECT_EQ(v.rule_index, std::optional<int>(0));
}

TEST_P(TraversalTest, RedirectAndDnatCarryTheTranslation) {
  const RuleSet rs = ruleSet(
      {table(Table::kNat,
             {builtin("PREROUTING", Policy::kAccept,
                      {
                          R().p(IPPROTO_TCP).dport(80).j(redirect()),
                          R().p(IPPROTO_TCP).dport(81).j(redirect(PortRange{15000, 15010})),
                          R().p(IPPROTO_TCP)
                              .dport(82)
                              .j(dnat(ip("10.1.0.1"), ip("10.1.0.9"), PortRange{8080, 8080})),
                          R().p(IPPROTO_TCP).dport(83).j(dnat(ip("10.1.0.1"), ip("10.1.0.1"))),
                      })})});
  const Verdict r0 = eval(rs, Hook::kPrerouting, tcp("192.0.2.1", 1, "10.0.0.1", 80));
  expectVerdict(r0, {VerdictKind::kRedirect, Table::kNat, "PREROUTING", 0});
  EXPECT_FALSE(r0.to_ports.has_value());  // keeps the original port
  EXPECT_FALSE(r0.to_addr_first.has_value());
  const Verdict r1 = eval(rs, Hook::kPrerouting, tcp("192.0.2.1", 1, "10.0.0.1", 81));
  EXPECT_EQ(r1.to_ports, (PortRange{15000, 15010}));
  const Verdict d2 = eval(rs, Hook::kPrerouting, tcp("192.0.2.1", 1, "10.0.0.1", 82));
  expectVerdict(d2, {VerdictKind::kDnat, Table::kNat, "PREROUTING", 2});
  EXPECT_EQ(d2.to_addr_first, ip("10.1.0.1"));
  EXPECT_EQ(d2.to_addr_last, ip("10.1.0.9"));
  EXPECT_EQ(d2.to_ports, (PortRange{8080, 8080}));
  const Verdict d3 = eval(rs, Hook::kPrerouting, tcp("192.0.2.1", 1, "10.0.0.1", 83));
  EXPECT_EQ(d3.to_addr_first, ip("10.1.0.1"));
  EXPECT_FALSE(d3.to_ports.has_value());
}

TEST_P(TraversalTest, FilterDropAfterNatRedirectWinsAndAcceptKeepsTranslation) {
  const auto build = [](Policy filter_policy, bool filter_drops_proxy_port) {
    // filter runs after nat at OUTPUT, so it sees the redirected port, 15001, not 80.
    std::vector<Rule> filter_rules;
    if (filter_drops_proxy_port) {
      filter_rules.push_back(R().p(IPPROTO_TCP).dport(15001).j(drop()));
    }
    return ruleSet({
        table(Table::kNat, {builtin("OUTPUT", Policy::kAccept,
                                    {R().p(IPPROTO_TCP).j(redirect(PortRange{15001, 15001}))})}),
        table(Table::kFilter, {builtin("OUTPUT", filter_policy, std::move(filter_rules))}),
    });
  };
  const RuleSet drop_rule = build(Policy::kAccept, true);
  const Verdict d = eval(drop_rule, Hook::kOutput, kWeb);
  expectVerdict(d, {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0});
  EXPECT_FALSE(d.to_ports.has_value());
  const RuleSet drop_policy = build(Policy::kDrop, false);
  expectVerdict(eval(drop_policy, Hook::kOutput, kWeb),
                {VerdictKind::kDrop, Table::kFilter, "OUTPUT", -1});
  const RuleSet accept = build(Policy::kAccept, false);
  const Verdict a = eval(accept, Hook::kOutput, kWeb);
  expectVerdict(a, {VerdictKind::kRedirect, Table::kNat, "OUTPUT", 0});
  EXPECT_EQ(a.to_ports, (PortRange{15001, 15001}));
}

// A filter OUTPUT rule and the verdict expected once nat OUTPUT has translated the packet.
struct TranslatedForFilterCase {
  std::string name;
  Family family;
  Target nat_target;
  std::string nat_dst;  // nat matches -d nat_dst
  Rule filter_rule;
  PacketMeta packet;
  Expected want;
};

// filter OUTPUT runs after nat OUTPUT and, as in Linux, matches the translated destination
// (REDIRECT: loopback and the first --to-ports port; DNAT: to_addr_first and its port) while
// the verdict still reports the nat decision.
TEST_P(TraversalTest, FilterOutputSeesTheNatTranslatedDestination) {
  PacketMeta uid_1500 = tcp("10.0.0.5", 40000, "203.0.113.7", 443);
  uid_1500.uid = 1500;
  uid_1500.gid = 1500;
  uid_1500.out_iface = "eth0";
  PacketMeta uid_1501 = uid_1500;
  uid_1501.uid = 1501;
  PacketMeta v6 = tcp("2001:db8::5", 40000, "2001:db8:1::7", 443);
  v6.out_iface = "eth0";
  const auto uid = [](std::uint32_t id) { return owner(IdRange{id, id}, false); };
  const std::vector<TranslatedForFilterCase> cases = {
      // The original destination no longer matches: the REDIRECT stands.
      {"redirect_hides_original_dst",
       Family::kV4,
       redirect(),
       "203.0.113.0/24",
       R().d("203.0.113.7").j(drop()),
       tcp("10.0.0.5", 40000, "203.0.113.7", 443),
       {VerdictKind::kRedirect, Table::kNat, "OUTPUT", 0}},
      {"redirect_to_port_loopback_uid",
       Family::kV4,
       redirect(PortRange{15010, 15010}),
       "203.0.113.0/24",
       R().p(IPPROTO_TCP).d("127.0.0.1").dport(15010).owner(uid(1500)).j(drop()),
       uid_1500,
       {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0}},
      {"redirect_to_port_other_uid",
       Family::kV4,
       redirect(PortRange{15010, 15010}),
       "203.0.113.0/24",
       R().p(IPPROTO_TCP).d("127.0.0.1").dport(15010).owner(uid(1500)).j(drop()),
       uid_1501,
       {VerdictKind::kRedirect, Table::kNat, "OUTPUT", 0}},
      // Without --to-ports the original port stays.
      {"redirect_keeps_port",
       Family::kV4,
       redirect(),
       "203.0.113.0/24",
       R().p(IPPROTO_TCP).d("127.0.0.1").dport(443).j(drop()),
       uid_1500,
       {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0}},
      // The output interface is not updated after re-routing.
      {"redirect_keeps_out_iface",
       Family::kV4,
       redirect(),
       "203.0.113.0/24",
       R().o("eth0").d("127.0.0.1").j(drop()),
       uid_1500,
       {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0}},
      {"dnat_to_addr",
       Family::kV4,
       dnat(ip("192.0.2.10"), ip("192.0.2.10"), PortRange{8443, 8443}),
       "203.0.113.0/24",
       R().d("192.0.2.10").j(drop()),
       uid_1500,
       {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0}},
      {"dnat_to_port",
       Family::kV4,
       dnat(ip("192.0.2.10"), ip("192.0.2.10"), PortRange{8443, 8443}),
       "203.0.113.0/24",
       R().p(IPPROTO_TCP).dport(443).j(drop()),
       uid_1500,
       {VerdictKind::kDnat, Table::kNat, "OUTPUT", 0}},
      // A range: the first address and port.
      {"dnat_range_first",
       Family::kV4,
       dnat(ip("192.0.2.10"), ip("192.0.2.20"), PortRange{8443, 8450}),
       "203.0.113.0/24",
       R().p(IPPROTO_TCP).d("192.0.2.10").dport(8443).j(drop()),
       uid_1500,
       {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0}},
      {"dnat_keeps_port",
       Family::kV4,
       dnat(ip("192.0.2.10"), ip("192.0.2.10")),
       "203.0.113.0/24",
       R().p(IPPROTO_TCP).d("192.0.2.10").dport(443).j(drop()),
       uid_1500,
       {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0}},
      {"v6_redirect_loopback",
       Family::kV6,
       redirect(PortRange{15001, 15001}),
       "2001:db8:1::/64",
       R().p(IPPROTO_TCP).d("::1").dport(15001).j(drop()),
       v6,
       {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0}},
      {"v6_redirect_hides_original_dst",
       Family::kV6,
       redirect(PortRange{15001, 15001}),
       "2001:db8:1::/64",
       R().d("2001:db8:1::7").j(drop()),
       v6,
       {VerdictKind::kRedirect, Table::kNat, "OUTPUT", 0}},
  };
  for (const TranslatedForFilterCase& c : cases) {
    const RuleSet rs = ruleSet(
        {
            table(Table::kNat,
                  {builtin("OUTPUT", Policy::kAccept, {R().d(c.nat_dst).j(c.nat_target)})}),
            table(Table::kFilter, {builtin("OUTPUT", Policy::kAccept, {c.filter_rule})}),
        },
        c.family);
    const Verdict v = eval(rs, Hook::kOutput, c.packet);
    expectVerdict(v, c.want, c.name);
    if (c.want.kind == VerdictKind::kDrop) {
      EXPECT_FALSE(v.to_ports.has_value()) << c.name;
      EXPECT_FALSE(v.to_addr_first.has_value()) << c.name;
    } else {
      // The verdict reports the nat decision, not the rewritten packet.
      EXPECT_EQ(v.to_ports, c.nat_target.to_ports) << c.name;
      EXPECT_EQ(v.to_addr_first, c.nat_target.to_addr_first) << c.name;
      EXPECT_EQ(v.to_addr_last, c.nat_target.to_addr_last) << c.name;
    }
  }
}

// A filter chain longer than ChainClassifier::kLinearScanMax is probed by hashing dst and
// dport, so the compiled engine must key the probe on the translated packet too.
TEST_P(TraversalTest, LongFilterChainMatchesTheTranslatedDestination) {
  std::vector<Rule> filter_rules;
  for (std::uint16_t port = 1; port <= 6; ++port) {
    filter_rules.push_back(R().p(IPPROTO_TCP).d("203.0.113.7").dport(port).j(accept()));
  }
  filter_rules.push_back(R().p(IPPROTO_TCP).d("127.0.0.1").dport(15001).j(drop()));  // 6
  filter_rules.push_back(R().p(IPPROTO_TCP).d("203.0.113.7").dport(443).j(drop()));  // 7
  const RuleSet rs = ruleSet({
      table(Table::kNat, {builtin("OUTPUT", Policy::kAccept,
                                  {R().d("203.0.113.0/24").j(redirect(PortRange{15001, 15001}))})}),
      table(Table::kFilter, {builtin("OUTPUT", Policy::kAccept, std::move(filter_rules))}),
  });
  expectVerdict(eval(rs, Hook::kOutput, tcp("10.0.0.5", 40000, "203.0.113.7", 443)),
                {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 6});
}

// The translation is the later tables' view only: a filter ACCEPT keeps the nat verdict, and
// a filter rule on the original destination still decides when nat did not translate.
TEST_P(TraversalTest, UntranslatedPacketReachesFilterUnchanged) {
  const RuleSet rs = ruleSet({
      table(Table::kNat,
            {builtin("OUTPUT", Policy::kAccept, {R().d("203.0.113.0/24").j(redirect())})}),
      table(Table::kFilter,
            {builtin("OUTPUT", Policy::kAccept, {R().d("198.51.100.7").j(drop())})}),
  });
  expectVerdict(eval(rs, Hook::kOutput, tcp("10.0.0.5", 40000, "198.51.100.7", 443)),
                {VerdictKind::kDrop, Table::kFilter, "OUTPUT", 0});
}

TEST_P(TraversalTest, MarkIsVisibleToLaterRulesAndTables) {
  const RuleSet rs = ruleSet({
      table(Table::kMangle,
            {builtin("OUTPUT", Policy::kAccept,
                     {
                         R().j(setMark(0x4000, 0x4000)),
                         R().mark(0x4000, 0x4000).j(setMark(0x1, 0x0)),  // xor 1: only if the first
                                                                         // MARK ran
                     })}),
      table(Table::kNat, {builtin("OUTPUT", Policy::kAccept,
                                  {
                                      R().mark(0x4001, 0x4001).j(redirect()),
                                  })}),
  });
  PacketMeta p = kWeb;
  p.mark = 0x10;
  const Verdict v = eval(rs, Hook::kOutput, p);
  expectVerdict(v, {VerdictKind::kRedirect, Table::kNat, "OUTPUT", 0});
  EXPECT_EQ(v.mark, 0x4011u);  // 0x10 kept outside the mask, 0x4000 set, then 0x1 xor'd
}

TEST_P(TraversalTest, OwnerWithoutSocketSkipsUidRules) {
  OwnerMatch proxy_uid;
  proxy_uid.uid = IdRange{1337, 1337};
  OwnerMatch not_proxy = proxy_uid;
  not_proxy.uid_invert = true;
  const RuleSet rs = ruleSet(
      {table(Table::kNat,
             {builtin("OUTPUT", Policy::kAccept,
                      {
                          R().owner(proxy_uid).j(ret()),  // the proxy's own traffic is left alone
                          R().owner(not_proxy).p(IPPROTO_UDP).j(drop()),
                          R().p(IPPROTO_TCP).j(redirect(PortRange{15001, 15001})),
                      })})});
  PacketMeta proxy = kWeb;
  proxy.uid = 1337;
  proxy.gid = 1337;
  expectVerdict(eval(rs, Hook::kOutput, proxy), {VerdictKind::kAccept, Table::kNat, "OUTPUT", -1});
  PacketMeta app = kWeb;
  app.uid = 1000;
  app.gid = 1000;
  expectVerdict(eval(rs, Hook::kOutput, app), {VerdictKind::kRedirect, Table::kNat, "OUTPUT", 2});
  // No socket: `--uid-owner 1337` fails; `! --uid-owner 1337` holds (xt_owner).
  expectVerdict(eval(rs, Hook::kOutput, kWeb), {VerdictKind::kRedirect, Table::kNat, "OUTPUT", 2});
  PacketMeta udp = packet(IPPROTO_UDP, "192.0.2.1", 1, "10.0.0.1", 53);
  expectVerdict(eval(rs, Hook::kOutput, udp), {VerdictKind::kDrop, Table::kNat, "OUTPUT", 1});
}

TEST_P(TraversalTest, LaterFragmentsNeverMatchPortRules) {
  const RuleSet rs = ruleSet(
      {table(Table::kNat, {builtin("PREROUTING", Policy::kAccept,
                                   {
                                       R().p(IPPROTO_TCP).dport(80).j(redirect()),
                                       R().p(IPPROTO_TCP).dport(80, true).j(drop()),
                                       R().p(IPPROTO_TCP).j(dnat(ip("10.0.0.9"), ip("10.0.0.9"))),
                                   })})});
  expectVerdict(eval(rs, Hook::kPrerouting, kWeb),
                {VerdictKind::kRedirect, Table::kNat, "PREROUTING", 0});
  PacketMeta frag = kWeb;
  frag.later_fragment = true;
  expectVerdict(eval(rs, Hook::kPrerouting, frag),
                {VerdictKind::kDnat, Table::kNat, "PREROUTING", 2});
}

TEST_P(TraversalTest, Ipv6RulesAndSets) {
  RuleSet rs = ruleSet(
      {table(
          Table::kNat,
          {builtin(
              "PREROUTING", Policy::kAccept,
              {
                  R().s("2001:db8:bad::/48").j(drop()),
                  R().set("local6", false).j(ret()),
                  R().p(IPPROTO_TCP).d("fd00::/8").i("eth+").j(redirect(PortRange{15006, 15006})),
              })})},
      Family::kV6);
  addSet(rs, "local6", {"fd00:1::/64"}, "hash:net");
  PacketMeta p = tcp("2001:db8::1", 5000, "fd00:2::1", 443);
  p.in_iface = "eth0";
  expectVerdict(eval(rs, Hook::kPrerouting, p),
                {VerdictKind::kRedirect, Table::kNat, "PREROUTING", 2});
  p.dst = ip("fd00:1::1");
  expectVerdict(eval(rs, Hook::kPrerouting, p),
                {VerdictKind::kAccept, Table::kNat, "PREROUTING", -1});
  p.src = ip("2001:db8:bad::1");
  expectVerdict(eval(rs, Hook::kPrerouting, p), {VerdictKind::kDrop, Table::kNat, "PREROUTING", 0});
  PacketMeta lo = tcp("2001:db8::1", 5000, "fd00:2::1", 443);
  lo.in_iface = "lo";
  expectVerdict(eval(rs, Hook::kPrerouting, lo),
                {VerdictKind::kAccept, Table::kNat, "PREROUTING", -1});
}

TEST_P(TraversalTest, NthCountsOnlyPacketsThatReachTheStatisticMatch) {
  const RuleSet rs = ruleSet(
      {table(Table::kNat, {builtin("PREROUTING", Policy::kAccept,
                                   {
                                       R().p(IPPROTO_TCP).nth(2, 0).j(redirect(PortRange{1, 1})),
                                       R().p(IPPROTO_TCP).j(redirect(PortRange{2, 2})),
                                   })})});
  const PacketMeta udp = packet(IPPROTO_UDP, "192.0.2.1", 1, "10.0.0.1", 53);
  const EvalContext ctx;
  std::vector<int> got;
  const auto run = [&](const auto& evaluate) {
    got.clear();
    for (int i = 0; i < 3; ++i) {
      evaluate(udp);  // never reaches the statistic match: does not count
      const Verdict v = evaluate(kWeb);
      got.push_back(v.to_ports ? v.to_ports->first : 0);
    }
  };
  if (GetParam() == Engine::kReference) {
    const ReferenceEvaluator ref(rs);
    run([&](const PacketMeta& p) { return ref.evaluate(Hook::kPrerouting, p, ctx); });
  } else {
    const auto compiled = compileRuleSet(rs);
    run([&](const PacketMeta& p) {
      return evaluateCompiled(*compiled, Hook::kPrerouting, p, ctx);
    });
  }
  EXPECT_EQ(got, (std::vector<int>{1, 2, 1}));
}

TEST_P(TraversalTest, RandomStatisticUsesTheContextsDraws) {
  const RuleSet rs = ruleSet(
      {table(Table::kNat, {builtin("PREROUTING", Policy::kAccept,
                                   {
                                       R().p(IPPROTO_TCP).random(0.5).j(redirect(PortRange{1, 1})),
                                       R().p(IPPROTO_TCP).j(redirect(PortRange{2, 2})),
                                   })})});
  for (const double draw : {0.1, 0.9}) {
    EvalContext ctx;
    ctx.random_unit = [draw] { return draw; };
    const Verdict v = eval(rs, Hook::kPrerouting, kWeb, ctx);
    EXPECT_EQ(v.rule_index, std::optional<int>(draw < 0.5 ? 0 : 1));
  }
}

TEST_P(TraversalTest, UnknownJumpTargetIsANoOp) {
  const RuleSet rs = ruleSet({table(Table::kNat, {builtin("PREROUTING", Policy::kAccept,
                                                          {
                                                              R().j(jump("MISSING")),
                                                              R().j(redirect()),
                                                          })})});
  expectVerdict(eval(rs, Hook::kPrerouting, kWeb),
                {VerdictKind::kRedirect, Table::kNat, "PREROUTING", 1});
}

INSTANTIATE_TEST_SUITE_P(Engines,
                         TraversalTest,
                         ::testing::Values(Engine::kReference, Engine::kCompiled),
                         [](const auto& info) {
                           return info.param == Engine::kReference ? "Reference" : "Compiled";
                         });

TEST(HookTables, LinuxPriorityOrder) {
  EXPECT_EQ(hookTables(Hook::kPrerouting),
            (std::vector<Table>{Table::kRaw, Table::kMangle, Table::kNat}));
  EXPECT_EQ(hookTables(Hook::kOutput),
            (std::vector<Table>{Table::kRaw, Table::kMangle, Table::kNat, Table::kFilter}));
  EXPECT_EQ(hookTables(Hook::kInput),
            (std::vector<Table>{Table::kMangle, Table::kFilter, Table::kNat}));
  EXPECT_EQ(hookTables(Hook::kForward), (std::vector<Table>{Table::kMangle, Table::kFilter}));
  EXPECT_EQ(hookTables(Hook::kPostrouting), (std::vector<Table>{Table::kMangle, Table::kNat}));
  for (const Hook h :
       {Hook::kPrerouting, Hook::kInput, Hook::kForward, Hook::kOutput, Hook::kPostrouting}) {
    for (const Table t : hookTables(h)) EXPECT_TRUE(tableHasHook(t, h)) << tableName(t);
  }
}

TEST(VerdictName, NamesEveryKind) {
  EXPECT_STREQ(verdictName(VerdictKind::kAccept), "ACCEPT");
  EXPECT_STREQ(verdictName(VerdictKind::kDrop), "DROP");
  EXPECT_STREQ(verdictName(VerdictKind::kRedirect), "REDIRECT");
  EXPECT_STREQ(verdictName(VerdictKind::kDnat), "DNAT");
}

TEST(ReferenceTrace, EventsInWalkOrder) {
  const RuleSet rs = ruleSet({table(
      Table::kNat, {
                       builtin("PREROUTING", Policy::kAccept,
                               {
                                   R().p(IPPROTO_UDP).j(drop()),  // 0: no
                                   R().j(jump("A")),              // 1: match
                                   R().j(gotoChain("G")),         // 2: match
                               }),
                       user("A", {R().p(IPPROTO_TCP).dport(22).j(drop())}),  // no, then falls off
                       user("G", {R().j(ret())}),
                   })});
  std::vector<std::string> events;
  ReferenceEvaluator(rs).evaluate(Hook::kPrerouting, kWeb, {}, [&](const TraceEvent& e) {
    std::string s = cat(tableName(e.table), ":", e.chain);
    switch (e.kind) {
      case TraceEvent::Kind::kRuleChecked:
        s += cat(":", std::to_string(e.rule_index), e.matched ? ":match" : ":no");
        EXPECT_NE(e.rule, nullptr);
        break;
      case TraceEvent::Kind::kPolicy:
        s += ":policy";
        break;
      case TraceEvent::Kind::kReturnFromChain:
        s += ":return";
        break;
    }
    events.push_back(s);
  });
  EXPECT_EQ(events,
            (std::vector<std::string>{"nat:PREROUTING:0:no", "nat:PREROUTING:1:match", "nat:A:0:no",
                                      "nat:A:return", "nat:PREROUTING:2:match", "nat:G:0:match",
                                      "nat:G:return", "nat:PREROUTING:policy"}));
}

}  // namespace
}  // namespace xredir
