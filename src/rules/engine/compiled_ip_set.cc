// compiled_ip_set.cc: building and probing the hashed ipset.
#include "rules/engine/compiled_ip_set.h"

namespace xredir::engine {

namespace {

std::uint64_t shapeWord(Family family, std::uint8_t prefix_len) {
  return (static_cast<std::uint64_t>(family) << 8) | prefix_len;
}

}  // namespace

CompiledIpSet::CompiledIpSet(const IpSet& set) {
  for (const Cidr& member : set.members) {
    bool known = false;
    for (const Shape& s : shapes_) {
      known = known || (s.family == member.addr.family && s.prefix_len == member.prefix_len);
    }
    if (!known) {
      shapes_.push_back(
          Shape{member.addr.family, member.prefix_len, prefixMaskWords(member.prefix_len)});
    }
    // Cidr::contains compares the masked packet address with the stored one as it is, so a
    // member whose host bits are set (never produced by parseCidr) can never match: keep it
    // unmasked here too, so that both answers agree.
    const AddrWords w = addrWords(member.addr);
    members_.insert(Key{w[0], w[1], shapeWord(member.addr.family, member.prefix_len)});
  }
}

bool CompiledIpSet::contains(const IpAddr& addr) const {
  const AddrWords w = addrWords(addr);
  for (const Shape& s : shapes_) {
    if (s.family != addr.family) continue;
    const Key key{w[0] & s.mask[0], w[1] & s.mask[1], shapeWord(s.family, s.prefix_len)};
    if (members_.count(key) != 0) return true;
  }
  return false;
}

}  // namespace xredir::engine
