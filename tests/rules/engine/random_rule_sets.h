// random_rule_sets.h owns the generator of random rule sets and packets shared by the property
// test (driven by a seeded PRNG) and the fuzz target (driven by FuzzedDataProvider): acyclic
// chains with jumps and gotos, every kind of match with and without inversion, IPv4 and IPv6,
// ipsets, and packets drawn from the same small pools of addresses, ports and interfaces as the
// rules so that they hit them often. Also a printer that describes a rule set and a packet
// for failure messages.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rule_set_builder.h"  // relative: also included from tests/fuzz
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir::testdata {

// PrngSource draws from a seeded std::mt19937_64.
class PrngSource {
 public:
  explicit PrngSource(std::uint64_t seed) : rng_(seed) {}
  // below returns a value in [0, n); n > 0.
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(std::uniform_int_distribution<std::uint32_t>(0, n - 1)(rng_));
  }

 private:
  std::mt19937_64 rng_;
};

template <typename Source>
class RandomRules {
 public:
  RandomRules(Source& source, Family family) : src_(source), family_(family) {
    // Loopback is in the pools so that rules of the tables after nat OUTPUT can match the
    // destination a REDIRECT there gives the packet (DNAT draws its address from the pool).
    const std::vector<const char*> v4 = {"10.0.0.1",       "10.0.1.7",   "10.96.0.10", "192.0.2.5",
                                         "198.51.100.200", "172.16.5.4", "127.0.0.1"};
    const std::vector<const char*> v6 = {"2001:db8::1", "2001:db8:0:1::7",    "fd00::10",
                                         "fd00:1:2::5", "2001:db8:ffff::200", "fe80::4",
                                         "::1"};
    for (const char* a : family == Family::kV4 ? v4 : v6) pool_.push_back(ip(a));
  }

  RuleSet ruleSet() {
    RuleSet rs;
    rs.family = family_;
    for (int s = 0; s < 2; ++s) {
      IpSet set;
      set.name = cat("s", std::to_string(s));
      set.type = s == 0 ? "hash:net" : "hash:ip";
      set.family = family_;
      const std::uint32_t n = pick(4);
      for (std::uint32_t i = 0; i < n; ++i) {
        set.members.push_back(s == 0 ? randomCidr() : fullCidr(address()));
      }
      rs.sets.emplace(set.name, set);
    }
    for (const Table t : {Table::kRaw, Table::kMangle, Table::kNat, Table::kFilter}) {
      if (pick(4) == 0) continue;
      TableRules tr;
      tr.table = t;
      for (const Hook h :
           {Hook::kPrerouting, Hook::kInput, Hook::kForward, Hook::kOutput, Hook::kPostrouting}) {
        if (!tableHasHook(t, h)) continue;
        tr.chains.push_back(
            builtin(hookChainName(h), pick(8) == 0 ? Policy::kDrop : Policy::kAccept));
      }
      const std::uint32_t builtins = static_cast<std::uint32_t>(tr.chains.size());
      const std::uint32_t users = pick(6);
      for (std::uint32_t u = 0; u < users; ++u)
        tr.chains.push_back(user(cat("U", std::to_string(u))));
      for (std::uint32_t c = 0; c < tr.chains.size(); ++c) {
        // Acyclic: a built-in chain may reach any user chain, user chain c only later ones.
        const std::uint32_t first_target = c < builtins ? builtins : c + 1;
        const std::uint32_t n = pick(13);
        for (std::uint32_t r = 0; r < n; ++r) {
          tr.chains[c].rules.push_back(rule(tr, first_target));
        }
      }
      rs.tables.push_back(std::move(tr));
    }
    return rs;
  }

