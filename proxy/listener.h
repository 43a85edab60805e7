// listener.h owns the proxy's listening sockets: one SO_REUSEPORT socket per (listen address,
// worker thread), all bound before any worker starts so that "address in use" is a start-up
// error, and the kernel spreads incoming connections over the threads. The multishot accept on
// them is armed by the worker (worker.cc), which owns the ring.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "xredir/ip_addr.h"

namespace xredir::proxy {

// kListenBacklog is the accept backlog; the kernel caps it at net.core.somaxconn.
inline constexpr int kListenBacklog = 4096;

// openListener creates a TCP socket bound to `at` and listening (IPv6 sockets are v6-only, so
// that [::]:P and 0.0.0.0:P can be listed together). Returns the fd, or -1 with *error set.
int openListener(const Endpoint& at, bool reuse_port, std::string* error);

// ListenerSet is every listening socket: fds[worker][address index].
struct ListenerSet {
  std::vector<std::vector<int>> fds;
  std::vector<Endpoint> bound;  // per address, with port 0 resolved to the bound port
  ListenerSet() = default;
  ListenerSet(ListenerSet&&) = default;
  ListenerSet& operator=(ListenerSet&&) = default;
  ListenerSet(const ListenerSet&) = delete;
  ~ListenerSet();
};

// openListeners binds `addresses` once per worker with SO_REUSEPORT. A port 0 is resolved by
// the first bind and reused for the other workers. Returns nullopt with *error naming the
// address on failure (and closes what it opened).
std::optional<ListenerSet> openListeners(const std::vector<Endpoint>& addresses,
                                         unsigned workers,
                                         std::string* error);

}  // namespace xredir::proxy
