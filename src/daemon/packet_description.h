// packet_description.h owns the one-line packet descriptions that `xredir trace` takes, e.g.
//   tcp 10.0.0.1:40000 -> 93.184.216.34:443 in eth0 hook prerouting
//   udp [fd00::1]:5353 -> [fd00::53]:53 out eth0 uid 1337 gid 1337 mark 0x10
// and turns them into the packet the rule engine evaluates.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "xredir/rule_eval.h"

namespace xredir {

// PacketDescription is a parsed description: the packet, the hook to evaluate it at, and storage
// for the interface names that PacketMeta views.
struct PacketDescription {
  PacketMeta packet;
  Hook hook = Hook::kPrerouting;
  std::string in_iface;
  std::string out_iface;

  // meta returns the packet with its interface views pointing at this description's strings.
  PacketMeta meta() const;
};

// parsePacketDescription parses `PROTO SRC -> DST` followed by any of `in IFACE`, `out IFACE`,
// `hook prerouting|output`, `uid N`, `gid N`, `mark M`, `flags F[,F...]` (TCP flags; default
// SYN, the first packet of a connection). Without `hook`, a description with `out` and no `in` is
// evaluated at OUTPUT, any other at PREROUTING. Returns the description or an error message.
std::variant<PacketDescription, std::string> parsePacketDescription(std::string_view text);

}  // namespace xredir
