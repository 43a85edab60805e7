// loopback_test: a whole xredir-proxy, in-process, on 127.0.0.1 with no privileges. A fake
// original-destination server (Unix socket, odst.h protocol) tells it where each connection was
// going; real TCP servers on loopback play the upstreams. Checks bytes both ways, half-close in
// either direction, RST on failures (unknown original destination, refused upstream, loop) with
// their metrics, the connection limit, the idle timeout and the graceful drain.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proxy.h"
#include "xredir/odst.h"

namespace xredir::proxy {
namespace {

using namespace std::chrono_literals;

bool writeAll(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// readAll reads until EOF; returns false on an error (e.g. ECONNRESET).
bool readAll(int fd, std::string* out) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) return false;
    out->append(buf, static_cast<std::size_t>(n));
  }
}

int tcpListen(std::uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  listen(fd, 128);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int tcpConnect(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// TcpServer accepts on 127.0.0.1:<port> and runs `handler` on a thread per connection.
class TcpServer {
 public:
  explicit TcpServer(std::function<void(int)> handler) : handler_(std::move(handler)) {
    fd_ = tcpListen(&port_);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> lock(mu_);
        workers_.emplace_back([this, c] {
          handler_(c);
          close(c);
        });
      }
    });
  }
  ~TcpServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : workers_) t.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  std::function<void(int)> handler_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

// echo returns everything it reads, and half-closes after the client's FIN.
void echo(int fd) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    if (!writeAll(fd, buf, static_cast<std::size_t>(n))) return;
  }
  shutdown(fd, SHUT_WR);
}

// FakeOdstServer answers every query with answer(request).
class FakeOdstServer {
 public:
  using Answer = std::function<xredir_odst_response(const xredir_odst_request&)>;
  explicit FakeOdstServer(Answer answer) : answer_(std::move(answer)) {
    path_ = "/tmp/xredir_proxy_loopback_" + std::to_string(getpid()) + "_" +
            std::to_string(counter_++) + ".sock";
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path_.c_str());
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> lock(mu_);
        conns_.push_back(c);
        workers_.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~FakeOdstServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    std::lock_guard<std::mutex> lock(mu_);
    for (int c : conns_) shutdown(c, SHUT_RDWR);
    for (auto& t : workers_) t.join();
    for (int c : conns_) close(c);
    unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  int queries() const { return queries_.load(); }

 private:
  void serve(int c) {
    std::uint8_t in[XREDIR_ODST_REQUEST_SIZE];
    for (;;) {
      std::size_t got = 0;
      while (got < sizeof(in)) {
        const ssize_t n = recv(c, in + got, sizeof(in) - got, 0);
        if (n <= 0) return;
        got += static_cast<std::size_t>(n);
      }
      xredir_odst_request req{};
      if (xredir_odst_decode_request(in, &req) != XREDIR_ODST_OK) return;
      ++queries_;
      xredir_odst_response resp = answer_(req);
      std::uint8_t out[XREDIR_ODST_RESPONSE_SIZE];
      xredir_odst_encode_response(&resp, out);
      if (!writeAll(c, out, sizeof(out))) return;
    }
  }
  static inline std::atomic<int> counter_{0};
  Answer answer_;
  std::string path_;
  int fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  std::atomic<int> queries_{0};
};

xredir_odst_response okTo(std::uint16_t port) {
  xredir_odst_response r{};
  r.version = XREDIR_ODST_VERSION;
  r.status = XREDIR_ODST_OK;
  r.family = XREDIR_ODST_FAMILY_V4;
  r.addr[0] = 127;
  r.addr[3] = 1;
  r.port = port;
  return r;
}

std::string scrape(std::uint16_t port) {
  const int fd = tcpConnect(port);
  if (fd < 0) return "";
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  writeAll(fd, req.data(), req.size());
  std::string out;
  readAll(fd, &out);
  close(fd);
  return out;
}

// metric returns the value of the exact series `name` in a scrape, or -1.
long long metric(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const std::size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + key.size()));
}

Config baseConfig(const std::string& odst_path) {
  Config c;
  c.listen = {*parseEndpoint("127.0.0.1:0")};
  c.odst_socket = odst_path;
  c.metrics = *parseEndpoint("127.0.0.1:0");
  c.connect_timeout_ms = 2000;
  c.drain_timeout_s = 5;
  c.buffer_size = 16384;
  return c;
}

