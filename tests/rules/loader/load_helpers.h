// load_helpers.h owns the small helpers the loader tests share: loading text and getting either
// the RuleSet or the error, and finding a chain's rules.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "xredir/rule_loader.h"

namespace xredir::testing {

inline std::variant<RuleSet, LoadError> loadText(const std::string& text,
                                                 Family family = Family::kV4,
                                                 const std::string& ipsets = "") {
  std::vector<RuleSource> sets;
  if (!ipsets.empty()) sets.push_back({"test.ipset", ipsets});
  return loadRuleSet({{"test.rules", text}}, sets, LoadOptions{family});
}

// loadOk loads text and fails the test (returning an empty set) when it does not load.
inline RuleSet loadOk(const std::string& text,
                      Family family = Family::kV4,
                      const std::string& ipsets = "") {
  auto r = loadText(text, family, ipsets);
  if (auto* e = std::get_if<LoadError>(&r)) {
    ADD_FAILURE() << "unexpected load error: " << e->message() << "\ninput:\n" << text;
    return RuleSet{};
  }
  return std::get<RuleSet>(std::move(r));
}

inline const Chain* findChain(const RuleSet& rs, Table t, std::string_view name) {
  const TableRules* tr = rs.findTable(t);
  return tr == nullptr ? nullptr : tr->findChain(name);
}

}  // namespace xredir::testing
