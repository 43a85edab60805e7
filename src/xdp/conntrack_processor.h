// conntrack_processor.h owns the production PacketProcessor: it runs the conntrack step
// (include/xredir/conntrack_step.h) on each frame a worker receives and maps the step's outcome
// to what the worker does with the frame. It owns the datapath-specific parts of the loop:
// which hook a frame is evaluated in (PREROUTING on capture interfaces; on the injection
// interface conntrack's reply direction for the proxy's answers, and, when the OUTPUT hook is
// on, the OUTPUT chains for the node's own connections that policy routing sends there, with
// the socket context the tc probe recorded), and the Ethernet addresses (towards the proxy:
// xr0 -> xr1; back to the client: the MACs recorded in the entry). A local connection that
// is translated is also source-translated to the injection pair's next hop, so that the
// proxy's replies come back through xr1 rather than over lo; its replies are sent out xr0 and
// reach the application through xr1. Rule sets are swapped atomically (setRules), each with its
// own rule hit counters (rule_hit_counters.h): a new connection's deciding rule is counted in
// the generation that decided it.
//
// Fast path (setFastPath): when an established translated IPv4 TCP connection's client sends a
// data/ACK segment through user space, the processor installs the connection's two entries in
// the XDP program's fast-path map (fast_path.h) and the program carries its later data/ACK
// segments itself. FIN/RST seen here remove both entries; sweepFastPath, called periodically,
// removes entries whose conntrack entry is gone or no longer ESTABLISHED and refreshes the
// last use of connections the program carried meanwhile, so the reaper never expires a flow
// that only the XDP program sees.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xdp/datapath.h"
#include "xdp/fast_path.h"
#include "xdp/packet_processor.h"
#include "xdp/rule_hit_counters.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"
#include "xredir/conntrack_step.h"
#include "xredir/rule_eval.h"

namespace xredir::xdp {

// ConntrackProcessorStats count outcomes the worker cannot see (relaxed atomics; shared by the
// workers, so only rare outcomes are counted here).
struct ConntrackProcessorStats {
  std::atomic<std::uint64_t> unparsable{0};           // given to the kernel as is
  std::atomic<std::uint64_t> reply_untracked{0};      // on the injection interface: dropped
  std::atomic<std::uint64_t> step_drop{0};            // DROP verdict, table full, NAT exhausted
  std::atomic<std::uint64_t> step_error{0};           // a rewrite failed
  std::atomic<std::uint64_t> xlat_mark_failed{0};     // translated-flow map update failed
  std::atomic<std::uint64_t> output_new{0};           // OUTPUT hook: local connections evaluated
  std::atomic<std::uint64_t> output_no_context{0};    // ... of which without a recorded socket
  std::atomic<std::uint64_t> fast_installed{0};       // fast-path pairs installed
  std::atomic<std::uint64_t> fast_install_failed{0};  // ... refused (map full)
  std::atomic<std::uint64_t> fast_removed{0};         // pairs removed on a FIN/RST seen here
  std::atomic<std::uint64_t> fast_swept{0};           // entries the sweep removed (entry gone...)
  std::atomic<std::uint64_t> fast_refreshed{0};       // conntrack entries refreshed by the sweep
};

class ConntrackProcessor : public PacketProcessor {
 public:
  // The table, clock and eval context must outlive the processor; `datapath` is read here only
  // (interface names, MACs, proxy addresses).
  // New translated flows are recorded in the XDP program's translated-flow map (one bpf()
  // call per new connection) so that a narrower steering filter after a reload keeps steering
  // them. `datapath` must outlive the processor.
  ConntrackProcessor(Datapath& datapath,
                     ConntrackTable& table,
                     const Clock& clock,
                     const EvalContext& eval_ctx);

  // FamilyRules is one family's rule generation as the daemon loaded it.
  struct FamilyRules {
    // Must keep the RuleSet it was compiled from alive (e.g. an aliasing shared_ptr owning both).
    std::shared_ptr<const CompiledRuleSet> compiled;
    // The RuleSet `compiled` came from: it names the rule hit counters. nullptr: not counted.
    std::shared_ptr<const RuleSet> rules;
  };

  // setRules swaps the rule generations of both families in, each with new hit counters that
  // start from zero; packets already being processed finish with (and count in) the old ones.
  // A family without rules (compiled == nullptr), and every family until the first call, leaves
  // new flows to the kernel. Not a per-packet call: it allocates the counters.
  void setRules(FamilyRules v4, FamilyRules v6);
  // setRules with compiled rules only: the same, without rule hit counters.
  void setRules(std::shared_ptr<const CompiledRuleSet> v4,
                std::shared_ptr<const CompiledRuleSet> v6) {
    setRules(FamilyRules{std::move(v4), nullptr}, FamilyRules{std::move(v6), nullptr});
  }

