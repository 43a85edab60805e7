// original_dst_source.h owns the seam between the original-destination API server and whatever
// knows the answers: the conntrack-backed source (wired by the daemon) or a fake in tests. The
// server asks one question per request and never caches the answer, so the source is the single
// source of truth.
#pragma once

#include <cstdint>

#include "xredir/ip_addr.h"

namespace xredir::odst {

// LookupOutcome tells apart the answers the protocol must distinguish. The zero value is not an
// answer: a source that leaves it is treated as "not tracked".
enum class LookupOutcome : std::uint8_t {
  kUnknown = 0,
  kTranslated,     // the connection's destination was rewritten; `original` holds the old one
  kNotTracked,     // no connection with this tuple
  kNotTranslated,  // tracked, but addressed to the proxy itself
};

struct LookupResult {
  LookupOutcome outcome = LookupOutcome::kUnknown;
  Endpoint original;  // valid when outcome is kTranslated
};

// OriginalDstSource answers "where was the connection (protocol, client) -> (proxy) going before
// xredir rewrote it?". client is the proxy's peer, proxy the proxy's own address. Implementations
// are called from the server's I/O threads concurrently, so they must be thread-safe, and they
// must not block: every query on the same thread waits behind a slow lookup.
class OriginalDstSource {
 public:
  virtual ~OriginalDstSource() = default;
  // lookup returns the outcome for one connection; see the class comment for the contract.
  virtual LookupResult lookup(std::uint8_t protocol,
                              const Endpoint& client,
                              const Endpoint& proxy) = 0;
};

}  // namespace xredir::odst
