// proxy_load.cc: the servers and clients of the proxy's end-to-end test and benchmark
// (tests/proxy/proxy_e2e.sh, bench/proxy_vs_haproxy.sh). One binary, one subcommand per role, so
// that the shell scripts stay readable and the byte-level work (patterns, hashing, hundreds of
// sockets, latency percentiles) runs at C++ speed. Every client subcommand prints one result line
// ("ok ..." or "FAIL reason"; flood prints HOLDING first) and exits 0 when what it names held,
// 1 otherwise, 2 on bad usage.
//
//   serve MODE:PORT...              servers on 0.0.0.0:PORT; prints LISTENING once all are bound.
//     echo       epoll echo (bounded buffer: stops reading while it cannot write); closes after
//                the peer's EOF once everything is echoed
//     eof-echo   reads to EOF, then sends everything back and closes (half-close check)
//     sink-slow  reads 1 KiB every 50 ms, never writes (a slow reader)
//     slow-echo  echoes at 4 MiB/s (a transfer that stays in flight for seconds)
//     ppv2       expects a PROXY protocol v2 header, answers "PROXY SRC a:p DST a:p", then echoes
//     info       answers "LOCAL a:p PEER a:p" (also printed on stdout), then echoes
//   integrity HOST PORT CONNS BYTES concurrent connections to an echo server, BYTES each way each,
//                                   every byte checked against a per-connection pattern
//   halfclose HOST PORT BYTES       sends BYTES, shuts down its write side, expects all of them
//                                   back from an eof-echo server, then EOF
//   expect-close HOST PORT MIN_MS MAX_MS none|send|echo
//                                   the connection must end (refused, reset or EOF) without any
//                                   data, between MIN_MS and MAX_MS after it was set up
//                                   (echo: after one echoed round trip, i.e. idle time)
//   limit HOST PORT HELD            HELD echoing connections stay open; one more is closed at once
//   flood HOST PORT CONNS HOLD_S    CONNS connections write until blocked and never read; prints
//                                   HOLDING, holds HOLD_S s, fails if any was closed meanwhile
//   short HOST PORT COUNT [THREADS] sequential connect / 32-byte request / answer / close
//   latency HOST PORT COUNT         64-byte ping-pongs on one connection, p50/p99
//   request HOST PORT TEXT          sends TEXT and a newline, prints the first line answered
//   banner HOST PORT MAX_MS         sends nothing; the server's first line must arrive within
//                                   MAX_MS of the connect (a server that speaks first)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

