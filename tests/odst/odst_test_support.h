// odst_test_support.h owns the small helpers the odst tests share: a scratch directory for the
// socket, a raw protocol client over a Unix socket (so the tests see exactly the bytes the server
// writes), and request builders.
#pragma once

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "odst/fake_source.h"
#include "odst/request_of.h"
#include "xredir/odst.h"

namespace xredir::odst::testing {

// ScratchDir is a fresh directory under /tmp, world-traversable (so a test child that dropped
// privileges can reach the socket), removed with its contents at the end.
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/xredir-odst-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    ::chmod(path_.c_str(), 0755);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string socketPath() const { return path_ + "/run/odst.sock"; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline int connectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool sendAll(int fd, const std::vector<std::uint8_t>& b) {
  std::size_t off = 0;
  while (off < b.size()) {
    const ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// readExact reads n bytes within the timeout. Returns nullopt on EOF, error or timeout.
inline std::optional<std::vector<std::uint8_t>> readExact(
    int fd, std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::vector<std::uint8_t> b(n);
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    const ssize_t r = ::recv(fd, b.data() + got, n - got, 0);
    if (r <= 0) return std::nullopt;
    got += static_cast<std::size_t>(r);
  }
  return b;
}

// readsEof reports whether the peer closed: recv returns 0 (or ECONNRESET) within the timeout.
inline bool readsEof(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  std::uint8_t b;
  const ssize_t r = ::recv(fd, &b, 1, 0);
  return r == 0 || (r < 0 && errno == ECONNRESET);
}

inline std::vector<std::uint8_t> encodeRequest(std::uint8_t protocol,
                                               const Endpoint& client,
                                               const Endpoint& proxy) {
  const xredir_odst_request r = requestOf(protocol, client, proxy);
  std::vector<std::uint8_t> b(XREDIR_ODST_REQUEST_SIZE);
  xredir_odst_encode_request(&r, b.data());
  return b;
}

inline std::optional<xredir_odst_response> readResponse(int fd) {
  const auto b = readExact(fd, XREDIR_ODST_RESPONSE_SIZE);
  if (!b) return std::nullopt;
  xredir_odst_response r{};
  if (xredir_odst_decode_response(b->data(), &r) != 0) return std::nullopt;
  return r;
}

// eventually polls cond for up to five seconds; for state the server reaches asynchronously.
template <typename Cond>
bool eventually(Cond cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

}  // namespace xredir::odst::testing
