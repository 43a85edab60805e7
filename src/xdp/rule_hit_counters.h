// rule_hit_counters.h owns the per-rule hit counters of one rule generation (one family's
// RuleSet as loaded at start-up or by one SIGHUP reload). Every rule of every chain, and every
// chain's policy, gets a dense slot at construction; the datapath adds one to the slot of the
// rule that decided a new connection (conntrack_step.h, StepResult::decision) and a metrics
// scrape sums the slots over the workers' stripes. A generation's counters live and die with
// it: a reload installs a new generation whose counters start from zero, so a slot never adds
// up hits of two different rules (after a reload "PREROUTING rule 3" may be another rule), and
// a packet evaluated by the old rules while the swap happens counts in the old generation.
// Prometheus treats the drop to zero as a counter reset.
//
// Hot-path rules: count() allocates nothing and takes no lock: one hash lookup of the chain
// name (a string_view) and one relaxed atomic add in the calling thread's stripe. Each worker
// thread gets its own stripe (threads are numbered in the order they first count; with more
// threads than stripes some share one, which stays correct since the add is atomic). Stripes
// are cache-line aligned so workers never write the same line.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xredir/conntrack_step.h"
#include "xredir/rule_model.h"

namespace xredir::xdp {

class RuleHitCounters {
 public:
  // kMaxStripes bounds the memory (slots x stripes x 8 bytes) on large machines.
  static constexpr unsigned kMaxStripes = 64;

  // RuleHitCounters numbers the slots of `rules`, which must outlive the object (chain names
  // are kept as views). `stripes` is the number of counting threads expected (the workers);
  // it is clamped to [1, kMaxStripes].
  RuleHitCounters(const RuleSet& rules, unsigned stripes);
  RuleHitCounters(const RuleHitCounters&) = delete;
  RuleHitCounters& operator=(const RuleHitCounters&) = delete;

  // slotOf returns the slot of rule `rule_index` (0-based; nullopt: the policy) of `chain` in
  // `table`, or nullopt when the rule set has no such chain or rule (a user chain has no
  // policy).
  std::optional<std::uint32_t> slotOf(Table table,
                                      std::string_view chain,
                                      std::optional<int> rule_index) const;

  // count adds one hit to the rule that made `decision`. Returns false (and counts nothing)
  // when the decision names no rule of this generation, which would mean it came from another
  // rule set. Thread-safe, no allocation, no lock.
  bool count(const RuleDecision& decision);

  // hits returns a slot's total over all stripes (relaxed reads: a scrape concurrent with
  // counting sees each stripe's value whole, possibly a few hits behind).
  std::uint64_t hits(std::uint32_t slot) const;

  // Sample is one rule's total, named as the metrics label it: table, chain, and the 1-based
  // position (nullopt: the chain's policy).
  struct Sample {
    Table table = Table::kNat;
    std::string_view chain;
    std::optional<int> position;
    std::uint64_t hits = 0;
  };
  // samples lists, in rule set order, every rule that can decide a verdict (ACCEPT, DROP,
  // REDIRECT, DNAT: jumps, RETURN, MARK and LOG only lead to another rule), and the policies of
  // the built-in PREROUTING and OUTPUT chains (the hooks xredir evaluates). Allocates: for the
  // metrics thread, never the datapath.
  std::vector<Sample> samples() const;

  Family family() const { return family_; }
  std::uint32_t slotCount() const { return slot_count_; }

 private:
  // A chain's slots: base + i for rule i, base + rule count for the policy.
  struct ChainSlots {
    const Chain* chain = nullptr;
    Table table = Table::kNat;
    std::uint32_t base = 0;
  };
  // Line is one cache line of counters; a stripe is a whole number of lines.
  struct alignas(64) Line {
    std::array<std::atomic<std::uint64_t>, 8> slots{};
  };

  std::atomic<std::uint64_t>& counter(unsigned stripe, std::uint32_t slot) const {
    return lines_[stripe * lines_per_stripe_ + slot / 8].slots[slot % 8];
  }

  Family family_;
  std::vector<ChainSlots> chains_;
  // Per table, chain name -> index in chains_.
  std::array<std::unordered_map<std::string_view, std::uint32_t>, kNumTables> by_name_;
  std::uint32_t slot_count_ = 0;
  unsigned stripes_ = 1;
  std::uint32_t lines_per_stripe_ = 0;
  std::unique_ptr<Line[]> lines_;
};

}  // namespace xredir::xdp
