// proxy_protocol_test: the PROXY protocol v2 header is byte-exact for TCP over IPv4 and IPv6
// (expected bytes written out from proxy-protocol.txt section 2.2).
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

namespace xredir::proxy {
namespace {

sockaddr_storage v4(const char* addr, std::uint16_t port) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, addr, &in->sin_addr);
  return ss;
}

sockaddr_storage v6(const char* addr, std::uint16_t port) {
  sockaddr_storage ss{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  inet_pton(AF_INET6, addr, &in6->sin6_addr);
  return ss;
}

const std::vector<std::uint8_t> kSig = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Case {
  std::string name;
  sockaddr_storage src;
  sockaddr_storage dst;
  std::vector<std::uint8_t> want;
};

TEST(ProxyV2, ExactBytes) {
  const std::vector<Case> cases = {
      {"tcp4", v4("192.168.1.10", 40000), v4("10.0.0.1", 443),
       concat({kSig,
               {0x21, 0x11, 0x00, 0x0C},
               {192, 168, 1, 10},
               {10, 0, 0, 1},
               {0x9C, 0x40},
               {0x01, 0xBB}})},
      {"tcp6", v6("2001:db8::1", 1), v6("fd00::2", 65535),
       concat({kSig,
               {0x21, 0x21, 0x00, 0x24},
               {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
               {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02},
               {0x00, 0x01},
               {0xFF, 0xFF}})},
      {"v4-mapped both sides is tcp4", v6("::ffff:127.0.0.1", 5000), v6("::ffff:127.0.0.2", 80),
       concat({kSig,
               {0x21, 0x11, 0x00, 0x0C},
               {127, 0, 0, 1},
               {127, 0, 0, 2},
               {0x13, 0x88},
               {0x00, 0x50}})},
      {"mixed families become tcp6 with a mapped v4", v4("1.2.3.4", 80), v6("::1", 81),
       concat({kSig,
               {0x21, 0x21, 0x00, 0x24},
               {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4},
               {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
               {0x00, 0x50},
               {0x00, 0x51}})},
  };
  for (const Case& c : cases) {
    std::uint8_t out[kProxyV2MaxSize];
    std::memset(out, 0xEE, sizeof(out));
    const std::size_t n = encodeProxyV2(c.src, c.dst, out);
    EXPECT_EQ(std::vector<std::uint8_t>(out, out + n), c.want) << c.name;
  }
}

TEST(ProxyV2, RefusesOtherFamilies) {
  sockaddr_storage unix_addr{};
  unix_addr.ss_family = AF_UNIX;
  std::uint8_t out[kProxyV2MaxSize];
  EXPECT_EQ(encodeProxyV2(unix_addr, v4("1.1.1.1", 1), out), 0u);
  EXPECT_EQ(encodeProxyV2(v4("1.1.1.1", 1), unix_addr, out), 0u);
}

}  // namespace
}  // namespace xredir::proxy
