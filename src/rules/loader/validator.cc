// validator.cc: validateRuleSet, the checks Linux (and iptables' userspace) applies when a
// table is committed: jumps resolve to user chains of the same table, no loops (the kernel's
// mark_source_chains refuses them with ELOOP), targets and matches only from the hooks that
// allow them (the .hooks/.table of xt_nat, xt_REDIRECT, xt_owner, xt_addrtype), ports only
// with a protocol that has them, addresses and sets of the rule set's family.
#include <string>
#include <vector>

#include "rules/loader/chain_index.h"
#include "rules/loader/rule_values.h"
#include "xredir/rule_loader.h"

namespace xredir {
namespace {

constexpr unsigned hookBit(Hook h) {
  return 1u << static_cast<unsigned>(h);
}
constexpr unsigned kPreOut = hookBit(Hook::kPrerouting) | hookBit(Hook::kOutput);
constexpr unsigned kOutPost = hookBit(Hook::kOutput) | hookBit(Hook::kPostrouting);
constexpr unsigned kPreIn = hookBit(Hook::kPrerouting) | hookBit(Hook::kInput);

std::string hookNames(unsigned mask) {
  std::string out;
  for (Hook h :
       {Hook::kPrerouting, Hook::kInput, Hook::kForward, Hook::kOutput, Hook::kPostrouting}) {
    if (mask & hookBit(h)) {
      if (!out.empty()) out += ", ";
      out += hookChainName(h);
    }
  }
  return out;
}

const char* familyName(Family f) {
  return f == Family::kV6 ? "IPv6" : "IPv4";
}

class Validator {
 public:
  explicit Validator(const RuleSet& rules) : rules_(rules) {}
  std::optional<LoadError> run();

 private:
  LoadError error(const Rule& r, std::string reason) const {
    return LoadError{r.where.file, r.where.line, 0, std::move(reason)};
  }
  std::optional<LoadError> checkTable(const TableRules& t);
  std::optional<LoadError> checkRule(const TableRules& t, const Chain& c, const Rule& r);
  std::optional<LoadError> findLoop(const TableRules& t,
                                    std::size_t chain,
                                    std::vector<int>& state);
  void markHooks(const TableRules& t,
                 std::size_t chain,
                 unsigned hook,
                 std::vector<unsigned>& masks);
  // chainIndex returns the position of the first chain named name in the table being checked
  // (the one chain_index_ was built for), or -1.
  int chainIndex(const std::string& name) const {
    const auto pos = chain_index_.find(name);
    return pos ? static_cast<int>(*pos) : -1;
  }

