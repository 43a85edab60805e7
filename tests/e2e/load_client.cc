// load_client.cc: the daemon e2e test's TCP load generator and its original-destination server,
// one epoll loop each, so hundreds of concurrent connections cost no threads and python's speed
// does not limit what the test can push through the datapath.
//
//   load_client serve ADDR:PORT [ADDR:PORT...]
//     Listens on each endpoint and prints "LISTENING". Per connection it reads a request line
//     "XRL1 <seed> <up> <down> <duration_ms>", answers "SRV <local addr:port> <peer addr>\n",
//     then concurrently sends <down> bytes of the seed's down pattern and checks that exactly
//     <up> bytes of the up pattern arrive before EOF; last comes one verdict byte, 'K' when the
//     upload was intact, 'X' otherwise. So the bytes are checked both ways: the upload here at
//     the original-destination server, the download by the client.
//   load_client connect HOST PORT CONNS UP DOWN [--duration-ms MS] [--timeout-s S]
//                       [--expect-local ADDR:PORT] [--expect-peer ADDR]
//     Opens CONNS concurrent connections; each sends UP pattern bytes (spread over MS when
//     given, so transfers can be kept running across an event), reads the server's line, DOWN
//     pattern bytes and the verdict. --expect-local: the server must report that the connection
//     landed on that endpoint (the original destination); --expect-peer: the server must have
//     seen that peer address (the relay's address for a redirected connection, the client's for
//     one the kernel forwarded). Prints "ok CONNS conns, UP up + DOWN down each, local L peer P"
//     and exits 0 only when every connection passed; otherwise prints each failure.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// patternByte is byte `offset` of the stream named by `seed`: splitmix64 of the 8-byte block
// index, so any offset can be generated or checked without state.
std::uint8_t patternByte(std::uint64_t seed, std::uint64_t offset) {
  std::uint64_t z = seed + (offset / 8) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<std::uint8_t>(z >> (8 * (offset % 8)));
}

void fillPattern(std::uint64_t seed, std::uint64_t offset, std::uint8_t* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = patternByte(seed, offset + i);
}

bool checkPattern(std::uint64_t seed, std::uint64_t offset, const std::uint8_t* in, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (in[i] != patternByte(seed, offset + i)) return false;
  }
  return true;
}

// The down stream of a connection uses a different seed than the up stream, so an echo (a
// proxy that loops bytes back) is detected as corruption.
std::uint64_t downSeed(std::uint64_t seed) {
  return seed ^ 0xd0d0d0d0d0d0d0d0ULL;
}

std::string formatAddr(const sockaddr_storage& ss, bool with_port) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  std::string h = host;
  if (h.rfind("::ffff:", 0) == 0 && h.find('.') != std::string::npos) h = h.substr(7);
  if (!with_port) return h;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

// parseEndpoint accepts ADDR:PORT and [ADDR6]:PORT.
std::optional<sockaddr_storage> parseEndpoint(const std::string& text, socklen_t& len) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  const int port = std::atoi(text.c_str() + colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in);
    return ss;
  }
  ss = {};
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in6);
    return ss;
  }
  return std::nullopt;
}

constexpr std::size_t kChunk = 64 * 1024;

// Stream is one direction of a connection's payload: how much of the pattern has been sent or
// checked so far.
struct Stream {
  std::uint64_t seed = 0;
  std::uint64_t total = 0;
  std::uint64_t done = 0;
};

// sendSome writes pattern bytes of `s` up to `limit` (pacing); returns false on a socket error.
bool sendSome(int fd, Stream& s, std::uint64_t limit) {
  std::uint8_t buf[kChunk];
  while (s.done < std::min(limit, s.total)) {
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(kChunk, std::min(limit, s.total) - s.done));
    fillPattern(s.seed, s.done, buf, n);
    const ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN || errno == EINTR;
    s.done += static_cast<std::uint64_t>(w);
  }
  return true;
}

// ---------------------------------------------------------------------------- server

