// sockaddr_util.cc: Endpoint <-> sockaddr conversions (see sockaddr_util.h).
#include "sockaddr_util.h"

#include <netinet/in.h>

#include <cstring>

namespace xredir::proxy {

socklen_t toSockaddr(const Endpoint& ep, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (ep.addr.family == Family::kV4) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(ep.port);
    std::memcpy(&in->sin_addr, ep.addr.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(ep.port);
  std::memcpy(&in6->sin6_addr, ep.addr.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<Endpoint> fromSockaddr(const sockaddr_storage& ss) {
  Endpoint ep;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    ep.addr.family = Family::kV4;
    std::memcpy(ep.addr.bytes.data(), &in->sin_addr, 4);
    ep.port = ntohs(in->sin_port);
    return ep;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ep.port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      ep.addr.family = Family::kV4;
      std::memcpy(ep.addr.bytes.data(), in6->sin6_addr.s6_addr + 12, 4);
    } else {
      ep.addr.family = Family::kV6;
      std::memcpy(ep.addr.bytes.data(), in6->sin6_addr.s6_addr, 16);
    }
    return ep;
  }
  return std::nullopt;
}

std::optional<Endpoint> localEndpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  return fromSockaddr(ss);
}

std::optional<Endpoint> peerEndpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  return fromSockaddr(ss);
}

}  // namespace xredir::proxy
