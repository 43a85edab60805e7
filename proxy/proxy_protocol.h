// proxy_protocol.h owns the encoder of the PROXY protocol version 2 header (binary form, command
// PROXY, TCP over IPv4 or IPv6) that xredir-proxy sends upstream first when --proxy-protocol is
// on, so that the upstream learns the client's address. Spec: HAProxy's proxy-protocol.txt,
// section 2.2 (https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace xredir::proxy {

// kProxyV2MaxSize is the largest header encodeProxyV2 writes: 16 bytes of fixed part plus 36
// bytes of TCP-over-IPv6 addresses (no TLVs).
inline constexpr std::size_t kProxyV2MaxSize = 16 + 36;

// encodeProxyV2 writes the header for a TCP connection from `source` (the client) to
// `destination` (the original destination) into out and returns its length: 28 for IPv4, 52
// for IPv6. IPv4-mapped IPv6 addresses are written as IPv4 when both are; when the families
// still differ the IPv4 one is written IPv4-mapped in a TCP6 header. Returns 0 when an address
// is neither AF_INET nor AF_INET6.
std::size_t encodeProxyV2(const sockaddr_storage& source,
                          const sockaddr_storage& destination,
                          std::uint8_t out[kProxyV2MaxSize]);

}  // namespace xredir::proxy