struct Running {
  explicit Running(Config c) : proxy(std::move(c)) {
    std::string error;
    started = proxy.start(&error);
    EXPECT_TRUE(started) << error;
  }
  ~Running() {
    proxy.requestStop();
    proxy.requestStop();
    proxy.wait();
  }
  std::uint16_t port() const { return proxy.boundListen()[0].port; }
  std::string metrics() const { return scrape(proxy.metricsPort()); }
  Proxy proxy;
  bool started = false;
};

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& ch : s) ch = static_cast<char>(rng());
  return s;
}

// waitFor polls cond for up to 5 s.
bool waitFor(const std::function<bool()>& cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

TEST(Loopback, RelaysBothWaysAndHalfClosesFromTheClient) {
  TcpServer upstream(echo);
  FakeOdstServer odst([&](const xredir_odst_request&) { return okTo(upstream.port()); });
  Config config = baseConfig(odst.path());
  config.threads = 2;
  Running r(config);
  ASSERT_TRUE(r.started);
  // Several connections at once, each larger than the buffer ring can hold in flight.
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      const std::string data = randomBytes(3 << 20, static_cast<unsigned>(i));
      const int fd = tcpConnect(r.port());
      if (fd < 0) return;
      std::string back;
      std::thread reader([&] { readAll(fd, &back); });
      writeAll(fd, data.data(), data.size());
      shutdown(fd,
               SHUT_WR);  // the echo server only finishes after seeing our FIN through the proxy
      reader.join();
      close(fd);
      if (back == data) ++good;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), 8);
  EXPECT_EQ(odst.queries(), 8);
  ASSERT_TRUE(waitFor([&] { return metric(r.metrics(), "xredir_proxy_connections_active") == 0; }));
  const std::string m = r.metrics();
  EXPECT_EQ(metric(m, "xredir_proxy_connections_total"), 8);
  EXPECT_EQ(metric(m, "xredir_proxy_bytes_total{direction=\"to_upstream\"}"), 8LL * (3 << 20));
  EXPECT_EQ(metric(m, "xredir_proxy_bytes_total{direction=\"to_client\"}"), 8LL * (3 << 20));
  EXPECT_EQ(metric(m, "xredir_proxy_connections_failed_total{reason=\"original_dst\"}"), 0);
}

TEST(Loopback, HalfCloseFromUpstreamKeepsTheOtherDirection) {
  std::atomic<std::size_t> server_got{0};
  // The server speaks first, closes its sending side, then keeps reading until our FIN.
  TcpServer upstream([&](int fd) {
    writeAll(fd, "greeting", 8);
    shutdown(fd, SHUT_WR);
    std::string in;
    readAll(fd, &in);
    server_got = in.size();
  });
  FakeOdstServer odst([&](const xredir_odst_request&) { return okTo(upstream.port()); });
  Running r(baseConfig(odst.path()));
  ASSERT_TRUE(r.started);
  const int fd = tcpConnect(r.port());
  ASSERT_GE(fd, 0);
  std::string got;
  ASSERT_TRUE(readAll(fd, &got));  // EOF arrives while our direction is still open
  EXPECT_EQ(got, "greeting");
  const std::string late = randomBytes(100000, 7);
  ASSERT_TRUE(writeAll(fd, late.data(), late.size()));
  shutdown(fd, SHUT_WR);
  EXPECT_TRUE(waitFor([&] { return server_got.load() == late.size(); }));
  close(fd);
}

// expectReset connects through the proxy and expects the connection to be reset promptly.
void expectReset(std::uint16_t port) {
  const int fd = tcpConnect(port);
  ASSERT_GE(fd, 0);
  char c;
  const ssize_t n = recv(fd, &c, 1, 0);
  const int err = errno;
  EXPECT_EQ(n, -1);
  EXPECT_EQ(err, ECONNRESET);
  close(fd);
}

