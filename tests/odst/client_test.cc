// Tests of the C client library (xredir_original_dst) against a real OdstServer with a fake
// source: the answer for each status and errno, both families and IPv4-mapped sockets, several
// threads at once, a server restart, fork, and a server that talks garbage. With a shared view:
// the view answers without asking the server, a miss is asked over the socket, a restarted
// server's view replaces the retired one, a corrupt or hostile view is never trusted, and the
// view-only call (xredir_original_dst_from_view) answers without ever asking or fetching.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <cstring>
#include <functional>
#include <random>

#include "odst/client_internal.h"
#include "odst/odst_server.h"
#include "odst/odst_test_support.h"
#include "odst/shared_view.h"
#include "odst/socket_pair.h"

namespace xredir::odst {
namespace {

using namespace testing;

class OdstClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv(XREDIR_ODST_SOCKET_ENV, dir_.socketPath().c_str(), 1);
    xredir_odst_forget_view();  // each test starts as a fresh process would
  }
  void startServer(ServerOptions opts = {}) {
    opts.socket_path = dir_.socketPath();
    server_ = std::make_unique<OdstServer>(std::move(opts), source_);
    const Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // startServerWithView starts the server handing out view_ (made with `slots` slots).
  void startServerWithView(std::uint64_t slots = 256) {
    Status status;
    view_ = SharedView::create(slots, 0x1234, status);
    ASSERT_TRUE(view_) << status.message();
    ServerOptions opts;
    opts.view = ViewDescriptor{view_->readOnlyFd(), view_->offer()};
    startServer(opts);
  }
  // ask calls the library; returns 0 or the errno.
  int ask(int fd, sockaddr_storage* out, socklen_t* len) {
    errno = 0;
    return xredir_original_dst(fd, out, len) == 0 ? 0 : errno;
  }

  ScratchDir dir_;
  FakeSource source_;
  std::unique_ptr<OdstServer> server_;
  std::unique_ptr<SharedView> view_;
};

TEST_F(OdstClientTest, EachAnswerMapsToItsSockaddrOrErrno) {
  LoopbackConnection translated_conn(AF_INET), untranslated(AF_INET), unknown(AF_INET);
  source_.set({IPPROTO_TCP, translated_conn.peer, translated_conn.local},
              translated("203.0.113.7:443"));
  source_.set({IPPROTO_TCP, untranslated.peer, untranslated.local},
              LookupResult{LookupOutcome::kNotTranslated, {}});
  startServer();

  sockaddr_storage out;
  std::memset(&out, 0xab, sizeof(out));  // what the answer leaves of the buffer must be zero
  socklen_t len = sizeof(out);
  ASSERT_EQ(0, ask(translated_conn.accepted, &out, &len));
  ASSERT_EQ(sizeof(sockaddr_in), len);
  EXPECT_EQ(ep("203.0.113.7:443"), endpointOf(out));
  EXPECT_EQ(AF_INET, out.ss_family);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&out);
  for (std::size_t i = sizeof(sockaddr_in); i < sizeof(out); ++i) {
    ASSERT_EQ(0, bytes[i]) << "byte " << i;
  }

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
  // The pool keeps at most 8 connections however many threads ask (besides the one that asked
  // whether the server offers a view).
  EXPECT_EQ(1u, server_->counters().view_requests);
  EXPECT_LE(server_->counters().accepted - server_->counters().view_requests, 8u);
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
  // Every connection (the library's view request, then its question) gets garbage, until the
  // listener is shut down.
  std::thread garbage([lfd] {
    for (int c; (c = ::accept(lfd, nullptr, nullptr)) >= 0;) {
      if (readExact(c, XREDIR_ODST_REQUEST_SIZE)) {
        sendAll(c, std::vector<std::uint8_t>(XREDIR_ODST_RESPONSE_SIZE, 0));
      }
      ::close(c);
    }
  });
  LoopbackConnection conn(AF_INET);
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  EXPECT_EQ(EPROTO, ask(conn.accepted, &out, &len));
  EXPECT_EQ(0, xredir_odst_view_mapped());
  ::shutdown(lfd, SHUT_RDWR);
  garbage.join();
  ::close(lfd);
}

// ---- the shared view ---------------------------------------------------------------------