[[noreturn]] void failExit(const std::string& why) {
  std::printf("FAIL %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(1);
}

// splitmix64: the pattern generator; a block of 8 bytes depends on the connection's seed and
// the block's offset, so a lost, duplicated, reordered or cross-connection byte is detected.
std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void fillPattern(std::uint64_t seed, std::uint64_t offset, unsigned char* out, std::size_t len) {
  for (std::size_t i = 0; i < len;) {
    std::uint64_t pos = offset + i;
    std::uint64_t block = splitmix(seed * 0x100000001B3ull ^ (pos / 8));
    for (std::size_t b = pos % 8; b < 8 && i < len; ++b, ++i)
      out[i] = static_cast<unsigned char>(block >> (8 * b));
  }
}

std::string addrText(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
    port = ntohs(s->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
  port = ntohs(s->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

sockaddr_storage parseAddr(const char* host, const char* port) {
  sockaddr_storage ss{};
  auto p = static_cast<std::uint16_t>(std::atoi(port));
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(p);
  } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(p);
  } else {
    failExit(std::string("bad address ") + host);
  }
  return ss;
}

socklen_t addrLen(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

void setNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// connectTimeout: a blocking socket connected within `ms`; -1 with errno set otherwise.
int connectTimeout(const sockaddr_storage& dst, int ms) {
  int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  setNonBlocking(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&dst), addrLen(dst)) < 0 &&
      errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, ms) != 1) {
    close(fd);
    errno = ETIMEDOUT;
    return -1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close(fd);
    errno = err;
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

bool writeAll(int fd, const void* data, std::size_t len) {
  auto* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

bool readAll(int fd, void* data, std::size_t len) {
  auto* p = static_cast<char*>(data);
  while (len > 0) {
    ssize_t n = recv(fd, p, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

void setRecvTimeout(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// ---------------------------------------------------------------------------------- servers

std::mutex g_out_mutex;

void echoRest(int fd) {
  char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || !writeAll(fd, buf, static_cast<std::size_t>(n))) break;
  }
}

void serveEofEcho(int fd) {
  std::vector<char> all;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    if (n == 0) break;
    all.insert(all.end(), buf, buf + n);
  }
  writeAll(fd, all.data(), all.size());
}

void serveSinkSlow(int fd) {
  char buf[1024];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void serveSlowEcho(int fd) {
  constexpr double kBytesPerSecond = 4.0 * 1024 * 1024;
  char buf[16384];
  auto t0 = Clock::now();
  double total = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0 || !writeAll(fd, buf, static_cast<std::size_t>(n))) return;
    total += static_cast<double>(n);
    double due_ms = total / kBytesPerSecond * 1000.0;
    double ahead = due_ms - msSince(t0);
    if (ahead > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long>(ahead * 1000)));
  }
}

// servePpv2 parses the PROXY protocol v2 header (the 12-byte signature, version/command, family,
// length, then the addresses; haproxy's doc/proxy-protocol.txt section 2.2).
void servePpv2(int fd) {
  static const unsigned char kSig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  unsigned char hdr[16];
  if (!readAll(fd, hdr, sizeof hdr)) return;
  std::string answer;
  if (std::memcmp(hdr, kSig, 12) != 0) {
    answer = "NOPROXY\n";
  } else {
    unsigned len = (hdr[14] << 8) | hdr[15];
    std::vector<unsigned char> body(len);
    if (len > 0 && !readAll(fd, body.data(), len)) return;
    char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
    unsigned sp = 0, dp = 0;
    if (hdr[12] != 0x21) {
      answer = "BADVERSION\n";
    } else if (hdr[13] == 0x11 && len >= 12) {
      inet_ntop(AF_INET, body.data(), src, sizeof src);
      inet_ntop(AF_INET, body.data() + 4, dst, sizeof dst);
      sp = (body[8] << 8) | body[9];
      dp = (body[10] << 8) | body[11];
      answer = std::string("PROXY SRC ") + src + ":" + std::to_string(sp) + " DST " + dst + ":" +
               std::to_string(dp) + "\n";
    } else if (hdr[13] == 0x21 && len >= 36) {
      inet_ntop(AF_INET6, body.data(), src, sizeof src);
      inet_ntop(AF_INET6, body.data() + 16, dst, sizeof dst);
      sp = (body[32] << 8) | body[33];
      dp = (body[34] << 8) | body[35];
      answer = std::string("PROXY SRC [") + src + "]:" + std::to_string(sp) + " DST [" + dst +
               "]:" + std::to_string(dp) + "\n";
    } else {
      answer = "PROXY family " + std::to_string(hdr[13]) + " len " + std::to_string(len) + "\n";
    }
  }
  if (writeAll(fd, answer.data(), answer.size())) echoRest(fd);
}

void serveInfo(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t l1 = sizeof local, l2 = sizeof peer;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &l1);
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &l2);
  std::string line = "LOCAL " + addrText(local) + " PEER " + addrText(peer) + "\n";
  {
    std::lock_guard<std::mutex> lock(g_out_mutex);
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
  }
  if (writeAll(fd, line.data(), line.size())) echoRest(fd);
}

int listenOn(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(fd, 4096) < 0)
    failExit("listen on port " + std::to_string(port) + ": " + std::strerror(errno));
  return fd;
}

// threadPerConnection accepts forever and gives each connection its own detached thread: the
// slow and stateful servers are simplest written blocking, and the tests open at most hundreds.
void threadPerConnection(int lfd, void (*serve)(int)) {
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread([fd, serve] {
      serve(fd);
      close(fd);
    }).detach();
  }
}

