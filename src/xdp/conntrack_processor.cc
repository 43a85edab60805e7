#include "xdp/conntrack_processor.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "xdp/redirect_target.h"
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
    : bpf_(datapath.bpf()),
      output_(datapath.output()),
      table_(table),
      clock_(clock),
      eval_ctx_(eval_ctx) {
  step_config_.proxy_v4 = datapath.injection().proxyAddress(Family::kV4);
  step_config_.proxy_v6 = datapath.injection().proxyAddress(Family::kV6);
  for (const auto& c : datapath.captures())
    captures_.push_back({c.ifindex, c.ifname, c.mac, isVeth(c.ifname)});
  inject_ifindex_ = datapath.injection().injectIfindex();
  inject_mac_ = datapath.injection().injectMac();
  proxy_mac_ = datapath.injection().proxyMac();
  hit_stripes_ = std::max(1u, std::thread::hardware_concurrency());
  fast_links_ = FastPathLinks{inject_ifindex_, inject_mac_, proxy_mac_};
  redirect_ok_ = std::make_unique<std::atomic<bool>[]>(captures_.size() + 1);
}

void ConntrackProcessor::setFastPath(bool on) {
  fast_path_ = on;
  if (on) refreshRedirectTargets();
}

void ConntrackProcessor::refreshRedirectTargets() {
  for (std::size_t i = 0; i <= captures_.size(); ++i) {
    const std::uint32_t ifindex = i < captures_.size() ? captures_[i].ifindex : inject_ifindex_;
    const bool ok = canRedirectTo(ifindex).value_or(false);
    redirect_ok_[i].store(ok, std::memory_order_relaxed);
  }
}

bool ConntrackProcessor::redirectOk(std::uint32_t ifindex) const {
  if (ifindex == inject_ifindex_) {
    return redirect_ok_[captures_.size()].load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < captures_.size(); ++i) {
    if (captures_[i].ifindex == ifindex) return redirect_ok_[i].load(std::memory_order_relaxed);
  }
  return false;
}

std::shared_ptr<const ConntrackProcessor::Generation> ConntrackProcessor::makeGeneration(
    FamilyRules rules) const {
  if (!rules.compiled) return nullptr;
  auto gen = std::make_shared<Generation>();
  gen->compiled = std::move(rules.compiled);
  gen->rules = std::move(rules.rules);
  if (gen->rules) gen->hits = std::make_unique<RuleHitCounters>(*gen->rules, hit_stripes_);
  return gen;
}

void ConntrackProcessor::setRules(FamilyRules v4, FamilyRules v6) {
  gen_v4_.store(makeGeneration(std::move(v4)));
  gen_v6_.store(makeGeneration(std::move(v6)));
}

std::shared_ptr<const RuleHitCounters> ConntrackProcessor::ruleHits(Family family) const {
  std::shared_ptr<const Generation> gen = generation(family);
  if (!gen || !gen->hits) return nullptr;
  return std::shared_ptr<const RuleHitCounters>(gen, gen->hits.get());
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
  if (ingress_ifindex == inject_ifindex_) return processInjected(frame, parsed);
  const Iface* in = capture(ingress_ifindex);
  const std::shared_ptr<const Generation> gen = generation(parsed.family);
  if (in == nullptr || !gen) return {FrameAction::kToKernel, 0};

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
  StepResult r = stepPacket(table_, step_config_, *gen->compiled, eval_ctx_, frame, parsed, input);
  countHit(*gen, r);
  if (in->partial_checksums &&
      (r.action == StepAction::kTranslatedForward || r.action == StepAction::kTranslatedReply)) {
    recomputePacketChecksums(frame, parsed);
  }
  // A new translated flow stays steered to AF_XDP even after a reload narrows the filter.
  if (r.action == StepAction::kTranslatedForward && r.detail == StepDetail::kNewFlow &&
      !bpf_.markTranslated(flowKeyOf(protocol, src, dst)).ok()) {
    bump(stats_.xlat_mark_failed);
  }
  if (fast_path_ && protocol == kIpProtoTcp && parsed.family == Family::kV4 &&
      (r.action == StepAction::kTranslatedForward || r.action == StepAction::kTranslatedReply)) {
    const FlowTuple arrived = FlowTuple::fromEndpoints(protocol, src, dst);
    if ((parsed.tcp_flags & (kTcpFin | kTcpRst)) != 0) {
      removeFast(arrived, FlowTuple::fromEndpoints(protocol, Endpoint{parsed.src, parsed.sport},
                                                   Endpoint{parsed.dst, parsed.dport}));
    } else if (r.action == StepAction::kTranslatedForward && r.detail != StepDetail::kNewFlow &&
               (parsed.tcp_flags & kTcpSyn) == 0) {
      maybeInstallFast(arrived);
    }
  }
  return route(frame, r);
}

