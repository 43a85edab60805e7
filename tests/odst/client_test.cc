// Tests of the C client library (xredir_original_dst) against a real OdstServer with a fake
// source: the answer for each status and errno, both families and IPv4-mapped sockets, several
// threads at once, a server restart, fork, and a server that talks garbage.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "odst/odst_server.h"
#include "odst/odst_test_support.h"
#include "odst/socket_pair.h"

namespace xredir::odst {
namespace {

using namespace testing;

class OdstClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ::setenv(XREDIR_ODST_SOCKET_ENV, dir_.socketPath().c_str(), 1); }
  void startServer(ServerOptions opts = {}) {
    opts.socket_path = dir_.socketPath();
    server_ = std::make_unique<OdstServer>(std::move(opts), source_);
    const Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // ask calls the library; returns 0 or the errno.
  int ask(int fd, sockaddr_storage* out, socklen_t* len) {
    errno = 0;
    return xredir_original_dst(fd, out, len) == 0 ? 0 : errno;
  }

  ScratchDir dir_;
  FakeSource source_;
  std::unique_ptr<OdstServer> server_;
};

TEST_F(OdstClientTest, EachAnswerMapsToItsSockaddrOrErrno) {
  LoopbackConnection translated_conn(AF_INET), untranslated(AF_INET), unknown(AF_INET);
  source_.set({IPPROTO_TCP, translated_conn.peer, translated_conn.local},
              translated("203.0.113.7:443"));
  source_.set({IPPROTO_TCP, untranslated.peer, untranslated.local},
              LookupResult{LookupOutcome::kNotTranslated, {}});
  startServer();

  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(0, ask(translated_conn.accepted, &out, &len));
  ASSERT_EQ(sizeof(sockaddr_in), len);
  EXPECT_EQ(ep("203.0.113.7:443"), endpointOf(out));
  EXPECT_EQ(AF_INET, out.ss_family);

  len = sizeof(out);
  EXPECT_EQ(EADDRNOTAVAIL, ask(untranslated.accepted, &out, &len));
  len = sizeof(out);
  EXPECT_EQ(ENOENT, ask(unknown.accepted, &out, &len));
  len = sizeof(sockaddr_in) - 1;
  EXPECT_EQ(EINVAL, ask(translated_conn.accepted, &out, &len));
  EXPECT_EQ(EINVAL, ask(translated_conn.accepted, &out, nullptr));
  const int unix_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  len = sizeof(out);
  EXPECT_EQ(EAFNOSUPPORT, ask(unix_fd, &out, &len));
  ::close(unix_fd);
  len = sizeof(out);
  EXPECT_EQ(EBADF, ask(999999, &out, &len));
}

TEST_F(OdstClientTest, Ipv6AndIpv4MappedSocketsAskInTheRightFamily) {
  LoopbackConnection v6(AF_INET6), mapped(AF_INET, SOCK_STREAM, /*dual_stack=*/true);
  ASSERT_EQ(Family::kV6, mapped.local.addr.family);  // ::ffff:127.0.0.1 on the accepted socket
  source_.set({IPPROTO_TCP, v6.peer, v6.local}, translated("[2001:db8::7]:8443"));
  source_.set({IPPROTO_TCP, v4View(mapped.peer), v4View(mapped.local)},
              translated("198.51.100.9:80"));
  startServer();

  sockaddr_storage out{};
  socklen_t len = sizeof(sockaddr_in6);
  ASSERT_EQ(0, ask(v6.accepted, &out, &len));
  EXPECT_EQ(sizeof(sockaddr_in6), len);
  EXPECT_EQ(ep("[2001:db8::7]:8443"), endpointOf(out));
  len = sizeof(sockaddr_in6) - 1;
  EXPECT_EQ(EINVAL, ask(v6.accepted, &out, &len));

  len = sizeof(out);
  ASSERT_EQ(0, ask(mapped.accepted, &out, &len));
  EXPECT_EQ(sizeof(sockaddr_in), len);
  EXPECT_EQ(ep("198.51.100.9:80"), endpointOf(out));
}

TEST_F(OdstClientTest, AsksWithTheSocketsProtocol) {
  LoopbackConnection udp(AF_INET, SOCK_DGRAM);
  source_.set({IPPROTO_UDP, udp.peer, udp.local}, translated("192.0.2.53:53"));
  startServer();
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(0, ask(udp.accepted, &out, &len));
  EXPECT_EQ(ep("192.0.2.53:53"), endpointOf(out));
}

TEST_F(OdstClientTest, ManyThreadsGetTheirOwnAnswers) {
  constexpr int kThreads = 16;
  std::vector<std::unique_ptr<LoopbackConnection>> conns;
  for (int t = 0; t < kThreads; ++t) {
    conns.push_back(std::make_unique<LoopbackConnection>(AF_INET));
    source_.set({IPPROTO_TCP, conns[t]->peer, conns[t]->local},
                LookupResult{LookupOutcome::kTranslated,
                             Endpoint{IpAddr::fromV4(0xc0000200u + t), std::uint16_t(1000 + t)}});
  }
  ServerOptions opts;
  opts.threads = 2;
  startServer(opts);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        sockaddr_storage out{};
        socklen_t len = sizeof(out);
        if (xredir_original_dst(conns[t]->accepted, &out, &len) != 0 ||
            endpointOf(out).port != 1000 + t) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(0, wrong.load());
  EXPECT_EQ(kThreads * 2000u, server_->counters().by_status[XREDIR_ODST_OK]);
  // The pool keeps at most 8 connections however many threads ask.
  EXPECT_LE(server_->counters().accepted, 8u);
}

TEST_F(OdstClientTest, NoServerIsConnectionRefusedAndARestartedServerIsFoundAgain) {
  LoopbackConnection conn(AF_INET);
  source_.set({IPPROTO_TCP, conn.peer, conn.local}, translated("203.0.113.7:443"));
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  EXPECT_EQ(ECONNREFUSED, ask(conn.accepted, &out, &len));
  startServer();
  len = sizeof(out);
  ASSERT_EQ(0, ask(conn.accepted, &out, &len));
  server_.reset();  // the library's pooled connection is now dead
  len = sizeof(out);
  EXPECT_EQ(ECONNREFUSED, ask(conn.accepted, &out, &len));
  startServer();
  len = sizeof(out);
  ASSERT_EQ(0, ask(conn.accepted, &out, &len));
  EXPECT_EQ(ep("203.0.113.7:443"), endpointOf(out));
}

TEST_F(OdstClientTest, AServerAtItsCapIsEagain) {
  LoopbackConnection conn(AF_INET);
  ServerOptions opts;
  opts.max_connections = 0;
  startServer(opts);
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  EXPECT_EQ(EAGAIN, ask(conn.accepted, &out, &len));
  EXPECT_GE(server_->counters().refused_busy, 1u);
}

TEST_F(OdstClientTest, AForkedChildAsksOnItsOwnConnection) {
  LoopbackConnection conn(AF_INET);
  source_.set({IPPROTO_TCP, conn.peer, conn.local}, translated("203.0.113.7:443"));
  startServer();
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(0, ask(conn.accepted, &out, &len));
  const std::uint64_t accepted_before = server_->counters().accepted;
  const pid_t child = ::fork();
  if (child == 0) {
    sockaddr_storage o{};
    socklen_t l = sizeof(o);
    const bool ok =
        xredir_original_dst(conn.accepted, &o, &l) == 0 && endpointOf(o) == ep("203.0.113.7:443");
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(child, ::waitpid(child, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_GT(server_->counters().accepted, accepted_before);  // the child connected afresh
  len = sizeof(out);
  EXPECT_EQ(0, ask(conn.accepted, &out, &len));
}

TEST_F(OdstClientTest, AServerSpeakingGarbageIsEproto) {
  // A stand-in server that answers every request with 32 zero bytes (no magic, status 0).
  std::filesystem::create_directories(dir_.path() + "/run");
  const int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, dir_.socketPath().c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(0, ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  ASSERT_EQ(0, ::listen(lfd, 4));
  std::thread garbage([lfd] {
    const int c = ::accept(lfd, nullptr, nullptr);
    if (readExact(c, XREDIR_ODST_REQUEST_SIZE)) {
      sendAll(c, std::vector<std::uint8_t>(XREDIR_ODST_RESPONSE_SIZE, 0));
    }
    ::close(c);
  });
  LoopbackConnection conn(AF_INET);
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  EXPECT_EQ(EPROTO, ask(conn.accepted, &out, &len));
  garbage.join();
  ::close(lfd);
}

}  // namespace
}  // namespace xredir::odst