// echoLoop: one epoll thread serves every echo connection (100,000 short connections and the
// benchmark's connection rate would otherwise measure thread creation). A connection's buffer is
// bounded: while it holds unsent bytes nothing more is read, so a client that never reads makes
// the server stop reading too (back-pressure reaches the proxy from both sides).
void echoLoop(int lfd) {
  struct Conn {
    int fd;
    std::vector<char> buf = std::vector<char>(65536);
    std::size_t head = 0, tail = 0;
    bool eof = false;
  };
  int ep = epoll_create1(EPOLL_CLOEXEC);
  setNonBlocking(lfd);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::vector<epoll_event> events(256);
  for (;;) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      if (c == nullptr) {
        for (;;) {
          int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (fd < 0) break;
          auto* nc = new Conn{fd};
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.ptr = nc;
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      bool dead = false;
      if (c->head == c->tail && !c->eof) {
        ssize_t r = recv(c->fd, c->buf.data(), c->buf.size(), 0);
        if (r > 0) {
          c->head = 0;
          c->tail = static_cast<std::size_t>(r);
        } else if (r == 0) {
          c->eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          dead = true;
        }
      }
      while (!dead && c->head < c->tail) {
        ssize_t w = send(c->fd, c->buf.data() + c->head, c->tail - c->head, MSG_NOSIGNAL);
        if (w > 0) {
          c->head += static_cast<std::size_t>(w);
        } else {
          if (errno != EAGAIN && errno != EINTR) dead = true;
          break;
        }
      }
      if (!dead && c->eof && c->head == c->tail) dead = true;  // everything echoed after EOF
      if (dead) {
        close(c->fd);  // also removes it from the epoll set
        delete c;
        continue;
      }
      epoll_event e{};
      e.events = c->head < c->tail ? EPOLLOUT : EPOLLIN;
      e.data.ptr = c;
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    }
  }
}

int cmdServe(int argc, char** argv) {
  std::vector<std::thread> threads;
  for (int i = 0; i < argc; ++i) {
    std::string spec = argv[i];
    auto colon = spec.find(':');
    if (colon == std::string::npos) failExit("bad server spec " + spec);
    std::string mode = spec.substr(0, colon);
    int lfd = listenOn(std::atoi(spec.c_str() + colon + 1));
    void (*serve)(int) = nullptr;
    if (mode == "echo") {
      threads.emplace_back(echoLoop, lfd);
      continue;
    }
    if (mode == "eof-echo")
      serve = serveEofEcho;
    else if (mode == "sink-slow")
      serve = serveSinkSlow;
    else if (mode == "slow-echo")
      serve = serveSlowEcho;
    else if (mode == "ppv2")
      serve = servePpv2;
    else if (mode == "info")
      serve = serveInfo;
    else
      failExit("unknown server mode " + mode);
    threads.emplace_back(threadPerConnection, lfd, serve);
  }
  std::printf("LISTENING\n");
  std::fflush(stdout);
  for (auto& t : threads) t.join();
  return 0;
}

// ---------------------------------------------------------------------------------- clients

