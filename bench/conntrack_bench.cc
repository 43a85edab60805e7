// conntrack_bench: the connection table against a naive std::unordered_map + std::mutex table,
// in the same run, with ratios printed at the end (tests/conntrack/bench_ratio_reporter.h):
//   Memory/<impl>/<flows>   bytes per tracked connection (RSS growth while building and
//                           filling the table; the table's own accounting as a second counter)
//   NewFlow/<impl>          inserts per second of new redirected flows (no eviction)
//   NewFlowFull/xredir      inserts into a full table: every insert early-drops one entry
//   Track/<impl>/threads:N  established-flow lookups + state updates at 1M flows, 1 and 2
//                           threads on one shared table
// Run: build-conntrack-bench/bench/conntrack_bench   (meson -Dbench=true, release)
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "conntrack/bench_ratio_reporter.h"
#include "conntrack/bench_thread_cursor.h"
#include "conntrack/naive_table.h"
#include "xredir/conntrack.h"

namespace xredir {
namespace {

using benchsupport::NaiveTable;

constexpr std::uint32_t kProxyV4 = 0xa9fe4d01;  // 169.254.77.1

// flowTuple i: distinct client addresses 10.x.y.z (24 bits of i), a few ports and servers.
FlowTuple flowTuple(std::uint32_t i) {
  FlowTuple t;
  t.src_addr = IpAddr::fromV4(0x0a000000U | (i & 0xffffffU)).bytes;
  t.dst_addr = IpAddr::fromV4(0xcb007100U | (i % 250 + 1)).bytes;
  t.src_port = static_cast<std::uint16_t>(40000 + i % 7);
  t.dst_port = 443;
  t.protocol = kIpProtoTcp;
  return t;
}

NewConnection redirectConn(const FlowTuple& t) {
  NewConnection nc;
  nc.original = t;
  nc.tcp_flags = kTcpSyn;
  nc.translate_dst = true;
  nc.to_addr = IpAddr::fromV4(kProxyV4).bytes;
  nc.to_port_first = 15001;
  nc.to_port_last = 15001;
  return nc;
}

FlowTuple naiveReply(const FlowTuple& t) {
  FlowTuple r = t.inverted();
  r.src_addr = IpAddr::fromV4(kProxyV4).bytes;
  r.src_port = 15001;
  return r;
}

ConntrackConfig config(std::uint32_t max_entries) {
  ConntrackConfig c;
  c.max_entries = max_entries;
  c.shard_count = 64;
  c.hash_seed = 0x1234;
  return c;
}

std::size_t residentBytes() {
  long pages = 0;
  long resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

void memoryXredir(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  for (auto _ : state) {
    malloc_trim(0);
    const std::size_t before = residentBytes();
    auto table = std::make_unique<ConntrackTable>(config(flows));
    std::uint32_t ok = 0;
    for (std::uint32_t i = 0; i < flows; ++i) {
      ok += table->insert(redirectConn(flowTuple(i)), 1).status == InsertStatus::kInserted;
    }
    const std::size_t after = residentBytes();
    state.counters["bytes_per_conn_rss"] = static_cast<double>(after - before) / ok;
    state.counters["bytes_per_conn_alloc"] =
        static_cast<double>(table->allocatedBytes()) / table->capacity();
    state.counters["inserted"] = ok;
  }
}

void memoryNaive(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  for (auto _ : state) {
    malloc_trim(0);
    const std::size_t before = residentBytes();
    auto table = std::make_unique<NaiveTable>();
    for (std::uint32_t i = 0; i < flows; ++i) {
      const FlowTuple t = flowTuple(i);
      table->insert(t, naiveReply(t), 1);
    }
    const std::size_t after = residentBytes();
    state.counters["bytes_per_conn_rss"] = static_cast<double>(after - before) / flows;
    table.reset();
    malloc_trim(0);
  }
}

constexpr std::int64_t kNewFlows = 1 << 20;

void newFlowXredir(benchmark::State& state) {
  ConntrackTable table(config(2 * kNewFlows));
  std::uint32_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.insert(redirectConn(flowTuple(i++)), 1));
  }
  state.SetItemsProcessed(state.iterations());
}

void newFlowFullXredir(benchmark::State& state) {
  ConntrackTable table(config(1 << 16));
  std::uint32_t i = 0;
  for (std::uint32_t k = 0; k < (1 << 16); ++k) table.insert(redirectConn(flowTuple(i++)), 1);
  std::uint64_t now = 2;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.insert(redirectConn(flowTuple(i++)), now++));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["evictions"] = static_cast<double>(table.totalCounters().evictions);
}

