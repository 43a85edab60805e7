// probe_generator.cc: probe addresses and ports from the rules, filtered to what the lab carries.
#include "e2e/differential/probe_generator.h"

#include <algorithm>
#include <optional>
#include <sstream>

namespace xredir::difftest {
namespace {

// kMaxPortsPerRange bounds how many listeners one --to-ports range opens.
constexpr std::uint32_t kMaxPortsPerRange = 8;

IpAddr addr(const char* text) {
  return *parseIpAddr(text);
}

// addOffset adds a signed offset to an address, wrapping within its family's width.
IpAddr addOffset(IpAddr a, std::int64_t delta) {
  const int n = a.bitLength() / 8;
  std::int64_t carry = delta;
  for (int i = n - 1; i >= 0 && carry != 0; --i) {
    const std::int64_t sum = static_cast<std::int64_t>(a.bytes[i]) + (carry % 256);
    carry /= 256;
    std::int64_t byte = sum;
    if (byte < 0) {
      byte += 256;
      carry -= 1;
    } else if (byte > 255) {
      byte -= 256;
      carry += 1;
    }
    a.bytes[i] = static_cast<std::uint8_t>(byte);
  }
  return a;
}

IpAddr randomInside(const Cidr& c, std::mt19937& rng) {
  IpAddr a = c.addr;
  const int len = a.bitLength();
  for (int bit = c.prefix_len; bit < len; ++bit) {
    if (rng() & 1) a.bytes[bit / 8] ^= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  }
  return a;
}

IpAddr lastOf(const Cidr& c) {
  IpAddr a = c.addr;
  for (int bit = c.prefix_len; bit < a.bitLength(); ++bit) {
    a.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  }
  return a;
}

bool isV6Prefix(const IpAddr& a, const char* prefix_text) {
  return parseCidr(prefix_text)->contains(a);
}

// isMartian: addresses no test packet should carry as a destination, because routing drops
// them before or after the rules (Linux's martian checks) or the lab has nothing behind them.
bool isMartian(const IpAddr& a) {
  if (a.family == Family::kV4) {
    const std::uint8_t b0 = a.bytes[0];
    if (b0 == 0 || b0 == 127 || b0 >= 224) return true;
    return b0 == 169 && a.bytes[1] == 254;
  }
  return isV6Prefix(a, "::/96") || isV6Prefix(a, "::ffff:0:0/96") || isV6Prefix(a, "fe80::/10") ||
         isV6Prefix(a, "ff00::/8");
}

bool isLoopback(const IpAddr& a) {
  return a.family == Family::kV4 ? a.bytes[0] == 127 : a == addr("::1");
}

void addCidrCandidates(const Cidr& c, std::mt19937& rng, std::vector<IpAddr>* out) {
  const int len = c.addr.bitLength();
  out->push_back(c.prefix_len == len ? c.addr : addOffset(c.addr, 1));
  out->push_back(randomInside(c, rng));
  if (c.prefix_len > 0) {
    out->push_back(addOffset(c.addr, -1));
    out->push_back(addOffset(lastOf(c), 1));
  }
}

void addPortCandidates(const PortRange& r, std::vector<std::uint16_t>* out) {
  for (int p : {static_cast<int>(r.first), r.first - 1, static_cast<int>(r.last), r.last + 1}) {
    if (p >= 1 && p <= 65535) out->push_back(static_cast<std::uint16_t>(p));
  }
}

void addIdCandidates(const IdRange& r, std::vector<std::uint32_t>* out) {
  out->push_back(r.first);
  out->push_back(r.last);
  out->push_back(r.last + 1);
  if (r.first > 0) out->push_back(r.first - 1);
}

template <typename T>
const T& pick(const std::vector<T>& v, std::mt19937& rng) {
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

bool chance(std::mt19937& rng, double p) {
  return std::uniform_real_distribution<>(0, 1)(rng) < p;
}

struct Pools {
  std::vector<IpAddr> addrs;
  std::vector<std::uint16_t> ports;
  std::vector<std::uint32_t> uids{0, 1000, 1337, 1500, 5678, 65534};
  std::vector<std::uint32_t> gids{0, 1000, 1337, 1500, 5678, 65534};
};

Pools collectPools(const RuleSet& rules,
                   const std::set<std::uint16_t>& listener_ports,
                   std::mt19937& rng) {
  Pools pools;
  const Family f = rules.family;
  for (const TableRules& table : rules.tables) {
    for (const Chain& chain : table.chains) {
      for (const Rule& r : chain.rules) {
        for (const auto* m : {&r.src, &r.dst}) {
          if (*m && (*m)->cidr.addr.family == f) addCidrCandidates((*m)->cidr, rng, &pools.addrs);
        }
        for (const auto* m : {&r.dport, &r.sport, &r.either_port}) {
          if (!*m) continue;
          for (const PortRange& pr : (*m)->ranges) addPortCandidates(pr, &pools.ports);
        }
        if (r.owner && r.owner->uid) addIdCandidates(*r.owner->uid, &pools.uids);
        if (r.owner && r.owner->gid) addIdCandidates(*r.owner->gid, &pools.gids);
        if (r.target.to_ports) addPortCandidates(*r.target.to_ports, &pools.ports);
        if (r.target.to_addr_first) pools.addrs.push_back(*r.target.to_addr_first);
      }
    }
  }
  for (const auto& [name, set] : rules.sets) {
    if (set.family != f) continue;
    for (const Cidr& c : set.members) addCidrCandidates(c, rng, &pools.addrs);
  }
  const std::vector<const char*> base =
      f == Family::kV4 ? std::vector<const char*>{"203.0.113.7", "93.184.216.34", "10.1.2.3",
                                                  "172.16.5.4",  "192.168.0.10",  "1.1.1.1",
                                                  "127.0.0.1",   "127.0.0.5",     "127.0.0.6"}
                       : std::vector<const char*>{"2001:db8::7", "2001:db8:1::1",
                                                  "2606:2800:220:1::1", "::1", "::6"};
  for (const char* text : base) pools.addrs.push_back(addr(text));
  for (std::uint16_t p : {22, 53, 80, 443, 8080, 15001, 15006, 15008, 15090})
    pools.ports.push_back(p);
  for (std::uint16_t p : listener_ports) pools.ports.push_back(p);
  return pools;
}

IpAddr randomPublic(Family f, std::mt19937& rng) {
  if (f == Family::kV4) {
    return IpAddr::fromV4(
        std::uniform_int_distribution<std::uint32_t>(0x01000000u, 0xdfffffffu)(rng));
  }
  IpAddr a = addr("2001:db8::");
  for (int i = 4; i < 16; ++i) a.bytes[i] = static_cast<std::uint8_t>(rng());
  return a;
}

// ifaceMatches is xt's interface match: exact name, or prefix when the rule ends in '+'.
bool ifaceMatches(const IfaceMatch& m, const std::string& name) {
  const bool hit = m.wildcard ? name.rfind(m.name, 0) == 0 : name == m.name;
  return hit != m.invert;
}

// pickPortFrom picks a port that satisfies `want` (inside a range, or outside when inverted).
std::uint16_t pickPortFrom(const std::vector<std::uint16_t>& pool,
                           const std::optional<PortMatch>& want,
                           std::mt19937& rng) {
  if (!want || want->ranges.empty()) return pool[rng() % pool.size()];
  for (int attempt = 0; attempt < 64; ++attempt) {
    const PortRange& r = want->ranges[rng() % want->ranges.size()];
    const std::uint16_t p =
        want->invert ? static_cast<std::uint16_t>(rng() % 65535 + 1)
                     : static_cast<std::uint16_t>(r.first + rng() % (r.last - r.first + 1u));
    bool inside = false;
    for (const PortRange& x : want->ranges) inside = inside || (p >= x.first && p <= x.last);
    if (inside != want->invert) return p;
  }
  return pool[rng() % pool.size()];
}

}  // namespace

std::uint16_t SourcePorts::next(const std::set<std::uint16_t>& avoid) {
  for (;;) {
    if (next_ > 60000) next_ = 20000;
    const auto port = static_cast<std::uint16_t>(next_++);
    if (avoid.count(port) == 0 && port != kServerCatchPort) return port;
  }
}

std::set<std::uint16_t> listenerPortsFor(const RuleSet& rules) {
  std::set<std::uint16_t> ports{8080, 15008};
  for (const TableRules& table : rules.tables) {
    for (const Chain& chain : table.chains) {
      for (const Rule& r : chain.rules) {
        if (!r.target.to_ports) continue;
        const PortRange& pr = *r.target.to_ports;
        for (std::uint32_t p = pr.first; p <= pr.last && p - pr.first < kMaxPortsPerRange; ++p) {
          ports.insert(static_cast<std::uint16_t>(p));
        }
      }
    }
  }
  return ports;
}

std::string generateProbes(const RuleSet& rules,
                           const NetnsLab& lab,
                           const AddrTypeLookup& addr_type,
                           const std::set<std::uint16_t>& listener_ports,
                           ProbeCounts counts,
                           const std::vector<Probe>& explicit_probes,
                           std::mt19937& rng,
                           SourcePorts& sports,
                           std::vector<Probe>* probes) {
  const Family f = rules.family;
  const bool v4 = f == Family::kV4;
  const Pools pools = collectPools(rules, listener_ports, rng);
  const auto isLocal = [&](const IpAddr& a) { return (addr_type(a, "") & kAddrLocal) != 0; };

  std::vector<IpAddr> node_addrs;  // the node's non-loopback addresses of this family
  for (const ClientLink& link : lab.clientLinks())
    node_addrs.push_back(v4 ? link.node_v4 : link.node_v6);
  node_addrs.push_back(v4 ? lab.nodeUplinkV4() : lab.nodeUplinkV6());
  const IpAddr server = v4 ? lab.serverV4() : lab.serverV6();

  // labLinkOk: inside a lab link, only the node's and the server's own addresses answer.
  const auto labLinkOk = [&](const IpAddr& a) {
    std::vector<Cidr> subnets{lab.uplinkSubnet(f)};
    for (const ClientLink& link : lab.clientLinks())
      subnets.push_back(v4 ? link.subnet_v4 : link.subnet_v6);
    for (const Cidr& c : subnets) {
      if (!c.contains(a)) continue;
      return a == server || std::find(node_addrs.begin(), node_addrs.end(), a) != node_addrs.end();
    }
    return true;
  };
  std::vector<IpAddr> pre_dsts, out_dsts;
  std::vector<IpAddr> candidates = pools.addrs;
  candidates.insert(candidates.end(), node_addrs.begin(), node_addrs.end());
  candidates.push_back(server);
  for (const IpAddr& a : candidates) {
    if (a.family != f || !labLinkOk(a)) continue;
    if (!isMartian(a)) pre_dsts.push_back(a);
    if (!isMartian(a) || isLoopback(a) || isLocal(a)) out_dsts.push_back(a);
  }
  const auto pickPort = [&]() -> std::uint16_t {
    if (chance(rng, 0.8)) return pick(pools.ports, rng);
    return static_cast<std::uint16_t>(std::uniform_int_distribution<int>(1, 65535)(rng));
  };
  const auto pickDst = [&](const std::vector<IpAddr>& pool) {
    if (chance(rng, 0.75)) return pick(pool, rng);
    for (;;) {
      const IpAddr a = randomPublic(f, rng);
      if (!isMartian(a) && labLinkOk(a)) return a;
    }
  };

  const auto outputSources = [&](const IpAddr& dst) {
    std::vector<IpAddr> srcs = node_addrs;
    if (isLocal(dst)) {
      // Loopback sources may only talk to local destinations (the route must be via lo).
      if (v4) {
        srcs.push_back(addr("127.0.0.1"));
        srcs.push_back(addr("127.0.0.6"));
      } else {
        srcs.push_back(lab.nodeLoopbackExtraV6());
        if (dst == addr("::1")) srcs = {addr("::1")};
      }
    }
    return srcs;
  };
  std::vector<size_t> output_index;
  const auto addPrerouting = [&](const ClientLink& link, const IpAddr& dst, std::uint16_t dport,
                                 const std::optional<AddrMatch>& want_src) {
    Probe p;
    p.hook = Hook::kPrerouting;
    p.family = f;
    p.client_iface = link.client_iface;
    p.in_iface = link.node_iface;
    const std::vector<IpAddr>& srcs = v4 ? link.client_v4 : link.client_v6;
    p.src = pick(srcs, rng);
    for (const IpAddr& a : srcs) {
      if (want_src && want_src->cidr.contains(a) != want_src->invert) p.src = a;
    }
    p.dst = dst;
    p.dport = dport;
    p.sport = sports.next(listener_ports);
    probes->push_back(p);
  };
  const auto addOutput = [&](const IpAddr& dst, std::uint16_t dport, std::uint32_t uid,
                             std::uint32_t gid, const std::optional<AddrMatch>& want_src) {
    Probe p;
    p.hook = Hook::kOutput;
    p.family = f;
    p.dst = dst;
    p.dport = dport;
    p.uid = uid;
    p.gid = gid;
    const std::vector<IpAddr> srcs = outputSources(dst);
    p.src = pick(srcs, rng);
    for (const IpAddr& a : srcs) {
      if (want_src && want_src->cidr.contains(a) != want_src->invert && chance(rng, 0.7)) p.src = a;
    }
    p.sport = sports.next(listener_ports);
    output_index.push_back(probes->size());
    probes->push_back(p);
  };

  for (const Probe& e : explicit_probes) {
    if (e.hook == Hook::kPrerouting) {
      for (const ClientLink& link : lab.clientLinks()) {
        if (link.node_iface == e.in_iface) addPrerouting(link, e.dst, e.dport, std::nullopt);
      }
    } else {
      // The first node address (eth1's) is a routed source for any destination.
      const std::optional<AddrMatch> src = AddrMatch{
          Cidr{node_addrs[0], static_cast<std::uint8_t>(node_addrs[0].bitLength())}, false};
      addOutput(e.dst, e.dport, e.uid, e.gid, isLocal(e.dst) ? std::nullopt : src);
    }
  }

  // Directed probes: for each rule, a packet that satisfies the rule's own matches where the
  // lab can make one, so that rules deep in a chain are reached, not only the common paths.
  for (const TableRules& table : rules.tables) {
    for (const Chain& chain : table.chains) {
      for (const Rule& r : chain.rules) {
        std::vector<IpAddr> dsts;
        for (const IpAddr& a : pools.addrs) {
          if (a.family == f && (!r.dst || r.dst->cidr.contains(a) != r.dst->invert))
            dsts.push_back(a);
        }
        for (const IpAddr& a : node_addrs) {
          if (!r.dst || r.dst->cidr.contains(a) != r.dst->invert) dsts.push_back(a);
        }
        std::uint16_t dport = pickPortFrom(pools.ports, r.dport, rng);
        const bool output_only = r.out_iface || r.owner;
        const bool pre_only = r.in_iface.has_value();
        if (!output_only) {
          std::vector<IpAddr> ok;
          for (const IpAddr& a : dsts) {
            if (!isMartian(a) && labLinkOk(a)) ok.push_back(a);
          }
          const ClientLink* link = &lab.clientLinks()[rng() % 2];
          for (const ClientLink& l : lab.clientLinks()) {
            if (r.in_iface && ifaceMatches(*r.in_iface, l.node_iface)) link = &l;
          }
          if (!ok.empty()) addPrerouting(*link, pick(ok, rng), dport, r.src);
        }
        if (!pre_only) {
          std::vector<IpAddr> ok;
          for (const IpAddr& a : dsts) {
            if (!labLinkOk(a) || (isMartian(a) && !isLoopback(a) && !isLocal(a))) continue;
            // -o lo wants a local destination; -o eth0 a routed one.
            if (r.out_iface && ifaceMatches(*r.out_iface, isLocal(a) ? "lo" : "eth0") == false)
              continue;
            ok.push_back(a);
          }
          std::uint32_t uid = pick(pools.uids, rng);
          std::uint32_t gid = chance(rng, 0.5) ? uid : pick(pools.gids, rng);
          if (r.owner && r.owner->uid)
            uid = r.owner->uid_invert ? r.owner->uid->last + 1 : r.owner->uid->first;
          if (r.owner && r.owner->gid)
            gid = r.owner->gid_invert ? r.owner->gid->last + 1 : r.owner->gid->first;
          if (!ok.empty()) addOutput(pick(ok, rng), dport, uid, gid, r.src);
        }
      }
    }
  }

  for (int i = 0; i < counts.prerouting; ++i) {
    const ClientLink& link = lab.clientLinks()[chance(rng, 0.7) ? 0 : 1];
    addPrerouting(link, pickDst(pre_dsts), pickPort(), std::nullopt);
  }
  for (int i = 0; i < counts.output; ++i) {
    const IpAddr dst = pickDst(out_dsts);
    const std::uint32_t uid = pick(pools.uids, rng);
    addOutput(dst, pickPort(), uid, chance(rng, 0.5) ? uid : pick(pools.gids, rng), std::nullopt);
  }

  // The OUTPUT hook sees the interface of the route chosen at connect(): ask the node.
  std::string batch;
  for (size_t i : output_index) {
    const Probe& p = (*probes)[i];
    batch += "route get " + formatIpAddr(p.dst) + " from " + formatIpAddr(p.src) + "\n";
  }
  if (batch.empty()) return "";
  const CommandResult r = runCommand("ip -o -n " + lab.nodeName() + " -batch -", batch);
  if (r.status != 0) return "ip route get: " + r.output;
  std::istringstream lines(r.output);
  std::string line;
  size_t k = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (k >= output_index.size()) return "ip route get: more lines than queries: " + r.output;
    const size_t dev = line.find(" dev ");
    if (dev == std::string::npos) return "ip route get: no device in: " + line;
    const size_t start = dev + 5;
    (*probes)[output_index[k]].out_iface = line.substr(start, line.find(' ', start) - start);
    ++k;
  }
  if (k != output_index.size()) return "ip route get: fewer lines than queries: " + r.output;
  return "";
}

}  // namespace xredir::difftest
