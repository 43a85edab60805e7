// rule_loader_fuzz: arbitrary text through loadRuleSet must give a RuleSet or a LoadError, never
// a crash or a hang; whatever loads must print as text that loads again to an equal RuleSet
// (up to source locations) and prints the same, or the target aborts. The first line of the
// input may be `#ipset` followed by ipset save text up to a line `#rules`, so that the fuzzer
// can reach `-m set`.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../rules/loader/rule_set_equal.h"
#include "xredir/rule_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xredir;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<RuleSource> ipsets;
  if (text.substr(0, 7) == "#ipset\n") {
    const auto split = text.find("#rules\n");
    if (split != std::string_view::npos) {
      ipsets.push_back({"fuzz.ipset", std::string(text.substr(7, split - 7))});
      text.remove_prefix(split + 7);
    }
  }
  const Family family = (size > 0 && (data[size - 1] & 1)) ? Family::kV6 : Family::kV4;
  auto loaded = loadRuleSet({{"fuzz.rules", std::string(text)}}, ipsets, LoadOptions{family});
  if (auto* e = std::get_if<LoadError>(&loaded)) {
    (void)e->message();
    return 0;
  }
  const RuleSet& rs = std::get<RuleSet>(loaded);
  const std::string printed = printRuleSet(rs);
  auto again = loadRuleSet({{"printed", printed}}, ipsets, LoadOptions{family});
  if (auto* e = std::get_if<LoadError>(&again)) {
    std::fprintf(stderr, "printed rule set does not load: %s\n%s", e->message().c_str(),
                 printed.c_str());
    std::abort();
  }
  const std::string diff = xredir::testing::diffRuleSets(rs, std::get<RuleSet>(again));
  if (!diff.empty()) {
    std::fprintf(stderr, "round trip changed the rule set: %s\n%s", diff.c_str(), printed.c_str());
    std::abort();
  }
  if (printRuleSet(std::get<RuleSet>(again)) != printed) {
    std::fprintf(stderr, "printing is not stable\n%s", printed.c_str());
    std::abort();
  }
  return 0;
}
