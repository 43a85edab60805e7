// chain_classifier.cc: grouping a chain's rules by shape and building the per-group hashes.
#include "rules/engine/chain_classifier.h"

namespace xredir::engine {

FlowKey makeFlowKey(const PacketMeta& p) {
  FlowKey k;
  k.src = addrWords(p.src);
  k.dst = addrWords(p.dst);
  k.src_family = p.src.family;
  k.dst_family = p.dst.family;
  k.in_iface = nameDigest(p.in_iface);
  k.out_iface = nameDigest(p.out_iface);
  k.protocol = p.protocol;
  k.dport = p.dport;
  k.later_fragment = p.later_fragment;
  return k;
}

ChainClassifier::Shape ChainClassifier::shapeOf(const Rule& r) {
  Shape s;
  s.protocol = r.protocol && *r.protocol != 0 && !r.protocol_invert;
  // A /0 prefix constrains only the family; leaving it out keeps such rules in fewer groups.
  if (r.src && !r.src->invert && r.src->cidr.prefix_len > 0) s.src_len = r.src->cidr.prefix_len;
  if (r.dst && !r.dst->invert && r.dst->cidr.prefix_len > 0) s.dst_len = r.dst->cidr.prefix_len;
  s.dport = r.dport && !r.dport->invert && r.dport->ranges.size() == 1 &&
            r.dport->ranges[0].first == r.dport->ranges[0].last;
  s.in_iface = r.in_iface && !r.in_iface->invert && !r.in_iface->wildcard;
  s.out_iface = r.out_iface && !r.out_iface->invert && !r.out_iface->wildcard;
  return s;
}

ChainClassifier::Key ChainClassifier::ruleKey(const Group& g, const Rule& r) {
  Key key{};
  std::uint64_t misc = 0;
  if (g.shape.src_len >= 0) {
    const AddrWords w = addrWords(r.src->cidr.addr);
    key[0] = w[0] & g.src_mask[0];
    key[1] = w[1] & g.src_mask[1];
    misc |= static_cast<std::uint64_t>(r.src->cidr.addr.family) << 24;
  }
  if (g.shape.dst_len >= 0) {
    const AddrWords w = addrWords(r.dst->cidr.addr);
    key[2] = w[0] & g.dst_mask[0];
    key[3] = w[1] & g.dst_mask[1];
    misc |= static_cast<std::uint64_t>(r.dst->cidr.addr.family) << 32;
  }
  if (g.shape.in_iface) key[4] = nameDigest(r.in_iface->name);
  if (g.shape.out_iface) key[5] = nameDigest(r.out_iface->name);
  if (g.shape.protocol) misc |= *r.protocol;
  if (g.shape.dport) misc |= static_cast<std::uint64_t>(r.dport->ranges[0].first) << 8;
  key[6] = misc;
  return key;
}

ChainClassifier::Key ChainClassifier::packetKey(const Group& g, const FlowKey& k) {
  Key key{};
  std::uint64_t misc = 0;
  if (g.shape.src_len >= 0) {
    key[0] = k.src[0] & g.src_mask[0];
    key[1] = k.src[1] & g.src_mask[1];
    misc |= static_cast<std::uint64_t>(k.src_family) << 24;
  }
  if (g.shape.dst_len >= 0) {
    key[2] = k.dst[0] & g.dst_mask[0];
    key[3] = k.dst[1] & g.dst_mask[1];
    misc |= static_cast<std::uint64_t>(k.dst_family) << 32;
  }
  if (g.shape.in_iface) key[4] = k.in_iface;
  if (g.shape.out_iface) key[5] = k.out_iface;
  if (g.shape.protocol) misc |= k.protocol;
  if (g.shape.dport) misc |= static_cast<std::uint64_t>(k.dport) << 8;
  key[6] = misc;
  return key;
}

ChainClassifier::ChainClassifier(const std::vector<Rule>& rules) {
  if (rules.size() <= kLinearScanMax) {
    linear_count_ = rules.size();
    return;
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Shape shape = shapeOf(rules[i]);
    auto g = std::find_if(groups_.begin(), groups_.end(),
                          [&](const Group& x) { return x.shape == shape; });
    if (g == groups_.end()) {
      Group fresh;
      fresh.shape = shape;
      fresh.src_mask = prefixMaskWords(shape.src_len < 0 ? 0 : shape.src_len);
      fresh.dst_mask = prefixMaskWords(shape.dst_len < 0 ? 0 : shape.dst_len);
      fresh.min_index = i;
      groups_.push_back(std::move(fresh));
      g = groups_.end() - 1;
    }
    g->max_index = i;
    // Indices arrive in ascending order, so every bucket stays sorted.
    g->buckets[ruleKey(*g, rules[i])].push_back(static_cast<std::uint32_t>(i));
  }
  // Groups were created in order of their first rule, so they are already sorted by min_index.
}

}  // namespace xredir::engine
