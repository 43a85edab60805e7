// packet_meta.h owns the bridge from a parsed frame to what the rule engine sees of a packet
// (PacketMeta, rule_eval.h). The socket context (interfaces, mark, uid/gid, conntrack state) is
// not in the frame: the caller fills it in.
#pragma once

#include "xredir/packet.h"
#include "xredir/rule_eval.h"

namespace xredir {

// packetMetaFromParsed copies family, protocol, addresses, ports, TCP flags and the
// later-fragment flag of a parsed frame into a PacketMeta; every other field keeps its default.
// Ports are 0 for later fragments and for protocols without ports, as iptables sees them.
PacketMeta packetMetaFromParsed(const ParsedPacket& parsed);

}  // namespace xredir
