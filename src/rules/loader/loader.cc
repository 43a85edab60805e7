// loader.cc: loadRuleSet, the all-or-nothing entry point: ipset sources first (rules refer to
// sets, as the kernel requires a set to exist when a rule naming it is committed), then the
// iptables-restore sources in order, then the kernel's table checks.
#include "rules/loader/ipset_parser.h"
#include "rules/loader/restore_parser.h"
#include "xredir/rule_loader.h"

namespace xredir {

std::string LoadError::message() const {
  std::string out = file + ":" + std::to_string(line) + ":";
  if (column != 0) out += std::to_string(column) + ":";
  out += " " + reason;
  return out;
}

std::variant<RuleSet, LoadError> loadRuleSet(const std::vector<RuleSource>& rules,
                                             const std::vector<RuleSource>& ipsets,
                                             const LoadOptions& options) {
  RuleSet out;
  out.family = options.family;
  for (const RuleSource& s : ipsets) {
    if (auto e = loader::parseIpSets(s, out.sets)) return *e;
  }
  for (const RuleSource& s : rules) {
    if (auto e = loader::applyRestoreSource(s, out)) return *e;
  }
  if (auto e = validateRuleSet(out)) return *e;
  return out;
}

}  // namespace xredir
