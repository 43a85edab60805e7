// match_predicates.h owns the meaning of every match a rule can carry: one function per
// `-p`/`-s`/`-i`/`--dport`/`-m ...` match, shared by the reference evaluator and the compiled
// engine so that there is exactly one implementation of each. Each follows the Linux match
// module it is named after (ip_packet_match, xt_tcpudp, xt_multiport, xt_addrtype,
// xt_conntrack, xt_mark, xt_owner, xt_set, xt_statistic). Also here: the traversal constants
// and the MARK arithmetic both engines use.
#pragma once

#include <cstdint>
#include <string_view>

#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir::engine {

// kMaxJumpDepth bounds the jump stack. Linux sizes it from the table (loops are rejected at
// load) and drops the packet when a jump would overflow it (ipt_do_table's
// `stackidx >= private->stacksize` path); xredir keeps a fixed stack so that evaluation never
// allocates, and drops in the same way.
inline constexpr int kMaxJumpDepth = 256;

// protocolMatches: `[!] -p PROTO`; no -p (nullopt) and protocol 0 (`-p all`) match every
// protocol, as in ip_packet_match.
bool protocolMatches(const Rule& rule, const PacketMeta& p);
// addrMatches: `[!] -s/-d CIDR`; an address of the other family is outside the prefix.
bool addrMatches(const AddrMatch& m, const IpAddr& addr);
// ifaceMatches: `[!] -i/-o NAME[+]`; an empty name (no such interface at this hook) equals no
// exact name and starts with only the empty prefix (`-i +` matches everything).
bool ifaceMatches(const IfaceMatch& m, std::string_view iface);
// portInRanges reports whether the port lies in any of the ranges.
bool portInRanges(const PortMatch& m, std::uint16_t port);
// portMatches: `[!] --sport/--dport`. A later fragment never matches, even inverted (xt_tcpudp
// and xt_multiport return false for fragoff != 0 before looking at the invert flag).
bool portMatches(const PortMatch& m, std::uint16_t port, bool later_fragment);
// eitherPortMatches: `-m multiport [!] --ports`: source or destination port in the ranges.
bool eitherPortMatches(const PortMatch& m, const PacketMeta& p);
// tcpFlagsMatches: `[!] --tcp-flags MASK COMP`: ((flags & mask) == comp) xor invert; a later
// fragment never matches (xt_tcpudp).
bool tcpFlagsMatches(const TcpFlagsMatch& m, const PacketMeta& p);
// addrTypeMatches: `-m addrtype [!] --src-type T [!] --dst-type T [--limit-iface-in|out]`,
// asking ctx.addr_type. Without a lookup every address has type 0 (no type): a positive type
// test fails and an inverted one passes.
bool addrTypeMatches(const AddrTypeMatch& m, const PacketMeta& p, const EvalContext& ctx);
// ctStateMatches: `-m conntrack [!] --ctstate S,...`: the packet's state bit is in the set.
bool ctStateMatches(const CtStateMatch& m, const PacketMeta& p);
// markMatches: `-m mark [!] --mark V[/M]`: ((mark & M) == V) xor invert.
bool markMatches(const MarkMatch& m, std::uint32_t mark);
// ownerMatches: `-m owner` as xt_owner's owner_mt. With no local socket (nullopt uid), the
// match succeeds exactly when every option it carries is inverted ((match ^ invert) == 0), so
// `--uid-owner 0` fails and `! --uid-owner 0` passes. With a socket: `! --socket-exists`
// fails, and each uid/gid range test is xor'd with its invert flag. A socket without a gid
// (nullopt gid) is outside every gid range.
bool ownerMatches(const OwnerMatch& m, const PacketMeta& p);
// setAddress picks the address a set match looks up: the first dimension's direction
// (hash:net and hash:ip have one dimension). Returns nullptr when the match names no
// dimension, which never finds a member.
const IpAddr* setAddress(const SetMatch& m, const PacketMeta& p);
// setMatches combines a membership answer with the match's invert flag (xt_set's match_set).
inline bool setMatches(const SetMatch& m, bool member) {
  return member != m.invert;
}
// isMemberLinear answers membership by scanning the set's members (the reference's way; the
// compiled engine hashes them, see compiled_ip_set.h). A missing set has no members.
bool isMemberLinear(const IpSet* set, const IpAddr& addr);
// statisticMatches: `-m statistic`. Random mode: draw < probability, xor invert (no draw source
// means no draw ever falls below the probability). Nth mode: `count` is the rule's counter
// before this packet, which the caller increments: match when count % every == packet, xor
// invert; every == 0 never matches.
bool statisticMatches(const StatisticMatch& m, const EvalContext& ctx, std::uint64_t count);
// applyMark is the MARK target: mark = (mark & ~mask) ^ value (xt_MARK's --set-xmark).
inline std::uint32_t applyMark(const Target& t, std::uint32_t mark) {
  return (mark & ~t.mark_mask) ^ t.mark_value;
}

