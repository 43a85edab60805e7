// engine_property_test.cc: the compiled engine agrees with the reference on thousands of random
// rule sets (acyclic jumps and gotos, every match kind with inversions, IPv4 and IPv6) and
// packets biased to hit them. Seeds are fixed so that a failure reproduces; the failure message
// names the seed and prints the rule set and the packet.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "rules/engine/random_rule_sets.h"
#include "xredir/rule_eval.h"

namespace xredir {
namespace {

using namespace testdata;  // NOLINT(google-build-using-namespace): test vocabulary

constexpr std::uint64_t kFirstSeed = 1;
constexpr int kRuleSets = 10000;
constexpr int kPacketsPerRuleSet = 40;

struct Stats {
  int verdicts = 0;
  int rule_decided = 0;  // verdicts decided by a rule (not a policy)
  int translated = 0;
  int dropped = 0;
};

// checkSeed runs one random rule set; returns false after reporting the first disagreement.
bool checkSeed(std::uint64_t seed, Stats& stats) {
  PrngSource source(seed);
  RandomRules<PrngSource> gen(source, seed % 2 == 0 ? Family::kV4 : Family::kV6);
  const RuleSet rs = gen.ruleSet();
  const ReferenceEvaluator reference(rs);
  const auto compiled = compileRuleSet(rs);
  // Each engine draws from its own copy of the same sequence, so random statistic matches
  // agree exactly when both engines ask for draws at the same rules in the same order.
  std::mt19937_64 ref_rng(seed);
  std::mt19937_64 fast_rng(seed);
  EvalContext ref_ctx;
  ref_ctx.addr_type = addrTypeOf;
  ref_ctx.random_unit = [&] { return std::uniform_real_distribution<double>(0, 1)(ref_rng); };
  EvalContext fast_ctx;
  fast_ctx.addr_type = addrTypeOf;
  fast_ctx.random_unit = [&] { return std::uniform_real_distribution<double>(0, 1)(fast_rng); };

  for (int i = 0; i < kPacketsPerRuleSet; ++i) {
    const Hook hook = gen.hook();
    const PacketMeta p = gen.packet();
    const Verdict want = reference.evaluate(hook, p, ref_ctx);
    const Verdict got = evaluateCompiled(*compiled, hook, p, fast_ctx);
    ++stats.verdicts;
    stats.rule_decided += want.rule_index.has_value();
    stats.translated += want.kind == VerdictKind::kRedirect || want.kind == VerdictKind::kDnat;
    stats.dropped += want.kind == VerdictKind::kDrop;
    if (!sameVerdict(want, got)) {
      ADD_FAILURE() << "seed " << seed << " packet " << i << ": " << describePacket(hook, p)
                    << "\nreference: " << describeVerdict(want)
                    << "\ncompiled:  " << describeVerdict(got) << "\nrule set:\n"
                    << describeRuleSet(rs);
      return false;
    }
  }
  return true;
}

TEST(EngineProperty, CompiledAgreesWithReferenceOnRandomRuleSets) {
  Stats stats;
  for (std::uint64_t seed = kFirstSeed; seed < kFirstSeed + kRuleSets; ++seed) {
    if (!checkSeed(seed, stats)) break;
  }
  // The generator must exercise the interesting outcomes, or agreement proves little.
  EXPECT_GT(stats.rule_decided, stats.verdicts / 8);
  EXPECT_GT(stats.translated, stats.verdicts / 50);
  EXPECT_GT(stats.dropped, stats.verdicts / 20);
  std::printf("verdicts %d, by a rule %d, translated %d, dropped %d\n", stats.verdicts,
              stats.rule_decided, stats.translated, stats.dropped);
}

}  // namespace
}  // namespace xredir
