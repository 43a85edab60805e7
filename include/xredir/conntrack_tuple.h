// conntrack_tuple.h owns the identity of a flow in one direction: the 5-tuple (family, protocol,
// source and destination address and port) that conntrack indexes, its direction relative to the
// connection that owns it, and the seeded hash that places it in the table. The hash is
// symmetric — a tuple and its inverse hash alike — so the original and reply tuples of an
// untranslated connection land in the same shard by construction; translated connections pick
// their reply tuple so that it does too (see conntrack_table.h).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

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

  // fromEndpoints builds a tuple. Precondition: src and dst share a family. (Inline, as is
  // inverted: both run once or twice per packet.)
  static FlowTuple fromEndpoints(std::uint8_t protocol, const Endpoint& src, const Endpoint& dst) {
    FlowTuple t;
    t.src_addr = src.addr.bytes;
    t.dst_addr = dst.addr.bytes;
    t.src_port = src.port;
    t.dst_port = dst.port;
    t.protocol = protocol;
    t.family = src.addr.family;
    return t;
  }
  Endpoint src() const { return Endpoint{IpAddr{src_addr, family}, src_port}; }
  Endpoint dst() const { return Endpoint{IpAddr{dst_addr, family}, dst_port}; }
  // inverted swaps source and destination: the tuple a reply would carry without NAT.
  FlowTuple inverted() const {
    FlowTuple t = *this;
    t.src_addr = dst_addr;
    t.dst_addr = src_addr;
    t.src_port = dst_port;
    t.dst_port = src_port;
    return t;
  }

  friend bool operator==(const FlowTuple&, const FlowTuple&) = default;
};
static_assert(sizeof(FlowTuple) == 40, "FlowTuple is hashed as five 64-bit words");

// sameAddr compares two 16-byte addresses as two 64-bit words. std::array's == calls memcmp,
// which the per-packet path paid for as a library call on every comparison.
inline bool sameAddr(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b) {
  std::uint64_t a0;
  std::uint64_t a1;
  std::uint64_t b0;
  std::uint64_t b1;
  std::memcpy(&a0, a.data(), 8);
  std::memcpy(&a1, a.data() + 8, 8);
  std::memcpy(&b0, b.data(), 8);
  std::memcpy(&b1, b.data() + 8, 8);
  return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

namespace tuple_detail {
// mum is wyhash's mixing step: the 128-bit product of two words, folded by xor. A 64-bit
// multiply that keeps the high half diffuses every input bit into the result at the cost of
// one mulq.
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
// wyhash's default secret constants: odd, with balanced bits.
constexpr std::uint64_t kP0 = 0xa0761d6478bd642fULL;
constexpr std::uint64_t kP1 = 0xe7037ed1a0b428dbULL;
}  // namespace tuple_detail

// FlowHasher hashes tuples with a per-table seed, so that a remote peer who does not know the
// seed cannot aim many flows at one shard or one probe sequence. The mixing is a 64x64->128-bit
// multiply fold (wyhash's "mum"), a few nanoseconds per tuple; it is not a cryptographic PRF.
class FlowHasher {
 public:
  explicit FlowHasher(std::uint64_t seed);

  // endpointHash mixes one endpoint (address bytes, port). tupleHash combines the two endpoint
  // hashes with '+', which is what makes tupleHash(t) == tupleHash(t.inverted()). Inline:
  // every packet hashes its tuple at least once.
  std::uint64_t endpointHash(const std::array<std::uint8_t, 16>& addr, std::uint16_t port) const {
    std::uint64_t a0;
    std::uint64_t a1;
    std::memcpy(&a0, addr.data(), 8);
    std::memcpy(&a1, addr.data() + 8, 8);
    const std::uint64_t h =
        tuple_detail::mum(a0 ^ seed_[0] ^ tuple_detail::kP0, a1 ^ seed_[1] ^ tuple_detail::kP1);
    return tuple_detail::mum(h ^ port ^ seed_[2], tuple_detail::kP1 ^ seed_[3]);
  }
  std::uint64_t combine(std::uint64_t src_hash,
                        std::uint64_t dst_hash,
                        std::uint8_t protocol,
                        Family family) const {
    // '+' is commutative: hash(t) == hash(t.inverted()), by design (see above).
    const std::uint64_t sum = src_hash + dst_hash;
    const std::uint64_t kind =
        (static_cast<std::uint64_t>(protocol) << 8) | static_cast<std::uint64_t>(family);
    return tuple_detail::mum(sum ^ seed_[3], kind ^ tuple_detail::kP0 ^ seed_[0]);
  }
  std::uint64_t tupleHash(const FlowTuple& t) const {
    return combine(endpointHash(t.src_addr, t.src_port), endpointHash(t.dst_addr, t.dst_port),
                   t.protocol, t.family);
  }

 private:
  std::array<std::uint64_t, 4> seed_;
};

}  // namespace xredir
