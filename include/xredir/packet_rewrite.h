// packet_rewrite.h owns the NAT rewrites the datapath applies to a parsed frame in place:
// destination or source address and port, with the IPv4 header checksum and the TCP/UDP
// checksum fixed incrementally (RFC 1624), and the Ethernet addresses. These run per packet at
// tens of Mpps: no allocation, no loop over the payload, only a handful of header bytes touched,
// and never a byte outside the frame.
//
// Precondition for every rewrite: the frame's L4 checksum is complete. A frame whose checksum
// is partial (CHECKSUM_PARTIAL, e.g. from a veth peer with TX checksum offload) holds only the
// pseudo-header sum; updating it incrementally gives a wrong result. Such frames need
// recomputePacketChecksums (packet_checksum.h) after the rewrite instead.
#pragma once

#include <cstdint>
#include <span>

#include "xredir/ip_addr.h"
#include "xredir/packet.h"

namespace xredir {

// RewriteStatus is the outcome of a rewrite. The zero value is not a status. On any status but
// kOk the frame is unchanged.
enum class RewriteStatus : std::uint8_t {
  kOk = 1,
  kFamilyMismatch,       // the new address is not of the packet's family
  kUnsupportedProtocol,  // not TCP or UDP (ICMP and others carry no ports to translate)
  kLaterFragment,        // a non-first fragment: it has no transport header to rewrite
  kSourceRouted,         // IPv6 routing header with segments left: the pseudo-header
                         // destination is in the routing header, not rewritten here
  kOutOfBounds,          // the frame is shorter than `parsed` says (parsed from another frame)
};

// rewriteDestination sets the destination address and port of a parsed TCP or UDP frame to
// `new_dst` and updates the IPv4 header checksum (IPv4) and the transport checksum
// incrementally; UDP over IPv4 with checksum 0 keeps 0, a UDP result of 0 is written 0xffff.
// On kOk `parsed.dst` and `parsed.dport` are updated to match the frame. First fragments are
// rewritten (their checksum covers the whole datagram, so the incremental update stays right).
// Precondition: `parsed` came from parsePacket(frame) == kOk; the L4 checksum is complete.
[[nodiscard]] RewriteStatus rewriteDestination(std::span<std::uint8_t> frame,
                                               ParsedPacket& parsed,
                                               const Endpoint& new_dst);

// rewriteSource is rewriteDestination for the source address and port.
[[nodiscard]] RewriteStatus rewriteSource(std::span<std::uint8_t> frame,
                                          ParsedPacket& parsed,
                                          const Endpoint& new_src);

// rewriteEndpoints sets both sides at once, with one update of each checksum: the NAT step's
// rewrite when a connection's destination and its source port both change. A null endpoint is
// left as it is. On any status but kOk nothing was written.
[[nodiscard]] RewriteStatus rewriteEndpoints(std::span<std::uint8_t> frame,
                                             ParsedPacket& parsed,
                                             const Endpoint* new_src,
                                             const Endpoint* new_dst);

// setDstMac and setSrcMac overwrite the Ethernet addresses. Return false, changing nothing,
// when the frame is shorter than an Ethernet header.
bool setDstMac(std::span<std::uint8_t> frame, const MacAddr& mac);
bool setSrcMac(std::span<std::uint8_t> frame, const MacAddr& mac);

}  // namespace xredir
