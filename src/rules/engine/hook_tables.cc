// hook_tables.cc: the order in which Linux runs the tables registered at each hook.
#include "rules/engine/hook_tables.h"

#include "xredir/rule_eval.h"

namespace xredir {

namespace engine {

HookTableList hookTableList(Hook hook) {
  // Priorities from include/uapi/linux/netfilter_ipv4.h: NF_IP_PRI_RAW -300,
  // NF_IP_PRI_MANGLE -150, NF_IP_PRI_NAT_DST -100 (nat at PREROUTING and OUTPUT),
  // NF_IP_PRI_FILTER 0, NF_IP_PRI_NAT_SRC 100 (nat at INPUT and POSTROUTING). So nat runs
  // before filter on OUTPUT (destination NAT) but after it on INPUT (source NAT).
  switch (hook) {
    case Hook::kPrerouting:
      return {{Table::kRaw, Table::kMangle, Table::kNat}, 3};
    case Hook::kInput:
      return {{Table::kMangle, Table::kFilter, Table::kNat}, 3};
    case Hook::kForward:
      return {{Table::kMangle, Table::kFilter}, 2};
    case Hook::kOutput:
      return {{Table::kRaw, Table::kMangle, Table::kNat, Table::kFilter}, 4};
    case Hook::kPostrouting:
      return {{Table::kMangle, Table::kNat}, 2};
  }
  return {};
}

}  // namespace engine

std::vector<Table> hookTables(Hook hook) {
  const engine::HookTableList list = engine::hookTableList(hook);
  return std::vector<Table>(list.tables.begin(), list.tables.begin() + list.count);
}

}  // namespace xredir