void ConntrackProcessor::maybeInstallFast(const FlowTuple& arrived) {
  // Reached only by a data/ACK segment of a translated flow that the program did not carry:
  // the entries are not installed yet (or the map refused them). One lookup and two bpf()
  // calls, for the few segments in flight when the connection becomes ESTABLISHED.
  const std::optional<LookupHit> hit = table_.lookup(arrived);
  if (!hit || hit->dir != Direction::kOriginal) return;
  const std::optional<FastPathPair> pair = fastPathEntries(hit->conn, fast_links_);
  if (!pair || !redirectOk(pair->original.value.ifindex)) return;
  // Reply direction first (when its egress takes redirects): once the original direction is
  // fast, the proxy's answers follow quickly.
  const bool reply_fast = redirectOk(pair->reply.value.ifindex);
  if ((reply_fast && !bpf_.installFast(pair->reply.key, pair->reply.value).ok()) ||
      !bpf_.installFast(pair->original.key, pair->original.value).ok()) {
    (void)bpf_.removeFast(pair->reply.key);
    bump(stats_.fast_install_failed);
    return;
  }
  bump(stats_.fast_installed);
}

void ConntrackProcessor::removeFast(const FlowTuple& arrived, const FlowTuple& translated) {
  const auto keys = fastPathKeys(arrived, translated);
  (void)bpf_.removeFast(keys.first);
  (void)bpf_.removeFast(keys.second);
  bump(stats_.fast_removed);
}

void ConntrackProcessor::sweepFastPath() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const std::uint64_t mono_now = static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
                                 static_cast<std::uint64_t>(ts.tv_nsec);
  const std::uint64_t since = last_sweep_mono_ns_;
  last_sweep_mono_ns_ = mono_now;
  refreshRedirectTargets();
  for (const FastMapEntry& e : bpf_.fastEntries()) {
    const FlowTuple tuple = tupleOfKey(e.key);
    const std::optional<LookupHit> hit = table_.lookup(tuple);
    if (!hit || hit->conn.tcp_state != TcpState::kEstablished || !redirectOk(e.value.ifindex)) {
      (void)bpf_.removeFast(e.key);
      bump(stats_.fast_swept);
      continue;
    }
    // Carried by the program since the last sweep: what trackPacket would have done for those
    // segments (an ACK in ESTABLISHED keeps the state and restarts the timeout).
    if (e.value.last_seen_ns != 0 && e.value.last_seen_ns >= since) {
      (void)table_.trackPacket(tuple, kTcpAck, clock_.nowNs());
      bump(stats_.fast_refreshed);
    }
  }
}

