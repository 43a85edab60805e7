// udp_flood: the packet-rate load of bench/worker_pps.sh. Small UDP datagrams over a fixed set of
// flows (one connected socket per flow, so every flow keeps its source port and, after its first
// datagram, is an established conntrack entry), sent in sendmmsg batches; and the sink that
// counts what arrives. Kernel sockets on both ends on purpose: the redirect path between them is
// what the bench compares, so the load must be the same for the kernel and for xredir.
//
//   udp_flood send DST_IP DST_PORT FLOWS SECONDS [PAYLOAD_BYTES]
//       prints "sent N"
//   udp_flood sink PORT SECONDS
//       waits for the first datagram, counts for SECONDS, prints "received N pps R"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kBatch = 64;

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "udp_flood: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

unsigned long parseCount(const char* text, const char* name) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value == 0) {
    std::fprintf(stderr, "udp_flood: %s must be a positive number, got '%s'\n", name, text);
    std::exit(2);
  }
  return value;
}

int send(const char* dst_ip,
         unsigned long port,
         unsigned long flows,
         unsigned long seconds,
         unsigned long payload_bytes) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, dst_ip, &dst.sin_addr) != 1) {
    std::fprintf(stderr, "udp_flood: '%s' is not an IPv4 address\n", dst_ip);
    return 2;
  }
  std::vector<int> sockets;
  for (unsigned long i = 0; i < flows; ++i) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0) die("connect");
    sockets.push_back(fd);
  }
  std::vector<char> payload(payload_bytes, 'x');
  iovec iov{payload.data(), payload.size()};
  mmsghdr messages[kBatch]{};
  for (auto& m : messages) {
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  std::uint64_t sent = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  for (std::size_t flow = 0; Clock::now() < deadline; flow = (flow + 1) % sockets.size()) {
    const int n = sendmmsg(sockets[flow], messages, kBatch, 0);
    // The node's queues fill under a flood; a refused batch is load the path could not take.
    if (n > 0)
      sent += static_cast<std::uint64_t>(n);
    else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
      die("sendmmsg");
  }
  for (const int fd : sockets) close(fd);
  std::printf("sent %llu\n", static_cast<unsigned long long>(sent));
  return 0;
}

int sink(unsigned long port, unsigned long seconds) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  const int buffer = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  // A receive timeout keeps a sink whose load never arrives from hanging the bench.
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::printf("LISTENING\n");
  std::fflush(stdout);

  char buffers[kBatch][2048];
  iovec iovs[kBatch];
  mmsghdr messages[kBatch]{};
  for (int i = 0; i < kBatch; ++i) {
    iovs[i] = {buffers[i], sizeof buffers[i]};
    messages[i].msg_hdr.msg_iov = &iovs[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  std::uint64_t received = 0;
  Clock::time_point start{};
  Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);  // first datagram
  while (Clock::now() < deadline) {
    const int n = recvmmsg(fd, messages, kBatch, 0, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      die("recvmmsg");
    }
    if (start == Clock::time_point{}) {
      start = Clock::now();
      deadline = start + std::chrono::seconds(seconds);
      continue;  // the window starts after the first batch
    }
    received += static_cast<std::uint64_t>(n);
  }
  close(fd);
  if (start == Clock::time_point{}) {
    std::fprintf(stderr, "udp_flood: no datagram arrived on port %lu\n", port);
    return 1;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("received %llu pps %.0f\n", static_cast<unsigned long long>(received),
              static_cast<double>(received) / elapsed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "send" && (argc == 6 || argc == 7)) {
    return send(argv[2], parseCount(argv[3], "DST_PORT"), parseCount(argv[4], "FLOWS"),
                parseCount(argv[5], "SECONDS"), argc == 7 ? parseCount(argv[6], "PAYLOAD") : 18);
  }
  if (mode == "sink" && argc == 4) {
    return sink(parseCount(argv[2], "PORT"), parseCount(argv[3], "SECONDS"));
  }
  std::fprintf(stderr,
               "usage: udp_flood send DST_IP DST_PORT FLOWS SECONDS [PAYLOAD_BYTES]\n"
               "       udp_flood sink PORT SECONDS\n");
  return 2;
}
