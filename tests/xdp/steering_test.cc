#include "xdp/steering.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include "frame_builder.h"

namespace xredir::xdp {
namespace {

using test::buildFrame;
using test::FrameSpec;
using test::ip;

xredir_flow_key flow(const char* dst, std::uint8_t proto, std::uint16_t dport) {
  xredir_flow_key k{};
  IpAddr a = ip(dst);
  k.family = a.family == Family::kV4 ? XREDIR_FAMILY_V4 : XREDIR_FAMILY_V6;
  k.proto = proto;
  k.dport_be = htons(dport);
  std::memcpy(k.dst_be, a.bytes.data(), 16);
  return k;
}

SteeringRule rule(const char* cidr, std::uint8_t proto, std::uint16_t lo, std::uint16_t hi) {
  SteeringRule r;
  r.dst = *parseCidr(cidr);
  r.proto = proto;
  r.dport_lo = lo;
  r.dport_hi = hi;
  return r;
}

TEST(Steering, FilterMatchesLikeTheProgram) {
  auto entries =
      encodeSteering({rule("203.0.113.0/24", 6, 443, 443), rule("10.0.0.0/8", 17, 53, 53),
                      rule("2001:db8::/32", 6, 8000, 8999), rule("0.0.0.0/0", 6, 15000, 15000)});
  ASSERT_TRUE(entries);
  struct Case {
    const char* dst;
    std::uint8_t proto;
    std::uint16_t dport;
    bool match;
  };
  const Case cases[] = {
      {"203.0.113.7", 6, 443, true},   {"203.0.113.7", 6, 444, false},
      {"203.0.114.7", 6, 443, false},  {"203.0.113.7", 17, 443, false},
      {"10.200.1.1", 17, 53, true},    {"11.0.0.1", 17, 53, false},
      {"2001:db8::9", 6, 8500, true},  {"2001:db9::9", 6, 8500, false},
      {"2001:db8::9", 6, 9000, false}, {"198.51.100.1", 6, 15000, true},
      {"::1", 6, 15000, false},  // the /0 entry is IPv4 only
  };
  for (const auto& c : cases) {
    EXPECT_EQ(filterMatches(*entries, flow(c.dst, c.proto, c.dport)), c.match)
        << c.dst << " " << int(c.proto) << " " << c.dport;
  }
}

TEST(Steering, EncodeClearsHostBitsAndRefusesMalformed) {
  auto e = encodeSteering({rule("203.0.113.77/24", 6, 1, 2)});
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)[0].dst_be[3], 0);
  EXPECT_EQ((*e)[0].prefix_len, 24);
  EXPECT_FALSE(encodeSteering({rule("10.0.0.0/8", 1, 0, 65535)}));  // ICMP
  EXPECT_FALSE(encodeSteering({rule("10.0.0.0/8", 6, 10, 9)}));     // lo > hi
  std::vector<SteeringRule> many(XREDIR_FILTER_MAX + 1, rule("10.0.0.0/8", 6, 0, 65535));
  EXPECT_FALSE(encodeSteering(many));
}

TEST(Steering, SteerAllMatchesEveryTcpAndUdpFlowOnly) {
  auto e = encodeSteering(steerAll());
  ASSERT_TRUE(e);
  EXPECT_TRUE(filterMatches(*e, flow("1.2.3.4", 6, 1)));
  EXPECT_TRUE(filterMatches(*e, flow("2001:db8::1", 17, 65535)));
  EXPECT_FALSE(filterMatches(*e, flow("1.2.3.4", 1, 0)));
}

TEST(Steering, EmptyFilterMatchesNothing) {
  std::vector<xredir_filter_entry> none;
  EXPECT_FALSE(filterMatches(none, flow("1.2.3.4", 6, 443)));
}

TEST(Steering, FlowKeyOfReadsWhatTheProgramReads) {
  struct Case {
    const char* name;
    FrameSpec spec;
    bool steerable;
  };
  const Case cases[] = {
      {"tcp4", {ip("10.0.0.1"), ip("203.0.113.7"), 6, 40000, 443}, true},
      {"udp6", {ip("2001:db8::1"), ip("2001:db8::2"), 17, 5353, 53}, true},
      {"vlan", {ip("10.0.0.1"), ip("203.0.113.7"), 6, 1, 2, 1}, true},
      {"qinq", {ip("10.0.0.1"), ip("203.0.113.7"), 6, 1, 2, 2}, true},
      {"icmp", {ip("10.0.0.1"), ip("203.0.113.7"), 1, 0, 0}, false},
      {"first fragment", {ip("10.0.0.1"), ip("203.0.113.7"), 6, 1, 2, 0, 0x2000}, false},
      {"later fragment", {ip("10.0.0.1"), ip("203.0.113.7"), 6, 1, 2, 0, 0x0010}, false},
      {"arp", {ip("10.0.0.1"), ip("203.0.113.7"), 6, 1, 2, 0, 0, 0x0806}, false},
  };
  for (const auto& c : cases) {
    auto frame = buildFrame(c.spec);
    auto key = flowKeyOf(frame);
    ASSERT_EQ(key.has_value(), c.steerable) << c.name;
    if (!key) continue;
    EXPECT_EQ(ntohs(key->sport_be), c.spec.sport) << c.name;
    EXPECT_EQ(ntohs(key->dport_be), c.spec.dport) << c.name;
    EXPECT_EQ(key->proto, c.spec.proto) << c.name;
    EXPECT_EQ(std::memcmp(key->src_be, c.spec.src.bytes.data(), 16), 0) << c.name;
    EXPECT_EQ(std::memcmp(key->dst_be, c.spec.dst.bytes.data(), 16), 0) << c.name;
  }
}

TEST(Steering, FlowKeyOfParsedFieldsEqualsFlowKeyOfFrame) {
  struct Case {
    FrameSpec spec;
  };
  const Case cases[] = {{{ip("10.0.0.1"), ip("203.0.113.7"), 6, 40000, 443}},
                        {{ip("2001:db8::1"), ip("2001:db8::2"), 17, 5353, 53}}};
  for (const auto& c : cases) {
    auto from_frame = flowKeyOf(buildFrame(c.spec));
    ASSERT_TRUE(from_frame);
    auto from_fields = flowKeyOf(c.spec.proto, Endpoint{c.spec.src, c.spec.sport},
                                 Endpoint{c.spec.dst, c.spec.dport});
    EXPECT_EQ(std::memcmp(&*from_frame, &from_fields, sizeof(from_fields)), 0)
        << formatIpAddr(c.spec.src);
  }
}

TEST(Steering, FlowKeyOfRefusesTruncatedFrames) {
  auto frame = buildFrame({ip("10.0.0.1"), ip("203.0.113.7"), 6, 1, 2});
  // Every prefix shorter than Ethernet + IPv4 + the 4 port bytes is refused, never over-read.
  for (std::size_t len = 0; len < 14 + 20 + 4; ++len) {
    EXPECT_FALSE(flowKeyOf(std::span<const std::uint8_t>(frame.data(), len))) << len;
  }
  EXPECT_TRUE(flowKeyOf(std::span<const std::uint8_t>(frame.data(), 14 + 20 + 4)));
}

}  // namespace
}  // namespace xredir::xdp
