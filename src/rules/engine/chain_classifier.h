// chain_classifier.h owns the per-chain index that makes the compiled engine's cost independent
// of the number of rules: tuple-space search (Srinivasan et al., as in Open vSwitch's
// classifier). Rules are grouped by their shape, the set of cheap exact fields they constrain
// without inversion (protocol, source prefix length, destination prefix length, a single
// destination port, an exact input or output interface name). Each group hashes the rules'
// masked field values to the ascending list of their rule indices. A query masks the packet's
// fields per group, probes each group once, and returns the smallest index whose rule accepts
// the packet; every other predicate (wildcards, inversions, ranges, sets, marks...) is checked
// only on candidates, through the caller's `accepts`.
//
// Chains of at most kLinearScanMax rules (most user chains of real rule sets: kube-proxy's
// KUBE-SVC-*/KUBE-SEP-* hold two to four) skip the hashing and ask `accepts` in index order,
// which costs less than masking and probing even one group.
//
// Hot-path rules: firstMatch never allocates and never writes; the classifier is immutable after
// construction, so any number of threads may query it at once.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "rules/engine/key_hash.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir::engine {

// FlowKey is the part of a packet the classifier hashes, computed once per evaluation and again
// after a REDIRECT/DNAT, whose translated dst and dport the hook's later tables see (see
// translatePacket in table_outcome.h). Nothing else changes these fields during a walk: MARK
// changes only the mark, which is not here.
struct FlowKey {
  AddrWords src{};
  AddrWords dst{};
  Family src_family = Family::kV4;
  Family dst_family = Family::kV4;
  std::uint64_t in_iface = 0;  // nameDigest
  std::uint64_t out_iface = 0;
  std::uint8_t protocol = 0;
  std::uint16_t dport = 0;
  bool later_fragment = false;
};

// makeFlowKey extracts the classifier's fields from a packet.
FlowKey makeFlowKey(const PacketMeta& p);

class ChainClassifier {
 public:
  static constexpr std::size_t kNoMatch = static_cast<std::size_t>(-1);
  static constexpr std::size_t kLinearScanMax = 4;

  ChainClassifier() = default;
  // ChainClassifier indexes the rules of one chain. It keeps no reference to them.
  explicit ChainClassifier(const std::vector<Rule>& rules);

  // firstMatch returns the smallest rule index >= from whose shape fields equal the packet's
  // and for which accepts(index) is true, or kNoMatch. `accepts` must check the whole rule
  // (the shape fields are a pre-filter only); it is called in ascending index order per group
  // and at most once per candidate.
  template <typename Accepts>
  std::size_t firstMatch(const FlowKey& key, std::size_t from, const Accepts& accepts) const;

  // groupCount is the number of distinct shapes (0 for a scanned small chain).
  std::size_t groupCount() const { return groups_.size(); }

 private:
  // Key words: src (2), dst (2), in iface digest, out iface digest, and
  // protocol | dport << 8 | src family << 24 | dst family << 32.
  using Key = std::array<std::uint64_t, 7>;

  struct Shape {
    bool protocol = false;
    int src_len = -1;  // -1: not constrained
    int dst_len = -1;
    bool dport = false;
    bool in_iface = false;
    bool out_iface = false;
    friend bool operator==(const Shape&, const Shape&) = default;
  };

  struct Group {
    Shape shape;
    AddrWords src_mask{};
    AddrWords dst_mask{};
    std::size_t min_index = 0;
    std::size_t max_index = 0;
    std::unordered_map<Key, std::vector<std::uint32_t>, WordsHash<7>> buckets;
  };

  static Shape shapeOf(const Rule& r);
  static Key ruleKey(const Group& g, const Rule& r);
  static Key packetKey(const Group& g, const FlowKey& k);

  std::size_t linear_count_ = 0;  // > 0: the chain is small and scanned, groups_ is empty
  std::vector<Group> groups_;     // ascending min_index, so a search can stop early
};

template <typename Accepts>
std::size_t ChainClassifier::firstMatch(const FlowKey& key,
                                        std::size_t from,
                                        const Accepts& accepts) const {
  for (std::size_t i = from; i < linear_count_; ++i) {
    if (accepts(i)) return i;
  }
  std::size_t best = kNoMatch;
  for (const Group& g : groups_) {
    if (g.min_index >= best) break;  // no rule of this or any later group can come first
    if (g.max_index < from) continue;
    if (g.shape.dport && key.later_fragment) continue;  // port matches fail on later fragments
    const auto it = g.buckets.find(packetKey(g, key));
    if (it == g.buckets.end()) continue;
    const std::vector<std::uint32_t>& indices = it->second;
    for (auto i = std::lower_bound(indices.begin(), indices.end(), from);
         i != indices.end() && *i < best; ++i) {
      if (accepts(static_cast<std::size_t>(*i))) {
        best = *i;
        break;
      }
    }
  }
  return best;
}

}  // namespace xredir::engine
