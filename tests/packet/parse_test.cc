// Tests of parsePacket (packet.h): table-driven valid frames with every field checked against
// the builder's layout, one case per malformation with its specific status, and truncation of
// valid frames at every byte offset.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "support/packet_builder.h"
#include "xredir/packet.h"

namespace xredir {
namespace {

using testing::buildPacket;
using testing::BuiltPacket;
using testing::Ipv6Extension;
using testing::PacketSpec;
using testing::v4;
using testing::v6;

const Endpoint kV6Src{v6("2001:db8::1"), 40000};
const Endpoint kV6Dst{v6("2001:db8:ffff::2"), 443};
// A 6-byte Fragment header body: offset (in 8-byte units) << 3 | M, identification.
std::vector<std::uint8_t> fragmentBody(std::uint16_t offset_units, bool more, std::uint32_t id) {
  const std::uint16_t field = static_cast<std::uint16_t>(offset_units << 3 | (more ? 1 : 0));
  return {static_cast<std::uint8_t>(field >> 8), static_cast<std::uint8_t>(field),
          static_cast<std::uint8_t>(id >> 24),   static_cast<std::uint8_t>(id >> 16),
          static_cast<std::uint8_t>(id >> 8),    static_cast<std::uint8_t>(id)};
}

struct ValidCase {
  std::string name{};
  PacketSpec spec{};
  FragmentKind fragment = FragmentKind::kNone;
  bool has_ports = true;
  bool source_routed = false;
};

std::vector<ValidCase> validCases() {
  return {
      {.name = "Ipv4TcpSyn", .spec = {}},
      {.name = "Ipv4TcpSynAckWithOptions",
       .spec = {.tcp_flags = kTcpSyn | kTcpAck, .tcp_options = {2, 4, 0x05, 0xb4, 1, 1, 4, 2}}},
      {.name = "Ipv4Udp", .spec = {.protocol = kIpProtoUdp, .payload = {1, 2, 3, 4, 5}}},
      {.name = "Ipv4UdpNoChecksum", .spec = {.protocol = kIpProtoUdp, .udp_no_checksum = true}},
      {.name = "Ipv4Options",  // Router Alert + NOP + Timestamp-shaped option
       .spec = {.ipv4_options = {0x94, 0x04, 0x00, 0x00, 0x01, 0x44, 0x06, 0x05, 0, 0}}},
      {.name = "Ipv4OptionsEndWithEol", .spec = {.ipv4_options = {0x01, 0x00, 0xff, 0xff}}},
      {.name = "Ipv4OneVlan", .spec = {.vlans = {{.tci = 100}}}},
      {.name = "Ipv4QinQ", .spec = {.vlans = {{.tpid = kEtherTypeQinQ, .tci = 7}, {.tci = 100}}}},
      {.name = "Ipv4IcmpEcho", .spec = {.protocol = kIpProtoIcmp}, .has_ports = false},
      {.name = "Ipv4Gre", .spec = {.protocol = 47, .payload = {0, 0, 8, 0}}, .has_ports = false},
      {.name = "Ipv4EthernetPadding",
       .spec = {.protocol = kIpProtoUdp, .payload = {9}, .min_frame_size = 60}},
      {.name = "Ipv4FirstFragment",
       .spec = {.ipv4_flags_fragment = 0x2000, .payload = std::vector<std::uint8_t>(16, 7)},
       .fragment = FragmentKind::kFirst},
      {.name = "Ipv4LaterFragment",
       .spec = {.ipv4_flags_fragment = 0x2000 | 185, .payload = std::vector<std::uint8_t>(8, 7)},
       .fragment = FragmentKind::kLater,
       .has_ports = false},
      {.name = "Ipv6Tcp", .spec = {.src = kV6Src, .dst = kV6Dst, .tcp_flags = kTcpAck | kTcpPsh}},
      {.name = "Ipv6Udp", .spec = {.src = kV6Src, .dst = kV6Dst, .protocol = kIpProtoUdp}},
      {.name = "Ipv6Icmpv6",
       .spec = {.src = kV6Src, .dst = kV6Dst, .protocol = kIpProtoIcmpv6, .icmp_type = 128},
       .has_ports = false},
      {.name = "Ipv6VlanHopByHopDestRouting",
       .spec = {.vlans = {{.tci = 5}},
                .src = kV6Src,
                .dst = kV6Dst,
                .ipv6_extensions = {{.type = kIpProtoHopByHop, .body = {5, 2, 0, 0}},
                                    {.type = kIpProtoDestOpts,
                                     .body = std::vector<std::uint8_t>(14)},
                                    {.type = kIpProtoRouting, .body = {4, 0}}}}},
      {.name = "Ipv6SourceRouted",
       .spec = {.src = kV6Src,
                .dst = kV6Dst,
                .ipv6_extensions = {{.type = kIpProtoRouting,
                                     .body = {0, 1, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0,
                                              0, 0, 0, 0, 0, 0, 0,    0,    0,    0,    9}}}},
       .source_routed = true},
      {.name = "Ipv6Ah",
       .spec = {.src = kV6Src,
                .dst = kV6Dst,
                .ipv6_extensions = {{.type = kIpProtoAh, .body = std::vector<std::uint8_t>(14)}}}},
      {.name = "Ipv6AtomicFragment",
       .spec = {.src = kV6Src,
                .dst = kV6Dst,
                .protocol = kIpProtoUdp,
                .ipv6_extensions = {{.type = kIpProtoFragment,
                                     .body = fragmentBody(0, false, 9)}}}},
      {.name = "Ipv6FirstFragment",
       .spec = {.src = kV6Src,
                .dst = kV6Dst,
                .protocol = kIpProtoUdp,
                .ipv6_extensions = {{.type = kIpProtoFragment, .body = fragmentBody(0, true, 9)}},
                .payload = std::vector<std::uint8_t>(16, 1)},
       .fragment = FragmentKind::kFirst},
      {.name = "Ipv6LaterFragment",
       .spec = {.src = kV6Src,
                .dst = kV6Dst,
                .protocol = kIpProtoUdp,
                .ipv6_extensions = {{.type = kIpProtoFragment, .body = fragmentBody(3, false, 9)}},
                .payload = std::vector<std::uint8_t>(16, 1)},
       .fragment = FragmentKind::kLater,
       .has_ports = false},
      {.name = "Ipv6NoNextHeader",
       .spec = {.src = kV6Src, .dst = kV6Dst, .protocol = kIpProtoNoNext},
       .has_ports = false},
  };
}

class ParseValidTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ParseValidTest, DescribesTheFrame) {
  const ValidCase& c = GetParam();
  const BuiltPacket built = buildPacket(c.spec);
  ParsedPacket p;
  ASSERT_EQ(parsePacket(built.bytes, p), ParseStatus::kOk);
  EXPECT_EQ(p.family, c.spec.src.addr.family);
  EXPECT_EQ(p.protocol, c.spec.protocol);
  EXPECT_EQ(p.src, c.spec.src.addr);
  EXPECT_EQ(p.dst, c.spec.dst.addr);
  EXPECT_EQ(p.ttl, c.spec.ttl);
  EXPECT_EQ(p.l3_offset, built.l3_offset);
  EXPECT_EQ(p.l4_offset, built.l4_offset);
  EXPECT_EQ(p.l3_end, built.l3_end);
  EXPECT_EQ(p.fragment, c.fragment);
  EXPECT_EQ(p.ipv6_source_routed, c.source_routed);
  ASSERT_EQ(p.vlan_count, c.spec.vlans.size());
  for (std::size_t i = 0; i < c.spec.vlans.size(); ++i)
    EXPECT_EQ(p.vlan_tci[i], c.spec.vlans[i].tci);
  EXPECT_EQ(readSrcMac(built.bytes), c.spec.src_mac);
  EXPECT_EQ(readDstMac(built.bytes), c.spec.dst_mac);
  if (c.has_ports) {
    EXPECT_EQ(p.sport, c.spec.src.port);
    EXPECT_EQ(p.dport, c.spec.dst.port);
    EXPECT_EQ(p.payload_offset, built.payload_offset);
  } else {
    EXPECT_EQ(p.sport, 0);
    EXPECT_EQ(p.dport, 0);
  }
  EXPECT_EQ(p.tcp_flags, c.spec.protocol == kIpProtoTcp && c.has_ports ? c.spec.tcp_flags : 0);
  if (c.spec.protocol == kIpProtoIcmp || c.spec.protocol == kIpProtoIcmpv6) {
    EXPECT_EQ(p.icmp_type, c.spec.icmp_type);
    EXPECT_EQ(p.icmp_code, c.spec.icmp_code);
    EXPECT_EQ(p.payload_offset, built.payload_offset);
  }
  if (c.fragment == FragmentKind::kLater) {
    EXPECT_EQ(p.payload_offset, built.l4_offset);
    EXPECT_GT(p.fragment_offset, 0);
  }
}

TEST_P(ParseValidTest, EveryTruncationIsAnError) {
  const BuiltPacket built = buildPacket(GetParam().spec);
  // Frames with Ethernet padding still parse when only padding is cut.
  for (std::size_t len = 0; len < built.l3_end; ++len) {
    const std::vector<std::uint8_t> cut(built.bytes.begin(),
                                        built.bytes.begin() + static_cast<std::ptrdiff_t>(len));
    ParsedPacket p;
    EXPECT_NE(parsePacket(cut, p), ParseStatus::kOk) << "truncated to " << len;
  }
}

INSTANTIATE_TEST_SUITE_P(Frames,
                         ParseValidTest,
                         ::testing::ValuesIn(validCases()),
                         [](const auto& info) { return info.param.name; });

// A malformed case: a valid frame and a mutation that breaks one field, or (mutate empty) a
// spec that the builder renders malformed as it stands; and the expected status.
struct MalformedCase {
  std::string name{};
  PacketSpec spec{};
  std::function<void(BuiltPacket&)> mutate{};
  ParseStatus expected;
};

void set16(std::vector<std::uint8_t>& v, std::size_t at, std::uint16_t value) {
  v[at] = static_cast<std::uint8_t>(value >> 8);
  v[at + 1] = static_cast<std::uint8_t>(value);
}
std::uint16_t get16(const std::vector<std::uint8_t>& v, std::size_t at) {
  return static_cast<std::uint16_t>(v[at] << 8 | v[at + 1]);
}
void truncateTo(BuiltPacket& b, std::size_t len) {
  b.bytes.resize(len);
}

const PacketSpec kUdpSpec{.protocol = kIpProtoUdp, .payload = {1, 2, 3}};
const PacketSpec kV6Spec{.src = kV6Src, .dst = kV6Dst};

std::vector<MalformedCase> malformedCases() {
  std::vector<Ipv6Extension> nine(9, Ipv6Extension{.type = kIpProtoDestOpts, .body = {}});
  return {
      {"ShortEthernet",
       {},
       [](BuiltPacket& b) { truncateTo(b, 13); },
       ParseStatus::kTruncatedEthernet},
      {"ShortVlanTag",
       {.vlans = {{.tci = 1}}},
       [](BuiltPacket& b) { truncateTo(b, 17); },
       ParseStatus::kTruncatedVlan},
      {"ThreeVlanTags",
       {.vlans = {{.tci = 1}, {.tci = 2}, {.tci = 3}}},
       nullptr,
       ParseStatus::kTooManyVlanTags},
      {"Arp",
       {},
       [](BuiltPacket& b) { set16(b.bytes, 12, 0x0806); },
       ParseStatus::kUnsupportedEthertype},
      {"Ieee8023Length",
       {},
       [](BuiltPacket& b) { set16(b.bytes, 12, 0x0040); },
       ParseStatus::kUnsupportedEthertype},
      {"Ipv4ShortHeader",
       {},
       [](BuiltPacket& b) { truncateTo(b, b.l3_offset + 19); },
       ParseStatus::kTruncatedIpv4},
      {"Ipv4VersionSix",
       {},
       [](BuiltPacket& b) { b.bytes[b.l3_offset] = 0x65; },
       ParseStatus::kBadIpVersion},
      {"Ipv4IhlFour",
       {},
       [](BuiltPacket& b) { b.bytes[b.l3_offset] = 0x44; },
       ParseStatus::kBadIpv4HeaderLength},
      {"Ipv4IhlBeyondFrame",
       {},
       [](BuiltPacket& b) { b.bytes[b.l3_offset] = 0x4f; },
       ParseStatus::kTruncatedIpv4},
      {"Ipv4OptionLengthOne",
       {.ipv4_options = {0x94, 0x01, 0, 0}},
       nullptr,
       ParseStatus::kBadIpv4Options},
      {"Ipv4OptionPastHeader",
       {.ipv4_options = {0x01, 0x94, 0x04, 0}},
       nullptr,
       ParseStatus::kBadIpv4Options},
      {"Ipv4OptionMissingLength",
       {.ipv4_options = {0x01, 0x01, 0x01, 0x94}},
       nullptr,
       ParseStatus::kBadIpv4Options},
      {"Ipv4TotalLengthBelowHeader",
       {},
       [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 2, 19); },
       ParseStatus::kBadIpv4TotalLength},
      {"Ipv4TotalLengthPastFrame",
       {},
       [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 2, get16(b.bytes, b.l3_offset + 2) + 1); },
       ParseStatus::kBadIpv4TotalLength},
      {"Ipv4FragmentPast64k",
       {.ipv4_flags_fragment = 0x1fff, .payload = {1}},
       nullptr,
       ParseStatus::kBadFragment},
      {"Ipv6ShortHeader", kV6Spec, [](BuiltPacket& b) { truncateTo(b, b.l3_offset + 39); },
       ParseStatus::kTruncatedIpv6},
      {"Ipv6VersionFour", kV6Spec, [](BuiltPacket& b) { b.bytes[b.l3_offset] = 0x40; },
       ParseStatus::kBadIpVersion},
      {"Ipv6PayloadPastFrame", kV6Spec,
       [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 4, get16(b.bytes, b.l3_offset + 4) + 1); },
       ParseStatus::kBadIpv6PayloadLength},
      {"Ipv6ExtensionPastPayload",
       {.src = kV6Src, .dst = kV6Dst, .ipv6_extensions = {{.type = kIpProtoDestOpts}}},
       [](BuiltPacket& b) { b.bytes[b.l3_offset + 41] = 5; },
       ParseStatus::kTruncatedExtensionHeader},
      {"Ipv6Jumbogram",
       {.src = kV6Src, .dst = kV6Dst, .ipv6_extensions = {{.type = kIpProtoHopByHop}}},
       [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 4, 0); },
       ParseStatus::kTruncatedExtensionHeader},
      {"Ipv6HopByHopNotFirst",
       {.src = kV6Src,
        .dst = kV6Dst,
        .ipv6_extensions = {{.type = kIpProtoDestOpts}, {.type = kIpProtoHopByHop}}},
       nullptr,
       ParseStatus::kBadExtensionHeaderOrder},
      {"Ipv6NineExtensionHeaders",
       {.src = kV6Src, .dst = kV6Dst, .ipv6_extensions = nine},
       nullptr,
       ParseStatus::kTooManyExtensionHeaders},
      {"Ipv6FragmentPast64k",
       {.src = kV6Src,
        .dst = kV6Dst,
        .protocol = kIpProtoUdp,
        .ipv6_extensions = {{.type = kIpProtoFragment, .body = fragmentBody(8191, false, 1)}},
        .payload = std::vector<std::uint8_t>(8)},
       nullptr,
       ParseStatus::kBadFragment},
      {"TcpShortHeader",
       {},
       [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 2, 39); },
       ParseStatus::kTruncatedTcp},
      {"TcpDataOffsetFour",
       {},
       [](BuiltPacket& b) { b.bytes[b.l4_offset + 12] = 0x40; },
       ParseStatus::kBadTcpDataOffset},
      {"TcpDataOffsetPastSegment",
       {},
       [](BuiltPacket& b) { b.bytes[b.l4_offset + 12] = 0xf0; },
       ParseStatus::kBadTcpDataOffset},
      {"Ipv6TcpDataOffsetPastSegment", kV6Spec,
       [](BuiltPacket& b) { b.bytes[b.l4_offset + 12] = 0x60; }, ParseStatus::kBadTcpDataOffset},
      {"UdpShortHeader", kUdpSpec, [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 2, 27); },
       ParseStatus::kTruncatedUdp},
      {"UdpLengthBelowHeader", kUdpSpec, [](BuiltPacket& b) { set16(b.bytes, b.l4_offset + 4, 7); },
       ParseStatus::kBadUdpLength},
      {"UdpLengthPastDatagram", kUdpSpec,
       [](BuiltPacket& b) { set16(b.bytes, b.l4_offset + 4, 12); }, ParseStatus::kBadUdpLength},
      {"UdpLengthShortOfDatagram", kUdpSpec,
       [](BuiltPacket& b) { set16(b.bytes, b.l4_offset + 4, 10); }, ParseStatus::kBadUdpLength},
      {"IcmpShortHeader",
       {.protocol = kIpProtoIcmp},
       [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 2, 27); },
       ParseStatus::kTruncatedIcmp},
      {"Icmpv6ShortHeader",
       {.src = kV6Src, .dst = kV6Dst, .protocol = kIpProtoIcmpv6},
       [](BuiltPacket& b) { set16(b.bytes, b.l3_offset + 4, 4); },
       ParseStatus::kTruncatedIcmp},
  };
}

class ParseMalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(ParseMalformedTest, GivesItsSpecificError) {
  const MalformedCase& c = GetParam();
  BuiltPacket built = buildPacket(c.spec);
  ParsedPacket p;
  if (c.mutate) {
    // The frame is valid until the mutation breaks exactly the field under test.
    ASSERT_EQ(parsePacket(built.bytes, p), ParseStatus::kOk) << "the unmutated frame";
    c.mutate(built);
  }
  EXPECT_EQ(parsePacket(built.bytes, p), c.expected)
      << "got " << parseStatusName(parsePacket(built.bytes, p));
}

INSTANTIATE_TEST_SUITE_P(Frames,
                         ParseMalformedTest,
                         ::testing::ValuesIn(malformedCases()),
                         [](const auto& info) { return info.param.name; });

TEST(ParseTest, StatusZeroIsNotSuccess) {
  EXPECT_NE(static_cast<int>(ParseStatus::kOk), 0);
  ParseStatus unset{};
  EXPECT_NE(unset, ParseStatus::kOk);
}

TEST(ParseTest, ReadsOnlyInsideTheSpan) {
  // The frame sits inside a larger buffer whose bytes after the span would make it valid:
  // the parser must see only the span.
  const BuiltPacket built = buildPacket({});
  ParsedPacket p;
  const std::span<const std::uint8_t> shorter(built.bytes.data(), built.bytes.size() - 1);
  EXPECT_EQ(parsePacket(shorter, p), ParseStatus::kBadIpv4TotalLength);
}

}  // namespace
}  // namespace xredir
