#include "xdp/reply_fast_path.h"

#include <bpf/libbpf.h>

#include <cerrno>

#include "reply_fast.skel.h"

namespace xredir::xdp {

std::unique_ptr<ReplyFastPath> ReplyFastPath::attach(const BpfProgram& bpf,
                                                     std::uint32_t proxy_ifindex,
                                                     std::uint32_t inject_ifindex,
                                                     Status& err) {
  xredir_reply_fast_bpf* skel = xredir_reply_fast_bpf__open();
  if (skel == nullptr) {
    err = Status::error(errno, "open the proxy side's fast-path tc program");
    return nullptr;
  }
  std::unique_ptr<ReplyFastPath> fast(new ReplyFastPath(skel));
  skel->rodata->inject_ifindex = inject_ifindex;
  int rc = bpf_map__reuse_fd(skel->maps.xr_fast, bpf.fastMapFd());
  if (rc == 0) rc = bpf_map__reuse_fd(skel->maps.xr_stats, bpf.statsMapFd());
  if (rc != 0) {
    err = Status::error(-rc, "share the fast-path maps with the proxy side's tc program");
    return nullptr;
  }
  rc = xredir_reply_fast_bpf__load(skel);
  if (rc != 0) {
    err = Status::error(-rc, "load the proxy side's fast-path tc program");
    return nullptr;
  }
  fast->attachment_ =
      TcEgressAttachment::attach(proxy_ifindex, bpf_program__fd(skel->progs.xredir_tc_reply_fast),
                                 kTcPriority, "the proxy side's fast-path tc program", err);
  if (!fast->attachment_) return nullptr;
  return fast;
}

ReplyFastPath::~ReplyFastPath() {
  attachment_.reset();  // before the program it runs is freed
  xredir_reply_fast_bpf__destroy(skel_);
}

}  // namespace xredir::xdp
