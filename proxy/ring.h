// ring.h owns the io_uring instance of one proxy thread (Ring) and its provided-buffer ring
// (BufferRing). Ring::create probes, before anything else, that the running kernel supports every
// opcode the proxy submits, and fails with one line naming the first missing one: liburing 2.3's
// headers compile against features an older kernel may lack. Both types are move-only RAII.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace xredir::proxy {

// Ring is one io_uring. It is created on the thread that will submit to it (the ring is set up
// with IORING_SETUP_SINGLE_ISSUER when the kernel supports it).
class Ring {
 public:
  // create sets up a ring with `entries` submission entries (completion queue 4x larger) after
  // probing the required opcodes. On failure returns nullopt and sets *error to one line.
  static std::optional<Ring> create(unsigned entries, std::string* error);

  Ring(Ring&& other) noexcept;
  Ring& operator=(Ring&&) = delete;
  Ring(const Ring&) = delete;
  ~Ring();

  // sqe returns a free submission entry, submitting queued ones first when the queue is full.
  // Never returns null: when even a submit frees nothing it waits for one completion.
  io_uring_sqe* sqe();
  // submitAndWait submits queued entries and waits for at least `wait` completions. Returns the
  // io_uring_submit_and_wait result (-EINTR, -ETIME are normal).
  int submitAndWait(unsigned wait);
  // skipSuccessFlag is IOSQE_CQE_SKIP_SUCCESS when the kernel supports it (Linux 5.17), else 0:
  // fire-and-forget operations (closes) then post no completion unless they fail.
  unsigned skipSuccessFlag() const { return skip_success_; }
  io_uring* raw() { return ring_.get(); }

 private:
  Ring(std::unique_ptr<io_uring> ring, unsigned skip_success)
      : ring_(std::move(ring)), skip_success_(skip_success) {}
  std::unique_ptr<io_uring> ring_;
  unsigned skip_success_ = 0;
};

// probeOpcodes checks the opcodes the proxy needs. Returns the name of the first unsupported
// one, or nullopt when all are there. On a probe failure returns a description of that.
std::optional<std::string> probeOpcodes();

// BufferRing is a ring of up to `count` provided buffers of `size` bytes each, registered with
// io_uring_register_buf_ring under buffer group `group`. A recv with IOSQE_BUFFER_SELECT takes
// one; the proxy gives it back with recycle() once its bytes are sent. Only `initial` buffers are
// handed to the kernel at first and grow() adds more when a recv finds none: the kernel takes
// buffers round-robin, so every buffer handed over ends up touched (resident); handing over only
// what the load has needed keeps the resident memory proportional to the peak demand, bounded by
// count x size. trim() returns the pages of idle buffers to the system.
class BufferRing {
 public:
  // create maps and registers the ring. count must be a power of two <= 32768; initial (clamped
  // to 1..count) buffers are provided at once.
  static std::optional<BufferRing> create(Ring& ring,
                                          std::uint16_t group,
                                          unsigned count,
                                          unsigned initial,
                                          unsigned size,
                                          std::string* error);
  BufferRing(BufferRing&& other) noexcept;
  BufferRing& operator=(BufferRing&&) = delete;
  BufferRing(const BufferRing&) = delete;
  ~BufferRing();

  std::uint16_t group() const { return group_; }
  unsigned bufferSize() const { return size_; }
  unsigned count() const { return count_; }
  // provided returns how many buffers the kernel has been given so far (<= count()).
  unsigned provided() const { return provided_; }
  // noteTaken records that a completion handed the proxy one buffer (it returns by recycle).
  void noteTaken() { ++in_use_; }
  // available returns how many provided buffers the proxy does not hold: those the kernel may
  // still select (an overestimate while completions that took buffers are still unread).
  unsigned available() const { return provided_ - in_use_; }
  // data returns the memory of buffer bid.
  std::uint8_t* data(std::uint16_t bid) const {
    return buffers_ + static_cast<std::size_t>(bid) * size_;
  }
  // recycle hands buffer bid back to the kernel.
  void recycle(std::uint16_t bid);
  // grow provides more buffers (doubling, up to count()). Returns false when all already are.
  // Call it only when available() is 0, or one burst of ENOBUFS would grow the ring to its end.
  bool grow();
  // trim releases the pages of every provided buffer (MADV_DONTNEED; they read as zeroes and are
  // faulted in again on use). Only call it when no buffer is held by the proxy and no recv that
  // may select one is in flight: the kernel must not be writing into them.
  void trim();

 private:
  BufferRing() = default;
  // provideUpTo hands buffers provided_..n-1 to the kernel.
  void provideUpTo(unsigned n);
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_bytes_ = 0;
  std::uint8_t* buffers_ = nullptr;
  std::size_t buffers_bytes_ = 0;
  std::uint16_t group_ = 0;
  unsigned count_ = 0;
  unsigned provided_ = 0;
  unsigned in_use_ = 0;
  unsigned size_ = 0;
};

}  // namespace xredir::proxy
