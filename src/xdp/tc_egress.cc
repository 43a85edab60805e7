#include "xdp/tc_egress.h"

#include <bpf/libbpf.h>

#include <cerrno>

namespace xredir::xdp {
namespace {

bpf_tc_hook egressHook(std::uint32_t ifindex) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = BPF_TC_EGRESS;
  return hook;
}

}  // namespace

std::unique_ptr<TcEgressAttachment> TcEgressAttachment::attach(std::uint32_t ifindex,
                                                               int prog_fd,
                                                               std::uint32_t priority,
                                                               const std::string& what,
                                                               Status& err) {
  std::unique_ptr<TcEgressAttachment> a(new TcEgressAttachment(ifindex));
  bpf_tc_hook hook = egressHook(ifindex);
  int rc = bpf_tc_hook_create(&hook);
  if (rc != 0 && rc != -EEXIST) {
    err = Status::error(-rc, "create the clsact qdisc for " + what);
    return nullptr;
  }
  a->hook_created_ = rc == 0;
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.prog_fd = prog_fd;
  opts.priority = priority;
  rc = bpf_tc_attach(&hook, &opts);
  if (rc != 0) {
    err = Status::error(-rc, "attach " + what + " (tc egress)");
    return nullptr;  // the destructor removes a qdisc we created
  }
  a->attached_ = true;
  a->handle_ = opts.handle;
  a->priority_ = opts.priority;
  return a;
}

TcEgressAttachment::~TcEgressAttachment() {
  bpf_tc_hook hook = egressHook(ifindex_);
  if (hook_created_) {
    // Removing the clsact qdisc we created removes every filter on it, ours included.
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    (void)bpf_tc_hook_destroy(&hook);
  } else if (attached_) {
    bpf_tc_opts opts{};
    opts.sz = sizeof(opts);
    opts.handle = handle_;
    opts.priority = priority_;
    (void)bpf_tc_detach(&hook, &opts);
  }
}

}  // namespace xredir::xdp
