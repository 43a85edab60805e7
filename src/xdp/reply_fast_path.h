// reply_fast_path.h owns the proxy side's fast path: reply_fast.bpf.c (embedded through its own
// bpftool skeleton) attached at tc egress of the proxy-side veth (xr1). It shares the XDP
// program's fast-path and statistics maps, so entries installed for the XDP fast path
// (fast_path.h) are carried here too when the proxy sends them, before xr0's XDP program, with
// their GSO packets kept whole (see the program's comment). Destruction detaches it.
#pragma once

#include <cstdint>
#include <memory>

#include "xdp/bpf_program.h"
#include "xredir/os_status.h"
#include "xdp/tc_egress.h"

struct xredir_reply_fast_bpf;

namespace xredir::xdp {

class ReplyFastPath {
 public:
  // First on the hook: the OUTPUT hook's probe (OutputSockCtx::kTcPriority) runs after it.
  static constexpr std::uint32_t kTcPriority = 1;

  // attach loads the program with the maps of `bpf` and attaches it to proxy_ifindex's egress;
  // entries leading to inject_ifindex (local connections) stay with the XDP program. On
  // failure returns nullptr and sets err (nothing left attached).
  static std::unique_ptr<ReplyFastPath> attach(const BpfProgram& bpf,
                                               std::uint32_t proxy_ifindex,
                                               std::uint32_t inject_ifindex,
                                               Status& err);
  ~ReplyFastPath();
  ReplyFastPath(const ReplyFastPath&) = delete;
  ReplyFastPath& operator=(const ReplyFastPath&) = delete;

 private:
  explicit ReplyFastPath(xredir_reply_fast_bpf* skel) : skel_(skel) {}
  xredir_reply_fast_bpf* skel_;
  std::unique_ptr<TcEgressAttachment> attachment_;
};

}  // namespace xredir::xdp
