// output_capture.h owns the kernel-side plumbing of the OUTPUT hook: capturing the connections
// that the node's own processes open, so the engine evaluates them in the OUTPUT chains.
//   ip rule add pref PREF   iif lo fwmark M/M lookup main      (each excluded mark)
//   ip rule add pref PREF   iif lo uidrange U-U lookup main    (each excluded uid)
//   ip rule add pref PREF+1 iif lo ipproto tcp|udp lookup TABLE (each family, each protocol)
//   ip route add default via NEXTHOP dev xr1 onlink src NODE_ADDR table TABLE
// `iif lo` in a routing rule matches locally generated packets only. The proxy's own upstream
// connections are kept out by its mark or uid (trireme's proxy mark, Istio's uid 1337), so they
// never loop. The route's `src` makes applications bind to a real node address (the main
// table's default route's source unless configured), which is what a not-translated
// connection keeps when the kernel forwards it. Destinations that are local addresses are
// routed by the local table (pref 0) before these rules: the OUTPUT hook covers traffic that
// leaves the node.
// Not-translated connections are handed to the kernel as received on xr0 and forwarded from
// there, so forwarding is enabled, xr0 accepts packets with a local source (accept_local) and
// does no reverse-path check. The socket context probe (output_sock_ctx.h) is attached to
// xr1's egress. Everything is recorded in a NetSetup and undone on destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xdp/injection_pair.h"
#include "xdp/net_setup.h"
#include "xredir/os_status.h"
#include "xdp/output_sock_ctx.h"
#include "xredir/ip_addr.h"

namespace xredir::xdp {

struct OutputConfig {
  std::vector<std::string> protocols = {"tcp"};  // "tcp", "udp"
  std::vector<std::uint32_t> exclude_uids;       // e.g. the proxy's uid (Istio: 1337)
  std::vector<std::uint32_t> exclude_marks;      // e.g. the proxy's mark (matched as M/M)
  // The source address local connections bind to; empty: the main table's default route's
  // source address of the family. A family without either is not captured (logged).
  std::string source_v4;
  std::string source_v6;
  bool ipv6 = true;              // capture IPv6 too (needs net.ipv6.conf.all.forwarding=1)
  std::uint32_t table = 7878;    // routing table of captured connections
  std::uint32_t rule_pref = 60;  // exclusions at this pref, capture rules at pref + 1
};

class OutputCapture {
 public:
  // create sets the capture up next to an existing injection pair. Returns nullptr and sets
  // err (one clear line) on failure, with everything made so far removed.
  static std::unique_ptr<OutputCapture> create(const OutputConfig& config,
                                               const InjectionPair& pair,
                                               Status& err);
  ~OutputCapture();
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  // captures reports whether local connections of a family are captured.
  bool captures(Family family) const {
    return family == Family::kV4 ? source_v4_.has_value() : source_v6_.has_value();
  }
  // clientAddress is the source the proxy sees for a captured connection of a family: the
  // injection pair's next hop, so its replies leave through xr1 (nullopt: family not captured).
  std::optional<IpAddr> clientAddress(Family family) const {
    if (!captures(family)) return std::nullopt;
    return family == Family::kV4 ? next_hop_v4_ : next_hop_v6_;
  }
  // sockContext returns what the probe recorded for a flow's first packet (one bpf() call).
  std::optional<xredir_sock_ctx> sockContext(const xredir_flow_key& flow) const {
    return probe_->lookup(flow);
  }
  // interfaceName returns the name of an interface that existed at start-up ("" otherwise).
  // The view stays valid as long as this object.
  std::string_view interfaceName(std::uint32_t ifindex) const;

 private:
  OutputCapture() = default;
  Status setUp(const InjectionPair& pair);
  Status setUpFamily(Family family, const std::string& source);

  OutputConfig config_;
  std::string inject_if_;
  std::string proxy_if_;
  std::optional<IpAddr> source_v4_;
  std::optional<IpAddr> source_v6_;
  std::optional<IpAddr> next_hop_v4_;
  std::optional<IpAddr> next_hop_v6_;
  std::vector<std::pair<std::uint32_t, std::string>> names_;
  NetSetup net_;  // destroyed after probe_: the probe lives on xr1, the rules around it
  std::unique_ptr<OutputSockCtx> probe_;
};

// defaultSource returns the source address of the main table's default route of a family, as
// `ip route get` reports it for the default gateway (nullopt: no default route).
std::optional<IpAddr> defaultSource(Family family);

}  // namespace xredir::xdp
