// bench_ratio_reporter.h: a Google Benchmark console reporter that, after the normal table,
// prints the ratios the conntrack benchmarks exist to show: each "<case>/xredir" against its
// "<case>/naive" anchor measured in the same run, and "threads:2" against "threads:1".
// Shared by bench/conntrack_bench.cc and bench/packet_path_bench.cc (tests/ is on their
// include path).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace xredir::benchsupport {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      const auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rate_[r.benchmark_name()] = it->second.value;
      for (const auto& [name, counter] : r.counters) {
        if (name.rfind("bytes_per_conn", 0) == 0) bytes_[r.benchmark_name()] = counter.value;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n--- ratios (same run) ---\n");
    for (const auto& [name, rate] : rate_) {
      const std::size_t at = name.find("/xredir");
      if (at != std::string::npos) {
        std::string anchor = name;
        anchor.replace(at, 7, "/naive");
        const auto it = rate_.find(anchor);
        if (it != rate_.end() && it->second > 0) {
          std::printf("%-60s %8.2f Mitems/s vs naive %8.2f Mitems/s = %.2fx (%.1f ns/item)\n",
                      name.c_str(), rate / 1e6, it->second / 1e6, rate / it->second, 1e9 / rate);
        }
      }
      const std::size_t t2 = name.find("threads:2");
      if (t2 != std::string::npos) {
        std::string one = name;
        one.replace(t2, 9, "threads:1");
        const auto it = rate_.find(one);
        if (it != rate_.end() && it->second > 0) {
          std::printf("%-60s scaling 1->2 threads = %.2fx\n", name.c_str(), rate / it->second);
        }
      }
    }
    for (const auto& [name, bytes] : bytes_) {
      std::printf("%-60s %8.1f bytes per tracked connection\n", name.c_str(), bytes);
    }
  }

 private:
  std::map<std::string, double> rate_;
  std::map<std::string, double> bytes_;
};

// runWithRatios is the benchmark main: the usual flags, then the ratio summary.
inline int runWithRatios(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace xredir::benchsupport
