// packet_checksum.cc: full verification and recomputation of a parsed frame's checksums (see
// packet_checksum.h).
#include "xredir/packet_checksum.h"

#include <optional>

#include "packet/byte_order.h"
#include "xredir/checksum.h"

namespace xredir {
namespace {

// transportChecksumOffset returns where the checksum field sits in the transport header of the
// protocols whose checksum this file handles.
std::optional<std::size_t> transportChecksumOffset(const ParsedPacket& parsed) {
  if (parsed.protocol == kIpProtoTcp) return 16;
  if (parsed.protocol == kIpProtoUdp) return 6;
  if (parsed.family == Family::kV4 && parsed.protocol == kIpProtoIcmp) return 2;
  if (parsed.family == Family::kV6 && parsed.protocol == kIpProtoIcmpv6) return 2;
  return std::nullopt;
}

// transportVerifiable: the checksum covers the whole datagram and its pseudo-header uses the
// addresses in the IP header.
bool transportVerifiable(const ParsedPacket& parsed) {
  return parsed.fragment == FragmentKind::kNone && !parsed.ipv6_source_routed;
}

}  // namespace

ChecksumStatus verifyPacketChecksums(std::span<const std::uint8_t> frame,
                                     const ParsedPacket& parsed) {
  if (parsed.family == Family::kV4) {
    const auto header = frame.subspan(parsed.l3_offset, parsed.l4_offset - parsed.l3_offset);
    if (!verifyIpv4HeaderChecksum(header)) return ChecksumStatus::kBadIpv4Header;
  }
  const auto offset = transportChecksumOffset(parsed);
  if (!offset) return ChecksumStatus::kOk;
  if (!transportVerifiable(parsed)) return ChecksumStatus::kNotVerifiable;
  const auto segment = frame.subspan(parsed.l4_offset, parsed.l4Length());
  const std::uint16_t field = wire::load16(segment.data() + *offset);
  if (parsed.protocol == kIpProtoUdp && parsed.family == Family::kV4 && field == 0) {
    return ChecksumStatus::kOk;  // "no checksum" (RFC 768)
  }
  if (parsed.family == Family::kV4 && parsed.protocol == kIpProtoIcmp) {
    // ICMPv4 has no pseudo-header (RFC 792).
    return checksumFold(checksumAccumulate(segment)) == 0xffff ? ChecksumStatus::kOk
                                                               : ChecksumStatus::kBadTransport;
  }
  if (parsed.protocol == kIpProtoUdp && parsed.family == Family::kV6 && field == 0) {
    return ChecksumStatus::kBadTransport;  // RFC 8200 §8.1: mandatory for IPv6
  }
  return verifyTransportChecksum(parsed.src, parsed.dst, parsed.protocol, segment)
             ? ChecksumStatus::kOk
             : ChecksumStatus::kBadTransport;
}

bool recomputePacketChecksums(std::span<std::uint8_t> frame, const ParsedPacket& parsed) {
  const auto offset = transportChecksumOffset(parsed);
  if (offset && !transportVerifiable(parsed)) return false;
  if (offset) {
    const auto segment = frame.subspan(parsed.l4_offset, parsed.l4Length());
    std::uint8_t* field = segment.data() + *offset;
    const bool udp = parsed.protocol == kIpProtoUdp;
    if (udp && parsed.family == Family::kV4 && wire::load16(field) == 0) {
      // Keep "no checksum": the sender chose it and the receiver accepts it.
    } else if (parsed.family == Family::kV4 && parsed.protocol == kIpProtoIcmp) {
      wire::store16(field, 0);
      wire::store16(field, internetChecksum(segment));
    } else {
      const std::uint16_t sum =
          transportChecksum(parsed.src, parsed.dst, parsed.protocol, segment, *offset);
      wire::store16(field, udp ? udpChecksumOnWire(sum) : sum);
    }
  }
  if (parsed.family == Family::kV4) {
    const auto header = frame.subspan(parsed.l3_offset, parsed.l4_offset - parsed.l3_offset);
    wire::store16(header.data() + 10, ipv4HeaderChecksum(header));
  }
  return true;
}

}  // namespace xredir
