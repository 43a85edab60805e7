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
  ChecksumDelta plus(const ChecksumDelta& other) const {
    ChecksumDelta sum = *this;
    sum.sum_ += other.sum_;
    return sum;
  }
  std::uint16_t apply(std::uint16_t checksum) const {
    return static_cast<std::uint16_t>(~checksumFold(sum_ + static_cast<std::uint16_t>(~checksum)));
  }

 private:
  std::uint32_t sum_ = 0;  // at most 18 words of 0xffff pairs: no overflow
};

bool setMac(std::span<std::uint8_t> frame, std::size_t offset, const MacAddr& mac) {
  if (frame.size() < kEthernetHeaderSize) return false;
  std::memcpy(frame.data() + offset, mac.data(), mac.size());
  return true;
}

// SideRewrite is what one side (source or destination) of a rewrite touches in the frame.
struct SideRewrite {
  std::uint8_t* addr;
  std::uint8_t* port;
  const Endpoint* to;
};

}  // namespace

RewriteStatus rewriteEndpoints(std::span<std::uint8_t> frame,
                               ParsedPacket& parsed,
                               const Endpoint* new_src,
                               const Endpoint* new_dst) {
  if ((new_src != nullptr && new_src->addr.family != parsed.family) ||
      (new_dst != nullptr && new_dst->addr.family != parsed.family)) {
    return RewriteStatus::kFamilyMismatch;
  }
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
  if (new_src == nullptr && new_dst == nullptr) return RewriteStatus::kOk;

  std::uint8_t* ip = frame.data() + parsed.l3_offset;
  std::uint8_t* l4 = frame.data() + parsed.l4_offset;
  const std::size_t addr_len = v4 ? 4 : 16;
  const SideRewrite sides[2] = {
      {ip + (v4 ? kIpv4SrcOffset : kIpv6SrcOffset), l4, new_src},
      {ip + (v4 ? kIpv4DstOffset : kIpv6DstOffset), l4 + 2, new_dst},
  };
  // One delta for both addresses (the IPv4 header checksum), extended by both ports for the
  // transport checksum, which covers the addresses through the pseudo-header.
  ChecksumDelta address_delta;
  ChecksumDelta port_delta;
  for (const SideRewrite& side : sides) {
    if (side.to == nullptr) continue;
    address_delta.addWords(side.addr, side.to->addr.bytes.data(), addr_len);
    port_delta.add(wire::load16(side.port), side.to->port);
  }
  if (v4) {
    std::uint8_t* ip_checksum = ip + kIpv4ChecksumOffset;
    wire::store16(ip_checksum, address_delta.apply(wire::load16(ip_checksum)));
  }
  std::uint8_t* l4_checksum = l4 + (tcp ? kTcpChecksumOffset : kUdpChecksumOffset);
  const std::uint16_t old_l4 = wire::load16(l4_checksum);
  // UDP checksum 0 is "none" over IPv4 and must stay so; over IPv6 it is invalid and the
  // receiver drops it either way, so it is left alone too.
  if (!(udp && old_l4 == 0)) {
    const std::uint16_t updated = address_delta.plus(port_delta).apply(old_l4);
    wire::store16(l4_checksum, udp ? udpChecksumOnWire(updated) : updated);
  }
  for (const SideRewrite& side : sides) {
    if (side.to == nullptr) continue;
    std::memcpy(side.addr, side.to->addr.bytes.data(), addr_len);
    wire::store16(side.port, side.to->port);
  }
  if (new_src != nullptr) {
    parsed.src = new_src->addr;
    parsed.sport = new_src->port;
  }
  if (new_dst != nullptr) {
    parsed.dst = new_dst->addr;
    parsed.dport = new_dst->port;
  }
  return RewriteStatus::kOk;
}

RewriteStatus rewriteDestination(std::span<std::uint8_t> frame,
                                 ParsedPacket& parsed,
                                 const Endpoint& new_dst) {
  return rewriteEndpoints(frame, parsed, nullptr, &new_dst);
}

RewriteStatus rewriteSource(std::span<std::uint8_t> frame,
                            ParsedPacket& parsed,
                            const Endpoint& new_src) {
  return rewriteEndpoints(frame, parsed, &new_src, nullptr);
}

bool setDstMac(std::span<std::uint8_t> frame, const MacAddr& mac) {
  return setMac(frame, 0, mac);
}

bool setSrcMac(std::span<std::uint8_t> frame, const MacAddr& mac) {
  return setMac(frame, 6, mac);
}

}  // namespace xredir