int cmdIntegrity(const sockaddr_storage& dst, int conns, std::uint64_t bytes) {
  struct Conn {
    int fd = -1;
    std::uint64_t seed = 0, sent = 0, received = 0;
    bool connected = false, shut = false, done = false;
  };
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < conns; ++i) {
    Conn& c = cs[static_cast<std::size_t>(i)];
    c.seed = static_cast<std::uint64_t>(i) * 7919 + 17;
    c.fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (connect(c.fd, reinterpret_cast<const sockaddr*>(&dst), addrLen(dst)) < 0 &&
        errno != EINPROGRESS)
      failExit("connect " + std::to_string(i) + ": " + std::strerror(errno));
    epoll_event e{};
    e.events = EPOLLIN | EPOLLOUT;
    e.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
  }
  auto t0 = Clock::now();
  int left = conns;
  std::vector<unsigned char> out(65536), in(65536), expect(65536);
  std::vector<epoll_event> events(512);
  while (left > 0) {
    if (msSince(t0) > 120000)
      failExit("timed out with " + std::to_string(left) + " connections unfinished");
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    for (int k = 0; k < n; ++k) {
      std::uint32_t i = events[k].data.u32;
      Conn& c = cs[i];
      if (c.done) continue;
      std::string who = "connection " + std::to_string(i) + ": ";
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) failExit(who + "connect: " + std::strerror(err));
        c.connected = true;
      }
      if ((events[k].events & EPOLLOUT) && c.sent < bytes) {
        std::size_t len =
            static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), bytes - c.sent));
        fillPattern(c.seed, c.sent, out.data(), len);
        ssize_t w = send(c.fd, out.data(), len, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
          failExit(who + "send after " + std::to_string(c.sent) +
                   " bytes: " + std::strerror(errno));
        if (w > 0) c.sent += static_cast<std::uint64_t>(w);
      }
      if (c.sent == bytes && !c.shut) {
        // Half-close: the echo server answers everything, then closes on our EOF.
        shutdown(c.fd, SHUT_WR);
        c.shut = true;
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u32 = i;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e);
      }
      if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = recv(c.fd, in.data(), in.size(), 0);
        if (r < 0 && errno != EAGAIN)
          failExit(who + "recv after " + std::to_string(c.received) +
                   " bytes: " + std::strerror(errno));
        if (r == 0) {
          if (c.received != bytes)
            failExit(who + "EOF after " + std::to_string(c.received) + " of " +
                     std::to_string(bytes) + " bytes");
          c.done = true;
          close(c.fd);
          --left;
          continue;
        }
        if (r > 0) {
          auto len = static_cast<std::size_t>(r);
          if (c.received + len > bytes) failExit(who + "more bytes than sent");
          fillPattern(c.seed, c.received, expect.data(), len);
          if (std::memcmp(expect.data(), in.data(), len) != 0) {
            std::size_t at = 0;
            while (expect[at] == in[at]) ++at;
            failExit(who + "byte " + std::to_string(c.received + at) + " differs");
          }
          c.received += len;
        }
      }
    }
  }
  double secs = msSince(t0) / 1000.0;
  std::printf("ok %d connections, %.1f MiB each way, every byte checked, %.2f s\n", conns,
              static_cast<double>(bytes) * conns / 1048576.0, secs);
  return 0;
}

int cmdHalfClose(const sockaddr_storage& dst, std::uint64_t bytes) {
  int fd = connectTimeout(dst, 3000);
  if (fd < 0) failExit(std::string("connect: ") + std::strerror(errno));
  setRecvTimeout(fd, 10000);
  std::vector<unsigned char> data(bytes), back(bytes);
  fillPattern(99, 0, data.data(), bytes);
  if (!writeAll(fd, data.data(), bytes)) failExit(std::string("send: ") + std::strerror(errno));
  shutdown(fd, SHUT_WR);
  auto t0 = Clock::now();
  std::uint64_t got = 0;
  for (;;) {
    char extra;
    ssize_t r = got < bytes ? recv(fd, back.data() + got, bytes - got, 0) : recv(fd, &extra, 1, 0);
    if (r < 0)
      failExit("recv after our FIN, " + std::to_string(got) + " bytes: " + std::strerror(errno));
    if (r == 0) break;
    got += static_cast<std::uint64_t>(r);
    if (got > bytes) failExit("more bytes than sent");
  }
  if (got != bytes)
    failExit("EOF after " + std::to_string(got) + " of " + std::to_string(bytes) + " bytes");
  if (std::memcmp(data.data(), back.data(), bytes) != 0)
    failExit("answer differs from what was sent");
  std::printf("ok sent %llu bytes then FIN, received all %llu back after it (%.0f ms), then EOF\n",
              static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(got),
              msSince(t0));
  close(fd);
  return 0;
}

