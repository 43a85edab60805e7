// rule_set_builder.h owns the test-side vocabulary for writing rule sets and packets as data
// (no loader involved): a fluent Rule builder, chain/table/rule-set helpers, targets, and
// packet makers. Shared by the engine's unit tests, property test, benchmark and fuzz target.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xredir/ip_addr.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir::testdata {

inline IpAddr ip(std::string_view text) {
  return parseIpAddr(text).value();
}
inline Cidr cidr(std::string_view text) {
  return parseCidr(text).value();
}

// ---- targets ----
inline Target target(TargetKind kind) {
  Target t;
  t.kind = kind;
  return t;
}
inline Target accept() {
  return target(TargetKind::kAccept);
}
inline Target drop() {
  return target(TargetKind::kDrop);
}
inline Target ret() {
  return target(TargetKind::kReturn);
}
inline Target log() {
  return target(TargetKind::kLog);
}
inline Target jump(std::string chain) {
  Target t = target(TargetKind::kJump);
  t.chain = std::move(chain);
  return t;
}
inline Target gotoChain(std::string chain) {
  Target t = target(TargetKind::kGoto);
  t.chain = std::move(chain);
  return t;
}
inline Target redirect(std::optional<PortRange> ports = std::nullopt) {
  Target t = target(TargetKind::kRedirect);
  t.to_ports = ports;
  return t;
}
inline Target dnat(IpAddr first, IpAddr last, std::optional<PortRange> ports = std::nullopt) {
  Target t = target(TargetKind::kDnat);
  t.to_ports = ports;
  t.to_addr_first = first;
  t.to_addr_last = last;
  return t;
}
inline Target setMark(std::uint32_t value, std::uint32_t mask) {
  Target t = target(TargetKind::kMark);
  t.mark_value = value;
  t.mark_mask = mask;
  return t;
}

// addrType builds `-m addrtype` (types 0: that side is not checked).
inline AddrTypeMatch addrType(std::uint16_t src_types,
                              bool src_invert,
                              std::uint16_t dst_types,
                              bool dst_invert,
                              bool limit_in = false,
                              bool limit_out = false) {
  AddrTypeMatch m;
  m.src_types = src_types;
  m.src_invert = src_invert;
  m.dst_types = dst_types;
  m.dst_invert = dst_invert;
  m.limit_iface_in = limit_in;
  m.limit_iface_out = limit_out;
  return m;
}

// owner builds `-m owner`.
inline OwnerMatch owner(std::optional<IdRange> uid,
                        bool uid_invert,
                        std::optional<IdRange> gid = std::nullopt,
                        bool gid_invert = false,
                        std::optional<bool> socket_exists = std::nullopt) {
  OwnerMatch m;
  m.uid = uid;
  m.uid_invert = uid_invert;
  m.gid = gid;
  m.gid_invert = gid_invert;
  m.socket_exists = socket_exists;
  return m;
}

// R builds a Rule: R().p(IPPROTO_TCP).d("10.0.0.1").dport(80).j(redirect()).
struct R {
  Rule rule;

  R& p(std::uint8_t proto, bool invert = false) {
    rule.protocol = proto;
    rule.protocol_invert = invert;
    return *this;
  }
  R& s(std::string_view c, bool invert = false) {
    rule.src = AddrMatch{cidr(c), invert};
    return *this;
  }
  R& d(std::string_view c, bool invert = false) {
    rule.dst = AddrMatch{cidr(c), invert};
    return *this;
  }
  static IfaceMatch iface(std::string_view name, bool invert) {
    IfaceMatch m;
    m.wildcard = !name.empty() && name.back() == '+';
    m.name = std::string(m.wildcard ? name.substr(0, name.size() - 1) : name);
    m.invert = invert;
    return m;
  }
  R& i(std::string_view name, bool invert = false) {
    rule.in_iface = iface(name, invert);
    return *this;
  }
  R& o(std::string_view name, bool invert = false) {
    rule.out_iface = iface(name, invert);
    return *this;
  }
  R& sport(std::uint16_t first, std::uint16_t last, bool invert = false) {
    rule.sport = PortMatch{{PortRange{first, last}}, invert};
    return *this;
  }
  R& dport(std::uint16_t port, bool invert = false) { return dports({{port, port}}, invert); }
  R& dports(std::vector<PortRange> ranges, bool invert = false) {
    rule.dport = PortMatch{std::move(ranges), invert};
    return *this;
  }
  R& ports(std::vector<PortRange> ranges, bool invert = false) {
    rule.either_port = PortMatch{std::move(ranges), invert};
    return *this;
  }
  R& tcpFlags(std::uint8_t mask, std::uint8_t comp, bool invert = false) {
    rule.tcp_flags = TcpFlagsMatch{mask, comp, invert};
    return *this;
  }
  R& addrType(AddrTypeMatch m) {
    rule.addrtype = m;
    return *this;
  }
  R& ctState(std::uint8_t states, bool invert = false) {
    rule.ctstate = CtStateMatch{states, invert};
    return *this;
  }
  R& mark(std::uint32_t value, std::uint32_t mask = 0xffffffff, bool invert = false) {
    rule.mark = MarkMatch{value, mask, invert};
    return *this;
  }
  R& owner(OwnerMatch m) {
    rule.owner = m;
    return *this;
  }
  R& set(std::string name, bool src, bool invert = false) {
    rule.sets.push_back(SetMatch{std::move(name), {src}, invert});
    return *this;
  }
  R& nth(std::uint32_t every, std::uint32_t packet, bool invert = false) {
    StatisticMatch m;
    m.mode = StatisticMatch::Mode::kNth;
    m.every = every;
    m.packet = packet;
    m.invert = invert;
    rule.statistic = m;
    return *this;
  }
  R& random(double probability, bool invert = false) {
    StatisticMatch m;
    m.mode = StatisticMatch::Mode::kRandom;
    m.probability = probability;
    m.invert = invert;
    rule.statistic = m;
    return *this;
  }
  R& j(Target t) {
    rule.target = std::move(t);
    return *this;
  }
  operator Rule() const { return rule; }  // NOLINT(google-explicit-constructor): builder
};