TEST_F(OdstClientTest, TheViewAnswersWithoutAskingTheServer) {
  LoopbackConnection v4(AF_INET), v6(AF_INET6), mapped(AF_INET, SOCK_STREAM, true);
  startServerWithView();
  // Only the view knows these connections: an answer can only have come from it.
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, v4.peer, v4.local, ep("203.0.113.7:443")));
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, v6.peer, v6.local, ep("[2001:db8::7]:8443")));
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, v4View(mapped.peer), v4View(mapped.local),
                             ep("198.51.100.9:80")));
  struct Case {
    const char* name;
    int fd;
    const char* want;
    socklen_t want_len;
  };
  const Case cases[] = {
      {"ipv4", v4.accepted, "203.0.113.7:443", sizeof(sockaddr_in)},
      {"ipv6", v6.accepted, "[2001:db8::7]:8443", sizeof(sockaddr_in6)},
      {"ipv4-mapped asked as ipv4", mapped.accepted, "198.51.100.9:80", sizeof(sockaddr_in)},
  };
  for (int round = 0; round < 3; ++round) {
    for (const Case& c : cases) {
      sockaddr_storage out{};
      socklen_t len = sizeof(out);
      ASSERT_EQ(0, ask(c.fd, &out, &len)) << c.name;
      EXPECT_EQ(c.want_len, len) << c.name;
      EXPECT_EQ(ep(c.want), endpointOf(out)) << c.name;
    }
  }
  EXPECT_TRUE(source_.asked().empty());
  EXPECT_EQ(0u, server_->counters().queries);
  // Counted by the server just after it sent the descriptor.
  EXPECT_TRUE(eventually([&] { return server_->counters().views_sent == 1; }))
      << "mapped once per process";
  EXPECT_EQ(1, xredir_odst_view_mapped());
  // A buffer too short for the answer is still EINVAL.
  sockaddr_storage out{};
  socklen_t len = sizeof(sockaddr_in) - 1;
  EXPECT_EQ(EINVAL, ask(v4.accepted, &out, &len));

  // A forked child answers from the view it inherited.
  const pid_t child = ::fork();
  if (child == 0) {
    sockaddr_storage o{};
    socklen_t l = sizeof(o);
    const bool ok =
        xredir_original_dst(v4.accepted, &o, &l) == 0 && endpointOf(o) == ep("203.0.113.7:443");
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(child, ::waitpid(child, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(source_.asked().empty());
}

TEST_F(OdstClientTest, WhatTheViewDoesNotHoldIsAskedOverTheSocket) {
  LoopbackConnection unpublished(AF_INET), untranslated(AF_INET), unknown(AF_INET),
      removed(AF_INET);
  source_.set({IPPROTO_TCP, unpublished.peer, unpublished.local}, translated("203.0.113.8:443"));
  source_.set({IPPROTO_TCP, untranslated.peer, untranslated.local},
              LookupResult{LookupOutcome::kNotTranslated, {}});
  source_.set({IPPROTO_TCP, removed.peer, removed.local}, translated("203.0.113.9:443"));
  startServerWithView();
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, removed.peer, removed.local, ep("192.0.2.1:1")));
  view_->unpublish(IPPROTO_TCP, removed.peer, removed.local);

  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(0, ask(unpublished.accepted, &out, &len));
  EXPECT_EQ(ep("203.0.113.8:443"), endpointOf(out));
  len = sizeof(out);
  EXPECT_EQ(EADDRNOTAVAIL, ask(untranslated.accepted, &out, &len));
  len = sizeof(out);
  EXPECT_EQ(ENOENT, ask(unknown.accepted, &out, &len));
  len = sizeof(out);
  ASSERT_EQ(0, ask(removed.accepted, &out, &len));
  EXPECT_EQ(ep("203.0.113.9:443"), endpointOf(out)) << "a removed entry is never answered";
  EXPECT_EQ(4u, source_.asked().size());
  EXPECT_EQ(1, xredir_odst_view_mapped());
}

TEST_F(OdstClientTest, AServerWithoutAViewIsAskedOverTheSocketAndNotPestered) {
  LoopbackConnection conn(AF_INET);
  source_.set({IPPROTO_TCP, conn.peer, conn.local}, translated("203.0.113.7:443"));
  startServer();
  for (int i = 0; i < 20; ++i) {
    sockaddr_storage out{};
    socklen_t len = sizeof(out);
    ASSERT_EQ(0, ask(conn.accepted, &out, &len));
    EXPECT_EQ(ep("203.0.113.7:443"), endpointOf(out));
  }
  EXPECT_EQ(20u, source_.asked().size());
  EXPECT_EQ(1u, server_->counters().view_requests) << "retried only after an interval";
  EXPECT_EQ(0u, server_->counters().views_sent);
  EXPECT_EQ(0, xredir_odst_view_mapped());
}

