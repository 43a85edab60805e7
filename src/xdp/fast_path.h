// fast_path.h owns what user space installs in the XDP program's fast-path map
// (XREDIR_MAP_FAST): for an established translated TCP connection, the two entries (one per
// direction, keyed by the packet as it arrives) that let the program rewrite and redirect its
// data/ACK segments itself, without AF_XDP. The entries are pure functions of the conntrack
// entry and of the injection pair's addresses, so they are computed here and unit-tested; the
// processor (conntrack_processor.h) decides when to install and remove them. Conntrack stays
// the source of truth: entries exist only while the connection is ESTABLISHED there.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "xdp/abi.h"
#include "xredir/conntrack.h"
#include "xredir/packet.h"

namespace xredir::xdp {

// FastPathLinks: the injection pair as the original direction's egress (the frame is sent
// out the datapath's end, xr0, towards the proxy's end, xr1).
struct FastPathLinks {
  std::uint32_t inject_ifindex = 0;
  MacAddr inject_mac{};  // source MAC towards the proxy
  MacAddr proxy_mac{};   // destination MAC towards the proxy
};

struct FastPathEntry {
  xredir_flow_key key{};
  xredir_fast_entry value{};
};

// FastPathPair: the original direction's entry (client -> proxy, keyed by the original tuple,
// egress xr0) and the reply direction's (proxy -> client, keyed by the reply tuple, egress the
// capture interface the connection came in on, with the MACs recorded there).
struct FastPathPair {
  FastPathEntry original;
  FastPathEntry reply;
};

// fastPathEntries computes the two entries of `conn`, or nullopt when the connection is not
// one the program carries: not TCP, not IPv4 (the program's fast path is IPv4 only), not
// ESTABLISHED, destination not translated, source-translated (the OUTPUT hook's local
// connections, whose reply path is the injection pair itself), or without a reply path.
std::optional<FastPathPair> fastPathEntries(const ConnectionView& conn, const FastPathLinks& links);

// fastPathKeys returns the keys of both directions' entries from one packet of the connection:
// the tuple it arrived with and the tuple it carries after translation (whose inverse is the
// other direction's arriving tuple). The first key is the arriving one.
std::pair<xredir_flow_key, xredir_flow_key> fastPathKeys(const FlowTuple& arrived,
                                                         const FlowTuple& translated);

// tupleOfKey is the conntrack tuple of a flow key (the inverse of steering.h's flowKeyOf).
FlowTuple tupleOfKey(const xredir_flow_key& key);

}  // namespace xredir::xdp