TEST(Loopback, FailuresResetTheClientAndAreCounted) {
  std::uint16_t closed_port = 0;
  close(tcpListen(&closed_port));  // a port nobody listens on any more
  std::atomic<int> mode{0};
  std::uint16_t proxy_port = 0;
  FakeOdstServer odst([&](const xredir_odst_request&) {
    xredir_odst_response r{};
    r.version = XREDIR_ODST_VERSION;
    switch (mode.load()) {
      case 0:
        r.status = XREDIR_ODST_NOT_TRACKED;
        return r;
      case 1:
        return okTo(closed_port);
      default:
        return okTo(proxy_port);  // ourselves: a loop
    }
  });
  Running r(baseConfig(odst.path()));
  ASSERT_TRUE(r.started);
  proxy_port = r.port();
  expectReset(r.port());
  mode = 1;
  expectReset(r.port());
  mode = 2;
  expectReset(r.port());
  const std::string m = r.metrics();
  EXPECT_EQ(metric(m, "xredir_proxy_connections_total"), 3);
  EXPECT_EQ(metric(m, "xredir_proxy_connections_failed_total{reason=\"original_dst\"}"), 1);
  EXPECT_EQ(metric(m, "xredir_proxy_original_dst_errors_total{status=\"not_tracked\"}"), 1);
  EXPECT_EQ(metric(m, "xredir_proxy_connections_failed_total{reason=\"connect_refused\"}"), 1);
  EXPECT_EQ(metric(m, "xredir_proxy_connections_failed_total{reason=\"loop\"}"), 1);
  EXPECT_TRUE(waitFor([&] { return metric(r.metrics(), "xredir_proxy_connections_active") == 0; }));
}

TEST(Loopback, UpstreamThatNeverAnswersTimesOut) {
  // A listener that never accepts, with its accept queue full, drops further SYNs: the connect
  // can only end by the proxy's linked timeout.
  std::uint16_t port = 0;
  const int full = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(full, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(full, 0), 0);
  socklen_t len = sizeof(a);
  getsockname(full, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  std::vector<int> fillers;
  fillers.push_back(tcpConnect(port));  // backlog 0 holds one: this fills it
  FakeOdstServer odst([&](const xredir_odst_request&) { return okTo(port); });
  Config config = baseConfig(odst.path());
  config.connect_timeout_ms = 300;
  Running r(config);
  ASSERT_TRUE(r.started);
  const auto start = std::chrono::steady_clock::now();
  expectReset(r.port());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
  EXPECT_EQ(
      metric(r.metrics(), "xredir_proxy_connections_failed_total{reason=\"connect_timeout\"}"), 1);
  for (int fd : fillers) close(fd);
  close(full);
}

TEST(Loopback, ClientResetWhileItsDirectionIsParkedClosesTheConnection) {
  // The upstream never reads: the client's bytes back up until the proxy's send to it cannot
  // finish, so the client's direction is parked with no recv armed on the client. A reset from
  // the client must still end the connection (and reset the upstream) instead of leaving it to
  // the idle timeout.
  std::atomic<bool> release{false};
  std::atomic<int> upstream_end{0};  // 1: EOF, 2: error (reset)
  TcpServer upstream([&](int fd) {
    while (!release.load()) std::this_thread::sleep_for(10ms);
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n == 0) {
        upstream_end = 1;
        return;
      }
      if (n < 0) {
        upstream_end = 2;
        return;
      }
    }
  });
  FakeOdstServer odst([&](const xredir_odst_request&) { return okTo(upstream.port()); });
  Running r(baseConfig(odst.path()));
  ASSERT_TRUE(r.started);
  const int fd = tcpConnect(r.port());
  ASSERT_GE(fd, 0);
  // Write until every buffer on the way is full: a send that times out (200 ms) means parked.
  timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const std::string chunk(65536, 'x');
  bool blocked = false;
  for (int i = 0; i < 4096 && !blocked; ++i) {
    blocked = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0;
  }
  ASSERT_TRUE(blocked);
  ASSERT_EQ(metric(r.metrics(), "xredir_proxy_connections_active"), 1);
  const linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);  // RST
  EXPECT_TRUE(waitFor([&] { return metric(r.metrics(), "xredir_proxy_connections_active") == 0; }));
  release = true;
  // The upstream learns of it by a reset (after whatever it had already been sent).
  EXPECT_TRUE(waitFor([&] { return upstream_end.load() == 2; }));
}

