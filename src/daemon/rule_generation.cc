// rule_generation.cc: one loaded, checked and compiled generation of rules.
#include "daemon/rule_generation.h"

#include <set>

#include "daemon/rule_files.h"
#include "xredir/rule_loader.h"

namespace xredir {
namespace {

// collectRedirectPorts adds the --to-ports of every REDIRECT; a REDIRECT without them is an
// error naming its rule.
std::optional<std::string> collectRedirectPorts(const RuleSet& rules,
                                                std::set<std::uint16_t>& ports) {
  for (const TableRules& table : rules.tables) {
    for (const Chain& chain : table.chains) {
      for (const Rule& rule : chain.rules) {
        if (rule.target.kind != TargetKind::kRedirect) continue;
        if (!rule.target.to_ports) {
          return rule.where.file + ":" + std::to_string(rule.where.line) +
                 ": REDIRECT without --to-ports: xredir needs the proxy's port to route its "
                 "replies back";
        }
        for (std::uint32_t p = rule.target.to_ports->first; p <= rule.target.to_ports->last; ++p) {
          ports.insert(static_cast<std::uint16_t>(p));
          if (ports.size() > kMaxRedirectPorts) {
            return rule.where.file + ":" + std::to_string(rule.where.line) + ": more than " +
                   std::to_string(kMaxRedirectPorts) + " REDIRECT ports";
          }
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::variant<RuleGeneration, std::string> loadRuleGeneration(const RunConfig& config) {
  RuleGeneration generation;
  std::set<std::uint16_t> ports;
  for (const auto& [path, family] :
       {std::pair{&config.rules_v4, Family::kV4}, {&config.rules_v6, Family::kV6}}) {
    if (path->empty()) continue;
    auto loaded = loadRuleFiles({*path}, config.ipsets, family);
    if (auto* error = std::get_if<std::string>(&loaded)) return *error;
    auto rules = std::make_shared<const RuleSet>(std::move(std::get<RuleSet>(loaded)));
    if (auto error = collectRedirectPorts(*rules, ports)) return *error;
    struct Owned {
      std::shared_ptr<const RuleSet> rules;
      std::unique_ptr<const CompiledRuleSet> compiled;
    };
    auto owned = std::make_shared<Owned>(Owned{rules, compileRuleSet(*rules)});
    std::shared_ptr<const CompiledRuleSet> compiled(owned, owned->compiled.get());
    (family == Family::kV4 ? generation.compiled_v4 : generation.compiled_v6) = compiled;
  }
  generation.redirect_ports.assign(ports.begin(), ports.end());
  return generation;
}

}  // namespace xredir
