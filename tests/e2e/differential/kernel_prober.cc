// kernel_prober.cc: real connections through the namespaces and what the listeners saw.
#include "e2e/differential/kernel_prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace xredir::difftest {
namespace {

// SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST
// (linux/netfilter_ipv6/ip6_tables.h) are both 80, at SOL_IP and SOL_IPV6.
constexpr int kSoOriginalDst = 80;
constexpr int kListenBacklog = 1024;

using Clock = std::chrono::steady_clock;

sockaddr_storage toSockaddr(const IpAddr& a, std::uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  if (a.family == Family::kV4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
    *len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

Endpoint fromSockaddr(const sockaddr_storage& ss) {
  Endpoint ep;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ep.addr.family = Family::kV4;
    std::memcpy(ep.addr.bytes.data(), &sin->sin_addr, 4);
    ep.port = ntohs(sin->sin_port);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ep.addr.family = Family::kV6;
    std::memcpy(ep.addr.bytes.data(), &sin6->sin6_addr, 16);
    ep.port = ntohs(sin6->sin6_port);
  }
  return ep;
}

int openListener(Family family, std::uint16_t port, std::string* error) {
  const int fd = socket(family == Family::kV4 ? AF_INET : AF_INET6,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == Family::kV6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  IpAddr any;
  any.family = family;
  socklen_t len = 0;
  const sockaddr_storage ss = toSockaddr(any, port, &len);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 ||
      listen(fd, kListenBacklog) != 0) {
    *error = "listen on port " + std::to_string(port) + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

// makeOwnedSocket creates a TCP socket whose file carries fsuid/fsgid: xt_owner compares the
// socket file's f_cred->fsuid/fsgid. setfsuid/setfsgid act on the calling thread only (raw
// syscalls, not glibc's process-wide setxid broadcast), and are restored at once.
int makeOwnedSocket(int domain, std::uint32_t uid, std::uint32_t gid) {
  syscall(SYS_setfsgid, gid);
  syscall(SYS_setfsuid, uid);
  const int fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int saved = errno;
  syscall(SYS_setfsuid, 0);
  syscall(SYS_setfsgid, 0);
  errno = saved;
  return fd;
}

}  // namespace

std::string describeProbe(const Probe& p) {
  std::string s =
      "tcp " + formatEndpoint({p.src, p.sport}) + " -> " + formatEndpoint({p.dst, p.dport});
  if (p.hook == Hook::kPrerouting) {
    s += " in " + p.in_iface + " hook prerouting";
  } else {
    s += " out " + p.out_iface + " hook output uid " + std::to_string(p.uid) + " gid " +
         std::to_string(p.gid);
  }
  return s;
}

const char* outcomeKindName(OutcomeKind k) {
  switch (k) {
    case OutcomeKind::kHarnessError:
      return "harness-error";
    case OutcomeKind::kNoConnection:
      return "no-connection";
    case OutcomeKind::kRefused:
      return "refused";
    case OutcomeKind::kNodeListener:
      return "node-listener";
    case OutcomeKind::kServer:
      return "server";
  }
  return "?";
}

bool Outcome::matches(const Outcome& actual) const {
  if (kind != actual.kind) return false;
  switch (kind) {
    case OutcomeKind::kHarnessError:
      return false;
    case OutcomeKind::kNoConnection:
    case OutcomeKind::kRefused:
      return true;
    case OutcomeKind::kNodeListener:
      if (listener_port != actual.listener_port) return false;
      if (local_addr && local_addr != actual.local_addr) return false;
      return original_dst == actual.original_dst;
    case OutcomeKind::kServer:
      return original_dst == actual.original_dst;
  }
  return false;
}

std::string describeOutcome(const Outcome& o) {
  std::string s = outcomeKindName(o.kind);
  if (o.kind == OutcomeKind::kNodeListener) s += " port " + std::to_string(o.listener_port);
  if (o.local_addr) s += " local " + formatIpAddr(*o.local_addr);
  if (o.original_dst) s += " original-dst " + formatEndpoint(*o.original_dst);
  if (!o.detail.empty()) s += " (" + o.detail + ")";
  return s;
}

KernelProber::KernelProber(const NetnsLab& lab) : lab_(lab) {
  ScopedNetns in_server(lab.serverFd());
  for (Family f : {Family::kV4, Family::kV6}) {
    std::string error;
    const int fd = openListener(f, kServerCatchPort, &error);
    if (fd < 0) throw std::runtime_error("server listener: " + error);
    server_listeners_.push_back({fd, kServerCatchPort, true, f});
  }
}

KernelProber::~KernelProber() {
  for (const Listener& l : server_listeners_) close(l.fd);
  for (const Listener& l : node_listeners_) close(l.fd);
}

std::string KernelProber::setNodeListeners(const std::vector<std::uint16_t>& ports) {
  for (const Listener& l : node_listeners_) close(l.fd);
  node_listeners_.clear();
  ScopedNetns in_node(lab_.nodeFd());
  for (std::uint16_t port : ports) {
    for (Family f : {Family::kV4, Family::kV6}) {
      std::string error;
      const int fd = openListener(f, port, &error);
      if (fd < 0) return error;
      node_listeners_.push_back({fd, port, false, f});
    }
  }
  return "";
}

std::vector<Outcome> KernelProber::run(const std::vector<Probe>& probes, int timeout_ms) {
  std::vector<Outcome> out(probes.size());
  std::vector<int> fds(probes.size(), -1);
  std::vector<bool> pending(probes.size(), false);
  std::vector<bool> connected(probes.size(), false);
  std::unordered_map<std::uint16_t, size_t> by_sport;

  for (size_t i = 0; i < probes.size(); ++i) {
    const Probe& p = probes[i];
    by_sport[p.sport] = i;
    const int domain = p.family == Family::kV4 ? AF_INET : AF_INET6;
    int fd = -1;
    if (p.hook == Hook::kPrerouting) {
      ScopedNetns in_client(lab_.clientFd());
      fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    } else {
      ScopedNetns in_node(lab_.nodeFd());
      fd = makeOwnedSocket(domain, p.uid, p.gid);
    }
    if (fd < 0) {
      out[i].detail = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    fds[i] = fd;
    if (p.hook == Hook::kPrerouting &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p.client_iface.c_str(),
                   static_cast<socklen_t>(p.client_iface.size())) != 0) {
      out[i].detail = std::string("SO_BINDTODEVICE: ") + std::strerror(errno);
      continue;
    }
    // Abortive close: no TIME_WAIT or FIN exchange outlives the batch.
    const linger abortive{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
    socklen_t len = 0;
    sockaddr_storage local = toSockaddr(p.src, p.sport, &len);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&local), len) != 0) {
      out[i].detail = std::string("bind: ") + std::strerror(errno);
      continue;
    }
    sockaddr_storage remote = toSockaddr(p.dst, p.dport, &len);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&remote), len) == 0) {
      connected[i] = true;
    } else if (errno == EINPROGRESS) {
      pending[i] = true;
    } else if (errno == ECONNREFUSED) {
      out[i].kind = OutcomeKind::kRefused;
    } else if (errno == EPERM) {
      out[i].kind = OutcomeKind::kNoConnection;  // dropped at OUTPUT: the stack says EPERM
      out[i].detail = "EPERM";
    } else {
      out[i].detail = std::string("connect: ") + std::strerror(errno);
    }
  }

  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<size_t> index;
    for (size_t i = 0; i < probes.size(); ++i) {
      if (!pending[i]) continue;
      pfds.push_back({fds[i], POLLOUT, 0});
      index.push_back(i);
    }
    if (pfds.empty()) break;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    if (poll(pfds.data(), pfds.size(), static_cast<int>(left)) <= 0) continue;
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      const size_t i = index[k];
      pending[i] = false;
      int err = 0;
      socklen_t err_len = sizeof(err);
      getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &err_len);
      if (err == 0) {
        connected[i] = true;
      } else if (err == ECONNREFUSED) {
        out[i].kind = OutcomeKind::kRefused;
      } else if (err == EPERM) {
        out[i].kind = OutcomeKind::kNoConnection;
        out[i].detail = "EPERM";
      } else {
        out[i].detail = std::string("connect: ") + std::strerror(err);
      }
    }
  }
  size_t awaiting = 0;
  for (size_t i = 0; i < probes.size(); ++i) {
    if (pending[i]) out[i].kind = OutcomeKind::kNoConnection;
    if (connected[i]) ++awaiting;
  }

  // The client side is established once it has sent its ACK; the listener's child appears
  // when that ACK has crossed the veths, so keep draining for a moment.
  std::vector<int> accepted;
  std::vector<Listener> listeners = server_listeners_;
  listeners.insert(listeners.end(), node_listeners_.begin(), node_listeners_.end());
  const auto accept_deadline = Clock::now() + std::chrono::milliseconds(500);
  while (awaiting > 0 && Clock::now() < accept_deadline) {
    bool progress = false;
    for (const Listener& l : listeners) {
      for (;;) {
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof(peer);
        const int c = accept4(l.fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
        if (c < 0) break;
        accepted.push_back(c);
        progress = true;
        const Endpoint peer_ep = fromSockaddr(peer);
        const auto it = by_sport.find(peer_ep.port);
        if (it == by_sport.end() || !connected[it->second]) continue;  // not from this batch
        Outcome& o = out[it->second];
        if (o.kind != OutcomeKind::kHarnessError) {
          o.kind = OutcomeKind::kHarnessError;
          o.detail = "accepted twice";
          continue;
        }
        --awaiting;
        o.kind = l.server ? OutcomeKind::kServer : OutcomeKind::kNodeListener;
        o.listener_port = l.port;
        sockaddr_storage local{};
        socklen_t local_len = sizeof(local);
        if (getsockname(c, reinterpret_cast<sockaddr*>(&local), &local_len) == 0 && !l.server) {
          o.local_addr = fromSockaddr(local).addr;
        }
        sockaddr_storage odst{};
        socklen_t odst_len = sizeof(odst);
        const int level = l.family == Family::kV4 ? SOL_IP : SOL_IPV6;
        if (getsockopt(c, level, kSoOriginalDst, &odst, &odst_len) == 0) {
          o.original_dst = fromSockaddr(odst);
        } else {
          o.detail = std::string("SO_ORIGINAL_DST: ") + std::strerror(errno);
        }
      }
    }
    if (!progress) usleep(2000);
  }
  for (size_t i = 0; i < probes.size(); ++i) {
    if (connected[i] && out[i].kind == OutcomeKind::kHarnessError && out[i].detail.empty()) {
      out[i].detail = "connected, but no listener accepted it";
    }
  }
  for (int c : accepted) close(c);
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  return out;
}

}  // namespace xredir::difftest
