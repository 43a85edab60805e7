// packet_checksum.h owns the checksums of a whole parsed frame: verifying the IPv4 header and
// TCP/UDP checksums a frame carries, and recomputing them from scratch. The datapath uses the
// recompute when a frame's L4 checksum is only partial (CHECKSUM_PARTIAL from a veth peer's TX
// offload), where an incremental update (packet_rewrite.h) would be wrong; tests and the fuzz
// target use the verifier as the oracle for rewrites. Both make a pass over the payload.
#pragma once

#include <cstdint>
#include <span>

#include "xredir/packet.h"

namespace xredir {

// ChecksumStatus is the outcome of verifyPacketChecksums. The zero value is not a status.
enum class ChecksumStatus : std::uint8_t {
  kOk = 1,         // every checksum the frame carries verifies
  kBadIpv4Header,  // the IPv4 header checksum is wrong
  kBadTransport,   // the transport checksum is wrong (IPv6 UDP with 0 counts as wrong)
  kNotVerifiable,  // a fragment or a source-routed IPv6 packet: the L4 sum cannot be checked
                   // here (the IPv4 header checksum, if any, did verify)
};

// verifyPacketChecksums checks the IPv4 header checksum and, for TCP, UDP, ICMP and ICMPv6
// datagrams that are whole and not source-routed, the transport checksum over
// [l4_offset, l3_end). UDP over IPv4 with checksum 0 ("no checksum") verifies. Other protocols'
// checksums are not checked.
// Precondition: `parsed` came from parsePacket(frame) returning kOk.
[[nodiscard]] ChecksumStatus verifyPacketChecksums(std::span<const std::uint8_t> frame,
                                                   const ParsedPacket& parsed);

// recomputePacketChecksums writes a correct IPv4 header checksum and, for whole TCP, UDP, ICMP
// and ICMPv6 datagrams that are not source-routed, a correct transport checksum (UDP over IPv4 with
// 0 stays 0; a computed UDP 0 is written as 0xffff). Returns false, changing nothing, when the
// transport checksum cannot be computed here (fragments, source-routed IPv6).
// Precondition: `parsed` came from parsePacket(frame) returning kOk.
bool recomputePacketChecksums(std::span<std::uint8_t> frame, const ParsedPacket& parsed);

}  // namespace xredir
