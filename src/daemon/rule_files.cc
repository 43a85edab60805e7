// rule_files.cc: reads rule files whole and hands them to the loader.
#include "daemon/rule_files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace xredir {
namespace {

std::variant<RuleSource, std::string> readSource(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read " + path + ": " + std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return "cannot read " + path + ": " + std::strerror(errno);
  return RuleSource{path, text.str()};
}

}  // namespace

std::variant<RuleSet, std::string> loadRuleFiles(const std::vector<std::string>& rule_paths,
                                                 const std::vector<std::string>& ipset_paths,
                                                 Family family) {
  std::vector<RuleSource> rules;
  std::vector<RuleSource> ipsets;
  for (const auto& [paths, into] : {std::pair{&rule_paths, &rules}, {&ipset_paths, &ipsets}}) {
    for (const std::string& path : *paths) {
      auto source = readSource(path);
      if (auto* error = std::get_if<std::string>(&source)) return *error;
      into->push_back(std::move(std::get<RuleSource>(source)));
    }
  }
  auto loaded = loadRuleSet(rules, ipsets, LoadOptions{family});
  if (auto* error = std::get_if<LoadError>(&loaded)) return error->message();
  return std::move(std::get<RuleSet>(loaded));
}

}  // namespace xredir