struct ServerConn {
  int fd = -1;
  std::string peer;
  std::string local;
  std::string head;  // the request line while it is incomplete
  bool have_request = false;
  Stream up;    // checked here
  Stream down;  // sent from here
  std::uint64_t duration_ms = 0;
  Clock::time_point start;
  bool up_ok = true;
  bool up_eof = false;
  bool sent_head = false;
  bool verdict_queued = false;
  std::string pending;  // SRV line or verdict not yet written
  std::uint32_t interest = 0;
};

// pacedLimit is how much of `total` may have been sent `duration_ms` after `start`.
std::uint64_t pacedLimit(std::uint64_t total, std::uint64_t duration_ms, Clock::time_point start) {
  if (duration_ms == 0) return total;
  const auto elapsed = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  return elapsed >= duration_ms ? total : total * elapsed / duration_ms + 1;
}

void setInterest(int ep, int fd, std::uint64_t tag, std::uint32_t events, std::uint32_t& current) {
  if (events == current) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  epoll_ctl(ep, current == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
  current = events;
}

enum class ServeState { kRunning = 1, kDone, kBroken };

// serviceServerConn reads and checks what arrived, then writes what is due.
ServeState serviceServerConn(ServerConn& c) {
  std::uint8_t buf[kChunk];
  while (!c.up_eof) {
    const ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return ServeState::kBroken;
    }
    if (r == 0) {
      c.up_eof = true;
      break;
    }
    std::size_t off = 0;
    while (!c.have_request && off < static_cast<std::size_t>(r)) {
      const char ch = static_cast<char>(buf[off++]);
      if (ch != '\n') {
        c.head.push_back(ch);
        if (c.head.size() > 200) return ServeState::kBroken;
        continue;
      }
      unsigned long long seed = 0, up = 0, down = 0, dur = 0;
      if (std::sscanf(c.head.c_str(), "XRL1 %llu %llu %llu %llu", &seed, &up, &down, &dur) != 4) {
        return ServeState::kBroken;
      }
      c.have_request = true;
      c.up = {seed, up, 0};
      c.down = {downSeed(seed), down, 0};
      c.duration_ms = dur;
      c.start = Clock::now();
      c.pending = "SRV " + c.local + " " + c.peer + "\n";
    }
    const std::size_t n = static_cast<std::size_t>(r) - off;
    if (n == 0) continue;
    if (c.up.done + n > c.up.total || !checkPattern(c.up.seed, c.up.done, buf + off, n)) {
      c.up_ok = false;
    }
    c.up.done += n;
  }
  if (!c.have_request) return c.up_eof ? ServeState::kBroken : ServeState::kRunning;
  for (;;) {
    if (!c.pending.empty()) {
      const ssize_t w = send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
      if (w < 0)
        return errno == EAGAIN || errno == EINTR ? ServeState::kRunning : ServeState::kBroken;
      c.pending.erase(0, static_cast<std::size_t>(w));
      if (!c.pending.empty()) return ServeState::kRunning;
      if (c.verdict_queued) {
        shutdown(c.fd, SHUT_WR);
        return ServeState::kDone;
      }
      c.sent_head = true;
    }
    if (!sendSome(c.fd, c.down, pacedLimit(c.down.total, c.duration_ms, c.start))) {
      return ServeState::kBroken;
    }
    if (c.down.done < c.down.total || !c.up_eof) return ServeState::kRunning;
    const bool ok = c.up_ok && c.up.done == c.up.total;
    if (!ok) {
      std::fprintf(stderr,
                   "load_client serve: upload from %s to %s corrupt or short (%llu of %llu)\n",
                   c.peer.c_str(), c.local.c_str(), static_cast<unsigned long long>(c.up.done),
                   static_cast<unsigned long long>(c.up.total));
    }
    c.pending = ok ? "K" : "X";
    c.verdict_queued = true;
  }
}

