// chain_index.cc: the name -> position map of a table's chains (see chain_index.h).
#include "rules/loader/chain_index.h"

namespace xredir::loader {

ChainIndex::ChainIndex(const TableRules& table) {
  positions_.reserve(table.chains.size());
  for (std::size_t i = 0; i < table.chains.size(); ++i) add(table.chains[i].name, i);
}

std::optional<std::size_t> ChainIndex::find(std::string_view name) const {
  const auto it = positions_.find(name);
  if (it == positions_.end()) return std::nullopt;
  return it->second;
}

bool ChainIndex::add(std::string_view name, std::size_t position) {
  return positions_.try_emplace(std::string(name), position).second;
}

}  // namespace xredir::loader
