// Tests of packet_rewrite.h. The oracle is the builder: rewriting a frame's endpoints in place
// must give exactly the bytes the builder makes for the rewritten spec (whose checksums are
// computed from scratch), the checksums must verify, and rewriting back must restore the
// original bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "support/packet_builder.h"
#include "xredir/packet_checksum.h"
#include "xredir/packet_rewrite.h"

namespace xredir {
namespace {

using testing::buildPacket;
using testing::BuiltPacket;
using testing::Ipv6Extension;
using testing::PacketSpec;
using testing::v4;
using testing::v6;

IpAddr randomAddr(std::mt19937& rng, Family family) {
  IpAddr a;
  a.family = family;
  for (int i = 0; i < (family == Family::kV4 ? 4 : 16); ++i) {
    a.bytes[i] = static_cast<std::uint8_t>(rng());
  }
  return a;
}

std::uint16_t randomPort(std::mt19937& rng) {
  // Favour the edges, where one's-complement arithmetic has its corner cases.
  switch (rng() % 8) {
    case 0:
      return 0;
    case 1:
      return 0xffff;
    default:
      return static_cast<std::uint16_t>(rng());
  }
}

PacketSpec randomSpec(std::mt19937& rng) {
  PacketSpec spec{};
  const Family family = rng() % 2 ? Family::kV4 : Family::kV6;
  spec.src = {randomAddr(rng, family), randomPort(rng)};
  spec.dst = {randomAddr(rng, family), randomPort(rng)};
  spec.protocol = rng() % 2 ? kIpProtoTcp : kIpProtoUdp;
  spec.tcp_flags = static_cast<std::uint8_t>(rng());
  spec.seq = static_cast<std::uint32_t>(rng());
  spec.ack = static_cast<std::uint32_t>(rng());
  for (unsigned i = rng() % 3; i > 0; --i) {
    spec.vlans.push_back({.tpid = i == 2 ? kEtherTypeQinQ : kEtherTypeVlan,
                          .tci = static_cast<std::uint16_t>(rng() & 0xfff)});
  }
  if (family == Family::kV4) {
    spec.ipv4_options.assign(rng() % 3 == 0 ? 4 * (1 + rng() % 5) : 0, 0x01);  // NOPs
    spec.ipv4_id = static_cast<std::uint16_t>(rng());
    spec.udp_no_checksum = rng() % 4 == 0;
  } else {
    const unsigned n = rng() % 4;
    for (unsigned i = 0; i < n; ++i) {
      const std::uint8_t type = i == 0 && rng() % 2 ? kIpProtoHopByHop
                                : rng() % 2         ? kIpProtoDestOpts
                                                    : kIpProtoRouting;
      Ipv6Extension e{.type = type, .body = std::vector<std::uint8_t>(6 + 8 * (rng() % 3))};
      if (type == kIpProtoRouting) e.body[1] = 0;  // segments left 0: not source-routed
      spec.ipv6_extensions.push_back(e);
    }
  }
  spec.payload.resize(rng() % 200);
  for (auto& b : spec.payload) b = static_cast<std::uint8_t>(rng());
  spec.min_frame_size = rng() % 4 == 0 ? 60 : 0;
  return spec;
}

TEST(RewriteTest, RandomFramesMatchBuilderVerifyAndRoundTrip) {
  std::mt19937 rng(20261123);
  for (int round = 0; round < 3000; ++round) {
    const PacketSpec spec = randomSpec(rng);
    const BuiltPacket original = buildPacket(spec);
    std::vector<std::uint8_t> frame = original.bytes;
    ParsedPacket parsed;
    ASSERT_EQ(parsePacket(frame, parsed), ParseStatus::kOk) << round;
    ASSERT_EQ(verifyPacketChecksums(frame, parsed), ChecksumStatus::kOk) << round;

    PacketSpec translated = spec;
    translated.dst = {randomAddr(rng, spec.dst.addr.family), randomPort(rng)};
    translated.src = {randomAddr(rng, spec.src.addr.family), randomPort(rng)};
    ASSERT_EQ(rewriteDestination(frame, parsed, translated.dst), RewriteStatus::kOk);
    ASSERT_EQ(rewriteSource(frame, parsed, translated.src), RewriteStatus::kOk);
    EXPECT_EQ(parsed.dst, translated.dst.addr);
    EXPECT_EQ(parsed.dport, translated.dst.port);
    EXPECT_EQ(parsed.src, translated.src.addr);
    EXPECT_EQ(parsed.sport, translated.src.port);

    ASSERT_EQ(frame, buildPacket(translated).bytes) << "round " << round;

    // Both sides in one call (one checksum update): the same bytes and the same view.
    std::vector<std::uint8_t> both = original.bytes;
    ParsedPacket both_parsed;
    ASSERT_EQ(parsePacket(both, both_parsed), ParseStatus::kOk);
    ASSERT_EQ(rewriteEndpoints(both, both_parsed, &translated.src, &translated.dst),
              RewriteStatus::kOk);
    ASSERT_EQ(both, frame) << "round " << round;
    EXPECT_EQ(both_parsed.src, parsed.src);
    EXPECT_EQ(both_parsed.sport, parsed.sport);
    EXPECT_EQ(both_parsed.dst, parsed.dst);
    EXPECT_EQ(both_parsed.dport, parsed.dport);
    ParsedPacket reparsed;
    ASSERT_EQ(parsePacket(frame, reparsed), ParseStatus::kOk);
    EXPECT_EQ(verifyPacketChecksums(frame, reparsed), ChecksumStatus::kOk) << round;

    ASSERT_EQ(rewriteSource(frame, parsed, spec.src), RewriteStatus::kOk);
    ASSERT_EQ(rewriteDestination(frame, parsed, spec.dst), RewriteStatus::kOk);
    ASSERT_EQ(frame, original.bytes) << "round " << round;
  }
}

TEST(RewriteTest, DeltasComputedOnceGiveTheSameBytesBothWays) {
  // A connection's deltas, computed once from its tuples, applied to many frames of it: each
  // must come out exactly as the builder makes it, and the inverse must restore the original.
  std::mt19937 rng(1624);
  for (int round = 0; round < 3000; ++round) {
    const PacketSpec spec = randomSpec(rng);
    const BuiltPacket original = buildPacket(spec);
    PacketSpec translated = spec;
    translated.src = {randomAddr(rng, spec.src.addr.family), randomPort(rng)};
    translated.dst = {randomAddr(rng, spec.dst.addr.family), randomPort(rng)};
    if (rng() % 4 == 0) translated.src = spec.src;  // a destination-only translation
    const ChecksumDeltas deltas =
        translationDeltas(spec.src, spec.dst, translated.src, translated.dst);

    std::vector<std::uint8_t> frame = original.bytes;
    ParsedPacket parsed;
    ASSERT_EQ(parsePacket(frame, parsed), ParseStatus::kOk);
    ASSERT_EQ(rewriteWithDeltas(frame, parsed, translated.src, translated.dst, deltas),
              RewriteStatus::kOk);
    ASSERT_EQ(frame, buildPacket(translated).bytes) << "round " << round;
    EXPECT_EQ(parsed.src, translated.src.addr);
    EXPECT_EQ(parsed.sport, translated.src.port);
    EXPECT_EQ(parsed.dst, translated.dst.addr);
    EXPECT_EQ(parsed.dport, translated.dst.port);

    EXPECT_EQ(deltas.inverse(),
              translationDeltas(translated.src, translated.dst, spec.src, spec.dst));
    ASSERT_EQ(rewriteWithDeltas(frame, parsed, spec.src, spec.dst, deltas.inverse()),
              RewriteStatus::kOk);
    ASSERT_EQ(frame, original.bytes) << "round " << round;
  }
}

TEST(RewriteTest, DeltasRefuseWhatRewritesRefuse) {
  PacketSpec spec{};
  spec.src = {v4("10.0.0.1"), 1000};
  spec.dst = {v4("10.0.0.2"), 80};
  spec.protocol = kIpProtoTcp;
  std::vector<std::uint8_t> frame = buildPacket(spec).bytes;
  const std::vector<std::uint8_t> before = frame;
  ParsedPacket parsed;
  ASSERT_EQ(parsePacket(frame, parsed), ParseStatus::kOk);
  const Endpoint v6_dst{v6("2001:db8::1"), 80};
  EXPECT_EQ(rewriteWithDeltas(frame, parsed, spec.src, v6_dst, ChecksumDeltas{}),
            RewriteStatus::kFamilyMismatch);
  ParsedPacket lying = parsed;
  lying.l4_offset = static_cast<std::uint32_t>(frame.size()) - 4;
  EXPECT_EQ(rewriteWithDeltas(frame, lying, spec.src, spec.dst, ChecksumDeltas{}),
            RewriteStatus::kOutOfBounds);
  EXPECT_EQ(frame, before);
}

TEST(RewriteTest, BothSidesRefusedWritesNothing) {
  // One side of the wrong family refuses the whole rewrite, the valid side included.
  BuiltPacket b = buildPacket({.payload = {1, 2, 3}});
  const std::vector<std::uint8_t> original = b.bytes;
  ParsedPacket parsed;
  ASSERT_EQ(parsePacket(b.bytes, parsed), ParseStatus::kOk);
  const Endpoint good{v4("169.254.77.1"), 15001};
  const Endpoint wrong_family{v6("2001:db8::1"), 15001};
  EXPECT_EQ(rewriteEndpoints(b.bytes, parsed, &good, &wrong_family),
            RewriteStatus::kFamilyMismatch);
  EXPECT_EQ(rewriteEndpoints(b.bytes, parsed, &wrong_family, &good),
            RewriteStatus::kFamilyMismatch);
  EXPECT_EQ(b.bytes, original);
  // Neither side: nothing to do, nothing written.
  EXPECT_EQ(rewriteEndpoints(b.bytes, parsed, nullptr, nullptr), RewriteStatus::kOk);
  EXPECT_EQ(b.bytes, original);
}

TEST(RewriteTest, UdpIpv4WithoutChecksumKeepsZero) {
  BuiltPacket b = buildPacket({.protocol = kIpProtoUdp, .udp_no_checksum = true, .payload = {1}});
  ParsedPacket parsed;
  ASSERT_EQ(parsePacket(b.bytes, parsed), ParseStatus::kOk);
  ASSERT_EQ(rewriteDestination(b.bytes, parsed, {v4("169.254.77.1"), 15001}), RewriteStatus::kOk);
  EXPECT_EQ(b.bytes[b.l4_offset + 6], 0);
  EXPECT_EQ(b.bytes[b.l4_offset + 7], 0);
  EXPECT_EQ(verifyPacketChecksums(b.bytes, parsed), ChecksumStatus::kOk);
}

TEST(RewriteTest, UdpComputedZeroIsSentAsOnes) {
  // Over all 65536 destination ports, exactly the port whose checksum computes to 0 must be
  // written 0xffff; none may be written 0 (which would mean "no checksum").
  for (const Family family : {Family::kV4, Family::kV6}) {
    const PacketSpec spec = family == Family::kV4
                                ? PacketSpec{.protocol = kIpProtoUdp, .payload = {0xde, 0xad}}
                                : PacketSpec{.src = {v6("2001:db8::1"), 53},
                                             .dst = {v6("2001:db8::2"), 53},
                                             .protocol = kIpProtoUdp,
                                             .payload = {0xbe, 0xef}};
    const BuiltPacket b = buildPacket(spec);
    int ones = 0;
    for (std::uint32_t port = 0; port <= 0xffff; ++port) {
      std::vector<std::uint8_t> frame = b.bytes;
      ParsedPacket parsed;
      ASSERT_EQ(parsePacket(frame, parsed), ParseStatus::kOk);
      ASSERT_EQ(
          rewriteDestination(frame, parsed, {spec.dst.addr, static_cast<std::uint16_t>(port)}),
          RewriteStatus::kOk);
      const std::uint16_t sum =
          static_cast<std::uint16_t>(frame[b.l4_offset + 6] << 8 | frame[b.l4_offset + 7]);
      ASSERT_NE(sum, 0) << "port " << port;
      ASSERT_EQ(verifyPacketChecksums(frame, parsed), ChecksumStatus::kOk) << "port " << port;
      ones += sum == 0xffff;
    }
    EXPECT_EQ(ones, 1);
  }
}

TEST(RewriteTest, FirstFragmentIsRewrittenLikeTheBuilder) {
  const PacketSpec spec{.ipv4_flags_fragment = 0x2000, .payload = std::vector<std::uint8_t>(24, 3)};
  BuiltPacket b = buildPacket(spec);
  ParsedPacket parsed;
  ASSERT_EQ(parsePacket(b.bytes, parsed), ParseStatus::kOk);
  ASSERT_EQ(parsed.fragment, FragmentKind::kFirst);
  PacketSpec translated = spec;
  translated.dst = {v4("192.0.2.9"), 8443};
  ASSERT_EQ(rewriteDestination(b.bytes, parsed, translated.dst), RewriteStatus::kOk);
  EXPECT_EQ(b.bytes, buildPacket(translated).bytes);
}

struct RefusedCase {
  std::string name{};
  PacketSpec spec{};
  Endpoint endpoint{};
  RewriteStatus expected;
  std::size_t cut = 0;  // bytes removed from the frame's end after parsing
};

class RewriteRefusedTest : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(RewriteRefusedTest, LeavesTheFrameUnchanged) {
  const RefusedCase& c = GetParam();
  const BuiltPacket b = buildPacket(c.spec);
  std::vector<std::uint8_t> frame = b.bytes;
  ParsedPacket parsed;
  ASSERT_EQ(parsePacket(frame, parsed), ParseStatus::kOk);
  const std::span<std::uint8_t> view(frame.data(), frame.size() - c.cut);
  const ParsedPacket before = parsed;
  EXPECT_EQ(rewriteDestination(view, parsed, c.endpoint), c.expected);
  EXPECT_EQ(rewriteSource(view, parsed, c.endpoint), c.expected);
  EXPECT_EQ(frame, b.bytes);
  EXPECT_EQ(parsed.dst, before.dst);
  EXPECT_EQ(parsed.src, before.src);
}

std::vector<std::uint8_t> laterFragmentBody() {
  return {0x00, 0x18, 0, 0, 0, 1};
}

INSTANTIATE_TEST_SUITE_P(
    Cases,
    RewriteRefusedTest,
    ::testing::Values(
        RefusedCase{"FamilyMismatch", {}, {v6("::1"), 1}, RewriteStatus::kFamilyMismatch},
        RefusedCase{"Icmp",
                    {.protocol = kIpProtoIcmp},
                    {v4("10.9.9.9"), 1},
                    RewriteStatus::kUnsupportedProtocol},
        RefusedCase{
            "Gre", {.protocol = 47}, {v4("10.9.9.9"), 1}, RewriteStatus::kUnsupportedProtocol},
        RefusedCase{"LaterFragment",
                    {.ipv4_flags_fragment = 10, .payload = {1, 2, 3, 4}},
                    {v4("10.9.9.9"), 1},
                    RewriteStatus::kLaterFragment},
        RefusedCase{"Ipv6LaterFragment",
                    {.src = {v6("2001:db8::1"), 1},
                     .dst = {v6("2001:db8::2"), 2},
                     .ipv6_extensions = {{.type = kIpProtoFragment, .body = laterFragmentBody()}}},
                    {v6("2001:db8::3"), 1},
                    RewriteStatus::kLaterFragment},
        RefusedCase{"SourceRouted",
                    {.src = {v6("2001:db8::1"), 1},
                     .dst = {v6("2001:db8::2"), 2},
                     .ipv6_extensions = {{.type = kIpProtoRouting, .body = {0, 1}}}},
                    {v6("2001:db8::3"), 1},
                    RewriteStatus::kSourceRouted},
        RefusedCase{"FrameShorterThanParsed",
                    {.payload = {}},
                    {v4("10.9.9.9"), 1},
                    RewriteStatus::kOutOfBounds,
                    1}),
    [](const auto& info) { return info.param.name; });

TEST(RewriteTest, MacAddresses) {
  BuiltPacket b = buildPacket({});
  const MacAddr dst{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  const MacAddr src{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  const std::vector<std::uint8_t> rest(b.bytes.begin() + 12, b.bytes.end());
  ASSERT_TRUE(setDstMac(b.bytes, dst));
  ASSERT_TRUE(setSrcMac(b.bytes, src));
  EXPECT_EQ(readDstMac(b.bytes), dst);
  EXPECT_EQ(readSrcMac(b.bytes), src);
  EXPECT_EQ(std::vector<std::uint8_t>(b.bytes.begin() + 12, b.bytes.end()), rest);

  std::vector<std::uint8_t> short_frame(13, 0x77);
  EXPECT_FALSE(setDstMac(short_frame, dst));
  EXPECT_FALSE(setSrcMac(short_frame, src));
  EXPECT_EQ(short_frame, std::vector<std::uint8_t>(13, 0x77));
}

}  // namespace
}  // namespace xredir
