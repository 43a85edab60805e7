// injection_pair.h owns the node-side plumbing of the re-injection path (DESIGN "The flow of a
// packet"): the veth pair xr0/xr1, the proxy addresses on xr1, and the policy routing that
// sends the proxy's replies back out xr1 so that the XDP program on xr0 catches them:
//   ip rule add ipproto tcp|udp sport PROXYPORT lookup TABLE pref PREF       (per family)
//   ip route add default via NEXTHOP dev xr1 onlink table TABLE
//   ip neigh replace NEXTHOP lladdr <xr0's MAC> dev xr1 nud permanent (no ARP/NDP on xr1)
// plus rp_filter relaxed for xr1 (injected packets carry remote sources that route via the
// capture interface) and TX checksum offload off on both ends (a frame from a veth peer with
// offload holds only a partial checksum, which an incremental rewrite cannot fix).
// Everything is recorded in a NetSetup and removed when the pair is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "xdp/net_setup.h"
#include "xredir/os_status.h"
#include "xredir/ip_addr.h"
#include "xredir/packet.h"

namespace xredir::xdp {

struct InjectionConfig {
  std::string inject_if = "xr0";  // the datapath's side: XDP + AF_XDP, no address
  std::string proxy_if = "xr1";   // the kernel's side: holds the proxy addresses
  // 169.254.77.0/30 (link-local, RFC 3927) and a ULA /64 (RFC 4193): collide with nothing a
  // node routes. The next hop is the fake neighbour the replies are sent to.
  std::string proxy_v4 = "169.254.77.1/30";
  std::string next_hop_v4 = "169.254.77.2";
  std::string proxy_v6 = "fd78:7265:6469::1/64";  // empty: no IPv6
  std::string next_hop_v6 = "fd78:7265:6469::2";
  std::vector<std::uint16_t> proxy_ports = {15001};
  std::uint32_t table = 7877;    // routing table for the proxy's replies
  std::uint32_t rule_pref = 50;  // before the main table's rule (32766)
  std::uint32_t mtu = 0;         // 0: leave the veth default (1500); native XDP caps ~3498
  // RX/TX queues of each end: the Datapath sets it to the capture interfaces' queue count, so
  // that every worker (one per queue index) has a socket on xr0 to send towards the proxy.
  std::uint32_t queues = 1;
  // GRO on the proxy end: veth gives an end NAPI (needed to receive XDP_REDIRECTed frames; the
  // fast path redirects into xr0) only with an XDP program attached or GRO on.
  bool proxy_gro = false;
};

class InjectionPair {
 public:
  // create builds the pair and its routing. Refuses when either link name already exists (an
  // instance running, or a leftover: `ip link del xr0` removes both ends). On failure,
  // everything made so far is removed again.
  static std::unique_ptr<InjectionPair> create(const InjectionConfig& config, Status& err);
  ~InjectionPair() = default;  // net_ undoes everything
  InjectionPair(const InjectionPair&) = delete;
  InjectionPair& operator=(const InjectionPair&) = delete;

  const InjectionConfig& config() const { return config_; }
  std::uint32_t injectIfindex() const { return inject_ifindex_; }
  std::uint32_t proxyIfindex() const { return proxy_ifindex_; }
  const MacAddr& injectMac() const { return inject_mac_; }
  const MacAddr& proxyMac() const { return proxy_mac_; }
  // proxyAddress returns the proxy's address of a family (nullopt: family not configured).
  std::optional<IpAddr> proxyAddress(Family family) const;

 private:
  InjectionPair() = default;
  Status setUp();
  InjectionConfig config_;
  NetSetup net_;
  std::uint32_t inject_ifindex_ = 0;
  std::uint32_t proxy_ifindex_ = 0;
  MacAddr inject_mac_{};
  MacAddr proxy_mac_{};
};

// readMac reads an interface's MAC from /sys/class/net/NAME/address.
std::optional<MacAddr> readMac(const std::string& ifname);
// formatMac prints aa:bb:cc:dd:ee:ff.
std::string formatMac(const MacAddr& mac);

}  // namespace xredir::xdp
