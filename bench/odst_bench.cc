// odst_bench measures the original-destination API against its anchor, the kernel's own
// getsockopt(SO_ORIGINAL_DST) on an iptables-REDIRECTed loopback connection, in the same run:
// latency p50/p99 and queries/s with 1 and 64 concurrent clients. xredir is measured four ways:
// the raw protocol (one request/response on a client's own connection: the server's cost); the
// C library call xredir_original_dst() over the socket (adds getsockname/getpeername/SO_PROTOCOL
// on the accepted socket and the library's connection pool: what a proxy paid before the shared
// view); the same call answered from the shared view (the three system calls plus a lookup in
// shared memory, in the caller's thread); and xredir_original_dst_of() from the view (a proxy
// that knows both addresses: no system call at all). The socket's source is a fake that answers
// every lookup and the view holds the 64 connections asked about, so the numbers are the API's,
// not conntrack's.
//
//   odst_bench [--seconds S] [--server-threads N]
//
// The anchor needs root: it creates a network namespace (ip netns add), sets lo up, adds
// `iptables -t nat -A OUTPUT -p tcp -d 127.0.0.2 --dport 9 -j REDIRECT --to-ports P`, and removes
// the namespace (and with it the rule) afterwards, also on failure. Without root it is skipped
// with the reason printed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "odst/client_internal.h"
#include "odst/odst_server.h"
#include "odst/odst_test_support.h"
#include "odst/shared_view.h"
#include "odst/socket_pair.h"
#include "xredir/odst.h"

namespace {

using namespace xredir;
using namespace xredir::odst;
using Clock = std::chrono::steady_clock;

// AnswerAllSource answers every lookup as translated, without locks.
class AnswerAllSource : public OriginalDstSource {
 public:
  LookupResult lookup(std::uint8_t, const Endpoint&, const Endpoint& proxy) override {
    return {LookupOutcome::kTranslated, Endpoint{IpAddr::fromV4(0xcb007107), proxy.port}};
  }
};

struct Result {
  std::string name;
  int clients = 0;
  double p50_us = 0, p99_us = 0, qps = 0;
  std::uint64_t queries = 0, failures = 0;
};

// measure runs `clients` threads for `seconds`, each calling its query(i) in a loop and timing
// every call. prepare(i) runs on the thread before the clock starts.
Result measure(const std::string& name,
               int clients,
               double seconds,
               const std::function<void(int)>& prepare,
               const std::function<bool(int)>& query) {
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::vector<std::uint32_t>> lat(clients);  // nanoseconds
  std::vector<std::uint64_t> failures(clients, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      prepare(i);
      lat[i].reserve(1 << 20);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        const bool ok = query(i);
        const auto t1 = Clock::now();
        if (!ok) ++failures[i];
        lat[i].push_back(
            static_cast<std::uint32_t>(std::min<std::int64_t>((t1 - t0).count(), UINT32_MAX)));
      }
    });
  }
  while (ready.load() < clients) std::this_thread::yield();
  const auto start = Clock::now();
  go.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<std::uint32_t> all;
  Result r;
  r.name = name;
  r.clients = clients;
  for (int i = 0; i < clients; ++i) {
    all.insert(all.end(), lat[i].begin(), lat[i].end());
    r.failures += failures[i];
  }
  r.queries = all.size();
  if (all.empty()) return r;
  std::sort(all.begin(), all.end());
  r.p50_us = all[all.size() / 2] / 1000.0;
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)] / 1000.0;
  r.qps = static_cast<double>(all.size()) / wall;
  return r;
}

void print(const Result& r) {
  std::printf(
      "%-38s clients=%-3d p50=%8.2f us  p99=%8.2f us  %12.0f q/s  (%llu queries, %llu failed)\n",
      r.name.c_str(), r.clients, r.p50_us, r.p99_us, r.qps,
      static_cast<unsigned long long>(r.queries), static_cast<unsigned long long>(r.failures));
}

int run(const std::string& cmd) {
  return std::system(cmd.c_str());
}