  // packet draws a packet; its views point at static names.
  PacketMeta packet() {
    PacketMeta p;
    p.family = family_;
    const std::uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_SCTP};
    p.protocol = protos[pick(4)];
    p.src = nearAddress();
    p.dst = nearAddress();
    if (p.protocol != IPPROTO_ICMP) {
      p.sport = port();
      p.dport = port();
    }
    p.tcp_flags =
        p.protocol == IPPROTO_TCP ? static_cast<std::uint8_t>(pick(4) == 0 ? pick(64) : 0x02) : 0;
    p.later_fragment = pick(8) == 0;
    p.in_iface = iface();
    p.out_iface = iface();
    const std::uint32_t marks[] = {0, 1, 0x4000, 0x4001, 0xdead};
    p.mark = marks[pick(5)];
    if (pick(3) != 0) {
      p.uid = id();
      if (pick(4) != 0) p.gid = id();
    }
    p.ct_state = static_cast<std::uint8_t>(1u << pick(7));
    return p;
  }

  Hook hook() { return static_cast<Hook>(pick(kNumHooks)); }

 private:
  std::uint32_t pick(std::uint32_t n) { return src_.below(n); }
  bool chance(std::uint32_t one_in) { return pick(one_in) == 0; }

  IpAddr address() { return pool_[pick(static_cast<std::uint32_t>(pool_.size()))]; }
  // nearAddress is a pool address with its last byte sometimes changed, to land inside a
  // prefix but outside a /32.
  IpAddr nearAddress() {
    IpAddr a = address();
    if (chance(3)) a.bytes[a.bitLength() / 8 - 1] = static_cast<std::uint8_t>(pick(256));
    if (chance(8)) a.bytes[1] = static_cast<std::uint8_t>(pick(256));
    return a;
  }
  Cidr fullCidr(const IpAddr& a) { return Cidr{a, static_cast<std::uint8_t>(a.bitLength())}; }
  Cidr randomCidr() {
    const std::uint8_t v4[] = {0, 8, 16, 24, 30, 32};
    const std::uint8_t v6[] = {0, 16, 32, 64, 120, 128};
    const std::uint8_t len = family_ == Family::kV4 ? v4[pick(6)] : v6[pick(6)];
    const IpAddr a = address();
    return Cidr{maskAddr(a, len), len};
  }
  std::uint16_t port() {
    const std::uint16_t ports[] = {22, 53, 80, 443, 8080, 15001};
    return chance(6) ? static_cast<std::uint16_t>(pick(65536)) : ports[pick(6)];
  }
  std::string_view iface() {
    static const char* const names[] = {"", "eth0", "eth1", "lo", "veth12ab"};
    return names[pick(5)];
  }
  IfaceMatch ifaceMatch() {
    static const char* const names[] = {"eth0", "eth1", "lo", "eth+", "veth+", "+", "eth"};
    return R::iface(names[pick(7)], chance(4));
  }
  std::uint32_t id() {
    const std::uint32_t ids[] = {0, 1000, 1337, 65534};
    return ids[pick(4)];
  }
  IdRange idRange() {
    const std::uint32_t a = id();
    return chance(2) ? IdRange{a, a} : IdRange{a, a + 500};
  }
  PortMatch portMatch() {
    PortMatch m;
    const std::uint32_t n = 1 + (chance(3) ? pick(3) : 0);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint16_t first = port();
      const std::uint16_t last =
          chance(3) ? static_cast<std::uint16_t>(std::min<std::uint32_t>(65535, first + pick(1000)))
                    : first;
      m.ranges.push_back(PortRange{first, last});
    }
    m.invert = chance(4);
    return m;
  }

  Rule rule(const TableRules& tr, std::uint32_t first_target) {
    Rule r;
    if (chance(2)) {
      const std::uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 0};
      r.protocol = protos[pick(4)];
      r.protocol_invert = chance(6);
    }
    if (chance(3)) r.src = AddrMatch{randomCidr(), chance(4)};
    if (chance(2)) r.dst = AddrMatch{randomCidr(), chance(5)};
    if (chance(5)) r.in_iface = ifaceMatch();
    if (chance(5)) r.out_iface = ifaceMatch();
    if (chance(6)) r.sport = portMatch();
    if (chance(2)) r.dport = portMatch();
    if (chance(10)) r.either_port = portMatch();
    if (chance(8))
      r.tcp_flags =
          TcpFlagsMatch{0x17, static_cast<std::uint8_t>(chance(2) ? 0x02 : 0x10), chance(3)};
    if (chance(10)) {
      r.addrtype = addrType(chance(2) ? kAddrLocal : 0, chance(3),
                            chance(2) ? kAddrLocal | kAddrBroadcast : kAddrUnicast, chance(3),
                            chance(4), chance(4));
    }
    if (chance(8)) r.ctstate = CtStateMatch{static_cast<std::uint8_t>(1 + pick(127)), chance(3)};
    if (chance(6))
      r.mark = MarkMatch{chance(2) ? 0x4000u : 1u, chance(2) ? 0x4000u : 0xffffffffu, chance(3)};
    if (chance(8)) {
      std::optional<bool> socket;
      if (chance(4)) socket = chance(2);
      r.owner =
          owner(chance(3) ? std::nullopt : std::optional<IdRange>(idRange()), chance(3),
                chance(2) ? std::nullopt : std::optional<IdRange>(idRange()), chance(3), socket);
    }
    if (chance(8)) {
      const char* names[] = {"s0", "s1", "missing"};
      std::vector<bool> dims;
      if (!chance(10)) dims.push_back(chance(2));
      r.sets.push_back(SetMatch{names[pick(3)], dims, chance(3)});
    }
    if (chance(10)) {
      StatisticMatch m;
      if (chance(2)) {
        m.mode = StatisticMatch::Mode::kNth;
        m.every = pick(4);  // includes 0
        m.packet = m.every == 0 ? 0 : pick(m.every);
      } else {
        const double ps[] = {0.0, 0.3, 0.5, 1.0};
        m.probability = ps[pick(4)];
      }
      m.invert = chance(4);
      r.statistic = m;
    }
    r.target = randomTarget(tr, first_target);
    return r;
  }

  Target randomTarget(const TableRules& tr, std::uint32_t first_target) {
    const bool can_jump = first_target < tr.chains.size();
    const std::string chain =
        can_jump ? tr.chains[first_target +
                             pick(static_cast<std::uint32_t>(tr.chains.size()) - first_target)]
                       .name
                 : "";
    switch (pick(12)) {
      case 0:
        return target(TargetKind::kNone);
      case 1:
        return accept();
      case 2:
        return drop();
      case 3:
        return ret();
      case 4:
      case 5:
        return can_jump ? jump(chain) : log();
      case 6:
        return can_jump ? gotoChain(chain) : ret();
      case 7:
        return redirect(chance(3) ? std::nullopt
                                  : std::optional<PortRange>(PortRange{
                                        15001, static_cast<std::uint16_t>(15001 + pick(3))}));
      case 8: {
        const IpAddr a = address();
        return dnat(a, chance(2) ? a : address(),
                    chance(2) ? std::nullopt : std::optional<PortRange>(PortRange{8080, 8080}));
      }
      case 9:
      case 10:
        return setMark(chance(2) ? 0x4000 : 1, chance(2) ? 0x4000 : 0xffffffff);
      default:
        return chance(5) ? jump("MISSING") : log();
    }
  }

  Source& src_;
  Family family_;
  std::vector<IpAddr> pool_;
};

