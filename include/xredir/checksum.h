// checksum.h owns the Internet checksum arithmetic: the full one's-complement sum of RFC 1071
// over byte buffers, the TCP/UDP pseudo-header sums for IPv4 and IPv6, and the incremental
// update of RFC 1624 used when NAT changes a 16-, 32- or 128-bit field. Checksum values are
// handled as host-order integers holding the 16-bit field as it reads on the wire (big-endian),
// so 0x1c46 here is the bytes 1c 46 in the header. Nothing here knows about frames; the
// per-packet helpers are in packet_checksum.h.
//
// The incremental helpers are inline: they run once or twice per forwarded packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "xredir/ip_addr.h"

namespace xredir {

// checksumAccumulate adds the bytes of `data` to a running one's-complement sum as big-endian
// 16-bit words; an odd trailing byte is padded with a zero byte (RFC 1071 §4.1). The result is
// an unfolded 32-bit partial sum that can be fed back in. Precondition for chaining: every
// buffer but the last has even length (a pseudo-header, a header, ...).
std::uint32_t checksumAccumulate(std::span<const std::uint8_t> data, std::uint32_t sum = 0);

// checksumFold folds a partial sum to 16 bits with end-around carry (not complemented). Four
// fixed steps rather than a loop: the per-packet rewrite folds twice, and the loop's branches
// cost as much as the sums. Each step keeps the value mod 0xffff and keeps it nonzero.
constexpr std::uint16_t checksumFold(std::uint64_t sum) {
  sum = (sum & 0xffffffffU) + (sum >> 32);  // <= 0x1fffffffe
  sum = (sum & 0xffffffffU) + (sum >> 32);  // <= 0xffffffff
  sum = (sum & 0xffffU) + (sum >> 16);      // <= 0x1fffe
  sum = (sum & 0xffffU) + (sum >> 16);      // <= 0xffff
  return static_cast<std::uint16_t>(sum);
}

// internetChecksum returns the RFC 1071 checksum of `data`: the complement of its folded sum.
std::uint16_t internetChecksum(std::span<const std::uint8_t> data);

// pseudoHeaderSum returns the partial sum of the TCP/UDP pseudo-header: RFC 793/768 for IPv4
// (src, dst, zero, protocol, length), RFC 8200 §8.1 for IPv6 (src, dst, 32-bit length, zeros,
// next header). `l4_length` is the transport header plus payload. src and dst share a family.
std::uint32_t pseudoHeaderSum(const IpAddr& src,
                              const IpAddr& dst,
                              std::uint8_t protocol,
                              std::uint32_t l4_length);

// transportChecksum computes the TCP/UDP/ICMPv6 checksum of `segment` (header + payload) as
// it belongs in the header, treating the 2-byte checksum field at `checksum_offset` (even, as
// in every header that has one) as zero. It does not apply UDP's 0 -> 0xffff rule (see
// udpChecksumOnWire).
std::uint16_t transportChecksum(const IpAddr& src,
                                const IpAddr& dst,
                                std::uint8_t protocol,
                                std::span<const std::uint8_t> segment,
                                std::size_t checksum_offset);

// verifyTransportChecksum reports whether `segment`, checksum field included, sums with its
// pseudo-header to all ones. UDP-over-IPv4's "no checksum" 0 is not special here.
bool verifyTransportChecksum(const IpAddr& src,
                             const IpAddr& dst,
                             std::uint8_t protocol,
                             std::span<const std::uint8_t> segment);

// ipv4HeaderChecksum computes the header checksum of an IPv4 header (IHL*4 bytes), treating
// its checksum field (bytes 10-11) as zero.
std::uint16_t ipv4HeaderChecksum(std::span<const std::uint8_t> header);

// verifyIpv4HeaderChecksum reports whether the IPv4 header, checksum included, sums to ones.
bool verifyIpv4HeaderChecksum(std::span<const std::uint8_t> header);

// udpChecksumOnWire maps a computed UDP checksum to what is sent: a computed 0 goes out as
// 0xffff because 0 on the wire means "no checksum" (RFC 768; IPv6 forbids 0, RFC 8200 §8.1).
constexpr std::uint16_t udpChecksumOnWire(std::uint16_t computed) {
  return computed == 0 ? 0xffff : computed;
}

// checksumUpdate16 returns the checksum after a 16-bit field covered by it changes from
// `old_value` to `new_value`: RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'). Eqn. 3 (not eqn. 2 of
// RFC 1141) never produces -0 from a valid header, so rewriting back restores the original.
constexpr std::uint16_t checksumUpdate16(std::uint16_t checksum,
                                         std::uint16_t old_value,
                                         std::uint16_t new_value) {
  std::uint32_t sum = static_cast<std::uint16_t>(~checksum);
  sum += static_cast<std::uint16_t>(~old_value);
  sum += new_value;
  return static_cast<std::uint16_t>(~checksumFold(sum));
}

// checksumUpdate32 is checksumUpdate16 for a 32-bit field (e.g. an IPv4 address), given as
// host-order integers of the big-endian field.
constexpr std::uint16_t checksumUpdate32(std::uint16_t checksum,
                                         std::uint32_t old_value,
                                         std::uint32_t new_value) {
  std::uint32_t sum = static_cast<std::uint16_t>(~checksum);
  sum += static_cast<std::uint16_t>(~(old_value >> 16));
  sum += static_cast<std::uint16_t>(~old_value);
  sum += new_value >> 16;
  sum += new_value & 0xffff;
  return static_cast<std::uint16_t>(~checksumFold(sum));
}

// checksumUpdateBytes is checksumUpdate16 for a field of `len` bytes (even, at an even offset
// within the checksummed data), given as its old and new wire bytes: 16 for an IPv6 address.
constexpr std::uint16_t checksumUpdateBytes(std::uint16_t checksum,
                                            const std::uint8_t* old_bytes,
                                            const std::uint8_t* new_bytes,
                                            std::size_t len) {
  std::uint32_t sum = static_cast<std::uint16_t>(~checksum);
  for (std::size_t i = 0; i + 1 < len; i += 2) {
    const auto old_word = static_cast<std::uint16_t>((old_bytes[i] << 8) | old_bytes[i + 1]);
    const auto new_word = static_cast<std::uint16_t>((new_bytes[i] << 8) | new_bytes[i + 1]);
    sum += static_cast<std::uint16_t>(~old_word);
    sum += new_word;
  }
  return static_cast<std::uint16_t>(~checksumFold(sum));
}

// checksumUpdate128 is checksumUpdate16 for a 128-bit field: an IPv6 address in the
// pseudo-header of a TCP/UDP/ICMPv6 checksum.
constexpr std::uint16_t checksumUpdate128(std::uint16_t checksum,
                                          const std::array<std::uint8_t, 16>& old_bytes,
                                          const std::array<std::uint8_t, 16>& new_bytes) {
  return checksumUpdateBytes(checksum, old_bytes.data(), new_bytes.data(), 16);
}

}  // namespace xredir
