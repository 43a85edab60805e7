// restore_parser.cc: the iptables-restore command grammar (see restore_parser.h).
#include "rules/loader/restore_parser.h"

#include <array>
#include <iterator>
#include <string>
#include <vector>

#include "rules/loader/chain_index.h"
#include "rules/loader/rule_parser.h"
#include "rules/loader/rule_values.h"
#include "rules/loader/tokenizer.h"

namespace xredir::loader {
namespace {

// XT_EXTENSION_MAXNAMELEN is 29 including the NUL.
constexpr std::size_t kMaxChainName = 28;

bool isCounters(std::string_view t) {
  // [packets:bytes]
  if (t.size() < 5 || t.front() != '[' || t.back() != ']') return false;
  const auto colon = t.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view p = t.substr(1, colon - 1);
  const std::string_view b = t.substr(colon + 1, t.size() - colon - 2);
  auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return digits(p) && digits(b);
}

std::optional<Policy> parsePolicy(std::string_view t) {
  if (t == "ACCEPT") return Policy::kAccept;
  if (t == "DROP") return Policy::kDrop;
  return std::nullopt;
}

TableRules& ensureTable(RuleSet& rules, Table t) {
  for (TableRules& tr : rules.tables) {
    if (tr.table == t) return tr;
  }
  TableRules tr;
  tr.table = t;
  for (Hook h :
       {Hook::kPrerouting, Hook::kInput, Hook::kForward, Hook::kOutput, Hook::kPostrouting}) {
    if (tableHasHook(t, h)) {
      Chain c;
      c.name = hookChainName(h);
      c.builtin = true;
      tr.chains.push_back(std::move(c));
    }
  }
  rules.tables.push_back(std::move(tr));
  return rules.tables.back();
}

class RestoreParser {
 public:
  RestoreParser(const RuleSource& source, RuleSet& rules) : source_(source), rules_(rules) {}
  std::optional<LoadError> run();

 private:
  LoadError error(int column, std::string reason) const {
    return LoadError{source_.name, line_, column, std::move(reason)};
  }
  std::optional<LoadError> chainLine();
  std::optional<LoadError> commandLine();
  std::optional<LoadError> checkNewChainName(const Token& name) const;
  const ChainIndex& chainIndex(const TableRules& table);
  Chain* findChain(TableRules& table, std::string_view name);
  void appendChain(TableRules& table, Chain chain);

