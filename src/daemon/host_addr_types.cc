// host_addr_types.cc: `-m addrtype` classification from the host's addresses.
#include "daemon/host_addr_types.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

namespace xredir {

std::vector<HostAddress> readHostAddresses() {
  std::vector<HostAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> guard(list, freeifaddrs);
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_netmask == nullptr) continue;
    HostAddress h;
    h.iface = it->ifa_name;
    IpAddr addr;
    IpAddr mask;
    if (it->ifa_addr->sa_family == AF_INET) {
      addr.family = mask.family = Family::kV4;
      std::memcpy(addr.bytes.data(), &reinterpret_cast<sockaddr_in*>(it->ifa_addr)->sin_addr, 4);
      std::memcpy(mask.bytes.data(), &reinterpret_cast<sockaddr_in*>(it->ifa_netmask)->sin_addr, 4);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      addr.family = mask.family = Family::kV6;
      std::memcpy(addr.bytes.data(), &reinterpret_cast<sockaddr_in6*>(it->ifa_addr)->sin6_addr, 16);
      std::memcpy(mask.bytes.data(), &reinterpret_cast<sockaddr_in6*>(it->ifa_netmask)->sin6_addr,
                  16);
    } else {
      continue;
    }
    int len = 0;
    for (int i = 0; i < addr.bitLength() / 8; ++i) len += __builtin_popcount(mask.bytes[i]);
    h.prefix = Cidr{addr, static_cast<std::uint8_t>(len)};  // full address kept, not masked
    out.push_back(std::move(h));
  }
  return out;
}

std::uint16_t addrTypeOf(const std::vector<HostAddress>& host,
                         const IpAddr& addr,
                         std::string_view iface) {
  if (addr.isUnspecified()) return kAddrUnspec;
  const bool v4 = addr.family == Family::kV4;
  if (v4 && (addr.bytes[0] & 0xf0) == 0xe0) return kAddrMulticast;
  if (!v4 && addr.bytes[0] == 0xff) return kAddrMulticast;
  if (v4 && addr.v4HostOrder() == 0xffffffffu) return kAddrBroadcast;
  // Linux puts all of 127.0.0.0/8 (and ::1) in the local table, on lo.
  const bool loopback = v4 ? addr.bytes[0] == 127 : addr == *parseIpAddr("::1");
  if (loopback && (iface.empty() || iface == "lo")) return kAddrLocal;
  for (const HostAddress& h : host) {
    if (!iface.empty() && h.iface != iface) continue;
    if (h.prefix.addr == addr) return kAddrLocal;
    if (v4 && h.prefix.addr.family == Family::kV4 && h.prefix.prefix_len < 31) {
      const std::uint32_t hostmask = 0xffffffffu >> h.prefix.prefix_len;
      const std::uint32_t bcast = h.prefix.addr.v4HostOrder() | hostmask;
      if (addr.v4HostOrder() == bcast) return kAddrBroadcast;
    }
  }
  return kAddrUnicast;
}

AddrTypeLookup makeAddrTypeLookup(std::vector<HostAddress> host) {
  return [host = std::move(host)](const IpAddr& addr, std::string_view iface) {
    return addrTypeOf(host, addr, iface);
  };
}

}  // namespace xredir
