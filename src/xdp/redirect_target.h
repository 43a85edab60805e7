// redirect_target.h owns one question about an interface: can the XDP program bpf_redirect
// frames out of it right now? That is the kernel's NETDEV_XDP_ACT_NDO_XMIT xdp-feature, read
// over the generic-netlink "netdev" family (Linux 6.3+). For a veth it is dynamic: the kernel
// sets it only while the PEER end can receive redirected frames (an XDP program attached or
// GRO on, i.e. NAPI enabled), and a redirect into a veth without it is silently dropped. The
// fast path asks before installing a flow whose egress is that interface, so it never
// black-holes traffic; without the answer (older kernel) the flow stays on the AF_XDP path.
#pragma once

#include <cstdint>
#include <optional>

namespace xredir::xdp {

// canRedirectTo returns whether `ifindex` (in the caller's network namespace) accepts
// XDP_REDIRECTed frames (NDO_XMIT), or nullopt when the kernel does not say (no "netdev"
// genetlink family, no such interface). A few syscalls: call it per interface, not per packet.
std::optional<bool> canRedirectTo(std::uint32_t ifindex);

}  // namespace xredir::xdp
