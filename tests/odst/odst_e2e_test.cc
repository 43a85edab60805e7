// Root-only tests of the original-destination API (suite `e2e`; exit 77 = skipped when not
// root): the access policy against real peer credentials (children that setuid), also for the
// shared view (only allowed peers get it, and they can only read it), and the shim against the
// kernel itself: in a network namespace made by the test, iptables REDIRECTs a
// loopback connection, and the shim's answer (from xredir, told the same translation) must be
// byte for byte the kernel's getsockopt(SO_ORIGINAL_DST).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <fstream>

#include "odst/client_internal.h"
#include "odst/odst_server.h"
#include "odst/shared_view.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XREDIR_ODST_ASAN 1
#endif
#endif
#include "odst/odst_test_support.h"
#include "odst/socket_pair.h"

namespace xredir::odst {
namespace {

using namespace testing;

constexpr gid_t kSocketGroup = 4242;
constexpr uid_t kAllowedUid = 1234;
constexpr uid_t kOtherUid = 4321;

// runAs forks a child with the given uid and primary gid (no supplementary groups) running fn;
// returns fn's result (the child's exit code), or -1 if the child died otherwise.
template <typename Fn>
int runAs(uid_t uid, gid_t gid, Fn fn) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(100);
    ::_exit(fn());
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(OdstAccess, DisallowedUidsAreAnsweredPermissionDeniedAndCounted) {
  ScratchDir dir;
  FakeSource source;
  source.set({6, ep("10.0.0.1:1"), ep("10.0.0.2:2")}, translated("192.0.2.1:80"));
  ServerOptions opts;
  opts.socket_path = dir.socketPath();
  opts.socket_group = kSocketGroup;
  opts.access = AccessPolicy({kAllowedUid}, {});
  OdstServer server(opts, source);
  ASSERT_TRUE(server.start().ok());
  struct stat st {};
  ASSERT_EQ(0, ::stat(dir.socketPath().c_str(), &st));
  EXPECT_EQ(kSocketGroup, st.st_gid);

  // The raw protocol: the answer's status is the child's exit code.
  auto rawQuery = [&] {
    const int fd = connectUnix(dir.socketPath());
    if (fd < 0) return 101;
    sendAll(fd, encodeRequest(6, ep("10.0.0.1:1"), ep("10.0.0.2:2")));
    const auto r = readResponse(fd);
    // A refusal is followed by the server closing; an answered query leaves the connection open.
    const bool closed = r && r->status != XREDIR_ODST_OK ? readsEof(fd) : false;
    ::close(fd);
    if (!r) return 102;
    if (r->status != XREDIR_ODST_OK && !closed) return 103;
    return static_cast<int>(r->status);
  };
  EXPECT_EQ(XREDIR_ODST_PERMISSION_DENIED, runAs(kOtherUid, kSocketGroup, rawQuery));
  EXPECT_EQ(XREDIR_ODST_OK, runAs(kAllowedUid, kSocketGroup, rawQuery));
  EXPECT_EQ(XREDIR_ODST_OK, rawQuery());  // root is always allowed

  // The C library maps the refusal to EACCES.
  ::setenv(XREDIR_ODST_SOCKET_ENV, dir.socketPath().c_str(), 1);
  LoopbackConnection conn(AF_INET);
  const int err = runAs(kOtherUid, kSocketGroup, [&] {
    sockaddr_storage out{};
    socklen_t len = sizeof(out);
    return xredir_original_dst(conn.accepted, &out, &len) == 0 ? 0 : errno;
  });
  EXPECT_EQ(EACCES, err);
  // Without the socket's group, the file mode 0660 keeps the process out before SO_PEERCRED.
  EXPECT_EQ(101, runAs(kAllowedUid, 4343, rawQuery));

  // The raw query, and the library's two connections: its request for the shared view, then
  // its question.
  EXPECT_EQ(3u, server.counters().refused_permission);
}

// askForView sends the map-view request on a fresh connection and returns the answer's status
// (or 100 + a reason) with the descriptor that came with it in *fd (-1 when none).
int askForView(const std::string& socket_path, int* fd) {
  *fd = -1;
  const int sock = connectUnix(socket_path);
  if (sock < 0) return 101;
  std::vector<std::uint8_t> req(XREDIR_ODST_REQUEST_SIZE);
  xredir_odst_encode_view_request(req.data());
  // A refused peer may be closed before its request is sent; its answer is queued all the same.
  sendAll(sock, req);
  std::uint8_t buf[XREDIR_ODST_RESPONSE_SIZE];
  union {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int))];
  } control{};
  iovec iov{buf, sizeof(buf)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);
  const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  ::close(sock);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n > 0 && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::memcpy(fd, CMSG_DATA(c), sizeof(int));
    }
  }
  xredir_odst_view_response resp{};
  if (n != static_cast<ssize_t>(sizeof(buf)) || xredir_odst_decode_view_response(buf, &resp) != 0) {
    return 102;
  }
  return resp.status;
}

