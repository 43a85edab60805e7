// Tests of validateRuleSet: the kernel's commit-time checks, on loaded text (errors carry the
// offending rule's file:line) and on rule sets built by hand.
#include <gtest/gtest.h>

#include "load_helpers.h"

namespace xredir::testing {
namespace {

struct Case {
  const char* name;
  const char* text;
  int line;  // 0: must load
  const char* reason;
};

TEST(ValidatorTest, KernelChecksOnLoadedRules) {
  const Case cases[] = {
      {"loop through two chains",
       "*nat\n-N A\n-N B\n-A OUTPUT -j A\n-A A -j B\n-A B -g A\nCOMMIT\n", 6,
       "loop: chain B jumps to A"},
      {"self loop in an unreachable chain", "*nat\n-N A\n-A A -j A\nCOMMIT\n", 3, "loop"},
      {"REDIRECT reachable from POSTROUTING",
       "*nat\n-N R\n-A R -p tcp -j REDIRECT --to-ports 1\n-A OUTPUT -j R\n-A POSTROUTING -j "
       "R\nCOMMIT\n",
       3,
       "REDIRECT is only valid from PREROUTING and OUTPUT, used in chain R, reachable from "
       "OUTPUT, POSTROUTING"},
      {"DNAT in INPUT", "*nat\n-A INPUT -j DNAT --to-destination 1.2.3.4\nCOMMIT\n", 2,
       "DNAT is only valid from PREROUTING and OUTPUT"},
      {"REDIRECT outside nat", "*mangle\n-A PREROUTING -p tcp -j REDIRECT\nCOMMIT\n", 2,
       "REDIRECT is only valid in the nat table"},
      {"owner reachable from PREROUTING",
       "*nat\n-N O\n-A O -m owner --uid-owner 1 -j RETURN\n-A PREROUTING -j O\nCOMMIT\n", 3,
       "-m owner is only valid from OUTPUT and POSTROUTING"},
      {"limit-iface-in from OUTPUT",
       "*nat\n-A OUTPUT -m addrtype --dst-type LOCAL --limit-iface-in -j RETURN\nCOMMIT\n", 2,
       "--limit-iface-in is not valid from OUTPUT"},
      {"limit-iface-out from PREROUTING",
       "*nat\n-A PREROUTING -m addrtype --dst-type LOCAL --limit-iface-out -j RETURN\nCOMMIT\n", 2,
       "--limit-iface-out is not valid from PREROUTING"},
      // Linux checks hooks by reachability; a chain no built-in reaches has no hooks to check.
      {"REDIRECT in an unreachable chain", "*nat\n-N R\n-A R -p tcp -j REDIRECT\nCOMMIT\n", 0, ""},
      // iptables refuses -i/-o only in the built-in chains by name; in a user chain reached from
      // OUTPUT the kernel accepts `! -i x` (it matches: there is no input interface), as
      // Docker's DOCKER chain relies on.
      {"-i in a user chain reached from OUTPUT",
       "*nat\n-N D\n-A D ! -i br0 -j RETURN\n-A OUTPUT -j D\nCOMMIT\n", 0, ""},
      {"owner from OUTPUT and POSTROUTING",
       "*nat\n-N O\n-A O -m owner --uid-owner 1 -j RETURN\n-A OUTPUT -j O\n-A POSTROUTING -j "
       "O\nCOMMIT\n",
       0, ""},
  };
  for (const Case& c : cases) {
    auto r = loadText(c.text);
    const LoadError* e = std::get_if<LoadError>(&r);
    if (c.line == 0) {
      EXPECT_EQ(e, nullptr) << c.name << ": " << (e ? e->message() : "");
      continue;
    }
    ASSERT_NE(e, nullptr) << c.name << ": accepted";
    EXPECT_EQ(e->file, "test.rules") << c.name;
    EXPECT_EQ(e->line, c.line) << c.name << ": " << e->message();
    EXPECT_NE(e->reason.find(c.reason), std::string::npos) << c.name << ": " << e->message();
  }
}

RuleSet handBuilt() {
  RuleSet rs;
  TableRules nat;
  nat.table = Table::kNat;
  for (const char* n : {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}) {
    Chain c;
    c.name = n;
    c.builtin = true;
    nat.chains.push_back(c);
  }
  rs.tables.push_back(nat);
  return rs;
}

Rule ruleAt(int line) {
  Rule r;
  r.where = SourceLocation{"hand", line};
  return r;
}

TEST(ValidatorTest, HandBuiltRuleSets) {
  EXPECT_FALSE(validateRuleSet(handBuilt()).has_value());

  struct HandCase {
    const char* name;
    void (*mutate)(RuleSet&);
    const char* reason;
  };
  const HandCase cases[] = {
      {"unknown jump target",
       [](RuleSet& rs) {
         Rule r = ruleAt(7);
         r.target.kind = TargetKind::kJump;
         r.target.chain = "NOPE";
         rs.tables[0].chains[2].rules.push_back(r);
       },
       "unknown jump target NOPE"},
      {"IPv6 address in IPv4 set",
       [](RuleSet& rs) {
         Rule r = ruleAt(7);
         r.dst = AddrMatch{*parseCidr("::1/128"), false};
         rs.tables[0].chains[2].rules.push_back(r);
       },
       "IPv6 address ::1/128 in an IPv4 rule set"},
      {"port without protocol",
       [](RuleSet& rs) {
         Rule r = ruleAt(7);
         r.dport = PortMatch{{PortRange{80, 80}}, false};
         rs.tables[0].chains[2].rules.push_back(r);
       },
       "a port match needs -p tcp"},
      {"REDIRECT port with inverted protocol",
       [](RuleSet& rs) {
         Rule r = ruleAt(7);
         r.protocol = 6;
         r.protocol_invert = true;
         r.target.kind = TargetKind::kRedirect;
         r.target.to_ports = PortRange{1, 1};
         rs.tables[0].chains[2].rules.push_back(r);
       },
       "a NAT port needs -p tcp"},
      {"missing set",
       [](RuleSet& rs) {
         Rule r = ruleAt(7);
         r.sets.push_back(SetMatch{"nope", {true}, false});
         rs.tables[0].chains[2].rules.push_back(r);
       },
       "set nope does not exist"},
      {"set of the other family",
       [](RuleSet& rs) {
         IpSet s;
         s.name = "v6";
         s.type = "hash:net";
         s.family = Family::kV6;
         rs.sets.emplace("v6", s);
         Rule r = ruleAt(7);
         r.sets.push_back(SetMatch{"v6", {false}, false});
         rs.tables[0].chains[2].rules.push_back(r);
       },
       "set v6 is not of the rule set's family"},
      {"jump to a built-in chain",
       [](RuleSet& rs) {
         Rule r = ruleAt(7);
         r.target.kind = TargetKind::kGoto;
         r.target.chain = "INPUT";
         rs.tables[0].chains[2].rules.push_back(r);
       },
       "cannot jump to built-in chain INPUT"},
      {"built-in chain the table lacks",
       [](RuleSet& rs) {
         Chain c;
         c.name = "FORWARD";
         c.builtin = true;
         rs.tables[0].chains.push_back(c);
       },
       "table nat has no built-in chain FORWARD"},
  };
  for (const HandCase& c : cases) {
    RuleSet rs = handBuilt();
    c.mutate(rs);
    auto e = validateRuleSet(rs);
    ASSERT_TRUE(e.has_value()) << c.name;
    EXPECT_NE(e->reason.find(c.reason), std::string::npos) << c.name << ": " << e->message();
    if (std::string(c.name) != "built-in chain the table lacks") {
      EXPECT_EQ(e->message().rfind("hand:7: ", 0), 0u) << e->message();
    }
  }
}

}  // namespace
}  // namespace xredir::testing
