// Tests of packetMetaFromParsed (packet_meta.h): what the rule engine sees of parsed frames.
#include "xredir/packet_meta.h"

#include <gtest/gtest.h>

#include "support/packet_builder.h"

namespace xredir {
namespace {

using testing::buildPacket;
using testing::v4;
using testing::v6;

TEST(PacketMetaTest, CopiesTheFiveTupleAndFlags) {
  const auto b = buildPacket({.src = {v6("2001:db8::7"), 51000},
                              .dst = {v6("2001:db8::8"), 8080},
                              .tcp_flags = kTcpSyn | kTcpEce | kTcpCwr});
  ParsedPacket parsed;
  ASSERT_EQ(parsePacket(b.bytes, parsed), ParseStatus::kOk);
  const PacketMeta meta = packetMetaFromParsed(parsed);
  EXPECT_EQ(meta.family, Family::kV6);
  EXPECT_EQ(meta.protocol, kIpProtoTcp);
  EXPECT_EQ(meta.src, v6("2001:db8::7"));
  EXPECT_EQ(meta.dst, v6("2001:db8::8"));
  EXPECT_EQ(meta.sport, 51000);
  EXPECT_EQ(meta.dport, 8080);
  EXPECT_EQ(meta.tcp_flags, kTcpSyn | kTcpEce | kTcpCwr);
  EXPECT_FALSE(meta.later_fragment);
  EXPECT_FALSE(meta.uid.has_value());  // socket context is the caller's to fill
  EXPECT_TRUE(meta.in_iface.empty());
}

TEST(PacketMetaTest, LaterFragmentHasNoPorts) {
  const auto b = buildPacket({.src = {v4("10.1.1.1"), 1234},
                              .dst = {v4("10.2.2.2"), 80},
                              .protocol = kIpProtoUdp,
                              .ipv4_flags_fragment = 0x2000 | 100,
                              .payload = {1, 2, 3}});
  ParsedPacket parsed;
  ASSERT_EQ(parsePacket(b.bytes, parsed), ParseStatus::kOk);
  const PacketMeta meta = packetMetaFromParsed(parsed);
  EXPECT_TRUE(meta.later_fragment);
  EXPECT_EQ(meta.protocol, kIpProtoUdp);
  EXPECT_EQ(meta.sport, 0);
  EXPECT_EQ(meta.dport, 0);
  EXPECT_EQ(meta.src, v4("10.1.1.1"));
}

}  // namespace
}  // namespace xredir
