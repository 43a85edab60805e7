// rule_hit_counters.cc: slot numbering, striped counting and summing (rule_hit_counters.h).
#include "xdp/rule_hit_counters.h"

#include <algorithm>

namespace xredir::xdp {
namespace {

// threadOrdinal numbers the threads in the order they first count, so that each worker
// thread lands on its own stripe.
unsigned threadOrdinal() {
  static std::atomic<unsigned> next{0};
  thread_local const unsigned mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

bool decides(TargetKind kind) {
  switch (kind) {
    case TargetKind::kAccept:
    case TargetKind::kDrop:
    case TargetKind::kRedirect:
    case TargetKind::kDnat:
      return true;
    case TargetKind::kNone:
    case TargetKind::kReturn:
    case TargetKind::kJump:
    case TargetKind::kGoto:
    case TargetKind::kMark:
    case TargetKind::kLog:
      return false;
  }
  return false;
}

bool evaluatedHookChain(const Chain& chain) {
  if (!chain.builtin) return false;
  const auto hook = hookFromChainName(chain.name);
  return hook == Hook::kPrerouting || hook == Hook::kOutput;
}

}  // namespace

RuleHitCounters::RuleHitCounters(const RuleSet& rules, unsigned stripes)
    : family_(rules.family), stripes_(std::clamp(stripes, 1u, kMaxStripes)) {
  for (const TableRules& table : rules.tables) {
    auto& names = by_name_[static_cast<std::size_t>(table.table)];
    for (const Chain& chain : table.chains) {
      names.emplace(chain.name, static_cast<std::uint32_t>(chains_.size()));
      chains_.push_back(ChainSlots{&chain, table.table, slot_count_});
      slot_count_ += static_cast<std::uint32_t>(chain.rules.size()) + 1;  // + the policy
    }
  }
  lines_per_stripe_ = (slot_count_ + 7) / 8;
  lines_ = std::make_unique<Line[]>(std::size_t{stripes_} * lines_per_stripe_);
}

std::optional<std::uint32_t> RuleHitCounters::slotOf(Table table,
                                                     std::string_view chain,
                                                     std::optional<int> rule_index) const {
  const auto& names = by_name_[static_cast<std::size_t>(table)];
  const auto it = names.find(chain);
  if (it == names.end()) return std::nullopt;
  const ChainSlots& slots = chains_[it->second];
  const auto rule_count = static_cast<int>(slots.chain->rules.size());
  if (!rule_index) {
    // Only a built-in chain has a policy.
    if (!slots.chain->builtin) return std::nullopt;
    return slots.base + static_cast<std::uint32_t>(rule_count);
  }
  if (*rule_index < 0 || *rule_index >= rule_count) return std::nullopt;
  return slots.base + static_cast<std::uint32_t>(*rule_index);
}

bool RuleHitCounters::count(const RuleDecision& decision) {
  const auto slot = slotOf(decision.table, decision.chain, decision.rule_index);
  if (!slot) return false;
  counter(threadOrdinal() % stripes_, *slot).fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::uint64_t RuleHitCounters::hits(std::uint32_t slot) const {
  if (slot >= slot_count_) return 0;
  std::uint64_t total = 0;
  for (unsigned s = 0; s < stripes_; ++s) total += counter(s, slot).load(std::memory_order_relaxed);
  return total;
}

std::vector<RuleHitCounters::Sample> RuleHitCounters::samples() const {
  std::vector<Sample> out;
  for (const ChainSlots& slots : chains_) {
    const Chain& chain = *slots.chain;
    for (std::size_t i = 0; i < chain.rules.size(); ++i) {
      if (!decides(chain.rules[i].target.kind)) continue;
      out.push_back(Sample{slots.table, chain.name, static_cast<int>(i) + 1,
                           hits(slots.base + static_cast<std::uint32_t>(i))});
    }
    if (evaluatedHookChain(chain)) {
      out.push_back(Sample{slots.table, chain.name, std::nullopt,
                           hits(slots.base + static_cast<std::uint32_t>(chain.rules.size()))});
    }
  }
  return out;
}

}  // namespace xredir::xdp