TEST_F(OdstClientTest, ARestartedServersViewReplacesTheRetiredOne) {
  LoopbackConnection conn(AF_INET);
  startServerWithView();
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, conn.peer, conn.local, ep("203.0.113.1:1")));
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(0, ask(conn.accepted, &out, &len));
  EXPECT_EQ(ep("203.0.113.1:1"), endpointOf(out));

  // xredir goes away: its view retires; the same connection is now unknown to everyone.
  server_.reset();
  view_.reset();
  len = sizeof(out);
  EXPECT_EQ(ECONNREFUSED, ask(conn.accepted, &out, &len)) << "the retired view answered";
  // A new xredir with a new view (and a different answer, as after a new connection).
  startServerWithView();
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, conn.peer, conn.local, ep("203.0.113.2:2")));
  xredir_odst_forget_view();  // the failed fetch above would otherwise wait out its interval
  len = sizeof(out);
  ASSERT_EQ(0, ask(conn.accepted, &out, &len));
  EXPECT_EQ(ep("203.0.113.2:2"), endpointOf(out));
  EXPECT_TRUE(source_.asked().empty());
}

TEST_F(OdstClientTest, AViewRetiredWhileMappedIsReplacedAtOnce) {
  LoopbackConnection conn(AF_INET);
  startServerWithView();
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, conn.peer, conn.local, ep("203.0.113.1:1")));
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  ASSERT_EQ(0, ask(conn.accepted, &out, &len));
  // The view retires while the server (now with another view) stays: the next question notices
  // the retirement and fetches the new view within the same call.
  auto old_view = std::move(view_);
  Status status;
  view_ = SharedView::create(64, 77, status);
  ASSERT_TRUE(view_);
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, conn.peer, conn.local, ep("203.0.113.3:3")));
  server_.reset();
  ServerOptions opts;
  opts.view = ViewDescriptor{view_->readOnlyFd(), view_->offer()};
  startServer(opts);
  old_view.reset();
  len = sizeof(out);
  ASSERT_EQ(0, ask(conn.accepted, &out, &len));
  EXPECT_EQ(ep("203.0.113.3:3"), endpointOf(out));
  EXPECT_TRUE(source_.asked().empty());
}

TEST_F(OdstClientTest, TheAddressApiAsksTheSameQuestionWithoutTheSocket) {
  LoopbackConnection in_view(AF_INET), on_server(AF_INET6), mapped(AF_INET, SOCK_STREAM, true);
  source_.set({IPPROTO_TCP, on_server.peer, on_server.local}, translated("[2001:db8::9]:9"));
  startServerWithView();
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, in_view.peer, in_view.local, ep("203.0.113.7:443")));
  ASSERT_TRUE(view_->publish(IPPROTO_UDP, v4View(mapped.peer), v4View(mapped.local),
                             ep("198.51.100.9:53")));
  auto addrs = [](int fd, sockaddr_storage& local, socklen_t& llen, sockaddr_storage& peer,
                  socklen_t& plen) {
    llen = plen = sizeof(sockaddr_storage);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen);
  };
  sockaddr_storage local{}, peer{}, out{};
  socklen_t llen, plen, len = sizeof(out);
  auto askOf = [&](int protocol, socklen_t l, socklen_t p) {
    len = sizeof(out);
    errno = 0;
    return xredir_original_dst_of(protocol, reinterpret_cast<sockaddr*>(&local), l,
                                  reinterpret_cast<sockaddr*>(&peer), p, &out, &len) == 0
               ? 0
               : errno;
  };
  addrs(in_view.accepted, local, llen, peer, plen);
  ASSERT_EQ(0, askOf(IPPROTO_TCP, llen, plen));
  EXPECT_EQ(ep("203.0.113.7:443"), endpointOf(out));
  EXPECT_EQ(ENOENT, askOf(IPPROTO_UDP, llen, plen)) << "the protocol is part of the question";
  EXPECT_EQ(EINVAL, askOf(IPPROTO_TCP, llen - 1, plen));
  EXPECT_EQ(EINVAL, askOf(IPPROTO_TCP, llen, 1));
  EXPECT_EQ(EINVAL, askOf(256, llen, plen));
  addrs(on_server.accepted, local, llen, peer, plen);
  ASSERT_EQ(0, askOf(IPPROTO_TCP, llen, plen));
  EXPECT_EQ(ep("[2001:db8::9]:9"), endpointOf(out));
  EXPECT_EQ(sizeof(sockaddr_in6), len);
  addrs(mapped.accepted, local, llen, peer, plen);
  ASSERT_EQ(0, askOf(IPPROTO_UDP, llen, plen));
  EXPECT_EQ(ep("198.51.100.9:53"), endpointOf(out));
  // Mixed families and non-IP addresses.
  addrs(in_view.accepted, local, llen, peer, plen);
  sockaddr_storage v4_local = local;
  addrs(on_server.accepted, local, llen, peer, plen);
  local = v4_local;
  EXPECT_EQ(EINVAL, askOf(IPPROTO_TCP, sizeof(sockaddr_in), plen));
  local.ss_family = AF_UNIX;
  EXPECT_EQ(EAFNOSUPPORT, askOf(IPPROTO_TCP, sizeof(sockaddr_storage), plen));
  EXPECT_EQ(EINVAL, xredir_original_dst_of(IPPROTO_TCP, nullptr, 0, nullptr, 0, &out, &len) == 0
                        ? 0
                        : errno);
  EXPECT_EQ(2u, source_.asked().size()) << "the UDP question and the one the view lacks";
}

