// binary_test: the xredir-proxy executable's process contract: one `listening on` line once
// bound, exit 0 after SIGTERM, exit 1 with one clear line for a bad flag or an address in use.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

struct Child {
  pid_t pid = -1;
  int err_fd = -1;  // the child's stderr
};

Child spawn(std::vector<std::string> args) {
  args.insert(args.begin(), XREDIR_PROXY_PATH);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(p[1]);
  return {pid, p[0]};
}

// readUntil reads the child's stderr until `needle` shows up, EOF, or 10 s.
std::string readUntil(int fd, const std::string& needle) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

int waitExit(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -2;
}

std::uint16_t freePort(int* keep_fd) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (keep_fd != nullptr) {
    listen(fd, 1);
    *keep_fd = fd;
  } else {
    close(fd);
  }
  return ntohs(a.sin_port);
}

TEST(Binary, ListensThenDrainsOnSigterm) {
  const std::uint16_t port = freePort(nullptr);
  Child c = spawn({"--listen", "127.0.0.1:" + std::to_string(port), "--odst-socket", "/nonexistent",
                   "--threads", "2"});
  ASSERT_GT(c.pid, 0);
  const std::string log = readUntil(c.err_fd, "listening on");
  EXPECT_NE(log.find("listening on 127.0.0.1:" + std::to_string(port)), std::string::npos) << log;
  kill(c.pid, SIGTERM);
  EXPECT_EQ(waitExit(c.pid), 0);
  close(c.err_fd);
}

TEST(Binary, StartUpErrorsExitOneWithOneLine) {
  int busy_fd = -1;
  const std::uint16_t busy = freePort(&busy_fd);
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {{"--listen", "nonsense"}, "--listen"},
      {{"--bogus"}, "bogus"},
      {{"--listen", "127.0.0.1:" + std::to_string(busy)}, "in use"},
  };
  for (const Case& tc : cases) {
    Child c = spawn(tc.args);
    ASSERT_GT(c.pid, 0);
    const std::string log = readUntil(c.err_fd, "\\n");
    EXPECT_EQ(waitExit(c.pid), 1) << tc.args[0];
    EXPECT_NE(log.find(tc.mentions), std::string::npos) << log;
    close(c.err_fd);
  }
  close(busy_fd);
}

}  // namespace
