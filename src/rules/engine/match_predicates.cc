// match_predicates.cc: one function per match module; see match_predicates.h for the contracts.
#include "rules/engine/match_predicates.h"

namespace xredir::engine {

bool protocolMatches(const Rule& rule, const PacketMeta& p) {
  // ip_packet_match: protocol 0 (`-p all`) matches every packet, inverted or not.
  if (!rule.protocol || *rule.protocol == 0) return true;
  return (p.protocol == *rule.protocol) != rule.protocol_invert;
}

bool addrMatches(const AddrMatch& m, const IpAddr& addr) {
  return m.cidr.contains(addr) != m.invert;
}

bool ifaceMatches(const IfaceMatch& m, std::string_view iface) {
  // ip_packet_match compares the name under a mask: the whole name plus its NUL for an exact
  // name, only the prefix for `name+`.
  const bool hit = m.wildcard ? iface.substr(0, m.name.size()) == m.name : iface == m.name;
  return hit != m.invert;
}

bool portInRanges(const PortMatch& m, std::uint16_t port) {
  for (const PortRange& r : m.ranges) {
    if (port >= r.first && port <= r.last) return true;
  }
  return false;
}

bool portMatches(const PortMatch& m, std::uint16_t port, bool later_fragment) {
  if (later_fragment) return false;
  return portInRanges(m, port) != m.invert;
}

bool eitherPortMatches(const PortMatch& m, const PacketMeta& p) {
  if (p.later_fragment) return false;
  return (portInRanges(m, p.sport) || portInRanges(m, p.dport)) != m.invert;
}

bool tcpFlagsMatches(const TcpFlagsMatch& m, const PacketMeta& p) {
  if (p.later_fragment) return false;
  return ((p.tcp_flags & m.mask) == m.comp) != m.invert;
}

bool addrTypeMatches(const AddrTypeMatch& m, const PacketMeta& p, const EvalContext& ctx) {
  // addrtype_mt_v1: the interface limit applies to both tests; in wins over out.
  std::string_view iface;
  if (m.limit_iface_in) {
    iface = p.in_iface;
  } else if (m.limit_iface_out) {
    iface = p.out_iface;
  }
  const auto type_of = [&](const IpAddr& addr) -> std::uint16_t {
    return ctx.addr_type ? ctx.addr_type(addr, iface) : 0;
  };
  if (m.src_types != 0 && ((type_of(p.src) & m.src_types) != 0) == m.src_invert) return false;
  if (m.dst_types != 0 && ((type_of(p.dst) & m.dst_types) != 0) == m.dst_invert) return false;
  return true;
}

bool ctStateMatches(const CtStateMatch& m, const PacketMeta& p) {
  return ((p.ct_state & m.states) != 0) != m.invert;
}

bool markMatches(const MarkMatch& m, std::uint32_t mark) {
  return ((mark & m.mask) == m.value) != m.invert;
}

bool ownerMatches(const OwnerMatch& m, const PacketMeta& p) {
  if (!p.uid) {
    // (info->match ^ info->invert) == 0: every option present must be inverted.
    if (m.uid && !m.uid_invert) return false;
    if (m.gid && !m.gid_invert) return false;
    if (m.socket_exists && *m.socket_exists) return false;
    return true;
  }
  if (m.socket_exists && !*m.socket_exists) return false;  // `! --socket-exists`
  if (m.uid) {
    const bool in = *p.uid >= m.uid->first && *p.uid <= m.uid->last;
    if (in == m.uid_invert) return false;
  }
  if (m.gid) {
    const bool in = p.gid && *p.gid >= m.gid->first && *p.gid <= m.gid->last;
    if (in == m.gid_invert) return false;
  }
  return true;
}

const IpAddr* setAddress(const SetMatch& m, const PacketMeta& p) {
  if (m.dims_are_src.empty()) return nullptr;
  return m.dims_are_src[0] ? &p.src : &p.dst;
}

bool isMemberLinear(const IpSet* set, const IpAddr& addr) {
  if (set == nullptr) return false;
  for (const Cidr& c : set->members) {
    if (c.contains(addr)) return true;
  }
  return false;
}

std::uint32_t presentMatches(const Rule& r) {
  std::uint32_t m = 0;
  if (r.protocol) m |= kMatchProtocol;
  if (r.src) m |= kMatchSrc;
  if (r.dst) m |= kMatchDst;
  if (r.in_iface) m |= kMatchInIface;
  if (r.out_iface) m |= kMatchOutIface;
  if (r.sport) m |= kMatchSport;
  if (r.dport) m |= kMatchDport;
  if (r.either_port) m |= kMatchEitherPort;
  if (r.tcp_flags) m |= kMatchTcpFlags;
  if (r.addrtype) m |= kMatchAddrType;
  if (r.ctstate) m |= kMatchCtState;
  if (r.mark) m |= kMatchMark;
  if (r.owner) m |= kMatchOwner;
  if (!r.sets.empty()) m |= kMatchSets;
  return m;
}

bool statisticMatches(const StatisticMatch& m, const EvalContext& ctx, std::uint64_t count) {
  switch (m.mode) {
    case StatisticMatch::Mode::kRandom: {
      const double draw = ctx.random_unit ? ctx.random_unit() : 1.0;
      return (draw < m.probability) != m.invert;
    }
    case StatisticMatch::Mode::kNth:
      if (m.every == 0) return false;
      return (count % m.every == m.packet) != m.invert;
  }
  return false;
}

}  // namespace xredir::engine
