// socket_pair.h owns the loopback connections the client and shim tests ask about: a listener
// on port 0, a connected client and the accepted socket, plus their addresses as Endpoints.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "xredir/ip_addr.h"

namespace xredir::odst::testing {

inline Endpoint endpointOf(const sockaddr_storage& ss) {
  Endpoint e;
  if (ss.ss_family == AF_INET) {
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
    e.addr.family = Family::kV4;
    std::memcpy(e.addr.bytes.data(), &s4.sin_addr, 4);
    e.port = ntohs(s4.sin_port);
  } else {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
    e.addr.family = Family::kV6;
    std::memcpy(e.addr.bytes.data(), &s6.sin6_addr, 16);
    e.port = ntohs(s6.sin6_port);
  }
  return e;
}

// LoopbackConnection is one accepted connection. `dual_stack` listens on [::] and connects from
// 127.0.0.1, so that the accepted socket is AF_INET6 with IPv4-mapped addresses.
struct LoopbackConnection {
  int listener = -1, client = -1, accepted = -1;
  Endpoint local;  // the accepted socket's own address (the proxy side)
  Endpoint peer;   // its peer (the client side)

  LoopbackConnection(int family, int type = SOCK_STREAM, bool dual_stack = false) {
    const int lfamily = dual_stack ? AF_INET6 : family;
    sockaddr_storage addr{};
    socklen_t alen;
    if (lfamily == AF_INET) {
      auto& a = reinterpret_cast<sockaddr_in&>(addr);
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      alen = sizeof(a);
    } else {
      auto& a = reinterpret_cast<sockaddr_in6&>(addr);
      a.sin6_family = AF_INET6;
      a.sin6_addr = dual_stack ? in6addr_any : in6addr_loopback;
      alen = sizeof(a);
    }
    listener = ::socket(lfamily, type | SOCK_CLOEXEC, 0);
    int zero = 0;
    if (dual_stack) ::setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    ::bind(listener, reinterpret_cast<sockaddr*>(&addr), alen);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &alen);
    const std::uint16_t port = lfamily == AF_INET ? reinterpret_cast<sockaddr_in&>(addr).sin_port
                                                  : reinterpret_cast<sockaddr_in6&>(addr).sin6_port;
    sockaddr_storage to{};
    socklen_t tolen;
    if (family == AF_INET) {
      auto& a = reinterpret_cast<sockaddr_in&>(to);
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = port;
      tolen = sizeof(a);
    } else {
      auto& a = reinterpret_cast<sockaddr_in6&>(to);
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      a.sin6_port = port;
      tolen = sizeof(a);
    }
    client = ::socket(family, type | SOCK_CLOEXEC, 0);
    if (type == SOCK_STREAM) {
      ::listen(listener, 8);
      ::connect(client, reinterpret_cast<sockaddr*>(&to), tolen);
      accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    } else {
      // A "connected" datagram socket: the listener connected back to the client's address.
      ::connect(client, reinterpret_cast<sockaddr*>(&to), tolen);
      sockaddr_storage caddr{};
      socklen_t clen = sizeof(caddr);
      ::getsockname(client, reinterpret_cast<sockaddr*>(&caddr), &clen);
      ::connect(listener, reinterpret_cast<sockaddr*>(&caddr), clen);
      accepted = ::dup(listener);
    }
    sockaddr_storage ss{};
    socklen_t sl = sizeof(ss);
    ::getsockname(accepted, reinterpret_cast<sockaddr*>(&ss), &sl);
    local = endpointOf(ss);
    sl = sizeof(ss);
    ::getpeername(accepted, reinterpret_cast<sockaddr*>(&ss), &sl);
    peer = endpointOf(ss);
  }
  ~LoopbackConnection() {
    for (int fd : {listener, client, accepted}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

// v4View turns an IPv4-mapped IPv6 endpoint into the IPv4 one.
inline Endpoint v4View(const Endpoint& e) {
  Endpoint v4;
  v4.addr.family = Family::kV4;
  std::memcpy(v4.addr.bytes.data(), e.addr.bytes.data() + 12, 4);
  v4.port = e.port;
  return v4;
}

}  // namespace xredir::odst::testing
