// ip_addr.cc: parsing and printing of addresses, prefixes and endpoints (see ip_addr.h).
#include "xredir/ip_addr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace xredir {

IpAddr IpAddr::fromV4(std::uint32_t host_order) {
  IpAddr a;
  a.family = Family::kV4;
  a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

std::uint32_t IpAddr::v4HostOrder() const {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

bool IpAddr::isUnspecified() const {
  for (auto b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::optional<IpAddr> parseIpAddr(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest IPv6 text form is 45 characters.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddr addr;
  if (text.find(':') == std::string_view::npos) {
    addr.family = Family::kV4;
    if (inet_pton(AF_INET, buf, addr.bytes.data()) != 1) return std::nullopt;
  } else {
    addr.family = Family::kV6;
    if (inet_pton(AF_INET6, buf, addr.bytes.data()) != 1) return std::nullopt;
  }
  return addr;
}

std::string formatIpAddr(const IpAddr& addr) {
  char buf[INET6_ADDRSTRLEN];
  const int af = addr.family == Family::kV4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, addr.bytes.data(), buf, sizeof(buf)) == nullptr) return "?";
  return buf;
}

IpAddr maskAddr(const IpAddr& addr, int prefix_len) {
  IpAddr out = addr;
  const int bits = addr.bitLength();
  for (int i = 0; i < bits / 8; ++i) {
    const int keep = prefix_len - i * 8;
    if (keep >= 8) continue;
    out.bytes[i] = keep <= 0 ? 0 : static_cast<std::uint8_t>(out.bytes[i] & (0xff << (8 - keep)));
  }
  return out;
}

bool Cidr::contains(const IpAddr& other) const {
  if (other.family != addr.family) return false;
  return maskAddr(other, prefix_len) == addr;
}

namespace {

// prefixFromMask turns a contiguous netmask (255.255.255.0, ffff:ffff::) into its length.
std::optional<int> prefixFromMask(const IpAddr& mask) {
  int len = 0;
  bool ended = false;
  for (int i = 0; i < mask.bitLength() / 8; ++i) {
    for (int bit = 7; bit >= 0; --bit) {
      const bool set = (mask.bytes[i] >> bit) & 1;
      if (set && ended) return std::nullopt;  // a hole: iptables rejects non-contiguous masks
      if (set) ++len;
      if (!set) ended = true;
    }
  }
  return len;
}

}  // namespace

std::optional<Cidr> parseCidr(std::string_view text) {
  const auto slash = text.find('/');
  auto addr = parseIpAddr(text.substr(0, slash));
  if (!addr) return std::nullopt;
  int len = addr->bitLength();
  if (slash != std::string_view::npos) {
    const std::string_view suffix = text.substr(slash + 1);
    if (suffix.empty()) return std::nullopt;
    if (suffix.find_first_not_of("0123456789") == std::string_view::npos) {
      const auto [end, ec] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), len);
      if (ec != std::errc() || end != suffix.data() + suffix.size()) return std::nullopt;
      if (len < 0 || len > addr->bitLength()) return std::nullopt;
    } else {
      const auto mask = parseIpAddr(suffix);
      if (!mask || mask->family != addr->family) return std::nullopt;
      const auto from_mask = prefixFromMask(*mask);
      if (!from_mask) return std::nullopt;
      len = *from_mask;
    }
  }
  return Cidr{maskAddr(*addr, len), static_cast<std::uint8_t>(len)};
}

std::string formatCidr(const Cidr& cidr) {
  return formatIpAddr(cidr.addr) + "/" + std::to_string(cidr.prefix_len);
}

std::string formatEndpoint(const Endpoint& ep) {
  // Appended piecewise: g++ 12 -O3 warns falsely (-Wrestrict, PR105329) on "[" + string.
  std::string out;
  const bool v6 = ep.addr.family == Family::kV6;
  if (v6) out += '[';
  out += formatIpAddr(ep.addr);
  if (v6) out += ']';
  out += ':';
  out += std::to_string(ep.port);
  return out;
}

std::optional<Endpoint> parseEndpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  auto addr = parseIpAddr(host);
  if (!addr) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  return Endpoint{*addr, static_cast<std::uint16_t>(value)};
}

}  // namespace xredir