// closedHow waits up to `ms` for the end of the connection: "reset", "eof", or "" (still open);
// any data received is reported as "data".
std::string closedHow(int fd, int ms) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, ms) != 1) return "";
  char c;
  ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
  if (r == 0) return "eof";
  if (r > 0) return "data";
  if (errno == ECONNRESET) return "reset";
  return std::strerror(errno);
}

int cmdExpectClose(const sockaddr_storage& dst, int min_ms, int max_ms, const std::string& pre) {
  auto t0 = Clock::now();
  int fd = connectTimeout(dst, max_ms + 2000);
  if (fd < 0) {
    double t = msSince(t0);
    // Refused (no listener) or reset before connect() returned (the proxy accepted and reset
    // at once): both end the connection without serving it.
    if ((errno == ECONNREFUSED || errno == ECONNRESET) && t >= min_ms && t <= max_ms) {
      std::printf("ok %s at connect after %.0f ms\n", errno == ECONNREFUSED ? "refused" : "reset",
                  t);
      return 0;
    }
    failExit(std::string("connect: ") + std::strerror(errno) + " after " +
             std::to_string(static_cast<int>(t)) + " ms");
  }
  if (pre == "echo") {
    char buf[5];
    setRecvTimeout(fd, 3000);
    if (!writeAll(fd, "ping\n", 5) || !readAll(fd, buf, 5) || std::memcmp(buf, "ping\n", 5) != 0)
      failExit("the first round trip did not echo");
    t0 = Clock::now();
  } else if (pre == "send") {
    send(fd, "hello\n", 6, MSG_NOSIGNAL);  // may already fail: the proxy can close first
  }
  std::string how = closedHow(fd, max_ms + 3000);
  double t = msSince(t0);
  close(fd);
  if (how.empty()) failExit("still open after " + std::to_string(static_cast<int>(t)) + " ms");
  if (how == "data") failExit("received data, the connection was served");
  if (t < min_ms || t > max_ms)
    failExit("closed (" + how + ") after " + std::to_string(static_cast<int>(t)) +
             " ms, expected " + std::to_string(min_ms) + ".." + std::to_string(max_ms));
  std::printf("ok closed (%s) after %.0f ms\n", how.c_str(), t);
  return 0;
}

bool echoOnce(int fd, char tag) {
  char out[2] = {tag, '\n'}, in[2];
  return writeAll(fd, out, 2) && readAll(fd, in, 2) && in[0] == tag;
}

int cmdLimit(const sockaddr_storage& dst, int held) {
  std::vector<int> fds;
  for (int i = 0; i < held; ++i) {
    int fd = connectTimeout(dst, 3000);
    if (fd < 0)
      failExit("connection " + std::to_string(i + 1) + ": connect: " + std::strerror(errno));
    setRecvTimeout(fd, 3000);
    if (!echoOnce(fd, 'a'))
      failExit("connection " + std::to_string(i + 1) + " of " + std::to_string(held) +
               " was not served");
    fds.push_back(fd);
  }
  auto t0 = Clock::now();
  std::string how;
  int fd = connectTimeout(dst, 3000);
  if (fd < 0) {
    how = std::string("connect: ") + std::strerror(errno);
  } else {
    send(fd, "b\n", 2, MSG_NOSIGNAL);
    how = closedHow(fd, 3000);
    close(fd);
  }
  double t = msSince(t0);
  if (how.empty() || how == "data")
    failExit("connection " + std::to_string(held + 1) +
             (how.empty() ? " stayed open" : " was served"));
  if (t > 1000)
    failExit("connection " + std::to_string(held + 1) + " closed only after " +
             std::to_string(static_cast<int>(t)) + " ms");
  for (int i = 0; i < held; ++i)
    if (!echoOnce(fds[static_cast<std::size_t>(i)], 'c'))
      failExit("held connection " + std::to_string(i + 1) + " broke");
  for (int f : fds) close(f);
  std::printf(
      "ok %d connections served, connection %d closed (%s) after %.0f ms, the %d still served\n",
      held, held + 1, how.c_str(), t, held);
  return 0;
}

