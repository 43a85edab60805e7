// The per-packet step: conntrack lookup, rule evaluation on a miss, entry insertion, rewrite.
#include "xredir/conntrack_step.h"

#include "xredir/packet_meta.h"

namespace xredir {
namespace {

StepResult make(StepAction action, StepDetail detail, Direction dir = Direction::kOriginal) {
  StepResult r;
  r.action = action;
  r.detail = detail;
  r.dir = dir;
  return r;
}

// finishHit applies a tracked connection's translation to the frame.
StepResult finishHit(std::span<std::uint8_t> frame,
                     ParsedPacket& parsed,
                     const TrackResult& tr,
                     StepDetail detail) {
  StepResult r = make(StepAction::kPassNotTranslated, detail, tr.dir);
  if (tr.state_invalid) r.detail = StepDetail::kInvalidTcpState;
  if (tr.dir == Direction::kReply) r.reply_path = tr.reply_path;
  if (!tr.rewrite) return r;
  if (applyTranslation(frame, parsed, tr) != RewriteStatus::kOk) {
    r.action = StepAction::kError;
    r.detail = StepDetail::kRewriteFailed;
    return r;
  }
  r.action = tr.dir == Direction::kOriginal ? StepAction::kTranslatedForward
                                            : StepAction::kTranslatedReply;
  return r;
}

// newConnection fills the insert request from the verdict; nullopt detail means success.
std::optional<StepDetail> describeNewConnection(const Verdict& verdict,
                                                const StepConfig& config,
                                                const ParsedPacket& parsed,
                                                NewConnection& nc) {
  const PortRange keep{parsed.dport, parsed.dport};
  switch (verdict.kind) {
    case VerdictKind::kAccept:
      return std::nullopt;
    case VerdictKind::kDrop:
      return StepDetail::kRuleDrop;
    case VerdictKind::kRedirect: {
      const std::optional<IpAddr>& proxy =
          parsed.family == Family::kV4 ? config.proxy_v4 : config.proxy_v6;
      if (!proxy || proxy->family != parsed.family) return StepDetail::kNoProxyAddress;
      const PortRange ports = verdict.to_ports.value_or(keep);
      nc.translate_dst = true;
      nc.to_addr = proxy->bytes;
      nc.to_port_first = ports.first;
      nc.to_port_last = ports.last;
      return std::nullopt;
    }
    case VerdictKind::kDnat: {
      // DNAT picks the first address of a range (Linux hashes over the range).
      const IpAddr addr = verdict.to_addr_first.value_or(parsed.dst);
      if (addr.family != parsed.family) return StepDetail::kBadTranslation;
      const PortRange ports = verdict.to_ports.value_or(keep);
      nc.translate_dst = true;
      nc.to_addr = addr.bytes;
      nc.to_port_first = ports.first;
      nc.to_port_last = ports.last;
      return std::nullopt;
    }
  }
  return StepDetail::kBadTranslation;
}

// stepUntracked is the path of a packet no entry knows: rules, then an insert. Kept out of
// stepPacket (and out of line) so that the established-flow path does not carry its large frame.
[[gnu::noinline]] StepResult stepUntracked(ConntrackTable& table,
                                           const StepConfig& config,
                                           const CompiledRuleSet& rules,
                                           const EvalContext& eval_ctx,
                                           std::span<std::uint8_t> frame,
                                           ParsedPacket& parsed,
                                           const StepInput& in,
                                           const FlowTuple& tuple) {
  // Only a connection's first packet creates an entry (gVisor: a TCP SYN; UDP any packet).
  if (parsed.protocol == kIpProtoTcp && tcpEventFromFlags(parsed.tcp_flags) != TcpEvent::kSyn) {
    return make(StepAction::kPassUntracked, StepDetail::kNotConnectionStart);
  }

  PacketMeta meta = *in.context;
  const PacketMeta from_frame = packetMetaFromParsed(parsed);
  meta.family = from_frame.family;
  meta.protocol = from_frame.protocol;
  meta.src = from_frame.src;
  meta.dst = from_frame.dst;
  meta.sport = from_frame.sport;
  meta.dport = from_frame.dport;
  meta.tcp_flags = from_frame.tcp_flags;
  meta.later_fragment = from_frame.later_fragment;
  meta.ct_state = kCtNew;
  const Verdict verdict = evaluateCompiled(rules, in.hook, meta, eval_ctx);
  // Every outcome below, but the lost race, is this frame's verdict carried out: it names the
  // rule that decided (StepResult::decision).
  const auto decided = [&verdict](StepResult r) {
    r.decision = RuleDecision{verdict.kind, verdict.table, verdict.chain, verdict.rule_index};
    return r;
  };

  NewConnection nc;
  nc.original = tuple;
  nc.tcp_flags = parsed.tcp_flags;
  nc.reply_path = ReplyPath{in.ingress_ifindex, readSrcMac(frame), readDstMac(frame)};
  if (const auto refused = describeNewConnection(verdict, config, parsed, nc)) {
    if (*refused == StepDetail::kBadTranslation) {
      return decided(make(StepAction::kError, *refused));
    }
    return decided(make(StepAction::kDrop, *refused));
  }
  if (nc.translate_dst && in.source_nat) {
    if (in.source_nat->family != parsed.family) {
      return decided(make(StepAction::kError, StepDetail::kBadTranslation));
    }
    nc.translate_src = true;
    nc.src_to_addr = in.source_nat->bytes;
  }

  const InsertResult ir = table.insert(nc, in.now_ns);
  switch (ir.status) {
    case InsertStatus::kInserted: {
      TrackResult first;
      first.status = TrackStatus::kHit;
      first.dir = Direction::kOriginal;
      first.target = ir.target;
      first.rewrite = !(ir.target == tuple);
      first.deltas = ir.deltas;
      return decided(finishHit(frame, parsed, first, StepDetail::kNewFlow));
    }
    case InsertStatus::kExists: {
      // Another worker created the connection between our lookup and insert: use it. Its
      // frame was the connection's first, so this one's verdict is not reported.
      const TrackResult tr = table.trackPacket(tuple, parsed.tcp_flags, in.now_ns);
      if (tr.status == TrackStatus::kHit) return finishHit(frame, parsed, tr, StepDetail::kNone);
      return make(StepAction::kDrop, StepDetail::kLostRace);
    }
    case InsertStatus::kRefusedFull:
      return decided(make(StepAction::kDrop, StepDetail::kTableFull));
    case InsertStatus::kNatExhausted:
      return decided(make(StepAction::kDrop, StepDetail::kNatExhausted));
    case InsertStatus::kBadRequest:
      return decided(make(StepAction::kError, StepDetail::kBadTranslation));
  }
  return decided(make(StepAction::kError, StepDetail::kBadTranslation));
}

}  // namespace

RewriteStatus applyTranslation(std::span<std::uint8_t> frame,
                               ParsedPacket& parsed,
                               const FlowTuple& target) {
  const bool dst_changes =
      !sameAddr(target.dst_addr, parsed.dst.bytes) || target.dst_port != parsed.dport;
  const bool src_changes =
      !sameAddr(target.src_addr, parsed.src.bytes) || target.src_port != parsed.sport;
  if (!dst_changes && !src_changes) return RewriteStatus::kOk;
  const Endpoint dst = target.dst();
  const Endpoint src = target.src();
  return rewriteEndpoints(frame, parsed, src_changes ? &src : nullptr,
                          dst_changes ? &dst : nullptr);
}

RewriteStatus applyTranslation(std::span<std::uint8_t> frame,
                               ParsedPacket& parsed,
                               const TrackResult& hit) {
  return rewriteWithDeltas(frame, parsed, hit.target.src(), hit.target.dst(), hit.deltas);
}

StepResult stepPacket(ConntrackTable& table,
                      const StepConfig& config,
                      const CompiledRuleSet& rules,
                      const EvalContext& eval_ctx,
                      std::span<std::uint8_t> frame,
                      ParsedPacket& parsed,
                      const StepInput& in) {
  if (parsed.protocol != kIpProtoTcp && parsed.protocol != kIpProtoUdp) {
    return make(StepAction::kPassUntracked, StepDetail::kNotTcpUdp);
  }
  // Linux tracks reassembled datagrams; xredir does not reassemble, and rewriting only the
  // first fragment's ports would split one datagram across two destinations.
  if (parsed.fragment != FragmentKind::kNone) {
    return make(StepAction::kPassUntracked, StepDetail::kFragment);
  }
  if (parsed.ipv6_source_routed) {
    return make(StepAction::kPassUntracked, StepDetail::kSourceRouted);
  }
  const FlowTuple tuple = FlowTuple::fromEndpoints(
      parsed.protocol, Endpoint{parsed.src, parsed.sport}, Endpoint{parsed.dst, parsed.dport});

  const TupleHashes hashes = in.tuple_hashes ? *in.tuple_hashes : table.hashOf(tuple);
  const TrackResult tr = table.trackPacket(tuple, hashes, parsed.tcp_flags, in.now_ns);
  if (tr.status == TrackStatus::kHit) return finishHit(frame, parsed, tr, StepDetail::kNone);
  return stepUntracked(table, config, rules, eval_ctx, frame, parsed, in, tuple);
}

}  // namespace xredir
