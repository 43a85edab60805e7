// rule_parser.cc: the options of one rule line (see rule_parser.h). The tables below mirror the
// option tables of iptables 1.8.9 (xshared.c) and of the libxt_* extensions xredir supports;
// options those extensions have but xredir does not evaluate are listed too, so that the error
// can say "unsupported option --x of match y" instead of "unknown option".
#include "rules/loader/rule_parser.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "rules/loader/rule_values.h"

namespace xredir::loader {
namespace {

// ---- option tables ---------------------------------------------------------------------------

enum class Opt : std::uint8_t {
  kUnsupported,
  // main options
  kProtocol,
  kSource,
  kDestination,
  kInIface,
  kOutIface,
  kJump,
  kGoto,
  kMatch,
  kIpv4,
  kIpv6,
  kFragment,
  kCounters,
  kTable,
  kCommand,
  // tcp / udp
  kSport,
  kDport,
  kSyn,
  kTcpFlags,
  // multiport
  kMpSports,
  kMpDports,
  kMpPorts,
  // addrtype
  kSrcType,
  kDstType,
  kLimitIn,
  kLimitOut,
  // conntrack / state
  kCtState,
  kState,
  // mark
  kMark,
  // owner
  kUidOwner,
  kGidOwner,
  kSocketExists,
  // set
  kMatchSet,
  // statistic
  kStatMode,
  kStatProbability,
  kStatEvery,
  kStatPacket,
  // comment
  kComment,
  // targets
  kToPorts,
  kToDestination,
  kSetXmark,
  kSetMark,
  kAndMark,
  kOrMark,
  kXorMark,
  kLogPrefix,
  kLogLevel,
};

struct OptSpec {
  const char* name;
  int nargs;
  bool invertible;
  Opt id;
};

// The main option table of iptables (xshared.c's original_opts); commands appear so that a
// second command in a line is reported as such, and so that prefixes are as ambiguous as they
// are for iptables.
constexpr OptSpec kMainOpts[] = {
    {"protocol", 1, true, Opt::kProtocol},
    {"source", 1, true, Opt::kSource},
    {"src", 1, true, Opt::kSource},
    {"destination", 1, true, Opt::kDestination},
    {"dst", 1, true, Opt::kDestination},
    {"in-interface", 1, true, Opt::kInIface},
    {"out-interface", 1, true, Opt::kOutIface},
    {"jump", 1, false, Opt::kJump},
    {"goto", 1, false, Opt::kGoto},
    {"match", 1, false, Opt::kMatch},
    {"ipv4", 0, false, Opt::kIpv4},
    {"ipv6", 0, false, Opt::kIpv6},
    {"fragment", 0, true, Opt::kFragment},
    {"set-counters", 2, false, Opt::kCounters},
    {"table", 1, false, Opt::kTable},
    {"append", 0, false, Opt::kCommand},
    {"insert", 0, false, Opt::kCommand},
    {"delete", 0, false, Opt::kCommand},
    {"replace", 0, false, Opt::kCommand},
    {"new-chain", 0, false, Opt::kCommand},
    {"policy", 0, false, Opt::kCommand},
    {"flush", 0, false, Opt::kCommand},
    {"delete-chain", 0, false, Opt::kCommand},
    {"rename-chain", 0, false, Opt::kCommand},
    {"zero", 0, false, Opt::kCommand},
    {"list", 0, false, Opt::kCommand},
    {"list-rules", 0, false, Opt::kCommand},
    {"check", 0, false, Opt::kCommand},
    {"verbose", 0, false, Opt::kUnsupported},
    {"numeric", 0, false, Opt::kUnsupported},
    {"exact", 0, false, Opt::kUnsupported},
    {"line-numbers", 0, false, Opt::kUnsupported},
    {"modprobe", 1, false, Opt::kUnsupported},
    {"wait", 0, false, Opt::kUnsupported},
};

struct ShortOpt {
  char letter;
  Opt id;
  int nargs;
  bool invertible;
  const char* long_name;
};

constexpr ShortOpt kShortOpts[] = {
    {'p', Opt::kProtocol, 1, true, "protocol"},
    {'s', Opt::kSource, 1, true, "source"},
    {'d', Opt::kDestination, 1, true, "destination"},
    {'i', Opt::kInIface, 1, true, "in-interface"},
    {'o', Opt::kOutIface, 1, true, "out-interface"},
    {'j', Opt::kJump, 1, false, "jump"},
    {'g', Opt::kGoto, 1, false, "goto"},
    {'m', Opt::kMatch, 1, false, "match"},
    {'4', Opt::kIpv4, 0, false, "ipv4"},
    {'6', Opt::kIpv6, 0, false, "ipv6"},
    {'f', Opt::kFragment, 0, true, "fragment"},
    {'c', Opt::kCounters, 2, false, "set-counters"},
    {'t', Opt::kTable, 1, false, "table"},
};

enum class Mod : std::uint8_t {
  kTcp,
  kUdp,
  kMultiport,
  kAddrtype,
  kConntrack,
  kState,
  kMark,
  kOwner,
  kSet,
  kStatistic,
  kComment,
};

constexpr OptSpec kTcpOpts[] = {
    {"source-port", 1, true, Opt::kSport},
    {"sport", 1, true, Opt::kSport},
    {"destination-port", 1, true, Opt::kDport},
    {"dport", 1, true, Opt::kDport},
    {"syn", 0, true, Opt::kSyn},
    {"tcp-flags", 2, true, Opt::kTcpFlags},
    {"tcp-option", 1, true, Opt::kUnsupported},
};
constexpr OptSpec kUdpOpts[] = {
    {"source-port", 1, true, Opt::kSport},
    {"sport", 1, true, Opt::kSport},
    {"destination-port", 1, true, Opt::kDport},
    {"dport", 1, true, Opt::kDport},
};
constexpr OptSpec kMultiportOpts[] = {
    {"source-ports", 1, true, Opt::kMpSports},
    {"sports", 1, true, Opt::kMpSports},
    {"destination-ports", 1, true, Opt::kMpDports},
    {"dports", 1, true, Opt::kMpDports},
    {"ports", 1, true, Opt::kMpPorts},
};
constexpr OptSpec kAddrtypeOpts[] = {
    {"src-type", 1, true, Opt::kSrcType},
    {"dst-type", 1, true, Opt::kDstType},
    {"limit-iface-in", 0, false, Opt::kLimitIn},
    {"limit-iface-out", 0, false, Opt::kLimitOut},
};
constexpr OptSpec kConntrackOpts[] = {
    {"ctstate", 1, true, Opt::kCtState},           {"ctproto", 1, true, Opt::kUnsupported},
    {"ctorigsrc", 1, true, Opt::kUnsupported},     {"ctorigdst", 1, true, Opt::kUnsupported},
    {"ctreplsrc", 1, true, Opt::kUnsupported},     {"ctrepldst", 1, true, Opt::kUnsupported},
    {"ctorigsrcport", 1, true, Opt::kUnsupported}, {"ctorigdstport", 1, true, Opt::kUnsupported},
    {"ctreplsrcport", 1, true, Opt::kUnsupported}, {"ctrepldstport", 1, true, Opt::kUnsupported},
    {"ctstatus", 1, true, Opt::kUnsupported},      {"ctexpire", 1, true, Opt::kUnsupported},
    {"ctdir", 1, false, Opt::kUnsupported},
};
constexpr OptSpec kStateOpts[] = {{"state", 1, true, Opt::kState}};
constexpr OptSpec kMarkOpts[] = {{"mark", 1, true, Opt::kMark}};
constexpr OptSpec kOwnerOpts[] = {
    {"uid-owner", 1, true, Opt::kUidOwner},
    {"gid-owner", 1, true, Opt::kGidOwner},
    {"socket-exists", 0, true, Opt::kSocketExists},
    {"suppl-groups", 0, false, Opt::kUnsupported},
};
constexpr OptSpec kSetOpts[] = {
    {"match-set", 2, true, Opt::kMatchSet},
    {"set", 2, true, Opt::kUnsupported},
    {"return-nomatch", 0, false, Opt::kUnsupported},
    {"update-counters", 0, true, Opt::kUnsupported},
    {"update-subcounters", 0, true, Opt::kUnsupported},
    {"packets-eq", 1, true, Opt::kUnsupported},
    {"packets-lt", 1, false, Opt::kUnsupported},
    {"packets-gt", 1, false, Opt::kUnsupported},
    {"bytes-eq", 1, true, Opt::kUnsupported},
    {"bytes-lt", 1, false, Opt::kUnsupported},
    {"bytes-gt", 1, false, Opt::kUnsupported},
};
constexpr OptSpec kStatisticOpts[] = {
    {"mode", 1, false, Opt::kStatMode},
    {"probability", 1, true, Opt::kStatProbability},
    {"every", 1, true, Opt::kStatEvery},
    {"packet", 1, false, Opt::kStatPacket},
};
constexpr OptSpec kCommentOpts[] = {{"comment", 1, false, Opt::kComment}};

struct OptTable {
  const OptSpec* begin;
  const OptSpec* end;
};

template <std::size_t N>
constexpr OptTable tableOf(const OptSpec (&a)[N]) {
  return {a, a + N};
}

struct ModuleSpec {
  const char* name;
  Mod id;
  OptTable opts;
};

constexpr ModuleSpec kModules[] = {
    {"tcp", Mod::kTcp, tableOf(kTcpOpts)},
    {"udp", Mod::kUdp, tableOf(kUdpOpts)},
    {"multiport", Mod::kMultiport, tableOf(kMultiportOpts)},
    {"addrtype", Mod::kAddrtype, tableOf(kAddrtypeOpts)},
    {"conntrack", Mod::kConntrack, tableOf(kConntrackOpts)},
    {"state", Mod::kState, tableOf(kStateOpts)},
    {"mark", Mod::kMark, tableOf(kMarkOpts)},
    {"owner", Mod::kOwner, tableOf(kOwnerOpts)},
    {"set", Mod::kSet, tableOf(kSetOpts)},
    {"statistic", Mod::kStatistic, tableOf(kStatisticOpts)},
    {"comment", Mod::kComment, tableOf(kCommentOpts)},
};

constexpr OptSpec kRedirectOpts[] = {
    {"to-ports", 1, false, Opt::kToPorts},
    {"random", 0, false, Opt::kUnsupported},
};
constexpr OptSpec kDnatOpts[] = {
    {"to-destination", 1, false, Opt::kToDestination},
    {"random", 0, false, Opt::kUnsupported},
    {"persistent", 0, false, Opt::kUnsupported},
};
constexpr OptSpec kMarkTargetOpts[] = {
    {"set-xmark", 1, false, Opt::kSetXmark}, {"set-mark", 1, false, Opt::kSetMark},
    {"and-mark", 1, false, Opt::kAndMark},   {"or-mark", 1, false, Opt::kOrMark},
    {"xor-mark", 1, false, Opt::kXorMark},
};
constexpr OptSpec kLogOpts[] = {
    {"log-prefix", 1, false, Opt::kLogPrefix},
    {"log-level", 1, false, Opt::kLogLevel},
    {"log-tcp-sequence", 0, false, Opt::kUnsupported},
    {"log-tcp-options", 0, false, Opt::kUnsupported},
    {"log-ip-options", 0, false, Opt::kUnsupported},
    {"log-uid", 0, false, Opt::kUnsupported},
    {"log-macdecode", 0, false, Opt::kUnsupported},
};

// Target extensions iptables ships that xredir does not evaluate. Naming them lets the error
// say "unsupported target" rather than "unknown chain", and keeps them out of chain names.
constexpr const char* kUnsupportedTargets[] = {
    "SNAT",     "MASQUERADE",  "TPROXY",    "CT",        "NOTRACK",     "CONNMARK", "REJECT",
    "NETMAP",   "NFQUEUE",     "QUEUE",     "NFLOG",     "ULOG",        "TRACE",    "TEE",
    "CLASSIFY", "DSCP",        "TOS",       "TTL",       "HL",          "TCPMSS",   "CHECKSUM",
    "SECMARK",  "CONNSECMARK", "AUDIT",     "IDLETIMER", "LED",         "SET",      "SYNPROXY",
    "HMARK",    "RATEEST",     "CLUSTERIP", "ECN",       "TCPOPTSTRIP", "MIRROR",   "SAME",
    "DNPT",     "SNPT",
};

bool contains(std::string_view haystack, char c) {
  return haystack.find(c) != std::string_view::npos;
}

// ---- parse state -----------------------------------------------------------------------------

struct LoadedMatch {
  const ModuleSpec* spec;
  int column;  // where the module was named (or the option that loaded it implicitly)
  bool implicit;
  bool got_option = false;  // multiport, statistic...: the instance saw one of its options
};

enum class TargetExt : std::uint8_t { kNone = 1, kRedirect, kDnat, kMark, kLog };

struct ParseState {
  Rule rule;
  std::vector<Cidr> srcs;  // -s list (one rule per entry)
  std::vector<Cidr> dsts;
  bool src_invert = false;
  bool dst_invert = false;
  bool seen_protocol = false;
  int protocol_column = 0;
  std::vector<LoadedMatch> matches;  // in load order
  bool implicit_used = false;
  bool target_set = false;
  TargetExt target_ext = TargetExt::kNone;
  int target_column = 0;
  int target_opt_column = 0;  // first target option (for port/protocol errors)
  bool mark_option_seen = false;
  bool to_dest_seen = false;
  bool proto_module_ports = false;  // tcp/udp gave a port option
  bool skip_line = false;
  // statistic
  bool stat_mode_seen = false, stat_prob_seen = false, stat_every_seen = false,
       stat_packet_seen = false;
  int stat_column = 0;
};

struct Resolved {
  const OptSpec* spec = nullptr;
  LoadedMatch* match = nullptr;  // null: main option or target option
  bool is_target = false;
};

OptTable targetOpts(TargetExt t) {
  switch (t) {
    case TargetExt::kNone:
      return {nullptr, nullptr};
    case TargetExt::kRedirect:
      return tableOf(kRedirectOpts);
    case TargetExt::kDnat:
      return tableOf(kDnatOpts);
    case TargetExt::kMark:
      return tableOf(kMarkTargetOpts);
    case TargetExt::kLog:
      return tableOf(kLogOpts);
  }
  return {nullptr, nullptr};
}

class RuleParser {
 public:
  RuleParser(const std::vector<Token>& tokens, std::size_t first, const RuleContext& ctx)
      : tokens_(tokens), pos_(first), ctx_(ctx) {}