TEST(OdstAccess, OnlyAllowedPeersGetTheViewAndTheyCanOnlyReadIt) {
  ScratchDir dir;
  FakeSource source;  // knows nothing: an answer can only come from the view
  Status status;
  auto view = SharedView::create(64, 3, status);
  ASSERT_TRUE(view) << status.message();
  LoopbackConnection conn(AF_INET);
  ASSERT_TRUE(view->publish(IPPROTO_TCP, conn.peer, conn.local, ep("203.0.113.7:443")));
  ServerOptions opts;
  opts.socket_path = dir.socketPath();
  opts.socket_group = kSocketGroup;
  opts.access = AccessPolicy({kAllowedUid}, {});
  opts.view = ViewDescriptor{view->readOnlyFd(), view->offer()};
  OdstServer server(opts, source);
  ASSERT_TRUE(server.start().ok());
  ::setenv(XREDIR_ODST_SOCKET_ENV, dir.socketPath().c_str(), 1);
  const std::uint64_t bytes = view->bytes();

  // A refused uid: PERMISSION_DENIED and no descriptor (exit 1 if one came).
  EXPECT_EQ(XREDIR_ODST_PERMISSION_DENIED, runAs(kOtherUid, kSocketGroup, [&] {
              int fd = -1;
              const int st = askForView(dir.socketPath(), &fd);
              return fd >= 0 ? 1 : st;
            }));
  // ... and its library calls are refused as before, view or not.
  EXPECT_EQ(EACCES, runAs(kOtherUid, kSocketGroup, [&] {
              sockaddr_storage out{};
              socklen_t len = sizeof(out);
              return xredir_original_dst(conn.accepted, &out, &len) == 0 ? 0 : errno;
            }));

  // An allowed uid gets a descriptor that reads the view and cannot change it in any way; the
  // exit code names the first thing that went wrong.
  EXPECT_EQ(0, runAs(kAllowedUid, kSocketGroup, [&] {
              int fd = -1;
              if (askForView(dir.socketPath(), &fd) != XREDIR_ODST_OK || fd < 0) return 10;
              if ((::fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY) return 11;
              if (::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) != MAP_FAILED) {
                return 12;
              }
              if (::write(fd, "x", 1) >= 0 || ::ftruncate(fd, 0) == 0) return 13;
              // Reopening the file through /proc does not help either: the seals hold.
              const int rw = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDWR);
              if (rw >= 0) {
                if (::pwrite(rw, "x", 1, 100) >= 0 || ::ftruncate(rw, 0) == 0) return 14;
                if (::mmap(nullptr, bytes, PROT_WRITE, MAP_SHARED, rw, 0) != MAP_FAILED) return 15;
              }
              void* ro = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
              if (ro == MAP_FAILED) return 16;
              if (::mprotect(ro, bytes, PROT_READ | PROT_WRITE) == 0) return 17;
              // The library maps the view itself and answers from it.
              sockaddr_storage out{};
              socklen_t len = sizeof(out);
              if (xredir_original_dst(conn.accepted, &out, &len) != 0) return 18;
              if (endpointOf(out) != ep("203.0.113.7:443")) return 19;
              return xredir_odst_view_mapped() ? 0 : 20;
            }));
  EXPECT_TRUE(source.asked().empty());
  EXPECT_EQ(0u, server.counters().queries);
  EXPECT_TRUE(eventually([&] { return server.counters().views_sent == 2; }));
  // The refused raw request, and the refused library call's view request and question.
  EXPECT_EQ(3u, server.counters().refused_permission);
}

