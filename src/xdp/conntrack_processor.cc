#include "xdp/conntrack_processor.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "xdp/steering.h"
#include "xredir/packet.h"
#include "xredir/packet_checksum.h"
#include "xredir/packet_rewrite.h"

namespace xredir::xdp {
namespace {

void bump(std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

// isVeth reports whether ifname's driver is veth (ETHTOOL_GDRVINFO).
bool isVeth(const std::string& ifname) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq req{};
  std::strncpy(req.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  req.ifr_data = reinterpret_cast<char*>(&info);
  const bool veth = ioctl(fd, SIOCETHTOOL, &req) == 0 && std::strcmp(info.driver, "veth") == 0;
  close(fd);
  return veth;
}

}  // namespace

ConntrackProcessor::ConntrackProcessor(Datapath& datapath,
                                       ConntrackTable& table,
                                       const Clock& clock,
                                       const EvalContext& eval_ctx)
    : bpf_(datapath.bpf()), table_(table), clock_(clock), eval_ctx_(eval_ctx) {
  step_config_.proxy_v4 = datapath.injection().proxyAddress(Family::kV4);
  step_config_.proxy_v6 = datapath.injection().proxyAddress(Family::kV6);
  for (const auto& c : datapath.captures())
    captures_.push_back({c.ifindex, c.ifname, c.mac, isVeth(c.ifname)});
  inject_ifindex_ = datapath.injection().injectIfindex();
  inject_mac_ = datapath.injection().injectMac();
  proxy_mac_ = datapath.injection().proxyMac();
}

const ConntrackProcessor::Iface* ConntrackProcessor::capture(std::uint32_t ifindex) const {
  for (const auto& c : captures_) {
    if (c.ifindex == ifindex) return &c;
  }
  return nullptr;
}

Decision ConntrackProcessor::process(std::span<std::uint8_t> frame, std::uint32_t ingress_ifindex) {
  ParsedPacket parsed;
  if (parsePacket(frame, parsed) != ParseStatus::kOk) {
    bump(stats_.unparsable);
    return {FrameAction::kToKernel, 0};
  }
  if (ingress_ifindex == inject_ifindex_) return processReply(frame, parsed);
  const Iface* in = capture(ingress_ifindex);
  std::shared_ptr<const CompiledRuleSet> rules =
      parsed.family == Family::kV4 ? rules_v4_.load() : rules_v6_.load();
  if (in == nullptr || !rules) return {FrameAction::kToKernel, 0};

  PacketMeta meta;
  meta.in_iface = in->name;
  StepInput input;
  input.hook = Hook::kPrerouting;
  input.context = &meta;
  input.ingress_ifindex = ingress_ifindex;
  input.now_ns = clock_.nowNs();
  // The flow as it arrived (the step rewrites `parsed` along with the frame).
  const Endpoint src{parsed.src, parsed.sport};
  const Endpoint dst{parsed.dst, parsed.dport};
  const std::uint8_t protocol = parsed.protocol;
  StepResult r = stepPacket(table_, step_config_, *rules, eval_ctx_, frame, parsed, input);
  if (in->partial_checksums &&
      (r.action == StepAction::kTranslatedForward || r.action == StepAction::kTranslatedReply)) {
    recomputePacketChecksums(frame, parsed);
  }
  switch (r.action) {
    case StepAction::kTranslatedForward:
      if (r.detail == StepDetail::kNewFlow &&
          !bpf_.markTranslated(flowKeyOf(protocol, src, dst)).ok()) {
        bump(stats_.xlat_mark_failed);
      }
      (void)setSrcMac(frame, inject_mac_);
      (void)setDstMac(frame, proxy_mac_);
      return {FrameAction::kTransmit, inject_ifindex_};
    case StepAction::kTranslatedReply:
      // A reply arriving on a capture interface (DNAT to a remote server): back to the client.
      (void)setSrcMac(frame, r.reply_path.own_mac);
      (void)setDstMac(frame, r.reply_path.peer_mac);
      return {FrameAction::kTransmit, r.reply_path.ifindex};
    case StepAction::kPassUntracked:
    case StepAction::kPassNotTranslated:
      return {FrameAction::kToKernel, 0};
    case StepAction::kDrop:
      bump(stats_.step_drop);
      return {FrameAction::kDrop, 0};
    case StepAction::kError:
      bump(stats_.step_error);
      return {FrameAction::kDrop, 0};
  }
  return {FrameAction::kDrop, 0};
}

Decision ConntrackProcessor::processReply(std::span<std::uint8_t> frame, ParsedPacket& parsed) {
  // Everything on the injection interface is the proxy answering a redirected client; a
  // packet conntrack does not know there is not the rules' business (evaluating PREROUTING on
  // the proxy's own packets could translate them), so it is dropped, as the kernel would drop
  // a reply sent to a fake next hop.
  if ((parsed.protocol != kIpProtoTcp && parsed.protocol != kIpProtoUdp) ||
      parsed.fragment == FragmentKind::kLater) {
    return {FrameAction::kToKernel, 0};
  }
  FlowTuple tuple = FlowTuple::fromEndpoints(parsed.protocol, Endpoint{parsed.src, parsed.sport},
                                             Endpoint{parsed.dst, parsed.dport});
  TrackResult t = table_.trackPacket(tuple, parsed.tcp_flags, clock_.nowNs());
  if (t.status != TrackStatus::kHit || t.dir != Direction::kReply) {
    bump(stats_.reply_untracked);
    return {FrameAction::kDrop, 0};
  }
  if (t.rewrite && applyTranslation(frame, parsed, t.target) != RewriteStatus::kOk) {
    bump(stats_.step_error);
    return {FrameAction::kDrop, 0};
  }
  (void)setSrcMac(frame, t.reply_path.own_mac);
  (void)setDstMac(frame, t.reply_path.peer_mac);
  return {FrameAction::kTransmit, t.reply_path.ifindex};
}

}  // namespace xredir::xdp
