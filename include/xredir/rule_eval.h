// rule_eval.h owns the question the datapath asks the rule engine for the first packet of a
// flow, "what do the PREROUTING (or OUTPUT) chains decide for this packet?", and the shape of the
// answer. Two engines answer it: ReferenceEvaluator walks the chains rule by rule exactly as
// netfilter's ipt_do_table does (the oracle, and the tracer behind `xredir trace`);
// CompiledRuleSet answers the same in time that does not grow with the number of rules.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xredir/ip_addr.h"
#include "xredir/rule_model.h"

namespace xredir {

// PacketMeta is what the rules can see of a packet plus its socket context. For the hooks
// xredir evaluates: PREROUTING sets in_iface; OUTPUT sets out_iface and the socket's uid/gid.
struct PacketMeta {
  Family family = Family::kV4;
  std::uint8_t protocol = 0;  // IPPROTO_TCP, IPPROTO_UDP, ...
  IpAddr src;
  IpAddr dst;
  std::uint16_t sport = 0;  // host order; 0 for protocols without ports
  std::uint16_t dport = 0;
  std::uint8_t tcp_flags = 0;   // FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE CWR
  bool later_fragment = false;  // a non-first fragment: port matches never match (Linux)
  std::string_view in_iface;    // views: the caller keeps the names alive
  std::string_view out_iface;
  std::uint32_t mark = 0;
  std::optional<std::uint32_t> uid;  // socket owner; nullopt = no local socket
  std::optional<std::uint32_t> gid;
  std::uint8_t ct_state = kCtNew;  // one CtStateBit
};

// AddrTypeLookup answers `-m addrtype`: the RTN_* type bit of an address, optionally as seen
// on one interface (--limit-iface-in/out). The daemon backs it with the node's addresses.
using AddrTypeLookup = std::function<std::uint16_t(const IpAddr& addr, std::string_view iface)>;

// EvalContext is what evaluation needs beyond the packet and the rules.
struct EvalContext {
  AddrTypeLookup addr_type;             // required when the rules use -m addrtype
  std::function<double()> random_unit;  // [0,1) draws for -m statistic --mode random
};

enum class VerdictKind : std::uint8_t {
  kAccept = 1,  // the packet continues untranslated
  kDrop,
  kRedirect,  // to a local port: the datapath's proxy
  kDnat,      // to another address
};

const char* verdictName(VerdictKind v);  // "ACCEPT", "DROP", "REDIRECT", "DNAT"

// Verdict is the outcome of a hook for one packet. `table`, `chain` and `rule_index` name the
// rule that decided (rule_index is 0-based; nullopt when a built-in chain's policy decided).
struct Verdict {
  VerdictKind kind = VerdictKind::kAccept;
  Table table = Table::kNat;
  std::string_view chain;  // points into the RuleSet
  std::optional<int> rule_index;
  // Translation for kRedirect/kDnat: the port range to choose from (REDIRECT without
  // --to-ports keeps the original port) and, for DNAT, the address range.
  std::optional<PortRange> to_ports;
  std::optional<IpAddr> to_addr_first;
  std::optional<IpAddr> to_addr_last;
  std::uint32_t mark = 0;  // the packet mark after MARK targets
};

// TraceEvent is one step of the reference walk, for `xredir trace`.
struct TraceEvent {
  enum class Kind : std::uint8_t { kRuleChecked = 1, kPolicy, kReturnFromChain } kind;
  Table table;
  std::string_view chain;  // points into the RuleSet
  int rule_index = -1;     // kRuleChecked
  bool matched = false;    // kRuleChecked
  const Rule* rule = nullptr;
};
using TraceSink = std::function<void(const TraceEvent&)>;

// hookTables lists the tables Linux traverses at a hook, in priority order
// (raw -300, mangle -150, nat -100, filter 0). xredir evaluates PREROUTING and OUTPUT.
std::vector<Table> hookTables(Hook hook);

// ReferenceEvaluator walks rule sets exactly as netfilter does: rules in order, matches in
// order, jumps push a return point (XT_JUMP), gotos do not, RETURN pops, falling off a user chain
// returns, falling off a built-in chain applies its policy. ACCEPT ends the table, DROP ends the
// hook; REDIRECT and DNAT end the nat table; MARK and LOG continue.
class ReferenceEvaluator {
 public:
  explicit ReferenceEvaluator(const RuleSet& rules);
  // evaluate runs every table of the hook over the packet. Precondition: the rule set passed
  // validation (validateRuleSet). `trace`, when set, sees each rule checked.
  Verdict evaluate(Hook hook,
                   PacketMeta packet,
                   const EvalContext& ctx,
                   const TraceSink& trace = {}) const;

 private:
  const RuleSet& rules_;
  // The `-m statistic --mode nth` counter of each rule, counted from 0 when the evaluator is
  // made (the kernel keeps one per rule too). Not thread-safe: the reference is the oracle and
  // the tracer, never the datapath.
  mutable std::map<const Rule*, std::uint64_t> nth_counts_;
};

class CompiledRuleSet;

// compileRuleSet builds the engine used on the datapath. The RuleSet must outlive the result.
std::unique_ptr<const CompiledRuleSet> compileRuleSet(const RuleSet& rules);

// evaluateCompiled gives the same verdict as ReferenceEvaluator::evaluate for every packet.
Verdict evaluateCompiled(const CompiledRuleSet& compiled,
                         Hook hook,
                         PacketMeta packet,
                         const EvalContext& ctx);

}  // namespace xredir

// CompiledRuleSet stays an opaque type outside the engine, yet callers keep it in a plain
// std::unique_ptr<const CompiledRuleSet>: its deleter is defined where the type is complete
// (src/rules/engine/compiled_rule_set.cc), so destroying one needs no engine internals.
template <>
struct std::default_delete<const xredir::CompiledRuleSet> {
  void operator()(const xredir::CompiledRuleSet* compiled) const noexcept;
};
