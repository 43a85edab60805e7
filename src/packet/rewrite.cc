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

// DeltaSum accumulates RFC 1624 eqn. 3's sum(~m) + sum(m') over changed fields. It sums words
// in the machine's byte order, as they lie in the frame: a one's-complement sum commutes with
// swapping the bytes of every word (RFC 1071 §2(B)), so fields and checksums loaded unswapped
// and results stored the same way give the checksum the big-endian sum would, at a quarter of
// the instructions of a sum of swapped 16-bit words (an address is one or four 32-bit words).
class DeltaSum {
 public:
  template <std::size_t kLen>
  void addField(const std::uint8_t* old_bytes, const std::uint8_t* new_bytes) {
    static_assert(kLen % 4 == 0);
    for (std::size_t i = 0; i < kLen; i += 4) {
      std::uint32_t old_word;
      std::uint32_t new_word;
      std::memcpy(&old_word, old_bytes + i, 4);
      std::memcpy(&new_word, new_bytes + i, 4);
      sum_ += static_cast<std::uint32_t>(~old_word);
      sum_ += new_word;
    }
  }
  void addPort(std::uint16_t old_port, std::uint16_t new_port) {
    sum_ += static_cast<std::uint16_t>(~nativePort(old_port));
    sum_ += nativePort(new_port);
  }
  // folded is the sum as a 16-bit one's-complement value: 0 only when every term was 0, so an
  // update with it gives the checksum the unfolded sum would.
  std::uint16_t folded() const { return checksumFold(sum_); }

 private:
  // nativePort is a host-order port as its two wire bytes read in the machine's order.
  static std::uint16_t nativePort(std::uint16_t port) {
    std::uint8_t wire_bytes[2];
    wire::store16(wire_bytes, port);
    std::uint16_t v;
    std::memcpy(&v, wire_bytes, 2);
    return v;
  }
  std::uint64_t sum_ = 0;  // at most ten 32-bit words and four 16-bit ones: no overflow
};

// Checksum fields are read and written in the machine's byte order, as DeltaSum sums them.
std::uint16_t loadNative16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void storeNative16(std::uint8_t* p, std::uint16_t v) {
  std::memcpy(p, &v, 2);
}

// updatedChecksum is RFC 1624 eqn. 3, HC' = ~(~HC + delta). The sum of two 16-bit values folds
// in one step.
std::uint16_t updatedChecksum(std::uint16_t checksum, std::uint16_t delta) {
  std::uint32_t sum = static_cast<std::uint16_t>(~checksum) + std::uint32_t{delta};
  sum = (sum & 0xffffU) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

bool setMac(std::span<std::uint8_t> frame, std::size_t offset, const MacAddr& mac) {
  if (frame.size() < kEthernetHeaderSize) return false;
  std::memcpy(frame.data() + offset, mac.data(), mac.size());
  return true;
}

// checkRewritable refuses what no rewrite may touch (see RewriteStatus). A null endpoint is a
// side left as it is.
RewriteStatus checkRewritable(std::span<const std::uint8_t> frame,
                              const ParsedPacket& parsed,
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
  // Re-check what a rewrite touches, so a mismatched `parsed` cannot write out of bounds.
  if (parsed.l3_offset + ip_header_min > parsed.l4_offset ||
      parsed.l4_offset + l4_header_min > frame.size()) {
    return RewriteStatus::kOutOfBounds;
  }
  return RewriteStatus::kOk;
}

// deltasOf sums the deltas of the sides that change (a null target: a side left as it is).
template <std::size_t kAddrLen>
ChecksumDeltas deltasOf(const Endpoint* src,
                        const Endpoint* dst,
                        const Endpoint* to_src,
                        const Endpoint* to_dst) {
  DeltaSum addresses;
  DeltaSum ports;
  if (to_src != nullptr) {
    addresses.addField<kAddrLen>(src->addr.bytes.data(), to_src->addr.bytes.data());
    ports.addPort(src->port, to_src->port);
  }
  if (to_dst != nullptr) {
    addresses.addField<kAddrLen>(dst->addr.bytes.data(), to_dst->addr.bytes.data());
    ports.addPort(dst->port, to_dst->port);
  }
  return ChecksumDeltas{addresses.folded(),
                        checksumFold(std::uint64_t{addresses.folded()} + ports.folded())};
}

// writeRewrite writes a checked rewrite: the sides given, for an address of kAddrLen bytes (a
// constant, so that the copies are fixed-size moves), and both checksums updated by `deltas`.
template <std::size_t kAddrLen>
void writeRewrite(std::span<std::uint8_t> frame,
                  ParsedPacket& parsed,
                  const Endpoint* new_src,
                  const Endpoint* new_dst,
                  ChecksumDeltas deltas) {
  constexpr bool kV4 = kAddrLen == 4;
  const bool tcp = parsed.protocol == kIpProtoTcp;
  std::uint8_t* ip = frame.data() + parsed.l3_offset;
  std::uint8_t* l4 = frame.data() + parsed.l4_offset;
  if constexpr (kV4) {
    std::uint8_t* ip_checksum = ip + kIpv4ChecksumOffset;
    storeNative16(ip_checksum, updatedChecksum(loadNative16(ip_checksum), deltas.ip));
  }
  std::uint8_t* l4_checksum = l4 + (tcp ? kTcpChecksumOffset : kUdpChecksumOffset);
  const std::uint16_t old_l4 = loadNative16(l4_checksum);
  // UDP checksum 0 is "none" over IPv4 and must stay so; over IPv6 it is invalid and the
  // receiver drops it either way, so it is left alone too. (0 and 0xffff, which
  // udpChecksumOnWire deals in, read the same in either byte order.)
  if (tcp || old_l4 != 0) {
    const std::uint16_t updated = updatedChecksum(old_l4, deltas.transport);
    storeNative16(l4_checksum, tcp ? updated : udpChecksumOnWire(updated));
  }
  if (new_src != nullptr) {
    std::memcpy(ip + (kV4 ? kIpv4SrcOffset : kIpv6SrcOffset), new_src->addr.bytes.data(), kAddrLen);
    wire::store16(l4, new_src->port);
    parsed.src = new_src->addr;
    parsed.sport = new_src->port;
  }
  if (new_dst != nullptr) {
    std::memcpy(ip + (kV4 ? kIpv4DstOffset : kIpv6DstOffset), new_dst->addr.bytes.data(), kAddrLen);
    wire::store16(l4 + 2, new_dst->port);
    parsed.dst = new_dst->addr;
    parsed.dport = new_dst->port;
  }
}

}  // namespace