int serve(const std::vector<std::string>& endpoints) {
  constexpr std::uint64_t kListenerTag = 1ULL << 40;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  for (const std::string& text : endpoints) {
    socklen_t len = 0;
    auto ss = parseEndpoint(text, len);
    if (!ss) {
      std::fprintf(stderr, "load_client: bad endpoint %s\n", text.c_str());
      return 2;
    }
    const int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss->ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, reinterpret_cast<sockaddr*>(&*ss), len) != 0 || listen(fd, 4096) != 0) {
      std::fprintf(stderr, "load_client: cannot listen on %s: %s\n", text.c_str(),
                   std::strerror(errno));
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag | static_cast<std::uint64_t>(fd);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::printf("LISTENING\n");
  std::fflush(stdout);
  std::map<int, std::unique_ptr<ServerConn>> conns;
  epoll_event events[256];
  for (;;) {
    bool paced = false;
    for (const auto& [fd, c] : conns) {
      paced |= c->duration_ms != 0 && c->down.done < c->down.total;
    }
    const int n = epoll_wait(ep, events, 256, paced ? 10 : 1000);
    std::vector<int> ready;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 & kListenerTag) {
        const int lfd = static_cast<int>(events[i].data.u64 & 0xffffffff);
        for (;;) {
          sockaddr_storage peer{};
          socklen_t plen = sizeof(peer);
          const int fd =
              accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (fd < 0) break;
          auto c = std::make_unique<ServerConn>();
          c->fd = fd;
          c->peer = formatAddr(peer, false);
          sockaddr_storage local{};
          socklen_t llen = sizeof(local);
          getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
          c->local = formatAddr(local, true);
          conns[fd] = std::move(c);
          ready.push_back(fd);
        }
      } else {
        ready.push_back(static_cast<int>(events[i].data.u64));
      }
    }
    if (paced) {
      for (const auto& [fd, c] : conns) {
        if (c->duration_ms != 0 && c->down.done < c->down.total) ready.push_back(fd);
      }
    }
    for (int fd : ready) {
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      ServerConn& c = *it->second;
      const ServeState state = serviceServerConn(c);
      if (state != ServeState::kRunning) {
        if (c.interest != 0) epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns.erase(it);
        continue;
      }
      // Level-triggered: ask for EPOLLOUT only while a write is blocked, so that a connection
      // waiting for its upload (or for its pace) does not spin.
      const bool blocked_write =
          !c.pending.empty() ||
          (c.have_request && c.down.done < pacedLimit(c.down.total, c.duration_ms, c.start));
      const std::uint32_t want = (c.up_eof ? 0u : static_cast<std::uint32_t>(EPOLLIN)) |
                                 (blocked_write ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
      // A connection with nothing to wait for (up ended, nothing to write but the pace) stays
      // registered for EPOLLIN's error reporting only through the timer.
      setInterest(ep, fd, static_cast<std::uint64_t>(fd), want == 0 ? EPOLLERR : want, c.interest);
    }
  }
}

// ---------------------------------------------------------------------------- client

struct ClientConn {
  int fd = -1;
  Stream up;
  Stream down;
  std::string request;  // not yet sent
  std::string line;     // the server's SRV line
  bool have_line = false;
  bool up_closed = false;
  char verdict = 0;
  bool finished = false;
  std::string error;
  std::uint32_t interest = 0;
};

struct ConnectOptions {
  std::string host;
  std::string port;
  int conns = 1;
  std::uint64_t up = 0;
  std::uint64_t down = 0;
  std::uint64_t duration_ms = 0;
  int timeout_s = 60;
  std::string expect_local;
  std::string expect_peer;
};

