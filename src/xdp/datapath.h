// datapath.h owns the assembled AF_XDP datapath of one node: the loaded XDP object, its
// attachments to the capture interfaces and to the injection interface, the injection pair and
// its routing, and one worker per RX queue index. It is the library's entry point for the
// daemon: create() sets the plumbing up (traffic keeps flowing through the kernel: no socket is
// bound yet, so the program passes everything), startWorkers() binds the sockets and starts
// steering. Destruction tears down in reverse: workers (sockets leave the XSKMAP), XDP
// detached, injection pair and routes removed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "xdp/bpf_program.h"
#include "xdp/injection_pair.h"
#include "xredir/os_status.h"
#include "xdp/output_capture.h"
#include "xdp/packet_processor.h"
#include "xdp/reply_fast_path.h"
#include "xdp/steering.h"
#include "xdp/umem.h"
#include "xdp/worker.h"
#include "xdp/xdp_attachment.h"

namespace xredir::xdp {

struct DatapathConfig {
  std::vector<std::string> capture_interfaces;
  InjectionConfig injection;
  std::vector<SteeringRule> steering = steerAll();
  std::uint32_t queues = 0;   // 0: as many as the interfaces have RX queues
  std::vector<int> cpus;      // worker i pinned to cpus[i % size]; empty: not pinned
  bool allow_generic = true;  // fall back to generic XDP (logged) where native fails
  bool force_copy = false;    // XDP_COPY even where zero-copy is available
  UmemConfig umem;
  // The OUTPUT hook: capture the node's own connections (output_capture.h); nullopt: off.
  std::optional<OutputConfig> output;
  // The proxy side's fast path at tc egress of the proxy-side veth (reply_fast_path.h), for
  // the entries of the XDP fast path: on with it.
  bool reply_fast_path = false;
};

struct CaptureInterface {
  std::string ifname;
  std::uint32_t ifindex = 0;
  MacAddr mac{};
};

class Datapath {
 public:
  // create loads the program, builds the injection pair, attaches XDP and publishes the
  // steering filter. Returns nullptr and sets err (one clear line) on failure, with everything
  // made so far removed.
  static std::unique_ptr<Datapath> create(const DatapathConfig& config, Status& err);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // startWorkers creates and starts one worker per queue index, each serving that queue on
  // every capture interface and the injection interface. processor must outlive the workers
  // and be thread-safe when there is more than one queue.
  Status startWorkers(PacketProcessor& processor);
  // stopWorkers stops and removes the workers (the XDP program then passes everything).
  void stopWorkers();
  // setSteering replaces the steering filter (e.g. after a rule reload).
  Status setSteering(const std::vector<SteeringRule>& rules);

  const InjectionPair& injection() const { return *injection_; }
  // output returns the OUTPUT hook's capture, or nullptr when it is off.
  const OutputCapture* output() const { return output_.get(); }
  const std::vector<CaptureInterface>& captures() const { return captures_; }
  BpfProgram& bpf() { return *bpf_; }
  const BpfProgram& bpf() const { return *bpf_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

  // rxQueueCount returns the number of RX queues of an interface (sysfs), at least 1.
  static std::uint32_t rxQueueCount(const std::string& ifname);

 private:
  Datapath() = default;
  DatapathConfig config_;
  // Declaration order is teardown order reversed: workers go first, then attachments, then the
  // injection pair, then the program.
  std::unique_ptr<BpfProgram> bpf_;
  std::unique_ptr<InjectionPair> injection_;
  std::unique_ptr<OutputCapture> output_;      // lives on the injection pair: removed before it
  std::unique_ptr<ReplyFastPath> reply_fast_;  // likewise
  std::vector<std::unique_ptr<XdpAttachment>> attachments_;
  std::vector<CaptureInterface> captures_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace xredir::xdp
