// Tests for the address vocabulary: parsing what iptables-save prints, CIDR containment,
// endpoints in both families.
#include "xredir/ip_addr.h"

#include <gtest/gtest.h>

namespace xredir {
namespace {

TEST(IpAddrTest, ParsesAndFormatsBothFamilies) {
  struct Case {
    const char* text;
    bool ok;
    const char* printed;
  };
  const Case cases[] = {
      {"10.0.0.1", true, "10.0.0.1"},
      {"255.255.255.255", true, "255.255.255.255"},
      {"2001:db8::1", true, "2001:db8::1"},
      {"::", true, "::"},
      {"::ffff:10.0.0.1", true, "::ffff:10.0.0.1"},
      {"10.0.0", false, ""},
      {"10.0.0.256", false, ""},
      {"", false, ""},
      {"2001:db8:::1", false, ""},
      {"hello", false, ""},
  };
  for (const Case& c : cases) {
    auto addr = parseIpAddr(c.text);
    ASSERT_EQ(addr.has_value(), c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(formatIpAddr(*addr), c.printed) << c.text;
    }
  }
}

TEST(IpAddrTest, V4HostOrderRoundTrips) {
  const IpAddr a = IpAddr::fromV4(0x0a000102);
  EXPECT_EQ(formatIpAddr(a), "10.0.1.2");
  EXPECT_EQ(a.v4HostOrder(), 0x0a000102u);
  EXPECT_EQ(a, *parseIpAddr("10.0.1.2"));
}

TEST(CidrTest, ParsesLengthsAndMasksAndClearsHostBits) {
  struct Case {
    const char* text;
    bool ok;
    const char* printed;
  };
  const Case cases[] = {
      {"127.0.0.1/8", true, "127.0.0.0/8"},  // iptables prints the masked prefix
      {"10.1.2.3", true, "10.1.2.3/32"},
      {"10.1.2.3/255.255.0.0", true, "10.1.0.0/16"},
      {"0.0.0.0/0", true, "0.0.0.0/0"},
      {"2001:db8::1/32", true, "2001:db8::/32"},
      {"::1", true, "::1/128"},
      {"10.0.0.0/33", false, ""},
      {"10.0.0.0/255.0.255.0", false, ""},  // not contiguous
      {"10.0.0.0/", false, ""},
      {"10.0.0.0/-1", false, ""},
      {"2001:db8::/129", false, ""},
  };
  for (const Case& c : cases) {
    auto cidr = parseCidr(c.text);
    ASSERT_EQ(cidr.has_value(), c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(formatCidr(*cidr), c.printed) << c.text;
    }
  }
}

TEST(CidrTest, ContainsRespectsPrefixAndFamily) {
  const Cidr net = *parseCidr("10.0.0.0/8");
  EXPECT_TRUE(net.contains(*parseIpAddr("10.255.1.1")));
  EXPECT_FALSE(net.contains(*parseIpAddr("11.0.0.1")));
  EXPECT_FALSE(net.contains(*parseIpAddr("::a00:1")));
  EXPECT_TRUE(parseCidr("0.0.0.0/0")->contains(*parseIpAddr("1.2.3.4")));
  const Cidr v6 = *parseCidr("fd00::/8");
  EXPECT_TRUE(v6.contains(*parseIpAddr("fd12::1")));
  EXPECT_FALSE(v6.contains(*parseIpAddr("fe80::1")));
  EXPECT_TRUE(parseCidr("2001:db8::5/127")->contains(*parseIpAddr("2001:db8::4")));
  EXPECT_FALSE(parseCidr("2001:db8::5/127")->contains(*parseIpAddr("2001:db8::6")));
}

TEST(EndpointTest, ParsesAndFormatsBothFamilies) {
  struct Case {
    const char* text;
    bool ok;
  };
  const Case cases[] = {
      {"10.0.0.1:80", true}, {"[2001:db8::1]:443", true}, {"10.0.0.1:65536", false},
      {"10.0.0.1", false},   {"2001:db8::1:80", false},   {"[2001:db8::1]80", false},
      {"10.0.0.1:", false},  {"10.0.0.1:8x", false},
  };
  for (const Case& c : cases) {
    auto ep = parseEndpoint(c.text);
    ASSERT_EQ(ep.has_value(), c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(formatEndpoint(*ep), c.text);
    }
  }
}

}  // namespace
}  // namespace xredir
