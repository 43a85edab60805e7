// printer.cc: printRuleSet and printRule, in the format of iptables-save 1.8.9: `*table`, chain
// headers with [0:0] counters (built-ins first), `-A` lines with the options in the order
// iptables prints them (-s -d -i -o -p, then each match with `-m NAME` in the rule's order,
// then the target), and COMMIT. Values print as the extensions' save functions print them
// (marks in hex, --syn as --tcp-flags FIN,SYN,RST,ACK SYN, MARK as --set-xmark).
#include <cstdio>
#include <string>

#include "rules/loader/rule_values.h"
#include "xredir/rule_loader.h"

namespace xredir {
namespace {

// Text is appended piecewise (`out += " -x "; out += value;`): GCC 12 reports a false
// -Wrestrict for `"literal" + std::string` at -O3, which -Werror turns into a build failure.

using loader::formatHex;
using loader::quoteForSave;

void addNot(std::string& out, bool invert) {
  if (invert) out += " !";
}

std::string portRange(const PortRange& r, char sep) {
  if (r.first == r.last) return std::to_string(r.first);
  return std::to_string(r.first) + sep + std::to_string(r.last);
}

std::string portList(const PortMatch& pm) {
  std::string out;
  for (const PortRange& r : pm.ranges) {
    if (!out.empty()) out += ',';
    out += portRange(r, ':');
  }
  return out;
}

std::string idRange(const IdRange& r) {
  if (r.first == r.last) return std::to_string(r.first);
  return std::to_string(r.first) + "-" + std::to_string(r.last);
}

void printIface(std::string& out, const char* flag, const IfaceMatch& m) {
  addNot(out, m.invert);
  out += ' ';
  out += flag;
  out += ' ';
  out += m.name;
  if (m.wildcard) out += '+';
}

// printProtocolMatch prints tcp/udp options; the port fields belong to multiport instead when
// the rule names it (the loader refuses rules that use both for ports).
void printProtocolMatch(std::string& out, const Rule& r, bool tcp, bool ports) {
  if (ports && r.sport) {
    addNot(out, r.sport->invert);
    out += " --sport ";
    out += portRange(r.sport->ranges.front(), ':');
  }
  if (ports && r.dport) {
    addNot(out, r.dport->invert);
    out += " --dport ";
    out += portRange(r.dport->ranges.front(), ':');
  }
  if (tcp && r.tcp_flags) {
    addNot(out, r.tcp_flags->invert);
    out += " --tcp-flags " + loader::formatTcpFlags(r.tcp_flags->mask) + " " +
           loader::formatTcpFlags(r.tcp_flags->comp);
  }
}

std::string formatProbability(double p) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.11f", p);
  return buf;
}

void appendNatAddr(std::string& out, const IpAddr& a, bool bracket) {
  if (bracket) out += '[';
  out += formatIpAddr(a);
  if (bracket) out += ']';
}

void printTarget(std::string& out, const Target& t) {
  switch (t.kind) {
    case TargetKind::kNone:
      return;
    case TargetKind::kAccept:
      out += " -j ACCEPT";
      return;
    case TargetKind::kDrop:
      out += " -j DROP";
      return;
    case TargetKind::kReturn:
      out += " -j RETURN";
      return;
    case TargetKind::kJump:
      out += " -j " + t.chain;
      return;
    case TargetKind::kGoto:
      out += " -g " + t.chain;
      return;
    case TargetKind::kRedirect:
      out += " -j REDIRECT";
      if (t.to_ports) {
        out += " --to-ports ";
        out += portRange(*t.to_ports, '-');
      }
      return;
    case TargetKind::kDnat: {
      out += " -j DNAT --to-destination ";
      if (!t.to_addr_first) return;
      const IpAddr& first = *t.to_addr_first;
      const IpAddr last = t.to_addr_last.value_or(first);
      const bool bracket = first.family == Family::kV6 && t.to_ports.has_value();
      appendNatAddr(out, first, bracket);
      if (last != first) {
        out += '-';
        appendNatAddr(out, last, bracket);
      }
      if (t.to_ports) {
        out += ":";
        out += portRange(*t.to_ports, '-');
      }
      return;
    }
    case TargetKind::kMark:
      out += " -j MARK --set-xmark ";
      out += formatHex(t.mark_value) + "/" + formatHex(t.mark_mask);
      return;
    case TargetKind::kLog:
      out += " -j LOG";
      if (!t.log_prefix.empty()) {
        out += " --log-prefix ";
        out += quoteForSave(t.log_prefix);
      }
      if (t.log_level && *t.log_level != loader::kDefaultLogLevel) {
        out += " --log-level ";
        out += std::to_string(*t.log_level);
      }
      return;
  }
}

}  // namespace

