// Tests of the LD_PRELOAD shim: an unmodified program (odst_shim_probe) calls
// getsockopt(SO_ORIGINAL_DST) on a loopback connection it inherited, with the shim preloaded and
// a server whose fake source maps that exact connection. The expected bytes are the kernel's
// format built here by hand, and where the kernel itself can answer (pass-through, fallback) the
// kernel's own answer in this process is the oracle.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "odst/odst_server.h"
#include "odst/odst_test_support.h"
#include "odst/socket_pair.h"

namespace xredir::odst {
namespace {

using namespace testing;

constexpr int kOriginalDst = 80;  // SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST

// formatAnswer prints a getsockopt outcome the way odst_shim_probe does.
std::string formatAnswer(int rc, int err, socklen_t optlen, const unsigned char* buf) {
  if (rc != 0) return "err=" + std::to_string(err);
  std::string s = "ok optlen=" + std::to_string(optlen) + " bytes=";
  char hex[3];
  for (int i = 0; i < 32; ++i) {
    std::snprintf(hex, sizeof(hex), "%02x", buf[i]);
    s += hex;
  }
  return s;
}

// kernelAnswer asks the real getsockopt in this process (no shim here).
std::string kernelAnswer(int fd, int level, int optname, socklen_t optlen) {
  unsigned char buf[256];
  std::memset(buf, 0xaa, sizeof(buf));
  const int rc = ::getsockopt(fd, level, optname, buf, &optlen);
  return formatAnswer(rc, errno, optlen, buf);
}

// expectedSockaddr is the answer the kernel writes for an original destination: a sockaddr_in or
// sockaddr_in6 over a buffer of 0xaa, optlen left as passed.
std::string expectedSockaddr(const Endpoint& original, socklen_t optlen) {
  unsigned char buf[256];
  std::memset(buf, 0xaa, sizeof(buf));
  if (original.addr.family == Family::kV4) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(original.port);
    std::memcpy(&sin.sin_addr, original.addr.bytes.data(), 4);
    std::memcpy(buf, &sin, sizeof(sin));
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(original.port);
    std::memcpy(&sin6.sin6_addr, original.addr.bytes.data(), 16);
    std::memcpy(buf, &sin6, sizeof(sin6));
  }
  return formatAnswer(0, 0, optlen, buf);
}

class OdstShimTest : public ::testing::Test {
 protected:
  void startServer() {
    ServerOptions opts;
    opts.socket_path = dir_.socketPath();
    server_ = std::make_unique<OdstServer>(std::move(opts), source_);
    const Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // probe runs odst_shim_probe with the shim preloaded on an inherited copy of fd.
  std::string probe(int fd, int level, int optname, socklen_t optlen, bool fallback = false) {
    int out[2];
    EXPECT_EQ(0, ::pipe2(out, O_CLOEXEC));
    const pid_t child = ::fork();
    if (child == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      const int inherited = ::dup(fd);  // without O_CLOEXEC
      const std::string env_socket = std::string(XREDIR_ODST_SOCKET_ENV) + "=" + dir_.socketPath();
      const std::string env_preload = std::string("LD_PRELOAD=") + XREDIR_ODST_SHIM_PATH;
      const std::string env_fallback =
          std::string("XREDIR_ODST_KERNEL_FALLBACK=") + (fallback ? "1" : "0");
      const std::string args[] = {XREDIR_ODST_PROBE_PATH, std::to_string(inherited),
                                  std::to_string(level), std::to_string(optname),
                                  std::to_string(optlen)};
      char* argv[] = {const_cast<char*>(args[0].c_str()), const_cast<char*>(args[1].c_str()),
                      const_cast<char*>(args[2].c_str()), const_cast<char*>(args[3].c_str()),
                      const_cast<char*>(args[4].c_str()), nullptr};
      // A sanitizer build's options reach the probe too (they allow the shim to be preloaded
      // ahead of the sanitizer runtime).
      const char* asan = ::getenv("ASAN_OPTIONS");
      const std::string env_asan = std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "");
      char* envp[] = {const_cast<char*>(env_socket.c_str()), const_cast<char*>(env_preload.c_str()),
                      const_cast<char*>(env_fallback.c_str()), const_cast<char*>(env_asan.c_str()),
                      nullptr};
      ::execve(argv[0], argv, envp);
      ::_exit(127);
    }
    ::close(out[1]);
    std::string text;
    char buf[512];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof(buf))) > 0)
      text.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  ScratchDir dir_;
  FakeSource source_;
  std::unique_ptr<OdstServer> server_;
};

