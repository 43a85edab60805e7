// key_hash.h owns the fixed-width keys the compiled engine hashes (addresses as two 64-bit
// words, interface names as 64-bit digests) and the hash over them. Keys are plain word arrays
// so that equality needs no padding rules and lookups never allocate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "xredir/ip_addr.h"

namespace xredir::engine {

using AddrWords = std::array<std::uint64_t, 2>;

// addrWords packs the 16 address bytes into two words (IPv4 leaves the tail zero).
inline AddrWords addrWords(const IpAddr& a) {
  AddrWords w;
  std::memcpy(w.data(), a.bytes.data(), sizeof(w));
  return w;
}

// prefixMaskWords is the netmask of a prefix length, as addrWords of the mask bytes.
inline AddrWords prefixMaskWords(int prefix_len) {
  std::array<std::uint8_t, 16> bytes{};
  for (int i = 0; i < 16; ++i) {
    const int keep = prefix_len - i * 8;
    bytes[i] = keep >= 8 ? 0xff : keep <= 0 ? 0 : static_cast<std::uint8_t>(0xff << (8 - keep));
  }
  AddrWords w;
  std::memcpy(w.data(), bytes.data(), sizeof(w));
  return w;
}

// nameDigest is FNV-1a over an interface name; collisions only cost a rejected candidate,
// because every candidate is checked against the full rule.
inline std::uint64_t nameDigest(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// mix64 is the splitmix64/murmur3 finaliser.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// WordsHash hashes a word array for std::unordered_map/set.
template <std::size_t N>
struct WordsHash {
  std::size_t operator()(const std::array<std::uint64_t, N>& words) const {
    std::uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (const std::uint64_t w : words) h = mix64(h ^ w);
    return static_cast<std::size_t>(h);
  }
};

}  // namespace xredir::engine
