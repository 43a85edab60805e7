// packet_meta.cc: what the rule engine sees of a parsed frame (see packet_meta.h).
#include "xredir/packet_meta.h"

namespace xredir {

PacketMeta packetMetaFromParsed(const ParsedPacket& parsed) {
  PacketMeta meta;
  meta.family = parsed.family;
  meta.protocol = parsed.protocol;
  meta.src = parsed.src;
  meta.dst = parsed.dst;
  meta.sport = parsed.sport;
  meta.dport = parsed.dport;
  meta.tcp_flags = parsed.tcp_flags;
  meta.later_fragment = parsed.fragment == FragmentKind::kLater;
  return meta;
}

}  // namespace xredir
