// proxy_protocol.cc: PROXY protocol v2 header encoder (see proxy_protocol.h).
#include "proxy_protocol.h"

#include <netinet/in.h>

#include <cstring>

namespace xredir::proxy {

namespace {

// kSignature is the 12-byte v2 signature (spec section 2.2).
constexpr std::uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::uint8_t kVersion2Proxy = 0x21;  // version 2 (high nibble), command PROXY (1)
constexpr std::uint8_t kTcpOverIpv4 = 0x11;    // AF_INET (1) << 4 | STREAM (1)
constexpr std::uint8_t kTcpOverIpv6 = 0x21;    // AF_INET6 (2) << 4 | STREAM (1)

// Addr is one side in a common form: 16 bytes (IPv4 in the first 4) and a network-order port.
struct Addr {
  bool v4 = false;
  std::uint8_t bytes[16] = {};
  std::uint16_t port_be = 0;
};

bool toAddr(const sockaddr_storage& ss, Addr* a) {
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    a->v4 = true;
    std::memcpy(a->bytes, &in->sin_addr, 4);
    a->port_be = in->sin_port;
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    a->port_be = in6->sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      a->v4 = true;
      std::memcpy(a->bytes, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      std::memcpy(a->bytes, in6->sin6_addr.s6_addr, 16);
    }
    return true;
  }
  return false;
}

// writeV6 writes a as 16 bytes, IPv4 as ::ffff:a.b.c.d.
void writeV6(const Addr& a, std::uint8_t* p) {
  if (!a.v4) {
    std::memcpy(p, a.bytes, 16);
    return;
  }
  std::memset(p, 0, 10);
  p[10] = 0xFF;
  p[11] = 0xFF;
  std::memcpy(p + 12, a.bytes, 4);
}

}  // namespace

std::size_t encodeProxyV2(const sockaddr_storage& source,
                          const sockaddr_storage& destination,
                          std::uint8_t out[kProxyV2MaxSize]) {
  Addr src;
  Addr dst;
  if (!toAddr(source, &src) || !toAddr(destination, &dst)) return 0;
  std::memcpy(out, kSignature, sizeof(kSignature));
  out[12] = kVersion2Proxy;
  std::uint8_t* p = out + 16;
  if (src.v4 && dst.v4) {
    out[13] = kTcpOverIpv4;
    std::memcpy(p, src.bytes, 4);
    std::memcpy(p + 4, dst.bytes, 4);
    p += 8;
  } else {
    out[13] = kTcpOverIpv6;
    writeV6(src, p);
    writeV6(dst, p + 16);
    p += 32;
  }
  std::memcpy(p, &src.port_be, 2);
  std::memcpy(p + 2, &dst.port_be, 2);
  p += 4;
  const std::size_t address_len = static_cast<std::size_t>(p - (out + 16));
  out[14] = static_cast<std::uint8_t>(address_len >> 8);
  out[15] = static_cast<std::uint8_t>(address_len);
  return 16 + address_len;
}

}  // namespace xredir::proxy
