// output_sock_ctx.h owns the socket-context probe of the OUTPUT hook: the tc egress program of
// output.bpf.c (embedded through its own bpftool skeleton), attached with a clsact qdisc to the
// proxy-side veth of the injection pair, and the typed read of the map it fills. A local
// connection's first packet still carries its socket when it leaves that veth; the probe records
// uid, mark and the main table's egress interface under the flow's 5-tuple, and the engine reads
// them when the same frame arrives on the injection interface. Move-only; destruction detaches
// the program and removes the clsact qdisc it created.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "xdp/abi.h"
#include "xdp/os_result.h"

struct xredir_output_bpf;

namespace xredir::xdp {

class OutputSockCtx {
 public:
  // attach loads the program and attaches it to ifindex's egress. On failure returns nullptr
  // and sets err (nothing is left attached).
  static std::unique_ptr<OutputSockCtx> attach(std::uint32_t ifindex, Status& err);
  ~OutputSockCtx();
  OutputSockCtx(const OutputSockCtx&) = delete;
  OutputSockCtx& operator=(const OutputSockCtx&) = delete;

  // lookup returns the context recorded for a flow (key as the frame carries it), or nullopt
  // when the probe recorded none (not a local connection's first packet, or evicted). One
  // bpf() call: callers use it on a flow's first packet only.
  std::optional<xredir_sock_ctx> lookup(const xredir_flow_key& flow) const;

 private:
  OutputSockCtx(xredir_output_bpf* skel, std::uint32_t ifindex) : skel_(skel), ifindex_(ifindex) {}
  xredir_output_bpf* skel_;
  std::uint32_t ifindex_;
  bool hook_created_ = false;
  bool attached_ = false;
  std::uint32_t handle_ = 0;  // of the attached filter (libbpf fills them in at attach)
  std::uint32_t priority_ = 0;
};

}  // namespace xredir::xdp
