// packet_parse_fuzz: parses arbitrary bytes as an Ethernet frame. Input layout: 36 control bytes
// (new destination: 16 address bytes + 2 port bytes; new source: the same), then the frame.
// Whatever the parser accepts must lie inside the frame; when the frame's checksums verify,
// rewriting destination then source to the control endpoints must keep them verifying, and
// rewriting back must restore the original bytes (see restoredExactly); when they do not
// verify, recomputing them must make them verify. Any violation aborts.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "xredir/packet.h"
#include "xredir/packet_checksum.h"
#include "xredir/packet_meta.h"
#include "xredir/packet_rewrite.h"

namespace {

constexpr std::size_t kControlSize = 36;

xredir::Endpoint endpointFrom(const std::uint8_t* p, xredir::Family family) {
  xredir::Endpoint ep;
  ep.addr.family = family;
  std::memcpy(ep.addr.bytes.data(), p, family == xredir::Family::kV4 ? 4 : 16);
  ep.port = static_cast<std::uint16_t>(p[16] << 8 | p[17]);
  return ep;
}

void check(bool ok) {
  if (!ok) std::abort();
}

// restoredExactly compares the frame after a rewrite and its reverse with the original. The one
// tolerated difference: a checksum field that held 0xffff where a full computation gives 0 (the
// two zeros of one's complement, both valid) comes back as 0; RFC 1624 eqn. 3 is exact only
// for checksums a full computation can produce.
bool restoredExactly(const std::vector<std::uint8_t>& original,
                     std::vector<std::uint8_t> restored,
                     const xredir::ParsedPacket& parsed) {
  const std::size_t l4_field = parsed.l4_offset + (parsed.protocol == xredir::kIpProtoTcp ? 16 : 6);
  for (const std::size_t at : {std::size_t{parsed.l3_offset} + 10, l4_field}) {
    if (parsed.family == xredir::Family::kV6 && at == parsed.l3_offset + 10) continue;
    if (original[at] == 0xff && original[at + 1] == 0xff && restored[at] == 0 &&
        restored[at + 1] == 0) {
      restored[at] = restored[at + 1] = 0xff;
    }
  }
  return restored == original;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xredir;
  if (size < kControlSize) return 0;
  std::vector<std::uint8_t> frame(data + kControlSize, data + size);
  ParsedPacket parsed;
  if (parsePacket(frame, parsed) != ParseStatus::kOk) return 0;

  check(parsed.l3_offset <= parsed.l4_offset && parsed.l4_offset <= parsed.payload_offset &&
        parsed.payload_offset <= parsed.l3_end && parsed.l3_end <= frame.size());
  const PacketMeta meta = packetMetaFromParsed(parsed);
  check(meta.later_fragment == (parsed.fragment == FragmentKind::kLater));

  const ChecksumStatus before = verifyPacketChecksums(frame, parsed);
  if (before != ChecksumStatus::kOk && before != ChecksumStatus::kNotVerifiable) {
    // A frame with wrong checksums: recomputing must make every checksum it can fix verify.
    const bool fixed = recomputePacketChecksums(frame, parsed);
    check(fixed || before == ChecksumStatus::kBadIpv4Header);
    if (fixed) check(verifyPacketChecksums(frame, parsed) == ChecksumStatus::kOk);
    return 0;
  }

  const std::vector<std::uint8_t> original = frame;
  const Endpoint old_dst{parsed.dst, parsed.dport};
  const Endpoint old_src{parsed.src, parsed.sport};
  const Endpoint new_dst = endpointFrom(data, parsed.family);
  const Endpoint new_src = endpointFrom(data + 18, parsed.family);
  const RewriteStatus d = rewriteDestination(frame, parsed, new_dst);
  if (d != RewriteStatus::kOk) {
    check(frame == original);
    return 0;
  }
  check(rewriteSource(frame, parsed, new_src) == RewriteStatus::kOk);

  // Both sides in one rewrite (one checksum update) gives the same bytes as the two above.
  std::vector<std::uint8_t> both = original;
  ParsedPacket both_parsed;
  check(parsePacket(both, both_parsed) == ParseStatus::kOk);
  check(rewriteEndpoints(both, both_parsed, &new_src, &new_dst) == RewriteStatus::kOk);
  check(both == frame);

  ParsedPacket reparsed;
  check(parsePacket(frame, reparsed) == ParseStatus::kOk);
  check(reparsed.dst == new_dst.addr && reparsed.dport == new_dst.port);
  check(reparsed.src == new_src.addr && reparsed.sport == new_src.port);
  check(verifyPacketChecksums(frame, reparsed) == before);

  check(rewriteSource(frame, parsed, old_src) == RewriteStatus::kOk);
  check(rewriteDestination(frame, parsed, old_dst) == RewriteStatus::kOk);
  check(restoredExactly(original, frame, parsed));

  MacAddr mac;
  std::memcpy(mac.data(), data + 4, mac.size());
  check(setDstMac(frame, mac) && setSrcMac(frame, mac));
  check(readDstMac(frame) == mac && readSrcMac(frame) == mac);
  return 0;
}
