// rewrite.cc: in-place NAT rewrites with incremental checksum updates (see packet_rewrite.h).
// Per packet this touches at most the address, the port and two checksum fields.
#include <cstring>

#include "packet/byte_order.h"
#include "xredir/checksum.h"
#include "xredir/packet_rewrite.h"

namespace xredir {
namespace {

// Offsets inside the headers (RFC 791, RFC 8200, RFC 793, RFC 768).
constexpr std::size_t kIpv4ChecksumOffset = 10;
constexpr std::size_t kIpv4SrcOffset = 12;
constexpr std::size_t kIpv4DstOffset = 16;
constexpr std::size_t kIpv6SrcOffset = 8;
constexpr std::size_t kIpv6DstOffset = 24;
constexpr std::size_t kTcpChecksumOffset = 16;
constexpr std::size_t kUdpChecksumOffset = 6;

enum class Side : std::uint8_t { kSource = 1, kDestination };

// ChecksumDelta accumulates RFC 1624 eqn. 3 over several changed words and applies it once:
// HC' = ~(~HC + sum(~m) + sum(m')).
class ChecksumDelta {
 public:
  void addWords(const std::uint8_t* old_bytes, const std::uint8_t* new_bytes, std::size_t len) {
    for (std::size_t i = 0; i + 1 < len; i += 2) {
      add(wire::load16(old_bytes + i), wire::load16(new_bytes + i));
    }
  }
  void add(std::uint16_t old_word, std::uint16_t new_word) {
    sum_ += static_cast<std::uint16_t>(~old_word);
    sum_ += new_word;
  }
  std::uint16_t apply(std::uint16_t checksum) const {
    return static_cast<std::uint16_t>(~checksumFold(sum_ + static_cast<std::uint16_t>(~checksum)));
  }

 private:
  std::uint32_t sum_ = 0;  // at most 9 words of 0xffff pairs: no overflow
};

RewriteStatus rewriteEndpoint(std::span<std::uint8_t> frame,
                              ParsedPacket& parsed,
                              const Endpoint& ep,
                              Side side) {
  if (ep.addr.family != parsed.family) return RewriteStatus::kFamilyMismatch;
  const bool tcp = parsed.protocol == kIpProtoTcp;
  const bool udp = parsed.protocol == kIpProtoUdp;
  if (!tcp && !udp) return RewriteStatus::kUnsupportedProtocol;
  if (parsed.fragment == FragmentKind::kLater) return RewriteStatus::kLaterFragment;
  if (parsed.ipv6_source_routed) return RewriteStatus::kSourceRouted;
  const bool v4 = parsed.family == Family::kV4;
  const std::size_t ip_header_min = v4 ? kIpv4MinHeaderSize : kIpv6HeaderSize;
  const std::size_t l4_header_min = tcp ? kTcpMinHeaderSize : kUdpHeaderSize;
  // Re-check what this function touches, so a mismatched `parsed` cannot write out of bounds.
  if (parsed.l3_offset + ip_header_min > parsed.l4_offset ||
      parsed.l4_offset + l4_header_min > frame.size()) {
    return RewriteStatus::kOutOfBounds;
  }

  std::uint8_t* ip = frame.data() + parsed.l3_offset;
  std::uint8_t* l4 = frame.data() + parsed.l4_offset;
  const bool dst = side == Side::kDestination;
  const std::size_t addr_len = v4 ? 4 : 16;
  std::uint8_t* addr =
      ip + (v4 ? (dst ? kIpv4DstOffset : kIpv4SrcOffset) : (dst ? kIpv6DstOffset : kIpv6SrcOffset));
  std::uint8_t* port = l4 + (dst ? 2 : 0);
  std::uint8_t* l4_checksum = l4 + (tcp ? kTcpChecksumOffset : kUdpChecksumOffset);

  ChecksumDelta address_delta;
  address_delta.addWords(addr, ep.addr.bytes.data(), addr_len);
  if (v4) {
    std::uint8_t* ip_checksum = ip + kIpv4ChecksumOffset;
    wire::store16(ip_checksum, address_delta.apply(wire::load16(ip_checksum)));
  }
  // The transport checksum covers the address through the pseudo-header, and the port.
  const std::uint16_t old_l4 = wire::load16(l4_checksum);
  // UDP checksum 0 is "none" over IPv4 and must stay so; over IPv6 it is invalid and the
  // receiver drops it either way, so it is left alone too.
  if (!(udp && old_l4 == 0)) {
    ChecksumDelta l4_delta = address_delta;
    l4_delta.add(wire::load16(port), ep.port);
    const std::uint16_t updated = l4_delta.apply(old_l4);
    wire::store16(l4_checksum, udp ? udpChecksumOnWire(updated) : updated);
  }
  std::memcpy(addr, ep.addr.bytes.data(), addr_len);
  wire::store16(port, ep.port);
  if (dst) {
    parsed.dst = ep.addr;
    parsed.dport = ep.port;
  } else {
    parsed.src = ep.addr;
    parsed.sport = ep.port;
  }
  return RewriteStatus::kOk;
}

bool setMac(std::span<std::uint8_t> frame, std::size_t offset, const MacAddr& mac) {
  if (frame.size() < kEthernetHeaderSize) return false;
  std::memcpy(frame.data() + offset, mac.data(), mac.size());
  return true;
}

}  // namespace

RewriteStatus rewriteDestination(std::span<std::uint8_t> frame,
                                 ParsedPacket& parsed,
                                 const Endpoint& new_dst) {
  return rewriteEndpoint(frame, parsed, new_dst, Side::kDestination);
}

RewriteStatus rewriteSource(std::span<std::uint8_t> frame,
                            ParsedPacket& parsed,
                            const Endpoint& new_src) {
  return rewriteEndpoint(frame, parsed, new_src, Side::kSource);
}

bool setDstMac(std::span<std::uint8_t> frame, const MacAddr& mac) {
  return setMac(frame, 0, mac);
}

bool setSrcMac(std::span<std::uint8_t> frame, const MacAddr& mac) {
  return setMac(frame, 6, mac);
}

}  // namespace xredir
