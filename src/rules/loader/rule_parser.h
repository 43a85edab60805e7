// rule_parser.h owns the options of one rule line (everything after `-A CHAIN` / `-I CHAIN N`):
// the iptables main options (-p -s -d -i -o -j -g -m, short and long forms, `!`), the match
// extensions xredir evaluates (tcp, udp, multiport, addrtype, conntrack, state, mark, owner,
// set, statistic, comment, with the implicit protocol match of `-p tcp --dport 80`), and the
// targets (ACCEPT DROP RETURN, chains, REDIRECT DNAT MARK LOG). Option names resolve as
// iptables' getopt_long does: exact names first, then unambiguous prefixes (`--to-port` is
// REDIRECT's `--to-ports`; `-m multiport --dport` is multiport's `--dports`), among the main
// options, the matches loaded so far (newest first) and the target. Anything else is an error
// naming the column and the unsupported thing.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rules/loader/chain_index.h"
#include "rules/loader/tokenizer.h"
#include "xredir/rule_loader.h"
#include "xredir/rule_model.h"

namespace xredir::loader {

struct RuleContext {
  std::string_view file;
  int line = 0;
  Family family = Family::kV4;
  Table table = Table::kNat;
  const TableRules* chains = nullptr;  // chains existing at this line
  // The index of *chains, so that resolving a jump target does not scan them; without one the
  // lookup falls back to TableRules::findChain (same answer, linear time).
  const ChainIndex* chain_index = nullptr;
  const std::map<std::string, IpSet, std::less<>>* sets = nullptr;
};

// ParsedRules: the rules one line stands for. `-s a,b -d c` stands for one rule per address
// combination, in the order iptables appends them (sources outer, destinations inner). Empty
// when the line is for the other family (`-6` in iptables input) and is skipped, as
// iptables-restore does.
using ParsedRules = std::vector<Rule>;

// parseRuleOptions parses tokens[first..] as the options of a rule in ctx's table.
std::variant<ParsedRules, LoadError> parseRuleOptions(const std::vector<Token>& tokens,
                                                      std::size_t first,
                                                      const RuleContext& ctx);

// isReservedTargetName reports whether name is a standard verdict or a target extension
// iptables knows (supported or not); such names cannot be user chain names.
bool isReservedTargetName(std::string_view name);

}  // namespace xredir::loader
