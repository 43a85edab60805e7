#include "xdp/bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "xredir.skel.h"

namespace xredir::xdp {

std::unique_ptr<BpfProgram> BpfProgram::load(Status& err) {
  xredir_bpf* skel = xredir_bpf__open_and_load();
  if (skel == nullptr) {
    err = Status::error(errno, "load the xredir XDP object (needs root/CAP_BPF)");
    return nullptr;
  }
  return std::unique_ptr<BpfProgram>(new BpfProgram(skel));
}

BpfProgram::~BpfProgram() {
  xredir_bpf__destroy(skel_);
}

int BpfProgram::mainProgramFd() const {
  return bpf_program__fd(skel_->progs.xredir_xdp);
}
int BpfProgram::reinjectProgramFd() const {
  return bpf_program__fd(skel_->progs.xredir_reinject);
}
int BpfProgram::xsksMapFd() const {
  return bpf_map__fd(skel_->maps.xsks);
}
int BpfProgram::passMapFd() const {
  return bpf_map__fd(skel_->maps.xr_pass);
}
int BpfProgram::fastMapFd() const {
  return bpf_map__fd(skel_->maps.xr_fast);
}
int BpfProgram::statsMapFd() const {
  return bpf_map__fd(skel_->maps.xr_stats);
}

Status BpfProgram::setIface(std::uint32_t ifindex, std::uint32_t slot, xredir_iface_role role) {
  xredir_iface value{slot, static_cast<__u32>(role)};
  if (slot >= XREDIR_MAX_IFACES) return Status::error(EINVAL, "interface slot out of range");
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.xr_ifaces), &ifindex, &value, BPF_ANY) != 0) {
    return Status::error(errno,
                         "register interface in "
                         "xr_ifaces");
  }
  return {};
}

Status BpfProgram::removeIface(std::uint32_t ifindex) {
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.xr_ifaces), &ifindex) != 0 && errno != ENOENT) {
    return Status::error(errno, "remove interface from xr_ifaces");
  }
  return {};
}

Status BpfProgram::setFilter(std::span<const xredir_filter_entry> entries) {
  if (entries.size() > XREDIR_FILTER_MAX) return Status::error(E2BIG, "steering filter");
  int fd = bpf_map__fd(skel_->maps.xr_filter);
  // Write from the back so the list grows into place; the terminator (family 0) after the new
  // list is written last.
  for (std::size_t i = entries.size(); i-- > 0;) {
    __u32 key = static_cast<__u32>(i);
    if (bpf_map_update_elem(fd, &key, &entries[i], BPF_ANY) != 0) {
      return Status::error(errno, "write steering filter");
    }
  }
  xredir_filter_entry empty{};
  for (std::size_t i = entries.size(); i < XREDIR_FILTER_MAX; ++i) {
    __u32 key = static_cast<__u32>(i);
    if (bpf_map_update_elem(fd, &key, &empty, BPF_ANY) != 0) {
      return Status::error(errno, "clear steering filter");
    }
  }
  return {};
}

Status BpfProgram::setXsk(std::uint32_t key, int xsk_fd) {
  __u32 value = static_cast<__u32>(xsk_fd);
  if (bpf_map_update_elem(xsksMapFd(), &key, &value, BPF_ANY) != 0) {
    return Status::error(errno, "insert AF_XDP socket into the XSKMAP");
  }
  return {};
}

Status BpfProgram::clearXsk(std::uint32_t key) {
  if (bpf_map_delete_elem(xsksMapFd(), &key) != 0 && errno != ENOENT) {
    return Status::error(errno, "remove AF_XDP socket from the XSKMAP");
  }
  return {};
}

Status BpfProgram::markPassThrough(const xredir_flow_key& flow) {
  __u8 one = 1;
  if (bpf_map_update_elem(passMapFd(), &flow, &one, BPF_ANY) != 0) {
    return Status::error(errno, "mark flow pass-through");
  }
  return {};
}

Status BpfProgram::markTranslated(const xredir_flow_key& flow) {
  __u8 one = 1;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.xr_xlat), &flow, &one, BPF_ANY) != 0) {
    return Status::error(errno, "record translated flow");
  }
  return {};
}

Status BpfProgram::installFast(const xredir_flow_key& key, const xredir_fast_entry& value) {
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.xr_fast), &key, &value, BPF_ANY) != 0) {
    return Status::error(errno, "install fast-path entry");
  }
  return {};
}

Status BpfProgram::removeFast(const xredir_flow_key& key) {
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.xr_fast), &key) != 0 && errno != ENOENT) {
    return Status::error(errno, "remove fast-path entry");
  }
  return {};
}

std::vector<FastMapEntry> BpfProgram::fastEntries() const {
  const int fd = bpf_map__fd(skel_->maps.xr_fast);
  std::vector<xredir_flow_key> keys;
  xredir_flow_key key{};
  const xredir_flow_key* prev = nullptr;
  // Keys are collected before anything is looked up so that a concurrent delete of the
  // current key (which restarts get_next_key from the first key) cannot loop for long.
  while (keys.size() < XREDIR_FAST_MAX && bpf_map_get_next_key(fd, prev, &key) == 0) {
    keys.push_back(key);
    prev = &keys.back();
  }
  std::vector<FastMapEntry> out;
  out.reserve(keys.size());
  for (const auto& k : keys) {
    FastMapEntry e{k, {}};
    if (bpf_map_lookup_elem(fd, &k, &e.value) == 0) out.push_back(e);
  }
  return out;
}

bool BpfProgram::isPassThrough(const xredir_flow_key& flow) const {
  __u8 value = 0;
  return bpf_map_lookup_elem(passMapFd(), &flow, &value) == 0;
}

Status BpfProgram::reinject(std::span<const std::uint8_t> frame,
                            std::uint32_t ifindex,
                            std::uint32_t queue) const {
  xdp_md ctx{};
  ctx.ingress_ifindex = ifindex;
  ctx.rx_queue_index = queue;
  // BPF_PROG_TEST_RUN takes data/data_end in the context as offsets into data_in.
  ctx.data_end = static_cast<__u32>(frame.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<__u32>(frame.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = 1;
  opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
  if (bpf_prog_test_run_opts(reinjectProgramFd(), &opts) != 0) {
    return Status::error(errno, "re-inject frame into the kernel");
  }
  return {};
}

std::array<std::uint64_t, XREDIR_STAT_COUNT> BpfProgram::readStats() const {
  std::array<std::uint64_t, XREDIR_STAT_COUNT> out{};
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return out;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  for (__u32 i = 0; i < XREDIR_STAT_COUNT; ++i) {
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xr_stats), &i, per_cpu.data()) != 0) continue;
    for (auto v : per_cpu) out[i] += v;
  }
  return out;
}

}  // namespace xredir::xdp
