// packet.h owns the parsed view of one Ethernet frame: where its layers start, what the IP and
// transport headers say, and why a frame that could not be parsed was refused. Parsing is
// zero-copy and bounds-checked: it reads the frame through a span, never past its end, never
// allocates, and answers every malformed frame with a typed status instead of undefined
// behaviour. Rewriting lives in packet_rewrite.h, checksums in checksum.h and
// packet_checksum.h, the bridge to the rule engine in packet_meta.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "xredir/ip_addr.h"

namespace xredir {

using MacAddr = std::array<std::uint8_t, 6>;

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") the parser looks at.
inline constexpr std::uint8_t kIpProtoHopByHop = 0;
inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoRouting = 43;
inline constexpr std::uint8_t kIpProtoFragment = 44;
inline constexpr std::uint8_t kIpProtoEsp = 50;
inline constexpr std::uint8_t kIpProtoAh = 51;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;
inline constexpr std::uint8_t kIpProtoNoNext = 59;
inline constexpr std::uint8_t kIpProtoDestOpts = 60;

// EtherTypes (IEEE 802 numbers) the parser accepts.
inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
inline constexpr std::uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad S-tag

// TCP flag bits as in the TCP header's 13th byte (and PacketMeta::tcp_flags).
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;
inline constexpr std::uint8_t kTcpUrg = 0x20;
inline constexpr std::uint8_t kTcpEce = 0x40;
inline constexpr std::uint8_t kTcpCwr = 0x80;

// Limits. Two VLAN tags cover 802.1Q and 802.1ad (QinQ); a third tag is refused rather than
// walked without bound. Eight IPv6 extension headers cover RFC 8200 §4.1's recommended chain
// (Hop-by-Hop, Destination, Routing, Fragment, AH, ESP, Destination) with room to spare; more
// is an attack on parsers, not traffic.
inline constexpr int kMaxVlanTags = 2;
inline constexpr int kMaxIpv6ExtensionHeaders = 8;

// Header sizes on the wire.
inline constexpr std::size_t kEthernetHeaderSize = 14;
inline constexpr std::size_t kVlanTagSize = 4;
inline constexpr std::size_t kIpv4MinHeaderSize = 20;
inline constexpr std::size_t kIpv6HeaderSize = 40;
inline constexpr std::size_t kTcpMinHeaderSize = 20;
inline constexpr std::size_t kUdpHeaderSize = 8;
inline constexpr std::size_t kIcmpHeaderSize = 8;

// ParseStatus says whether a frame parsed, and if not, which check refused it. The zero value
// is not a status: a default-initialised variable never reads as success.
enum class ParseStatus : std::uint8_t {
  kOk = 1,
  kTruncatedEthernet,         // shorter than the 14-byte Ethernet header
  kTruncatedVlan,             // a VLAN TPID with fewer than 4 tag bytes after it
  kTooManyVlanTags,           // more than kMaxVlanTags tags
  kUnsupportedEthertype,      // neither IPv4 nor IPv6 (ARP, 802.3 length field, MPLS, ...)
  kTruncatedIpv4,             // fewer than 20 bytes, or fewer than IHL*4
  kBadIpVersion,              // version nibble disagrees with the EtherType
  kBadIpv4HeaderLength,       // IHL < 5
  kBadIpv4Options,            // an option's length runs outside the option area or is < 2
  kBadIpv4TotalLength,        // total length < IHL*4 or longer than the frame
  kBadFragment,               // fragment offset + length beyond 65535 (RFC 791/8200 limits)
  kTruncatedIpv6,             // fewer than 40 bytes
  kBadIpv6PayloadLength,      // payload length runs past the frame
  kTruncatedExtensionHeader,  // an extension header runs past the IPv6 payload (this is
                              // also what a jumbogram, payload length 0, parses to)
  kBadExtensionHeaderOrder,   // Hop-by-Hop not directly after the IPv6 header (RFC 8200 §4.3)
  kTooManyExtensionHeaders,   // more than kMaxIpv6ExtensionHeaders
  kTruncatedTcp,              // fewer than 20 bytes of TCP header
  kBadTcpDataOffset,          // data offset < 5, or the header runs past the segment
  kTruncatedUdp,              // fewer than 8 bytes of UDP header
  kBadUdpLength,              // UDP length < 8 or not equal to the IP payload length
  kTruncatedIcmp,             // fewer than 8 bytes of ICMP/ICMPv6 header
};

// parseStatusName returns the enumerator's name without the k ("TruncatedEthernet"), for
// counters and test messages.
const char* parseStatusName(ParseStatus status);

// FragmentKind tells whether the IP datagram is a fragment and which one. Only the first
// fragment carries the transport header; later fragments have no ports (Linux's iptables then
// never matches a port, see PacketMeta::later_fragment).
enum class FragmentKind : std::uint8_t {
  kNone = 1,  // a whole datagram (an IPv6 atomic fragment, offset 0 and M=0, counts as whole)
  kFirst,     // offset 0, more fragments follow
  kLater,     // offset > 0
};

// ParsedPacket describes one parsed frame. Offsets are from the start of the frame. The IP
// datagram is [l3_offset, l3_end): bytes after l3_end are Ethernet padding. For kLater
// fragments l4_offset == payload_offset == start of the fragment data and ports are 0.
struct ParsedPacket {
  std::uint32_t l3_offset = 0;
  std::uint32_t l4_offset = 0;       // transport header (after all IPv6 extension headers)
  std::uint32_t payload_offset = 0;  // transport payload (after TCP options / UDP / ICMP header)
  std::uint32_t l3_end = 0;          // end of the IP datagram per its length field
  Family family = Family::kV4;
  std::uint8_t protocol = 0;  // upper-layer protocol (IPv6: after the extension headers)
  std::uint8_t vlan_count = 0;
  std::array<std::uint16_t, kMaxVlanTags> vlan_tci{};  // outermost first, host order
  IpAddr src;
  IpAddr dst;
  std::uint16_t sport = 0;  // host order; TCP/UDP only
  std::uint16_t dport = 0;
  std::uint8_t tcp_flags = 0;
  std::uint8_t icmp_type = 0;  // ICMP/ICMPv6 only
  std::uint8_t icmp_code = 0;
  std::uint8_t ttl = 0;  // IPv4 TTL or IPv6 hop limit
  FragmentKind fragment = FragmentKind::kNone;
  std::uint32_t fragment_id = 0;      // IPv4 identification or IPv6 fragment identification
  std::uint16_t fragment_offset = 0;  // in bytes
  // IPv6 routing header with segments left > 0: the pseudo-header destination is not the
  // header's destination, so checksum verification and rewriting refuse such packets.
  bool ipv6_source_routed = false;

  std::uint32_t l4Length() const { return l3_end - l4_offset; }
};

// parsePacket parses an Ethernet II frame (optionally with up to two VLAN tags) carrying IPv4
// or IPv6 and, when present in the frame, a TCP, UDP, ICMP or ICMPv6 header. Any other upper
// protocol parses to kOk with `protocol` set and no ports. On kOk `out` describes the frame; on
// any other status `out` is unspecified. Reads only [frame.begin(), frame.end()).
// Checksums are not verified here (see packet_checksum.h): that costs a pass over the payload.
[[nodiscard]] ParseStatus parsePacket(std::span<const std::uint8_t> frame, ParsedPacket& out);

// readSrcMac and readDstMac return the Ethernet addresses. Precondition: frame.size() >= 14
// (true for every frame parsePacket accepted).
MacAddr readDstMac(std::span<const std::uint8_t> frame);
MacAddr readSrcMac(std::span<const std::uint8_t> frame);

}  // namespace xredir
