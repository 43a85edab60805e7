// rule_engine_fuzz.cc: bytes -> a random rule set (acyclic chains, every match kind, IPv4 or
// IPv6) and a sequence of packets; the compiled engine must give the reference's verdict for
// every packet, or the target aborts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../rules/engine/random_rule_sets.h"
#include "xredir/rule_eval.h"

namespace {

// ProviderSource draws the generator's choices from the fuzzer's bytes (0 once they run out,
// which ends every loop of the generator).
class ProviderSource {
 public:
  explicit ProviderSource(FuzzedDataProvider& provider) : provider_(provider) {}
  std::uint32_t below(std::uint32_t n) {
    return provider_.ConsumeIntegralInRange<std::uint32_t>(0, n - 1);
  }

 private:
  FuzzedDataProvider& provider_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xredir;  // NOLINT(google-build-using-namespace)
  FuzzedDataProvider provider(data, size);
  ProviderSource source(provider);
  const Family family = provider.ConsumeBool() ? Family::kV6 : Family::kV4;
  testdata::RandomRules<ProviderSource> gen(source, family);
  const RuleSet rs = gen.ruleSet();
  const ReferenceEvaluator reference(rs);
  const auto compiled = compileRuleSet(rs);

  // Both engines see the same draws for `-m statistic --mode random`: a fixed sequence each.
  std::uint64_t ref_state = 1;
  std::uint64_t fast_state = 1;
  const auto draw = [](std::uint64_t& state) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  EvalContext ref_ctx;
  ref_ctx.addr_type = testdata::addrTypeOf;
  ref_ctx.random_unit = [&] { return draw(ref_state); };
  EvalContext fast_ctx;
  fast_ctx.addr_type = testdata::addrTypeOf;
  fast_ctx.random_unit = [&] { return draw(fast_state); };

  const int packets = 1 + static_cast<int>(provider.ConsumeIntegralInRange<std::uint32_t>(0, 15));
  for (int i = 0; i < packets; ++i) {
    const Hook hook = gen.hook();
    const PacketMeta p = gen.packet();
    const Verdict want = reference.evaluate(hook, p, ref_ctx);
    const Verdict got = evaluateCompiled(*compiled, hook, p, fast_ctx);
    if (!testdata::sameVerdict(want, got)) {
      std::fprintf(stderr, "engines disagree on packet %d: %s\nreference: %s\ncompiled:  %s\n%s", i,
                   testdata::describePacket(hook, p).c_str(),
                   testdata::describeVerdict(want).c_str(), testdata::describeVerdict(got).c_str(),
                   testdata::describeRuleSet(rs).c_str());
      std::abort();
    }
  }
  return 0;
}
