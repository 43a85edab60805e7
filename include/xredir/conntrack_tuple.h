// conntrack_tuple.h owns the identity of a flow in one direction: the 5-tuple (family, protocol,
// source and destination address and port) that conntrack indexes, its direction relative to the
// connection that owns it, and the seeded hash that places it in the table. The hash is
// symmetric — a tuple and its inverse hash alike — so the original and reply tuples of an
// untranslated connection land in the same shard by construction; translated connections pick
// their reply tuple so that it does too (see conntrack_table.h).
#pragma once

#include <array>
#include <cstdint>

#include "xredir/ip_addr.h"

namespace xredir {

// Direction of a packet relative to the connection it belongs to (Linux IP_CT_DIR_*).
enum class Direction : std::uint8_t { kOriginal = 0, kReply = 1 };

// FlowTuple is one direction of a connection. Ports are host order. IPv4 addresses use bytes
// 0..3 of the 16 (as IpAddr). `reserved` stays zero so the tuple is 40 bytes with no
// indeterminate padding: equality and hashing may treat it as five 64-bit words.
struct FlowTuple {
  std::array<std::uint8_t, 16> src_addr{};
  std::array<std::uint8_t, 16> dst_addr{};
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t protocol = 0;
  Family family = Family::kV4;
  std::uint16_t reserved = 0;

  // fromEndpoints builds a tuple. Precondition: src and dst share a family.
  static FlowTuple fromEndpoints(std::uint8_t protocol, const Endpoint& src, const Endpoint& dst);
  Endpoint src() const { return Endpoint{IpAddr{family, src_addr}, src_port}; }
  Endpoint dst() const { return Endpoint{IpAddr{family, dst_addr}, dst_port}; }
  // inverted swaps source and destination: the tuple a reply would carry without NAT.
  FlowTuple inverted() const;

  friend bool operator==(const FlowTuple&, const FlowTuple&) = default;
};
static_assert(sizeof(FlowTuple) == 40, "FlowTuple is hashed as five 64-bit words");

// FlowHasher hashes tuples with a per-table seed, so that a remote peer who does not know the
// seed cannot aim many flows at one shard or one probe sequence. The mixing is a 64x64->128-bit
// multiply fold (wyhash's "mum"), a few nanoseconds per tuple; it is not a cryptographic PRF.
class FlowHasher {
 public:
  explicit FlowHasher(std::uint64_t seed);

  // endpointHash mixes one endpoint (address bytes, port). tupleHash combines the two endpoint
  // hashes with '+', which is what makes tupleHash(t) == tupleHash(t.inverted()).
  std::uint64_t endpointHash(const std::array<std::uint8_t, 16>& addr, std::uint16_t port) const;
  std::uint64_t combine(std::uint64_t src_hash,
                        std::uint64_t dst_hash,
                        std::uint8_t protocol,
                        Family family) const;
  std::uint64_t tupleHash(const FlowTuple& t) const {
    return combine(endpointHash(t.src_addr, t.src_port), endpointHash(t.dst_addr, t.dst_port),
                   t.protocol, t.family);
  }

 private:
  std::array<std::uint64_t, 4> seed_;
};

}  // namespace xredir
