// listener.cc: listening sockets (see listener.h).
#include "listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sockaddr_util.h"

namespace xredir::proxy {

int openListener(const Endpoint& at, bool reuse_port, std::string* error) {
  sockaddr_storage ss{};
  const socklen_t len = toSockaddr(at, &ss);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = formatEndpoint(at) + ": socket: " + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  // Accepted sockets inherit TCP_NODELAY: set once here, not once per connection.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 ||
      listen(fd, kListenBacklog) != 0) {
    *error = formatEndpoint(at) + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

ListenerSet::~ListenerSet() {
  for (std::vector<int>& per_worker : fds) {
    for (int fd : per_worker) {
      if (fd >= 0) close(fd);
    }
  }
}

std::optional<ListenerSet> openListeners(const std::vector<Endpoint>& addresses,
                                         unsigned workers,
                                         std::string* error) {
  ListenerSet set;
  set.bound = addresses;
  set.fds.assign(workers, std::vector<int>(addresses.size(), -1));
  for (std::size_t a = 0; a < addresses.size(); ++a) {
    for (unsigned w = 0; w < workers; ++w) {
      const int fd = openListener(set.bound[a], /*reuse_port=*/true, error);
      if (fd < 0) return std::nullopt;  // ~ListenerSet closes the others
      set.fds[w][a] = fd;
      if (set.bound[a].port == 0) {
        if (std::optional<Endpoint> local = localEndpoint(fd)) set.bound[a].port = local->port;
      }
    }
  }
  return std::optional<ListenerSet>(std::move(set));
}

}  // namespace xredir::proxy
