// fixed_redirect_processor.h is the e2e tests' stand-in for the conntrack step: a fixed
// REDIRECT of chosen TCP/UDP destination ports to the local proxy (what
// `iptables -t nat -A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 15001` does), with
// just enough flow memory (client address:port -> original destination, client MAC, ingress
// interface) to translate the proxy's replies back. It proves the datapath's loop with the
// real packet layer; it is not the engine (one mutex, no timeouts, no port clash handling).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

#include "xdp/datapath.h"
#include "xdp/packet_processor.h"
#include "xredir/packet.h"
#include "xredir/packet_rewrite.h"

namespace xredir::xdp::test {

class FixedRedirectProcessor : public PacketProcessor {
 public:
  FixedRedirectProcessor(const Datapath& dp,
                         std::set<std::uint16_t> ports,
                         std::uint16_t proxy_port)
      : ports_(std::move(ports)), proxy_port_(proxy_port) {
    inject_ifindex_ = dp.injection().injectIfindex();
    inject_mac_ = dp.injection().injectMac();
    proxy_mac_ = dp.injection().proxyMac();
    proxy_v4_ = dp.injection().proxyAddress(Family::kV4);
    proxy_v6_ = dp.injection().proxyAddress(Family::kV6);
    for (const auto& c : dp.captures()) capture_macs_[c.ifindex] = c.mac;
  }

  Decision process(std::span<std::uint8_t> frame, std::uint32_t ingress) override {
    ParsedPacket p;
    if (parsePacket(frame, p) != ParseStatus::kOk ||
        (p.protocol != kIpProtoTcp && p.protocol != kIpProtoUdp) ||
        p.fragment != FragmentKind::kNone) {
      return {FrameAction::kToKernel, 0};
    }
    if (ingress == inject_ifindex_) return reply(frame, p);
    if (ports_.count(p.dport) == 0) return {FrameAction::kToKernel, 0};
    const auto& proxy = p.family == Family::kV4 ? proxy_v4_ : proxy_v6_;
    if (!proxy) return {FrameAction::kDrop, 0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      flows_[key(p.protocol, p.src, p.sport)] =
          Flow{Endpoint{p.dst, p.dport}, readSrcMac(frame), ingress};
    }
    if (rewriteDestination(frame, p, Endpoint{*proxy, proxy_port_}) != RewriteStatus::kOk) {
      return {FrameAction::kDrop, 0};
    }
    (void)setSrcMac(frame, inject_mac_);
    (void)setDstMac(frame, proxy_mac_);
    return {FrameAction::kTransmit, inject_ifindex_};
  }

 private:
  struct Flow {
    Endpoint original_dst;
    MacAddr client_mac;
    std::uint32_t ingress;
  };
  using Key = std::tuple<std::uint8_t, IpAddr, std::uint16_t>;
  static Key key(std::uint8_t proto, const IpAddr& a, std::uint16_t port) {
    return {proto, a, port};
  }

  Decision reply(std::span<std::uint8_t> frame, ParsedPacket& p) {
    if (p.sport != proxy_port_) return {FrameAction::kDrop, 0};
    Flow flow;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = flows_.find(key(p.protocol, p.dst, p.dport));
      if (it == flows_.end()) return {FrameAction::kDrop, 0};
      flow = it->second;
    }
    if (rewriteSource(frame, p, flow.original_dst) != RewriteStatus::kOk) {
      return {FrameAction::kDrop, 0};
    }
    (void)setSrcMac(frame, capture_macs_[flow.ingress]);
    (void)setDstMac(frame, flow.client_mac);
    return {FrameAction::kTransmit, flow.ingress};
  }

  std::set<std::uint16_t> ports_;
  std::uint16_t proxy_port_;
  std::uint32_t inject_ifindex_ = 0;
  MacAddr inject_mac_{};
  MacAddr proxy_mac_{};
  std::optional<IpAddr> proxy_v4_;
  std::optional<IpAddr> proxy_v6_;
  std::map<std::uint32_t, MacAddr> capture_macs_;
  std::mutex mu_;
  std::map<Key, Flow> flows_;
};

}  // namespace xredir::xdp::test
