// ip_addr.h owns the address vocabulary shared by every layer: an IPv4 or IPv6 address held in
// network byte order, a CIDR prefix, and a transport endpoint (address + port). Parsing accepts
// what iptables-save and ip6tables-save print; formatting prints what they print.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xredir {

enum class Family : std::uint8_t { kV4 = 4, kV6 = 6 };

// IpAddr is an IPv4 or IPv6 address in network byte order. An IPv4 address uses bytes[0..3]
// and leaves the rest zero, so that == and hashing need no family switch.
// The bytes come first so that they sit at offset 0: copying an address as a 16-byte word
// then reads back exactly what was stored (with the family first they straddled two stores,
// and every per-packet copy paid a store-forwarding stall).
struct IpAddr {
  std::array<std::uint8_t, 16> bytes{};
  Family family = Family::kV4;

  // fromV4 builds an IPv4 address from a host-order 32-bit value (10.0.0.1 == 0x0a000001).
  static IpAddr fromV4(std::uint32_t host_order);
  // v4HostOrder returns an IPv4 address as a host-order 32-bit value. Precondition: family is kV4.
  std::uint32_t v4HostOrder() const;
  int bitLength() const { return family == Family::kV4 ? 32 : 128; }
  // isUnspecified is true for 0.0.0.0 and ::.
  bool isUnspecified() const;

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  // Ordered by family, then address (IPv4 before IPv6), as before the fields were swapped.
  friend std::strong_ordering operator<=>(const IpAddr& a, const IpAddr& b) {
    if (a.family != b.family) return a.family <=> b.family;
    return a.bytes <=> b.bytes;
  }
};

// parseIpAddr parses dotted-quad IPv4 or RFC 4291 IPv6 text. Returns nullopt on anything else.
std::optional<IpAddr> parseIpAddr(std::string_view text);
// formatIpAddr prints an address as inet_ntop does.
std::string formatIpAddr(const IpAddr& addr);

// Cidr is an address prefix. The address is stored with host bits cleared, as iptables does
// when it loads `-d 127.0.0.1/8` (it prints 127.0.0.0/8 back).
struct Cidr {
  IpAddr addr;
  std::uint8_t prefix_len = 0;

  // contains reports whether addr lies inside the prefix. Different families never match.
  bool contains(const IpAddr& other) const;
  friend auto operator<=>(const Cidr&, const Cidr&) = default;
};

// parseCidr parses `ADDR`, `ADDR/LEN` or `ADDR/NETMASK` (dotted or IPv6 mask; contiguous masks
// only, as iptables). A bare address is a full-length prefix. Returns nullopt on malformed text.
std::optional<Cidr> parseCidr(std::string_view text);
// formatCidr prints ADDR/LEN, as iptables-save does.
std::string formatCidr(const Cidr& cidr);
// maskAddr clears the host bits of addr beyond prefix_len.
IpAddr maskAddr(const IpAddr& addr, int prefix_len);

// Endpoint is a transport address: IP address and port (host byte order).
struct Endpoint {
  IpAddr addr;
  std::uint16_t port = 0;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

// formatEndpoint prints 10.0.0.1:80 or [2001:db8::1]:80.
std::string formatEndpoint(const Endpoint& ep);
// parseEndpoint parses the forms formatEndpoint prints.
std::optional<Endpoint> parseEndpoint(std::string_view text);

}  // namespace xredir