Decision ConntrackProcessor::route(std::span<std::uint8_t> frame, const StepResult& r) {
  switch (r.action) {
    case StepAction::kTranslatedForward:
      return toProxy(frame);
    case StepAction::kTranslatedReply:
      // A reply of a translated flow (from a remote DNAT target, or to a local OUTPUT client).
      return toClient(frame, r.reply_path);
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

Decision ConntrackProcessor::toProxy(std::span<std::uint8_t> frame) {
  (void)setSrcMac(frame, inject_mac_);
  (void)setDstMac(frame, proxy_mac_);
  return {FrameAction::kTransmit, inject_ifindex_};
}

Decision ConntrackProcessor::toClient(std::span<std::uint8_t> frame, const ReplyPath& path) {
  // A source-translated connection (OUTPUT hook) stores no reply path: its client is the
  // application behind xr1, reached by sending out xr0.
  if (path.ifindex == 0) {
    (void)setSrcMac(frame, inject_mac_);
    (void)setDstMac(frame, proxy_mac_);
    return {FrameAction::kTransmit, inject_ifindex_};
  }
  (void)setSrcMac(frame, path.own_mac);
  (void)setDstMac(frame, path.peer_mac);
  return {FrameAction::kTransmit, path.ifindex};
}

Decision ConntrackProcessor::processInjected(std::span<std::uint8_t> frame, ParsedPacket& parsed) {
  // What arrives here is the proxy answering a redirected client, or (OUTPUT hook) a local
  // connection routed here by the capture rules. A packet of the proxy that conntrack does not
  // know is not the rules' business (evaluating them on the proxy's own packets could
  // translate them), so it is dropped, as the kernel would drop a reply sent to a fake next hop.
  if ((parsed.protocol != kIpProtoTcp && parsed.protocol != kIpProtoUdp) ||
      parsed.fragment == FragmentKind::kLater) {
    return {FrameAction::kToKernel, 0};
  }
  FlowTuple tuple = FlowTuple::fromEndpoints(parsed.protocol, Endpoint{parsed.src, parsed.sport},
                                             Endpoint{parsed.dst, parsed.dport});
  TrackResult t = table_.trackPacket(tuple, parsed.tcp_flags, clock_.nowNs());
  if (t.status != TrackStatus::kHit) {
    const bool local = output_ != nullptr && output_->captures(parsed.family) &&
                       step_config_.proxy_v4 != parsed.src && step_config_.proxy_v6 != parsed.src;
    if (local) return processOutput(frame, parsed);
    bump(stats_.reply_untracked);
    return {FrameAction::kDrop, 0};
  }
  if (t.dir == Direction::kOriginal) {
    // A later packet of a local connection (OUTPUT hook). A no-op entry (not translated): the
    // kernel forwards it, and the flow is remembered as pass-through by the worker.
    if (!t.rewrite) return {FrameAction::kToKernel, 0};
    if (applyTranslation(frame, parsed, t) != RewriteStatus::kOk) {
      bump(stats_.step_error);
      return {FrameAction::kDrop, 0};
    }
    return toProxy(frame);
  }
  if (t.rewrite && applyTranslation(frame, parsed, t) != RewriteStatus::kOk) {
    bump(stats_.step_error);
    return {FrameAction::kDrop, 0};
  }
  if (fast_path_ && parsed.protocol == kIpProtoTcp && (parsed.tcp_flags & (kTcpFin | kTcpRst))) {
    removeFast(tuple, t.target);
  }
  return toClient(frame, t.reply_path);
}

Decision ConntrackProcessor::processOutput(std::span<std::uint8_t> frame, ParsedPacket& parsed) {
  const std::shared_ptr<const Generation> gen = generation(parsed.family);
  if (!gen) return {FrameAction::kToKernel, 0};
  PacketMeta meta;
  // The socket context exists for a connection's first packet only; later packets of a flow
  // that conntrack does not know (opened before xredir started) go to the kernel untracked.
  const bool first =
      parsed.protocol == kIpProtoUdp || tcpEventFromFlags(parsed.tcp_flags) == TcpEvent::kSyn;
  if (first) {
    bump(stats_.output_new);
    const auto ctx = output_->sockContext(flowKeyOf(
        parsed.protocol, Endpoint{parsed.src, parsed.sport}, Endpoint{parsed.dst, parsed.dport}));
    if (ctx) {
      meta.mark = ctx->mark;
      if (ctx->flags & XREDIR_SOCKCTX_HAS_SOCKET) meta.uid = ctx->uid;
      if (ctx->flags & XREDIR_SOCKCTX_HAS_OUT)
        meta.out_iface = output_->interfaceName(ctx->out_ifindex);
    } else {
      bump(stats_.output_no_context);
    }
  }
  StepInput input;
  input.hook = Hook::kOutput;
  input.context = &meta;
  input.ingress_ifindex = inject_ifindex_;
  input.now_ns = clock_.nowNs();
  input.source_nat = output_->clientAddress(parsed.family);
  StepResult r = stepPacket(table_, step_config_, *gen->compiled, eval_ctx_, frame, parsed, input);
  countHit(*gen, r);
  return route(frame, r);
}

}  // namespace xredir::xdp
