// rule_eval_bench.cc: the cost of a new flow's verdict, compiled engine against the linear
// reference, on kube-proxy-shaped nat tables of 10 to 10,000 service rules.
//
// Rule set for N: PREROUTING jumps to KUBE-SERVICES, which holds 3 generic rules, N service
// rules `-d 10.96.x.y/32 -p tcp --dport P -j KUBE-SVC-i`, and a final
// `-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`. Each KUBE-SVC-i picks one of two endpoints
// (`-m statistic --mode random --probability 0.5`); each KUBE-SEP chain marks hairpin traffic
// for masquerade and DNATs to its pod. The packets cycle over 256 first packets: three in four
// hit a service spread evenly over the chain, one in four misses every rule.
//
// After the runs a summary prints reference/compiled at each size and compiled(10k)/compiled(10).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <variant>
#include <string>
#include <vector>

#include "rules/engine/rule_set_builder.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_loader.h"

namespace xredir {
namespace {

using namespace testdata;  // NOLINT(google-build-using-namespace): rule-set vocabulary

IpAddr serviceIp(int i) {
  return IpAddr::fromV4(0x0a600000u + 10 + static_cast<std::uint32_t>(i));
}
std::uint16_t servicePort(int i) {
  return static_cast<std::uint16_t>(80 + i % 7000);
}
IpAddr podIp(int i, int ep) {
  return IpAddr::fromV4(0x0af40000u + static_cast<std::uint32_t>(i) * 2 +
                        static_cast<std::uint32_t>(ep));
}

RuleSet kubeProxyRules(int services) {
  std::vector<Chain> chains;
  chains.push_back(builtin("PREROUTING", Policy::kAccept, {R().j(jump("KUBE-SERVICES"))}));
  chains.push_back(builtin("OUTPUT", Policy::kAccept, {R().j(jump("KUBE-SERVICES"))}));
  chains.push_back(builtin("POSTROUTING", Policy::kAccept, {}));
  chains.push_back(user("KUBE-MARK-MASQ", {R().j(setMark(0x4000, 0x4000))}));
  chains.push_back(user("KUBE-NODEPORTS", {R().p(IPPROTO_TCP).dport(30080).j(jump("KUBE-SVC-0"))}));

  std::vector<Rule> svc_rules = {
      R().mark(0x8000, 0x8000).j(ret()),  // nat refuses DROP (the kernel does too)
      R().i("docker0").j(ret()),
      R().p(IPPROTO_UDP).d("169.254.20.10/32").dport(53).j(accept()),
  };
  for (int i = 0; i < services; ++i) {
    Rule r = R().p(IPPROTO_TCP).dport(servicePort(i)).j(jump(cat("KUBE-SVC-", std::to_string(i))));
    r.dst = AddrMatch{Cidr{serviceIp(i), 32}, false};
    svc_rules.push_back(r);
    const std::string sep_a = cat("KUBE-SEP-", std::to_string(i), "-A");
    const std::string sep_b = cat("KUBE-SEP-", std::to_string(i), "-B");
    chains.push_back(user(cat("KUBE-SVC-", std::to_string(i)),
                          {R().random(0.5).j(jump(sep_a)), R().j(jump(sep_b))}));
    for (int ep = 0; ep < 2; ++ep) {
      Rule masq = R().j(jump("KUBE-MARK-MASQ"));
      masq.src = AddrMatch{Cidr{podIp(i, ep), 32}, false};
      chains.push_back(user(
          ep == 0 ? sep_a : sep_b,
          {masq, R().p(IPPROTO_TCP).j(dnat(podIp(i, ep), podIp(i, ep), PortRange{8080, 8080}))}));
    }
  }
  AddrTypeMatch local;
  local.dst_types = kAddrLocal;
  svc_rules.push_back(R().addrType(local).j(jump("KUBE-NODEPORTS")));
  chains.insert(chains.begin() + 3, user("KUBE-SERVICES", std::move(svc_rules)));
  return ruleSet({table(Table::kNat, std::move(chains))});
}

std::vector<PacketMeta> flows(int services) {
  std::vector<PacketMeta> out;
  for (int k = 0; k < 256; ++k) {
    PacketMeta p = tcp("10.244.7.3", static_cast<std::uint16_t>(30000 + k), "10.96.0.1", 1);
    p.in_iface = "eth0";
    if (k % 4 == 3) {
      p.dst = IpAddr::fromV4(0x0b000000u + static_cast<std::uint32_t>(k));  // misses everything
      p.dport = 9;
    } else {
      const int i = static_cast<int>((static_cast<long>(k) * 7919) % services);  // spread out
      p.dst = serviceIp(i);
      p.dport = servicePort(i);
    }
    out.push_back(p);
  }
  return out;
}

EvalContext benchContext() {
  EvalContext ctx;
  ctx.addr_type = [](const IpAddr&, std::string_view) -> std::uint16_t { return kAddrUnicast; };
  ctx.random_unit = [state = std::uint64_t{0x9e3779b97f4a7c15}]() mutable {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  return ctx;
}

int serviceRuleCount(const benchmark::State& state) {
  return static_cast<int>(state.range(0));
}

void BM_Reference(benchmark::State& state) {
  const RuleSet rs = kubeProxyRules(serviceRuleCount(state));
  const std::vector<PacketMeta> packets = flows(serviceRuleCount(state));
  const EvalContext ctx = benchContext();
  const ReferenceEvaluator reference(rs);
  std::size_t k = 0;
  int translated = 0;
  for (auto _ : state) {
    const Verdict v = reference.evaluate(Hook::kPrerouting, packets[k++ & 255], ctx);
    translated += v.kind == VerdictKind::kDnat;
    benchmark::DoNotOptimize(v);
  }
  state.counters["dnat_share"] =
      static_cast<double>(translated) / static_cast<double>(state.iterations());
}

void BM_Compiled(benchmark::State& state) {
  const RuleSet rs = kubeProxyRules(serviceRuleCount(state));
  const std::vector<PacketMeta> packets = flows(serviceRuleCount(state));
  const EvalContext ctx = benchContext();
  const auto compiled = compileRuleSet(rs);
  std::size_t k = 0;
  int translated = 0;
  for (auto _ : state) {
    const Verdict v = evaluateCompiled(*compiled, Hook::kPrerouting, packets[k++ & 255], ctx);
    translated += v.kind == VerdictKind::kDnat;
    benchmark::DoNotOptimize(v);
  }
  state.counters["dnat_share"] =
      static_cast<double>(translated) / static_cast<double>(state.iterations());
}

BENCHMARK(BM_Reference)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_Compiled)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);

// BM_LoadText: loading the same rule set from its iptables-save text (tokenize, parse,
// validate), as `xredir run` does at start and on SIGHUP; BM_Compile: compiling it.
void BM_LoadText(benchmark::State& state) {
  const std::string text = printRuleSet(kubeProxyRules(serviceRuleCount(state)));
  std::size_t rules = 0;
  for (auto _ : state) {
    auto loaded = loadRuleSet({RuleSource{"bench.rules", text}}, {}, LoadOptions{});
    if (!std::holds_alternative<RuleSet>(loaded)) {
      state.SkipWithError(std::get<LoadError>(loaded).message().c_str());
      return;
    }
    rules = 0;
    for (const TableRules& table : std::get<RuleSet>(loaded).tables) {
      for (const Chain& chain : table.chains) rules += chain.rules.size();
    }
    benchmark::DoNotOptimize(rules);
  }
  state.counters["rules_in_file"] = static_cast<double>(rules);
  state.counters["text_bytes"] = static_cast<double>(text.size());
}

void BM_Compile(benchmark::State& state) {
  const RuleSet rules = kubeProxyRules(serviceRuleCount(state));
  for (auto _ : state) {
    auto compiled = compileRuleSet(rules);
    benchmark::DoNotOptimize(compiled.get());
  }
}

BENCHMARK(BM_LoadText)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// RatioReporter prints the console report and remembers each run's CPU time per iteration (ns):
// the runs are single-threaded, and CPU time is what stays meaningful on a shared machine.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Colour only on a terminal, so that redirected output stays plain text.
  RatioReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      // A single run, or the median when --benchmark_repetitions asks for several.
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.iterations == 0 || (run.run_type == Run::RT_Aggregate && !median)) continue;
      if (run.run_type == Run::RT_Iteration && run.repetitions > 1) continue;
      ns_[run.run_name.str()] = run.GetAdjustedCPUTime() *
                                benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
                                benchmark::GetTimeUnitMultiplier(run.time_unit);
    }
  }
  const std::map<std::string, double>& ns() const { return ns_; }

 private:
  std::map<std::string, double> ns_;
};

}  // namespace
}  // namespace xredir

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  xredir::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const auto& ns = reporter.ns();
  const auto at = [&](const char* engine, int n) -> double {
    const auto it = ns.find(std::string(engine) + "/" + std::to_string(n));
    return it == ns.end() ? 0.0 : it->second;
  };
  std::printf("\nsummary (CPU ns per new-flow verdict)\n%8s %14s %14s %12s\n", "rules", "reference",
              "compiled", "ref/compiled");
  for (const int n : {10, 100, 1000, 10000}) {
    const double ref = at("BM_Reference", n);
    const double fast = at("BM_Compiled", n);
    std::printf("%8d %14.1f %14.1f %12.1f\n", n, ref, fast, fast > 0 ? ref / fast : 0.0);
  }
  if (at("BM_Compiled", 10) > 0) {
    std::printf("compiled(10000)/compiled(10) = %.2f\n",
                at("BM_Compiled", 10000) / at("BM_Compiled", 10));
  }
  return 0;
}
