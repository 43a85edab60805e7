// rule_generation.cc: one loaded, checked and compiled generation of rules.
#include "daemon/rule_generation.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

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

// refuseGidOwnerAtOutput returns an error naming the first rule with `--gid-owner` in a chain
// that an OUTPUT chain reaches (by jumps or gotos), in any table: xredir evaluates every table
// of the OUTPUT hook with the socket context that output.bpf.c records, which holds the
// socket's uid and mark but no group (a tc program sees skb->sk's uid, not its fsgid or
// supplementary groups), so a gid match would silently never match (or, inverted, always).
std::optional<std::string> refuseGidOwnerAtOutput(const RuleSet& rules) {
  for (const TableRules& table : rules.tables) {
    const Chain* start = table.findChain(hookChainName(Hook::kOutput));
    if (start == nullptr || !start->builtin) continue;
    std::set<const Chain*> seen{start};
    std::vector<const Chain*> pending{start};
    while (!pending.empty()) {
      const Chain* chain = pending.back();
      pending.pop_back();
      for (const Rule& rule : chain->rules) {
        if (rule.owner && rule.owner->gid) {
          return rule.where.file + ":" + std::to_string(rule.where.line) +
                 ": -m owner --gid-owner cannot be evaluated at OUTPUT (table " +
                 tableName(table.table) + ", chain " + chain->name +
                 ", reached from OUTPUT): the socket context xredir records for local "
                 "connections has the uid and mark but not the group; use --uid-owner or "
                 "-m mark, or turn [output] off";
        }
        if (rule.target.kind != TargetKind::kJump && rule.target.kind != TargetKind::kGoto) {
          continue;
        }
        const Chain* next = table.findChain(rule.target.chain);
        if (next != nullptr && seen.insert(next).second) pending.push_back(next);
      }
    }
  }
  return std::nullopt;
}

// outputEvaluates reports whether the daemon's OUTPUT hook evaluates a family's rules.
bool outputEvaluates(const RunConfig& config, Family family) {
  return config.output_enabled && (family == Family::kV4 || config.output_ipv6);
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
    if (outputEvaluates(config, family)) {
      if (auto error = refuseGidOwnerAtOutput(*rules)) return *error;
    }
    struct Owned {
      std::shared_ptr<const RuleSet> rules;
      std::unique_ptr<const CompiledRuleSet> compiled;
    };
    auto owned = std::make_shared<Owned>(Owned{rules, compileRuleSet(*rules)});
    std::shared_ptr<const CompiledRuleSet> compiled(owned, owned->compiled.get());
    (family == Family::kV4 ? generation.compiled_v4 : generation.compiled_v6) = compiled;
    (family == Family::kV4 ? generation.rules_v4 : generation.rules_v6) = rules;
  }
  generation.redirect_ports.assign(ports.begin(), ports.end());
  return generation;
}

}  // namespace xredir