// inNamespace runs fn in a forked child inside a new network namespace (gone when it exits) and
// returns what fn wrote to its pipe.
template <typename Fn>
std::string inNamespace(Fn fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(p[0]);
    std::string out = ::unshare(CLONE_NEWNET) == 0 ? fn() : "unshare failed";
    [[maybe_unused]] ssize_t n = ::write(p[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string text;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  ::waitpid(child, nullptr, 0);
  return text;
}

std::string runProbe(const std::string& socket_path, int fd, int level, socklen_t optlen) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    const int inherited = ::dup(fd);
    const std::string env[] = {std::string(XREDIR_ODST_SOCKET_ENV) + "=" + socket_path,
                               std::string("LD_PRELOAD=") + XREDIR_ODST_SHIM_PATH,
                               "XREDIR_ODST_KERNEL_FALLBACK=0",
                               // A sanitizer build preloads an instrumented shim into an
                               // instrumented probe; the runtime need not come first then.
                               "ASAN_OPTIONS=verify_asan_link_order=0"};
    const std::string args[] = {XREDIR_ODST_PROBE_PATH, std::to_string(inherited),
                                std::to_string(level), "80", std::to_string(optlen)};
    char* argv[] = {const_cast<char*>(args[0].c_str()), const_cast<char*>(args[1].c_str()),
                    const_cast<char*>(args[2].c_str()), const_cast<char*>(args[3].c_str()),
                    const_cast<char*>(args[4].c_str()), nullptr};
    char* envp[] = {const_cast<char*>(env[0].c_str()), const_cast<char*>(env[1].c_str()),
                    const_cast<char*>(env[2].c_str()), const_cast<char*>(env[3].c_str()), nullptr};
    ::execve(argv[0], argv, envp);
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  ::waitpid(child, nullptr, 0);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string kernelAnswer(int fd, int level, socklen_t optlen) {
  unsigned char buf[256];
  std::memset(buf, 0xaa, sizeof(buf));
  if (::getsockopt(fd, level, 80, buf, &optlen) != 0) return "err=" + std::to_string(errno);
  std::string s = "ok optlen=" + std::to_string(optlen) + " bytes=";
  char hex[3];
  for (int i = 0; i < 32; ++i) {
    std::snprintf(hex, sizeof(hex), "%02x", buf[i]);
    s += hex;
  }
  return s;
}

TEST(OdstShimVsKernel, SameBytesAsTheKernelForAnIptablesRedirect) {
  const std::string result = inNamespace([]() -> std::string {
    if (std::system("ip link set lo up") != 0) return "ip link failed";
    LoopbackConnection probe_port(AF_INET);  // only to learn a free port for the listener
    const std::uint16_t port = probe_port.local.port;
    const std::string rule =
        "iptables -w -t nat -A OUTPUT -p tcp -d 127.0.0.2 --dport 9 "
        "-j REDIRECT --to-ports " +
        std::to_string(port) + " 2>&1";
    if (std::system(rule.c_str()) != 0) return "iptables failed";
    // Connect to 127.0.0.2:9; the kernel redirects it to the listener on `port`.
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(0x7f000002);
    if (::connect(c, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) return "connect failed";
    const int a = ::accept4(probe_port.listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (a < 0) return "accept failed";
    const std::string kernel16 = kernelAnswer(a, SOL_IP, 16);
    const std::string kernel64 = kernelAnswer(a, SOL_IP, 64);
    const std::string kernel_short = kernelAnswer(a, SOL_IP, 15);

    // xredir is told the same translation the kernel made.
    sockaddr_storage ss{};
    socklen_t sl = sizeof(ss);
    ::getsockname(a, reinterpret_cast<sockaddr*>(&ss), &sl);
    const Endpoint local = endpointOf(ss);
    sl = sizeof(ss);
    ::getpeername(a, reinterpret_cast<sockaddr*>(&ss), &sl);
    const Endpoint peer = endpointOf(ss);
    ScratchDir dir;
    FakeSource source;
    source.set({IPPROTO_TCP, peer, local}, translated("127.0.0.2:9"));
    ServerOptions opts;
    opts.socket_path = dir.socketPath();
    OdstServer server(opts, source);
    if (!server.start().ok()) return "server failed";
    const std::string shim16 = runProbe(dir.socketPath(), a, SOL_IP, 16);
    const std::string shim64 = runProbe(dir.socketPath(), a, SOL_IP, 64);
    const std::string shim_short = runProbe(dir.socketPath(), a, SOL_IP, 15);
    ::close(a);
    ::close(c);
    return kernel16 + "\n" + shim16 + "\n" + kernel64 + "\n" + shim64 + "\n" + kernel_short + "\n" +
           shim_short;
  });
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = result.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(result.substr(start, nl - start));
  }
  lines.push_back(result.substr(start));
  ASSERT_EQ(6u, lines.size()) << result;
  EXPECT_EQ(0u, lines[0].rfind("ok ", 0)) << "the kernel itself did not answer: " << lines[0];
  EXPECT_EQ(lines[0], lines[1]) << "kernel vs shim, optlen 16";
  EXPECT_EQ(lines[2], lines[3]) << "kernel vs shim, optlen 64";
  EXPECT_EQ(lines[4], lines[5]) << "kernel vs shim, optlen 15";
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// An unmodified HAProxy from Debian's package, configured as iptables users configure it
// (`server s 0.0.0.0:0`: connect to the connection's original destination, which HAProxy reads
// with getsockopt(SOL_IP, SO_ORIGINAL_DST)), preloaded with the shim. The destination it must
// reach, a backend on another port, is known only to xredir's (fake) source: the client connects
// to HAProxy's own port, so the kernel's answer would be HAProxy itself.
TEST(OdstUnmodifiedProxy, HaproxyRelaysToTheOriginalDestinationXredirAnswers) {
  if (::access("/usr/sbin/haproxy", X_OK) != 0) GTEST_SKIP() << "haproxy is not installed";
#if defined(__SANITIZE_ADDRESS__) || defined(XREDIR_ODST_ASAN)
  GTEST_SKIP() << "an ASan-instrumented shim cannot be preloaded into Debian's HAProxy";
#endif
  ScratchDir dir;
  FakeSource source;
  ServerOptions opts;
  opts.socket_path = dir.socketPath();
  OdstServer server(opts, source);
  ASSERT_TRUE(server.start().ok());

  // The backend: accepts one connection and writes a banner.
  LoopbackConnection backend_port(AF_INET);
  const int backend = backend_port.listener;
  std::thread banner([backend] {
    const int c = ::accept(backend, nullptr, nullptr);
    if (c < 0) return;
    const char text[] = "reached the original destination\n";
    [[maybe_unused]] ssize_t n = ::write(c, text, sizeof(text) - 1);
    ::close(c);
  });

  const std::uint16_t proxy_port = freeLoopbackPort();
  const std::string cfg = dir.path() + "/haproxy.cfg";
  {
    std::ofstream f(cfg);
    f << "global\n  maxconn 64\n"
      << "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n"
      << "  timeout server 5s\n"
      << "listen transparent\n  bind 127.0.0.1:" << proxy_port << "\n"
      << "  server original 0.0.0.0:0\n";
  }
  const pid_t haproxy = ::fork();
  if (haproxy == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDOUT_FILENO);
    const std::string env[] = {std::string(XREDIR_ODST_SOCKET_ENV) + "=" + dir.socketPath(),
                               std::string("LD_PRELOAD=") + XREDIR_ODST_SHIM_PATH,
                               "XREDIR_ODST_KERNEL_FALLBACK=0"};
    char* envp[] = {const_cast<char*>(env[0].c_str()), const_cast<char*>(env[1].c_str()),
                    const_cast<char*>(env[2].c_str()), nullptr};
    char* argv[] = {const_cast<char*>("/usr/sbin/haproxy"), const_cast<char*>("-db"),
                    const_cast<char*>("-f"), const_cast<char*>(cfg.c_str()), nullptr};
    ::execve(argv[0], argv, envp);
    ::_exit(127);
  }

  // Whatever happens below, HAProxy is stopped and the banner thread joined.
  struct Cleanup {
    pid_t pid;
    int listener;
    std::thread& thread;
    ~Cleanup() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
      ::shutdown(listener, SHUT_RDWR);  // unblocks the banner thread if HAProxy never connected
      thread.join();
    }
  } cleanup{haproxy, backend, banner};

  // Each attempt binds its client port first, so xredir can be told about exactly that
  // connection before it exists; attempts repeat until HAProxy listens.
  int client = -1;
  Endpoint client_ep;
  for (int attempt = 0; attempt < 100 && client < 0; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    client_ep = Endpoint{IpAddr::fromV4(0x7f000001), ntohs(a.sin_port)};
    source.set({IPPROTO_TCP, client_ep, Endpoint{IpAddr::fromV4(0x7f000001), proxy_port}},
               LookupResult{LookupOutcome::kTranslated, backend_port.local});
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(proxy_port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
      client = fd;
    } else {
      ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_GE(client, 0) << "haproxy did not start listening";
  const auto got = readExact(client, 33, std::chrono::seconds(5));
  ::close(client);
  ASSERT_TRUE(got) << "no banner: HAProxy did not reach the destination xredir answered";
  EXPECT_EQ("reached the original destination\n", std::string(got->begin(), got->end()));
  // HAProxy asked about exactly the connection the client made.
  bool asked = false;
  for (const Question& q : source.asked()) {
    asked |= q.client == client_ep && q.proxy.port == proxy_port;
  }
  EXPECT_TRUE(asked);
}

}  // namespace
}  // namespace xredir::odst

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::strcmp(ci, "true") == 0) {
      std::fprintf(stderr, "FAIL: odst_e2e_test needs root and CI=true forbids skipping\n");
      return 1;
    }
    std::fprintf(stderr, "SKIP: odst_e2e_test needs root (setuid children, network namespaces)\n");
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
