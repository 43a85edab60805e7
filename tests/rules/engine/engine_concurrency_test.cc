// engine_concurrency_test.cc: one compiled rule set evaluated by several threads at once (as the
// datapath's workers do) gives each thread the single-threaded verdicts, and the shared
// `-m statistic --mode nth` counter hands out every count exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "rules/engine/rule_set_builder.h"
#include "xredir/rule_eval.h"

namespace xredir {
namespace {

using namespace testdata;  // NOLINT(google-build-using-namespace): test vocabulary

TEST(EngineConcurrency, ThreadsShareOneCompiledRuleSet) {
  const RuleSet rs = ruleSet(
      {table(Table::kNat,
             {builtin("PREROUTING", Policy::kAccept, {R().p(IPPROTO_TCP).j(jump("SVC"))}),
              user("SVC", {R().d("10.96.0.1/32").dport(80).nth(2, 0).j(redirect(PortRange{1, 1})),
                           R().d("10.96.0.1/32").dport(80).j(redirect(PortRange{2, 2})),
                           R().d("10.96.0.2/32").j(drop())})})});
  const auto compiled = compileRuleSet(rs);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::atomic<int> first_endpoint{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const EvalContext ctx;
      for (int i = 0; i < kPerThread; ++i) {
        const Verdict v = evaluateCompiled(*compiled, Hook::kPrerouting,
                                           tcp("192.0.2.1", 1000, "10.96.0.1", 80), ctx);
        if (v.kind != VerdictKind::kRedirect || !v.to_ports) {
          ++wrong;
          continue;
        }
        if (v.to_ports->first == 1) ++first_endpoint;
        const Verdict d = evaluateCompiled(*compiled, Hook::kPrerouting,
                                           tcp("192.0.2.1", 1000, "10.96.0.2", 80), ctx);
        if (d.kind != VerdictKind::kDrop || d.rule_index != std::optional<int>(2)) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // Counts 0..7999 each go to exactly one packet; the even ones pick the first endpoint.
  EXPECT_EQ(first_endpoint.load(), kThreads * kPerThread / 2);
}

}  // namespace
}  // namespace xredir
