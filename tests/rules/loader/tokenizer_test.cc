// Tests of the iptables-restore word splitting (rules/loader/tokenizer.h).
#include "rules/loader/tokenizer.h"

#include <gtest/gtest.h>

namespace xredir::loader {
namespace {

struct TokCase {
  const char* name;
  const char* line;
  std::vector<std::string> words;
  std::vector<int> columns;
};

TEST(TokenizerTest, SplitsLikeIptablesRestore) {
  const TokCase cases[] = {
      {"blanks", "  -A  X\t-j RETURN ", {"-A", "X", "-j", "RETURN"}, {3, 7, 9, 12}},
      {"quoted word with blanks", "--comment \"a b\" x", {"--comment", "a b", "x"}, {1, 11, 17}},
      {"escaped quote and apostrophe",
       R"(--comment "envoy\'s \"x\" \\")",
       {"--comment", R"(envoy's "x" \)"},
       {1, 11}},
      {"empty quoted word", "--comment \"\" -j X", {"--comment", "", "-j", "X"}, {1, 11, 14, 17}},
      {"closing quote ends the word", "\"ab\"cd", {"ab", "cd"}, {1, 5}},
      {"quote inside a word joins", "ab\"c d\"", {"abc d"}, {1}},
      {"backslash outside quotes is literal", R"(a\b)", {R"(a\b)"}, {1}},
  };
  for (const TokCase& c : cases) {
    std::vector<Token> out;
    ASSERT_FALSE(tokenizeLine(c.line, out).has_value()) << c.name;
    ASSERT_EQ(out.size(), c.words.size()) << c.name;
    for (std::size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i].text, c.words[i]) << c.name << " word " << i;
      EXPECT_EQ(out[i].column, c.columns[i]) << c.name << " word " << i;
    }
  }
}

TEST(TokenizerTest, RefusesUnterminatedQuote) {
  std::vector<Token> out;
  auto e = tokenizeLine("-m comment --comment \"abc", out);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->column, 22);
  EXPECT_NE(e->reason.find("unterminated"), std::string::npos);
}

}  // namespace
}  // namespace xredir::loader