// serviceClientConn sends what is due and reads what arrived; returns the error that ended the
// connection, "" when it ended well, nullopt while it runs.
std::optional<std::string> serviceClientConn(ClientConn& c, std::uint64_t limit) {
  if (!c.request.empty()) {
    int err = 0;
    socklen_t elen = sizeof(err);
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return std::string("connect: ") + std::strerror(err);
    const ssize_t w = send(c.fd, c.request.data(), c.request.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == ENOTCONN || errno == EINTR) return std::nullopt;
      return std::string("sending the request: ") + std::strerror(errno);
    }
    c.request.erase(0, static_cast<std::size_t>(w));
    if (!c.request.empty()) return std::nullopt;
  }
  if (!c.up_closed) {
    if (!sendSome(c.fd, c.up, limit)) return std::string("send: ") + std::strerror(errno);
    if (c.up.done == c.up.total) {
      shutdown(c.fd, SHUT_WR);
      c.up_closed = true;
    }
  }
  std::uint8_t buf[kChunk];
  for (;;) {
    const ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) return std::nullopt;
      return std::string("recv: ") + std::strerror(errno);
    }
    if (r == 0) {
      if (!c.have_line) return std::string("closed before the server's line");
      if (c.down.done != c.down.total) {
        return "download short: " + std::to_string(c.down.done) + " of " +
               std::to_string(c.down.total);
      }
      if (c.verdict == 'X') return std::string("the server found the upload corrupt or short");
      if (c.verdict != 'K') return std::string("no verdict from the server");
      if (!c.up_closed) return std::string("closed before the upload was sent");
      return std::string();
    }
    std::size_t off = 0;
    while (!c.have_line && off < static_cast<std::size_t>(r)) {
      const char ch = static_cast<char>(buf[off++]);
      if (ch == '\n') {
        c.have_line = true;
      } else {
        c.line.push_back(ch);
        if (c.line.size() > 300) return std::string("server line too long");
      }
    }
    const std::size_t payload = static_cast<std::size_t>(r) - off;
    const std::size_t data =
        static_cast<std::size_t>(std::min<std::uint64_t>(payload, c.down.total - c.down.done));
    if (!checkPattern(c.down.seed, c.down.done, buf + off, data)) {
      return "download corrupt near byte " + std::to_string(c.down.done);
    }
    c.down.done += data;
    if (payload > data) {
      if (payload - data != 1 || c.verdict != 0) return std::string("bytes after the download");
      c.verdict = static_cast<char>(buf[off + data]);
    }
  }
}

