// conntrack_odst_source.h: the original-destination API's answers come from conntrack. This
// adapter is the only place the two vocabularies meet.
#pragma once

#include "odst/original_dst_source.h"
#include "xredir/conntrack.h"

namespace xredir {

class ConntrackOdstSource final : public odst::OriginalDstSource {
 public:
  explicit ConntrackOdstSource(const ConntrackTable& table) : table_(table) {}

  odst::LookupResult lookup(std::uint8_t protocol,
                            const Endpoint& client,
                            const Endpoint& proxy) override {
    const OriginalDstResult r = table_.originalDst(protocol, client, proxy);
    switch (r.status) {
      case OriginalDstStatus::kFound:
        return {odst::LookupOutcome::kTranslated, r.dst};
      case OriginalDstStatus::kNotTranslated:
        return {odst::LookupOutcome::kNotTranslated, {}};
      case OriginalDstStatus::kNotTracked:
      case OriginalDstStatus::kUnsupportedProtocol:
        return {odst::LookupOutcome::kNotTracked, {}};
    }
    return {odst::LookupOutcome::kNotTracked, {}};
  }

 private:
  const ConntrackTable& table_;
};

}  // namespace xredir
