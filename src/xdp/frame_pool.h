// frame_pool.h owns the free list of one UMEM's frames. A worker owns its UMEM and everything
// bound to it, so the pool is single-threaded and lock-free by construction. All storage is
// allocated once; push/pop never allocate (data-plane rule).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace xredir::xdp {

class FramePool {
 public:
  // FramePool holds frame_count frames of frame_size bytes (a power of two), all free.
  FramePool(std::uint32_t frame_count, std::uint32_t frame_size)
      : frame_size_(frame_size), free_(frame_count) {
    for (std::uint32_t i = 0; i < frame_count; ++i) {
      free_[i] = static_cast<std::uint64_t>(frame_count - 1 - i) * frame_size;
    }
    top_ = frame_count;
  }

  std::size_t available() const { return top_; }
  std::size_t capacity() const { return free_.size(); }

  // pop returns a free frame's base address. Precondition: available() > 0.
  std::uint64_t pop() { return free_[--top_]; }

  // push returns a frame given its base or any address inside it (RX/TX descriptors carry the
  // frame base plus headroom). Returns false, and keeps nothing, when the pool is already full:
  // that is a double free, which the caller counts instead of corrupting the list.
  bool push(std::uint64_t addr) {
    if (top_ == free_.size()) return false;
    free_[top_++] = addr & ~static_cast<std::uint64_t>(frame_size_ - 1);
    return true;
  }

 private:
  std::uint32_t frame_size_;
  std::vector<std::uint64_t> free_;
  std::size_t top_ = 0;
};

}  // namespace xredir::xdp
