// reference_evaluator.cc: the linear walk, written to read like netfilter's ipt_do_table so
// that it can serve as the oracle for the compiled engine and as the tracer.
#include <array>

#include "rules/engine/match_predicates.h"
#include "rules/engine/table_outcome.h"
#include "xredir/rule_eval.h"

namespace xredir {

namespace {

using engine::TableOutcome;

struct Frame {
  const Chain* chain;
  std::size_t next;  // the rule after the jump
};

void emit(const TraceSink& trace,
          TraceEvent::Kind kind,
          Table table,
          const Chain& chain,
          int rule_index = -1,
          bool matched = false,
          const Rule* rule = nullptr) {
  if (!trace) return;
  TraceEvent e{kind, table, chain.name, rule_index, matched, rule};
  trace(e);
}

TableOutcome policyOutcome(const Chain& base) {
  TableOutcome o;
  o.kind = base.policy == Policy::kDrop ? TableOutcome::Kind::kDrop : TableOutcome::Kind::kAccept;
  o.chain = base.name;
  return o;
}

TableOutcome ruleOutcome(TableOutcome::Kind kind,
                         const Chain& chain,
                         std::size_t index,
                         const Target* target = nullptr) {
  TableOutcome o;
  o.kind = kind;
  o.chain = chain.name;
  o.rule_index = static_cast<int>(index);
  o.target = target;
  return o;
}

}  // namespace

ReferenceEvaluator::ReferenceEvaluator(const RuleSet& rules) : rules_(rules) {}

Verdict ReferenceEvaluator::evaluate(Hook hook,
                                     PacketMeta packet,
                                     const EvalContext& ctx,
                                     const TraceSink& trace) const {
  const std::vector<Table> tables = hookTables(hook);
  Verdict verdict = engine::initialVerdict(hook, tables.back());
  bool translated = false;

  for (const Table table : tables) {
    const TableRules* tr = rules_.findTable(table);
    if (tr == nullptr) continue;
    const Chain* base = tr->findChain(hookChainName(hook));
    if (base == nullptr) continue;

    std::array<Frame, engine::kMaxJumpDepth> stack;
    int depth = 0;
    const Chain* cur = base;
    std::size_t i = 0;
    TableOutcome outcome;
    for (;;) {
      bool returning = false;
      if (i >= cur->rules.size()) {
        returning = true;  // falling off a chain: a user chain returns, a built-in one underflows
      } else {
        const Rule& rule = cur->rules[i];
        const auto is_member = [&](std::size_t set_index, const IpAddr& addr) {
          const auto it = rules_.sets.find(rule.sets[set_index].set_name);
          return engine::isMemberLinear(it == rules_.sets.end() ? nullptr : &it->second, addr);
        };
        bool matched =
            engine::statelessMatches(rule, engine::presentMatches(rule), packet, ctx, is_member);
        if (matched && rule.statistic) {
          std::uint64_t count = 0;
          if (rule.statistic->mode == StatisticMatch::Mode::kNth) count = nth_counts_[&rule]++;
          matched = engine::statisticMatches(*rule.statistic, ctx, count);
        }
        emit(trace, TraceEvent::Kind::kRuleChecked, table, *cur, static_cast<int>(i), matched,
             &rule);
        if (!matched) {
          ++i;
          continue;
        }
        const Target& target = rule.target;
        bool done = false;
        switch (target.kind) {
          case TargetKind::kNone:
          case TargetKind::kLog:
            ++i;
            break;
          case TargetKind::kMark:
            packet.mark = engine::applyMark(target, packet.mark);
            ++i;
            break;
          case TargetKind::kAccept:
            outcome = ruleOutcome(TableOutcome::Kind::kAccept, *cur, i);
            done = true;
            break;
          case TargetKind::kDrop:
            outcome = ruleOutcome(TableOutcome::Kind::kDrop, *cur, i);
            done = true;
            break;
          case TargetKind::kRedirect:
          case TargetKind::kDnat:
            outcome = ruleOutcome(TableOutcome::Kind::kTranslate, *cur, i, &target);
            done = true;
            break;
          case TargetKind::kReturn:
            returning = true;
            break;
          case TargetKind::kJump:
          case TargetKind::kGoto: {
            const Chain* next = tr->findChain(target.chain);
            if (next == nullptr) {  // validation rejects this; treat the rule as a no-op
              ++i;
              break;
            }
            if (target.kind == TargetKind::kJump) {
              if (depth == engine::kMaxJumpDepth) {
                outcome = ruleOutcome(TableOutcome::Kind::kDrop, *cur, i);
                done = true;
                break;
              }
              stack[depth++] = Frame{cur, i + 1};
            }
            cur = next;
            i = 0;
            break;
          }
        }
        if (done) break;
      }
      if (returning) {
        if (cur != base) emit(trace, TraceEvent::Kind::kReturnFromChain, table, *cur);
        if (depth == 0) {
          emit(trace, TraceEvent::Kind::kPolicy, table, *base);
          outcome = policyOutcome(*base);
          break;
        }
        --depth;
        cur = stack[depth].chain;
        i = stack[depth].next;
      }
    }
    if (engine::foldTableOutcome(verdict, translated, table, outcome)) break;
    // The hook's later tables (filter after nat at OUTPUT) see the translated packet.
    if (outcome.kind == TableOutcome::Kind::kTranslate) {
      engine::translatePacket(packet, hook, *outcome.target);
    }
  }
  verdict.mark = packet.mark;
  return verdict;
}

}  // namespace xredir
