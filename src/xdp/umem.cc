#include "xdp/umem.h"

#include <sys/mman.h>

#include <cerrno>

namespace xredir::xdp {

std::unique_ptr<Umem> Umem::create(const UmemConfig& config, Status& err) {
  if (config.frame_size == 0 || (config.frame_size & (config.frame_size - 1)) != 0) {
    err = Status::error(EINVAL, "UMEM frame size must be a power of two");
    return nullptr;
  }
  std::unique_ptr<Umem> u(new Umem());
  u->config_ = config;
  u->size_ = static_cast<std::uint64_t>(config.frame_count) * config.frame_size;
  void* area = mmap(nullptr, u->size_, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (area == MAP_FAILED) {
    err = Status::error(errno, "map UMEM area");
    return nullptr;
  }
  u->area_ = area;
  xsk_umem_config cfg{};
  cfg.fill_size = config.fill_size;
  cfg.comp_size = config.comp_size;
  cfg.frame_size = config.frame_size;
  cfg.frame_headroom = XSK_UMEM__DEFAULT_FRAME_HEADROOM;
  cfg.flags = XSK_UMEM__DEFAULT_FLAGS;
  int rc = xsk_umem__create(&u->umem_, area, u->size_, &u->fill_, &u->comp_, &cfg);
  if (rc != 0) {
    u->umem_ = nullptr;
    err = Status::error(-rc, "register UMEM");
    return nullptr;
  }
  return u;
}

Umem::~Umem() {
  if (umem_ != nullptr) xsk_umem__delete(umem_);
  if (area_ != nullptr) munmap(area_, size_);
}

}  // namespace xredir::xdp
