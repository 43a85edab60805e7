// engine_oracle.h owns the engine's side of a differential probe: the PacketMeta a probe is, the
// verdicts of the ReferenceEvaluator and of the compiled engine (every path of `-m statistic
// --mode random` enumerated, since the kernel draws its own numbers), and what the kernel must
// then show: which listener accepts and the SO_ORIGINAL_DST it reads.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "e2e/differential/kernel_prober.h"
#include "e2e/differential/netns_lab.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir::difftest {

struct EngineAnswer {
  std::vector<std::string> reference;  // distinct verdicts over all random paths, described
  std::vector<std::string> compiled;
  std::vector<Outcome> expected;   // what the kernel may show (one per distinct verdict)
  std::vector<VerdictKind> kinds;  // the reference's verdict kinds
};

// describeVerdict prints every field of a verdict (kind, deciding rule, translation, mark).
std::string describeVerdict(const Verdict& v);

class EngineOracle {
 public:
  // EngineOracle compiles `rules` (which must outlive it). `addr_type` classifies addresses as
  // the node does; `listener_ports` are the node's listening ports.
  EngineOracle(const RuleSet& rules,
               const NetnsLab& lab,
               AddrTypeLookup addr_type,
               std::set<std::uint16_t> listener_ports);

  // packetOf builds the PacketMeta of a probe's SYN.
  static PacketMeta packetOf(const Probe& p);

  // ask evaluates a probe with both engines and maps the verdicts to expected outcomes.
  EngineAnswer ask(const Probe& p) const;

 private:
  Outcome outcomeOf(const Probe& p, const Verdict& v) const;
  Outcome deliver(const Probe& p,
                  const IpAddr& addr,
                  std::uint16_t port,
                  const Endpoint& local_original) const;
  bool isLocal(const IpAddr& addr) const;

  const NetnsLab& lab_;
  ReferenceEvaluator reference_;
  std::unique_ptr<const CompiledRuleSet> compiled_;
  AddrTypeLookup addr_type_;
  std::set<std::uint16_t> listener_ports_;
};

// pickNatPort is the port nf_nat chooses for a destination translation of a new connection:
// the original port when it already lies in the range (get_unique_tuple keeps an in-range,
// unused tuple), otherwise the first port of the range.
std::uint16_t pickNatPort(const PortRange& range, std::uint16_t original);

}  // namespace xredir::difftest
