// original_dst_kernel.cc: getsockopt(SO_ORIGINAL_DST) (see original_dst_kernel.h).
#include "original_dst_kernel.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "sockaddr_util.h"

namespace xredir::proxy {

namespace {
// Values of linux/netfilter_ipv4.h SO_ORIGINAL_DST and netfilter_ipv6/ip6_tables.h
// IP6T_SO_ORIGINAL_DST; those kernel headers clash with glibc's <netinet/in.h>.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;
}  // namespace

std::optional<Endpoint> kernelOriginalDst(int fd, OdstError* error) {
  sockaddr_storage out{};
  socklen_t len = sizeof(sockaddr_in);
  if (getsockopt(fd, SOL_IP, kSoOriginalDst, &out, &len) == 0) return fromSockaddr(out);
  int err = errno;
  // Only now, off the common path (one syscall less per connection), ask the socket's family:
  // an IPv6 socket gets the IPv6 option too.
  sockaddr_storage local{};
  len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    *error = OdstError::kOther;
    return std::nullopt;
  }
  if (local.ss_family == AF_INET6) {
    len = sizeof(sockaddr_in6);
    if (getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &out, &len) == 0) return fromSockaddr(out);
    err = errno;
  }
  *error = err == ENOENT ? OdstError::kNotTracked : OdstError::kOther;
  return std::nullopt;
}

}  // namespace xredir::proxy