ChecksumDeltas ChecksumDeltas::inverse() const {
  // One's-complement negation. A folded delta of 0xffff (-0) negates to +0 and 0 to -0, which
  // is what the translation back sums to unless every word it replaces is zero.
  const auto negate = [](std::uint16_t d) {
    const auto n = static_cast<std::uint16_t>(~d);
    return n == 0 ? std::uint16_t{0xffff} : n;
  };
  return ChecksumDeltas{negate(ip), negate(transport)};
}

ChecksumDeltas translationDeltas(const Endpoint& src,
                                 const Endpoint& dst,
                                 const Endpoint& to_src,
                                 const Endpoint& to_dst) {
  return src.addr.family == Family::kV4 ? deltasOf<4>(&src, &dst, &to_src, &to_dst)
                                        : deltasOf<16>(&src, &dst, &to_src, &to_dst);
}

RewriteStatus rewriteEndpoints(std::span<std::uint8_t> frame,
                               ParsedPacket& parsed,
                               const Endpoint* new_src,
                               const Endpoint* new_dst) {
  const RewriteStatus checked = checkRewritable(frame, parsed, new_src, new_dst);
  if (checked != RewriteStatus::kOk) return checked;
  if (new_src == nullptr && new_dst == nullptr) return RewriteStatus::kOk;
  const Endpoint src{parsed.src, parsed.sport};
  const Endpoint dst{parsed.dst, parsed.dport};
  if (parsed.family == Family::kV4) {
    writeRewrite<4>(frame, parsed, new_src, new_dst, deltasOf<4>(&src, &dst, new_src, new_dst));
  } else {
    writeRewrite<16>(frame, parsed, new_src, new_dst, deltasOf<16>(&src, &dst, new_src, new_dst));
  }
  return RewriteStatus::kOk;
}

RewriteStatus rewriteWithDeltas(std::span<std::uint8_t> frame,
                                ParsedPacket& parsed,
                                const Endpoint& new_src,
                                const Endpoint& new_dst,
                                ChecksumDeltas deltas) {
  const RewriteStatus checked = checkRewritable(frame, parsed, &new_src, &new_dst);
  if (checked != RewriteStatus::kOk) return checked;
  if (parsed.family == Family::kV4) {
    writeRewrite<4>(frame, parsed, &new_src, &new_dst, deltas);
  } else {
    writeRewrite<16>(frame, parsed, &new_src, &new_dst, deltas);
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
