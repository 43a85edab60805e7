// fake_source.h owns the OriginalDstSource that the odst tests and the bench use instead of
// conntrack: a table of (protocol, client, proxy) -> outcome, and a record of what was asked.
#pragma once

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "odst/original_dst_source.h"

namespace xredir::odst::testing {

struct Question {
  std::uint8_t protocol = 0;
  Endpoint client;
  Endpoint proxy;
  friend auto operator<=>(const Question&, const Question&) = default;
};

class FakeSource : public OriginalDstSource {
 public:
  // set makes lookups of exactly this question answer `result`; others answer not tracked.
  void set(const Question& q, LookupResult result) {
    std::lock_guard<std::mutex> lock(mu_);
    table_[q] = result;
  }
  LookupResult lookup(std::uint8_t protocol,
                      const Endpoint& client,
                      const Endpoint& proxy) override {
    std::lock_guard<std::mutex> lock(mu_);
    const Question q{protocol, client, proxy};
    asked_.push_back(q);
    const auto it = table_.find(q);
    if (it == table_.end()) return LookupResult{LookupOutcome::kNotTracked, {}};
    return it->second;
  }
  std::vector<Question> asked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  mutable std::mutex mu_;
  std::map<Question, LookupResult> table_;
  std::vector<Question> asked_;
};

inline Endpoint ep(const char* text) {
  return *parseEndpoint(text);
}

inline LookupResult translated(const char* original) {
  return LookupResult{LookupOutcome::kTranslated, ep(original)};
}

}  // namespace xredir::odst::testing
