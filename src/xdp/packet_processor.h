// packet_processor.h owns the seam between the AF_XDP workers and the packet engine. A worker
// knows rings and frames; the processor knows flows: it looks a frame up (conntrack, rules),
// rewrites it in place (addresses, ports, checksums, MACs) and says where it goes. The daemon
// wires the conntrack step in; tests plug a fixed rewrite in.
#pragma once

#include <cstdint>
#include <span>

namespace xredir::xdp {

// FrameAction is what the worker does with a frame after process(). The zero value is not an
// action, so a forgotten assignment is caught (the worker counts it and drops).
enum class FrameAction : std::uint8_t {
  kTransmit = 1,  // rewritten in place: send it out Decision::egress_ifindex
  kToKernel,      // not translated: hand it back to the kernel unchanged, remember the flow as
                  // pass-through so its later packets stay in the kernel
  kDrop,          // consume it (malformed, table full, policy DROP)
};

struct Decision {
  FrameAction action{};
  std::uint32_t egress_ifindex = 0;  // kTransmit only
};

// PacketProcessor is called by one worker thread at a time per instance; an implementation
// shared by several workers must be thread-safe (the sharded conntrack is).
class PacketProcessor {
 public:
  virtual ~PacketProcessor() = default;
  // process decides one frame received on ingress_ifindex. It may rewrite the frame in place
  // but not change its length. Data-plane rules: no allocation, no logging, no exceptions.
  virtual Decision process(std::span<std::uint8_t> frame, std::uint32_t ingress_ifindex) = 0;
};

}  // namespace xredir::xdp
