// xsk_socket.h owns one AF_XDP socket bound to one (interface, queue) on a shared UMEM, with its
// four rings. The socket is created with libxdp's program loading inhibited: the xredir program
// is ours, and the owner inserts fd() into our XSKMAP itself (BpfProgram::setXsk).
#pragma once

#include <xdp/xsk.h>

#include <cstdint>
#include <memory>
#include <string>

#include "xredir/os_status.h"
#include "xdp/umem.h"

namespace xredir::xdp {

struct XskSocketConfig {
  std::string ifname;
  std::uint32_t queue = 0;
  std::uint32_t rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
  std::uint32_t tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
  // force_copy binds with XDP_COPY; otherwise the kernel uses zero-copy where the driver has it
  // and copy mode elsewhere (veth). Only the first socket on a UMEM chooses: the others share
  // its mode (the kernel refuses mode flags with XDP_SHARED_UMEM).
  bool force_copy = false;
  // tx_budget: descriptors one copy-mode TX wakeup may send (XDP_MAX_TX_SKB_BUDGET, Linux 6.17+;
  // ignored where unsupported, where the kernel sends 32 per wakeup). 0 keeps the default.
  std::uint32_t tx_budget = 256;
};

class XskSocket {
 public:
  // create binds a socket on umem. Returns nullptr and sets err on failure.
  static std::unique_ptr<XskSocket> create(Umem& umem, const XskSocketConfig& config, Status& err);
  ~XskSocket();
  XskSocket(const XskSocket&) = delete;
  XskSocket& operator=(const XskSocket&) = delete;

  int fd() const { return xsk_socket__fd(xsk_); }
  // txQueued returns descriptors submitted on the TX ring that the kernel has not taken yet
  // (copy mode takes them only when kicked, a budget per kick).
  std::uint32_t txQueued() const {
    return *tx_.producer - __atomic_load_n(tx_.consumer, __ATOMIC_ACQUIRE);
  }
  xsk_ring_cons& rx() { return rx_; }
  xsk_ring_prod& tx() { return tx_; }
  xsk_ring_prod& fill() { return *fill_; }
  xsk_ring_cons& comp() { return *comp_; }

 private:
  XskSocket() = default;
  xsk_socket* xsk_ = nullptr;
  xsk_ring_cons rx_{};
  xsk_ring_prod tx_{};
  xsk_ring_prod own_fill_{};
  xsk_ring_cons own_comp_{};
  xsk_ring_prod* fill_ = nullptr;
  xsk_ring_cons* comp_ = nullptr;
};

}  // namespace xredir::xdp