  std::variant<ParsedRules, LoadError> run();

 private:
  LoadError error(int column, std::string reason) const {
    return LoadError{std::string(ctx_.file), ctx_.line, column, std::move(reason)};
  }
  std::optional<LoadError> resolve(std::string_view name, int column, Resolved& out);
  std::optional<LoadError> applyMain(Opt id,
                                     const std::string& display,
                                     int column,
                                     bool invert,
                                     const std::vector<const Token*>& args);
  std::optional<LoadError> loadMatch(std::string_view name, int column, bool implicit);
  std::optional<LoadError> applyMatch(LoadedMatch& m,
                                      Opt id,
                                      const std::string& display,
                                      int column,
                                      bool invert,
                                      const std::vector<const Token*>& args);
  const Chain* findContextChain(std::string_view name) const;
  std::optional<LoadError> setTarget(const Token& name, bool is_goto);
  std::optional<LoadError> applyTarget(Opt id,
                                       const std::string& display,
                                       int column,
                                       const std::vector<const Token*>& args);
  std::optional<LoadError> setPortField(std::optional<PortMatch>& field,
                                        PortMatch value,
                                        const char* what,
                                        int column);
  std::optional<LoadError> parseAddresses(const Token& arg, std::vector<Cidr>& out);
  std::optional<LoadError> finish();