// MatchBit names the stateless matches a rule carries, so that a check reads only the fields
// of the matches present: a Rule spans several cache lines, and the compiled engine keeps each
// rule's mask next to its index data (see presentMatches).
enum MatchBit : std::uint32_t {
  kMatchProtocol = 1u << 0,
  kMatchSrc = 1u << 1,
  kMatchDst = 1u << 2,
  kMatchInIface = 1u << 3,
  kMatchOutIface = 1u << 4,
  kMatchSport = 1u << 5,
  kMatchDport = 1u << 6,
  kMatchEitherPort = 1u << 7,
  kMatchTcpFlags = 1u << 8,
  kMatchAddrType = 1u << 9,
  kMatchCtState = 1u << 10,
  kMatchMark = 1u << 11,
  kMatchOwner = 1u << 12,
  kMatchSets = 1u << 13,
};

// presentMatches returns the MatchBits of the stateless matches the rule carries.
std::uint32_t presentMatches(const Rule& r);

// statelessMatches checks every match of a rule except `-m statistic` (whose answer depends
// on state and is asked last, only of a rule all others accept). `present` must be
// presentMatches(r). `is_member(set_index, addr)` answers set membership for
// rule.sets[set_index].
template <typename IsMember>
bool statelessMatches(const Rule& r,
                      std::uint32_t present,
                      const PacketMeta& p,
                      const EvalContext& ctx,
                      const IsMember& is_member) {
  if (present == 0) return true;
  if ((present & kMatchProtocol) && !protocolMatches(r, p)) return false;
  if ((present & kMatchSrc) && !addrMatches(*r.src, p.src)) return false;
  if ((present & kMatchDst) && !addrMatches(*r.dst, p.dst)) return false;
  if ((present & kMatchInIface) && !ifaceMatches(*r.in_iface, p.in_iface)) return false;
  if ((present & kMatchOutIface) && !ifaceMatches(*r.out_iface, p.out_iface)) return false;
  if ((present & kMatchSport) && !portMatches(*r.sport, p.sport, p.later_fragment)) return false;
  if ((present & kMatchDport) && !portMatches(*r.dport, p.dport, p.later_fragment)) return false;
  if ((present & kMatchEitherPort) && !eitherPortMatches(*r.either_port, p)) return false;
  if ((present & kMatchTcpFlags) && !tcpFlagsMatches(*r.tcp_flags, p)) return false;
  if ((present & kMatchAddrType) && !addrTypeMatches(*r.addrtype, p, ctx)) return false;
  if ((present & kMatchCtState) && !ctStateMatches(*r.ctstate, p)) return false;
  if ((present & kMatchMark) && !markMatches(*r.mark, p.mark)) return false;
  if ((present & kMatchOwner) && !ownerMatches(*r.owner, p)) return false;
  if (present & kMatchSets) {
    for (std::size_t i = 0; i < r.sets.size(); ++i) {
      const IpAddr* addr = setAddress(r.sets[i], p);
      const bool member = addr != nullptr && is_member(i, *addr);
      if (!setMatches(r.sets[i], member)) return false;
    }
  }
  return true;
}

}  // namespace xredir::engine
