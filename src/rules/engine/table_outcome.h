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