std::string printRule(std::string_view chain, const Rule& r) {
  std::string out = "-A ";
  out += chain;
  if (r.src) {
    addNot(out, r.src->invert);
    out += " -s ";
    out += formatCidr(r.src->cidr);
  }
  if (r.dst) {
    addNot(out, r.dst->invert);
    out += " -d ";
    out += formatCidr(r.dst->cidr);
  }
  if (r.in_iface) printIface(out, "-i", *r.in_iface);
  if (r.out_iface) printIface(out, "-o", *r.out_iface);
  if (r.protocol) {
    addNot(out, r.protocol_invert);
    out += " -p ";
    out += loader::protocolName(*r.protocol);
  }
  bool has_multiport = false;
  for (const std::string& m : r.match_order) has_multiport |= m == "multiport";
  std::size_t comment_i = 0;
  std::size_t set_i = 0;
  for (const std::string& m : r.match_order) {
    out += " -m ";
    out += m;
    if (m == "tcp" || m == "udp") {
      printProtocolMatch(out, r, m == "tcp", !has_multiport);
    } else if (m == "multiport") {
      const std::pair<const std::optional<PortMatch>*, const char*> fields[] = {
          {&r.sport, " --sports "}, {&r.dport, " --dports "}, {&r.either_port, " --ports "}};
      for (const auto& [field, flag] : fields) {
        if (!field->has_value()) continue;
        addNot(out, (*field)->invert);
        out += flag + portList(**field);
      }
    } else if (m == "addrtype" && r.addrtype) {
      const AddrTypeMatch& a = *r.addrtype;
      if (a.src_types != 0) {
        addNot(out, a.src_invert);
        out += " --src-type ";
        out += loader::formatAddrTypes(a.src_types);
      }
      if (a.dst_types != 0) {
        addNot(out, a.dst_invert);
        out += " --dst-type ";
        out += loader::formatAddrTypes(a.dst_types);
      }
      if (a.limit_iface_in) out += " --limit-iface-in";
      if (a.limit_iface_out) out += " --limit-iface-out";
    } else if ((m == "conntrack" || m == "state") && r.ctstate) {
      addNot(out, r.ctstate->invert);
      out += m == "state" ? " --state " : " --ctstate ";
      out += loader::formatCtStates(r.ctstate->states);
    } else if (m == "mark" && r.mark) {
      addNot(out, r.mark->invert);
      out += " --mark ";
      out += formatHex(r.mark->value);
      if (r.mark->mask != 0xffffffff) {
        out += "/";
        out += formatHex(r.mark->mask);
      }
    } else if (m == "owner" && r.owner) {
      const OwnerMatch& o = *r.owner;
      if (o.socket_exists) {
        addNot(out, !*o.socket_exists);
        out += " --socket-exists";
      }
      if (o.uid) {
        addNot(out, o.uid_invert);
        out += " --uid-owner ";
        out += idRange(*o.uid);
      }
      if (o.gid) {
        addNot(out, o.gid_invert);
        out += " --gid-owner ";
        out += idRange(*o.gid);
      }
    } else if (m == "set" && set_i < r.sets.size()) {
      const SetMatch& s = r.sets[set_i++];
      addNot(out, s.invert);
      out += " --match-set ";
      out += s.set_name + " ";
      for (std::size_t i = 0; i < s.dims_are_src.size(); ++i) {
        if (i != 0) out += ',';
        out += s.dims_are_src[i] ? "src" : "dst";
      }
    } else if (m == "statistic" && r.statistic) {
      const StatisticMatch& s = *r.statistic;
      if (s.mode == StatisticMatch::Mode::kRandom) {
        out += " --mode random";
        addNot(out, s.invert);
        out += " --probability ";
        out += formatProbability(s.probability);
      } else {
        out += " --mode nth";
        addNot(out, s.invert);
        out += " --every ";
        out += std::to_string(s.every);
        if (s.packet != 0) {
          out += " --packet ";
          out += std::to_string(s.packet);
        }
      }
    } else if (m == "comment" && comment_i < r.comments.size()) {
      out += " --comment ";
      out += quoteForSave(r.comments[comment_i++]);
    }
  }
  printTarget(out, r.target);
  return out;
}

std::string printRuleSet(const RuleSet& rules) {
  std::string out;
  for (const TableRules& t : rules.tables) {
    out += '*';
    out += tableName(t.table);
    out += '\n';
    for (const Chain& c : t.chains) {
      out += ':' + c.name + ' ';
      if (c.builtin) {
        out += c.policy == Policy::kDrop ? "DROP" : "ACCEPT";
      } else {
        out += '-';
      }
      out += " [0:0]\n";
    }
    for (const Chain& c : t.chains) {
      for (const Rule& r : c.rules) {
        out += printRule(c.name, r);
        out += '\n';
      }
    }
    out += "COMMIT\n";
  }
  return out;
}

}  // namespace xredir
