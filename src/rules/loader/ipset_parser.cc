// ipset_parser.cc: `ipset save` input (see ipset_parser.h).
#include "rules/loader/ipset_parser.h"

#include <set>
#include <vector>

#include "rules/loader/rule_values.h"
#include "rules/loader/tokenizer.h"

namespace xredir::loader {

std::optional<LoadError> parseIpSets(const RuleSource& source,
                                     std::map<std::string, IpSet, std::less<>>& sets) {
  std::string_view text = source.text;
  int line_no = 0;
  std::vector<Token> tokens;
  std::map<std::string, std::set<Cidr>, std::less<>> seen;  // duplicate check, per set
  auto error = [&](int column, std::string reason) {
    return LoadError{source.name, line_no, column, std::move(reason)};
  };
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (auto e = tokenizeLine(line, tokens)) return error(e->column, e->reason);
    if (tokens.empty() || tokens[0].text.front() == '#') continue;
    const std::string& cmd = tokens[0].text;
    if (cmd != "create" && cmd != "add") {
      return error(tokens[0].column, "unsupported ipset command \"" + cmd + "\" (create, add)");
    }
    if (tokens.size() < 3) return error(tokens[0].column, cmd + " needs a set name and a value");
    const Token& name = tokens[1];
    if (cmd == "create") {
      // IPSET_MAXNAMELEN is 32 including the NUL.
      if (name.text.empty() || name.text.size() > 31) {
        return error(name.column, "invalid set name \"" + name.text + "\"");
      }
      if (sets.count(name.text) != 0)
        return error(name.column, "set " + name.text + " already exists");
      IpSet set;
      set.name = name.text;
      set.type = tokens[2].text;
      if (set.type != "hash:net" && set.type != "hash:ip") {
        return error(tokens[2].column, "unsupported set type " + set.type + " (hash:net, hash:ip)");
      }
      for (std::size_t i = 3; i < tokens.size(); ++i) {
        const std::string& opt = tokens[i].text;
        const bool sizing =
            opt == "hashsize" || opt == "maxelem" || opt == "bucketsize" || opt == "initval";
        if (opt != "family" && !sizing) {
          return error(tokens[i].column, "unsupported set option " + opt);
        }
        if (i + 1 >= tokens.size()) return error(tokens[i].column, opt + " needs a value");
        const Token& value = tokens[++i];
        if (opt == "family") {
          if (value.text == "inet") {
            set.family = Family::kV4;
          } else if (value.text == "inet6") {
            set.family = Family::kV6;
          } else {
            return error(value.column, "unknown family " + value.text + " (inet, inet6)");
          }
        } else if (!parseUnsigned(value.text, 0, 0xffffffff)) {
          // Sizing only: it bounds the table, membership is unchanged.
          return error(value.column, "invalid " + opt + " \"" + value.text + "\"");
        }
      }
      sets.emplace(set.name, std::move(set));
      continue;
    }
    auto it = sets.find(name.text);
    if (it == sets.end()) return error(name.column, "set " + name.text + " does not exist");
    IpSet& set = it->second;
    if (tokens.size() > 3)
      return error(tokens[3].column, "unsupported element option " + tokens[3].text);
    const Token& elem = tokens[2];
    auto cidr = parseCidr(elem.text);
    if (!cidr)
      return error(elem.column, "invalid element \"" + elem.text + "\" (ADDR or ADDR/LEN)");
    if (cidr->addr.family != set.family) {
      return error(elem.column,
                   "element " + elem.text + " does not match the family of set " + set.name);
    }
    // ipset refuses a zero prefix for hash:net ("The value of the CIDR parameter ... is invalid").
    if (cidr->prefix_len == 0) return error(elem.column, "a /0 element is not allowed");
    auto [seen_it, first_add] = seen.try_emplace(set.name);
    if (first_add) seen_it->second.insert(set.members.begin(), set.members.end());
    if (!seen_it->second.insert(*cidr).second) {
      return error(elem.column, "element " + elem.text + " is already in set " + set.name);
    }
    set.members.push_back(*cidr);
  }
  return std::nullopt;
}

}  // namespace xredir::loader
