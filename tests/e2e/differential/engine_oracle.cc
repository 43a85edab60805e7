// engine_oracle.cc: verdicts of both engines and the outcome each implies in the namespaces.
#include "e2e/differential/engine_oracle.h"

#include <netinet/in.h>

#include <algorithm>
#include <cmath>

namespace xredir::difftest {
namespace {

// kMaxRandomPaths bounds the enumeration of `-m statistic --mode random` outcomes per probe.
constexpr int kMaxRandomPaths = 64;
constexpr std::uint8_t kTcpSyn = 0x02;

// A draw of 0 matches any `--probability p > 0`; the largest double below 1 matches none < 1.
const double kDrawMatch = 0.0;
const double kDrawMiss = std::nextafter(1.0, 0.0);

// enumerateVerdicts runs `eval` once per path through the random draws it makes (depth-first:
// a path is the list of draw results; draws past the end of the list match) and returns the
// distinct verdicts, described, in first-seen order.
template <typename Eval>
std::vector<std::pair<std::string, Verdict>> enumerateVerdicts(const EvalContext& base, Eval eval) {
  std::vector<std::pair<std::string, Verdict>> out;
  std::vector<std::vector<bool>> todo{{}};
  int runs = 0;
  while (!todo.empty() && runs < kMaxRandomPaths) {
    const std::vector<bool> path = todo.back();
    todo.pop_back();
    ++runs;
    size_t draws = 0;
    EvalContext ctx = base;
    ctx.random_unit = [&]() {
      const bool match = draws < path.size() ? path[draws] : true;
      ++draws;
      return match ? kDrawMatch : kDrawMiss;
    };
    const Verdict v = eval(ctx);
    for (size_t k = path.size(); k < draws; ++k) {
      std::vector<bool> next = path;
      next.resize(k, true);
      next.push_back(false);
      todo.push_back(std::move(next));
    }
    const std::string text = describeVerdict(v);
    if (std::none_of(out.begin(), out.end(), [&](const auto& e) { return e.first == text; })) {
      out.emplace_back(text, v);
    }
  }
  return out;
}

}  // namespace

std::uint16_t pickNatPort(const PortRange& range, std::uint16_t original) {
  if (original >= range.first && original <= range.last) return original;
  return range.first;
}

std::string describeVerdict(const Verdict& v) {
  std::string s = verdictName(v.kind);
  s += std::string(" by ") + tableName(v.table) + "/" + std::string(v.chain) + " ";
  s += v.rule_index ? "rule " + std::to_string(*v.rule_index) : std::string("policy");
  if (v.to_addr_first) {
    s += " to-addr " + formatIpAddr(*v.to_addr_first);
    if (v.to_addr_last && *v.to_addr_last != *v.to_addr_first) {
      s += "-" + formatIpAddr(*v.to_addr_last);
    }
  }
  if (v.to_ports) {
    s += " to-ports " + std::to_string(v.to_ports->first);
    if (v.to_ports->last != v.to_ports->first) s += "-" + std::to_string(v.to_ports->last);
  }
  if (v.mark != 0) s += " mark " + std::to_string(v.mark);
  return s;
}

EngineOracle::EngineOracle(const RuleSet& rules,
                           const NetnsLab& lab,
                           AddrTypeLookup addr_type,
                           std::set<std::uint16_t> listener_ports)
    : lab_(lab),
      reference_(rules),
      compiled_(compileRuleSet(rules)),
      addr_type_(std::move(addr_type)),
      listener_ports_(std::move(listener_ports)) {}

PacketMeta EngineOracle::packetOf(const Probe& p) {
  PacketMeta m;
  m.family = p.family;
  m.protocol = IPPROTO_TCP;
  m.src = p.src;
  m.dst = p.dst;
  m.sport = p.sport;
  m.dport = p.dport;
  m.tcp_flags = kTcpSyn;
  m.mark = 0;
  m.ct_state = kCtNew;
  if (p.hook == Hook::kPrerouting) {
    m.in_iface = p.in_iface;
  } else {
    m.out_iface = p.out_iface;
    m.uid = p.uid;
    m.gid = p.gid;
  }
  return m;
}

bool EngineOracle::isLocal(const IpAddr& addr) const {
  return (addr_type_(addr, "") & kAddrLocal) != 0;
}

Outcome EngineOracle::deliver(const Probe& p,
                              const IpAddr& addr,
                              std::uint16_t port,
                              const Endpoint& local_original) const {
  Outcome o;
  const bool loopback_src =
      p.family == Family::kV4 ? p.src.bytes[0] == 127 : p.src == *parseIpAddr("::1");
  if (loopback_src && !isLocal(addr)) {
    // A loopback source may not leave lo: when NAT sends such a connection to a routed
    // address, the re-route after OUTPUT (ip_route_me_harder) fails and the SYN is dropped.
    o.kind = OutcomeKind::kNoConnection;
    return o;
  }
  if (isLocal(addr)) {
    if (listener_ports_.count(port) == 0) {
      o.kind = OutcomeKind::kRefused;
      return o;
    }
    o.kind = OutcomeKind::kNodeListener;
    o.listener_port = port;
    o.original_dst = local_original;
    return o;
  }
  o.kind = OutcomeKind::kServer;
  o.original_dst = Endpoint{addr, port};  // what arrives at the server is the translated dst
  return o;
}

Outcome EngineOracle::outcomeOf(const Probe& p, const Verdict& v) const {
  const Endpoint original{p.dst, p.dport};
  switch (v.kind) {
    case VerdictKind::kDrop: {
      Outcome o;
      o.kind = OutcomeKind::kNoConnection;
      return o;
    }
    case VerdictKind::kAccept:
      return deliver(p, p.dst, p.dport, original);
    case VerdictKind::kRedirect: {
      const std::uint16_t port = v.to_ports ? pickNatPort(*v.to_ports, p.dport) : p.dport;
      // REDIRECT sends locally generated packets to the loopback address and incoming ones to
      // the primary address of the interface they arrived on (nf_nat_redirect_ipv4/ipv6).
      IpAddr redirect_addr;
      std::optional<IpAddr> expect_local;
      if (p.hook == Hook::kOutput) {
        redirect_addr = *parseIpAddr(p.family == Family::kV4 ? "127.0.0.1" : "::1");
        expect_local = redirect_addr;
      } else {
        for (const ClientLink& link : lab_.clientLinks()) {
          if (link.node_iface != p.in_iface) continue;
          redirect_addr = p.family == Family::kV4 ? link.node_v4 : link.node_v6;
          // IPv6 picks among the interface's addresses; only IPv4's choice is checked.
          if (p.family == Family::kV4) expect_local = redirect_addr;
        }
      }
      Outcome o = deliver(p, redirect_addr, port, original);
      if (o.kind == OutcomeKind::kNodeListener) o.local_addr = expect_local;
      return o;
    }
    case VerdictKind::kDnat: {
      const std::uint16_t port = v.to_ports ? pickNatPort(*v.to_ports, p.dport) : p.dport;
      const IpAddr to = v.to_addr_first ? *v.to_addr_first : p.dst;
      return deliver(p, to, port, original);
    }
  }
  Outcome o;
  o.detail = "unknown verdict kind";
  return o;
}

EngineAnswer EngineOracle::ask(const Probe& p) const {
  EngineAnswer answer;
  EvalContext ctx;
  ctx.addr_type = addr_type_;
  const PacketMeta packet = packetOf(p);
  const auto ref = enumerateVerdicts(
      ctx, [&](const EvalContext& c) { return reference_.evaluate(p.hook, packet, c); });
  const auto comp = enumerateVerdicts(
      ctx, [&](const EvalContext& c) { return evaluateCompiled(*compiled_, p.hook, packet, c); });
  for (const auto& [text, verdict] : ref) {
    answer.reference.push_back(text);
    answer.kinds.push_back(verdict.kind);
    answer.expected.push_back(outcomeOf(p, verdict));
  }
  for (const auto& [text, verdict] : comp) answer.compiled.push_back(text);
  std::sort(answer.reference.begin(), answer.reference.end());
  std::sort(answer.compiled.begin(), answer.compiled.end());
  return answer;
}

}  // namespace xredir::difftest
