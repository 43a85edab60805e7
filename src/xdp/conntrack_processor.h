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
// reach the application through xr1. Rule sets are swapped atomically (setRules).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xdp/datapath.h"
#include "xdp/packet_processor.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"
#include "xredir/conntrack_step.h"
#include "xredir/rule_eval.h"

namespace xredir::xdp {

// ConntrackProcessorStats count outcomes the worker cannot see (relaxed atomics; shared by the
// workers, so only rare outcomes are counted here).
struct ConntrackProcessorStats {
  std::atomic<std::uint64_t> unparsable{0};         // given to the kernel as is
  std::atomic<std::uint64_t> reply_untracked{0};    // on the injection interface: dropped
  std::atomic<std::uint64_t> step_drop{0};          // DROP verdict, table full, NAT exhausted
  std::atomic<std::uint64_t> step_error{0};         // a rewrite failed
  std::atomic<std::uint64_t> xlat_mark_failed{0};   // translated-flow map update failed
  std::atomic<std::uint64_t> output_new{0};         // OUTPUT hook: local connections evaluated
  std::atomic<std::uint64_t> output_no_context{0};  // ... of which without a recorded socket
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

  // setRules swaps the compiled rule sets of both families in; packets already being processed
  // finish with the old ones. Each pointer must keep the RuleSet it was compiled from alive
  // (e.g. an aliasing shared_ptr owning both). A family without rules (nullptr), and every
  // family until the first call, leaves new flows to the kernel.
  void setRules(std::shared_ptr<const CompiledRuleSet> v4,
                std::shared_ptr<const CompiledRuleSet> v6) {
    rules_v4_.store(std::move(v4));
    rules_v6_.store(std::move(v6));
  }

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
  Decision processInjected(std::span<std::uint8_t> frame, ParsedPacket& parsed);
  Decision processOutput(std::span<std::uint8_t> frame, ParsedPacket& parsed);
  Decision toProxy(std::span<std::uint8_t> frame);
  Decision toClient(std::span<std::uint8_t> frame, const ReplyPath& path);
  const Iface* capture(std::uint32_t ifindex) const;

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
  std::atomic<std::shared_ptr<const CompiledRuleSet>> rules_v4_;
  std::atomic<std::shared_ptr<const CompiledRuleSet>> rules_v6_;
  ConntrackProcessorStats stats_;
};

}  // namespace xredir::xdp
