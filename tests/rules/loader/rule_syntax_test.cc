// Tests of one rule line's options: each accepted form loads to the model iptables would build
// (asserted through fields, and through the canonical line iptables-save would print), and each
// refused form fails with the line, column and reason.
#include <gtest/gtest.h>

#include "load_helpers.h"

namespace xredir::testing {
namespace {

// wrap puts a rule line into a nat block with a user chain X reachable from OUTPUT and a set.
std::string wrap(const std::string& line, const char* table = "nat") {
  return std::string("*") + table + "\n:X -\n" + line + "\nCOMMIT\n";
}
constexpr const char* kSets =
    "create tgt hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\n"
    "add tgt 10.0.0.0/8\n"
    "create six hash:ip family inet6\n";

const Rule* lastRule(const RuleSet& rs, const std::string& line, Table t = Table::kNat) {
  const std::string chain = line.substr(3, line.find(' ', 3) - 3);
  const Chain* c = findChain(rs, t, chain);
  if (c == nullptr || c->rules.empty()) return nullptr;
  return &c->rules.back();
}

struct PrintCase {
  const char* input;
  const char* printed;
};

TEST(RuleSyntaxTest, AcceptedFormsPrintAsIptablesSave) {
  const PrintCase cases[] = {
      {"-A OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 15001",
       "-A OUTPUT -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 15001"},
      {"-A OUTPUT --protocol TCP --destination-port 1000:2000 -j REDIRECT --to-port 15001-15002",
       "-A OUTPUT -p tcp -m tcp --dport 1000:2000 -j REDIRECT --to-ports 15001-15002"},
      {"-A OUTPUT -p tcp --sport 1024: --dport :99 -j RETURN",
       "-A OUTPUT -p tcp -m tcp --sport 1024:65535 --dport 0:99 -j RETURN"},
      {"-A OUTPUT -d 127.0.0.1/8 -j RETURN", "-A OUTPUT -d 127.0.0.0/8 -j RETURN"},
      {"-A OUTPUT --destination 10.1.2.3/255.255.0.0 ! --source 1.2.3.4 -j RETURN",
       "-A OUTPUT ! -s 1.2.3.4/32 -d 10.1.0.0/16 -j RETURN"},
      {"-A PREROUTING --in-interface br+ -p udp -m udp --sport 53 -j RETURN",
       "-A PREROUTING -i br+ -p udp -m udp --sport 53 -j RETURN"},
      {"-A OUTPUT ! --out-interface lo -p 6 -m tcp --syn -j RETURN",
       "-A OUTPUT ! -o lo -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN"},
      {"-A OUTPUT -p tcp -m tcp ! --tcp-flags SYN,ACK ALL -j RETURN",
       "-A OUTPUT -p tcp -m tcp ! --tcp-flags SYN,ACK FIN,SYN,RST,PSH,ACK,URG -j RETURN"},
      {"-A OUTPUT -p udp -m multiport ! --ports 53,3000:5000 -j RETURN",
       "-A OUTPUT -p udp -m multiport ! --ports 53,3000:5000 -j RETURN"},
      {"-A OUTPUT -m multiport -p tcp --dport 1:65535 -j RETURN",
       "-A OUTPUT -p tcp -m multiport --dports 1:65535 -j RETURN"},
      {"-A OUTPUT -p tcp --match multiport --source-ports 1,2 -j RETURN",
       "-A OUTPUT -p tcp -m multiport --sports 1,2 -j RETURN"},
      {"-A OUTPUT -m addrtype ! --dst-type local,BROADCAST --src-type UNICAST -j RETURN",
       "-A OUTPUT -m addrtype --src-type UNICAST ! --dst-type LOCAL,BROADCAST -j RETURN"},
      {"-A PREROUTING -m addrtype --dst-type LOCAL --limit-iface-in -j RETURN",
       "-A PREROUTING -m addrtype --dst-type LOCAL --limit-iface-in -j RETURN"},
      {"-A OUTPUT -m conntrack --ctstate ESTABLISHED,related,DNAT -j RETURN",
       "-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j RETURN"},
      {"-A OUTPUT -m state ! --state NEW,INVALID -j RETURN",
       "-A OUTPUT -m state ! --state INVALID,NEW -j RETURN"},
      {"-A OUTPUT -m mark --mark 1337 -j RETURN", "-A OUTPUT -m mark --mark 0x539 -j RETURN"},
      {"-A OUTPUT -m mark ! --mark 0x539/0xfff -j RETURN",
       "-A OUTPUT -m mark ! --mark 0x539/0xfff -j RETURN"},
      {"-A OUTPUT -m owner ! --uid-owner 106-108 --gid-owner 0 ! --socket-exists -j RETURN",
       "-A OUTPUT -m owner ! --socket-exists ! --uid-owner 106-108 --gid-owner 0 -j RETURN"},
      {"-A OUTPUT -m owner --uid-owner root --gid-owner root -j RETURN",
       "-A OUTPUT -m owner --uid-owner 0 --gid-owner 0 -j RETURN"},
      {"-A OUTPUT -m set ! --match-set tgt dst,src -m set --match-set tgt src -j RETURN",
       "-A OUTPUT -m set ! --match-set tgt dst,src -m set --match-set tgt src -j RETURN"},
      {"-A OUTPUT -m statistic --mode random --probability 0.25 -j RETURN",
       "-A OUTPUT -m statistic --mode random --probability 0.25000000000 -j RETURN"},
      {"-A OUTPUT -m statistic --mode nth ! --every 3 --packet 1 -j RETURN",
       "-A OUTPUT -m statistic --mode nth ! --every 3 --packet 1 -j RETURN"},
      {R"(-A OUTPUT -m comment --comment "envoy\'s \"x\"" -m comment --comment abc_1 -j RETURN)",
       R"(-A OUTPUT -m comment --comment "envoy\'s \"x\"" -m comment --comment abc_1 -j RETURN)"},
      {"-A OUTPUT -m comment --comment \"\" -j RETURN",
       "-A OUTPUT -m comment --comment \"\" -j RETURN"},
      {"-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.3:80-81",
       "-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.3:80-81"},
      {"-A OUTPUT -j DNAT --to-destination 10.0.0.1",
       "-A OUTPUT -j DNAT --to-destination 10.0.0.1"},
      {"-A OUTPUT -j MARK --set-mark 1337", "-A OUTPUT -j MARK --set-xmark 0x539/0xffffffff"},
      {"-A OUTPUT -j LOG --log-prefix \"x y\" --log-level info",
       "-A OUTPUT -j LOG --log-prefix \"x y\" --log-level 6"},
      {"-A OUTPUT -j LOG --log-level warning", "-A OUTPUT -j LOG"},
      {"-A OUTPUT -g X", "-A OUTPUT -g X"},
      {"-A OUTPUT --jump X", "-A OUTPUT -j X"},
      {"-A OUTPUT -p tcp", "-A OUTPUT -p tcp"},
      {"-A OUTPUT -p all -s 0.0.0.0/0 -j RETURN", "-A OUTPUT -j RETURN"},
      {"-A OUTPUT ! -s 0.0.0.0/0 -j RETURN", "-A OUTPUT ! -s 0.0.0.0/0 -j RETURN"},
      {"-A OUTPUT -ptcp --dport=80 -j RETURN", "-A OUTPUT -p tcp -m tcp --dport 80 -j RETURN"},
      {"-A OUTPUT -p tcp -m tcp --dport 0:65535 -j RETURN", "-A OUTPUT -p tcp -m tcp -j RETURN"},
      {"-A OUTPUT -p icmp -j RETURN", "-A OUTPUT -p icmp -j RETURN"},
      {"-A OUTPUT -p 200 -j RETURN", "-A OUTPUT -p 200 -j RETURN"},
      {"-A OUTPUT -c 10 20 -j RETURN", "-A OUTPUT -j RETURN"},
      {"-4 -A OUTPUT -j RETURN", "-A OUTPUT -j RETURN"},
  };
  for (const PrintCase& c : cases) {
    const RuleSet rs = loadOk(wrap(c.input), Family::kV4, kSets);
    const std::string printed = c.printed;
    const std::string chain = printed.substr(3, printed.find(' ', 3) - 3);
    const Rule* r = lastRule(rs, printed);
    ASSERT_NE(r, nullptr) << c.input;
    EXPECT_EQ(printRule(chain, *r), printed) << "input: " << c.input;
  }
}

TEST(RuleSyntaxTest, FieldsOfImplicitAndExplicitMatches) {
  const RuleSet rs = loadOk(wrap(
      "-A OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j X"));
  const Rule* r = lastRule(rs, "-A OUTPUT");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->protocol, 6);
  ASSERT_TRUE(r->dport.has_value());
  EXPECT_TRUE(r->dport->invert);
  ASSERT_EQ(r->dport->ranges.size(), 1u);
  EXPECT_EQ(r->dport->ranges[0], (PortRange{15008, 15008}));
  ASSERT_TRUE(r->out_iface.has_value());
  EXPECT_EQ(r->out_iface->name, "lo");
  EXPECT_FALSE(r->out_iface->wildcard);
  ASSERT_TRUE(r->dst.has_value());
  EXPECT_TRUE(r->dst->invert);
  ASSERT_TRUE(r->owner && r->owner->uid);
  EXPECT_EQ(r->owner->uid->first, 1337u);
  EXPECT_FALSE(r->owner->uid_invert);
  EXPECT_EQ(r->match_order, (std::vector<std::string>{"tcp", "owner"}));
  EXPECT_EQ(r->target.kind, TargetKind::kJump);
  EXPECT_EQ(r->target.chain, "X");
}

TEST(RuleSyntaxTest, MarkTargetFormsNormaliseToSetXmark) {
  struct Case {
    const char* option;
    std::uint32_t value;
    std::uint32_t mask;
  };
  // libxt_MARK's translation, mark = (mark & ~mask) ^ value.
  const Case cases[] = {
      {"--set-xmark 0x10/0xf0", 0x10, 0xf0},
      {"--set-xmark 5", 5, 0xffffffff},
      {"--set-mark 0x1/0x3", 0x1, 0x3},
      {"--set-mark 0x4/0x3", 0x4, 0x7},
      {"--and-mark 0xff", 0, 0xffffff00},
      {"--or-mark 0x8", 0x8, 0x8},
      {"--xor-mark 0x8", 0x8, 0},
  };
  for (const Case& c : cases) {
    const std::string line = std::string("-A OUTPUT -j MARK ") + c.option;
    const RuleSet rs = loadOk(wrap(line, "mangle"));
    const Rule* r = lastRule(rs, line, Table::kMangle);
    ASSERT_NE(r, nullptr) << c.option;
    EXPECT_EQ(r->target.kind, TargetKind::kMark) << c.option;
    EXPECT_EQ(r->target.mark_value, c.value) << c.option;
    EXPECT_EQ(r->target.mark_mask, c.mask) << c.option;
  }
}

TEST(RuleSyntaxTest, StatisticProbabilityIsTheKernels31BitFraction) {
  const RuleSet rs = loadOk(wrap("-A OUTPUT -m statistic --mode random --probability 0.3 -j X"));
  const Rule* r = lastRule(rs, "-A OUTPUT");
  ASSERT_TRUE(r && r->statistic);
  // xt_statistic stores lround(P * 2^31); 0.3 is 644245094 / 2^31.
  EXPECT_EQ(r->statistic->probability, 644245094.0 / 2147483648.0);
}

TEST(RuleSyntaxTest, Ipv6DnatAndAddresses) {
  const std::string text =
      "*nat\n"
      "-A OUTPUT -d 2001:db8::1/64 -p tcp -j DNAT --to-destination [2001:db8::1]-[2001:db8::9]:80\n"
      "-A OUTPUT -p tcp -j DNAT --to-destination 2001:db8::2\n"
      "COMMIT\n";
  const RuleSet rs = loadOk(text, Family::kV6);
  const Chain* c = findChain(rs, Table::kNat, "OUTPUT");
  ASSERT_TRUE(c && c->rules.size() == 2);
  EXPECT_EQ(printRule("OUTPUT", c->rules[0]),
            "-A OUTPUT -d 2001:db8::/64 -p tcp -j DNAT --to-destination "
            "[2001:db8::1]-[2001:db8::9]:80");
  EXPECT_EQ(c->rules[0].target.to_ports, (PortRange{80, 80}));
  EXPECT_EQ(formatIpAddr(*c->rules[1].target.to_addr_first), "2001:db8::2");
  EXPECT_EQ(c->rules[1].target.to_addr_first, c->rules[1].target.to_addr_last);
}

struct BadCase {
  const char* line;
  int column;
  const char* reason;
};

TEST(RuleSyntaxTest, RefusedFormsNameLineColumnAndReason) {
  const BadCase cases[] = {
      {"-A OUTPUT -p tcp -j TPROXY --on-port 1", 21, "unsupported target TPROXY"},
      {"-A OUTPUT -j MASQUERADE", 14, "unsupported target MASQUERADE"},
      {"-A OUTPUT -m connmark --mark 1 -j RETURN", 14, "unsupported match connmark"},
      {"-A OUTPUT -m conntrack --ctorigdst 1.2.3.4 -j RETURN", 24,
       "unsupported option --ctorigdst of match conntrack"},
      {"-A OUTPUT -m owner --suppl-groups -j RETURN", 20, "unsupported option --suppl-groups"},
      {"-A OUTPUT --uid-owner 0 -m owner -j RETURN", 11,
       "unknown option --uid-owner (an option of -m owner"},
      {"-A OUTPUT -p tcp -m tcp --foo 1", 25, "unknown option --foo"},
      {"-A OUTPUT --dport 80 -j RETURN", 11, "unknown option --dport"},
      {"-A OUTPUT -p tcp --to-ports 80", 18, "unknown option --to-ports"},
      {"-A OUTPUT -p tcp -m tcp --d 80", 25, "ambiguous"},
      {"-A OUTPUT -m tcp --dport 80 -j RETURN", 14, "match tcp needs -p tcp"},
      {"-A OUTPUT -p udp -m tcp --dport 80", 21, "match tcp needs -p tcp"},
      {"-A OUTPUT ! -p tcp --dport 80", 20, "unknown option --dport"},
      {"-A OUTPUT -m multiport --dports 80 -j RETURN", 14, "multiport needs -p tcp"},
      {"-A OUTPUT -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", 40,
       "invalid port list"},
      {"-A OUTPUT -p tcp -m multiport --dports 80 --sports 1", 43,
       "multiport can only have one option"},
      {"-A OUTPUT -p tcp --dport 90:80", 26, "invalid port or port range"},
      {"-A OUTPUT -p tcp ! ! --dport 80", 20, "multiple ! flags"},
      {"-A OUTPUT ! -j RETURN", 11, "cannot be inverted"},
      {"-A OUTPUT -p tcp ! -m tcp", 18, "cannot be inverted"},
      {"-A OUTPUT -j REDIRECT --to-ports 1", 23, "a port in REDIRECT needs -p tcp"},
      {"-A OUTPUT -d ::1 -j RETURN", 14, "IPv6 address ::1 in an IPv4 rule set"},
      {"-A OUTPUT -d example.com -j RETURN", 14, "invalid address"},
      {"-A OUTPUT -s 1.2.3.4,5.6.7.8/33 -j RETURN", 22, "invalid address \"5.6.7.8/33\""},
      {"-A OUTPUT ! -s 1.2.3.4,5.6.7.8 -j RETURN", 13, "! is not allowed with multiple"},
      {"-A OUTPUT -o averyveryverylongname -j RETURN", 14, "longer than 15"},
      {"-A OUTPUT -p bogus", 14, "unknown protocol"},
      {"-A OUTPUT ! -p all", 13, "would never match"},
      {"-A OUTPUT -j NOSUCH", 14, "unknown target or chain NOSUCH"},
      {"-A OUTPUT -j DROP", 14, "DROP is not allowed in the nat table"},
      {"-A OUTPUT -j PREROUTING", 14, "cannot jump to built-in chain PREROUTING"},
      {"-A OUTPUT -g ACCEPT", 14, "goto target ACCEPT is not a chain"},
      {"-A OUTPUT -m owner --gid-owner no-such-group-xyz", 32, "does not exist"},
      {"-A OUTPUT -m owner --uid-owner 9-3", 32, "not a valid id range"},
      {"-A OUTPUT -m set --match-set nosuch dst", 30, "set nosuch does not exist"},
      {"-A OUTPUT -m set --match-set six dst", 30, "set six is an inet6 set"},
      {"-A OUTPUT -m set --match-set tgt up", 34, "invalid set flags"},
      {"-A OUTPUT -m statistic --mode nth --every 2 --packet 2", 35,
       "--packet must be below --every"},
      {"-A OUTPUT -m statistic --probability 0.5", 14, "statistic needs --mode"},
      {"-A OUTPUT -m statistic --mode random --probability 1.5", 52, "invalid probability"},
      {"-A OUTPUT -m comment", 14, "comment needs --comment"},
      {"-A OUTPUT -m mark", 14, "mark needs --mark"},
      {"-A OUTPUT -m conntrack --ctstate BOGUS", 34, "unknown connection state"},
      {"-A OUTPUT -m state --state DNAT", 28, "unknown connection state"},
      {"-A OUTPUT -m addrtype --dst-type NOPE", 34, "unknown address type"},
      {"-A OUTPUT -m addrtype --limit-iface-in", 14, "addrtype needs --src-type or --dst-type"},
      {"-A OUTPUT -p tcp -m tcp -m tcp", 28, "named twice"},
      {"-A OUTPUT -p tcp -m tcp --tcp-flags SYN,FOO SYN", 37, "unknown TCP flag"},
      {"-A OUTPUT -p tcp -m tcp --syn --tcp-flags SYN SYN", 31, "given together"},
      {"-A OUTPUT -j MARK --set-mark 1 --or-mark 2", 32, "MARK takes only one"},
      {"-A OUTPUT -j MARK", 14, "MARK needs --set-xmark"},
      {"-A OUTPUT -j MARK --or-mark 1/2", 29, "invalid mark"},
      {"-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.2-10.0.0.1", 43, "invalid address range"},
      {"-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.1:", 43, "missing port"},
      {"-A OUTPUT -p tcp -j DNAT --to-destination [::1]:80", 43, "invalid IPv4 address"},
      {"-A OUTPUT -j DNAT", 14, "DNAT needs --to-destination"},
      {"-A OUTPUT -p tcp -j REDIRECT --random", 30, "unsupported option --random of this target"},
      {"-A OUTPUT -j LOG --log-prefix 012345678901234567890123456789", 31, "longer than 29"},
      {"-A OUTPUT -j LOG --log-tcp-sequence", 18, "unsupported option --log-tcp-sequence"},
      {"-A OUTPUT -s 1.2.3.4 -s 1.2.3.5", 22, "multiple -s options"},
      {"-A OUTPUT -j RETURN -j ACCEPT", 21, "multiple -j options"},
      {"-A OUTPUT -t nat", 11, "-t is not allowed"},
      {"-A OUTPUT -f", 11, "unsupported option -f"},
      {"-A OUTPUT -j RETURN extra", 21, "unexpected argument \"extra\""},
      {"-A OUTPUT -D OUTPUT 1", 11, "command -D in the middle of a rule"},
      {"-A OUTPUT -p tcp --dport", 18, "requires 1 argument"},
      {"-A OUTPUT -p tcp -m tcp --sport 1 -m multiport --dports 2,3", 0,
       "together with -m multiport"},
  };
  for (const BadCase& c : cases) {
    auto r = loadText(wrap(c.line), Family::kV4, kSets);
    const LoadError* e = std::get_if<LoadError>(&r);
    ASSERT_NE(e, nullptr) << "accepted: " << c.line;
    EXPECT_EQ(e->file, "test.rules") << c.line;
    EXPECT_EQ(e->line, 3) << c.line << " -> " << e->message();
    EXPECT_EQ(e->column, c.column) << c.line << " -> " << e->message();
    EXPECT_NE(e->reason.find(c.reason), std::string::npos) << c.line << " -> " << e->message();
  }
}

TEST(RuleSyntaxTest, ErrorMessageFormat) {
  EXPECT_EQ((LoadError{"a.rules", 12, 34, "unsupported target TPROXY"}).message(),
            "a.rules:12:34: unsupported target TPROXY");
  EXPECT_EQ((LoadError{"a.rules", 7, 0, "table nat (line 3) is not closed by COMMIT"}).message(),
            "a.rules:7: table nat (line 3) is not closed by COMMIT");
}

}  // namespace
}  // namespace xredir::testing
