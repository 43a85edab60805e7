// packet_path_bench: the established-flow fast path on prebuilt frames — copy the frame into a
// work buffer (as a UMEM frame would be), parse, conntrack step (lookup + TCP state + last
// use), rewrite with incremental checksum update — against the same path with the naive
// std::unordered_map + std::mutex table (tests/conntrack/naive_table.h), same run, ratios
// printed at the end. Flows: 1K (cache-resident) and 1M established redirected TCP flows;
// 4096 prebuilt frames of random flows per direction; IPv4 and IPv6; original direction (to
// the proxy) and reply direction (back to the client); 1 and 2 threads on one shared table,
// each of two threads on its own flows (its half of the frames), as RSS gives each worker its
// own flows.
// FastPathBatch16 runs the same work in batches of 16 with the index slots, then the entries
// prefetched first (two passes), each tuple hashed once: the shape of a worker that prefetches
// across one AF_XDP RX ring read (the worker steps frames one at a time today; this measures
// what batching would buy).
// Run: build-conntrack-bench/bench/packet_path_bench   (meson -Dbench=true, release)
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "conntrack/bench_ratio_reporter.h"
#include "conntrack/bench_thread_cursor.h"
#include "conntrack/naive_table.h"
#include "conntrack/step_rules.h"
#include "support/packet_builder.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_step.h"
#include "xredir/packet.h"

namespace xredir {
namespace {

using benchsupport::NaiveTable;

constexpr std::uint32_t kFrames = 4096;
constexpr std::size_t kFrameStride = 128;  // every prebuilt frame fits (<= 94 bytes)

struct PathFixture {
  Family family;
  RuleSet rules;
  std::unique_ptr<const CompiledRuleSet> compiled;
  std::unique_ptr<ConntrackTable> table;
  std::unique_ptr<NaiveTable> naive;
  StepConfig config;
  PacketMeta context;
  EvalContext eval;
  // Frames packed kFrameStride apart, with their lengths; [0] original, [1] reply direction.
  std::vector<std::uint8_t> frames[2];
  std::vector<std::uint32_t> lengths[2];