TEST_F(OdstClientTest, TheViewOnlyCallAnswersFromTheMappedViewAndNeverAsks) {
  LoopbackConnection in_view(AF_INET), on_server(AF_INET);
  source_.set({IPPROTO_TCP, on_server.peer, on_server.local}, translated("203.0.113.9:9"));
  // No xredir yet (a proxy started first): nothing to map. The next refresh must not wait out
  // the retry interval that failed fetch would impose on the other calls.
  EXPECT_EQ(0, xredir_odst_view_refresh());
  startServerWithView();
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, in_view.peer, in_view.local, ep("203.0.113.7:443")));
  sockaddr_storage out{};
  socklen_t len = sizeof(out);
  auto fromView = [&](const LoopbackConnection& c, int protocol = IPPROTO_TCP) {
    sockaddr_storage local{}, peer{};
    socklen_t llen = sizeof(local), plen = sizeof(peer);
    ::getsockname(c.accepted, reinterpret_cast<sockaddr*>(&local), &llen);
    ::getpeername(c.accepted, reinterpret_cast<sockaddr*>(&peer), &plen);
    len = sizeof(out);
    errno = 0;
    return xredir_original_dst_from_view(protocol, reinterpret_cast<sockaddr*>(&local), llen,
                                         reinterpret_cast<sockaddr*>(&peer), plen, &out, &len) == 0
               ? 0
               : errno;
  };
  // Nothing mapped yet: the call does not fetch (that would block), it says "ask".
  EXPECT_EQ(EWOULDBLOCK, fromView(in_view));
  sockaddr_storage asked{};
  socklen_t asked_len = sizeof(asked);
  EXPECT_EQ(0, ask(on_server.accepted, &asked, &asked_len)) << "answered over the socket";
  EXPECT_EQ(0u, server_->counters().view_requests) << "the other calls wait out the interval";
  EXPECT_EQ(0, xredir_odst_view_mapped());

  ASSERT_EQ(1, xredir_odst_view_refresh());
  ASSERT_EQ(0, fromView(in_view));
  EXPECT_EQ(ep("203.0.113.7:443"), endpointOf(out));
  EXPECT_EQ(sizeof(sockaddr_in), len);
  EXPECT_EQ(EWOULDBLOCK, fromView(on_server)) << "only the server knows it";
  EXPECT_EQ(EWOULDBLOCK, fromView(in_view, IPPROTO_UDP)) << "the protocol is part of the key";
  EXPECT_EQ(EINVAL, fromView(in_view, 256));
  EXPECT_EQ(EINVAL,
            xredir_original_dst_from_view(IPPROTO_TCP, nullptr, 0, nullptr, 0, &out, &len) == 0
                ? 0
                : errno);
  EXPECT_EQ(1u, source_.asked().size()) << "only xredir_original_dst above: the view-only call "
                                           "never asks the server";
  EXPECT_EQ(1u, server_->counters().queries);
  EXPECT_EQ(1, xredir_odst_view_refresh()) << "mapped: returns at once";
  EXPECT_TRUE(eventually([&] { return server_->counters().views_sent == 1; }));

  // The view's xredir goes away: the view-only call drops the view and says "ask", without
  // fetching; the next refresh maps the new xredir's view.
  server_.reset();
  view_.reset();
  EXPECT_EQ(EWOULDBLOCK, fromView(in_view));
  EXPECT_EQ(0, xredir_odst_view_mapped());
  startServerWithView();
  ASSERT_TRUE(view_->publish(IPPROTO_TCP, in_view.peer, in_view.local, ep("203.0.113.2:2")));
  EXPECT_EQ(EWOULDBLOCK, fromView(in_view));
  ASSERT_EQ(1, xredir_odst_view_refresh());
  ASSERT_EQ(0, fromView(in_view));
  EXPECT_EQ(ep("203.0.113.2:2"), endpointOf(out));
  EXPECT_EQ(1u, source_.asked().size());
}

