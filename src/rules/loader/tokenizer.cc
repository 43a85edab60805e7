// tokenizer.cc: iptables-restore word splitting (see tokenizer.h).
#include "rules/loader/tokenizer.h"

namespace xredir::loader {

std::optional<TokenizeError> tokenizeLine(std::string_view line, std::vector<Token>& out) {
  out.clear();
  Token current;
  bool in_word = false;  // a word has started (possibly empty, after an opening quote)
  bool quoted = false;
  bool escaped = false;
  int quote_column = 0;
  auto finish = [&] {
    out.push_back(std::move(current));
    current = Token{};
    in_word = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    const int column = static_cast<int>(i) + 1;
    if (quoted) {
      if (escaped) {
        current.text.push_back(c);
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        // As in add_param_to_argv, the closing quote ends the word.
        quoted = false;
        finish();
      } else {
        current.text.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      if (!in_word) current.column = column;
      in_word = true;
      quoted = true;
      quote_column = column;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) finish();
      continue;
    }
    if (!in_word) current.column = column;
    in_word = true;
    current.text.push_back(c);
  }
  if (quoted) return TokenizeError{quote_column, "unterminated double quote"};
  if (in_word) finish();
  return std::nullopt;
}

}  // namespace xredir::loader