  PathFixture(Family fam, std::uint32_t flows)
      : family(fam), rules(cttest::stepRuleSet(fam)), compiled(compileRuleSet(rules)) {
    ConntrackConfig cfg;
    cfg.max_entries = std::max<std::uint32_t>(2 * flows, 4096);
    cfg.shard_count = 64;
    table = std::make_unique<ConntrackTable>(cfg);
    naive = std::make_unique<NaiveTable>();
    config.proxy_v4 = parseIpAddr("169.254.77.1");
    config.proxy_v6 = parseIpAddr("fd00::77");
    const IpAddr proxy = fam == Family::kV4 ? *config.proxy_v4 : *config.proxy_v6;
    std::vector<FlowTuple> originals;
    std::vector<FlowTuple> replies;
    for (std::uint32_t i = 0; i < flows; ++i) {
      FlowTuple t;
      if (fam == Family::kV4) {
        t.src_addr = IpAddr::fromV4(0x0a000000U | i).bytes;
        t.dst_addr = IpAddr::fromV4(0xcb007100U | (i % 250 + 1)).bytes;
      } else {
        t.src_addr = parseIpAddr("2001:db8::")->bytes;
        std::memcpy(t.src_addr.data() + 12, &i, 4);
        t.dst_addr = parseIpAddr("2001:db8:99::1")->bytes;
        t.dst_addr[15] = static_cast<std::uint8_t>(i % 250 + 1);
      }
      t.family = fam;
      t.protocol = kIpProtoTcp;
      t.src_port = static_cast<std::uint16_t>(40000 + i % 7);
      t.dst_port = 80;
      NewConnection nc;
      nc.original = t;
      nc.tcp_flags = kTcpSyn;
      nc.translate_dst = true;
      nc.to_addr = proxy.bytes;
      nc.to_port_first = nc.to_port_last = 15001;
      const InsertResult ir = table->insert(nc, 1);
      const FlowTuple reply = ir.target.inverted();
      table->trackPacket(reply, kTcpSyn | kTcpAck, 1);
      table->trackPacket(t, kTcpAck, 1);
      naive->insert(t, reply, 1);
      naive->trackPacket(reply, kTcpSyn | kTcpAck, 1);
      naive->trackPacket(t, kTcpAck, 1);
      originals.push_back(t);
      replies.push_back(reply);
    }
    std::mt19937 rng(11);
    for (int dir = 0; dir < 2; ++dir) {
      frames[dir].assign(kFrames * kFrameStride, 0);
      for (std::uint32_t k = 0; k < kFrames; ++k) {
        // First half of the frames from even flows, second half from odd ones (ThreadCursor).
        const std::uint32_t i = (rng() % (flows / 2)) * 2 + (k < kFrames / 2 ? 0 : 1);
        const FlowTuple& t = dir == 0 ? originals[i] : replies[i];
        testing::PacketSpec spec;
        spec.src = t.src();
        spec.dst = t.dst();
        spec.tcp_flags = kTcpAck;
        spec.payload.assign(16, 0x5a);
        const auto bytes = testing::buildPacket(spec).bytes;
        std::memcpy(frames[dir].data() + k * kFrameStride, bytes.data(), bytes.size());
        lengths[dir].push_back(static_cast<std::uint32_t>(bytes.size()));
      }
    }
  }
};

PathFixture& fixture(Family fam, std::uint32_t flows) {
  static std::mutex mu;
  static std::map<std::pair<int, std::uint32_t>, std::unique_ptr<PathFixture>> all;
  std::lock_guard<std::mutex> g(mu);
  auto& slot = all[{static_cast<int>(fam), flows}];
  if (!slot) slot = std::make_unique<PathFixture>(fam, flows);
  return *slot;
}

template <bool kNaive>
void fastPath(benchmark::State& state, Family fam, int dir, std::uint32_t flows) {
  PathFixture& f = fixture(fam, flows);
  alignas(64) std::uint8_t work[kFrameStride];
  benchsupport::ThreadCursor cursor(state, kFrames);
  StepInput in;
  in.context = &f.context;
  in.now_ns = 2;
  std::uint64_t translated = 0;
  ParsedPacket parsed;  // parsePacket resets it for every frame
  for (auto _ : state) {
    const std::uint32_t idx = cursor.next();
    const std::uint32_t len = f.lengths[dir][idx];
    std::memcpy(work, f.frames[dir].data() + idx * kFrameStride, kFrameStride);
    const std::span<std::uint8_t> frame(work, len);
    if (parsePacket(frame, parsed) != ParseStatus::kOk) {
      state.SkipWithError("parse failed");
      break;
    }
    if constexpr (kNaive) {
      const FlowTuple t = FlowTuple::fromEndpoints(parsed.protocol, {parsed.src, parsed.sport},
                                                   {parsed.dst, parsed.dport});
      const TrackResult tr = f.naive->trackPacket(t, parsed.tcp_flags, in.now_ns);
      translated += tr.rewrite && applyTranslation(frame, parsed, tr.target) == RewriteStatus::kOk;
    } else {
      const StepResult r = stepPacket(*f.table, f.config, *f.compiled, f.eval, frame, parsed, in);
      translated +=
          r.action == StepAction::kTranslatedForward || r.action == StepAction::kTranslatedReply;
    }
    benchmark::DoNotOptimize(work);
  }
  if (translated != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("a frame was not translated");
  }
  state.SetItemsProcessed(state.iterations());
}

// fastPathBatch is the batched shape: a batch of frames (as one AF_XDP RX ring read) is
// copied and parsed, every flow's index slot is prefetched, then every flow's entry (the slots
// have arrived meanwhile), then every frame is stepped. The
// naive variant runs the same loop; it has nothing to prefetch.
template <bool kNaive>
void fastPathBatch(benchmark::State& state, Family fam, int dir, std::uint32_t flows) {
  constexpr std::uint32_t kBatch = 16;
  PathFixture& f = fixture(fam, flows);
  alignas(64) std::uint8_t work[kBatch][kFrameStride];
  ParsedPacket parsed[kBatch];
  FlowTuple tuples[kBatch];
  TupleHashes hashes[kBatch];
  benchsupport::ThreadCursor cursor(state, kFrames);
  StepInput in;
  in.context = &f.context;
  in.now_ns = 2;
  std::uint64_t translated = 0;
  for (auto _ : state) {
    std::uint32_t lens[kBatch];
    for (std::uint32_t b = 0; b < kBatch; ++b) {
      const std::uint32_t idx = cursor.next();
      lens[b] = f.lengths[dir][idx];
      std::memcpy(work[b], f.frames[dir].data() + idx * kFrameStride, kFrameStride);
      if (parsePacket(std::span<const std::uint8_t>(work[b], lens[b]), parsed[b]) !=
          ParseStatus::kOk) {
        state.SkipWithError("parse failed");
        return;
      }
      tuples[b] = FlowTuple::fromEndpoints(parsed[b].protocol, {parsed[b].src, parsed[b].sport},
                                           {parsed[b].dst, parsed[b].dport});
      if constexpr (!kNaive) {
        hashes[b] = f.table->hashOf(tuples[b]);
        f.table->prefetch(tuples[b], hashes[b]);
      }
    }
    if constexpr (!kNaive) {
      for (std::uint32_t b = 0; b < kBatch; ++b) f.table->prefetchEntry(tuples[b], hashes[b]);
    }
    for (std::uint32_t b = 0; b < kBatch; ++b) {
      const std::span<std::uint8_t> frame(work[b], lens[b]);
      if constexpr (kNaive) {
        const TrackResult tr = f.naive->trackPacket(tuples[b], parsed[b].tcp_flags, in.now_ns);
        translated +=
            tr.rewrite && applyTranslation(frame, parsed[b], tr.target) == RewriteStatus::kOk;
      } else {
        in.tuple_hashes = hashes[b];
        const StepResult r =
            stepPacket(*f.table, f.config, *f.compiled, f.eval, frame, parsed[b], in);
        translated +=
            r.action == StepAction::kTranslatedForward || r.action == StepAction::kTranslatedReply;
      }
    }
    benchmark::DoNotOptimize(work);
  }
  if (translated != static_cast<std::uint64_t>(state.iterations()) * kBatch) {
    state.SkipWithError("a frame was not translated");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void registerAll() {
  for (std::uint32_t flows : {1024U, 1U << 20}) {
    for (Family fam : {Family::kV4, Family::kV6}) {
      for (int dir : {0, 1}) {
        const std::string suffix = std::string(fam == Family::kV4 ? "/v4" : "/v6") +
                                   (dir == 0 ? "/fwd" : "/reply") +
                                   "/flows:" + std::to_string(flows);
        const bool scaling = flows == (1U << 20) && fam == Family::kV4 && dir == 0;
        for (int threads : {1, 2}) {
          if (threads == 2 && !scaling) continue;
          benchmark::RegisterBenchmark(
              ("FastPath/xredir" + suffix).c_str(),
              [=](benchmark::State& s) { fastPath<false>(s, fam, dir, flows); })
              ->Threads(threads)
              ->UseRealTime();
          benchmark::RegisterBenchmark(
              ("FastPath/naive" + suffix).c_str(),
              [=](benchmark::State& s) { fastPath<true>(s, fam, dir, flows); })
              ->Threads(threads)
              ->UseRealTime();
          benchmark::RegisterBenchmark(
              ("FastPathBatch16/xredir" + suffix).c_str(),
              [=](benchmark::State& s) { fastPathBatch<false>(s, fam, dir, flows); })
              ->Threads(threads)
              ->UseRealTime();
          benchmark::RegisterBenchmark(
              ("FastPathBatch16/naive" + suffix).c_str(),
              [=](benchmark::State& s) { fastPathBatch<true>(s, fam, dir, flows); })
              ->Threads(threads)
              ->UseRealTime();
        }
      }
    }
  }
}

}  // namespace
}  // namespace xredir

int main(int argc, char** argv) {
  xredir::registerAll();
  return xredir::benchsupport::runWithRatios(argc, argv);
}
