// tokenizer.h owns splitting one iptables-restore line into words the way iptables 1.8.9's
// add_param_to_argv does: blanks separate words, double quotes group a word (a closing quote
// ends it, so `""` is an empty word), and inside quotes a backslash takes the next character
// literally (`\"`, `\\`, `\'`). Outside quotes a backslash is an ordinary character. Each word
// keeps its 1-based column so errors can point at it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xredir::loader {

struct Token {
  std::string text;
  int column = 0;  // 1-based byte column of the word's first character in the line
};

struct TokenizeError {
  int column = 0;
  std::string reason;
};

// tokenizeLine splits line into words. Fails only on an unterminated double quote (which
// iptables-restore would silently close at the end of the line; refusing it is deliberate,
// because it almost always means a lost quote that would swallow the rest of the rule).
std::optional<TokenizeError> tokenizeLine(std::string_view line, std::vector<Token>& out);

}  // namespace xredir::loader