  // ruleHits returns the hit counters of a family's current generation (nullptr: no rules, or
  // rules set without their RuleSet). The pointer keeps the generation alive while it is read.
  std::shared_ptr<const RuleHitCounters> ruleHits(Family family) const;

  // setFastPath turns the fast path on or off (off until called). Call before the workers
  // start. The daemon turns GRO on on the injection pair's proxy end, which bpf_redirect into
  // xr0 needs (see src/xdp/README.md).
  // Each egress is asked whether it accepts redirected frames (redirect_target.h), here and
  // at every sweep: without the original direction's (xr0) nothing is installed; without a
  // capture interface's, the replies of its flows stay on the AF_XDP path.
  void setFastPath(bool on);
  bool fastPath() const { return fast_path_; }
  // sweepFastPath reconciles the fast-path map with conntrack (see the file comment). Call it
  // from one thread, every second or so; a few syscalls per installed entry.
  void sweepFastPath();

  Decision process(std::span<std::uint8_t> frame, std::uint32_t ingress_ifindex) override;
  const ConntrackProcessorStats& stats() const { return stats_; }

 private:
  struct Iface {
    std::uint32_t ifindex = 0;
    std::string name;
    MacAddr mac{};
    // A veth peer with TX checksum offload hands over frames whose TCP/UDP checksum is only
    // partial, which an incremental update cannot fix: such frames get a full recompute.
    bool partial_checksums = false;
  };
  // Generation: one family's rules and the counters of their hits, swapped as one.
  struct Generation {
    std::shared_ptr<const CompiledRuleSet> compiled;
    std::shared_ptr<const RuleSet> rules;
    std::unique_ptr<RuleHitCounters> hits;  // nullptr: not counted
  };
  std::shared_ptr<const Generation> generation(Family family) const {
    return family == Family::kV4 ? gen_v4_.load() : gen_v6_.load();
  }
  std::shared_ptr<const Generation> makeGeneration(FamilyRules rules) const;
  static void countHit(const Generation& gen, const StepResult& r) {
    if (r.decision && gen.hits) (void)gen.hits->count(*r.decision);
  }
  Decision processInjected(std::span<std::uint8_t> frame, ParsedPacket& parsed);
  Decision processOutput(std::span<std::uint8_t> frame, ParsedPacket& parsed);
  // route turns a step's result into the frame's fate (shared by PREROUTING and OUTPUT).
  Decision route(std::span<std::uint8_t> frame, const StepResult& r);
  Decision toProxy(std::span<std::uint8_t> frame);
  Decision toClient(std::span<std::uint8_t> frame, const ReplyPath& path);
  const Iface* capture(std::uint32_t ifindex) const;
  void maybeInstallFast(const FlowTuple& arrived);
  void removeFast(const FlowTuple& arrived, const FlowTuple& translated);
  // redirectOk: the cached answer of canRedirectTo for one of our interfaces.
  bool redirectOk(std::uint32_t ifindex) const;
  void refreshRedirectTargets();

  BpfProgram& bpf_;
  const OutputCapture* output_;  // nullptr: OUTPUT hook off
  ConntrackTable& table_;
  const Clock& clock_;
  const EvalContext& eval_ctx_;
  StepConfig step_config_;
  std::vector<Iface> captures_;
  std::uint32_t inject_ifindex_ = 0;
  MacAddr inject_mac_{};
  MacAddr proxy_mac_{};
  // One atomic shared_ptr load per packet: simple and safe across reloads; a per-worker
  // cached pointer with a reload epoch would save the reference count traffic if it shows.
  std::atomic<std::shared_ptr<const Generation>> gen_v4_;
  std::atomic<std::shared_ptr<const Generation>> gen_v6_;
  // Stripes of the hit counters: one per CPU, as workers are at most one per CPU that matters
  // (one per RX queue, pinned), so each gets its own.
  unsigned hit_stripes_ = 1;
  ConntrackProcessorStats stats_;
  bool fast_path_ = false;
  FastPathLinks fast_links_;
  // canRedirectTo per interface: [0, captures_.size()) the capture interfaces, then xr0.
  std::unique_ptr<std::atomic<bool>[]> redirect_ok_;
  std::uint64_t last_sweep_mono_ns_ = 0;  // CLOCK_MONOTONIC (bpf_ktime_get_ns) at the last sweep
};

}  // namespace xredir::xdp
