// conntrack_step.h owns the per-packet step of the datapath, gVisor's handlePacket with
// insertRedirectConn and maybeInsertNoop: look the frame's flow up in conntrack; on a miss run
// the hook's compiled chains and record the decision (a translated entry for REDIRECT/DNAT, a
// no-op entry for ACCEPT so replies are not mistranslated); then rewrite the frame in place —
// the destination (and, after a port remap, the source port) in the original direction, the
// source (and the client's port) in the reply direction — with the packet layer's incremental
// checksum updates. It returns what the datapath must do with the frame. No allocation, no
// exceptions, no logging; rule evaluation on a miss is the only slow part.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "xredir/conntrack.h"
#include "xredir/packet.h"
#include "xredir/packet_rewrite.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir {

// StepConfig holds what translation needs beyond the verdict: REDIRECT sends a flow to the
// local proxy, whose address xredir knows per family (Linux uses the incoming interface's
// primary address; xredir's proxy sits behind the injection veth).
struct StepConfig {
  std::optional<IpAddr> proxy_v4;
  std::optional<IpAddr> proxy_v6;
};

// StepInput is the context of one frame.
struct StepInput {
  Hook hook = Hook::kPrerouting;
  // Socket context the frame does not carry (in/out interface, mark, uid/gid). The packet
  // fields of `context` are ignored: they are taken from the frame.
  const PacketMeta* context = nullptr;
  std::uint32_t ingress_ifindex = 0;
  std::uint64_t now_ns = 0;
  // Source translation for a connection the verdict translates (REDIRECT/DNAT): the client's
  // address as the translated packets carry it. The datapath's OUTPUT hook sets it to the
  // injection pair's next hop, so that the proxy answers a local client through the pair
  // (conntrack.h, NewConnection::translate_src). Must match the frame's family.
  std::optional<IpAddr> source_nat;
  // The table's hashOf the frame's tuple, when the caller computed it already (a batch that
  // prefetched the frame's entry); absent, stepPacket computes it.
  std::optional<TupleHashes> tuple_hashes;
};

// StepAction: what the datapath does with the frame. The zero value is not an action.
enum class StepAction : std::uint8_t {
  kTranslatedForward = 1,  // original direction, rewritten toward the proxy/DNAT target
  kTranslatedReply,        // reply direction, rewritten back; send it out reply_path.ifindex
  kPassUntracked,          // not conntrack's business (see StepDetail): give it to the kernel
  kPassNotTranslated,      // tracked, nothing to rewrite (no-op entry): pass it on unchanged
  kDrop,                   // DROP verdict, or a new flow refused (table full / NAT exhausted)
  kError,                  // the rewrite failed; the frame is unchanged
};

// StepDetail says why. The zero value is not a detail.
enum class StepDetail : std::uint8_t {
  kNone = 1,            // nothing to add to the action
  kNewFlow,             // this frame created the connection
  kNotTcpUdp,           // ICMP, other protocols: untracked
  kFragment,            // a non-first fragment or a fragmented first part: no ports to track
  kSourceRouted,        // IPv6 routing header with segments left: not rewritable
  kNotConnectionStart,  // a TCP miss that is not a SYN without ACK: Linux would pick it up
                        // mid-stream; xredir leaves it to the kernel untracked
  kInvalidTcpState,     // tracked; the TCP state machine refused the packet (still translated)
  kRuleDrop,            // the hook's verdict was DROP
  kTableFull,           // nothing evictable (Linux: "table full, dropping packet")
  kNatExhausted,        // no unique reply tuple (Linux drops when nf_nat_setup_info fails)
  kNoProxyAddress,      // REDIRECT with no proxy address configured for the family (the
                        // flow is dropped: fail closed rather than leak it untranslated)
  kBadTranslation,      // DNAT to another family, or an empty port range
  kLostRace,            // another worker inserted and removed the flow meanwhile (dropped;
                        // the sender retransmits)
  kRewriteFailed,
};

// RuleDecision names the rule whose verdict decided a new connection, as rule_eval.h's
// Verdict does, so that the datapath can count rule hits without looking anything up by name.
struct RuleDecision {
  VerdictKind kind = VerdictKind::kAccept;
  Table table = Table::kNat;
  std::string_view chain;         // points into the RuleSet the rules were compiled from
  std::optional<int> rule_index;  // 0-based; nullopt: the built-in chain's policy decided
};

struct StepResult {
  StepAction action = StepAction::kError;
  StepDetail detail = StepDetail::kRewriteFailed;
  Direction dir = Direction::kOriginal;
  // kTranslatedReply / reply direction: where the client is (interface, MACs).
  ReplyPath reply_path;
  // Set when this frame ran the hook's chains, i.e. it was the first packet of a connection,
  // whatever came of the verdict (translated, a no-op entry, DROP, or refused afterwards by a
  // full table), as the kernel's nat-table rule counters count each connection once. Not set
  // for packets of tracked connections, for untracked ones, nor when another worker created
  // the same connection meanwhile (kLostRace or its hit: that worker's frame was counted).
  std::optional<RuleDecision> decision;
};

// stepPacket runs conntrack and NAT for one frame. Preconditions: `parsed` came from
// parsePacket(frame) == kOk; the frame's L4 checksum is complete (a CHECKSUM_PARTIAL frame must
// get recomputePacketChecksums after the step instead of relying on the incremental update);
// `in.context` is not null. The frame is rewritten in place and `parsed` is kept in step.
StepResult stepPacket(ConntrackTable& table,
                      const StepConfig& config,
                      const CompiledRuleSet& rules,
                      const EvalContext& eval_ctx,
                      std::span<std::uint8_t> frame,
                      ParsedPacket& parsed,
                      const StepInput& in);

// applyTranslation rewrites `frame` so that its tuple becomes `target` in one rewriteEndpoints
// call, touching only the sides that differ, with the checksum changes summed from the fields.
// For a tuple known only as a target (the fast-path benchmark's naive table).
[[nodiscard]] RewriteStatus applyTranslation(std::span<std::uint8_t> frame,
                                             ParsedPacket& parsed,
                                             const FlowTuple& target);

// applyTranslation of a conntrack hit (`hit.rewrite` set; the frame's tuple is the one
// trackPacket was given): rewrites it into `hit.target` with the connection's stored checksum
// deltas. What stepPacket and the datapath's reply path use.
[[nodiscard]] RewriteStatus applyTranslation(std::span<std::uint8_t> frame,
                                             ParsedPacket& parsed,
                                             const TrackResult& hit);

}  // namespace xredir
