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

// ChecksumDeltas are what a translation adds to a packet's checksums, RFC 1624 eqn. 3's
// sum(~m) + sum(m') folded: `ip` for the IPv4 header checksum (the two addresses), `transport`
// for the TCP/UDP checksum (the addresses, through the pseudo-header, and the two ports).
// Conntrack computes them once per connection, as VPP's NAT keeps them in its flows, so that an
// established packet's rewrite adds two numbers instead of summing its fields. In the machine's
// byte order: meaningful only to rewriteWithDeltas in the same process.
struct ChecksumDeltas {
  std::uint16_t ip = 0;
  std::uint16_t transport = 0;
  // inverse is the deltas of the translation back. Exact unless every word the translation
  // back replaces is zero (all-zero addresses and ports), when it may give -0 for +0 in a
  // checksum that was 0xffff (which a computed checksum never is); both verify.
  [[nodiscard]] ChecksumDeltas inverse() const;
  friend bool operator==(const ChecksumDeltas&, const ChecksumDeltas&) = default;
};

// translationDeltas returns the deltas of rewriting a packet whose endpoints are (src, dst)
// into (to_src, to_dst). All four of one family.
[[nodiscard]] ChecksumDeltas translationDeltas(const Endpoint& src,
                                               const Endpoint& dst,
                                               const Endpoint& to_src,
                                               const Endpoint& to_dst);

// rewriteWithDeltas is rewriteEndpoints of both sides with the checksums updated by `deltas`,
// which must be translationDeltas(the frame's endpoints, new_src, new_dst): the same bytes,
// without summing the fields per packet. Same refusals as rewriteEndpoints.
[[nodiscard]] RewriteStatus rewriteWithDeltas(std::span<std::uint8_t> frame,
                                              ParsedPacket& parsed,
                                              const Endpoint& new_src,
                                              const Endpoint& new_dst,
                                              ChecksumDeltas deltas);

// setDstMac and setSrcMac overwrite the Ethernet addresses. Return false, changing nothing,
// when the frame is shorter than an Ethernet header.
bool setDstMac(std::span<std::uint8_t> frame, const MacAddr& mac);
bool setSrcMac(std::span<std::uint8_t> frame, const MacAddr& mac);

}  // namespace xredir
