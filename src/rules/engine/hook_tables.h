// hook_tables.h owns the fixed, allocation-free form of hookTables() that the compiled engine
// walks on the datapath.
#pragma once

#include <array>

#include "xredir/rule_model.h"

namespace xredir::engine {

// HookTableList is the tables Linux runs at a hook, in priority order: tables[0..count).
struct HookTableList {
  std::array<Table, kNumTables> tables{};
  int count = 0;
};

// hookTableList returns the tables of a hook in priority order (see hook_tables.cc).
HookTableList hookTableList(Hook hook);

}  // namespace xredir::engine
