// Tests of OdstServer over a real Unix socket with a fake source: every status on the wire,
// pipelining, malformed/truncated input, vanishing and slow clients, the connection cap,
// 10,000 concurrent clients, the socket file's lifecycle, and handing out the shared view.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>

#include "odst/odst_server.h"
#include "odst/odst_test_support.h"

#if defined(__SANITIZE_THREAD__)
#define XREDIR_ODST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XREDIR_ODST_TSAN 1
#endif
#endif
#ifndef XREDIR_ODST_TSAN
#define XREDIR_ODST_TSAN 0
#endif

namespace xredir::odst {
namespace {

using namespace testing;

class OdstServerTest : public ::testing::Test {
 protected:
  void startServer(ServerOptions opts = {}) {
    opts.socket_path = dir_.socketPath();
    server_ = std::make_unique<OdstServer>(std::move(opts), source_);
    const Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  int connectClient() {
    const int fd = connectUnix(dir_.socketPath());
    EXPECT_GE(fd, 0);
    return fd;
  }
  // query sends one request on fd and returns the decoded answer.
  std::optional<xredir_odst_response> query(int fd, const char* client, const char* proxy) {
    if (!sendAll(fd, encodeRequest(6, ep(client), ep(proxy)))) return std::nullopt;
    return readResponse(fd);
  }

  ScratchDir dir_;
  FakeSource source_;
  std::unique_ptr<OdstServer> server_;
};

TEST_F(OdstServerTest, AnswersEachLookupStatus) {
  source_.set({6, ep("10.0.0.1:40000"), ep("169.254.77.1:15001")}, translated("203.0.113.7:443"));
  source_.set({6, ep("[2001:db8::1]:40000"), ep("[fd00::1]:15001")},
              translated("[2001:db8::7]:443"));
  source_.set({6, ep("10.0.0.2:40000"), ep("169.254.77.1:15001")},
              LookupResult{LookupOutcome::kNotTranslated, {}});
  startServer();
  struct Case {
    const char* client;
    const char* proxy;
    std::uint8_t status;
    const char* original;
  };
  const Case cases[] = {
      {"10.0.0.1:40000", "169.254.77.1:15001", XREDIR_ODST_OK, "203.0.113.7:443"},
      {"[2001:db8::1]:40000", "[fd00::1]:15001", XREDIR_ODST_OK, "[2001:db8::7]:443"},
      {"10.0.0.2:40000", "169.254.77.1:15001", XREDIR_ODST_NOT_TRANSLATED, nullptr},
      {"10.0.0.3:40000", "169.254.77.1:15001", XREDIR_ODST_NOT_TRACKED, nullptr},
  };
  const int fd = connectClient();
  for (const Case& c : cases) {
    const auto r = query(fd, c.client, c.proxy);
    ASSERT_TRUE(r) << c.client;
    EXPECT_EQ(c.status, r->status) << c.client;
    EXPECT_EQ(XREDIR_ODST_VERSION, r->version);
    if (c.original != nullptr) {
      const Endpoint want = ep(c.original);
      EXPECT_EQ(0, std::memcmp(want.addr.bytes.data(), r->addr, 16));
      EXPECT_EQ(want.port, r->port);
    }
  }
  ::close(fd);
  const CountersSnapshot n = server_->counters();
  EXPECT_EQ(4u, n.queries);
  EXPECT_EQ(2u, n.by_status[XREDIR_ODST_OK]);
  EXPECT_EQ(1u, n.by_status[XREDIR_ODST_NOT_TRACKED]);
  EXPECT_EQ(1u, n.by_status[XREDIR_ODST_NOT_TRANSLATED]);
}

TEST_F(OdstServerTest, PipelinedRequestsBeyondOneBufferAreAnsweredInOrder) {
  constexpr int kRequests = 1000;  // many times kPipelineDepth
  for (int i = 0; i < kRequests; i += 2) {
    source_.set(
        {6, ep("10.0.0.1:1000"), Endpoint{IpAddr::fromV4(0x0a000009), std::uint16_t(i + 1)}},
        LookupResult{LookupOutcome::kTranslated,
                     Endpoint{IpAddr::fromV4(0xcb007100), std::uint16_t(i + 1)}});
  }
  startServer();
  std::vector<std::uint8_t> all;
  for (int i = 0; i < kRequests; ++i) {
    const auto r = encodeRequest(6, ep("10.0.0.1:1000"),
                                 Endpoint{IpAddr::fromV4(0x0a000009), std::uint16_t(i + 1)});
    all.insert(all.end(), r.begin(), r.end());
  }
  const int fd = connectClient();
  std::thread writer([&] { EXPECT_TRUE(sendAll(fd, all)); });
  for (int i = 0; i < kRequests; ++i) {
    const auto r = readResponse(fd);
    ASSERT_TRUE(r) << i;
    if (i % 2 == 0) {
      ASSERT_EQ(XREDIR_ODST_OK, r->status) << i;
      ASSERT_EQ(i + 1, r->port) << i;
    } else {
      ASSERT_EQ(XREDIR_ODST_NOT_TRACKED, r->status) << i;
    }
  }
  writer.join();
  ::close(fd);
}

TEST_F(OdstServerTest, MalformedAndUnsupportedRequestsAreAnsweredThenClosed) {
  startServer();
  struct Case {
    const char* name;
    std::size_t offset;
    std::uint8_t value;
    std::uint8_t want;
  };
  const Case cases[] = {
      {"bad magic", 0, 0, XREDIR_ODST_MALFORMED},
      {"bad family", 5, 3, XREDIR_ODST_MALFORMED},
      {"reserved byte", 46, 9, XREDIR_ODST_MALFORMED},
      {"a version 2 lookup (version 2 has map-view only)", 4, 2, XREDIR_ODST_MALFORMED},
      {"version 3", 4, 3, XREDIR_ODST_UNSUPPORTED_VERSION}};
  for (const Case& c : cases) {
    const int fd = connectClient();
    auto req = encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"));
    req[c.offset] = c.value;
    ASSERT_TRUE(sendAll(fd, req));
    const auto r = readResponse(fd);
    ASSERT_TRUE(r) << c.name;
    EXPECT_EQ(c.want, r->status) << c.name;
    EXPECT_TRUE(readsEof(fd)) << c.name;
    ::close(fd);
  }
  const int fd = connectClient();
  const auto r = query(fd, "10.0.0.1:1", "10.0.0.2:2");
  ASSERT_TRUE(r);
  EXPECT_EQ(XREDIR_ODST_NOT_TRACKED, r->status);
  ::close(fd);
  EXPECT_EQ(4u, server_->counters().by_status[XREDIR_ODST_MALFORMED]);
  EXPECT_EQ(1u, server_->counters().by_status[XREDIR_ODST_UNSUPPORTED_VERSION]);
}

TEST_F(OdstServerTest, ClientsVanishingMidRequestReleaseTheirConnections) {
  startServer();
  for (int i = 0; i < 200; ++i) {
    const int fd = connectClient();
    auto req = encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"));
    req.resize(1 + i % (XREDIR_ODST_REQUEST_SIZE - 1));  // 1..47 bytes of a request
    ASSERT_TRUE(sendAll(fd, req));
    ::close(fd);
  }
  // Every one was admitted, and every one was released once its EOF was read.
  EXPECT_TRUE(eventually([&] {
    const CountersSnapshot n = server_->counters();
    return n.accepted == 200 && n.open == 0;
  })) << server_->counters().accepted
      << " accepted, " << server_->counters().open << " open";
  EXPECT_EQ(0u, server_->counters().queries);
  const int fd = connectClient();
  EXPECT_TRUE(query(fd, "10.0.0.1:1", "10.0.0.2:2"));
  ::close(fd);
}

TEST_F(OdstServerTest, AHalfSentRequestIsCompletedByTheRestOfItsBytes) {
  source_.set({6, ep("10.0.0.1:1"), ep("10.0.0.2:2")}, translated("192.0.2.1:80"));
  startServer();
  const int fd = connectClient();
  const auto req = encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"));
  for (std::uint8_t byte : req) ASSERT_TRUE(sendAll(fd, {byte}));
  const auto r = readResponse(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(XREDIR_ODST_OK, r->status);
  EXPECT_EQ(80, r->port);
  ::close(fd);
}

TEST_F(OdstServerTest, AClientThatDoesNotReadBlocksNobodyElse) {
  startServer();
  // The slow client writes far more requests than the socket buffers hold and reads nothing, so
  // the server's answers back up until it stops reading that client.
  const int slow = connectClient();
  int small = 4096;
  ::setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  std::vector<std::uint8_t> burst;
  for (int i = 0; i < 20000; ++i) {
    const auto r = encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"));
    burst.insert(burst.end(), r.begin(), r.end());
  }
  ::fcntl(slow, F_SETFL, O_NONBLOCK);
  std::size_t sent = 0;
  while (sent < burst.size()) {
    const ssize_t n = ::send(slow, burst.data() + sent, burst.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ASSERT_LT(sent, burst.size()) << "the server should have stopped reading the slow client";
  for (int i = 0; i < 20; ++i) {
    const int fd = connectClient();
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = query(fd, "10.0.0.5:1", "10.0.0.2:2");
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(XREDIR_ODST_NOT_TRACKED, r->status);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    ::close(fd);
  }
  // Whatever the slow client managed to send is still answered, in full, once it reads.
  ::fcntl(slow, F_SETFL, 0);
  const std::size_t whole = sent / XREDIR_ODST_REQUEST_SIZE;
  for (std::size_t i = 0; i < whole; ++i) ASSERT_TRUE(readResponse(slow)) << i;
  ::close(slow);
}

TEST_F(OdstServerTest, TheConnectionCapRefusesWithBusyAndRecovers) {
  ServerOptions opts;
  opts.max_connections = 3;
  startServer(opts);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    fds.push_back(connectClient());
    ASSERT_TRUE(query(fds.back(), "10.0.0.1:1", "10.0.0.2:2"));
  }
  const int extra = connectClient();
  const auto refused = readResponse(extra);
  ASSERT_TRUE(refused);
  EXPECT_EQ(XREDIR_ODST_BUSY, refused->status);
  EXPECT_TRUE(readsEof(extra));
  ::close(extra);
  EXPECT_EQ(1u, server_->counters().refused_busy);
  ::close(fds.back());
  fds.pop_back();
  ASSERT_TRUE(eventually([&] { return server_->counters().open == 2; }));
  fds.push_back(connectClient());
  const auto r = query(fds.back(), "10.0.0.1:1", "10.0.0.2:2");
  ASSERT_TRUE(r);
  EXPECT_EQ(XREDIR_ODST_NOT_TRACKED, r->status);
  for (int fd : fds) ::close(fd);
}

long residentKiB() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
  }
  return -1;
}

TEST_F(OdstServerTest, TenThousandConcurrentClientsAreServedWithBoundedMemory) {
  constexpr int kClients = 10000;
  // The clients live in a child process, so each process needs one descriptor per client
  // (raising the hard limit needs CAP_SYS_RESOURCE, which containers often lack).
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  const rlim_t need = kClients + 256;
  if (lim.rlim_cur < need) {
    rlimit raised{need, std::max<rlim_t>(lim.rlim_max, need)};
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      GTEST_SKIP() << "cannot raise RLIMIT_NOFILE to " << need << ": " << std::strerror(errno);
    }
  }
  source_.set({6, ep("10.0.0.1:1"), ep("10.0.0.2:2")}, translated("192.0.2.1:80"));
  startServer();
  const long rss_before = residentKiB();
  int ready[2], release[2];
  ASSERT_EQ(0, ::pipe(ready));
  ASSERT_EQ(0, ::pipe(release));
  const pid_t child = ::fork();
  if (child == 0) {
    // Child: connect all, one request each, read every answer, report, hold until released.
    std::vector<int> fds;
    const auto req = encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"));
    char verdict = 'y';
    for (int i = 0; i < kClients && verdict == 'y'; ++i) {
      const int fd = connectUnix(dir_.socketPath());
      if (fd < 0 || !sendAll(fd, req)) verdict = 'c';
      fds.push_back(fd);
    }
    for (std::size_t i = 0; i < fds.size() && verdict == 'y'; ++i) {
      const auto r = readResponse(fds[i]);
      if (!r || r->status != XREDIR_ODST_OK) verdict = 'r';
    }
    [[maybe_unused]] ssize_t w = ::write(ready[1], &verdict, 1);
    char c;
    [[maybe_unused]] ssize_t r = ::read(release[0], &c, 1);
    ::_exit(0);
  }
  char verdict = 0;
  ASSERT_EQ(1, ::read(ready[0], &verdict, 1));
  EXPECT_EQ('y', verdict) << "c: connect/send failed, r: an answer was missing or wrong";
  EXPECT_EQ(static_cast<std::uint64_t>(kClients), server_->counters().open);
  // A newcomer is still answered while all of them stay connected.
  const int late = connectClient();
  const auto answer = query(late, "10.0.0.1:1", "10.0.0.2:2");
  ASSERT_TRUE(answer);
  EXPECT_EQ(XREDIR_ODST_OK, answer->status);
  ::close(late);
  const long grown_kib = residentKiB() - rss_before;
  // Fixed buffers (~1.3 KiB) plus Asio's per-socket state: well under 8 KiB a connection.
  // ThreadSanitizer's shadow memory multiplies every allocation, so the bound means nothing there.
#if !XREDIR_ODST_TSAN
  EXPECT_LT(grown_kib, kClients * 8L) << "RSS grew by " << grown_kib << " KiB";
#endif
  std::printf("server RSS growth with %d clients: %ld KiB\n", kClients, grown_kib);
  [[maybe_unused]] ssize_t w = ::write(release[1], "x", 1);
  ::waitpid(child, nullptr, 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  EXPECT_TRUE(eventually([&] { return server_->counters().open == 0; }));
}

TEST_F(OdstServerTest, SocketIsMode0660AndRemovedOnStop) {
  startServer();
  struct stat st {};
  ASSERT_EQ(0, ::stat(dir_.socketPath().c_str(), &st));
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(0660u, st.st_mode & 07777);
  server_->stop();
  EXPECT_NE(0, ::stat(dir_.socketPath().c_str(), &st));
  EXPECT_EQ(ENOENT, errno);
}

TEST_F(OdstServerTest, StartRefusesALiveServerAndReplacesAStaleSocket) {
  startServer();
  FakeSource other;
  ServerOptions opts;
  opts.socket_path = dir_.socketPath();
  OdstServer second(opts, other);
  const Status live = second.start();
  EXPECT_FALSE(live.ok());
  EXPECT_EQ(EADDRINUSE, live.code().value()) << live.message();

  // A socket file nobody listens on is what a crashed server leaves behind.
  server_.reset();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, dir_.socketPath().c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(0, ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  ::close(fd);
  OdstServer third(opts, other);
  const Status replaced = third.start();
  ASSERT_TRUE(replaced.ok()) << replaced.message();
  const int c = connectUnix(dir_.socketPath());
  EXPECT_TRUE(sendAll(c, encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"))));
  EXPECT_TRUE(readResponse(c));
  ::close(c);
}

TEST_F(OdstServerTest, StartRefusesAPathThatIsNotASocket) {
  std::filesystem::create_directories(dir_.path() + "/run");
  std::ofstream(dir_.socketPath()) << "not a socket";
  ServerOptions opts;
  opts.socket_path = dir_.socketPath();
  OdstServer server(opts, source_);
  const Status s = server.start();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(EEXIST, s.code().value()) << s.message();
}

TEST_F(OdstServerTest, ServesFromSeveralIoThreads) {
  source_.set({6, ep("10.0.0.1:1"), ep("10.0.0.2:2")}, translated("192.0.2.1:80"));
  ServerOptions opts;
  opts.threads = 4;
  startServer(opts);
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      const int fd = connectUnix(dir_.socketPath());
      for (int i = 0; i < 500; ++i) {
        const auto r = query(fd, "10.0.0.1:1", "10.0.0.2:2");
        ASSERT_TRUE(r);
        ASSERT_EQ(80, r->port);
      }
      ::close(fd);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(4000u, server_->counters().by_status[XREDIR_ODST_OK]);
}

// receiveWithFd reads one response and the descriptor that came with it (-1 if none).
std::optional<std::vector<std::uint8_t>> receiveWithFd(int sock, int& fd) {
  std::vector<std::uint8_t> buf(XREDIR_ODST_RESPONSE_SIZE);
  union {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * 4)];
  } control{};
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);
  fd = -1;
  if (::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != static_cast<ssize_t>(buf.size())) {
    return std::nullopt;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
  }
  return buf;
}

TEST_F(OdstServerTest, AMapViewRequestGetsTheDescriptorAfterTheLookupsBeforeIt) {
  source_.set({6, ep("10.0.0.1:1"), ep("10.0.0.2:2")}, translated("203.0.113.7:443"));
  // The server hands out whatever descriptor it is given: here a plain memfd.
  const int memfd = ::memfd_create("view", MFD_CLOEXEC);
  ASSERT_EQ(0, ::ftruncate(memfd, 4224));
  ServerOptions opts;
  opts.view = ViewDescriptor{memfd, ViewOffer{1, 4224}};
  startServer(opts);
  const int fd = connectClient();
  // Two lookups and the map-view request in one write: the lookups are answered first.
  std::vector<std::uint8_t> req = encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"));
  const auto second = encodeRequest(6, ep("10.0.0.9:9"), ep("10.0.0.2:2"));
  req.insert(req.end(), second.begin(), second.end());
  std::vector<std::uint8_t> view_req(XREDIR_ODST_REQUEST_SIZE);
  xredir_odst_encode_view_request(view_req.data());
  req.insert(req.end(), view_req.begin(), view_req.end());
  ASSERT_TRUE(sendAll(fd, req));
  auto r = readResponse(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(XREDIR_ODST_OK, r->status);
  r = readResponse(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(XREDIR_ODST_NOT_TRACKED, r->status);
  int view_fd = -1;
  const auto answer = receiveWithFd(fd, view_fd);
  ASSERT_TRUE(answer);
  xredir_odst_view_response v{};
  ASSERT_EQ(0, xredir_odst_decode_view_response(answer->data(), &v));
  EXPECT_EQ(XREDIR_ODST_OK, v.status);
  EXPECT_EQ(4224U, v.bytes);
  ASSERT_GE(view_fd, 0) << "the descriptor travels with the answer";
  struct stat st {};
  ASSERT_EQ(0, ::fstat(view_fd, &st));
  EXPECT_EQ(4224, st.st_size);
  ::close(view_fd);
  EXPECT_TRUE(readsEof(fd)) << "the connection ends after the map-view answer";
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return server_->counters().views_sent == 1; }));
  EXPECT_EQ(1u, server_->counters().view_requests);
  EXPECT_EQ(2u, server_->counters().queries);
  ::close(memfd);
}

TEST_F(OdstServerTest, WithoutAViewTheMapViewAnswerCarriesNoDescriptor) {
  startServer();
  const int fd = connectClient();
  std::vector<std::uint8_t> view_req(XREDIR_ODST_REQUEST_SIZE);
  xredir_odst_encode_view_request(view_req.data());
  ASSERT_TRUE(sendAll(fd, view_req));
  int view_fd = -1;
  const auto answer = receiveWithFd(fd, view_fd);
  ASSERT_TRUE(answer);
  EXPECT_EQ(-1, view_fd);
  xredir_odst_view_response v{};
  ASSERT_EQ(0, xredir_odst_decode_view_response(answer->data(), &v));
  EXPECT_EQ(XREDIR_ODST_OK, v.status);
  EXPECT_EQ(0U, v.bytes);
  EXPECT_TRUE(readsEof(fd));
  ::close(fd);
  EXPECT_EQ(0u, server_->counters().views_sent);
}

}  // namespace
}  // namespace xredir::odst
