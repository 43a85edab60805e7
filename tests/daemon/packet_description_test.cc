// Tests for the `xredir trace` packet descriptions and the host's addrtype classification.
#include "daemon/packet_description.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include "daemon/host_addr_types.h"

namespace xredir {
namespace {

TEST(PacketDescriptionTest, ParsesPreroutingTcp) {
  auto parsed =
      parsePacketDescription("tcp 10.0.0.1:40000 -> 93.184.216.34:443 in eth0 hook prerouting");
  ASSERT_TRUE(std::holds_alternative<PacketDescription>(parsed)) << std::get<std::string>(parsed);
  const auto& d = std::get<PacketDescription>(parsed);
  const PacketMeta p = d.meta();
  EXPECT_EQ(d.hook, Hook::kPrerouting);
  EXPECT_EQ(p.protocol, IPPROTO_TCP);
  EXPECT_EQ(p.tcp_flags, 0x02);  // SYN by default
  EXPECT_EQ(formatIpAddr(p.src), "10.0.0.1");
  EXPECT_EQ(p.sport, 40000);
  EXPECT_EQ(formatIpAddr(p.dst), "93.184.216.34");
  EXPECT_EQ(p.dport, 443);
  EXPECT_EQ(p.in_iface, "eth0");
  EXPECT_FALSE(p.uid.has_value());
}

TEST(PacketDescriptionTest, OutputWithSocketContextAndIpv6) {
  auto parsed = parsePacketDescription(
      "udp [fd00::1]:5353 -> [fd00::53]:53 out eth0 uid 1337 gid 7 mark 0x10");
  ASSERT_TRUE(std::holds_alternative<PacketDescription>(parsed)) << std::get<std::string>(parsed);
  const auto& d = std::get<PacketDescription>(parsed);
  EXPECT_EQ(d.hook, Hook::kOutput);  // `out` without `in` means a local packet
  EXPECT_EQ(d.packet.family, Family::kV6);
  EXPECT_EQ(d.packet.protocol, IPPROTO_UDP);
  EXPECT_EQ(d.packet.uid, 1337u);
  EXPECT_EQ(d.packet.gid, 7u);
  EXPECT_EQ(d.packet.mark, 0x10u);
  EXPECT_EQ(d.meta().out_iface, "eth0");
}

TEST(PacketDescriptionTest, RejectsWhatTheHookCannotKnow) {
  const char* bad[] = {
      "tcp 10.0.0.1:1 -> 10.0.0.2:2 in eth0 uid 5",             // uid at prerouting
      "tcp 10.0.0.1:1 -> 10.0.0.2:2 in eth0 hook output",       // in at output
      "tcp 10.0.0.1:1 -> 10.0.0.2:2 out eth0 hook prerouting",  // out at prerouting
      "icmp 10.0.0.1:1 -> 10.0.0.2:2",                          // protocol
      "tcp 10.0.0.1:1 -> [fd00::1]:2",                          // mixed families
      "tcp 10.0.0.1:1 => 10.0.0.2:2",                           // arrow
      "tcp 10.0.0.1 -> 10.0.0.2:2",                             // no port
      "tcp 10.0.0.1:1 -> 10.0.0.2:2 in",                        // missing value
      "tcp 10.0.0.1:1 -> 10.0.0.2:2 flags SYN,BOGUS",           // flag name
      "tcp 10.0.0.1:1 -> 10.0.0.2:2 mark 12z",                  // number
      "tcp 10.0.0.1:1 -> 10.0.0.2:2 colour blue",               // unknown word
  };
  for (const char* text : bad) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parsePacketDescription(text))) << text;
  }
}

TEST(HostAddrTypesTest, ClassifiesLikeLinuxFib) {
  // As getifaddrs reports them: the interface's own address with its prefix length.
  const std::vector<HostAddress> host = {
      {"eth0", Cidr{*parseIpAddr("10.1.0.5"), 24}},
      {"eth1", Cidr{*parseIpAddr("192.168.9.1"), 16}},
  };
  struct Case {
    const char* addr;
    const char* iface;
    std::uint16_t want;
  };
  const Case cases[] = {
      {"10.1.0.5", "", kAddrLocal},
      {"10.1.0.5", "eth0", kAddrLocal},
      {"10.1.0.5", "eth1", kAddrUnicast},
      {"127.3.4.5", "", kAddrLocal},
      {"10.1.0.255", "", kAddrBroadcast},
      {"255.255.255.255", "", kAddrBroadcast},
      {"224.0.0.1", "", kAddrMulticast},
      {"ff02::1", "", kAddrMulticast},
      {"0.0.0.0", "", kAddrUnspec},
      {"8.8.4.4", "", kAddrUnicast},
      {"::1", "", kAddrLocal},
      {"192.168.255.255", "eth1", kAddrBroadcast},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(addrTypeOf(host, *parseIpAddr(c.addr), c.iface), c.want) << c.addr << " " << c.iface;
  }
}

}  // namespace
}  // namespace xredir