TEST(Loopback, NoOdstServerIsCountedAsUnavailable) {
  Running r(baseConfig("/nonexistent/xredir-odst.sock"));
  ASSERT_TRUE(r.started);
  expectReset(r.port());
  const std::string m = r.metrics();
  EXPECT_EQ(metric(m, "xredir_proxy_connections_failed_total{reason=\"original_dst\"}"), 1);
  EXPECT_EQ(metric(m, "xredir_proxy_original_dst_errors_total{status=\"unavailable\"}"), 1);
}

TEST(Loopback, KernelModeWithoutConntrackEntryIsNotTracked) {
  // No iptables REDIRECT on loopback: getsockopt(SO_ORIGINAL_DST) finds no entry (ENOENT).
  Config config = baseConfig("/nonexistent");
  config.original_dst = OriginalDstMode::kKernel;
  Running r(config);
  ASSERT_TRUE(r.started);
  expectReset(r.port());
  const std::string m = r.metrics();
  EXPECT_EQ(metric(m, "xredir_proxy_connections_failed_total{reason=\"original_dst\"}"), 1);
  EXPECT_EQ(metric(m, "xredir_proxy_original_dst_errors_total{status=\"not_tracked\"}"), 1);
}

TEST(Loopback, ConnectionLimitRefusesWithReset) {
  TcpServer upstream(echo);
  FakeOdstServer odst([&](const xredir_odst_request&) { return okTo(upstream.port()); });
  Config config = baseConfig(odst.path());
  config.max_connections = 1;
  Running r(config);
  ASSERT_TRUE(r.started);
  const int first = tcpConnect(r.port());
  ASSERT_GE(first, 0);
  ASSERT_TRUE(writeAll(first, "x", 1));
  char c;
  ASSERT_EQ(recv(first, &c, 1, 0), 1);  // the first one is relayed
  expectReset(r.port());
  EXPECT_EQ(metric(r.metrics(), "xredir_proxy_connections_failed_total{reason=\"limit\"}"), 1);
  close(first);
}

TEST(Loopback, IdleConnectionsAreClosed) {
  TcpServer upstream(echo);
  FakeOdstServer odst([&](const xredir_odst_request&) { return okTo(upstream.port()); });
  Config config = baseConfig(odst.path());
  config.idle_timeout_s = 1;
  Running r(config);
  ASSERT_TRUE(r.started);
  const int fd = tcpConnect(r.port());
  ASSERT_GE(fd, 0);
  const auto start = std::chrono::steady_clock::now();
  std::string got;
  readAll(fd, &got);  // returns at the proxy's close
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 5s);
  EXPECT_EQ(metric(r.metrics(), "xredir_proxy_connections_idle_closed_total"), 1);
  close(fd);
}

TEST(Loopback, DrainLetsConnectionsFinishThenClosesTheRest) {
  TcpServer upstream(echo);
  FakeOdstServer odst([&](const xredir_odst_request&) { return okTo(upstream.port()); });
  Config config = baseConfig(odst.path());
  config.drain_timeout_s = 1;
  Proxy proxy(config);
  std::string error;
  ASSERT_TRUE(proxy.start(&error)) << error;
  const std::uint16_t port = proxy.boundListen()[0].port;
  const int fd = tcpConnect(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(writeAll(fd, "abc", 3));
  char buf[3];
  ASSERT_EQ(recv(fd, buf, 3, MSG_WAITALL), 3);
  const auto start = std::chrono::steady_clock::now();
  proxy.requestStop();
  // New connections are no longer accepted once the listener is gone.
  EXPECT_TRUE(waitFor([&] {
    const int probe = tcpConnect(port);
    if (probe >= 0) close(probe);
    return probe < 0;
  }));
  // The open connection still relays during the drain.
  ASSERT_TRUE(writeAll(fd, "def", 3));
  ASSERT_EQ(recv(fd, buf, 3, MSG_WAITALL), 3);
  EXPECT_EQ(std::string(buf, 3), "def");
  EXPECT_TRUE(waitFor([&] { return proxy.finished(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
  proxy.wait();
  std::string rest;
  readAll(fd, &rest);  // closed by the drain deadline
  close(fd);
}

}  // namespace
}  // namespace xredir::proxy