// KernelAnchor owns the namespace of the anchor measurement; the destructor returns the thread
// to its namespace and deletes the one it made (and so the iptables rule inside it).
class KernelAnchor {
 public:
  KernelAnchor() : name_("xredir-odst-bench-" + std::to_string(::getpid())) {}
  ~KernelAnchor() {
    if (home_ >= 0) {
      ::setns(home_, CLONE_NEWNET);
      ::close(home_);
    }
    if (created_) run("ip netns del " + name_);
  }
  // enter creates the namespace with the REDIRECT rule and moves this thread into it; threads
  // started afterwards from this thread inherit it. Returns an empty string or the reason.
  std::string enter(std::uint16_t to_port) {
    if (::geteuid() != 0) return "not root";
    if (run("ip netns add " + name_) != 0) return "ip netns add failed";
    created_ = true;
    home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int ns = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) return "setns failed";
    ::close(ns);
    if (run("ip link set lo up") != 0) return "ip link set lo up failed";
    if (run("iptables -w -t nat -A OUTPUT -p tcp -d 127.0.0.2 --dport 9 -j REDIRECT --to-ports " +
            std::to_string(to_port)) != 0) {
      return "iptables REDIRECT failed";
    }
    return "";
  }

 private:
  std::string name_;
  int home_ = -1;
  bool created_ = false;
};

