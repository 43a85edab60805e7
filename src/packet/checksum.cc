// checksum.cc: the full-buffer Internet checksum and the pseudo-header sums (see checksum.h).
#include "xredir/checksum.h"

#include "packet/byte_order.h"

namespace xredir {

std::uint32_t checksumAccumulate(std::span<const std::uint8_t> data, std::uint32_t sum) {
  // A 64-bit accumulator cannot overflow for any buffer a frame can hold; folding back to 32
  // bits with end-around carry keeps the one's-complement value (RFC 1071 §2 (B)).
  std::uint64_t acc = sum;
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  for (; n >= 2; p += 2, n -= 2) acc += wire::load16(p);
  if (n == 1) acc += std::uint32_t{p[0]} << 8;
  while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
  return static_cast<std::uint32_t>(acc);
}

std::uint16_t internetChecksum(std::span<const std::uint8_t> data) {
  return static_cast<std::uint16_t>(~checksumFold(checksumAccumulate(data)));
}

std::uint32_t pseudoHeaderSum(const IpAddr& src,
                              const IpAddr& dst,
                              std::uint8_t protocol,
                              std::uint32_t l4_length) {
  const std::size_t addr_len = src.family == Family::kV4 ? 4 : 16;
  std::uint32_t sum = checksumAccumulate({src.bytes.data(), addr_len});
  sum = checksumAccumulate({dst.bytes.data(), addr_len}, sum);
  // IPv4: zero byte + protocol byte + 16-bit length; IPv6: 32-bit length + 3 zero bytes +
  // next header. Both reduce to adding the protocol and the length as words.
  std::uint64_t acc = sum;
  acc += protocol;
  acc += l4_length >> 16;
  acc += l4_length & 0xffff;
  while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
  return static_cast<std::uint32_t>(acc);
}

std::uint16_t transportChecksum(const IpAddr& src,
                                const IpAddr& dst,
                                std::uint8_t protocol,
                                std::span<const std::uint8_t> segment,
                                std::size_t checksum_offset) {
  std::uint32_t sum =
      pseudoHeaderSum(src, dst, protocol, static_cast<std::uint32_t>(segment.size()));
  if (checksum_offset + 2 <= segment.size()) {
    // Skip the field rather than copy the segment; the offset is even in every header that
    // carries one, so the words on both sides keep their alignment.
    sum = checksumAccumulate(segment.first(checksum_offset), sum);
    sum = checksumAccumulate(segment.subspan(checksum_offset + 2), sum);
  } else {
    sum = checksumAccumulate(segment, sum);
  }
  return static_cast<std::uint16_t>(~checksumFold(sum));
}

bool verifyTransportChecksum(const IpAddr& src,
                             const IpAddr& dst,
                             std::uint8_t protocol,
                             std::span<const std::uint8_t> segment) {
  std::uint32_t sum =
      pseudoHeaderSum(src, dst, protocol, static_cast<std::uint32_t>(segment.size()));
  return checksumFold(checksumAccumulate(segment, sum)) == 0xffff;
}

std::uint16_t ipv4HeaderChecksum(std::span<const std::uint8_t> header) {
  std::uint32_t sum = checksumAccumulate(header.first(10));
  sum = checksumAccumulate(header.subspan(12), sum);
  return static_cast<std::uint16_t>(~checksumFold(sum));
}

bool verifyIpv4HeaderChecksum(std::span<const std::uint8_t> header) {
  return checksumFold(checksumAccumulate(header)) == 0xffff;
}

}  // namespace xredir
