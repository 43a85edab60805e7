// worker.h owns one AF_XDP worker: a thread serving one RX queue index on every datapath
// interface (the capture interfaces and the injection interface), with one UMEM shared by its
// sockets so that forwarding between them moves descriptors, not bytes. The loop, per
// iteration: reap TX completions, refill fill rings, take up to kBatch RX descriptors per
// socket, let the PacketProcessor decide each frame, stage transmissions per egress socket and
// submit each staging batch with one reserve and at most one sendto wakeup. No allocation, no
// logging, no syscalls per packet (the exception is the first packet of an untranslated flow:
// two bpf() calls to remember the flow and give the frame back to the kernel). Copy-mode TX
// moves only when kicked (sendto), at most the kernel's TX budget per kick (32, or 256 with
// XDP_MAX_TX_SKB_BUDGET on 6.17+): after each iteration every socket whose TX ring still holds
// descriptors is kicked once. Idle: poll().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "xdp/bpf_program.h"
#include "xdp/frame_pool.h"
#include "xredir/os_status.h"
#include "xdp/packet_processor.h"
#include "xdp/umem.h"
#include "xdp/xsk_socket.h"

namespace xredir::xdp {

// WorkerStats are monotonic counters, written by the worker thread only (relaxed atomics, so
// a metrics reader sees each value whole).
struct WorkerStats {
  std::atomic<std::uint64_t> rx_frames{0};
  std::atomic<std::uint64_t> tx_frames{0};
  std::atomic<std::uint64_t> to_kernel{0};
  std::atomic<std::uint64_t> drop_processor{0};     // processor said kDrop
  std::atomic<std::uint64_t> drop_tx_ring_full{0};  // egress TX ring had no room
  std::atomic<std::uint64_t> drop_no_egress{0};     // egress ifindex has no socket here
  std::atomic<std::uint64_t> drop_reinject{0};      // giving back to the kernel failed
  std::atomic<std::uint64_t> pass_mark_failed{0};   // pass-through map update failed
};

struct WorkerInterface {
  std::string ifname;
  std::uint32_t ifindex = 0;
  std::uint32_t slot = 0;  // the interface's XSKMAP slot (BpfProgram::setIface)
};

struct WorkerConfig {
  std::uint32_t queue = 0;
  int cpu = -1;  // pin the thread to this CPU when >= 0
  bool force_copy = false;
  UmemConfig umem;
  std::vector<WorkerInterface> interfaces;
};

class Worker {
 public:
  // kBatch is the number of descriptors taken per ring operation: large enough to amortise the
  // ring's barriers and the TX wakeup, small enough to stay in L1 (xdpsock uses 64).
  static constexpr std::uint32_t kBatch = 64;

  // create builds the UMEM and one socket per interface and publishes them in the XSKMAP.
  // The thread starts with start(). Returns nullptr and sets err on failure (nothing is left in
  // the XSKMAP then).
  static std::unique_ptr<Worker> create(const WorkerConfig& config,
                                        BpfProgram& bpf,
                                        PacketProcessor& processor,
                                        Status& err);
  // ~Worker stops the thread and removes its sockets from the XSKMAP before closing them, so
  // the XDP program falls back to XDP_PASS.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void stop();
  const WorkerStats& stats() const { return stats_; }
  std::uint32_t queue() const { return config_.queue; }

 private:
  struct Port {
    WorkerInterface iface;
    std::unique_ptr<XskSocket> socket;
    std::uint32_t xsk_key = 0;
    bool published = false;
    std::uint32_t staged = 0;
    xdp_desc staging[kBatch];
  };

  Worker(const WorkerConfig& config, BpfProgram& bpf, PacketProcessor& processor);
  void run();
  void reapCompletions(Port& port);
  void refill(Port& port);
  std::uint32_t receive(Port& port);
  void flushTx(Port& port);
  void kickTx(Port& port);
  Port* portFor(std::uint32_t ifindex);

  WorkerConfig config_;
  BpfProgram& bpf_;
  PacketProcessor& processor_;
  std::unique_ptr<Umem> umem_;
  std::unique_ptr<FramePool> pool_;
  std::vector<std::unique_ptr<Port>> ports_;
  WorkerStats stats_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace xredir::xdp
