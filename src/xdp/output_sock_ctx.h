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
#include "xredir/os_status.h"
#include "xdp/tc_egress.h"

struct xredir_output_bpf;

namespace xredir::xdp {

class OutputSockCtx {
 public:
  // attach loads the program and attaches it to ifindex's egress. On failure returns nullptr
  // and sets err (nothing is left attached).
  static std::unique_ptr<OutputSockCtx> attach(std::uint32_t ifindex, Status& err);
  // The probe runs after the proxy side's fast path (ReplyFastPath::kTcPriority), which never
  // carries a connection's first packet.
  static constexpr std::uint32_t kTcPriority = 2;
  ~OutputSockCtx();
  OutputSockCtx(const OutputSockCtx&) = delete;
  OutputSockCtx& operator=(const OutputSockCtx&) = delete;

  // lookup returns the context recorded for a flow (key as the frame carries it), or nullopt
  // when the probe recorded none (not a local connection's first packet, or evicted). One
  // bpf() call: callers use it on a flow's first packet only.
  std::optional<xredir_sock_ctx> lookup(const xredir_flow_key& flow) const;

 private:
  explicit OutputSockCtx(xredir_output_bpf* skel) : skel_(skel) {}
  xredir_output_bpf* skel_;
  std::unique_ptr<TcEgressAttachment> attachment_;
};

}  // namespace xredir::xdp
