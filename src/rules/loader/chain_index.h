// chain_index.h owns finding a table's chains by name in constant time. A kube-proxy rule set
// has tens of thousands of chains, and the loader resolves a chain name for every command line
// and every jump; a linear scan per lookup made loading quadratic in the number of chains. The
// index maps each name to the position of the first chain of that name in TableRules::chains,
// the chain TableRules::findChain answers; whoever appends to the chains keeps it current.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "xredir/rule_model.h"

namespace xredir::loader {

class ChainIndex {
 public:
  ChainIndex() = default;
  // ChainIndex indexes every chain of table (the first of each name, when names repeat).
  explicit ChainIndex(const TableRules& table);

  // find returns the position in TableRules::chains of the first chain named name, or nullopt.
  std::optional<std::size_t> find(std::string_view name) const;
  // add records that the chain at position is named name. A name already indexed keeps its
  // earlier (first) position; add then returns false.
  bool add(std::string_view name, std::size_t position);

 private:
  // Transparent hashing lets lookups take the string_view of a token without copying it.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> positions_;
};

}  // namespace xredir::loader