// addrTypeOf is the addrtype lookup the generated rule sets run with: a fixed function of the
// address's last byte and the interface, so that both engines see the same answers.
inline std::uint16_t addrTypeOf(const IpAddr& a, std::string_view iface) {
  const std::uint8_t last = a.bytes[a.bitLength() / 8 - 1];
  std::uint16_t t = last % 3 == 0 ? kAddrLocal : kAddrUnicast;
  if (last == 255) t = kAddrBroadcast;
  if (iface == "lo") t = kAddrLocal;
  return t;
}

inline std::string describePacket(Hook hook, const PacketMeta& p) {
  std::string s =
      cat(hookChainName(hook), " proto ", std::to_string(p.protocol), " ", formatIpAddr(p.src), ":",
          std::to_string(p.sport), " -> ", formatIpAddr(p.dst), ":", std::to_string(p.dport));
  s += cat(" flags ", std::to_string(p.tcp_flags), p.later_fragment ? " later-fragment" : "",
           " in '", p.in_iface, "' out '", p.out_iface, "' mark ", std::to_string(p.mark), " ct ",
           std::to_string(p.ct_state));
  if (p.uid) s += cat(" uid ", std::to_string(*p.uid));
  if (p.gid) s += cat(" gid ", std::to_string(*p.gid));
  return s;
}