  const std::vector<Token>& tokens_;
  std::size_t pos_;
  const RuleContext& ctx_;
  ParseState st_;
};

std::optional<LoadError> RuleParser::resolve(std::string_view name, int column, Resolved& out) {
  // Exact names first (getopt_long), then unambiguous prefixes.
  std::vector<Resolved> candidates;
  auto scan = [&](OptTable t, LoadedMatch* m, bool is_target, bool exact) {
    for (const OptSpec* o = t.begin; o != t.end; ++o) {
      const std::string_view oname = o->name;
      const bool hit = exact ? oname == name
                             : (oname.size() > name.size() && oname.substr(0, name.size()) == name);
      if (!hit) continue;
      // Aliases within one table (sport/source-port) are the same option, as for getopt.
      bool dup = false;
      for (const Resolved& c : candidates) {
        if (c.match == m && c.is_target == is_target && c.spec->id == o->id) dup = true;
      }
      if (!dup) candidates.push_back(Resolved{o, m, is_target});
    }
  };
  for (bool exact : {true, false}) {
    candidates.clear();
    scan(tableOf(kMainOpts), nullptr, false, exact);
    if (st_.target_ext != TargetExt::kNone) scan(targetOpts(st_.target_ext), nullptr, true, exact);
    for (auto it = st_.matches.rbegin(); it != st_.matches.rend(); ++it) {
      scan(it->spec->opts, &*it, false, exact);
    }
    if (exact && !candidates.empty()) {
      out = candidates.front();  // the newest module's option, as iptables' merged table
      return std::nullopt;
    }
    if (!exact && candidates.size() == 1) {
      out = candidates.front();
      return std::nullopt;
    }
    if (!exact && candidates.size() > 1) {
      return error(column, "option --" + std::string(name) + " is ambiguous");
    }
  }
  out = Resolved{};
  return std::nullopt;
}

std::variant<ParsedRules, LoadError> RuleParser::run() {
  bool invert = false;
  int invert_column = 0;
  while (pos_ < tokens_.size()) {
    const Token& tok = tokens_[pos_++];
    const std::string& t = tok.text;
    if (t == "!") {
      if (invert) return error(tok.column, "multiple ! flags are not allowed");
      invert = true;
      invert_column = tok.column;
      continue;
    }
    if (t.size() < 2 || t[0] != '-') {
      return error(tok.column, "unexpected argument \"" + t + "\"");
    }
    Resolved r;
    std::string display;
    std::string attached;  // -ptcp, --dport=80
    bool has_attached = false;
    if (t[1] != '-') {
      const ShortOpt* s = nullptr;
      for (const ShortOpt& so : kShortOpts) {
        if (so.letter == t[1]) s = &so;
      }
      if (s == nullptr) {
        if (contains("AIDRNPFXZLSEC", t[1])) {
          return error(tok.column, "command " + t.substr(0, 2) + " in the middle of a rule");
        }
        return error(tok.column, "unknown option " + t);
      }
      display = t.substr(0, 2);
      if (t.size() > 2) {
        if (s->nargs != 1) return error(tok.column, "unknown option " + t);
        attached = t.substr(2);
        has_attached = true;
      }
      for (const OptSpec& o : kMainOpts) {
        if (o.name == std::string_view(s->long_name)) r.spec = &o;
      }
    } else {
      std::string name = t.substr(2);
      const auto eq = name.find('=');
      if (eq != std::string::npos) {
        attached = name.substr(eq + 1);
        has_attached = true;
        name.resize(eq);
      }
      if (name.empty()) return error(tok.column, "unexpected argument \"" + t + "\"");
      if (auto e = resolve(name, tok.column, r)) return *e;
      if (r.spec == nullptr && !st_.implicit_used && st_.rule.protocol &&
          !st_.rule.protocol_invert) {
        // iptables loads the protocol's match on the first option nobody knows (load_proto).
        const std::uint8_t p = *st_.rule.protocol;
        const char* implicit = p == 6 ? "tcp" : p == 17 ? "udp" : nullptr;
        bool loaded = false;
        for (const LoadedMatch& m : st_.matches) {
          if (implicit != nullptr && std::string_view(m.spec->name) == implicit) loaded = true;
        }
        if (implicit != nullptr && !loaded) {
          st_.implicit_used = true;
          if (auto e = loadMatch(implicit, tok.column, true)) return *e;
          if (auto e = resolve(name, tok.column, r)) return *e;
        }
      }
      if (r.spec == nullptr) {
        // Say which module the option belongs to when it is one of ours.
        for (const ModuleSpec& m : kModules) {
          for (const OptSpec* o = m.opts.begin; o != m.opts.end; ++o) {
            if (name == o->name) {
              return error(tok.column, "unknown option --" + name + " (an option of -m " + m.name +
                                           ", which must be named before it)");
            }
          }
        }
        return error(tok.column, "unknown option --" + name);
      }
      display = "--" + std::string(r.spec->name);
    }
    const OptSpec& spec = *r.spec;
    if (spec.id == Opt::kCommand) {
      return error(tok.column, "command " + t + " in the middle of a rule");
    }
    if (invert && !spec.invertible) {
      return error(invert_column, "option " + display + " cannot be inverted with !");
    }
    // Collect arguments.
    std::vector<const Token*> args;
    Token attached_tok;
    if (has_attached) {
      if (spec.nargs == 0) return error(tok.column, "option " + display + " takes no argument");
      attached_tok = Token{attached, tok.column + static_cast<int>(t.size() - attached.size())};
      args.push_back(&attached_tok);
    }
    while (static_cast<int>(args.size()) < spec.nargs) {
      if (pos_ >= tokens_.size()) {
        return error(tok.column, "option " + display + " requires " + std::to_string(spec.nargs) +
                                     " argument" + (spec.nargs > 1 ? "s" : ""));
      }
      args.push_back(&tokens_[pos_++]);
    }
    if (spec.id == Opt::kUnsupported) {
      std::string where = r.is_target ? " of this target"
                          : r.match   ? std::string(" of match ") + r.match->spec->name
                                      : "";
      return error(tok.column, "unsupported option " + display + where);
    }
    std::optional<LoadError> e;
    if (r.is_target) {
      e = applyTarget(spec.id, display, tok.column, args);
    } else if (r.match != nullptr) {
      e = applyMatch(*r.match, spec.id, display, tok.column, invert, args);
    } else {
      e = applyMain(spec.id, display, tok.column, invert, args);
    }
    if (e) return *e;
    if (st_.skip_line) return ParsedRules{};
    invert = false;
  }
  if (invert) return error(invert_column, "! at the end of the rule, with no option after it");
  if (auto e = finish()) return *e;

  // One rule per source x destination, as iptables' append_entry loops.
  if (st_.srcs.empty()) st_.srcs.push_back(Cidr{});
  if (st_.dsts.empty()) st_.dsts.push_back(Cidr{});
  // Bound the expansion: a line is not meant to stand for a rule set of its own.
  constexpr std::size_t kMaxExpansion = 4096;
  if (st_.srcs.size() * st_.dsts.size() > kMaxExpansion) {
    return error(0, "the -s and -d lists expand to more than 4096 rules");
  }
  ParsedRules out;
  for (const Cidr& s : st_.srcs) {
    for (const Cidr& d : st_.dsts) {
      Rule r = st_.rule;
      // 0.0.0.0/0 without ! matches everything: iptables stores (and prints) nothing.
      if (s.prefix_len != 0 || st_.src_invert) r.src = AddrMatch{s, st_.src_invert};
      if (d.prefix_len != 0 || st_.dst_invert) r.dst = AddrMatch{d, st_.dst_invert};
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::optional<LoadError> RuleParser::parseAddresses(const Token& arg, std::vector<Cidr>& out) {
  std::string_view text = arg.text;
  int column = arg.column;
  if (text.empty()) return error(arg.column, "empty address");
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    auto cidr = parseCidr(item);
    if (!cidr) {
      return error(column, "invalid address \"" + std::string(item) +
                               "\" (addresses must be numeric, with /len or /mask)");
    }
    if (cidr->addr.family != ctx_.family) {
      return error(column, std::string(cidr->addr.family == Family::kV6 ? "IPv6" : "IPv4") +
                               " address " + std::string(item) + " in an " +
                               (ctx_.family == Family::kV6 ? "IPv6" : "IPv4") + " rule set");
    }
    out.push_back(*cidr);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    column += static_cast<int>(comma + 1);
  }
  return std::nullopt;
}

std::optional<LoadError> RuleParser::applyMain(Opt id,
                                               const std::string& display,
                                               int column,
                                               bool invert,
                                               const std::vector<const Token*>& args) {
  auto once = [&](bool seen) -> std::optional<LoadError> {
    if (seen) return error(column, "multiple " + display + " options are not allowed");
    return std::nullopt;
  };
  switch (id) {
    case Opt::kProtocol: {
      if (auto e = once(st_.seen_protocol)) return e;
      st_.seen_protocol = true;
      st_.protocol_column = args[0]->column;
      auto p = parseProtocol(args[0]->text);
      if (!p) return error(args[0]->column, "unknown protocol \"" + args[0]->text + "\"");
      if (p->any && invert) return error(column, "! -p all would never match");
      if (!p->any) st_.rule.protocol = p->number;
      st_.rule.protocol_invert = invert;
      return std::nullopt;
    }
    case Opt::kSource:
    case Opt::kDestination: {
      const bool src = id == Opt::kSource;
      std::vector<Cidr>& list = src ? st_.srcs : st_.dsts;
      if (auto e = once(!list.empty())) return e;
      if (auto e = parseAddresses(*args[0], list)) return e;
      if (invert && list.size() > 1) {
        return error(column, "! is not allowed with multiple source or destination addresses");
      }
      (src ? st_.src_invert : st_.dst_invert) = invert;
      return std::nullopt;
    }
    case Opt::kInIface:
    case Opt::kOutIface: {
      auto& field = id == Opt::kInIface ? st_.rule.in_iface : st_.rule.out_iface;
      if (auto e = once(field.has_value())) return e;
      std::string name = args[0]->text;
      IfaceMatch m;
      m.invert = invert;
      if (!name.empty() && name.back() == '+') {
        m.wildcard = true;
        name.pop_back();
      }
      // IFNAMSIZ is 16 including the NUL.
      if (name.size() + (m.wildcard ? 1 : 0) > 15) {
        return error(args[0]->column,
                     "interface name \"" + args[0]->text + "\" is longer than 15 characters");
      }
      if (name.empty() && !m.wildcard) return error(args[0]->column, "empty interface name");
      m.name = std::move(name);
      field = std::move(m);
      return std::nullopt;
    }
    case Opt::kJump:
    case Opt::kGoto:
      if (auto e = once(st_.target_set)) return e;
      return setTarget(*args[0], id == Opt::kGoto);
    case Opt::kMatch:
      return loadMatch(args[0]->text, args[0]->column, false);
    case Opt::kIpv4:
    case Opt::kIpv6:
      // iptables-restore skips lines meant for the other family.
      if ((id == Opt::kIpv6) != (ctx_.family == Family::kV6)) st_.skip_line = true;
      return std::nullopt;
    case Opt::kFragment:
      return error(column, "unsupported option " + display);
    case Opt::kCounters:
      for (const Token* a : args) {
        if (!parseUnsigned(a->text, 10, 0xffffffff)) {
          // Counters are 64-bit; anything numeric is fine, they are ignored.
          if (a->text.empty() || a->text.find_first_not_of("0123456789") != std::string::npos) {
            return error(a->column, "invalid counter \"" + a->text + "\"");
          }
        }
      }
      return std::nullopt;
    case Opt::kTable:
      return error(column, "-t is not allowed in iptables-restore input (use a *table line)");
    default:
      return error(column, "unsupported option " + display);
  }
}

std::optional<LoadError> RuleParser::loadMatch(std::string_view name, int column, bool implicit) {
  const ModuleSpec* spec = nullptr;
  for (const ModuleSpec& m : kModules) {
    if (name == m.name) spec = &m;
  }
  if (spec == nullptr) return error(column, "unsupported match " + std::string(name));
  for (const LoadedMatch& m : st_.matches) {
    // The model holds one instance of each match (comments and sets are lists).
    if (m.spec == spec && spec->id != Mod::kComment && spec->id != Mod::kSet) {
      return error(column,
                   "match " + std::string(name) + " named twice in one rule (not supported)");
    }
  }
  st_.matches.push_back(LoadedMatch{spec, column, implicit});
  st_.rule.match_order.emplace_back(spec->name);
  return std::nullopt;
}

std::optional<LoadError> RuleParser::setPortField(std::optional<PortMatch>& field,
                                                  PortMatch value,
                                                  const char* what,
                                                  int column) {
  if (field) {
    return error(column, std::string("a second ") + what + " match in one rule is not supported");
  }
  field = std::move(value);
  return std::nullopt;
}

// parseIdRange parses `a`, `a-b` or (for a single id) a user/group name.
std::optional<IdRange> parseIdRange(std::string_view text, bool is_user) {
  const auto dash = text.find('-');
  if (auto a = parseUnsigned(text.substr(0, dash), 10, 0xfffffffe)) {
    IdRange r{*a, *a};
    if (dash != std::string_view::npos) {
      auto b = parseUnsigned(text.substr(dash + 1), 10, 0xfffffffe);
      if (!b || *b < *a) return std::nullopt;
      r.last = *b;
    }
    return r;
  }
  if (text.empty() || text.size() > 256) return std::nullopt;
  const std::string name(text);
  // Names resolve at load time, as iptables does; the _r variants keep this reentrant.
  long size = sysconf(is_user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  if (is_user) {
    passwd pw{};
    passwd* res = nullptr;
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || res == nullptr) {
      return std::nullopt;
    }
    return IdRange{res->pw_uid, res->pw_uid};
  }
  group gr{};
  group* res = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res) != 0 || res == nullptr) {
    return std::nullopt;
  }
  return IdRange{res->gr_gid, res->gr_gid};
}

std::optional<PortMatch> parseMultiportList(std::string_view text,
                                            std::optional<std::uint8_t> proto) {
  PortMatch pm;
  int slots = 0;
  if (text.empty()) return std::nullopt;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    auto r = parsePortRange(item, ':', proto);
    if (!r || item.empty() || item.front() == ':' || item.back() == ':') return std::nullopt;
    slots += r->first == r->last ? 1 : 2;
    pm.ranges.push_back(*r);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  // XT_MULTI_PORTS: 15 slots, a range takes two.
  if (slots > 15) return std::nullopt;
  return pm;
}

std::optional<LoadError> RuleParser::applyMatch(LoadedMatch& m,
                                                Opt id,
                                                const std::string& display,
                                                int column,
                                                bool invert,
                                                const std::vector<const Token*>& args) {
  Rule& rule = st_.rule;
  const Token* a0 = args.empty() ? nullptr : args[0];
  switch (id) {
    case Opt::kSport:
    case Opt::kDport: {
      auto r = parsePortRange(a0->text, ':', rule.protocol);
      if (!r) return error(a0->column, "invalid port or port range \"" + a0->text + "\"");
      st_.proto_module_ports = true;
      const bool sport = id == Opt::kSport;
      // The full range without ! matches every packet: iptables prints nothing for it.
      if (r->first == 0 && r->last == 65535 && !invert) {
        if ((sport ? rule.sport : rule.dport).has_value()) {
          return error(column, "a second port match in one rule is not supported");
        }
        return std::nullopt;
      }
      return setPortField(sport ? rule.sport : rule.dport, PortMatch{{*r}, invert},
                          sport ? "source-port" : "destination-port", column);
    }
    case Opt::kSyn:
    case Opt::kTcpFlags: {
      if (rule.tcp_flags) return error(column, "--syn and --tcp-flags given together");
      TcpFlagsMatch f;
      f.invert = invert;
      if (id == Opt::kSyn) {
        f.mask = kTcpFin | kTcpSyn | kTcpRst | kTcpAck;
        f.comp = kTcpSyn;
      } else {
        auto mask = parseTcpFlags(a0->text);
        if (!mask) return error(a0->column, "unknown TCP flag in \"" + a0->text + "\"");
        auto comp = parseTcpFlags(args[1]->text);
        if (!comp) return error(args[1]->column, "unknown TCP flag in \"" + args[1]->text + "\"");
        f.mask = *mask;
        f.comp = *comp;
      }
      rule.tcp_flags = f;
      return std::nullopt;
    }
    case Opt::kMpSports:
    case Opt::kMpDports:
    case Opt::kMpPorts: {
      if (m.got_option) return error(column, "multiport can only have one option");
      m.got_option = true;
      auto pm = parseMultiportList(a0->text, rule.protocol);
      if (!pm) {
        return error(a0->column, "invalid port list \"" + a0->text +
                                     "\" (ports or a:b ranges, at most 15 slots)");
      }
      pm->invert = invert;
      if (id == Opt::kMpSports) return setPortField(rule.sport, *pm, "source-port", column);
      if (id == Opt::kMpDports) return setPortField(rule.dport, *pm, "destination-port", column);
      return setPortField(rule.either_port, *pm, "port", column);
    }
    case Opt::kSrcType:
    case Opt::kDstType:
    case Opt::kLimitIn:
    case Opt::kLimitOut: {
      if (!rule.addrtype) rule.addrtype = AddrTypeMatch{};
      AddrTypeMatch& at = *rule.addrtype;
      if (id == Opt::kLimitIn || id == Opt::kLimitOut) {
        (id == Opt::kLimitIn ? at.limit_iface_in : at.limit_iface_out) = true;
        if (at.limit_iface_in && at.limit_iface_out) {
          return error(column, "--limit-iface-in and --limit-iface-out cannot be used together");
        }
        return std::nullopt;
      }
      auto types = parseAddrTypes(a0->text);
      if (!types || *types == 0) {
        return error(a0->column, "unknown address type in \"" + a0->text + "\"");
      }
      std::uint16_t& field = id == Opt::kSrcType ? at.src_types : at.dst_types;
      if (field != 0) return error(column, "multiple " + display + " options are not allowed");
      field = *types;
      (id == Opt::kSrcType ? at.src_invert : at.dst_invert) = invert;
      return std::nullopt;
    }
    case Opt::kCtState:
    case Opt::kState: {
      if (rule.ctstate)
        return error(column, "a second conntrack state match in one rule is not supported");
      auto states = parseCtStates(a0->text, id == Opt::kCtState);
      if (!states || *states == 0) {
        return error(a0->column, "unknown connection state in \"" + a0->text + "\"");
      }
      rule.ctstate = CtStateMatch{*states, invert};
      return std::nullopt;
    }
    case Opt::kMark: {
      if (rule.mark) return error(column, "multiple --mark options are not allowed");
      auto mm = parseMarkMask(a0->text);
      if (!mm) return error(a0->column, "invalid mark \"" + a0->text + "\"");
      rule.mark = MarkMatch{mm->value, mm->mask, invert};
      return std::nullopt;
    }
    case Opt::kUidOwner:
    case Opt::kGidOwner:
    case Opt::kSocketExists: {
      if (!rule.owner) rule.owner = OwnerMatch{};
      OwnerMatch& o = *rule.owner;
      if (id == Opt::kSocketExists) {
        if (o.socket_exists)
          return error(column, "multiple --socket-exists options are not allowed");
        o.socket_exists = !invert;
        return std::nullopt;
      }
      const bool uid = id == Opt::kUidOwner;
      auto& field = uid ? o.uid : o.gid;
      if (field) return error(column, "multiple " + display + " options are not allowed");
      auto r = parseIdRange(a0->text, uid);
      if (!r) {
        return error(a0->column, std::string(uid ? "user" : "group") + " \"" + a0->text +
                                     "\" does not exist or is not a valid id range");
      }
      field = *r;
      (uid ? o.uid_invert : o.gid_invert) = invert;
      return std::nullopt;
    }
    case Opt::kMatchSet: {
      if (m.got_option) return error(column, "--match-set can be given only once per -m set");
      m.got_option = true;
      SetMatch sm;
      sm.set_name = a0->text;
      sm.invert = invert;
      // IPSET_MAXNAMELEN is 32 including the NUL.
      if (sm.set_name.empty() || sm.set_name.size() > 31) {
        return error(a0->column, "invalid set name \"" + a0->text + "\"");
      }
      std::string_view dims = args[1]->text;
      while (true) {
        const auto comma = dims.find(',');
        const std::string_view d = dims.substr(0, comma);
        if (d == "src") {
          sm.dims_are_src.push_back(true);
        } else if (d == "dst") {
          sm.dims_are_src.push_back(false);
        } else {
          return error(args[1]->column,
                       "invalid set flags \"" + args[1]->text + "\" (src or dst, comma-separated)");
        }
        if (comma == std::string_view::npos) break;
        dims.remove_prefix(comma + 1);
      }
      // IPSET_DIM_MAX.
      if (sm.dims_are_src.size() > 6) return error(args[1]->column, "too many set dimensions");
      if (ctx_.sets != nullptr) {
        auto it = ctx_.sets->find(sm.set_name);
        if (it == ctx_.sets->end()) {
          return error(a0->column, "set " + sm.set_name + " does not exist");
        }
        if (it->second.family != ctx_.family) {
          return error(a0->column, "set " + sm.set_name + " is an " +
                                       (it->second.family == Family::kV6 ? "inet6" : "inet") +
                                       " set, used in an " +
                                       (ctx_.family == Family::kV6 ? "IPv6" : "IPv4") +
                                       " rule set");
        }
      }
      rule.sets.push_back(std::move(sm));
      return std::nullopt;
    }
    case Opt::kStatMode: {
      if (st_.stat_mode_seen) return error(column, "multiple --mode options are not allowed");
      st_.stat_mode_seen = true;
      if (!rule.statistic) rule.statistic = StatisticMatch{};
      if (a0->text == "random") {
        rule.statistic->mode = StatisticMatch::Mode::kRandom;
      } else if (a0->text == "nth") {
        rule.statistic->mode = StatisticMatch::Mode::kNth;
      } else {
        return error(a0->column, "unknown statistic mode \"" + a0->text + "\" (random or nth)");
      }
      return std::nullopt;
    }
    case Opt::kStatProbability:
    case Opt::kStatEvery:
    case Opt::kStatPacket: {
      if (!rule.statistic) rule.statistic = StatisticMatch{};
      if (st_.stat_column == 0) st_.stat_column = column;
      StatisticMatch& s = *rule.statistic;
      if (id == Opt::kStatProbability) {
        if (st_.stat_prob_seen)
          return error(column, "multiple --probability options are not allowed");
        st_.stat_prob_seen = true;
        char* end = nullptr;
        const double p = std::strtod(a0->text.c_str(), &end);
        if (a0->text.empty() || *end != '\0' || !(p >= 0.0 && p <= 1.0)) {
          return error(a0->column, "invalid probability \"" + a0->text + "\" (0 to 1)");
        }
        // xt_statistic keeps the probability as a 31-bit fraction; keep exactly that value.
        s.probability = static_cast<double>(std::lround(p * 2147483648.0)) / 2147483648.0;
        s.invert = invert;
        return std::nullopt;
      }
      if (id == Opt::kStatEvery) {
        if (st_.stat_every_seen) return error(column, "multiple --every options are not allowed");
        st_.stat_every_seen = true;
        auto n = parseUnsigned(a0->text, 10, 0xffffffff);
        if (!n || *n == 0) return error(a0->column, "invalid --every \"" + a0->text + "\" (>= 1)");
        s.every = *n;
        s.invert = invert;
        return std::nullopt;
      }
      if (st_.stat_packet_seen) return error(column, "multiple --packet options are not allowed");
      st_.stat_packet_seen = true;
      auto n = parseUnsigned(a0->text, 10, 0xffffffff);
      if (!n) return error(a0->column, "invalid --packet \"" + a0->text + "\"");
      s.packet = *n;
      return std::nullopt;
    }
    case Opt::kComment: {
      if (m.got_option) return error(column, "--comment can be given only once per -m comment");
      m.got_option = true;
      // XT_MAX_COMMENT_LEN is 256 including the NUL.
      if (a0->text.size() > 255) return error(a0->column, "comment longer than 255 characters");
      rule.comments.push_back(a0->text);
      return std::nullopt;
    }
    default:
      return error(column, "unsupported option " + display);
  }
}

bool isStandardOrExtensionTarget(std::string_view name) {
  if (name == "ACCEPT" || name == "DROP" || name == "RETURN" || name == "REDIRECT" ||
      name == "DNAT" || name == "MARK" || name == "LOG") {
    return true;
  }
  for (const char* n : kUnsupportedTargets) {
    if (name == n) return true;
  }
  return false;
}

const Chain* RuleParser::findContextChain(std::string_view name) const {
  if (ctx_.chains == nullptr) return nullptr;
  if (ctx_.chain_index == nullptr) return ctx_.chains->findChain(name);
  const auto pos = ctx_.chain_index->find(name);
  return pos ? &ctx_.chains->chains[*pos] : nullptr;
}

std::optional<LoadError> RuleParser::setTarget(const Token& tok, bool is_goto) {
  st_.target_set = true;
  st_.target_column = tok.column;
  const std::string& name = tok.text;
  Target& t = st_.rule.target;
  if (name.empty()) return error(tok.column, "empty target name");
  if (!is_goto) {
    if (name == "ACCEPT") {
      t.kind = TargetKind::kAccept;
      return std::nullopt;
    }
    if (name == "RETURN") {
      t.kind = TargetKind::kReturn;
      return std::nullopt;
    }
    if (name == "DROP") {
      if (ctx_.table == Table::kNat) {
        return error(tok.column,
                     "DROP is not allowed in the nat table (it is not intended for "
                     "filtering)");
      }
      t.kind = TargetKind::kDrop;
      return std::nullopt;
    }
    if (name == "REDIRECT") {
      t.kind = TargetKind::kRedirect;
      st_.target_ext = TargetExt::kRedirect;
      return std::nullopt;
    }
    if (name == "DNAT") {
      t.kind = TargetKind::kDnat;
      st_.target_ext = TargetExt::kDnat;
      return std::nullopt;
    }
    if (name == "MARK") {
      t.kind = TargetKind::kMark;
      st_.target_ext = TargetExt::kMark;
      return std::nullopt;
    }
    if (name == "LOG") {
      t.kind = TargetKind::kLog;
      st_.target_ext = TargetExt::kLog;
      return std::nullopt;
    }
    for (const char* n : kUnsupportedTargets) {
      if (name == n) return error(tok.column, "unsupported target " + name);
    }
  }
  const Chain* c = findContextChain(name);
  if (c == nullptr) {
    if (is_goto) return error(tok.column, "goto target " + name + " is not a chain of this table");
    return error(tok.column, "unknown target or chain " + name +
                                 " (a chain must be declared before a rule jumps to it)");
  }
  if (c->builtin) {
    return error(tok.column, std::string("cannot ") + (is_goto ? "goto" : "jump to") +
                                 " built-in chain " + name);
  }
  t.kind = is_goto ? TargetKind::kGoto : TargetKind::kJump;
  t.chain = name;
  return std::nullopt;
}

std::optional<IpAddr> parseNatAddr(std::string_view text, Family family) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    if (family != Family::kV6) return std::nullopt;
  }
  auto a = parseIpAddr(text);
  if (!a || a->family != family) return std::nullopt;
  return a;
}

