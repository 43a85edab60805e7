// rule_generation.h owns turning the configured rule files into one ActiveRules generation:
// load both families (all-or-nothing), check what `xredir run` can carry out, compile, and list
// the proxy ports the replies come from. Used at start-up and on every SIGHUP.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "daemon/run_config.h"
#include "xredir/rule_eval.h"

namespace xredir {

struct RuleGeneration {
  // The compiled rules of each family (nullptr: no rules for it). Each pointer also owns the
  // RuleSet it was compiled from (an aliasing shared_ptr), since the compiled form points in.
  std::shared_ptr<const CompiledRuleSet> compiled_v4;
  std::shared_ptr<const CompiledRuleSet> compiled_v6;
  // The RuleSets themselves (nullptr: no rules for the family): they name the rule hit counters.
  std::shared_ptr<const RuleSet> rules_v4;
  std::shared_ptr<const RuleSet> rules_v6;
  // Every port a REDIRECT can send to: the proxy's replies leave from these ports, and policy
  // routing steers them back through the injection pair.
  std::vector<std::uint16_t> redirect_ports;
};

// loadRuleGeneration loads config's rule files. Errors: load errors (file:line:col: reason), a
// REDIRECT without --to-ports (its replies could leave from any port, so policy routing cannot
// catch them), more than kMaxRedirectPorts ports, and, when the OUTPUT hook is on for the
// family, `-m owner --gid-owner` in a chain the OUTPUT hook reaches (file:line: reason): the
// socket context the tc probe records has the uid and mark but not the group, so xredir could
// not evaluate it faithfully.
std::variant<RuleGeneration, std::string> loadRuleGeneration(const RunConfig& config);

inline constexpr std::size_t kMaxRedirectPorts = 64;

}  // namespace xredir