TEST_F(OdstShimTest, AnswersSoOriginalDstInTheKernelsFormat) {
  LoopbackConnection v4(AF_INET), v6(AF_INET6), mapped(AF_INET, SOCK_STREAM, true);
  source_.set({IPPROTO_TCP, v4.peer, v4.local}, translated("203.0.113.7:443"));
  source_.set({IPPROTO_TCP, v6.peer, v6.local}, translated("[2001:db8::7]:8443"));
  source_.set({IPPROTO_TCP, v4View(mapped.peer), v4View(mapped.local)},
              translated("198.51.100.9:80"));
  startServer();
  struct Case {
    const char* name;
    int fd;
    int level;
    socklen_t optlen;
    const char* original;
  };
  const Case cases[] = {
      {"ipv4, exact length", v4.accepted, SOL_IP, sizeof(sockaddr_in), "203.0.113.7:443"},
      {"ipv4, larger buffer keeps optlen", v4.accepted, SOL_IP, 128, "203.0.113.7:443"},
      {"ipv6", v6.accepted, SOL_IPV6, sizeof(sockaddr_in6), "[2001:db8::7]:8443"},
      {"ipv4-mapped asked with SOL_IP", mapped.accepted, SOL_IP, 64, "198.51.100.9:80"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(expectedSockaddr(ep(c.original), c.optlen),
              probe(c.fd, c.level, kOriginalDst, c.optlen))
        << c.name;
  }
  // The server was asked about exactly those connections, once per probe.
  ASSERT_EQ(4u, source_.asked().size());
  EXPECT_EQ(v4.peer, source_.asked()[0].client);
  EXPECT_EQ(v4.local, source_.asked()[0].proxy);
}

TEST_F(OdstShimTest, NotTranslatedAnswersTheLocalAddressAsTheKernelDoes) {
  LoopbackConnection v4(AF_INET);
  source_.set({IPPROTO_TCP, v4.peer, v4.local}, LookupResult{LookupOutcome::kNotTranslated, {}});
  startServer();
  EXPECT_EQ(expectedSockaddr(v4.local, 16), probe(v4.accepted, SOL_IP, kOriginalDst, 16));
}

TEST_F(OdstShimTest, KernelErrorsForBadCalls) {
  LoopbackConnection v4(AF_INET), v6(AF_INET6), udp(AF_INET, SOCK_DGRAM), v6only(AF_INET6);
  source_.set({IPPROTO_TCP, v4.peer, v4.local}, translated("203.0.113.7:443"));
  source_.set({IPPROTO_UDP, udp.peer, udp.local}, translated("203.0.113.7:53"));
  startServer();
  const std::string enoent = "err=" + std::to_string(ENOENT);
  const std::string einval = "err=" + std::to_string(EINVAL);
  const std::string enoprotoopt = "err=" + std::to_string(ENOPROTOOPT);
  EXPECT_EQ(einval, probe(v4.accepted, SOL_IP, kOriginalDst, sizeof(sockaddr_in) - 1));
  EXPECT_EQ(einval, probe(v6.accepted, SOL_IPV6, kOriginalDst, sizeof(sockaddr_in6) - 1));
  EXPECT_EQ(enoprotoopt, probe(udp.accepted, SOL_IP, kOriginalDst, 16));
  // ENOPROTOOPT is checked before the length, as in the kernel.
  EXPECT_EQ(enoprotoopt, probe(udp.accepted, SOL_IP, kOriginalDst, 4));
  // Not tracked, no fallback: ENOENT; a true IPv6 connection has no IPv4 entry.
  EXPECT_EQ(enoent, probe(v6.accepted, SOL_IPV6, kOriginalDst, 28));
  EXPECT_EQ(enoent, probe(v6only.accepted, SOL_IP, kOriginalDst, 16));
  // The UDP lookup never reached the server.
  for (const Question& q : source_.asked()) EXPECT_NE(IPPROTO_UDP, q.protocol);
}

TEST_F(OdstShimTest, OtherCallsAndNonIpSocketsGoToTheKernelUntouched) {
  LoopbackConnection v4(AF_INET);
  startServer();
  int pair[2];
  ASSERT_EQ(0, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
  struct Case {
    const char* name;
    int fd;
    int level;
    int optname;
    socklen_t optlen;
  };
  const Case cases[] = {
      {"SO_TYPE", v4.accepted, SOL_SOCKET, SO_TYPE, sizeof(int)},
      {"IP_TOS", v4.accepted, SOL_IP, IP_TOS, sizeof(int)},
      {"unix socket with SO_ORIGINAL_DST", pair[0], SOL_IP, kOriginalDst, 16},
      {"SOL_IPV6 on an IPv4 socket", v4.accepted, SOL_IPV6, kOriginalDst, 28},
      {"not a socket", 999, SOL_IP, kOriginalDst, 16},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(kernelAnswer(c.fd, c.level, c.optname, c.optlen),
              probe(c.fd, c.level, c.optname, c.optlen))
        << c.name;
  }
  EXPECT_TRUE(source_.asked().empty());
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST_F(OdstShimTest, KernelFallbackAnswersWhatXredirDoesNotKnow) {
  LoopbackConnection unknown(AF_INET);
  startServer();
  // With the fallback the shim's answer is the kernel's (whatever this host's conntrack says).
  EXPECT_EQ(kernelAnswer(unknown.accepted, SOL_IP, kOriginalDst, 16),
            probe(unknown.accepted, SOL_IP, kOriginalDst, 16, /*fallback=*/true));
  EXPECT_EQ("err=" + std::to_string(ENOENT),
            probe(unknown.accepted, SOL_IP, kOriginalDst, 16, /*fallback=*/false));
  EXPECT_EQ(2u, source_.asked().size());
}

TEST_F(OdstShimTest, NoServerIsEnoentWithoutFallback) {
  LoopbackConnection v4(AF_INET);
  EXPECT_EQ("err=" + std::to_string(ENOENT), probe(v4.accepted, SOL_IP, kOriginalDst, 16));
}

}  // namespace
}  // namespace xredir::odst