// redirectedConnections opens n connections to 127.0.0.2:9 that the kernel REDIRECTs to the
// listener and returns the accepted ends.
std::vector<int> redirectedConnections(int listener, int n, std::vector<int>& clients) {
  std::vector<int> accepted;
  for (int i = 0; i < n; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(0x7f000002);
    if (::connect(c, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) break;
    clients.push_back(c);
    accepted.push_back(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  }
  return accepted;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  unsigned server_threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--server-threads") server_threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
  }
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  std::printf("odst_bench: %.1f s per line, server I/O threads %u, %u CPUs\n", seconds,
              server_threads, std::thread::hardware_concurrency());

  // The anchor runs first, before any server thread exists (iptables is run with system()).
  std::vector<Result> kernel;
  {
    KernelAnchor anchor;
    int listener = -1;
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string why;
    std::uint16_t port = 15001;
    why = anchor.enter(port);
    if (why.empty()) {
      any.sin_port = htons(port);
      listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // inside the namespace
      if (::bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 ||
          ::listen(listener, 128) != 0) {
        why = "bind 127.0.0.1:15001 in the namespace failed";
      }
    }
    if (!why.empty()) {
      std::printf("kernel anchor skipped: %s\n", why.c_str());
    } else {
      std::vector<int> clients;
      const std::vector<int> acc = redirectedConnections(listener, 64, clients);
      sockaddr_in check{};
      socklen_t cl = sizeof(check);
      if (acc.size() != 64 || ::getsockopt(acc[0], SOL_IP, 80, &check, &cl) != 0 ||
          check.sin_addr.s_addr != htonl(0x7f000002)) {
        std::printf("kernel anchor skipped: SO_ORIGINAL_DST did not answer 127.0.0.2:9\n");
      } else {
        auto q = [&](int i) {
          sockaddr_in o{};
          socklen_t l = sizeof(o);
          return ::getsockopt(acc[i], SOL_IP, 80, &o, &l) == 0;
        };
        kernel.push_back(measure(
            "kernel getsockopt(SO_ORIGINAL_DST)", 1, seconds, [](int) {}, q));
        kernel.push_back(measure(
            "kernel getsockopt(SO_ORIGINAL_DST)", 64, seconds, [](int) {}, q));
        for (const Result& r : kernel) print(r);
      }
      for (int fd : clients) ::close(fd);
      for (int fd : acc) ::close(fd);
    }
    if (listener >= 0) ::close(listener);
  }

  xredir::odst::testing::ScratchDir dir;
  AnswerAllSource source;
  ServerOptions opts;
  opts.socket_path = dir.socketPath();
  opts.threads = server_threads;
  OdstServer server(opts, source);
  if (Status s = server.start(); !s.ok()) {
    std::fprintf(stderr, "odst_bench: %s\n", s.message().c_str());
    return 1;
  }
  ::setenv(XREDIR_ODST_SOCKET_ENV, dir.socketPath().c_str(), 1);

  std::vector<Result> raw, lib;
  for (int clients : {1, 64}) {
    std::vector<int> fds(clients, -1);
    const auto request = xredir::odst::testing::encodeRequest(6, *parseEndpoint("10.0.0.1:40000"),
                                                              *parseEndpoint("169.254.77.1:15001"));
    raw.push_back(measure(
        "xredir raw protocol round trip", clients, seconds,
        [&](int i) { fds[i] = xredir::odst::testing::connectUnix(dir.socketPath()); },
        [&](int i) {
          std::uint8_t resp[XREDIR_ODST_RESPONSE_SIZE];
          if (::send(fds[i], request.data(), request.size(), MSG_NOSIGNAL) !=
              static_cast<ssize_t>(request.size())) {
            return false;
          }
          std::size_t got = 0;
          while (got < sizeof(resp)) {
            const ssize_t n = ::recv(fds[i], resp + got, sizeof(resp) - got, 0);
            if (n <= 0) return false;
            got += static_cast<std::size_t>(n);
          }
          return resp[5] == XREDIR_ODST_OK;
        }));
    print(raw.back());
    // The same connections with kDepth requests per write: what the server does when a client
    // batches (one read and one write per kDepth answers). Latency is per batch.
    constexpr int kDepth = 16;
    std::vector<std::uint8_t> batch;
    for (int d = 0; d < kDepth; ++d) batch.insert(batch.end(), request.begin(), request.end());
    Result piped = measure(
        "xredir raw, 16 pipelined (per batch)", clients, seconds, [](int) {},
        [&](int i) {
          std::uint8_t resp[kDepth * XREDIR_ODST_RESPONSE_SIZE];
          if (::send(fds[i], batch.data(), batch.size(), MSG_NOSIGNAL) !=
              static_cast<ssize_t>(batch.size())) {
            return false;
          }
          std::size_t got = 0;
          while (got < sizeof(resp)) {
            const ssize_t n = ::recv(fds[i], resp + got, sizeof(resp) - got, 0);
            if (n <= 0) return false;
            got += static_cast<std::size_t>(n);
          }
          return true;
        });
    piped.qps *= kDepth;
    piped.queries *= kDepth;
    print(piped);
    for (int fd : fds) ::close(fd);
  }
  std::vector<std::unique_ptr<xredir::odst::testing::LoopbackConnection>> conns;
  for (int i = 0; i < 64; ++i) {
    conns.push_back(std::make_unique<xredir::odst::testing::LoopbackConnection>(AF_INET));
  }
  auto libraryCall = [&](int i) {
    sockaddr_storage out{};
    socklen_t len = sizeof(out);
    return xredir_original_dst(conns[i]->accepted, &out, &len) == 0;
  };
  for (int clients : {1, 64}) {
    lib.push_back(measure(
        "xredir_original_dst() over the socket", clients, seconds, [](int) {}, libraryCall));
    print(lib.back());
  }
  server.stop();

  // The shared view: the same server, now handing out a view that holds the 64 connections.
  Status view_status;
  std::unique_ptr<SharedView> view = SharedView::create(1 << 16, 0x5eed, view_status);
  if (!view) {
    std::fprintf(stderr, "odst_bench: %s\n", view_status.message().c_str());
    return 1;
  }
  for (const auto& c : conns) {
    view->publish(IPPROTO_TCP, c->peer, c->local, Endpoint{IpAddr::fromV4(0xcb007107), 443});
  }
  opts.view = ViewDescriptor{view->readOnlyFd(), view->offer()};
  OdstServer view_server(opts, source);
  if (Status s = view_server.start(); !s.ok()) {
    std::fprintf(stderr, "odst_bench: %s\n", s.message().c_str());
    return 1;
  }
  xredir_odst_forget_view();  // the socket runs above found no view; fetch this one at once
  struct Addrs {
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof(sockaddr_storage), peer_len = sizeof(sockaddr_storage);
  };
  std::vector<Addrs> addrs(conns.size());
  for (std::size_t i = 0; i < conns.size(); ++i) {
    ::getsockname(conns[i]->accepted, reinterpret_cast<sockaddr*>(&addrs[i].local),
                  &addrs[i].local_len);
    ::getpeername(conns[i]->accepted, reinterpret_cast<sockaddr*>(&addrs[i].peer),
                  &addrs[i].peer_len);
  }
  std::vector<Result> view_lib, view_of;
  for (int clients : {1, 64}) {
    view_lib.push_back(measure(
        "xredir_original_dst(), shared view", clients, seconds, [](int) {}, libraryCall));
    print(view_lib.back());
    view_of.push_back(measure(
        "xredir_original_dst_of(), shared view", clients, seconds, [](int) {},
        [&](int i) {
          sockaddr_storage out{};
          socklen_t len = sizeof(out);
          return xredir_original_dst_of(
                     IPPROTO_TCP, reinterpret_cast<const sockaddr*>(&addrs[i].local),
                     addrs[i].local_len, reinterpret_cast<const sockaddr*>(&addrs[i].peer),
                     addrs[i].peer_len, &out, &len) == 0;
        }));
    print(view_of.back());
  }
  // What the view adds to conntrack: one publish under the shard lock when a translated
  // connection is inserted, one unpublish when it is removed (single thread, 1M pairs of
  // different keys into a view of 1M slots). The first pass also pays the first touch of the
  // view's pages (page faults); the second is the steady state of a daemon that has run a while.
  double publish_pair_ns[2] = {0, 0};
  {
    Status st;
    std::unique_ptr<SharedView> big = SharedView::create(1 << 20, 0xbeef, st);
    for (int pass = 0; big && pass < 2; ++pass) {
      constexpr int kPairs = 1 << 20;
      const Endpoint proxy{IpAddr::fromV4(0xa9fe4d01), 15001};
      const Endpoint original{IpAddr::fromV4(0xcb007107), 443};
      const auto t0 = Clock::now();
      for (int i = 0; i < kPairs; ++i) {
        const Endpoint client{IpAddr::fromV4(0x0a000000u + static_cast<std::uint32_t>(i >> 12)),
                              static_cast<std::uint16_t>(i)};
        big->publish(IPPROTO_TCP, client, proxy, original);
        big->unpublish(IPPROTO_TCP, client, proxy);
      }
      publish_pair_ns[pass] =
          std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / kPairs;
    }
    std::printf(
        "view writer: publish + unpublish per connection, 1M slots: %.0f ns first touch, "
        "%.0f ns steady\n",
        publish_pair_ns[0], publish_pair_ns[1]);
  }
  const CountersSnapshot view_counters = view_server.counters();
  std::printf(
      "shared view runs: %llu queries reached the server (0: every answer came from the "
      "view), %llu view handed out\n",
      static_cast<unsigned long long>(view_counters.queries),
      static_cast<unsigned long long>(view_counters.views_sent));
  view_server.stop();

  std::printf("\nratios (xredir / kernel; latency >1 = slower, q/s <1 = fewer):\n");
  if (kernel.size() == 2) {
    for (std::size_t i = 0; i < 2; ++i) {
      for (const Result* x : {&raw[i], &lib[i], &view_lib[i], &view_of[i]}) {
        std::printf("  %-38s clients=%-3d p50 x%.2f  p99 x%.2f  q/s x%.3f\n", x->name.c_str(),
                    x->clients, x->p50_us / kernel[i].p50_us, x->p99_us / kernel[i].p99_us,
                    x->qps / kernel[i].qps);
      }
    }
  } else {
    std::printf("  (no kernel anchor in this run)\n");
  }
  std::printf("targets: p99 <= 20 us, >= 500k q/s across clients\n");
  for (const Result* x :
       {&raw[0], &raw[1], &lib[0], &lib[1], &view_lib[0], &view_lib[1], &view_of[0], &view_of[1]}) {
    std::printf("  %-38s clients=%-3d p99 %s, q/s %s\n", x->name.c_str(), x->clients,
                x->p99_us <= 20.0 ? "met" : "MISSED", x->qps >= 500000 ? "met" : "MISSED");
  }
  return 0;
}
