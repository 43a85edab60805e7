// match_predicates_test.cc: each match against a table of packets, including inversions, later
// fragments, IPv6 and the socket-less owner rules of xt_owner.
#include "rules/engine/match_predicates.h"

#include <gtest/gtest.h>

#include <vector>

#include "rules/engine/compiled_ip_set.h"
#include "rules/engine/rule_set_builder.h"

namespace xredir::engine {
namespace {

using testdata::cidr;
using testdata::ip;
using testdata::owner;

TEST(MatchPredicates, ProtocolWithInversion) {
  struct Case {
    std::optional<std::uint8_t> rule_proto;
    bool invert;
    std::uint8_t packet_proto;
    bool want;
  };
  const std::vector<Case> cases = {
      {std::nullopt, false, IPPROTO_UDP, true},
      {IPPROTO_TCP, false, IPPROTO_TCP, true},
      {IPPROTO_TCP, false, IPPROTO_UDP, false},
      {IPPROTO_TCP, true, IPPROTO_UDP, true},
      {IPPROTO_TCP, true, IPPROTO_TCP, false},
      {0, false, IPPROTO_UDP, true},  // -p all
      {0, true, IPPROTO_UDP, true},   // Linux ignores the inversion of protocol 0
  };
  for (const Case& c : cases) {
    Rule r;
    r.protocol = c.rule_proto;
    r.protocol_invert = c.invert;
    PacketMeta p;
    p.protocol = c.packet_proto;
    EXPECT_EQ(protocolMatches(r, p), c.want) << int(c.packet_proto) << " invert " << c.invert;
  }
}

TEST(MatchPredicates, AddressPrefixesV4AndV6WithInversion) {
  struct Case {
    const char* cidr;
    bool invert;
    const char* addr;
    bool want;
  };
  const std::vector<Case> cases = {
      {"10.0.0.0/8", false, "10.200.1.1", true},
      {"10.0.0.0/8", false, "11.0.0.1", false},
      {"10.0.0.0/8", true, "11.0.0.1", true},
      {"10.0.0.0/8", true, "10.0.0.1", false},
      {"10.1.2.3/32", false, "10.1.2.3", true},
      {"10.1.2.3/32", false, "10.1.2.4", false},
      {"0.0.0.0/0", false, "192.0.2.1", true},
      {"2001:db8::/32", false, "2001:db8:1::1", true},
      {"2001:db8::/32", false, "2001:db9::1", false},
      {"2001:db8::/32", true, "2001:db9::1", true},
      {"2001:db8::1/128", false, "2001:db8::1", true},
      // An address of the other family is outside the prefix, so only the inverted match holds.
      {"10.0.0.0/8", false, "::ffff:10.0.0.1", false},
      {"10.0.0.0/8", true, "::ffff:10.0.0.1", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(addrMatches(AddrMatch{cidr(c.cidr), c.invert}, ip(c.addr)), c.want)
        << c.cidr << (c.invert ? " inverted " : " ") << c.addr;
  }
}

TEST(MatchPredicates, InterfaceExactWildcardInverted) {
  struct Case {
    const char* rule;  // trailing '+' is the wildcard
    bool invert;
    const char* iface;
    bool want;
  };
  const std::vector<Case> cases = {
      {"eth0", false, "eth0", true},
      {"eth0", false, "eth01", false},  // exact names compare including the end of the name
      {"eth0", false, "eth", false},
      {"eth+", false, "eth01", true},
      {"eth+", false, "et", false},
      {"eth+", true, "lo", true},
      {"eth0", true, "eth0", false},
      {"+", false, "anything", true},
      {"+", false, "", true},
      {"eth0", false, "", false},  // no interface at this hook
      {"eth0", true, "", true},
  };
  for (const Case& c : cases) {
    const IfaceMatch m = testdata::R::iface(c.rule, c.invert);
    EXPECT_EQ(ifaceMatches(m, c.iface), c.want) << c.rule << " vs '" << c.iface << "'";
  }
}

TEST(MatchPredicates, PortsRangesInversionAndLaterFragments) {
  struct Case {
    std::vector<PortRange> ranges;
    bool invert;
    std::uint16_t port;
    bool later_fragment;
    bool want;
  };
  const std::vector<Case> cases = {
      {{{80, 80}}, false, 80, false, true},
      {{{80, 80}}, false, 81, false, false},
      {{{1000, 2000}}, false, 1000, false, true},
      {{{1000, 2000}}, false, 2000, false, true},
      {{{1000, 2000}}, false, 2001, false, false},
      {{{53, 53}, {3000, 5000}}, false, 4000, false, true},
      {{{53, 53}, {3000, 5000}}, true, 4000, false, false},
      {{{53, 53}, {3000, 5000}}, true, 80, false, true},
      // Later fragments carry no ports: neither the match nor its inversion holds.
      {{{80, 80}}, false, 80, true, false},
      {{{80, 80}}, true, 81, true, false},
  };
  for (const Case& c : cases) {
    const PortMatch m{c.ranges, c.invert};
    EXPECT_EQ(portMatches(m, c.port, c.later_fragment), c.want)
        << c.port << " invert " << c.invert << " frag " << c.later_fragment;
  }
}

TEST(MatchPredicates, EitherPortMatchesSourceOrDestination) {
  const PortMatch m{{{53, 53}}, false};
  const PortMatch inverted{{{53, 53}}, true};
  PacketMeta p = testdata::packet(IPPROTO_UDP, "10.0.0.1", 53, "10.0.0.2", 4000);
  EXPECT_TRUE(eitherPortMatches(m, p));
  EXPECT_FALSE(eitherPortMatches(inverted, p));
  p.sport = 4001;
  EXPECT_FALSE(eitherPortMatches(m, p));
  EXPECT_TRUE(eitherPortMatches(inverted, p));
  p.dport = 53;
  EXPECT_TRUE(eitherPortMatches(m, p));
  p.later_fragment = true;
  EXPECT_FALSE(eitherPortMatches(m, p));
  EXPECT_FALSE(eitherPortMatches(inverted, p));
}

TEST(MatchPredicates, TcpFlags) {
  struct Case {
    TcpFlagsMatch m;
    std::uint8_t flags;
    bool later_fragment;
    bool want;
  };
  const TcpFlagsMatch syn{0x17, 0x02, false};  // --syn: SYN,RST,ACK,FIN SYN
  const std::vector<Case> cases = {
      {syn, 0x02, false, true},
      {syn, 0x12, false, false},        // SYN+ACK
      {syn, 0x02 | 0x08, false, true},  // PSH is outside the mask
      {TcpFlagsMatch{0x17, 0x02, true}, 0x10, false, true},
      {TcpFlagsMatch{0x17, 0x02, true}, 0x02, false, false},
      {syn, 0x02, true, false},
      {TcpFlagsMatch{0x17, 0x02, true}, 0x10, true, false},
  };
  for (const Case& c : cases) {
    PacketMeta p;
    p.tcp_flags = c.flags;
    p.later_fragment = c.later_fragment;
    EXPECT_EQ(tcpFlagsMatches(c.m, p), c.want) << int(c.flags) << " frag " << c.later_fragment;
  }
}

TEST(MatchPredicates, AddrTypeAsksTheLookupWithTheLimitedInterface) {
  std::vector<std::string> asked;
  EvalContext ctx;
  ctx.addr_type = [&](const IpAddr& a, std::string_view iface) -> std::uint16_t {
    asked.push_back(formatIpAddr(a) + "@" + std::string(iface));
    return a == ip("10.0.0.1") ? kAddrLocal : kAddrUnicast;
  };
  PacketMeta p = testdata::tcp("192.0.2.9", 1000, "10.0.0.1", 80);
  p.in_iface = "eth0";
  p.out_iface = "eth1";
  struct Case {
    AddrTypeMatch m;
    bool want;
    std::vector<std::string> asked;
  };
  const std::vector<Case> cases = {
      {testdata::addrType(0, false, kAddrLocal, false), true, {"10.0.0.1@"}},
      {testdata::addrType(0, false, kAddrLocal, true), false, {"10.0.0.1@"}},
      {testdata::addrType(kAddrLocal, false, 0, false), false, {"192.0.2.9@"}},
      {testdata::addrType(kAddrLocal, true, 0, false), true, {"192.0.2.9@"}},
      {testdata::addrType(kAddrUnicast, false, kAddrLocal | kAddrBroadcast, false),
       true,
       {"192.0.2.9@", "10.0.0.1@"}},
      {testdata::addrType(0, false, kAddrLocal, false, true, false), true, {"10.0.0.1@eth0"}},
      {testdata::addrType(0, false, kAddrLocal, false, false, true), true, {"10.0.0.1@eth1"}},
  };
  for (const Case& c : cases) {
    asked.clear();
    EXPECT_EQ(addrTypeMatches(c.m, p, ctx), c.want);
    EXPECT_EQ(asked, c.asked);
  }
  // Without a lookup no address has a type: positive tests fail, inverted ones pass.
  EXPECT_FALSE(addrTypeMatches(testdata::addrType(0, false, kAddrLocal, false), p, EvalContext{}));
  EXPECT_TRUE(addrTypeMatches(testdata::addrType(0, false, kAddrLocal, true), p, EvalContext{}));
}

TEST(MatchPredicates, CtStateAndMark) {
  PacketMeta p;
  p.ct_state = kCtNew;
  EXPECT_TRUE(ctStateMatches({kCtNew | kCtEstablished, false}, p));
  EXPECT_FALSE(ctStateMatches({kCtEstablished, false}, p));
  EXPECT_TRUE(ctStateMatches({kCtEstablished, true}, p));
  EXPECT_FALSE(ctStateMatches({kCtNew, true}, p));

  struct Case {
    MarkMatch m;
    std::uint32_t mark;
    bool want;
  };
  const std::vector<Case> cases = {
      {{0x4000, 0x4000, false}, 0x4001, true}, {{0x4000, 0x4000, false}, 0x0001, false},
      {{0x4000, 0x4000, true}, 0x0001, true},  {{0x1, 0xffffffff, false}, 0x1, true},
      {{0x1, 0xffffffff, false}, 0x3, false},
  };
  for (const Case& c : cases) EXPECT_EQ(markMatches(c.m, c.mark), c.want) << c.mark;
}

TEST(MatchPredicates, OwnerFollowsXtOwnerWithAndWithoutSocket) {
  struct Case {
    const char* name;
    OwnerMatch m;
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
    bool want;
  };
  const IdRange root{0, 0};
  const IdRange users{1000, 1999};
  const std::vector<Case> cases = {
      {"no socket, --uid-owner", owner(root, false), std::nullopt, std::nullopt, false},
      // xt_owner: (match ^ invert) == 0, so an all-inverted match holds without a socket.
      {"no socket, ! --uid-owner", owner(root, true), std::nullopt, std::nullopt, true},
      {"no socket, ! --uid-owner --gid-owner", owner(root, true, root, false), std::nullopt,
       std::nullopt, false},
      {"no socket, --socket-exists", owner(std::nullopt, false, std::nullopt, false, true),
       std::nullopt, std::nullopt, false},
      {"no socket, ! --socket-exists", owner(std::nullopt, false, std::nullopt, false, false),
       std::nullopt, std::nullopt, true},
      {"socket, --socket-exists", owner(std::nullopt, false, std::nullopt, false, true), 5, 5,
       true},
      {"socket, ! --socket-exists", owner(std::nullopt, false, std::nullopt, false, false), 5, 5,
       false},
      {"uid in range", owner(users, false), 1500, 0, true},
      {"uid out of range", owner(users, false), 999, 0, false},
      {"! uid out of range", owner(users, true), 999, 0, true},
      {"! uid in range", owner(users, true), 1000, 0, false},
      {"gid in range", owner(std::nullopt, false, users, false), 0, 1999, true},
      {"gid out of range", owner(std::nullopt, false, users, false), 0, 2000, false},
      {"uid and gid", owner(root, false, users, false), 0, 1000, true},
      {"uid and ! gid", owner(root, false, users, true), 0, 1000, false},
      {"socket without gid", owner(std::nullopt, false, users, false), 0, std::nullopt, false},
  };
  for (const Case& c : cases) {
    PacketMeta p;
    p.uid = c.uid;
    p.gid = c.gid;
    EXPECT_EQ(ownerMatches(c.m, p), c.want) << c.name;
  }
}

TEST(MatchPredicates, SetsChooseDirectionAndInvert) {
  RuleSet rs = testdata::ruleSet({});
  testdata::addSet(rs, "nets", {"10.0.0.0/8", "192.0.2.0/24", "198.51.100.7/32"});
  const IpSet& set = rs.sets.at("nets");
  const CompiledIpSet hashed(set);
  PacketMeta p = testdata::tcp("192.0.2.55", 1, "172.16.0.1", 2);
  struct Case {
    SetMatch m;
    bool want;
  };
  const std::vector<Case> cases = {
      {{"nets", {true}, false}, true}, {{"nets", {false}, false}, false},
      {{"nets", {true}, true}, false}, {{"nets", {false}, true}, true},
      {{"nets", {}, false}, false},  // no dimension: never a member
      {{"nets", {}, true}, true},
  };
  for (const Case& c : cases) {
    const IpAddr* addr = setAddress(c.m, p);
    const bool member = addr != nullptr && isMemberLinear(&set, *addr);
    EXPECT_EQ(setMatches(c.m, member), c.want);
    const bool hashed_member = addr != nullptr && hashed.contains(*addr);
    EXPECT_EQ(hashed_member, member);
  }
  EXPECT_FALSE(isMemberLinear(nullptr, ip("10.0.0.1")));
}

TEST(MatchPredicates, HashedSetAgreesWithLinearScan) {
  RuleSet v4 = testdata::ruleSet({});
  testdata::addSet(v4, "s", {"10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "198.51.100.7/32"});
  RuleSet v6 = testdata::ruleSet({}, Family::kV6);
  testdata::addSet(v6, "s", {"2001:db8::/32", "2001:db8:1::5/128", "fd00::/8"});
  const std::vector<const char*> probes = {"10.9.9.9",         "11.0.0.0",     "192.0.2.255",
                                           "192.0.3.0",        "198.51.100.7", "198.51.100.8",
                                           "2001:db8:ffff::1", "2001:db9::",   "2001:db8:1::5",
                                           "fdff::1",          "fe00::1",      "0.0.0.0"};
  for (const RuleSet* rs : {&v4, &v6}) {
    const IpSet& set = rs->sets.at("s");
    const CompiledIpSet hashed(set);
    for (const char* probe : probes) {
      EXPECT_EQ(hashed.contains(ip(probe)), isMemberLinear(&set, ip(probe))) << probe;
    }
  }
  EXPECT_TRUE(CompiledIpSet(v6.sets.at("s")).contains(ip("fd12::1")));
  EXPECT_FALSE(CompiledIpSet(v6.sets.at("s")).contains(ip("10.0.0.1")));
}

TEST(MatchPredicates, StatisticRandomAndNth) {
  double draw = 0.0;
  EvalContext ctx;
  ctx.random_unit = [&draw] { return draw; };
  StatisticMatch random;
  random.mode = StatisticMatch::Mode::kRandom;
  random.probability = 0.25;
  draw = 0.2;
  EXPECT_TRUE(statisticMatches(random, ctx, 0));
  draw = 0.25;
  EXPECT_FALSE(statisticMatches(random, ctx, 0));
  random.invert = true;
  EXPECT_TRUE(statisticMatches(random, ctx, 0));
  random.invert = false;
  EXPECT_FALSE(statisticMatches(random, EvalContext{}, 0));  // no draw source

  StatisticMatch nth;
  nth.mode = StatisticMatch::Mode::kNth;
  nth.every = 3;
  nth.packet = 1;
  std::vector<bool> got;
  for (std::uint64_t count = 0; count < 7; ++count)
    got.push_back(statisticMatches(nth, ctx, count));
  EXPECT_EQ(got, (std::vector<bool>{false, true, false, false, true, false, false}));
  nth.invert = true;
  EXPECT_FALSE(statisticMatches(nth, ctx, 4));
  nth.every = 0;
  nth.invert = false;
  EXPECT_FALSE(statisticMatches(nth, ctx, 0));
}

TEST(MatchPredicates, ApplyMarkIsSetXmark) {
  struct Case {
    std::uint32_t value, mask, before, after;
  };
  const std::vector<Case> cases = {
      {0x4000, 0x4000, 0x0001, 0x4001},  // --set-mark 0x4000/0x4000 (or-mark)
      {0x0, 0x4000, 0x4001, 0x0001},     // --and-mark ~0x4000
      {0x2, 0xffffffff, 0x1234, 0x2},    // --set-mark 2
      {0x1, 0x0, 0x3, 0x2},              // --xor-mark 1
  };
  for (const Case& c : cases) {
    EXPECT_EQ(applyMark(testdata::setMark(c.value, c.mask), c.before), c.after);
  }
}

}  // namespace
}  // namespace xredir::engine