TEST_F(OdstClientTest, ManyThreadsReadTheViewWhileItChanges) {
  constexpr int kThreads = 8;
  std::vector<std::unique_ptr<LoopbackConnection>> conns;
  for (int t = 0; t < kThreads; ++t) conns.push_back(std::make_unique<LoopbackConnection>(AF_INET));
  // The socket knows them all (as conntrack would); the view holds them only now and then.
  for (int t = 0; t < kThreads; ++t) {
    source_.set({IPPROTO_TCP, conns[t]->peer, conns[t]->local},
                LookupResult{LookupOutcome::kTranslated,
                             Endpoint{IpAddr::fromV4(0xc0000200u + t), std::uint16_t(1000 + t)}});
  }
  startServerWithView(16);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937 rng(3);
    while (!stop.load()) {
      const int t = static_cast<int>(rng() % kThreads);
      const Endpoint answer{IpAddr::fromV4(0xc0000200u + t), std::uint16_t(1000 + t)};
      if (rng() % 2) {
        view_->publish(IPPROTO_TCP, conns[t]->peer, conns[t]->local, answer);
      } else {
        view_->unpublish(IPPROTO_TCP, conns[t]->peer, conns[t]->local);
      }
    }
  });
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
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
  stop.store(true);
  writer.join();
  EXPECT_EQ(0, wrong.load());
  EXPECT_TRUE(eventually([&] { return server_->counters().views_sent == 1; }));
}

// ---- a corrupt or hostile view ---------------------------------------------------------------

// FakeView is a view file written by the test, not by SharedView: a valid header and one slot
// answering kViewAnswer for one connection, then whatever damage a case does.
constexpr const char* kViewAnswer = "192.0.2.77:7777";
constexpr const char* kSocketAnswer = "203.0.113.7:443";

struct FakeView {
  int fd = -1;
  unsigned char* base = nullptr;
  std::uint64_t bytes = 0;
  xredir_odst_view_slot* key_slot = nullptr;