int cmdFlood(const sockaddr_storage& dst, int conns, int hold_s) {
  std::vector<int> fds;
  for (int i = 0; i < conns; ++i) {
    int fd = connectTimeout(dst, 3000);
    if (fd < 0) failExit("connect " + std::to_string(i) + ": " + std::strerror(errno));
    setNonBlocking(fd);
    fds.push_back(fd);
  }
  std::vector<char> chunk(65536, 'x');
  std::uint64_t total = 0;
  auto last_progress = Clock::now();
  auto t0 = Clock::now();
  // Write until nothing moves for a second: every buffer on the way is full.
  while (msSince(last_progress) < 1000 && msSince(t0) < 20000) {
    bool moved = false;
    for (int fd : fds) {
      ssize_t w = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (w > 0) {
        total += static_cast<std::uint64_t>(w);
        moved = true;
      } else if (w < 0 && errno != EAGAIN) {
        failExit(std::string("a connection failed while writing: ") + std::strerror(errno));
      }
    }
    if (moved)
      last_progress = Clock::now();
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("HOLDING %d connections, %.1f MiB written, none read\n", conns,
              static_cast<double>(total) / 1048576.0);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(hold_s));
  int broken = 0;
  for (int fd : fds) {
    // Closed meanwhile: a reset (error) or the proxy's FIN (read side hung up).
    pollfd p{fd, POLLRDHUP, 0};
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))))
      ++broken;
    // Reset, not FIN: what still sits in our send buffer would otherwise trickle on to the slow
    // reader for minutes and hold the proxy's next drain.
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
  }
  if (broken > 0) failExit(std::to_string(broken) + " connections were closed while held");
  std::printf("ok %d connections held %d s, %.1f MiB written\n", conns, hold_s,
              static_cast<double>(total) / 1048576.0);
  return 0;
}

struct ShortResult {
  long ok = 0, failed = 0;
  std::string first_error;
  std::vector<float> us;
};

void shortWorker(const sockaddr_storage& dst, long count, ShortResult* r) {
  char req[32], resp[32];
  std::memset(req, 'q', sizeof req);
  for (long i = 0; i < count; ++i) {
    auto t0 = Clock::now();
    int fd = connectTimeout(dst, 3000);
    bool good = fd >= 0;
    std::string err = good ? "" : std::string("connect: ") + std::strerror(errno);
    if (good) {
      setRecvTimeout(fd, 3000);
      good = writeAll(fd, req, sizeof req) && readAll(fd, resp, sizeof resp) &&
             std::memcmp(req, resp, sizeof req) == 0;
      if (!good) err = std::string("exchange: ") + std::strerror(errno);
      close(fd);
    }
    if (good) {
      ++r->ok;
      r->us.push_back(static_cast<float>(msSince(t0) * 1000.0));
    } else {
      if (r->failed++ == 0) r->first_error = "connection " + std::to_string(i) + ": " + err;
    }
  }
}

float percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

int cmdShort(const sockaddr_storage& dst, long count, int threads) {
  std::vector<ShortResult> rs(static_cast<std::size_t>(threads));
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back(shortWorker, std::cref(dst), count / threads + (t < count % threads ? 1 : 0),
                    &rs[static_cast<std::size_t>(t)]);
  for (auto& t : ts) t.join();
  double secs = msSince(t0) / 1000.0;
  ShortResult all;
  for (auto& r : rs) {
    all.ok += r.ok;
    all.failed += r.failed;
    if (all.first_error.empty()) all.first_error = r.first_error;
    all.us.insert(all.us.end(), r.us.begin(), r.us.end());
  }
  std::printf("%s connections %ld failed %ld conn/s %.0f p50_us %.1f p99_us %.1f%s%s\n",
              all.failed == 0 ? "ok" : "FAIL", all.ok, all.failed,
              static_cast<double>(all.ok) / secs, percentile(all.us, 0.5), percentile(all.us, 0.99),
              all.failed ? " first error: " : "", all.first_error.c_str());
  return all.failed == 0 ? 0 : 1;
}

