// ring.cc: io_uring set-up, opcode probe and provided-buffer ring (see ring.h).
#include "ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace xredir::proxy {

namespace {

struct RequiredOp {
  int opcode;
  const char* name;
};

// kRequiredOps lists every opcode the proxy submits.
constexpr RequiredOp kRequiredOps[] = {
    {IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},
    {IORING_OP_RECV, "IORING_OP_RECV"},
    {IORING_OP_SEND, "IORING_OP_SEND"},
    {IORING_OP_CONNECT, "IORING_OP_CONNECT"},
    {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
    {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD"},
    {IORING_OP_CLOSE, "IORING_OP_CLOSE"},
    {IORING_OP_READ, "IORING_OP_READ"},
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
};

}  // namespace

std::optional<std::string> probeOpcodes() {
  io_uring_probe* probe = io_uring_get_probe();
  if (probe == nullptr) return std::string("io_uring_get_probe failed (io_uring unavailable?)");
  std::optional<std::string> missing;
  for (const RequiredOp& op : kRequiredOps) {
    if (!io_uring_opcode_supported(probe, op.opcode)) {
      missing = op.name;
      break;
    }
  }
  io_uring_free_probe(probe);
  return missing;
}

std::optional<Ring> Ring::create(unsigned entries, std::string* error) {
  if (std::optional<std::string> missing = probeOpcodes()) {
    *error = "io_uring: the kernel lacks a required opcode: " + *missing;
    return std::nullopt;
  }
  auto ring = std::make_unique<io_uring>();
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  params.cq_entries = entries * 4;
  int rc = io_uring_queue_init_params(entries, ring.get(), &params);
  if (rc == -EINVAL) {
    // Kernels before 6.1 lack DEFER_TASKRUN (and before 6.0 SINGLE_ISSUER): both are only
    // optimisations, so set up without them.
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = entries * 4;
    rc = io_uring_queue_init_params(entries, ring.get(), &params);
  }
  if (rc < 0) {
    *error = std::string("io_uring_queue_init: ") + std::strerror(-rc);
    return std::nullopt;
  }
  if (!(params.features & IORING_FEAT_NODROP)) {
    io_uring_queue_exit(ring.get());
    *error = "io_uring: the kernel lacks IORING_FEAT_NODROP (needs Linux 5.5 or later)";
    return std::nullopt;
  }
  // Every io_uring_enter then names the ring by its registered index instead of an fd the kernel
  // looks up (fdget/fdput) on each call; one or more enters happen per connection. Linux 5.18;
  // without it the ring works the same through its fd.
  io_uring_register_ring_fd(ring.get());
  const unsigned skip = (params.features & IORING_FEAT_CQE_SKIP) ? IOSQE_CQE_SKIP_SUCCESS : 0;
  return Ring(std::move(ring), skip);
}

Ring::Ring(Ring&& other) noexcept
    : ring_(std::move(other.ring_)), skip_success_(other.skip_success_) {}

Ring::~Ring() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

io_uring_sqe* Ring::sqe() {
  for (;;) {
    if (io_uring_sqe* s = io_uring_get_sqe(ring_.get())) return s;
    if (io_uring_submit(ring_.get()) <= 0) io_uring_submit_and_wait(ring_.get(), 1);
  }
}

int Ring::submitAndWait(unsigned wait) {
  return io_uring_submit_and_wait(ring_.get(), wait);
}

std::optional<BufferRing> BufferRing::create(Ring& ring,
                                             std::uint16_t group,
                                             unsigned count,
                                             unsigned initial,
                                             unsigned size,
                                             std::string* error) {
  BufferRing b;
  b.ring_ = ring.raw();
  b.group_ = group;
  b.count_ = count;
  b.size_ = size;
  b.br_bytes_ = sizeof(io_uring_buf) * count;
  // liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves (page aligned).
  void* br = mmap(nullptr, b.br_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (br == MAP_FAILED) {
    *error = std::string("mmap buffer ring: ") + std::strerror(errno);
    return std::nullopt;
  }
  b.br_ = static_cast<io_uring_buf_ring*>(br);
  b.buffers_bytes_ = static_cast<std::size_t>(count) * size;
  void* bufs =
      mmap(nullptr, b.buffers_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (bufs == MAP_FAILED) {
    *error = std::string("mmap relay buffers: ") + std::strerror(errno);
    return std::nullopt;  // ~BufferRing unmaps br_
  }
  b.buffers_ = static_cast<std::uint8_t*>(bufs);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(b.br_);
  reg.ring_entries = count;
  reg.bgid = group;
  const int rc = io_uring_register_buf_ring(b.ring_, &reg, 0);
  if (rc < 0) {
    *error = std::string("io_uring_register_buf_ring: ") + std::strerror(-rc) +
             (rc == -EINVAL ? " (provided buffer rings need Linux 5.19 or later)" : "");
    b.ring_ = nullptr;  // nothing to unregister
    return std::nullopt;
  }
  io_uring_buf_ring_init(b.br_);
  b.provideUpTo(initial < 1 ? 1 : (initial > count ? count : initial));
  return std::optional<BufferRing>(std::move(b));
}

void BufferRing::provideUpTo(unsigned n) {
  const int mask = io_uring_buf_ring_mask(count_);
  const unsigned added = n - provided_;
  for (unsigned i = 0; i < added; ++i) {
    const unsigned bid = provided_ + i;
    io_uring_buf_ring_add(br_, data(static_cast<std::uint16_t>(bid)), size_,
                          static_cast<unsigned short>(bid), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br_, static_cast<int>(added));
  provided_ = n;
}

bool BufferRing::grow() {
  if (provided_ >= count_) return false;
  provideUpTo(provided_ * 2 > count_ ? count_ : provided_ * 2);
  return true;
}

void BufferRing::trim() {
  madvise(buffers_, static_cast<std::size_t>(provided_) * size_, MADV_DONTNEED);
}

BufferRing::BufferRing(BufferRing&& o) noexcept
    : ring_(o.ring_),
      br_(o.br_),
      br_bytes_(o.br_bytes_),
      buffers_(o.buffers_),
      buffers_bytes_(o.buffers_bytes_),
      group_(o.group_),
      count_(o.count_),
      provided_(o.provided_),
      in_use_(o.in_use_),
      size_(o.size_) {
  o.ring_ = nullptr;
  o.br_ = nullptr;
  o.buffers_ = nullptr;
}

BufferRing::~BufferRing() {
  if (ring_ != nullptr) io_uring_unregister_buf_ring(ring_, group_);
  if (buffers_ != nullptr) munmap(buffers_, buffers_bytes_);
  if (br_ != nullptr) munmap(br_, br_bytes_);
}

void BufferRing::recycle(std::uint16_t bid) {
  --in_use_;
  io_uring_buf_ring_add(br_, data(bid), size_, bid, io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(br_, 1);
}

}  // namespace xredir::proxy
