// parse.cc: the bounds-checked frame parser (see packet.h). Every read is preceded by a check
// that the bytes lie inside the frame and, above L2, inside the IP datagram's own length.
#include <cstring>
#include <memory>

#include "packet/byte_order.h"
#include "xredir/packet.h"

namespace xredir {
namespace {

using wire::load16;
using wire::load32;

// The largest IP datagram offset+length either version allows (16-bit length and offset
// fields); a fragment reaching past it is the "ping of death" shape and is refused.
constexpr std::uint32_t kMaxDatagramSize = 65535;

// setAddr stores an address as one 16-byte store (an IPv4 address zero-padded in a vector
// register), so that the per-packet code that copies it on with a 16-byte load gets it by store
// forwarding. Built in a plain array, GCC stored an IPv4 address as two 8-byte halves, and the
// load that spans them waited for both to reach the cache (4 ns per packet).
void setAddr(IpAddr& addr, Family family, const std::uint8_t* p) {
  using Words = std::uint32_t __attribute__((vector_size(16)));
  Words bytes;
  if (family == Family::kV4) {
    std::uint32_t v4;
    std::memcpy(&v4, p, 4);
    bytes = Words{v4, 0, 0, 0};
  } else {
    std::memcpy(&bytes, p, 16);
  }
  std::memcpy(addr.bytes.data(), &bytes, 16);
  addr.family = family;
}

// validateIpv4Options walks the option area (RFC 791 §3.1): End of Option List stops the walk,
// No Operation is one byte, every other option has a length byte covering itself and the type.
bool validateIpv4Options(const std::uint8_t* opt, std::size_t len) {
  std::size_t i = 0;
  while (i < len) {
    const std::uint8_t type = opt[i];
    if (type == 0) return true;  // EOL: the rest is padding
    if (type == 1) {             // NOP
      ++i;
      continue;
    }
    if (len - i < 2) return false;
    const std::uint8_t option_len = opt[i + 1];
    if (option_len < 2 || option_len > len - i) return false;
    i += option_len;
  }
  return true;
}

// parseTransport parses the transport header at out.l4_offset, which ends at out.l3_end.
// `whole` is false for a first fragment, whose data is only the start of the datagram.
ParseStatus parseTransport(const std::uint8_t* p, ParsedPacket& out, bool whole) {
  const std::uint32_t len = out.l3_end - out.l4_offset;
  const std::uint8_t* l4 = p + out.l4_offset;
  const bool icmp = (out.family == Family::kV4 && out.protocol == kIpProtoIcmp) ||
                    (out.family == Family::kV6 && out.protocol == kIpProtoIcmpv6);
  if (out.protocol == kIpProtoTcp) {
    if (len < kTcpMinHeaderSize) return ParseStatus::kTruncatedTcp;
    const std::uint32_t data_offset = (l4[12] >> 4) * 4u;
    if (data_offset < kTcpMinHeaderSize || data_offset > len) {
      return ParseStatus::kBadTcpDataOffset;
    }
    out.sport = load16(l4);
    out.dport = load16(l4 + 2);
    out.tcp_flags = l4[13];
    out.payload_offset = out.l4_offset + data_offset;
    return ParseStatus::kOk;
  }
  if (out.protocol == kIpProtoUdp) {
    if (len < kUdpHeaderSize) return ParseStatus::kTruncatedUdp;
    const std::uint32_t udp_len = load16(l4 + 4);
    // A whole datagram's UDP length must be exactly the IP payload; a first fragment holds
    // only the start of the UDP datagram, so its length can only be larger.
    if (udp_len < kUdpHeaderSize || (whole ? udp_len != len : udp_len < len)) {
      return ParseStatus::kBadUdpLength;
    }
    out.sport = load16(l4);
    out.dport = load16(l4 + 2);
    out.payload_offset = out.l4_offset + kUdpHeaderSize;
    return ParseStatus::kOk;
  }
  if (icmp) {
    if (len < kIcmpHeaderSize) return ParseStatus::kTruncatedIcmp;
    out.icmp_type = l4[0];
    out.icmp_code = l4[1];
    out.payload_offset = out.l4_offset + kIcmpHeaderSize;
    return ParseStatus::kOk;
  }
  out.payload_offset = out.l4_offset;
  return ParseStatus::kOk;
}

ParseStatus parseIpv4(const std::uint8_t* p, std::size_t n, ParsedPacket& out) {
  const std::size_t avail = n - out.l3_offset;
  if (avail < kIpv4MinHeaderSize) return ParseStatus::kTruncatedIpv4;
  const std::uint8_t* ip = p + out.l3_offset;
  if ((ip[0] >> 4) != 4) return ParseStatus::kBadIpVersion;
  const std::uint32_t header_len = (ip[0] & 0x0f) * 4u;
  if (header_len < kIpv4MinHeaderSize) return ParseStatus::kBadIpv4HeaderLength;
  if (header_len > avail) return ParseStatus::kTruncatedIpv4;
  const std::uint32_t total_len = load16(ip + 2);
  if (total_len < header_len || total_len > avail) return ParseStatus::kBadIpv4TotalLength;
  if (!validateIpv4Options(ip + kIpv4MinHeaderSize, header_len - kIpv4MinHeaderSize)) {
    return ParseStatus::kBadIpv4Options;
  }
  const std::uint16_t frag = load16(ip + 6);
  const bool more_fragments = (frag & 0x2000) != 0;
  const std::uint32_t frag_offset = (frag & 0x1fffu) * 8u;
  if (frag_offset + (total_len - header_len) > kMaxDatagramSize) return ParseStatus::kBadFragment;

  out.family = Family::kV4;
  out.ttl = ip[8];
  out.protocol = ip[9];
  setAddr(out.src, Family::kV4, ip + 12);
  setAddr(out.dst, Family::kV4, ip + 16);
  out.fragment_id = load16(ip + 4);
  out.fragment_offset = static_cast<std::uint16_t>(frag_offset);
  out.fragment = frag_offset != 0 ? FragmentKind::kLater
                 : more_fragments ? FragmentKind::kFirst
                                  : FragmentKind::kNone;
  out.l4_offset = out.l3_offset + header_len;
  out.l3_end = out.l3_offset + total_len;
  if (out.fragment == FragmentKind::kLater) {
    out.payload_offset = out.l4_offset;
    return ParseStatus::kOk;
  }
  return parseTransport(p, out, out.fragment == FragmentKind::kNone);
}

ParseStatus parseIpv6(const std::uint8_t* p, std::size_t n, ParsedPacket& out) {
  const std::size_t avail = n - out.l3_offset;
  if (avail < kIpv6HeaderSize) return ParseStatus::kTruncatedIpv6;
  const std::uint8_t* ip = p + out.l3_offset;
  if ((ip[0] >> 4) != 6) return ParseStatus::kBadIpVersion;
  const std::uint32_t payload_len = load16(ip + 4);
  if (kIpv6HeaderSize + payload_len > avail) return ParseStatus::kBadIpv6PayloadLength;

  out.family = Family::kV6;
  out.ttl = ip[7];
  setAddr(out.src, Family::kV6, ip + 8);
  setAddr(out.dst, Family::kV6, ip + 24);
  out.l3_end = out.l3_offset + static_cast<std::uint32_t>(kIpv6HeaderSize) + payload_len;

  std::uint8_t next = ip[6];
  std::uint32_t cur = out.l3_offset + static_cast<std::uint32_t>(kIpv6HeaderSize);
  int count = 0;
  for (;;) {
    const bool extension = next == kIpProtoHopByHop || next == kIpProtoRouting ||
                           next == kIpProtoDestOpts || next == kIpProtoFragment ||
                           next == kIpProtoAh;
    if (!extension) break;
    if (next == kIpProtoHopByHop && count != 0) return ParseStatus::kBadExtensionHeaderOrder;
    if (++count > kMaxIpv6ExtensionHeaders) return ParseStatus::kTooManyExtensionHeaders;
    // Every extension header walked here is at least 8 bytes (RFC 8200 §4, RFC 4302 §2).
    if (out.l3_end - cur < 8) return ParseStatus::kTruncatedExtensionHeader;
    const std::uint8_t* h = p + cur;
    if (next == kIpProtoFragment) {
      const std::uint16_t offset_flags = load16(h + 2);
      const std::uint32_t frag_offset = offset_flags & 0xfff8u;
      const bool more_fragments = (offset_flags & 1) != 0;
      cur += 8;
      if (frag_offset + (out.l3_end - cur) > kMaxDatagramSize) return ParseStatus::kBadFragment;
      out.fragment_id = load32(h + 4);
      out.fragment_offset = static_cast<std::uint16_t>(frag_offset);
      // Offset 0 without M is an atomic fragment: a whole datagram (RFC 6946).
      out.fragment = frag_offset != 0 ? FragmentKind::kLater
                     : more_fragments ? FragmentKind::kFirst
                                      : FragmentKind::kNone;
      next = h[0];
      if (out.fragment == FragmentKind::kLater) {
        // The fragment's data is the middle of the datagram: nothing more to parse.
        out.protocol = next;
        out.l4_offset = cur;
        out.payload_offset = cur;
        return ParseStatus::kOk;
      }
      continue;
    }
    // AH counts its length in 4-byte units minus 2, the others in 8-byte units minus 1.
    const std::uint32_t len = next == kIpProtoAh ? (h[1] + 2u) * 4u : (h[1] + 1u) * 8u;
    if (len > out.l3_end - cur) return ParseStatus::kTruncatedExtensionHeader;
    if (next == kIpProtoRouting && h[3] != 0) out.ipv6_source_routed = true;
    next = h[0];
    cur += len;
  }
  out.protocol = next;
  out.l4_offset = cur;
  if (next == kIpProtoNoNext) {
    out.payload_offset = cur;
    return ParseStatus::kOk;
  }
  return parseTransport(p, out, out.fragment == FragmentKind::kNone);
}

}  // namespace

ParseStatus parsePacket(std::span<const std::uint8_t> frame, ParsedPacket& out) {
  // Constructed in place: assigning a temporary built it on the stack byte by byte and then
  // copied it with wide loads, which stalled on store forwarding (a third of the parse).
  std::construct_at(&out);
  const std::uint8_t* p = frame.data();
  const std::size_t n = frame.size();
  if (n < kEthernetHeaderSize) return ParseStatus::kTruncatedEthernet;
  std::uint16_t ethertype = load16(p + 12);
  std::uint32_t off = kEthernetHeaderSize;
  while (ethertype == kEtherTypeVlan || ethertype == kEtherTypeQinQ) {
    if (out.vlan_count == kMaxVlanTags) return ParseStatus::kTooManyVlanTags;
    if (n - off < kVlanTagSize) return ParseStatus::kTruncatedVlan;
    out.vlan_tci[out.vlan_count++] = load16(p + off);
    ethertype = load16(p + off + 2);
    off += kVlanTagSize;
  }
  out.l3_offset = off;
  switch (ethertype) {
    case kEtherTypeIpv4:
      return parseIpv4(p, n, out);
    case kEtherTypeIpv6:
      return parseIpv6(p, n, out);
    default:
      return ParseStatus::kUnsupportedEthertype;
  }
}

MacAddr readDstMac(std::span<const std::uint8_t> frame) {
  MacAddr mac;
  std::memcpy(mac.data(), frame.data(), mac.size());
  return mac;
}

MacAddr readSrcMac(std::span<const std::uint8_t> frame) {
  MacAddr mac;
  std::memcpy(mac.data(), frame.data() + mac.size(), mac.size());
  return mac;
}

const char* parseStatusName(ParseStatus status) {
  switch (status) {
    case ParseStatus::kOk:
      return "Ok";
    case ParseStatus::kTruncatedEthernet:
      return "TruncatedEthernet";
    case ParseStatus::kTruncatedVlan:
      return "TruncatedVlan";
    case ParseStatus::kTooManyVlanTags:
      return "TooManyVlanTags";
    case ParseStatus::kUnsupportedEthertype:
      return "UnsupportedEthertype";
    case ParseStatus::kTruncatedIpv4:
      return "TruncatedIpv4";
    case ParseStatus::kBadIpVersion:
      return "BadIpVersion";
    case ParseStatus::kBadIpv4HeaderLength:
      return "BadIpv4HeaderLength";
    case ParseStatus::kBadIpv4Options:
      return "BadIpv4Options";
    case ParseStatus::kBadIpv4TotalLength:
      return "BadIpv4TotalLength";
    case ParseStatus::kBadFragment:
      return "BadFragment";
    case ParseStatus::kTruncatedIpv6:
      return "TruncatedIpv6";
    case ParseStatus::kBadIpv6PayloadLength:
      return "BadIpv6PayloadLength";
    case ParseStatus::kTruncatedExtensionHeader:
      return "TruncatedExtensionHeader";
    case ParseStatus::kBadExtensionHeaderOrder:
      return "BadExtensionHeaderOrder";
    case ParseStatus::kTooManyExtensionHeaders:
      return "TooManyExtensionHeaders";
    case ParseStatus::kTruncatedTcp:
      return "TruncatedTcp";
    case ParseStatus::kBadTcpDataOffset:
      return "BadTcpDataOffset";
    case ParseStatus::kTruncatedUdp:
      return "TruncatedUdp";
    case ParseStatus::kBadUdpLength:
      return "BadUdpLength";
    case ParseStatus::kTruncatedIcmp:
      return "TruncatedIcmp";
  }
  return "Unknown";
}

}  // namespace xredir
