// step_rules.h: the rule set the per-packet step tests (and the benchmarks) run against, built
// as data (rule_model.h) so the tests do not depend on the iptables-save loader:
//   mangle PREROUTING  -p tcp --dport 666 -j DROP
//   nat PREROUTING     -p tcp --dport 80   -j REDIRECT --to-ports 15001
//                      -p udp --dport 53   -j REDIRECT --to-ports 15053
//                      -p tcp --dport 8080 -j DNAT --to-destination <dnat_to>:9090
//                      -p tcp --dport 81   -j REDIRECT
// Everything else: ACCEPT by policy.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "xredir/rule_model.h"

namespace xredir::cttest {

inline Rule portRule(std::uint8_t proto, std::uint16_t dport, TargetKind kind) {
  Rule r;
  r.protocol = proto;
  r.dport = PortMatch{{PortRange{dport, dport}}, false};
  r.target.kind = kind;
  return r;
}

inline Chain builtinChain(const char* name, std::vector<Rule> rules = {}) {
  Chain c;
  c.name = name;
  c.builtin = true;
  c.policy = Policy::kAccept;
  c.rules = std::move(rules);
  return c;
}

inline RuleSet stepRuleSet(Family family) {
  RuleSet rs;
  rs.family = family;
  TableRules mangle;
  mangle.table = Table::kMangle;
  mangle.chains = {builtinChain("PREROUTING", {portRule(6, 666, TargetKind::kDrop)}),
                   builtinChain("INPUT"), builtinChain("FORWARD"), builtinChain("OUTPUT"),
                   builtinChain("POSTROUTING")};
  Rule redirect_http = portRule(6, 80, TargetKind::kRedirect);
  redirect_http.target.to_ports = PortRange{15001, 15001};
  Rule redirect_dns = portRule(17, 53, TargetKind::kRedirect);
  redirect_dns.target.to_ports = PortRange{15053, 15053};
  Rule dnat = portRule(6, 8080, TargetKind::kDnat);
  dnat.target.to_addr_first = *parseIpAddr(family == Family::kV4 ? "192.0.2.10" : "2001:db8:d::10");
  dnat.target.to_addr_last = dnat.target.to_addr_first;
  dnat.target.to_ports = PortRange{9090, 9090};
  Rule redirect_keep = portRule(6, 81, TargetKind::kRedirect);
  TableRules nat;
  nat.table = Table::kNat;
  nat.chains = {builtinChain("PREROUTING", {redirect_http, redirect_dns, dnat, redirect_keep}),
                builtinChain("INPUT"), builtinChain("OUTPUT"), builtinChain("POSTROUTING")};
  rs.tables = {mangle, nat};
  return rs;
}

}  // namespace xredir::cttest