// describeRule prints one rule in an iptables-like notation, for failure messages.
inline std::string describeRule(const Rule& r) {
  const auto neg = [](bool invert) { return invert ? " !" : ""; };
  const auto num = [](auto v) { return std::to_string(v); };
  std::string s;
  const auto ports = [&](const char* name, const std::optional<PortMatch>& m) {
    if (!m) return;
    s += cat(neg(m->invert), " ", name, " ");
    for (const PortRange& r : m->ranges) s += cat(num(r.first), ":", num(r.last), ",");
  };
  if (r.protocol) s += cat(neg(r.protocol_invert), " -p ", num(*r.protocol));
  if (r.src) s += cat(neg(r.src->invert), " -s ", formatCidr(r.src->cidr));
  if (r.dst) s += cat(neg(r.dst->invert), " -d ", formatCidr(r.dst->cidr));
  if (r.in_iface) {
    s += cat(neg(r.in_iface->invert), " -i ", r.in_iface->name, r.in_iface->wildcard ? "+" : "");
  }
  if (r.out_iface) {
    s += cat(neg(r.out_iface->invert), " -o ", r.out_iface->name, r.out_iface->wildcard ? "+" : "");
  }
  ports("--sport", r.sport);
  ports("--dport", r.dport);
  ports("--ports", r.either_port);
  if (r.tcp_flags) {
    s += cat(neg(r.tcp_flags->invert), " --tcp-flags ", num(r.tcp_flags->mask), "/",
             num(r.tcp_flags->comp));
  }
  if (const auto& a = r.addrtype) {
    s += cat(" addrtype", neg(a->src_invert), " src ", num(a->src_types), neg(a->dst_invert),
             " dst ", num(a->dst_types), a->limit_iface_in ? " lim-in" : "",
             a->limit_iface_out ? " lim-out" : "");
  }
  if (r.ctstate) s += cat(neg(r.ctstate->invert), " ctstate ", num(r.ctstate->states));
  if (r.mark) s += cat(neg(r.mark->invert), " mark ", num(r.mark->value), "/", num(r.mark->mask));
  if (const auto& o = r.owner) {
    s += " owner";
    if (o->uid) s += cat(neg(o->uid_invert), " uid ", num(o->uid->first), "-", num(o->uid->last));
    if (o->gid) s += cat(neg(o->gid_invert), " gid ", num(o->gid->first), "-", num(o->gid->last));
    if (o->socket_exists) s += *o->socket_exists ? " socket-exists" : " ! socket-exists";
  }
  for (const SetMatch& m : r.sets) {
    s += cat(neg(m.invert), " set ", m.set_name,
             m.dims_are_src.empty() ? ""
             : m.dims_are_src[0]    ? " src"
                                    : " dst");
  }
  if (const auto& st = r.statistic) {
    s += neg(st->invert);
    s += st->mode == StatisticMatch::Mode::kNth ? cat(" nth ", num(st->every), "/", num(st->packet))
                                                : cat(" random ", num(st->probability));
  }
  switch (r.target.kind) {
    case TargetKind::kNone:
      break;
    case TargetKind::kAccept:
      s += " -j ACCEPT";
      break;
    case TargetKind::kDrop:
      s += " -j DROP";
      break;
    case TargetKind::kReturn:
      s += " -j RETURN";
      break;
    case TargetKind::kJump:
      s += cat(" -j ", r.target.chain);
      break;
    case TargetKind::kGoto:
      s += cat(" -g ", r.target.chain);
      break;
    case TargetKind::kRedirect:
      s += " -j REDIRECT";
      break;
    case TargetKind::kDnat:
      s += " -j DNAT";
      break;
    case TargetKind::kMark:
      s += cat(" -j MARK ", num(r.target.mark_value), "/", num(r.target.mark_mask));
      break;
    case TargetKind::kLog:
      s += " -j LOG";
      break;
  }
  return s;
}

// describeRuleSet prints a rule set compactly, one rule per line, for failure messages.
inline std::string describeRuleSet(const RuleSet& rs) {
  std::string out;
  for (const auto& [name, set] : rs.sets) {
    out += cat("set ", name, " ", set.type, ":");
    for (const Cidr& c : set.members) out += cat(" ", formatCidr(c));
    out += "\n";
  }
  for (const TableRules& tr : rs.tables) {
    out += cat("*", tableName(tr.table), "\n");
    for (const Chain& c : tr.chains) {
      out += cat(":", c.name,
                 c.builtin ? (c.policy == Policy::kDrop ? " DROP\n" : " ACCEPT\n") : " -\n");
      for (const Rule& r : c.rules) out += cat("-A ", c.name, describeRule(r), "\n");
    }
  }
  return out;
}

}  // namespace xredir::testdata