std::optional<LoadError> RuleParser::applyTarget(Opt id,
                                                 const std::string& display,
                                                 int column,
                                                 const std::vector<const Token*>& args) {
  Target& t = st_.rule.target;
  const Token* a0 = args.empty() ? nullptr : args[0];
  if (st_.target_opt_column == 0) st_.target_opt_column = column;
  switch (id) {
    case Opt::kToPorts: {
      if (t.to_ports) return error(column, "multiple --to-ports options are not allowed");
      auto r = parsePortRange(a0->text, '-', st_.rule.protocol);
      if (!r) return error(a0->column, "invalid port or port range \"" + a0->text + "\"");
      t.to_ports = *r;
      return std::nullopt;
    }
    case Opt::kToDestination: {
      if (st_.to_dest_seen)
        return error(column, "multiple --to-destination options are not allowed");
      st_.to_dest_seen = true;
      // [addr[-addr]][:port[-port]]; IPv6 addresses in brackets when a port follows.
      std::string_view text = a0->text;
      std::string_view addrs = text;
      std::string_view ports;
      if (ctx_.family == Family::kV6) {
        const auto close = text.rfind(']');
        const auto colon = text.find(':', close == std::string_view::npos ? text.size() : close);
        if (close != std::string_view::npos && colon != std::string_view::npos) {
          addrs = text.substr(0, colon);
          ports = text.substr(colon + 1);
          if (ports.empty())
            return error(a0->column, "missing port after \":\" in \"" + a0->text + "\"");
        }
      } else {
        const auto colon = text.find(':');
        if (colon != std::string_view::npos) {
          addrs = text.substr(0, colon);
          ports = text.substr(colon + 1);
          if (ports.empty())
            return error(a0->column, "missing port after \":\" in \"" + a0->text + "\"");
        }
      }
      if (addrs.empty()) return error(a0->column, "DNAT needs an address in \"" + a0->text + "\"");
      // The address range separator is the '-' outside brackets.
      std::size_t dash = std::string_view::npos;
      int depth = 0;
      for (std::size_t i = 0; i < addrs.size(); ++i) {
        if (addrs[i] == '[') ++depth;
        if (addrs[i] == ']') --depth;
        if (addrs[i] == '-' && depth == 0) {
          dash = i;
          break;
        }
      }
      auto first = parseNatAddr(addrs.substr(0, dash), ctx_.family);
      std::optional<IpAddr> last = first;
      if (dash != std::string_view::npos) last = parseNatAddr(addrs.substr(dash + 1), ctx_.family);
      if (!first || !last) {
        return error(a0->column, "invalid " +
                                     std::string(ctx_.family == Family::kV6 ? "IPv6" : "IPv4") +
                                     " address or range in \"" + a0->text + "\"");
      }
      if (*last < *first) return error(a0->column, "invalid address range in \"" + a0->text + "\"");
      t.to_addr_first = first;
      t.to_addr_last = last;
      if (!ports.empty()) {
        auto r = parsePortRange(ports, '-', st_.rule.protocol);
        if (!r) return error(a0->column, "invalid port or port range in \"" + a0->text + "\"");
        t.to_ports = *r;
      }
      return std::nullopt;
    }
    case Opt::kSetXmark:
    case Opt::kSetMark:
    case Opt::kAndMark:
    case Opt::kOrMark:
    case Opt::kXorMark: {
      if (st_.mark_option_seen)
        return error(
            column,
            "MARK takes only one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark");
      st_.mark_option_seen = true;
      auto mm = parseMarkMask(a0->text);
      const bool masked = id == Opt::kSetXmark || id == Opt::kSetMark;
      if (!mm || (!masked && a0->text.find('/') != std::string::npos)) {
        return error(a0->column, "invalid mark \"" + a0->text + "\"");
      }
      // libxt_MARK's normalisation to (mark & ~mask) ^ value.
      switch (id) {
        case Opt::kSetXmark:
          t.mark_value = mm->value;
          t.mark_mask = mm->mask;
          break;
        case Opt::kSetMark:
          t.mark_value = mm->value;
          t.mark_mask = mm->value | mm->mask;
          break;
        case Opt::kAndMark:
          t.mark_value = 0;
          t.mark_mask = ~mm->value;
          break;
        case Opt::kOrMark:
          t.mark_value = mm->value;
          t.mark_mask = mm->value;
          break;
        default:
          t.mark_value = mm->value;
          t.mark_mask = 0;
          break;
      }
      return std::nullopt;
    }
    case Opt::kLogPrefix:
      if (!t.log_prefix.empty())
        return error(column, "multiple --log-prefix options are not allowed");
      // The kernel's prefix buffer is 30 bytes including the NUL.
      if (a0->text.size() > 29) return error(a0->column, "log prefix longer than 29 characters");
      if (a0->text.empty()) return error(a0->column, "empty log prefix");
      if (a0->text.find('\n') != std::string::npos)
        return error(a0->column, "newline in log prefix");
      t.log_prefix = a0->text;
      return std::nullopt;
    case Opt::kLogLevel: {
      auto lvl = parseLogLevel(a0->text);
      if (!lvl) return error(a0->column, "invalid log level \"" + a0->text + "\"");
      // The default level is what iptables-save leaves out; keep it out of the model too.
      if (*lvl == kDefaultLogLevel) {
        t.log_level.reset();
      } else {
        t.log_level = *lvl;
      }
      return std::nullopt;
    }
    default:
      return error(column, "unsupported option " + display);
  }
}