  const RuleSource& source_;
  RuleSet& rules_;
  int line_ = 0;
  std::vector<Token> tokens_;
  std::optional<Table> table_;
  int table_line_ = 0;
  // One index per table, built on the table's first use in this source (earlier sources may
  // have added chains) and kept current by appendChain, the only place chains are added.
  std::array<std::optional<ChainIndex>, kNumTables> chain_indexes_;
};

const ChainIndex& RestoreParser::chainIndex(const TableRules& table) {
  std::optional<ChainIndex>& index = chain_indexes_[static_cast<std::size_t>(table.table)];
  if (!index) index.emplace(table);
  return *index;
}

Chain* RestoreParser::findChain(TableRules& table, std::string_view name) {
  const auto pos = chainIndex(table).find(name);
  return pos ? &table.chains[*pos] : nullptr;
}

void RestoreParser::appendChain(TableRules& table, Chain chain) {
  chainIndex(table);  // built before the push, so that the new chain is added exactly once
  chain_indexes_[static_cast<std::size_t>(table.table)]->add(chain.name, table.chains.size());
  table.chains.push_back(std::move(chain));
}

std::optional<LoadError> RestoreParser::run() {
  std::string_view text = source_.text;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_;
    const auto start = line.find_first_not_of(" \t\r");
    if (start == std::string_view::npos || line[start] == '#') continue;
    const auto end = line.find_last_not_of(" \t\r");
    const std::string_view trimmed = line.substr(start, end - start + 1);
    if (trimmed.front() == '*') {
      if (table_) {
        return error(static_cast<int>(start) + 1, std::string("table ") + tableName(*table_) +
                                                      " (line " + std::to_string(table_line_) +
                                                      ") is not closed by COMMIT");
      }
      std::string_view name = trimmed.substr(1);
      const auto name_start = name.find_first_not_of(" \t");
      name = name_start == std::string_view::npos ? std::string_view{} : name.substr(name_start);
      const int name_col =
          static_cast<int>(start + 2 + (name_start == std::string_view::npos ? 0 : name_start));
      auto t = tableFromName(name);
      if (!t) return error(name_col, "unknown table \"" + std::string(name) + "\"");
      table_ = t;
      table_line_ = line_;
      ensureTable(rules_, *t);
      continue;
    }
    if (trimmed == "COMMIT") {
      if (!table_) return error(static_cast<int>(start) + 1, "COMMIT outside of a *table block");
      table_.reset();
      continue;
    }
    if (!table_) {
      return error(static_cast<int>(start) + 1, "line outside of a *table block");
    }
    if (auto e = tokenizeLine(line, tokens_)) return error(e->column, e->reason);
    if (tokens_.front().text.front() == ':') {
      if (auto e = chainLine()) return e;
    } else if (auto e = commandLine()) {
      return e;
    }
  }
  if (table_) {
    return error(0, std::string("table ") + tableName(*table_) + " (line " +
                        std::to_string(table_line_) + ") is not closed by COMMIT");
  }
  return std::nullopt;
}

std::optional<LoadError> RestoreParser::checkNewChainName(const Token& name) const {
  const std::string& n = name.text;
  if (n.empty()) return error(name.column, "empty chain name");
  if (n.size() > kMaxChainName) {
    return error(name.column, "chain name " + n + " is longer than 28 characters");
  }
  if (n.front() == '-' || n.front() == '!') {
    return error(name.column, "chain name " + n + " must not start with - or !");
  }
  if (isReservedTargetName(n)) {
    return error(name.column, "chain name " + n + " clashes with a target name");
  }
  return std::nullopt;
}

std::optional<LoadError> RestoreParser::chainLine() {
  // `:CHAIN POLICY [packets:bytes]`; `: CHAIN` with a blank is accepted as iptables' strtok does.
  std::size_t i = 0;
  Token name = tokens_[0];
  name.text.erase(0, 1);
  name.column += 1;
  if (name.text.empty()) {
    if (tokens_.size() < 2) return error(tokens_[0].column, "chain declaration without a name");
    name = tokens_[++i];
  }
  if (i + 1 >= tokens_.size())
    return error(name.column, "chain " + name.text + " without a policy");
  const Token& policy = tokens_[++i];
  if (i + 1 < tokens_.size()) {
    if (!isCounters(tokens_[i + 1].text)) {
      return error(tokens_[i + 1].column,
                   "invalid counters \"" + tokens_[i + 1].text + "\" (expected [packets:bytes])");
    }
    ++i;
  }
  if (i + 1 < tokens_.size()) {
    return error(tokens_[i + 1].column, "unexpected \"" + tokens_[i + 1].text + "\"");
  }
  TableRules& table = ensureTable(rules_, *table_);
  Chain* chain = findChain(table, name.text);
  if (chain != nullptr && chain->builtin) {
    if (policy.text == "-") return std::nullopt;
    auto p = parsePolicy(policy.text);
    if (!p) return error(policy.column, "invalid policy \"" + policy.text + "\" (ACCEPT or DROP)");
    chain->policy = *p;
    return std::nullopt;
  }
  if (policy.text != "-") {
    return error(policy.column, "a user chain takes policy -, not \"" + policy.text + "\"");
  }
  if (chain != nullptr) {
    chain->rules.clear();  // --noflush: declaring an existing user chain flushes it
    return std::nullopt;
  }
  if (auto e = checkNewChainName(name)) return e;
  Chain c;
  c.name = name.text;
  appendChain(table, std::move(c));
  return std::nullopt;
}

std::optional<LoadError> RestoreParser::commandLine() {
  std::size_t i = 0;
  if (isCounters(tokens_[0].text)) ++i;  // iptables-save -c: `[p:b] -A CHAIN ...`
  // `-4`/`-6` may precede the command; iptables-restore skips lines of the other family.
  for (; i < tokens_.size(); ++i) {
    const std::string& t = tokens_[i].text;
    const bool v4 = t == "-4" || t == "--ipv4";
    const bool v6 = t == "-6" || t == "--ipv6";
    if (!v4 && !v6) break;
    if (v6 != (rules_.family == Family::kV6)) return std::nullopt;
  }
  if (i >= tokens_.size()) return error(tokens_[0].column, "a line without a command");
  const Token& cmd = tokens_[i++];
  const std::string& c = cmd.text;
  enum class Cmd { kAppend, kInsert, kNew, kPolicy } kind;
  if (c == "-A" || c == "--append") {
    kind = Cmd::kAppend;
  } else if (c == "-I" || c == "--insert") {
    kind = Cmd::kInsert;
  } else if (c == "-N" || c == "--new-chain" || c == "--new") {
    kind = Cmd::kNew;
  } else if (c == "-P" || c == "--policy") {
    kind = Cmd::kPolicy;
  } else if (c.size() == 2 && c[0] == '-' &&
             std::string_view("DRFXZELSC").find(c[1]) != std::string_view::npos) {
    return error(cmd.column, "unsupported command " + c + " (-A, -I, -N, -P)");
  } else {
    return error(cmd.column, "expected a command (-A, -I, -N, -P), got \"" + c + "\"");
  }
  if (i >= tokens_.size()) return error(cmd.column, c + " needs a chain name");
  const Token& chain_tok = tokens_[i++];
  TableRules& table = ensureTable(rules_, *table_);
  Chain* chain = findChain(table, chain_tok.text);

  if (kind == Cmd::kNew) {
    if (chain != nullptr)
      return error(chain_tok.column, "chain " + chain_tok.text + " already exists");
    if (auto e = checkNewChainName(chain_tok)) return e;
    if (i < tokens_.size())
      return error(tokens_[i].column, "unexpected \"" + tokens_[i].text + "\"");
    Chain nc;
    nc.name = chain_tok.text;
    appendChain(table, std::move(nc));
    return std::nullopt;
  }
  if (chain == nullptr) {
    return error(chain_tok.column,
                 "chain " + chain_tok.text + " does not exist in table " + tableName(*table_));
  }
  if (kind == Cmd::kPolicy) {
    if (!chain->builtin) {
      return error(chain_tok.column,
                   "policy can only be set on built-in chains, not " + chain_tok.text);
    }
    if (i >= tokens_.size()) return error(chain_tok.column, "-P needs a policy");
    const Token& pol = tokens_[i++];
    auto p = parsePolicy(pol.text);
    if (!p) return error(pol.column, "invalid policy \"" + pol.text + "\" (ACCEPT or DROP)");
    if (*p == Policy::kDrop && *table_ == Table::kNat) {
      return error(pol.column,
                   "DROP is not allowed in the nat table (it is not intended for filtering)");
    }
    if (i < tokens_.size())
      return error(tokens_[i].column, "unexpected \"" + tokens_[i].text + "\"");
    chain->policy = *p;
    return std::nullopt;
  }
  std::size_t position = 0;  // -I: 0-based insertion index
  if (kind == Cmd::kInsert && i < tokens_.size() && !tokens_[i].text.empty() &&
      tokens_[i].text.front() != '-' && tokens_[i].text != "!") {
    const Token& num = tokens_[i++];
    auto n = parseUnsigned(num.text, 10, 0x7fffffff);
    if (!n || *n == 0) return error(num.column, "invalid rule number \"" + num.text + "\"");
    if (*n - 1 > chain->rules.size()) {
      return error(num.column, "index of insertion too big (chain " + chain->name + " has " +
                                   std::to_string(chain->rules.size()) + " rules)");
    }
    position = *n - 1;
  }
  RuleContext ctx;
  ctx.file = source_.name;
  ctx.line = line_;
  ctx.family = rules_.family;
  ctx.table = *table_;
  ctx.chains = &table;
  ctx.chain_index = &chainIndex(table);
  ctx.sets = &rules_.sets;
  auto parsed = parseRuleOptions(tokens_, i, ctx);
  if (auto* e = std::get_if<LoadError>(&parsed)) return *e;
  auto& new_rules = std::get<ParsedRules>(parsed);
  for (Rule& r : new_rules) r.where = SourceLocation{source_.name, line_};
  if (kind == Cmd::kAppend) {
    chain->rules.insert(chain->rules.end(), std::make_move_iterator(new_rules.begin()),
                        std::make_move_iterator(new_rules.end()));
  } else {
    // iptables inserts each expanded rule at the same index, which reverses them.
    chain->rules.insert(chain->rules.begin() + static_cast<std::ptrdiff_t>(position),
                        std::make_move_iterator(new_rules.rbegin()),
                        std::make_move_iterator(new_rules.rend()));
  }
  return std::nullopt;
}

}  // namespace

std::optional<LoadError> applyRestoreSource(const RuleSource& source, RuleSet& rules) {
  RestoreParser p(source, rules);
  return p.run();
}

}  // namespace xredir::loader
