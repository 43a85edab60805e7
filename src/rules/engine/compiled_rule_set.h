// compiled_rule_set.h owns the datapath's form of a rule set: chains resolved to indices, one
// ChainClassifier per chain, ipsets hashed, and the `-m statistic --mode nth` counters. The walk
// (jump stack, RETURN, goto, policies) is netfilter's, like the reference's, but each step asks
// the chain's classifier for the next matching rule instead of scanning.
//
// Thread safety: immutable after compileRuleSet except the nth counters, which are atomics, so
// any number of workers may evaluate at once. Evaluation never allocates.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rules/engine/chain_classifier.h"
#include "rules/engine/compiled_ip_set.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir {

class CompiledRuleSet {
 public:
  // CompiledRuleSet compiles `rules`, which must outlive it (verdicts point into it).
  explicit CompiledRuleSet(const RuleSet& rules);

  // evaluate is evaluateCompiled's body.
  Verdict evaluate(Hook hook, PacketMeta packet, const EvalContext& ctx) const;

 private:
  struct CompiledRule {
    const Rule* rule = nullptr;
    std::uint32_t present = 0;  // engine::presentMatches(*rule)
    TargetKind target = TargetKind::kNone;
    bool has_statistic = false;
    int target_chain = -1;  // kJump/kGoto: index in the table's chains; -1: unknown (no-op)
    std::vector<const engine::CompiledIpSet*> sets;  // per rule.sets entry; nullptr: no such set
    std::size_t nth_slot = 0;  // index into nth_counters_ when the rule has nth statistic
  };
  struct CompiledChain {
    const Chain* chain = nullptr;
    std::vector<CompiledRule> rules;
    engine::ChainClassifier classifier;
  };
  struct CompiledTable {
    Table table = Table::kNat;
    std::vector<CompiledChain> chains;
    std::array<int, kNumHooks> hook_chain{};  // built-in chain index per hook, -1 if none
  };

  std::array<int, kNumTables> table_index_{};  // into tables_, -1 if the table is absent
  std::vector<CompiledTable> tables_;
  std::map<std::string, engine::CompiledIpSet, std::less<>> sets_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> nth_counters_;
};

}  // namespace xredir