std::optional<LoadError> RuleParser::finish() {
  Rule& rule = st_.rule;
  const bool port_proto = rule.protocol && !rule.protocol_invert && carriesPorts(*rule.protocol);
  for (const LoadedMatch& m : st_.matches) {
    switch (m.spec->id) {
      case Mod::kTcp:
      case Mod::kUdp: {
        const std::uint8_t want = m.spec->id == Mod::kTcp ? 6 : 17;
        if (!rule.protocol || rule.protocol_invert || *rule.protocol != want) {
          return error(m.column,
                       std::string("match ") + m.spec->name + " needs -p " + m.spec->name);
        }
        break;
      }
      case Mod::kMultiport:
        if (!m.got_option) return error(m.column, "multiport needs --sports, --dports or --ports");
        if (!port_proto) {
          return error(m.column, "multiport needs -p tcp, udp, udplite, sctp or dccp");
        }
        break;
      case Mod::kAddrtype:
        if (!rule.addrtype || (rule.addrtype->src_types == 0 && rule.addrtype->dst_types == 0)) {
          return error(m.column, "addrtype needs --src-type or --dst-type");
        }
        break;
      case Mod::kConntrack:
      case Mod::kState:
        if (!rule.ctstate) {
          return error(m.column, m.spec->id == Mod::kState ? "state needs --state"
                                                           : "conntrack needs --ctstate");
        }
        break;
      case Mod::kMark:
        if (!rule.mark) return error(m.column, "mark needs --mark");
        break;
      case Mod::kOwner:
        if (!rule.owner)
          return error(m.column, "owner needs --uid-owner, --gid-owner or --socket-exists");
        break;
      case Mod::kSet:
        if (!m.got_option) return error(m.column, "set needs --match-set");
        break;
      case Mod::kStatistic:
        break;
      case Mod::kComment:
        if (!m.got_option) return error(m.column, "comment needs --comment");
        break;
    }
  }
  bool has_multiport = false;
  bool has_statistic = false;
  int statistic_column = 0;
  for (const LoadedMatch& m : st_.matches) {
    if (m.spec->id == Mod::kMultiport) has_multiport = true;
    if (m.spec->id == Mod::kStatistic) {
      has_statistic = true;
      statistic_column = m.column;
    }
  }
  if (has_multiport && st_.proto_module_ports) {
    return error(0,
                 "tcp/udp --sport/--dport together with -m multiport in one rule is not "
                 "supported");
  }
  if (has_statistic) {
    if (!st_.stat_mode_seen) return error(statistic_column, "statistic needs --mode");
    const StatisticMatch& s = *rule.statistic;
    if (s.mode == StatisticMatch::Mode::kRandom && (st_.stat_every_seen || st_.stat_packet_seen)) {
      return error(st_.stat_column, "--every and --packet need --mode nth");
    }
    if (s.mode == StatisticMatch::Mode::kNth) {
      if (st_.stat_prob_seen) return error(st_.stat_column, "--probability needs --mode random");
      if (!st_.stat_every_seen) return error(statistic_column, "--mode nth needs --every");
      if (s.packet >= s.every) return error(st_.stat_column, "--packet must be below --every");
    }
  }
  const Target& t = rule.target;
  if ((t.kind == TargetKind::kRedirect || t.kind == TargetKind::kDnat) && t.to_ports &&
      !port_proto) {
    return error(st_.target_opt_column,
                 "a port in " + std::string(t.kind == TargetKind::kRedirect ? "REDIRECT" : "DNAT") +
                     " needs -p tcp, udp, sctp or dccp");
  }
  if (t.kind == TargetKind::kDnat && !st_.to_dest_seen) {
    return error(st_.target_column, "DNAT needs --to-destination");
  }
  if (t.kind == TargetKind::kMark && !st_.mark_option_seen) {
    return error(st_.target_column,
                 "MARK needs --set-xmark, --set-mark, --and-mark, --or-mark or --xor-mark");
  }
  return std::nullopt;
}

}  // namespace

std::variant<ParsedRules, LoadError> parseRuleOptions(const std::vector<Token>& tokens,
                                                      std::size_t first,
                                                      const RuleContext& ctx) {
  RuleParser p(tokens, first, ctx);
  return p.run();
}

bool isReservedTargetName(std::string_view name) {
  return isStandardOrExtensionTarget(name) || name == "QUEUE";
}

}  // namespace xredir::loader
