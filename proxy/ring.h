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
  // reserve makes sure n submission entries are free, so that a linked chain is never split
  // across two submits (a split chain loses its link).
  void reserve(unsigned n);
  // submitAndWait submits queued entries and waits for at least `wait` completions. Returns the
  // io_uring_submit_and_wait result (-EINTR, -ETIME are normal).
  int submitAndWait(unsigned wait);
  io_uring* raw() { return ring_.get(); }

 private:
  explicit Ring(std::unique_ptr<io_uring> ring) : ring_(std::move(ring)) {}
  std::unique_ptr<io_uring> ring_;
};

// probeOpcodes checks the opcodes the proxy needs. Returns the name of the first unsupported
// one, or nullopt when all are there. On a probe failure returns a description of that.
std::optional<std::string> probeOpcodes();

// BufferRing is a ring of `count` provided buffers of `size` bytes each, registered with
// io_uring_register_buf_ring under buffer group `group`. A recv with IOSQE_BUFFER_SELECT takes
// one; the proxy gives it back with recycle() once its bytes are sent.
class BufferRing {
 public:
  // create maps and registers the ring. count must be a power of two <= 32768.
  static std::optional<BufferRing> create(
      Ring& ring, std::uint16_t group, unsigned count, unsigned size, std::string* error);
  BufferRing(BufferRing&& other) noexcept;
  BufferRing& operator=(BufferRing&&) = delete;
  BufferRing(const BufferRing&) = delete;
  ~BufferRing();

  std::uint16_t group() const { return group_; }
  unsigned bufferSize() const { return size_; }
  unsigned count() const { return count_; }
  // data returns the memory of buffer bid.
  std::uint8_t* data(std::uint16_t bid) const {
    return buffers_ + static_cast<std::size_t>(bid) * size_;
  }
  // recycle hands buffer bid back to the kernel.
  void recycle(std::uint16_t bid);

 private:
  BufferRing() = default;
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_bytes_ = 0;
  std::uint8_t* buffers_ = nullptr;
  std::size_t buffers_bytes_ = 0;
  std::uint16_t group_ = 0;
  unsigned count_ = 0;
  unsigned size_ = 0;
};

}  // namespace xredir::proxy
