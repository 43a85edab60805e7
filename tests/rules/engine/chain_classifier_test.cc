// chain_classifier_test.cc: the classifier groups rules by shape, returns the first accepted
// rule at or after `from`, and asks `accepts` only about candidates whose exact fields match,
// which is what keeps a verdict's cost flat as chains grow.
#include "rules/engine/chain_classifier.h"

#include <gtest/gtest.h>

#include <vector>

#include "rules/engine/match_predicates.h"
#include "rules/engine/rule_set_builder.h"

namespace xredir::engine {
namespace {

using namespace testdata;  // NOLINT(google-build-using-namespace): test vocabulary

// serviceChain is kube-proxy's KUBE-SERVICES shape: generic rules around n service rules.
std::vector<Rule> serviceChain(int n) {
  std::vector<Rule> rules = {R().mark(0x8000, 0x8000).j(drop()), R().i("docker0").j(ret())};
  for (int i = 0; i < n; ++i) {
    Rule r = R().p(IPPROTO_TCP).dport(static_cast<std::uint16_t>(1000 + i)).j(accept());
    r.dst = AddrMatch{Cidr{IpAddr::fromV4(0x0a600000u + static_cast<std::uint32_t>(i)), 32}, false};
    rules.push_back(r);
  }
  rules.push_back(R().p(IPPROTO_TCP).j(log()));
  return rules;
}

TEST(ChainClassifier, GroupsByShapeAndProbesOnlyCandidates) {
  const std::vector<Rule> rules = serviceChain(1000);
  const ChainClassifier classifier(rules);
  EXPECT_EQ(classifier.groupCount(), 4u);  // mark-only/none, -i exact, -p -d/32 --dport, -p

  struct Case {
    const char* dst;
    std::uint16_t dport;
    std::size_t from;
    std::size_t want;
    int max_asked;
  };
  const std::vector<Case> cases = {
      {"10.96.2.188", 1700, 0, 2 + 700, 3},  // service 700: rules 0 and 1 are asked, then it
      {"10.96.2.188", 1700, 703, 1002, 2},   // past it: only the trailing generic rule remains
      {"10.96.2.188", 1701, 0, 1002, 3},     // right address, wrong port: no service candidate
      {"192.0.2.1", 80, 0, 1002, 3},
  };
  for (const Case& c : cases) {
    const PacketMeta p = tcp("10.244.0.5", 40000, c.dst, c.dport);
    const FlowKey key = makeFlowKey(p);
    int asked = 0;
    const auto accepts = [&](std::size_t index) {
      ++asked;
      return statelessMatches(rules[index], presentMatches(rules[index]), p, EvalContext{},
                              [](std::size_t, const IpAddr&) { return false; });
    };
    EXPECT_EQ(classifier.firstMatch(key, c.from, accepts), c.want) << c.dst << ":" << c.dport;
    EXPECT_LE(asked, c.max_asked) << c.dst << ":" << c.dport;
  }
}

TEST(ChainClassifier, SmallChainsAreScannedInOrder) {
  const std::vector<Rule> rules = {R().p(IPPROTO_UDP).j(drop()), R().p(IPPROTO_TCP).j(accept()),
                                   R().j(log())};
  const ChainClassifier classifier(rules);
  EXPECT_EQ(classifier.groupCount(), 0u);
  const PacketMeta p = tcp("10.0.0.1", 1, "10.0.0.2", 2);
  std::vector<std::size_t> asked;
  const auto accepts = [&](std::size_t index) {
    asked.push_back(index);
    return statelessMatches(rules[index], presentMatches(rules[index]), p, EvalContext{},
                            [](std::size_t, const IpAddr&) { return false; });
  };
  EXPECT_EQ(classifier.firstMatch(makeFlowKey(p), 0, accepts), 1u);
  EXPECT_EQ(asked, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(classifier.firstMatch(makeFlowKey(p), 3, accepts), ChainClassifier::kNoMatch);
}

TEST(ChainClassifier, LaterFragmentsSkipPortGroups) {
  const std::vector<Rule> rules = serviceChain(10);
  const ChainClassifier classifier(rules);
  PacketMeta p = tcp("10.244.0.5", 40000, "10.96.0.3", 1003);
  p.later_fragment = true;
  const auto accepts = [&](std::size_t index) {
    return statelessMatches(rules[index], presentMatches(rules[index]), p, EvalContext{},
                            [](std::size_t, const IpAddr&) { return false; });
  };
  EXPECT_EQ(classifier.firstMatch(makeFlowKey(p), 0, accepts), 12u);
  p.later_fragment = false;
  EXPECT_EQ(classifier.firstMatch(makeFlowKey(p), 0, accepts), 5u);
}

}  // namespace
}  // namespace xredir::engine