inline Chain builtin(std::string name, Policy policy, std::vector<Rule> rules = {}) {
  return Chain{std::move(name), true, policy, std::move(rules)};
}
inline Chain user(std::string name, std::vector<Rule> rules = {}) {
  return Chain{std::move(name), false, Policy::kAccept, std::move(rules)};
}
inline TableRules table(Table t, std::vector<Chain> chains) {
  return TableRules{t, std::move(chains)};
}
inline RuleSet ruleSet(std::vector<TableRules> tables, Family family = Family::kV4) {
  RuleSet rs;
  rs.family = family;
  rs.tables = std::move(tables);
  return rs;
}
inline void addSet(RuleSet& rs,
                   std::string name,
                   std::vector<std::string_view> members,
                   std::string type = "hash:net") {
  IpSet set;
  set.name = name;
  set.type = std::move(type);
  set.family = rs.family;
  for (std::string_view m : members) set.members.push_back(cidr(m));
  rs.sets.emplace(std::move(name), std::move(set));
}

// packet builds a first packet of a connection (SYN for TCP).
inline PacketMeta packet(std::uint8_t proto,
                         std::string_view src,
                         std::uint16_t sport,
                         std::string_view dst,
                         std::uint16_t dport) {
  PacketMeta p;
  p.src = ip(src);
  p.dst = ip(dst);
  p.family = p.src.family;
  p.protocol = proto;
  p.sport = sport;
  p.dport = dport;
  p.tcp_flags = proto == IPPROTO_TCP ? 0x02 : 0;
  return p;
}
inline PacketMeta tcp(std::string_view src,
                      std::uint16_t sport,
                      std::string_view dst,
                      std::uint16_t dport) {
  return packet(IPPROTO_TCP, src, sport, dst, dport);
}

// cat concatenates by appending (GCC 12's -Wrestrict misfires on `"literal" + std::string`).
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (s.append(std::string_view(parts)), ...);
  return s;
}

// sameVerdict compares every field both engines must agree on (chain by name).
inline bool sameVerdict(const Verdict& a, const Verdict& b) {
  return a.kind == b.kind && a.table == b.table && a.chain == b.chain &&
         a.rule_index == b.rule_index && a.to_ports == b.to_ports &&
         a.to_addr_first == b.to_addr_first && a.to_addr_last == b.to_addr_last && a.mark == b.mark;
}

// describeVerdict prints a verdict for failure messages.
inline std::string describeVerdict(const Verdict& v) {
  std::string s = cat(verdictName(v.kind), " ", tableName(v.table), " ", v.chain, " rule ",
                      v.rule_index ? std::to_string(*v.rule_index) : std::string("policy"),
                      " mark ", std::to_string(v.mark));
  if (v.to_ports) {
    s += cat(" ports ", std::to_string(v.to_ports->first), "-", std::to_string(v.to_ports->last));
  }
  if (v.to_addr_first) s += cat(" to ", formatIpAddr(*v.to_addr_first));
  if (v.to_addr_last) s += cat("-", formatIpAddr(*v.to_addr_last));
  return s;
}

}  // namespace xredir::testdata
