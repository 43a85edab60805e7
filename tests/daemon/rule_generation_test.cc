// Tests of loadRuleGeneration (src/daemon/rule_generation.h), the load run at start-up and on
// every SIGHUP: with the OUTPUT hook on, `-m owner --gid-owner` anywhere the OUTPUT hook reaches
// is refused naming file:line (the socket context has no group), and nothing else changes.
#include "daemon/rule_generation.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace xredir {
namespace {

// TempDir is a directory removed with its files at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "xredir_rulegen_XXXXXX";
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    for (const std::string& f : files_) unlink(f.c_str());
    if (!path_.empty()) rmdir(path_.c_str());
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    files_.push_back(file);
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// natRules wraps body lines in a nat table with the built-in chains and XR_OUT, XR_POST.
std::string natRules(const std::vector<std::string>& body) {
  std::string text =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      ":POSTROUTING ACCEPT [0:0]\n:XR_OUT - [0:0]\n:XR_POST - [0:0]\n";
  for (const std::string& line : body) text += line + "\n";
  return text + "COMMIT\n";
}

// lineOf returns the 1-based line of the first line of text containing needle.
int lineOf(const std::string& text, const std::string& needle) {
  int line = 1;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find('\n', start);
    if (text.substr(start, end - start).find(needle) != std::string::npos) return line;
    if (end == std::string::npos) return 0;
    start = end + 1;
    ++line;
  }
}

TEST(RuleGeneration, GidOwnerReachedFromOutputIsRefusedWhenOutputIsOn) {
  const std::string redirect = "-A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 15001";
  struct Case {
    const char* name;
    std::string v4;      // rules.v4 text
    std::string v6;      // rules.v6 text ("": none)
    bool output = true;  // [output] enabled
    bool output_ipv6 = true;
    const char* refused;  // file whose MARK line must be named; nullptr: loads
  };
  const std::string mark = "MARK_LINE";
  const std::vector<Case> cases = {
      {"nat OUTPUT --gid-owner, output on",
       natRules({redirect,
                 "-A OUTPUT -p tcp -m owner --gid-owner 1000 -m comment --comment MARK_LINE "
                 "-j REDIRECT --to-ports 15001"}),
       "", true, true, "rules.v4"},
      {"the same with output off loads",
       natRules(
           {redirect, "-A OUTPUT -p tcp -m owner --gid-owner 1000 -j REDIRECT --to-ports 15001"}),
       "", false, true, nullptr},
      {"inverted --gid-owner",
       natRules({redirect,
                 "-A OUTPUT -p tcp -m owner ! --gid-owner 1000 -m comment --comment MARK_LINE "
                 "-j RETURN"}),
       "", true, true, "rules.v4"},
      {"in a user chain jumped to from OUTPUT",
       natRules({redirect, "-A OUTPUT -p tcp -j XR_OUT",
                 "-A XR_OUT -m owner --uid-owner 1337 -j RETURN",
                 "-A XR_OUT -m owner --gid-owner 1337 -m comment --comment MARK_LINE -j RETURN",
                 "-A XR_OUT -p tcp -j REDIRECT --to-ports 15001"}),
       "", true, true, "rules.v4"},
      {"in another table of the OUTPUT hook (mangle)",
       natRules({redirect}) +
           "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
           ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
           "-A OUTPUT -m owner --gid-owner 5 -m comment --comment MARK_LINE -j MARK "
           "--set-mark 1\nCOMMIT\n",
       "", true, true, "rules.v4"},
      {"--uid-owner and --socket-exists are evaluated: load",
       natRules({redirect, "-A OUTPUT -m owner --uid-owner 1337 -j RETURN",
                 "-A OUTPUT -m owner ! --socket-exists -j RETURN",
                 "-A OUTPUT -p tcp -j REDIRECT --to-ports 15001"}),
       "", true, true, nullptr},
      {"--gid-owner only reached from POSTROUTING (never evaluated) loads",
       natRules({redirect, "-A POSTROUTING -j XR_POST",
                 "-A XR_POST -m owner --gid-owner 1000 -j ACCEPT"}),
       "", true, true, nullptr},
      {"IPv6 rules, IPv6 output capture on", natRules({redirect}),
       natRules(
           {redirect, "-A OUTPUT -m owner --gid-owner 7 -m comment --comment MARK_LINE -j RETURN"}),
       true, true, "rules.v6"},
      {"IPv6 rules, IPv6 output capture off: never evaluated, loads", natRules({redirect}),
       natRules({redirect, "-A OUTPUT -m owner --gid-owner 7 -j RETURN"}), true, false, nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    RunConfig config;
    config.rules_v4 = dir.write("rules.v4", c.v4);
    if (!c.v6.empty()) config.rules_v6 = dir.write("rules.v6", c.v6);
    config.output_enabled = c.output;
    config.output_ipv6 = c.output_ipv6;
    // Start-up and every SIGHUP reload run this same load.
    const auto loaded = loadRuleGeneration(config);
    if (c.refused == nullptr) {
      ASSERT_TRUE(std::holds_alternative<RuleGeneration>(loaded)) << std::get<std::string>(loaded);
      const RuleGeneration& g = std::get<RuleGeneration>(loaded);
      EXPECT_NE(g.compiled_v4, nullptr);
      EXPECT_NE(g.rules_v4, nullptr);
      EXPECT_EQ(g.redirect_ports, std::vector<std::uint16_t>{15001});
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<std::string>(loaded)) << "loaded, expected a refusal";
    const std::string& error = std::get<std::string>(loaded);
    const std::string& text = std::string(c.refused) == "rules.v4" ? c.v4 : c.v6;
    const std::string where =
        dir.path() + "/" + c.refused + ":" + std::to_string(lineOf(text, mark)) + ": ";
    EXPECT_EQ(error.rfind(where, 0), 0U) << error << "\nexpected to start with " << where;
    EXPECT_NE(error.find("--gid-owner"), std::string::npos) << error;
    EXPECT_NE(error.find("[output]"), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace xredir
