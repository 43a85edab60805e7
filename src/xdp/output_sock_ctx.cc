#include "xdp/output_sock_ctx.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "output.skel.h"

namespace xredir::xdp {

std::unique_ptr<OutputSockCtx> OutputSockCtx::attach(std::uint32_t ifindex, Status& err) {
  xredir_output_bpf* skel = xredir_output_bpf__open_and_load();
  if (skel == nullptr) {
    err = Status::error(errno, "load the xredir tc program of the OUTPUT hook");
    return nullptr;
  }
  std::unique_ptr<OutputSockCtx> ctx(new OutputSockCtx(skel));
  ctx->attachment_ =
      TcEgressAttachment::attach(ifindex, bpf_program__fd(skel->progs.xredir_tc_output),
                                 kTcPriority, "the OUTPUT hook's tc program", err);
  if (!ctx->attachment_) return nullptr;
  return ctx;
}

OutputSockCtx::~OutputSockCtx() {
  attachment_.reset();  // before the program it runs is freed
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
