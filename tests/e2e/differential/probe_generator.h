// probe_generator.h owns choosing the probes for a rule set: addresses and ports taken from the
// rules themselves (each CIDR's inside and just-outside, every port range's edges, DNAT and
// REDIRECT targets, ipset members, owner ids) mixed with random ones, filtered to packets the
// namespaces can carry (no martians, nothing addressed into a link that has no listener), and
// the node interface each OUTPUT probe's route leaves by, asked of the node's routing table.
#pragma once

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "e2e/differential/kernel_prober.h"
#include "e2e/differential/netns_lab.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir::difftest {

// SourcePorts hands out source ports that no earlier probe of the run used and that no node
// listener occupies: the source port names a probe's connection at every listener.
class SourcePorts {
 public:
  std::uint16_t next(const std::set<std::uint16_t>& avoid);

 private:
  std::uint32_t next_ = 20000;
};

// listenerPortsFor lists the node ports the rule set can deliver to: every REDIRECT and DNAT
// port (each port of a range, bounded), plus a few ports no rule names (local delivery).
std::set<std::uint16_t> listenerPortsFor(const RuleSet& rules);

struct ProbeCounts {
  int prerouting = 30;
  int output = 30;
};

// generateProbes builds probes for `rules` in the rule set's family: first `explicit_probes`
// (hook, dst, dport, uid/gid and in_iface given; source address and port are filled in), then
// probes directed at each rule, then random ones. `addr_type` is the node's view of addresses.
// OUTPUT probes' out_iface is resolved with `ip route get` in the node.
// Returns "" and fills *probes, or an error.
std::string generateProbes(const RuleSet& rules,
                           const NetnsLab& lab,
                           const AddrTypeLookup& addr_type,
                           const std::set<std::uint16_t>& listener_ports,
                           ProbeCounts counts,
                           const std::vector<Probe>& explicit_probes,
                           std::mt19937& rng,
                           SourcePorts& sports,
                           std::vector<Probe>* probes);

}  // namespace xredir::difftest
