// original_dst_kernel.h owns `--original-dst kernel`: the original destination of a connection
// that the kernel's iptables REDIRECT/DNAT diverted, read with getsockopt(SO_ORIGINAL_DST) or
// (IPv6) IP6T_SO_ORIGINAL_DST. The call is a conntrack lookup and never blocks, so the worker
// makes it directly on its thread.
#pragma once

#include <optional>

#include "metrics.h"
#include "xredir/ip_addr.h"

namespace xredir::proxy {

// kernelOriginalDst returns the original destination of accepted socket fd, or nullopt with
// *error set (ENOENT -> kNotTracked: the kernel has no conntrack entry; anything else kOther).
// A dual-stack socket asks the IPv4 option first (ztunnel's order), then the IPv6 one.
std::optional<Endpoint> kernelOriginalDst(int fd, OdstError* error);

}  // namespace xredir::proxy
