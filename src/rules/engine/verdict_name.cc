// verdict_name.cc: the names `xredir trace` and the logs print for verdicts.
#include "xredir/rule_eval.h"

namespace xredir {

const char* verdictName(VerdictKind v) {
  switch (v) {
    case VerdictKind::kAccept:
      return "ACCEPT";
    case VerdictKind::kDrop:
      return "DROP";
    case VerdictKind::kRedirect:
      return "REDIRECT";
    case VerdictKind::kDnat:
      return "DNAT";
  }
  return "?";
}

}  // namespace xredir
