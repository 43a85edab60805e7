// restore_parser.h owns the iptables-restore command grammar around the rules: `*table` blocks
// closed by COMMIT, chain declarations `:CHAIN POLICY [p:b]`, and the commands -N (new chain),
// -A (append), -I CHAIN [N] (insert, at 1 by default), -P (built-in policy), with `#` comments
// and blank lines. Sources apply one after the other to the same RuleSet, as repeated
// `iptables-restore --noflush` would: a table block adds to what is there, `:CHAIN -` flushes an
// existing user chain and creates a missing one.
#pragma once

#include "xredir/rule_loader.h"
#include "xredir/rule_model.h"

namespace xredir::loader {

// applyRestoreSource parses one iptables-restore text into rules (whose family and sets must be
// set already: -m set refers to the sets). Fails on the first error; rules is then partial.
std::optional<LoadError> applyRestoreSource(const RuleSource& source, RuleSet& rules);

}  // namespace xredir::loader
