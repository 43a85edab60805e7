// rule_loader.h owns turning text into a validated RuleSet and back: the iptables-restore /
// iptables-save grammar (and ip6tables), `ipset save` output for `-m set`, validation with the
// kernel's checks (hooks a match or target may be used from, loops, unknown chains), and the
// printer that writes a RuleSet as iptables-save text. Loading is all-or-nothing: the first error
// is reported as `file:line:col: reason` and no RuleSet is produced.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "xredir/rule_model.h"

namespace xredir {

// LoadError names where and why a load failed. `column` is 1-based; 0 when the error concerns
// the whole line (e.g. a missing COMMIT is reported at the end of the file).
struct LoadError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string reason;

  // message formats "file:line:col: reason" (col omitted when 0).
  std::string message() const;
};

struct RuleSource {
  std::string name;  // shown in errors (a path, or "<stdin>")
  std::string text;
};

struct LoadOptions {
  Family family = Family::kV4;  // iptables-save (kV4) or ip6tables-save (kV6) input
};

// loadRuleSet parses the rule sources in order (later sources add to earlier ones, as repeated
// `iptables-restore --noflush` would) and the ipset sources, then validates the result.
// Returns the RuleSet or the first error.
std::variant<RuleSet, LoadError> loadRuleSet(const std::vector<RuleSource>& rules,
                                             const std::vector<RuleSource>& ipsets,
                                             const LoadOptions& options);

// validateRuleSet applies the kernel's table checks to a RuleSet built by hand or loaded:
// jump/goto targets exist, no loops, targets and matches used only from hooks where Linux
// allows them (REDIRECT/DNAT: nat PREROUTING/OUTPUT; -i not in OUTPUT/POSTROUTING; -o not in
// PREROUTING/INPUT; owner only in OUTPUT/POSTROUTING), sets exist with the right family.
std::optional<LoadError> validateRuleSet(const RuleSet& rules);

// printRuleSet writes the RuleSet as iptables-save prints it (one `*table` block per table,
// chain headers with `[0:0]` counters, rules as `-A`). Loading the printed text gives an equal
// RuleSet (up to SourceLocation).
std::string printRuleSet(const RuleSet& rules);
// printRule writes one rule's `-A CHAIN ...` line.
std::string printRule(std::string_view chain, const Rule& rule);

}  // namespace xredir
