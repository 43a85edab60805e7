// relay.cc: `xredir-relay`, the smallest real transparent relay: it accepts the connections
// xredir redirected to it, asks xredir_original_dst() (include/xredir/odst.h) where each was
// going, connects there and copies bytes both ways, one thread per connection. The daemon's
// end-to-end tests use it as a proxy that is obviously right, so that they test the daemon and
// not xredir-proxy (which has its own, tests/proxy/); it makes no claim to speed.
//
//   xredir-relay LISTEN_ADDR:PORT [--mark M]
// Each accepted connection prints one line: `client -> original destination`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "xredir/ip_addr.h"
#include "xredir/odst.h"

namespace {

std::string formatSockaddr(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
  port = ntohs(in6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// copyBoth relays until both directions saw EOF; a FIN in one direction is passed on as a
// shutdown(SHUT_WR) of the other socket, so half-closed connections work.
void copyBoth(int a, int b) {
  bool open[2] = {true, true};  // a->b, b->a
  char buf[64 * 1024];
  while (open[0] || open[1]) {
    pollfd fds[2] = {{a, static_cast<short>(open[0] ? POLLIN : 0), 0},
                     {b, static_cast<short>(open[1] ? POLLIN : 0), 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int dir = 0; dir < 2; ++dir) {
      if (!open[dir] || !(fds[dir].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int from = dir == 0 ? a : b;
      const int to = dir == 0 ? b : a;
      const ssize_t n = read(from, buf, sizeof(buf));
      if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) return;  // reset: close both
        open[dir] = false;
        shutdown(to, SHUT_WR);
        continue;
      }
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += w;
      }
    }
  }
}

void serve(int client, unsigned mark) {
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof(peer);
  getpeername(client, reinterpret_cast<sockaddr*>(&peer), &peer_len);
  sockaddr_storage dst{};
  socklen_t dst_len = sizeof(dst);
  if (xredir_original_dst(client, &dst, &dst_len) != 0) {
    std::printf("%s -> (no original destination: %s)\n", formatSockaddr(peer).c_str(),
                std::strerror(errno));
    std::fflush(stdout);
    close(client);
    return;
  }
  std::printf("%s -> %s\n", formatSockaddr(peer).c_str(), formatSockaddr(dst).c_str());
  std::fflush(stdout);
  const int upstream = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // The mark keeps the relay's own upstream connection out of the capture (loop avoidance).
  if (upstream >= 0 && mark != 0) setsockopt(upstream, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
  if (upstream < 0 || connect(upstream, reinterpret_cast<sockaddr*>(&dst), dst_len) != 0) {
    // Reset the client rather than close politely: its destination is unreachable.
    const linger reset{1, 0};
    setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    if (upstream >= 0) close(upstream);
    close(client);
    return;
  }
  copyBoth(client, upstream);
  close(upstream);
  close(client);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--mark") == 0)) {
    std::fprintf(stderr, "usage: xredir-relay LISTEN_ADDR:PORT [--mark M]\n");
    return 2;
  }
  const auto listen_ep = xredir::parseEndpoint(argv[1]);
  if (!listen_ep) {
    std::fprintf(stderr, "xredir-relay: bad listen address %s\n", argv[1]);
    return 2;
  }
  const unsigned mark = argc == 4 ? static_cast<unsigned>(std::strtoul(argv[3], nullptr, 0)) : 0;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (listen_ep->addr.family == xredir::Family::kV4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(listen_ep->port);
    std::memcpy(&in->sin_addr, listen_ep->addr.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(listen_ep->port);
    std::memcpy(&in6->sin6_addr, listen_ep->addr.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  const int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(lfd, 1024) != 0) {
    std::fprintf(stderr, "xredir-relay: cannot listen on %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  std::printf("xredir-relay listening on %s\n", argv[1]);
  std::fflush(stdout);
  for (;;) {
    const int client = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::fprintf(stderr, "xredir-relay: accept: %s\n", std::strerror(errno));
      return 1;
    }
    std::thread(serve, client, mark).detach();
  }
}
