#include "xdp/worker.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <span>

#include "xdp/steering.h"

namespace xredir::xdp {
namespace {

// kIdlePollMs bounds how long an idle worker sleeps in poll() before it rechecks stop_.
constexpr int kIdlePollMs = 100;

void relaxedAdd(std::atomic<std::uint64_t>& counter, std::uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace

Worker::Worker(const WorkerConfig& config, BpfProgram& bpf, PacketProcessor& processor)
    : config_(config), bpf_(bpf), processor_(processor) {}

std::unique_ptr<Worker> Worker::create(const WorkerConfig& config,
                                       BpfProgram& bpf,
                                       PacketProcessor& processor,
                                       Status& err) {
  if (config.queue >= XREDIR_MAX_QUEUES) {
    err = Status::error(EINVAL, "queue " + std::to_string(config.queue) + " beyond XSKMAP");
    return nullptr;
  }
  std::unique_ptr<Worker> w(new Worker(config, bpf, processor));
  UmemConfig umem_config = config.umem;
  // Every socket can hold a full fill ring and a full TX ring at once; size the UMEM so that
  // one busy socket never starves another's fill ring.
  auto needed = static_cast<std::uint32_t>(config.interfaces.size()) *
                (umem_config.fill_size + XSK_RING_PROD__DEFAULT_NUM_DESCS);
  umem_config.frame_count = std::max(umem_config.frame_count, needed);
  w->umem_ = Umem::create(umem_config, err);
  if (!w->umem_) return nullptr;
  w->pool_ = std::make_unique<FramePool>(umem_config.frame_count, umem_config.frame_size);
  for (const auto& iface : config.interfaces) {
    auto port = std::make_unique<Port>();
    port->iface = iface;
    XskSocketConfig sc;
    sc.ifname = iface.ifname;
    sc.queue = config.queue;
    sc.force_copy = config.force_copy;
    port->socket = XskSocket::create(*w->umem_, sc, err);
    if (!port->socket) return nullptr;  // ~Worker unpublishes what was published
    port->xsk_key = iface.slot * XREDIR_MAX_QUEUES + config.queue;
    // Fill before publishing: a socket in the XSKMAP with an empty fill ring drops frames.
    w->refill(*port);
    w->ports_.push_back(std::move(port));
    Port& p = *w->ports_.back();
    err = bpf.setXsk(p.xsk_key, p.socket->fd());
    if (!err.ok()) return nullptr;
    p.published = true;
  }
  return w;
}

Worker::~Worker() {
  stop();
  for (auto& port : ports_) {
    if (port->published) (void)bpf_.clearXsk(port->xsk_key);
  }
  ports_.clear();  // sockets before their UMEM
}

void Worker::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void Worker::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

Worker::Port* Worker::portFor(std::uint32_t ifindex) {
  for (auto& port : ports_) {
    if (port->iface.ifindex == ifindex) return port.get();
  }
  return nullptr;
}

void Worker::reapCompletions(Port& port) {
  std::uint32_t idx = 0;
  std::uint32_t n = xsk_ring_cons__peek(&port.socket->comp(), kBatch * 4, &idx);
  if (n == 0) return;
  for (std::uint32_t i = 0; i < n; ++i) {
    (void)pool_->push(*xsk_ring_cons__comp_addr(&port.socket->comp(), idx + i));
  }
  xsk_ring_cons__release(&port.socket->comp(), n);
}

void Worker::refill(Port& port) {
  xsk_ring_prod& fill = port.socket->fill();
  auto want = static_cast<std::uint32_t>(
      std::min<std::size_t>(pool_->available(), umem_->config().fill_size));
  if (want == 0) return;
  std::uint32_t n = std::min(want, xsk_prod_nb_free(&fill, want));
  if (n == 0) return;
  std::uint32_t idx = 0;
  if (xsk_ring_prod__reserve(&fill, n, &idx) != n) return;
  for (std::uint32_t i = 0; i < n; ++i) *xsk_ring_prod__fill_addr(&fill, idx + i) = pool_->pop();
  xsk_ring_prod__submit(&fill, n);
}

std::uint32_t Worker::receive(Port& port) {
  xsk_ring_cons& rx = port.socket->rx();
  std::uint32_t idx = 0;
  std::uint32_t n = xsk_ring_cons__peek(&rx, kBatch, &idx);
  if (n == 0) return 0;
  std::uint64_t tx = 0, to_kernel = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const xdp_desc* desc = xsk_ring_cons__rx_desc(&rx, idx + i);
    std::span<std::uint8_t> frame(umem_->data(desc->addr), desc->len);
    Decision decision = processor_.process(frame, port.iface.ifindex);
    bool kept = false;
    switch (decision.action) {
      case FrameAction::kTransmit: {
        Port* out = portFor(decision.egress_ifindex);
        if (out == nullptr) {
          relaxedAdd(stats_.drop_no_egress, 1);
          break;
        }
        if (out->staged == kBatch) flushTx(*out);
        out->staging[out->staged++] = xdp_desc{desc->addr, desc->len, 0};
        kept = true;
        ++tx;
        break;
      }
      case FrameAction::kToKernel: {
        // No "return to kernel" exists for an AF_XDP frame: remember the flow so its later
        // packets stay in the kernel (XDP_PASS in the program), then re-inject this one as if
        // received on its interface. Fails open for the flow even if the re-injection fails.
        if (auto key = flowKeyOf(frame)) {
          if (!bpf_.markPassThrough(*key).ok()) relaxedAdd(stats_.pass_mark_failed, 1);
        }
        if (bpf_.reinject(frame, port.iface.ifindex, config_.queue).ok()) {
          ++to_kernel;
        } else {
          relaxedAdd(stats_.drop_reinject, 1);
        }
        break;
      }
      case FrameAction::kDrop:
        relaxedAdd(stats_.drop_processor, 1);
        break;
    }
    if (!kept) (void)pool_->push(desc->addr);
  }
  xsk_ring_cons__release(&rx, n);
  relaxedAdd(stats_.rx_frames, n);
  relaxedAdd(stats_.tx_frames, tx);
  if (to_kernel != 0) relaxedAdd(stats_.to_kernel, to_kernel);
  return n;
}

void Worker::flushTx(Port& port) {
  if (port.staged == 0) return;
  xsk_ring_prod& tx = port.socket->tx();
  std::uint32_t n = std::min(port.staged, xsk_prod_nb_free(&tx, port.staged));
  std::uint32_t idx = 0;
  if (n > 0 && xsk_ring_prod__reserve(&tx, n, &idx) == n) {
    for (std::uint32_t i = 0; i < n; ++i) *xsk_ring_prod__tx_desc(&tx, idx + i) = port.staging[i];
    xsk_ring_prod__submit(&tx, n);
  } else {
    n = 0;
  }
  for (std::uint32_t i = n; i < port.staged; ++i) (void)pool_->push(port.staging[i].addr);
  if (n < port.staged) relaxedAdd(stats_.drop_tx_ring_full, port.staged - n);
  port.staged = 0;
}

void Worker::kickTx(Port& port) {
  // Copy-mode TX only moves when the socket is kicked (and at most the kernel's TX budget of
  // descriptors per kick), so a kick per batch; EAGAIN/EBUSY/ENOBUFS are flow control: the
  // descriptors stay in the ring and the next kick sends them.
  if (!xsk_ring_prod__needs_wakeup(&port.socket->tx())) return;
  (void)sendto(port.socket->fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
}

void Worker::run() {
  if (config_.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(config_.cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  }
  std::vector<pollfd> fds;
  for (auto& port : ports_) fds.push_back(pollfd{port->socket->fd(), POLLIN, 0});
  while (!stop_.load(std::memory_order_relaxed)) {
    std::uint32_t work = 0;
    bool tx_stuck = false;
    for (auto& port : ports_) {
      reapCompletions(*port);
      refill(*port);
    }
    for (auto& port : ports_) work += receive(*port);
    for (auto& port : ports_) {
      flushTx(*port);
      // One kick sends at most the kernel's TX budget: kick again while descriptors remain,
      // so the ring never fills up behind a budget-limited wakeup.
      std::uint32_t queued = port->socket->txQueued();
      if (queued != 0) {
        kickTx(*port);
        std::uint32_t left = port->socket->txQueued();
        if (left != 0) ++work;                // still draining: come back at once
        if (left == queued) tx_stuck = true;  // the kick moved nothing (link down, ENOBUFS)
      }
    }
    if (work != 0 && !tx_stuck) continue;
    // Idle: sleep until a socket has RX. A TX ring the kernel does not drain (a down egress
    // link) must not spin a core: sleep a millisecond and try again.
    (void)poll(fds.data(), fds.size(), tx_stuck ? 1 : kIdlePollMs);
  }
}

}  // namespace xredir::xdp