int connectLoad(const ConnectOptions& o) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* ai = nullptr;
  if (getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &ai) != 0 || ai == nullptr) {
    std::fprintf(stderr, "load_client: bad address %s %s\n", o.host.c_str(), o.port.c_str());
    return 2;
  }
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<ClientConn> conns(static_cast<std::size_t>(o.conns));
  const std::uint64_t base_seed =
      (static_cast<std::uint64_t>(getpid()) << 32) ^
      static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  const auto start = Clock::now();
  std::size_t remaining = conns.size();
  auto finish = [&](ClientConn& c, const std::string& error) {
    if (c.finished) return;
    c.finished = true;
    c.error = error;
    if (c.interest != 0) epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    --remaining;
  };
  for (std::size_t i = 0; i < conns.size(); ++i) {
    ClientConn& c = conns[i];
    const std::uint64_t seed = base_seed + i * 0x1000193ULL;
    c.up = {seed, o.up, 0};
    c.down = {downSeed(seed), o.down, 0};
    c.request = "XRL1 " + std::to_string(seed) + " " + std::to_string(o.up) + " " +
                std::to_string(o.down) + " " + std::to_string(o.duration_ms) + "\n";
    c.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (connect(c.fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      finish(c, std::string("connect: ") + std::strerror(errno));
      continue;
    }
    setInterest(ep, c.fd, i, EPOLLIN | EPOLLOUT, c.interest);
  }
  freeaddrinfo(ai);
  epoll_event events[256];
  while (remaining > 0) {
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    if (elapsed > o.timeout_s * 1000LL) {
      for (auto& c : conns) {
        finish(c, "timed out after " + std::to_string(o.timeout_s) + " s");
      }
      break;
    }
    const int n = epoll_wait(ep, events, 256, o.duration_ms ? 10 : 200);
    std::vector<std::size_t> ready;
    for (int i = 0; i < n; ++i) ready.push_back(events[i].data.u64);
    const std::uint64_t limit = pacedLimit(o.up, o.duration_ms, start);
    if (o.duration_ms) {
      // Paced uploads are written on the timer, not only on EPOLLOUT.
      for (std::size_t i = 0; i < conns.size(); ++i) {
        if (!conns[i].finished && !conns[i].up_closed) ready.push_back(i);
      }
    }
    for (std::size_t i : ready) {
      ClientConn& c = conns[i];
      if (c.finished) continue;
      if (auto end = serviceClientConn(c, limit)) {
        finish(c, *end);
        continue;
      }
      // EPOLLOUT only while a write is blocked (level-triggered: otherwise it spins).
      const bool blocked_write = !c.request.empty() || (!c.up_closed && c.up.done < limit);
      setInterest(ep, c.fd, i, EPOLLIN | (blocked_write ? EPOLLOUT : 0u), c.interest);
    }
  }
  int failures = 0;
  std::map<std::string, int> errors;
  std::map<std::string, int> landings;
  for (const auto& c : conns) {
    std::string error = c.error;
    if (error.empty()) {
      // "SRV <local> <peer>"
      char local[128] = "", peer[128] = "";
      if (std::sscanf(c.line.c_str(), "SRV %127s %127s", local, peer) != 2) {
        error = "bad server line '" + c.line + "'";
      } else {
        landings[std::string("local ") + local + " peer " + peer]++;
        if (!o.expect_local.empty() && o.expect_local != local) {
          error = std::string("landed on ") + local + ", expected " + o.expect_local;
        } else if (!o.expect_peer.empty() && o.expect_peer != peer) {
          error = std::string("server saw peer ") + peer + ", expected " + o.expect_peer;
        }
      }
    } else {
      error += " (up " + std::to_string(c.up.done) + "/" + std::to_string(c.up.total) + ", down " +
               std::to_string(c.down.done) + "/" + std::to_string(c.down.total) + ")";
    }
    if (!error.empty()) {
      ++failures;
      errors[error]++;
    }
  }
  if (failures != 0) {
    std::printf("FAILED %d of %d conns:", failures, o.conns);
    int shown = 0;
    for (const auto& [e, count] : errors) {
      if (++shown > 8) break;
      std::printf(" [%dx %s]", count, e.c_str());
    }
    std::printf("\n");
    return 1;
  }
  std::printf("ok %d conns, %llu up + %llu down each:", o.conns,
              static_cast<unsigned long long>(o.up), static_cast<unsigned long long>(o.down));
  for (const auto& [where, count] : landings) std::printf(" %dx %s", count, where.c_str());
  std::printf("\n");
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: load_client serve ADDR:PORT [ADDR:PORT...]\n"
               "       load_client connect HOST PORT CONNS UP DOWN [--duration-ms MS] "
               "[--timeout-s S] [--expect-local ADDR:PORT] [--expect-peer ADDR]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "serve") == 0) {
    return serve(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc >= 7 && std::strcmp(argv[1], "connect") == 0) {
    ConnectOptions o;
    o.host = argv[2];
    o.port = argv[3];
    o.conns = std::atoi(argv[4]);
    o.up = std::strtoull(argv[5], nullptr, 10);
    o.down = std::strtoull(argv[6], nullptr, 10);
    for (int i = 7; i + 1 < argc; i += 2) {
      const std::string flag = argv[i];
      if (flag == "--duration-ms") {
        o.duration_ms = std::strtoull(argv[i + 1], nullptr, 10);
      } else if (flag == "--timeout-s") {
        o.timeout_s = std::atoi(argv[i + 1]);
      } else if (flag == "--expect-local") {
        o.expect_local = argv[i + 1];
      } else if (flag == "--expect-peer") {
        o.expect_peer = argv[i + 1];
      } else {
        return usage();
      }
    }
    if ((argc - 7) % 2 != 0 || o.conns <= 0) return usage();
    return connectLoad(o);
  }
  return usage();
}
