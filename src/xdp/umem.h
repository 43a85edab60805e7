// umem.h owns one UMEM: the packet-buffer area shared by every AF_XDP socket of one worker
// (one socket per interface for that worker's queue). Sharing one UMEM across the worker's
// sockets (xsk_socket__create_shared) lets a frame received on the capture interface be sent on
// the injection interface by moving its descriptor from one ring to the other: no copy in user
// space; in copy mode the kernel's copy at TX is the only one. The area is allocated once.
#pragma once

#include <xdp/xsk.h>

#include <cstdint>
#include <memory>

#include "xredir/os_status.h"

namespace xredir::xdp {

struct UmemConfig {
  std::uint32_t frame_count = 8192;  // 32 MiB at 4 KiB frames: fill + RX + TX rings of two sockets
  std::uint32_t frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE;  // 4 KiB; must hold an MTU frame
  std::uint32_t fill_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
  std::uint32_t comp_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
};

class Umem {
 public:
  // create maps the area and registers it. Returns nullptr and sets err on failure.
  static std::unique_ptr<Umem> create(const UmemConfig& config, Status& err);
  ~Umem();
  Umem(const Umem&) = delete;
  Umem& operator=(const Umem&) = delete;

  xsk_umem* handle() { return umem_; }
  std::uint8_t* data(std::uint64_t addr) {
    return static_cast<std::uint8_t*>(xsk_umem__get_data(area_, addr));
  }
  const UmemConfig& config() const { return config_; }

 private:
  Umem() = default;
  UmemConfig config_;
  void* area_ = nullptr;
  std::uint64_t size_ = 0;
  xsk_umem* umem_ = nullptr;
  // The fill/completion rings xsk_umem__create sets up; libxdp copies them into the first
  // socket's ring structs (XskSocket), later sockets get rings of their own.
  xsk_ring_prod fill_{};
  xsk_ring_cons comp_{};
};

}  // namespace xredir::xdp
