#include "xdp/xsk_socket.h"

#include <linux/if_xdp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

// XDP_MAX_TX_SKB_BUDGET (Linux 6.17, <linux/if_xdp.h>) raises how many descriptors one copy-mode
// TX wakeup sends (32 before, the kernel's TX_BATCH_SIZE). Debian 12's headers predate it.
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif

namespace xredir::xdp {

std::unique_ptr<XskSocket> XskSocket::create(Umem& umem,
                                             const XskSocketConfig& config,
                                             Status& err) {
  std::unique_ptr<XskSocket> s(new XskSocket());
  xsk_socket_config cfg{};
  cfg.rx_size = config.rx_size;
  cfg.tx_size = config.tx_size;
  cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  cfg.xdp_flags = 0;
  cfg.bind_flags = XDP_USE_NEED_WAKEUP | (config.force_copy ? XDP_COPY : 0);
  // The first socket on a UMEM takes over the rings xsk_umem__create made; libxdp copies them
  // into whatever structs we pass, so keep ours per socket in both cases.
  s->fill_ = &s->own_fill_;
  s->comp_ = &s->own_comp_;
  int rc = xsk_socket__create_shared(&s->xsk_, config.ifname.c_str(), config.queue, umem.handle(),
                                     &s->rx_, &s->tx_, s->fill_, s->comp_, &cfg);
  if (rc != 0) {
    s->xsk_ = nullptr;
    err = Status::error(
        -rc, "create AF_XDP socket on " + config.ifname + " queue " + std::to_string(config.queue));
    return nullptr;
  }
  if (config.tx_budget != 0) {
    int budget = static_cast<int>(config.tx_budget);
    if (setsockopt(xsk_socket__fd(s->xsk_), SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget,
                   sizeof(budget)) != 0) {
      // Older kernels: 32 descriptors per wakeup; the worker kicks again while the ring holds
      // more. Not an error.
      spdlog::debug("{} queue {}: XDP_MAX_TX_SKB_BUDGET {}: {}", config.ifname, config.queue,
                    budget, std::strerror(errno));
    }
  }
  return s;
}

XskSocket::~XskSocket() {
  if (xsk_ != nullptr) xsk_socket__delete(xsk_);
}

}  // namespace xredir::xdp
