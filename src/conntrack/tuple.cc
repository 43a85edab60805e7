// The flow tuple and its seeded symmetric hash.
#include "xredir/conntrack_tuple.h"

#include <cstring>

namespace xredir {
namespace {

// mum is wyhash's mixing step: the 128-bit product of two words, folded by xor. A 64-bit
// multiply that keeps the high half diffuses every input bit into the result at the cost of
// one mulq.
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

// splitmix64 expands the one configured seed into the four words the mixer uses.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// wyhash's default secret constants: odd, with balanced bits.
constexpr std::uint64_t kP0 = 0xa0761d6478bd642fULL;
constexpr std::uint64_t kP1 = 0xe7037ed1a0b428dbULL;

}  // namespace

FlowTuple FlowTuple::fromEndpoints(std::uint8_t protocol,
                                   const Endpoint& src,
                                   const Endpoint& dst) {
  FlowTuple t;
  t.src_addr = src.addr.bytes;
  t.dst_addr = dst.addr.bytes;
  t.src_port = src.port;
  t.dst_port = dst.port;
  t.protocol = protocol;
  t.family = src.addr.family;
  return t;
}

FlowTuple FlowTuple::inverted() const {
  FlowTuple t = *this;
  t.src_addr = dst_addr;
  t.dst_addr = src_addr;
  t.src_port = dst_port;
  t.dst_port = src_port;
  return t;
}

FlowHasher::FlowHasher(std::uint64_t seed) {
  std::uint64_t state = seed;
  for (auto& word : seed_) word = splitmix64(state);
}

std::uint64_t FlowHasher::endpointHash(const std::array<std::uint8_t, 16>& addr,
                                       std::uint16_t port) const {
  std::uint64_t a0;
  std::uint64_t a1;
  std::memcpy(&a0, addr.data(), 8);
  std::memcpy(&a1, addr.data() + 8, 8);
  const std::uint64_t h = mum(a0 ^ seed_[0] ^ kP0, a1 ^ seed_[1] ^ kP1);
  return mum(h ^ port ^ seed_[2], kP1 ^ seed_[3]);
}

std::uint64_t FlowHasher::combine(std::uint64_t src_hash,
                                  std::uint64_t dst_hash,
                                  std::uint8_t protocol,
                                  Family family) const {
  // '+' is commutative: hash(t) == hash(t.inverted()), by design (see the header).
  const std::uint64_t sum = src_hash + dst_hash;
  const std::uint64_t kind =
      (static_cast<std::uint64_t>(protocol) << 8) | static_cast<std::uint64_t>(family);
  return mum(sum ^ seed_[3], kind ^ kP0 ^ seed_[0]);
}

}  // namespace xredir
