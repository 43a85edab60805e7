#include "xdp/output_sock_ctx.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "output.skel.h"

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

std::unique_ptr<OutputSockCtx> OutputSockCtx::attach(std::uint32_t ifindex, Status& err) {
  xredir_output_bpf* skel = xredir_output_bpf__open_and_load();
  if (skel == nullptr) {
    err = Status::error(errno, "load the xredir tc program of the OUTPUT hook");
    return nullptr;
  }
  std::unique_ptr<OutputSockCtx> ctx(new OutputSockCtx(skel, ifindex));
  bpf_tc_hook hook = egressHook(ifindex);
  int rc = bpf_tc_hook_create(&hook);
  if (rc != 0 && rc != -EEXIST) {
    err = Status::error(-rc, "create the clsact qdisc for the OUTPUT hook's tc program");
    return nullptr;
  }
  ctx->hook_created_ = rc == 0;
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.prog_fd = bpf_program__fd(skel->progs.xredir_tc_output);
  rc = bpf_tc_attach(&hook, &opts);
  if (rc != 0) {
    err = Status::error(-rc, "attach the OUTPUT hook's tc program (egress)");
    return nullptr;
  }
  ctx->attached_ = true;
  ctx->handle_ = opts.handle;
  ctx->priority_ = opts.priority;
  return ctx;
}

OutputSockCtx::~OutputSockCtx() {
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
  xredir_output_bpf__destroy(skel_);
}

std::optional<xredir_sock_ctx> OutputSockCtx::lookup(const xredir_flow_key& flow) const {
  xredir_sock_ctx value{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xr_sockctx), &flow, &value) != 0) {
    return std::nullopt;
  }
  return value;
}

}  // namespace xredir::xdp