  FakeView(const LoopbackConnection& conn, std::uint32_t buckets) {
    bytes =
        XREDIR_ODST_VIEW_HEADER_BYTES + std::uint64_t{buckets} * 4 * XREDIR_ODST_VIEW_SLOT_BYTES;
    fd = ::memfd_create("fake-view", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return;
    base = static_cast<unsigned char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    auto* h = reinterpret_cast<xredir_odst_view_header*>(base);
    h->magic = XREDIR_ODST_VIEW_MAGIC;
    h->layout = XREDIR_ODST_VIEW_LAYOUT;
    h->header_bytes = XREDIR_ODST_VIEW_HEADER_BYTES;
    h->slot_bytes = XREDIR_ODST_VIEW_SLOT_BYTES;
    h->bucket_slots = 4;
    h->bucket_count = buckets;
    h->total_bytes = bytes;
    h->hash_seed = 0xabcdef;
    h->owner = 4242;  // a live owner's thread id
    xredir_odst_view_key key{};
    key.family = XREDIR_ODST_FAMILY_V4;
    key.protocol = IPPROTO_TCP;
    key.client_port = conn.peer.port;
    key.proxy_port = conn.local.port;
    std::memcpy(key.client_addr, conn.peer.addr.bytes.data(), 4);
    std::memcpy(key.proxy_addr, conn.local.addr.bytes.data(), 4);
    std::uint32_t b[2];
    xredir_odst_view_buckets(xredir_odst_view_hash(h->hash_seed, &key), buckets, b);
    key_slot = reinterpret_cast<xredir_odst_view_slot*>(base + XREDIR_ODST_VIEW_HEADER_BYTES +
                                                        std::uint64_t{b[1]} * 4 * 64) +
               2;  // the second choice, third slot: found only by a reader that probes both
    key_slot->seq = 2;
    key_slot->family = key.family;
    key_slot->protocol = key.protocol;
    key_slot->client_port = key.client_port;
    key_slot->proxy_port = key.proxy_port;
    std::memcpy(key_slot->client_addr, key.client_addr, 16);
    std::memcpy(key_slot->proxy_addr, key.proxy_addr, 16);
    const Endpoint answer = ep(kViewAnswer);
    std::memcpy(key_slot->original_addr, answer.addr.bytes.data(), 4);
    key_slot->original_port = answer.port;
  }
  ~FakeView() {
    if (base != nullptr) ::munmap(base, bytes);
    if (fd >= 0) ::close(fd);
  }
  xredir_odst_view_header* header() { return reinterpret_cast<xredir_odst_view_header*>(base); }
  void fillSlotsWithGarbage(bool spare_the_key, unsigned seed) {
    std::mt19937 rng(seed);
    for (std::uint64_t off = XREDIR_ODST_VIEW_HEADER_BYTES; off < bytes; ++off) {
      unsigned char* p = base + off;
      const auto* key = reinterpret_cast<unsigned char*>(key_slot);
      if (spare_the_key && p >= key && p < key + XREDIR_ODST_VIEW_SLOT_BYTES) continue;
      *p = static_cast<unsigned char>(rng());
    }
  }
};

TEST_F(OdstClientTest, ACorruptOrHostileViewIsNeverTrusted) {
  struct Case {
    const char* name;
    std::function<void(FakeView&)> damage;
    bool seal = true;
    std::int64_t offered_extra = 0;  // added to the size the server announces
    const char* want = kSocketAnswer;
  };
  const std::vector<Case> cases = {
      {"intact (the control: such a view is trusted)", [](FakeView&) {}, true, 0, kViewAnswer},
      {"garbage in every other slot", [](FakeView& v) { v.fillSlotsWithGarbage(true, 1); }, true, 0,
       kViewAnswer},
      {"garbage in every slot", [](FakeView& v) { v.fillSlotsWithGarbage(false, 2); }},
      {"wrong magic", [](FakeView& v) { v.header()->magic ^= 1; }},
      {"another layout", [](FakeView& v) { v.header()->layout = 2; }},
      {"slot size", [](FakeView& v) { v.header()->slot_bytes = 32; }},
      {"no buckets", [](FakeView& v) { v.header()->bucket_count = 0; }},
      {"more buckets than the file holds", [](FakeView& v) { v.header()->bucket_count *= 2; }},
      {"huge buckets", [](FakeView& v) { v.header()->bucket_slots = 1u << 31; }},
      {"header not a multiple of 64", [](FakeView& v) { v.header()->header_bytes = 130; }},
      {"total past the end of the file", [](FakeView& v) { v.header()->total_bytes += 64; }},
      {"owner dead", [](FakeView& v) { v.header()->owner |= XREDIR_ODST_VIEW_OWNER_DIED; }},
      {"owner gone", [](FakeView& v) { v.header()->owner = 0; }},
      {"the key's slot stuck mid-write", [](FakeView& v) { v.key_slot->seq = 7; }},
      {"not sealed against shrinking", [](FakeView&) {}, false},
      {"announced larger than the file", [](FakeView&) {}, true, 4096},
      {"announced smaller than the header", [](FakeView&) {}, true, -4000},
  };
  for (const Case& c : cases) {
    xredir_odst_forget_view();
    LoopbackConnection conn(AF_INET);
    source_.set({IPPROTO_TCP, conn.peer, conn.local}, translated(kSocketAnswer));
    FakeView fake(conn, 16);
    ASSERT_NE(nullptr, fake.base) << c.name;
    c.damage(fake);
    if (c.seal) {
      ASSERT_EQ(0, ::fcntl(fake.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
    }
    ServerOptions opts;
    opts.view = ViewDescriptor{
        fake.fd, ViewOffer{XREDIR_ODST_VIEW_LAYOUT,
                           static_cast<std::uint64_t>(static_cast<std::int64_t>(fake.bytes) +
                                                      c.offered_extra)}};
    startServer(opts);
    for (int i = 0; i < 2; ++i) {
      sockaddr_storage out{};
      socklen_t len = sizeof(out);
      ASSERT_EQ(0, ask(conn.accepted, &out, &len)) << c.name;
      EXPECT_EQ(ep(c.want), endpointOf(out)) << c.name;
    }
    EXPECT_TRUE(eventually([&] { return server_->counters().views_sent == 1; })) << c.name;
    server_.reset();
  }
}
}  // namespace
}  // namespace xredir::odst
