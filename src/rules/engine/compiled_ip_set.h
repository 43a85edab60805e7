// compiled_ip_set.h owns the hashed form of an ipset (hash:net, hash:ip) used by the compiled
// engine: one hash set of masked addresses per distinct prefix length, so that a lookup costs
// one probe per prefix length instead of one comparison per member.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "rules/engine/key_hash.h"
#include "xredir/rule_model.h"

namespace xredir::engine {

class CompiledIpSet {
 public:
  explicit CompiledIpSet(const IpSet& set);

  // contains reports whether any member prefix contains addr: the same answer as
  // isMemberLinear (match_predicates.h) over the set's members.
  bool contains(const IpAddr& addr) const;

 private:
  // Key: the masked address words and (family << 8 | prefix length).
  using Key = std::array<std::uint64_t, 3>;
  struct Shape {
    Family family;
    std::uint8_t prefix_len;
    AddrWords mask;
  };
  std::vector<Shape> shapes_;
  std::unordered_set<Key, WordsHash<3>> members_;
};

}  // namespace xredir::engine