void newFlowNaive(benchmark::State& state) {
  NaiveTable table;
  std::uint32_t i = 0;
  for (auto _ : state) {
    const FlowTuple t = flowTuple(i++);
    benchmark::DoNotOptimize(table.insert(t, naiveReply(t), 1));
  }
  state.SetItemsProcessed(state.iterations());
}

// Established flows shared by the Track benchmarks, built once.
constexpr std::uint32_t kTrackFlows = 1 << 20;
constexpr std::uint32_t kProbeCount = 1 << 16;

struct TrackFixture {
  std::unique_ptr<ConntrackTable> table;
  std::unique_ptr<NaiveTable> naive;
  // Random established original tuples: the first half from even flows, the second from odd
  // ones, so that with two threads each probes its own flows, as RSS gives each worker its own.
  std::vector<FlowTuple> probes;

  TrackFixture()
      : table(std::make_unique<ConntrackTable>(config(2 * kTrackFlows))),
        naive(std::make_unique<NaiveTable>()) {
    for (std::uint32_t i = 0; i < kTrackFlows; ++i) {
      const FlowTuple t = flowTuple(i);
      table->insert(redirectConn(t), 1);
      naive->insert(t, naiveReply(t), 1);
    }
    std::mt19937 rng(7);
    for (std::uint32_t k = 0; k < kProbeCount; ++k) {
      const std::uint32_t half = k < kProbeCount / 2 ? 0 : 1;
      probes.push_back(flowTuple((rng() % (kTrackFlows / 2)) * 2 + half));
    }
  }
};

TrackFixture& trackFixture() {
  static TrackFixture f;
  return f;
}

void trackXredir(benchmark::State& state) {
  TrackFixture& f = trackFixture();
  benchsupport::ThreadCursor cursor(state, kProbeCount);
  std::uint64_t now = 2;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.table->trackPacket(f.probes[cursor.next()], kTcpAck, now));
  }
  state.SetItemsProcessed(state.iterations());
}

void trackNaive(benchmark::State& state) {
  TrackFixture& f = trackFixture();
  benchsupport::ThreadCursor cursor(state, kProbeCount);
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.naive->trackPacket(f.probes[cursor.next()], kTcpAck, 2));
  }
  state.SetItemsProcessed(state.iterations());
}

void registerAll() {
  // Memory first: later benchmarks' freed heap would hide the naive table's growth.
  for (std::int64_t n : {1 << 20, 10'000'000}) {
    benchmark::RegisterBenchmark("Memory/naive", memoryNaive)
        ->Arg(n)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("Memory/xredir", memoryXredir)
        ->Arg(n)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("NewFlow/xredir", newFlowXredir)->Iterations(kNewFlows);
  benchmark::RegisterBenchmark("NewFlow/naive", newFlowNaive)->Iterations(kNewFlows);
  benchmark::RegisterBenchmark("NewFlowFull/xredir", newFlowFullXredir)->Iterations(kNewFlows);
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark("Track/xredir", trackXredir)->Threads(threads)->UseRealTime();
    benchmark::RegisterBenchmark("Track/naive", trackNaive)->Threads(threads)->UseRealTime();
  }
}

}  // namespace
}  // namespace xredir

int main(int argc, char** argv) {
  xredir::registerAll();
  return xredir::benchsupport::runWithRatios(argc, argv);
}
