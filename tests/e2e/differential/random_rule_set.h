// random_rule_set.h owns the random rule sets of the differential tests: iptables-restore text
// with nat PREROUTING/OUTPUT chains (and a few mangle/filter rules) that the kernel accepts,
// built from the matches and targets real capture rule sets use (-s/-d with masks and `!`,
// --dport ranges, multiport, -i/-o with `+`, owner, mark, addrtype; jumps, gotos, RETURN,
// REDIRECT, DNAT, ACCEPT, MARK, DROP where Linux allows it), over the lab's addresses.
#pragma once

#include <random>
#include <string>

#include "xredir/ip_addr.h"

namespace xredir::difftest {

// randomRuleSetText returns one random rule set for `family`. Chains called from PREROUTING
// and from OUTPUT are kept apart (a chain using -o or owner cannot be reached from PREROUTING),
// and jumps only go to later chains, so the kernel's loop and hook checks always pass.
std::string randomRuleSetText(Family family, std::mt19937& rng);

}  // namespace xredir::difftest
