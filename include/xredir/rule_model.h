// rule_model.h owns the rule set as data: tables, hooks, chains, rules with their matches and
// targets, and the ipsets that `-m set` refers to. It is what the iptables-save loader produces,
// what the printer writes back, and what the evaluators (the linear reference and the compiled
// engine) consume. Semantics follow Linux netfilter; the names follow iptables.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "xredir/ip_addr.h"

namespace xredir {

enum class Table : std::uint8_t { kRaw, kMangle, kNat, kFilter };
inline constexpr int kNumTables = 4;

enum class Hook : std::uint8_t { kPrerouting, kInput, kForward, kOutput, kPostrouting };
inline constexpr int kNumHooks = 5;

const char* tableName(Table t);     // "nat"
const char* hookChainName(Hook h);  // "PREROUTING"
std::optional<Table> tableFromName(std::string_view name);
std::optional<Hook> hookFromChainName(std::string_view name);
// tableHasHook reports whether Linux gives the table a built-in chain at the hook
// (nat: PREROUTING, INPUT, OUTPUT, POSTROUTING; filter: INPUT, FORWARD, OUTPUT; ...).
bool tableHasHook(Table t, Hook h);

// Where a rule came from, for error messages and traces.
struct SourceLocation {
  std::string file;
  int line = 0;
};

// ---- matches ---------------------------------------------------------------------------------

struct AddrMatch {
  Cidr cidr;
  bool invert = false;
};

// IfaceMatch: `-i eth0`, `-i br+` (prefix wildcard), `! -o lo`.
struct IfaceMatch {
  std::string name;  // without the trailing '+'
  bool wildcard = false;
  bool invert = false;
};

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 65535;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// PortMatch: `--dport 80`, `--dport 1000:2000`, `-m multiport --dports 53,3000:5000`.
struct PortMatch {
  std::vector<PortRange> ranges;  // matches when the port lies in any range
  bool invert = false;
};

// TcpFlagsMatch: `--tcp-flags MASK COMP`; `--syn` is mask SYN,RST,ACK,FIN comp SYN.
struct TcpFlagsMatch {
  std::uint8_t mask = 0;
  std::uint8_t comp = 0;
  bool invert = false;
};

// Linux RTN_* address types as a bit set (bit n = RTN type n), for `-m addrtype`.
enum AddrTypeBit : std::uint16_t {
  kAddrUnspec = 1 << 0,
  kAddrUnicast = 1 << 1,
  kAddrLocal = 1 << 2,
  kAddrBroadcast = 1 << 3,
  kAddrAnycast = 1 << 4,
  kAddrMulticast = 1 << 5,
  kAddrBlackhole = 1 << 6,
  kAddrUnreachable = 1 << 7,
  kAddrProhibit = 1 << 8,
  kAddrThrow = 1 << 9,
  kAddrNat = 1 << 10,
  kAddrXresolve = 1 << 11,
};

struct AddrTypeMatch {
  std::uint16_t src_types = 0;  // 0: not checked
  bool src_invert = false;
  std::uint16_t dst_types = 0;
  bool dst_invert = false;
  bool limit_iface_in = false;
  bool limit_iface_out = false;
};

enum CtStateBit : std::uint8_t {
  kCtInvalid = 1 << 0,
  kCtNew = 1 << 1,
  kCtEstablished = 1 << 2,
  kCtRelated = 1 << 3,
  kCtUntracked = 1 << 4,
  kCtSnat = 1 << 5,
  kCtDnat = 1 << 6,
};

struct CtStateMatch {
  std::uint8_t states = 0;
  bool invert = false;
};

// MarkMatch: `-m mark [!] --mark value[/mask]` matches (mark & mask) == value.
struct MarkMatch {
  std::uint32_t value = 0;
  std::uint32_t mask = 0xffffffff;
  bool invert = false;
};

struct IdRange {
  std::uint32_t first = 0;
  std::uint32_t last = 0;
};

// OwnerMatch: `-m owner [!] --uid-owner a[-b] [!] --gid-owner c[-d] [!] --socket-exists`.
struct OwnerMatch {
  std::optional<IdRange> uid;
  bool uid_invert = false;
  std::optional<IdRange> gid;
  bool gid_invert = false;
  std::optional<bool> socket_exists;  // true: `--socket-exists`, false: `! --socket-exists`
};

// SetMatch: `-m set [!] --match-set NAME src|dst[,src|dst]` (one direction per set dimension).
struct SetMatch {
  std::string set_name;
  std::vector<bool> dims_are_src;  // per dimension: true = src, false = dst
  bool invert = false;
};

// StatisticMatch: `-m statistic --mode random --probability P` or `--mode nth --every N --packet
// P`.
struct StatisticMatch {
  enum class Mode : std::uint8_t { kRandom, kNth } mode = Mode::kRandom;
  double probability = 0;    // random
  std::uint32_t every = 0;   // nth
  std::uint32_t packet = 0;  // nth
  bool invert = false;
};

// ---- targets ---------------------------------------------------------------------------------

enum class TargetKind : std::uint8_t {
  kNone = 1,  // no -j: the rule only counts; traversal continues
  kAccept,
  kDrop,
  kReturn,
  kJump,      // -j CHAIN
  kGoto,      // -g CHAIN
  kRedirect,  // -j REDIRECT [--to-ports p[-q]]
  kDnat,      // -j DNAT --to-destination a[-b][:p[-q]]
  kMark,      // -j MARK --set-xmark v/m (all MARK forms are normalised to set-xmark)
  kLog,       // -j LOG: no effect on the verdict
};

struct Target {
  TargetKind kind = TargetKind::kNone;
  std::string chain;                    // kJump, kGoto
  std::optional<PortRange> to_ports;    // kRedirect, kDnat
  std::optional<IpAddr> to_addr_first;  // kDnat
  std::optional<IpAddr> to_addr_last;   // kDnat (== first for a single address)
  std::uint32_t mark_value = 0;         // kMark: mark = (mark & ~mask) ^ value
  std::uint32_t mark_mask = 0;
  std::string log_prefix;        // kLog
  std::optional<int> log_level;  // kLog
};

// ---- rules, chains, tables, sets -------------------------------------------------------------

struct Rule {
  std::optional<std::uint8_t> protocol;  // IPPROTO_*; nullopt = any (`-p all`)
  bool protocol_invert = false;
  std::optional<AddrMatch> src;
  std::optional<AddrMatch> dst;
  std::optional<IfaceMatch> in_iface;
  std::optional<IfaceMatch> out_iface;
  std::optional<PortMatch> sport;        // --sport / multiport --sports
  std::optional<PortMatch> dport;        // --dport / multiport --dports
  std::optional<PortMatch> either_port;  // multiport --ports (source or destination)
  std::optional<TcpFlagsMatch> tcp_flags;
  std::optional<AddrTypeMatch> addrtype;
  std::optional<CtStateMatch> ctstate;
  std::optional<MarkMatch> mark;
  std::optional<OwnerMatch> owner;
  std::vector<SetMatch> sets;
  std::optional<StatisticMatch> statistic;
  std::vector<std::string> comments;     // -m comment --comment
  std::vector<std::string> match_order;  // -m module names in input order, for printing
  Target target;
  SourceLocation where;
};

enum class Policy : std::uint8_t { kAccept = 1, kDrop };

struct Chain {
  std::string name;
  bool builtin = false;
  Policy policy = Policy::kAccept;  // built-in chains only
  std::vector<Rule> rules;
};

struct TableRules {
  Table table = Table::kNat;
  std::vector<Chain> chains;  // built-in chains first, in hook order; then user chains

  const Chain* findChain(std::string_view name) const;
  Chain* findChain(std::string_view name);
};

// IpSet: `create NAME hash:net|hash:ip [family inet|inet6]` with its `add NAME CIDR` members.
struct IpSet {
  std::string name;
  std::string type;  // "hash:net" or "hash:ip"
  Family family = Family::kV4;
  std::vector<Cidr> members;
};

// RuleSet is one family's complete configuration, as `iptables-save` (or `ip6tables-save`)
// plus `ipset save` describe it.
struct RuleSet {
  Family family = Family::kV4;
  std::vector<TableRules> tables;  // only tables the input declared
  std::map<std::string, IpSet, std::less<>> sets;

  const TableRules* findTable(Table t) const;
};

}  // namespace xredir
