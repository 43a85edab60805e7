// rule_files.h owns reading rule and ipset files from disk for the CLI and the daemon.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "xredir/rule_loader.h"

namespace xredir {

// loadRuleFiles reads and loads iptables-save files (and ipset save files) as one RuleSet of the
// given family. Returns the RuleSet, or a one-line error (`file:line:col: reason`, or
// `cannot read FILE: reason`).
std::variant<RuleSet, std::string> loadRuleFiles(const std::vector<std::string>& rule_paths,
                                                 const std::vector<std::string>& ipset_paths,
                                                 Family family);

}  // namespace xredir
