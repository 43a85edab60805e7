// sockaddr_util.h owns the conversions between the project's Endpoint and the kernel's socket
// addresses, including the IPv4-mapped IPv6 form a dual-stack socket reports.
#pragma once

#include <sys/socket.h>

#include <optional>

#include "xredir/ip_addr.h"

namespace xredir::proxy {

// toSockaddr writes ep as a sockaddr_in or sockaddr_in6 and returns its length.
socklen_t toSockaddr(const Endpoint& ep, sockaddr_storage* out);
// fromSockaddr converts AF_INET/AF_INET6 to an Endpoint; an IPv4-mapped IPv6 address becomes
// IPv4. Returns nullopt for other families.
std::optional<Endpoint> fromSockaddr(const sockaddr_storage& ss);
// localEndpoint / peerEndpoint wrap getsockname / getpeername through fromSockaddr.
std::optional<Endpoint> localEndpoint(int fd);
std::optional<Endpoint> peerEndpoint(int fd);

}  // namespace xredir::proxy
