// ipset_parser.h owns reading `ipset save` output (the sets `-m set --match-set` refers to):
// `create NAME hash:net|hash:ip [family inet|inet6] [hashsize N] [maxelem N] [bucketsize N]
// [initval N]` and `add NAME ADDR[/LEN]`. Options that change which packets are members
// (timeout, netmask, nomatch, counters, comments, ...) are refused rather than ignored.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "xredir/rule_loader.h"
#include "xredir/rule_model.h"

namespace xredir::loader {

// parseIpSets adds the sets of one `ipset save` text to sets. Fails on the first bad line.
std::optional<LoadError> parseIpSets(const RuleSource& source,
                                     std::map<std::string, IpSet, std::less<>>& sets);

}  // namespace xredir::loader
