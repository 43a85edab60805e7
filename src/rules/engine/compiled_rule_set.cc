// compiled_rule_set.cc: compiling a RuleSet and walking it with the chain classifiers.
#include "rules/engine/compiled_rule_set.h"

#include <string_view>
#include <unordered_map>

#include "rules/engine/hook_tables.h"
#include "rules/engine/match_predicates.h"
#include "rules/engine/table_outcome.h"

namespace xredir {

namespace {

using engine::TableOutcome;

struct Frame {
  std::uint32_t chain;
  std::uint32_t next;  // the rule after the jump
};

}  // namespace

CompiledRuleSet::CompiledRuleSet(const RuleSet& rules) {
  for (const auto& [name, set] : rules.sets) sets_.emplace(name, engine::CompiledIpSet(set));
  table_index_.fill(-1);
  std::size_t nth_slots = 0;
  for (const TableRules& tr : rules.tables) {
    const int table_slot = static_cast<int>(tr.table);
    if (table_index_[table_slot] >= 0) continue;  // RuleSet::findTable answers the first one
    table_index_[table_slot] = static_cast<int>(tables_.size());
    CompiledTable& ct = tables_.emplace_back();
    ct.table = tr.table;
    // Name lookups resolve to the first chain of that name, as TableRules::findChain does.
    // One map per table: a kube-proxy set has tens of thousands of chains and jumps, so a scan
    // per jump made compiling quadratic. emplace keeps the first position of a repeated name.
    std::unordered_map<std::string_view, int> chain_positions;
    for (std::size_t i = 0; i < tr.chains.size(); ++i) {
      chain_positions.emplace(tr.chains[i].name, static_cast<int>(i));
    }
    const auto chain_index = [&chain_positions](std::string_view name) {
      const auto it = chain_positions.find(name);
      return it == chain_positions.end() ? -1 : it->second;
    };
    for (int h = 0; h < kNumHooks; ++h) {
      ct.hook_chain[h] = chain_index(hookChainName(static_cast<Hook>(h)));
    }
    for (const Chain& chain : tr.chains) {
      CompiledChain& cc = ct.chains.emplace_back();
      cc.chain = &chain;
      cc.classifier = engine::ChainClassifier(chain.rules);
      for (const Rule& rule : chain.rules) {
        CompiledRule& cr = cc.rules.emplace_back();
        cr.rule = &rule;
        cr.present = engine::presentMatches(rule);
        cr.target = rule.target.kind;
        cr.has_statistic = rule.statistic.has_value();
        if (rule.target.kind == TargetKind::kJump || rule.target.kind == TargetKind::kGoto) {
          cr.target_chain = chain_index(rule.target.chain);
        }
        for (const SetMatch& m : rule.sets) {
          const auto it = sets_.find(m.set_name);
          cr.sets.push_back(it == sets_.end() ? nullptr : &it->second);
        }
        if (rule.statistic && rule.statistic->mode == StatisticMatch::Mode::kNth) {
          cr.nth_slot = nth_slots++;
        }
      }
    }
  }
  nth_counters_ = std::make_unique<std::atomic<std::uint64_t>[]>(nth_slots);
  for (std::size_t i = 0; i < nth_slots; ++i) nth_counters_[i].store(0);
}

Verdict CompiledRuleSet::evaluate(Hook hook, PacketMeta packet, const EvalContext& ctx) const {
  const engine::HookTableList list = engine::hookTableList(hook);
  Verdict verdict = engine::initialVerdict(hook, list.tables[list.count - 1]);
  bool translated = false;
  engine::FlowKey key = engine::makeFlowKey(packet);

  for (int t = 0; t < list.count; ++t) {
    const Table table = list.tables[t];
    const int slot = table_index_[static_cast<int>(table)];
    if (slot < 0) continue;
    const CompiledTable& ct = tables_[slot];
    const int base = ct.hook_chain[static_cast<int>(hook)];
    if (base < 0) continue;

    std::array<Frame, engine::kMaxJumpDepth> stack;
    int depth = 0;
    std::uint32_t cur = static_cast<std::uint32_t>(base);
    std::size_t from = 0;
    TableOutcome outcome;
    for (;;) {
      const CompiledChain& chain = ct.chains[cur];
      const auto accepts = [&](std::size_t index) {
        const CompiledRule& cr = chain.rules[index];
        const auto is_member = [&cr](std::size_t set_index, const IpAddr& addr) {
          return cr.sets[set_index] != nullptr && cr.sets[set_index]->contains(addr);
        };
        return engine::statelessMatches(*cr.rule, cr.present, packet, ctx, is_member);
      };
      std::size_t index = chain.classifier.firstMatch(key, from, accepts);
      // Stateful matches are asked of the first stateless match only, in index order, exactly
      // as the linear walk asks them.
      while (index != engine::ChainClassifier::kNoMatch && chain.rules[index].has_statistic) {
        const CompiledRule& cr = chain.rules[index];
        std::uint64_t count = 0;
        if (cr.rule->statistic->mode == StatisticMatch::Mode::kNth) {
          count = nth_counters_[cr.nth_slot].fetch_add(1, std::memory_order_relaxed);
        }
        if (engine::statisticMatches(*cr.rule->statistic, ctx, count)) break;
        index = chain.classifier.firstMatch(key, index + 1, accepts);
      }

      bool returning = false;
      bool done = false;
      if (index == engine::ChainClassifier::kNoMatch) {
        returning = true;  // fell off the chain
      } else {
        const CompiledRule& cr = chain.rules[index];
        const Target& target = cr.rule->target;
        const auto decided = [&](TableOutcome::Kind kind, const Target* translation) {
          outcome.kind = kind;
          outcome.chain = chain.chain->name;
          outcome.rule_index = static_cast<int>(index);
          outcome.target = translation;
          done = true;
        };
        switch (cr.target) {
          case TargetKind::kNone:
          case TargetKind::kLog:
            from = index + 1;
            break;
          case TargetKind::kMark:
            packet.mark = engine::applyMark(target, packet.mark);
            from = index + 1;
            break;
          case TargetKind::kAccept:
            decided(TableOutcome::Kind::kAccept, nullptr);
            break;
          case TargetKind::kDrop:
            decided(TableOutcome::Kind::kDrop, nullptr);
            break;
          case TargetKind::kRedirect:
          case TargetKind::kDnat:
            decided(TableOutcome::Kind::kTranslate, &target);
            break;
          case TargetKind::kReturn:
            returning = true;
            break;
          case TargetKind::kJump:
          case TargetKind::kGoto:
            if (cr.target_chain < 0) {  // validation rejects this; a no-op, as the reference
              from = index + 1;
              break;
            }
            if (cr.target == TargetKind::kJump) {
              if (depth == engine::kMaxJumpDepth) {
                decided(TableOutcome::Kind::kDrop, nullptr);
                break;
              }
              stack[depth++] = Frame{cur, static_cast<std::uint32_t>(index + 1)};
            }
            cur = static_cast<std::uint32_t>(cr.target_chain);
            from = 0;
            break;
        }
      }
      if (done) break;
      if (returning) {
        if (depth == 0) {
          const Chain& builtin = *ct.chains[base].chain;
          outcome.kind = builtin.policy == Policy::kDrop ? TableOutcome::Kind::kDrop
                                                         : TableOutcome::Kind::kAccept;
          outcome.chain = builtin.name;
          outcome.rule_index.reset();
          outcome.target = nullptr;
          break;
        }
        --depth;
        cur = stack[depth].chain;
        from = stack[depth].next;
      }
    }
    if (engine::foldTableOutcome(verdict, translated, table, outcome)) break;
    // The hook's later tables (filter after nat at OUTPUT) see the translated packet; the
    // classifier's key covers dst and dport, so it is recomputed (once per translation).
    if (outcome.kind == TableOutcome::Kind::kTranslate) {
      engine::translatePacket(packet, hook, *outcome.target);
      key = engine::makeFlowKey(packet);
    }
  }
  verdict.mark = packet.mark;
  return verdict;
}

std::unique_ptr<const CompiledRuleSet> compileRuleSet(const RuleSet& rules) {
  return std::make_unique<const CompiledRuleSet>(rules);
}

Verdict evaluateCompiled(const CompiledRuleSet& compiled,
                         Hook hook,
                         PacketMeta packet,
                         const EvalContext& ctx) {
  return compiled.evaluate(hook, packet, ctx);
}

}  // namespace xredir

void std::default_delete<const xredir::CompiledRuleSet>::operator()(
    const xredir::CompiledRuleSet* compiled) const noexcept {
  delete compiled;
}