  const RuleSet& rules_;
  loader::ChainIndex chain_index_;  // of the table checkTable is checking
};

std::optional<LoadError> Validator::run() {
  for (std::size_t i = 0; i < rules_.tables.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (rules_.tables[j].table == rules_.tables[i].table) {
        return LoadError{
            "", 0, 0, std::string("table ") + tableName(rules_.tables[i].table) + " appears twice"};
      }
    }
    if (auto e = checkTable(rules_.tables[i])) return e;
  }
  for (const auto& [name, set] : rules_.sets) {
    if (name != set.name) return LoadError{"", 0, 0, "set " + name + " is stored as " + set.name};
    if (set.type != "hash:net" && set.type != "hash:ip") {
      return LoadError{"", 0, 0, "set " + name + " has unsupported type " + set.type};
    }
    for (const Cidr& m : set.members) {
      if (m.addr.family != set.family) {
        return LoadError{"", 0, 0,
                         "set " + name + " holds " + formatCidr(m) + " of the wrong family"};
      }
    }
  }
  return std::nullopt;
}

std::optional<LoadError> Validator::checkTable(const TableRules& t) {
  const std::string table = tableName(t.table);
  chain_index_ = loader::ChainIndex(t);
  for (std::size_t i = 0; i < t.chains.size(); ++i) {
    const Chain& c = t.chains[i];
    // The index holds the first chain of each name: any other position means an earlier chain
    // has the same name.
    if (chain_index_.find(c.name) != i) {
      return LoadError{"", 0, 0, "chain " + c.name + " appears twice in table " + table};
    }
    if (c.builtin) {
      auto h = hookFromChainName(c.name);
      if (!h || !tableHasHook(t.table, *h)) {
        return LoadError{"", 0, 0, "table " + table + " has no built-in chain " + c.name};
      }
    }
    for (const Rule& r : c.rules) {
      if (auto e = checkRule(t, c, r)) return e;
    }
  }
  // Loops, before the hook walk (which assumes a DAG).
  std::vector<int> state(t.chains.size(), 0);
  for (std::size_t i = 0; i < t.chains.size(); ++i) {
    if (state[i] == 0) {
      if (auto e = findLoop(t, i, state)) return e;
    }
  }
  std::vector<unsigned> masks(t.chains.size(), 0);
  for (std::size_t i = 0; i < t.chains.size(); ++i) {
    if (t.chains[i].builtin) markHooks(t, i, hookBit(*hookFromChainName(t.chains[i].name)), masks);
  }
  for (std::size_t i = 0; i < t.chains.size(); ++i) {
    const Chain& c = t.chains[i];
    const unsigned mask = masks[i];
    const std::string via = c.builtin
                                ? "in chain " + c.name
                                : "in chain " + c.name + ", reachable from " + hookNames(mask);
    for (const Rule& r : c.rules) {
      const TargetKind k = r.target.kind;
      if ((k == TargetKind::kRedirect || k == TargetKind::kDnat) && (mask & ~kPreOut) != 0) {
        return error(r, std::string(k == TargetKind::kRedirect ? "REDIRECT" : "DNAT") +
                            " is only valid from PREROUTING and OUTPUT, used " + via);
      }
      if (r.owner && (mask & ~kOutPost) != 0) {
        return error(r, "-m owner is only valid from OUTPUT and POSTROUTING, used " + via);
      }
      if (r.addrtype && r.addrtype->limit_iface_in && (mask & kOutPost) != 0) {
        return error(r, "--limit-iface-in is not valid from OUTPUT or POSTROUTING, used " + via);
      }
      if (r.addrtype && r.addrtype->limit_iface_out && (mask & kPreIn) != 0) {
        return error(r, "--limit-iface-out is not valid from PREROUTING or INPUT, used " + via);
      }
    }
  }
  return std::nullopt;
}

std::optional<LoadError> Validator::findLoop(const TableRules& t,
                                             std::size_t chain,
                                             std::vector<int>& state) {
  // state: 0 unvisited, 1 on the current path, 2 done.
  state[chain] = 1;
  for (const Rule& r : t.chains[chain].rules) {
    if (r.target.kind != TargetKind::kJump && r.target.kind != TargetKind::kGoto) continue;
    const int next = chainIndex(r.target.chain);
    if (next < 0) continue;  // reported by checkRule
    if (state[static_cast<std::size_t>(next)] == 1) {
      return error(r, "loop: chain " + t.chains[chain].name + " jumps to " + r.target.chain +
                          ", which leads back to it (ELOOP)");
    }
    if (state[static_cast<std::size_t>(next)] == 0) {
      if (auto e = findLoop(t, static_cast<std::size_t>(next), state)) return e;
    }
  }
  state[chain] = 2;
  return std::nullopt;
}

void Validator::markHooks(const TableRules& t,
                          std::size_t chain,
                          unsigned hook,
                          std::vector<unsigned>& masks) {
  if (masks[chain] & hook) return;
  masks[chain] |= hook;
  for (const Rule& r : t.chains[chain].rules) {
    if (r.target.kind != TargetKind::kJump && r.target.kind != TargetKind::kGoto) continue;
    const int next = chainIndex(r.target.chain);
    if (next >= 0) markHooks(t, static_cast<std::size_t>(next), hook, masks);
  }
}

std::optional<LoadError> Validator::checkRule(const TableRules& t, const Chain& c, const Rule& r) {
  const Family fam = rules_.family;
  const Target& tg = r.target;
  if (tg.kind == TargetKind::kJump || tg.kind == TargetKind::kGoto) {
    const int idx = chainIndex(tg.chain);
    if (idx < 0) return error(r, "unknown jump target " + tg.chain + " in chain " + c.name);
    if (t.chains[static_cast<std::size_t>(idx)].builtin) {
      return error(r, "cannot jump to built-in chain " + tg.chain);
    }
  }
  if (tg.kind == TargetKind::kDrop && t.table == Table::kNat) {
    return error(r, "DROP is not allowed in the nat table");
  }
  if ((tg.kind == TargetKind::kRedirect || tg.kind == TargetKind::kDnat) &&
      t.table != Table::kNat) {
    return error(r, std::string(tg.kind == TargetKind::kRedirect ? "REDIRECT" : "DNAT") +
                        " is only valid in the nat table, not " + tableName(t.table));
  }
  const bool port_proto = r.protocol && !r.protocol_invert && loader::carriesPorts(*r.protocol);
  for (const auto* pm : {&r.sport, &r.dport, &r.either_port}) {
    if (!pm->has_value()) continue;
    if (!port_proto) return error(r, "a port match needs -p tcp, udp, udplite, sctp or dccp");
    if ((*pm)->ranges.empty()) return error(r, "a port match without ports");
    for (const PortRange& pr : (*pm)->ranges) {
      if (pr.first > pr.last) return error(r, "a port range with first > last");
    }
  }
  if (r.tcp_flags && (!r.protocol || r.protocol_invert || *r.protocol != 6)) {
    return error(r, "--tcp-flags/--syn needs -p tcp");
  }
  if (tg.to_ports) {
    if (!port_proto) return error(r, "a NAT port needs -p tcp, udp, sctp or dccp");
    if (tg.to_ports->first > tg.to_ports->last) return error(r, "a port range with first > last");
  }
  for (const auto* a : {&r.src, &r.dst}) {
    if (a->has_value() && (*a)->cidr.addr.family != fam) {
      return error(r, std::string(familyName((*a)->cidr.addr.family)) + " address " +
                          formatCidr((*a)->cidr) + " in an " + familyName(fam) + " rule set");
    }
  }
  if (tg.kind == TargetKind::kDnat) {
    if (!tg.to_addr_first || !tg.to_addr_last) return error(r, "DNAT without --to-destination");
    for (const auto& a : {*tg.to_addr_first, *tg.to_addr_last}) {
      if (a.family != fam) {
        return error(r, std::string(familyName(a.family)) + " DNAT address " + formatIpAddr(a) +
                            " in an " + familyName(fam) + " rule set");
      }
    }
    if (*tg.to_addr_last < *tg.to_addr_first)
      return error(r, "DNAT address range with first > last");
  }
  for (const SetMatch& s : r.sets) {
    auto it = rules_.sets.find(s.set_name);
    if (it == rules_.sets.end()) return error(r, "set " + s.set_name + " does not exist");
    if (it->second.family != fam) {
      return error(
          r, "set " + s.set_name + " is not of the rule set's family (" + familyName(fam) + ")");
    }
    if (s.dims_are_src.empty() || s.dims_are_src.size() > 6) {
      return error(r, "set match " + s.set_name + " needs 1 to 6 src/dst flags");
    }
  }
  if (r.in_iface && c.builtin && (c.name == "OUTPUT" || c.name == "POSTROUTING")) {
    return error(r, "-i cannot be used in the " + c.name +
                        " chain (packets there have no input "
                        "interface)");
  }
  if (r.out_iface && c.builtin && (c.name == "PREROUTING" || c.name == "INPUT")) {
    return error(r, "-o cannot be used in the " + c.name +
                        " chain (packets there have no output "
                        "interface)");
  }
  return std::nullopt;
}

}  // namespace

std::optional<LoadError> validateRuleSet(const RuleSet& rules) {
  Validator v(rules);
  return v.run();
}

}  // namespace xredir