int cmdLatency(const sockaddr_storage& dst, long count) {
  int fd = connectTimeout(dst, 3000);
  if (fd < 0) failExit(std::string("connect: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setRecvTimeout(fd, 3000);
  char req[64], resp[64];
  std::memset(req, 'l', sizeof req);
  std::vector<float> us;
  us.reserve(static_cast<std::size_t>(count));
  for (long i = 0; i < count + 100; ++i) {
    auto t0 = Clock::now();
    if (!writeAll(fd, req, sizeof req) || !readAll(fd, resp, sizeof resp))
      failExit("round trip " + std::to_string(i) + " failed");
    if (i >= 100) us.push_back(static_cast<float>(msSince(t0) * 1000.0));  // the first 100 warm up
  }
  close(fd);
  std::printf("ok round_trips %ld p50_us %.1f p99_us %.1f\n", count, percentile(us, 0.5),
              percentile(us, 0.99));
  return 0;
}

int cmdRequest(const sockaddr_storage& dst, const std::string& text) {
  int fd = connectTimeout(dst, 3000);
  if (fd < 0) failExit(std::string("connect: ") + std::strerror(errno));
  setRecvTimeout(fd, 3000);
  std::string line = text + "\n";
  if (!writeAll(fd, line.data(), line.size())) failExit("send failed");
  std::string answer;
  char c;
  while (answer.size() < 4096 && recv(fd, &c, 1, 0) == 1 && c != '\n') answer += c;
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  close(fd);
  if (answer.empty()) failExit("no answer");
  std::printf("%s CLIENT %s\n", answer.c_str(), addrText(local).c_str());
  return 0;
}

// cmdBanner is a client of a server that speaks first: it sends nothing and must read the first
// line within max_ms of its connect (a proxy that held back the handshake's last ACK upstream
// keeps the server from accepting until its delayed-ACK timer, 200 ms).
int cmdBanner(const sockaddr_storage& dst, int max_ms) {
  const auto start = Clock::now();
  int fd = connectTimeout(dst, 3000);
  if (fd < 0) failExit(std::string("connect: ") + std::strerror(errno));
  setRecvTimeout(fd, 3000);
  std::string line;
  char c;
  while (line.size() < 4096 && recv(fd, &c, 1, 0) == 1 && c != '\n') line += c;
  const auto ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  close(fd);
  if (line.empty()) failExit("no banner");
  if (ms > max_ms) {
    std::printf("FAIL banner after %.1f ms (limit %d)\n", ms, max_ms);
    return 1;
  }
  std::printf("ok banner after %.1f ms: %s\n", ms, line.c_str());
  return 0;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: proxy_load serve MODE:PORT... | "
      "integrity|halfclose|expect-close|limit|flood|short|latency|request|banner HOST PORT "
      "...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  if (cmd == "serve") return cmdServe(argc - 2, argv + 2);
  if (argc < 4) return usage();
  sockaddr_storage dst = parseAddr(argv[2], argv[3]);
  auto arg = [&](int i) -> const char* {
    if (i >= argc) std::exit(usage());
    return argv[i];
  };
  if (cmd == "integrity")
    return cmdIntegrity(dst, std::atoi(arg(4)), std::strtoull(arg(5), nullptr, 10));
  if (cmd == "halfclose") return cmdHalfClose(dst, std::strtoull(arg(4), nullptr, 10));
  if (cmd == "expect-close")
    return cmdExpectClose(dst, std::atoi(arg(4)), std::atoi(arg(5)), arg(6));
  if (cmd == "limit") return cmdLimit(dst, std::atoi(arg(4)));
  if (cmd == "flood") return cmdFlood(dst, std::atoi(arg(4)), std::atoi(arg(5)));
  if (cmd == "short") return cmdShort(dst, std::atol(arg(4)), argc > 5 ? std::atoi(argv[5]) : 1);
  if (cmd == "latency") return cmdLatency(dst, std::atol(arg(4)));
  if (cmd == "request") return cmdRequest(dst, arg(4));
  if (cmd == "banner") return cmdBanner(dst, std::atoi(arg(4)));
  return usage();
}
