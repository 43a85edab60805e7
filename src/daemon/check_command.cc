// check_command.cc: `xredir check FILE...` validates rule files and summarises them.
#include <cstdio>

#include "daemon/commands.h"
#include "daemon/rule_files.h"

namespace xredir {

int runCheck(const CheckOptions& options) {
  auto loaded = loadRuleFiles(options.rule_files, options.ipset_files,
                              options.ipv6 ? Family::kV6 : Family::kV4);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "%s\n", error->c_str());
    return 1;
  }
  const RuleSet& rules = std::get<RuleSet>(loaded);
  int total = 0;
  bool unevaluated = false;
  for (const TableRules& table : rules.tables) {
    std::printf("table %s\n", tableName(table.table));
    for (const Chain& chain : table.chains) {
      total += static_cast<int>(chain.rules.size());
      if (chain.builtin) {
        const auto hook = hookFromChainName(chain.name);
        const bool evaluated = hook == Hook::kPrerouting || hook == Hook::kOutput;
        if (!evaluated && !chain.rules.empty()) unevaluated = true;
        std::printf("  %-28s %5zu rules  policy %s%s\n", chain.name.c_str(), chain.rules.size(),
                    chain.policy == Policy::kAccept ? "ACCEPT" : "DROP",
                    evaluated ? "" : "  (hook not evaluated by xredir)");
      } else {
        std::printf("  %-28s %5zu rules\n", chain.name.c_str(), chain.rules.size());
      }
    }
  }
  for (const auto& [name, set] : rules.sets) {
    std::printf("ipset %s %s: %zu members\n", name.c_str(), set.type.c_str(), set.members.size());
  }
  std::printf("ok: %d rules in %zu tables (%s)\n", total, rules.tables.size(),
              options.ipv6 ? "IPv6" : "IPv4");
  if (unevaluated) {
    std::printf(
        "note: xredir acts at PREROUTING and OUTPUT; rules of the other hooks were "
        "validated but not evaluated\n");
  }
  return 0;
}

}  // namespace xredir
