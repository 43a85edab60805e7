// table_outcome.h owns how the result of one table's traversal folds into the hook's verdict,
// shared by both engines so that they report the same fields:
//   - DROP (a rule, a policy or a jump-stack overflow) ends the hook: the verdict names it, with
//     no translation.
//   - REDIRECT/DNAT end their table: the verdict names that rule and carries the translation;
//     later tables still run, and their ACCEPT (rule or policy) keeps it.
//   - ACCEPT ends its table: until a table translates, the verdict names the last table that
//     ran and what accepted there (its rule, or its built-in chain with rule_index nullopt for
//     the policy).
//   - No table of the hook present: ACCEPT naming the hook's last table and built-in chain name.
//   - Tables after the translating one see the translated packet (translatePacket), as in
//     Linux where nf_nat rewrites the header at its own hook priority: filter OUTPUT (priority
//     0) matches the destination nat OUTPUT (-100) chose. The verdict still reports the nat
//     decision itself (to_ports, to_addr_first/last), not the packet's new destination.
// `mark` is the packet mark after every MARK target that ran, up to the end of the hook.
#pragma once

#include <optional>
#include <string_view>

#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir::engine {

struct TableOutcome {
  enum class Kind : std::uint8_t { kAccept = 1, kDrop, kTranslate } kind = Kind::kAccept;
  std::string_view chain;
  std::optional<int> rule_index;   // nullopt: the policy
  const Target* target = nullptr;  // kTranslate: the REDIRECT or DNAT target
};

// initialVerdict is the answer when no table of the hook is present.
inline Verdict initialVerdict(Hook hook, Table last_table) {
  Verdict v;
  v.kind = VerdictKind::kAccept;
  v.table = last_table;
  v.chain = hookChainName(hook);
  return v;
}

// translatePacket rewrites the packet's destination the way nf_nat does once a REDIRECT or
// DNAT target has decided at `hook`, so that the hook's later tables match what the kernel's
// would:
//   - the port becomes the first port of --to-ports (nf_nat picks the first free one; for the
//     first packet of a flow that is the first), or stays the original when there is none;
//   - DNAT's address becomes to_addr_first (the first of the range, for the same reason);
//   - REDIRECT at OUTPUT goes to the loopback address of the family (127.0.0.1 or ::1), as
//     nf_nat_redirect does for locally generated packets.
// REDIRECT at PREROUTING goes to the ingress interface's primary address, which the engine does
// not know: only the port is rewritten there. No table runs after nat at PREROUTING (see
// hookTableList), so no rule can observe the difference. out_iface is deliberately kept: the
// kernel re-routes after nat OUTPUT but the later tables still see the original output device.
inline void translatePacket(PacketMeta& packet, Hook hook, const Target& target) {
  if (target.to_ports) packet.dport = target.to_ports->first;
  if (target.kind == TargetKind::kDnat) {
    if (target.to_addr_first) packet.dst = *target.to_addr_first;
    return;
  }
  if (hook != Hook::kOutput) return;  // REDIRECT outside OUTPUT: see above
  IpAddr loopback;
  loopback.family = packet.family;
  if (packet.family == Family::kV4) {
    loopback = IpAddr::fromV4(0x7f000001);
  } else {
    loopback.bytes[15] = 1;
  }
  packet.dst = loopback;
}

// foldTableOutcome merges one table's outcome into the verdict; returns true when the hook is
// over (DROP).
inline bool foldTableOutcome(Verdict& v, bool& translated, Table table, const TableOutcome& o) {
  switch (o.kind) {
    case TableOutcome::Kind::kDrop:
      v.kind = VerdictKind::kDrop;
      v.table = table;
      v.chain = o.chain;
      v.rule_index = o.rule_index;
      v.to_ports.reset();
      v.to_addr_first.reset();
      v.to_addr_last.reset();
      return true;
    case TableOutcome::Kind::kTranslate:
      v.kind = o.target->kind == TargetKind::kDnat ? VerdictKind::kDnat : VerdictKind::kRedirect;
      v.table = table;
      v.chain = o.chain;
      v.rule_index = o.rule_index;
      v.to_ports = o.target->to_ports;
      v.to_addr_first.reset();
      v.to_addr_last.reset();
      if (o.target->kind == TargetKind::kDnat) {
        v.to_addr_first = o.target->to_addr_first;
        v.to_addr_last = o.target->to_addr_last;
      }
      translated = true;
      return false;
    case TableOutcome::Kind::kAccept:
      if (!translated) {
        v.kind = VerdictKind::kAccept;
        v.table = table;
        v.chain = o.chain;
        v.rule_index = o.rule_index;
      }
      return false;
  }
  return false;
}

}  // namespace xredir::engine
