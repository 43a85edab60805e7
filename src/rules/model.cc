// model.cc: names of tables and hooks, and the built-in chains Linux gives each table.
#include "xredir/rule_model.h"

namespace xredir {

const char* tableName(Table t) {
  switch (t) {
    case Table::kRaw:
      return "raw";
    case Table::kMangle:
      return "mangle";
    case Table::kNat:
      return "nat";
    case Table::kFilter:
      return "filter";
  }
  return "?";
}

const char* hookChainName(Hook h) {
  switch (h) {
    case Hook::kPrerouting:
      return "PREROUTING";
    case Hook::kInput:
      return "INPUT";
    case Hook::kForward:
      return "FORWARD";
    case Hook::kOutput:
      return "OUTPUT";
    case Hook::kPostrouting:
      return "POSTROUTING";
  }
  return "?";
}

std::optional<Table> tableFromName(std::string_view name) {
  for (Table t : {Table::kRaw, Table::kMangle, Table::kNat, Table::kFilter}) {
    if (name == tableName(t)) return t;
  }
  return std::nullopt;
}

std::optional<Hook> hookFromChainName(std::string_view name) {
  for (Hook h :
       {Hook::kPrerouting, Hook::kInput, Hook::kForward, Hook::kOutput, Hook::kPostrouting}) {
    if (name == hookChainName(h)) return h;
  }
  return std::nullopt;
}

bool tableHasHook(Table t, Hook h) {
  // The valid_hooks of iptable_raw.c, iptable_mangle.c, iptable_nat.c and iptable_filter.c.
  switch (t) {
    case Table::kRaw:
      return h == Hook::kPrerouting || h == Hook::kOutput;
    case Table::kMangle:
      return true;
    case Table::kNat:
      return h != Hook::kForward;
    case Table::kFilter:
      return h == Hook::kInput || h == Hook::kForward || h == Hook::kOutput;
  }
  return false;
}

const Chain* TableRules::findChain(std::string_view name) const {
  for (const Chain& c : chains) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Chain* TableRules::findChain(std::string_view name) {
  for (Chain& c : chains) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const TableRules* RuleSet::findTable(Table t) const {
  for (const TableRules& tr : tables) {
    if (tr.table == t) return &tr;
  }
  return nullptr;
}

}  // namespace xredir
