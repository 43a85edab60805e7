// The flow hasher's seed expansion (the tuple and the per-packet hashing are inline in the
// header).
#include "xredir/conntrack_tuple.h"

namespace xredir {
namespace {

// splitmix64 expands the one configured seed into the four words the mixer uses.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

FlowHasher::FlowHasher(std::uint64_t seed) {
  std::uint64_t state = seed;
  for (auto& word : seed_) word = splitmix64(state);
}

}  // namespace xredir
