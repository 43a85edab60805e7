// rule_set_equal.h owns the equality the loader's round-trip property is stated in: two rule
// sets are equal when every table, chain, rule field and set is, ignoring where a rule came
// from (SourceLocation). Header-only, shared by the loader tests and the loader fuzz target.
#pragma once

#include <string>

#include "xredir/rule_model.h"

namespace xredir::testing {

// DiffRuleSets returns "" when a and b are equal up to SourceLocation, else a description of
// the first difference.
inline std::string diffRuleSets(const RuleSet& a, const RuleSet& b);

namespace detail {

template <typename T>
bool eq(const std::optional<T>& a, const std::optional<T>& b);

inline bool eq(const AddrMatch& a, const AddrMatch& b) {
  return a.cidr == b.cidr && a.invert == b.invert;
}
inline bool eq(const IfaceMatch& a, const IfaceMatch& b) {
  return a.name == b.name && a.wildcard == b.wildcard && a.invert == b.invert;
}
inline bool eq(const PortMatch& a, const PortMatch& b) {
  return a.ranges == b.ranges && a.invert == b.invert;
}
inline bool eq(const TcpFlagsMatch& a, const TcpFlagsMatch& b) {
  return a.mask == b.mask && a.comp == b.comp && a.invert == b.invert;
}
inline bool eq(const AddrTypeMatch& a, const AddrTypeMatch& b) {
  return a.src_types == b.src_types && a.src_invert == b.src_invert && a.dst_types == b.dst_types &&
         a.dst_invert == b.dst_invert && a.limit_iface_in == b.limit_iface_in &&
         a.limit_iface_out == b.limit_iface_out;
}
inline bool eq(const CtStateMatch& a, const CtStateMatch& b) {
  return a.states == b.states && a.invert == b.invert;
}
inline bool eq(const MarkMatch& a, const MarkMatch& b) {
  return a.value == b.value && a.mask == b.mask && a.invert == b.invert;
}
inline bool eq(const IdRange& a, const IdRange& b) {
  return a.first == b.first && a.last == b.last;
}
inline bool eq(const OwnerMatch& a, const OwnerMatch& b) {
  return eq(a.uid, b.uid) && a.uid_invert == b.uid_invert && eq(a.gid, b.gid) &&
         a.gid_invert == b.gid_invert && a.socket_exists == b.socket_exists;
}
inline bool eq(const SetMatch& a, const SetMatch& b) {
  return a.set_name == b.set_name && a.dims_are_src == b.dims_are_src && a.invert == b.invert;
}
inline bool eq(const StatisticMatch& a, const StatisticMatch& b) {
  return a.mode == b.mode && a.probability == b.probability && a.every == b.every &&
         a.packet == b.packet && a.invert == b.invert;
}
inline bool eq(const Target& a, const Target& b) {
  return a.kind == b.kind && a.chain == b.chain && a.to_ports == b.to_ports &&
         a.to_addr_first == b.to_addr_first && a.to_addr_last == b.to_addr_last &&
         a.mark_value == b.mark_value && a.mark_mask == b.mark_mask &&
         a.log_prefix == b.log_prefix && a.log_level == b.log_level;
}

template <typename T>
bool eq(const std::optional<T>& a, const std::optional<T>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a.has_value() || eq(*a, *b);
}

// firstRuleDiff names the first differing field, or "".
inline std::string firstRuleDiff(const Rule& a, const Rule& b) {
  if (a.protocol != b.protocol || a.protocol_invert != b.protocol_invert) return "protocol";
  if (!eq(a.src, b.src)) return "src";
  if (!eq(a.dst, b.dst)) return "dst";
  if (!eq(a.in_iface, b.in_iface)) return "in_iface";
  if (!eq(a.out_iface, b.out_iface)) return "out_iface";
  if (!eq(a.sport, b.sport)) return "sport";
  if (!eq(a.dport, b.dport)) return "dport";
  if (!eq(a.either_port, b.either_port)) return "either_port";
  if (!eq(a.tcp_flags, b.tcp_flags)) return "tcp_flags";
  if (!eq(a.addrtype, b.addrtype)) return "addrtype";
  if (!eq(a.ctstate, b.ctstate)) return "ctstate";
  if (!eq(a.mark, b.mark)) return "mark";
  if (!eq(a.owner, b.owner)) return "owner";
  if (a.sets.size() != b.sets.size()) return "sets";
  for (std::size_t i = 0; i < a.sets.size(); ++i) {
    if (!eq(a.sets[i], b.sets[i])) return "sets";
  }
  if (!eq(a.statistic, b.statistic)) return "statistic";
  if (a.comments != b.comments) return "comments";
  if (a.match_order != b.match_order) return "match_order";
  if (!eq(a.target, b.target)) return "target";
  return "";
}

}  // namespace detail

inline std::string diffRuleSets(const RuleSet& a, const RuleSet& b) {
  if (a.family != b.family) return "family";
  if (a.tables.size() != b.tables.size()) return "number of tables";
  for (std::size_t t = 0; t < a.tables.size(); ++t) {
    const TableRules& ta = a.tables[t];
    const TableRules& tb = b.tables[t];
    const std::string tn = tableName(ta.table);
    if (ta.table != tb.table) return "table " + std::to_string(t) + " kind";
    if (ta.chains.size() != tb.chains.size()) return "number of chains in " + tn;
    for (std::size_t c = 0; c < ta.chains.size(); ++c) {
      const Chain& ca = ta.chains[c];
      const Chain& cb = tb.chains[c];
      const std::string where = tn + "/" + ca.name;
      if (ca.name != cb.name || ca.builtin != cb.builtin || ca.policy != cb.policy) {
        return "chain header " + where;
      }
      if (ca.rules.size() != cb.rules.size()) return "number of rules in " + where;
      for (std::size_t r = 0; r < ca.rules.size(); ++r) {
        const std::string d = detail::firstRuleDiff(ca.rules[r], cb.rules[r]);
        if (!d.empty()) return where + " rule " + std::to_string(r + 1) + ": " + d;
      }
    }
  }
  if (a.sets.size() != b.sets.size()) return "number of sets";
  for (auto ia = a.sets.begin(), ib = b.sets.begin(); ia != a.sets.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.name != ib->second.name ||
        ia->second.type != ib->second.type || ia->second.family != ib->second.family ||
        ia->second.members != ib->second.members) {
      return "set " + ia->first;
    }
  }
  return "";
}

}  // namespace xredir::testing
