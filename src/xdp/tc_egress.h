// tc_egress.h owns one BPF program attached at tc egress of an interface (a clsact qdisc and a
// direct-action filter), for the datapath's tc programs on the proxy-side veth: the OUTPUT hook's
// socket probe (output_sock_ctx.h) and the proxy side's fast path (reply_fast_path.h). Filters
// run in priority order (lower first). Destruction detaches the filter, and removes the clsact
// qdisc when this attachment created it (which removes every filter on it: the programs share
// the qdisc and go away together, when the datapath is torn down).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "xredir/os_status.h"

namespace xredir::xdp {

class TcEgressAttachment {
 public:
  // attach puts prog_fd on ifindex's egress with the given priority (>= 1). `what` names the
  // program in errors. On failure returns nullptr and sets err (nothing left attached).
  static std::unique_ptr<TcEgressAttachment> attach(std::uint32_t ifindex,
                                                    int prog_fd,
                                                    std::uint32_t priority,
                                                    const std::string& what,
                                                    Status& err);
  ~TcEgressAttachment();
  TcEgressAttachment(const TcEgressAttachment&) = delete;
  TcEgressAttachment& operator=(const TcEgressAttachment&) = delete;

 private:
  explicit TcEgressAttachment(std::uint32_t ifindex) : ifindex_(ifindex) {}
  std::uint32_t ifindex_;
  bool hook_created_ = false;
  bool attached_ = false;
  std::uint32_t handle_ = 0;  // of the attached filter (libbpf fills them in at attach)
  std::uint32_t priority_ = 0;
};

}  // namespace xredir::xdp
