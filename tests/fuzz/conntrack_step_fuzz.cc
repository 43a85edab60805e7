// conntrack_step_fuzz: frames through the per-packet step with a small random rule set.
// The input chooses the family, the rules (nat PREROUTING REDIRECT/DNAT/ACCEPT by protocol and
// port, mangle DROP), then a sequence of frames: structured ones (clients, servers and the proxy
// from small sets so flows collide, any TCP flags) and raw bytes. Invariants, checked after
// every step:
//   - the frame still parses and parses to what the step left in ParsedPacket;
//   - checksums that were valid before the step are valid after it (incremental updates);
//   - a translated forward frame's reply, stepped at once, is translated back to exactly the
//     inverse of the original tuple (the reply translation inverts the original one), and a
//     no-op flow's reply passes unchanged;
//   - originalDst(client as the proxy sees it, proxy) gives the pre-translation destination;
//   - an untracked, dropped or refused frame is left unchanged.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "../support/packet_builder.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_step.h"
#include "xredir/packet.h"
#include "xredir/packet_checksum.h"
#include "xredir/rule_eval.h"
#include "xredir/rule_model.h"

namespace xredir {
namespace {

constexpr std::uint16_t kPorts[] = {80, 53, 443, 8080, 22, 15001};

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

IpAddr hostAddr(Family fam, std::uint8_t net, std::uint8_t host) {
  if (fam == Family::kV4) return IpAddr::fromV4(0x0a000000U | (net << 8) | host);
  IpAddr a = *parseIpAddr("2001:db8::");
  a.bytes[13] = net;
  a.bytes[15] = host;
  return a;
}

Chain builtin(const char* name, std::vector<Rule> rules = {}) {
  Chain c;
  c.name = name;
  c.builtin = true;
  c.policy = Policy::kAccept;
  c.rules = std::move(rules);
  return c;
}

RuleSet makeRules(FuzzedDataProvider& in, Family fam) {
  std::vector<Rule> nat_rules;
  std::vector<Rule> mangle_rules;
  const int n = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < n; ++i) {
    Rule r;
    const int proto = in.ConsumeIntegralInRange(0, 2);
    if (proto == 1) r.protocol = kIpProtoTcp;
    if (proto == 2) r.protocol = kIpProtoUdp;
    if (proto != 0 && in.ConsumeBool()) {
      const std::uint16_t p = kPorts[in.ConsumeIntegralInRange(0, 5)];
      r.dport = PortMatch{{PortRange{p, p}}, false};
    }
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0: {
        r.target.kind = TargetKind::kRedirect;
        if (proto != 0 && in.ConsumeBool()) {
          const auto first = static_cast<std::uint16_t>(15000 + in.ConsumeIntegralInRange(0, 4));
          r.target.to_ports =
              PortRange{first, static_cast<std::uint16_t>(first + in.ConsumeIntegralInRange(0, 3))};
        }
        nat_rules.push_back(r);
        break;
      }
      case 1: {
        r.target.kind = TargetKind::kDnat;
        r.target.to_addr_first = hostAddr(fam, 9, in.ConsumeIntegralInRange<std::uint8_t>(1, 3));
        r.target.to_addr_last = r.target.to_addr_first;
        if (proto != 0 && in.ConsumeBool()) r.target.to_ports = PortRange{9090, 9091};
        nat_rules.push_back(r);
        break;
      }
      case 2:
        r.target.kind = TargetKind::kAccept;
        nat_rules.push_back(r);
        break;
      default:
        r.target.kind = TargetKind::kDrop;
        mangle_rules.push_back(r);
        break;
    }
  }
  RuleSet rs;
  rs.family = fam;
  TableRules mangle;
  mangle.table = Table::kMangle;
  mangle.chains = {builtin("PREROUTING", mangle_rules), builtin("INPUT"), builtin("FORWARD"),
                   builtin("OUTPUT"), builtin("POSTROUTING")};
  TableRules nat;
  nat.table = Table::kNat;
  nat.chains = {builtin("PREROUTING", nat_rules), builtin("INPUT"), builtin("OUTPUT"),
                builtin("POSTROUTING")};
  rs.tables = {mangle, nat};
  return rs;
}

struct Harness {
  ConntrackTable* table;
  const CompiledRuleSet* compiled;
  StepConfig config;
  PacketMeta context;
  EvalContext eval;
  std::uint64_t now = 1;

  StepResult step(std::vector<std::uint8_t>& bytes, ParsedPacket& parsed) {
    StepInput in;
    in.context = &context;
    in.ingress_ifindex = 3;
    in.now_ns = now;
    return stepPacket(*table, config, *compiled, eval, bytes, parsed, in);
  }
};

FlowTuple tupleOf(const ParsedPacket& p) {
  return FlowTuple::fromEndpoints(p.protocol, {p.src, p.sport}, {p.dst, p.dport});
}

bool translated(StepAction a) {
  return a == StepAction::kTranslatedForward || a == StepAction::kTranslatedReply;
}

// stepChecked runs one frame and checks the per-frame invariants.
StepResult stepChecked(Harness& h, std::vector<std::uint8_t>& bytes, ParsedPacket& parsed) {
  const bool sums_ok = verifyPacketChecksums(bytes, parsed) == ChecksumStatus::kOk;
  const std::vector<std::uint8_t> before = bytes;
  const StepResult r = h.step(bytes, parsed);
  ParsedPacket again;
  FUZZ_CHECK(parsePacket(bytes, again) == ParseStatus::kOk);
  FUZZ_CHECK(again.src == parsed.src && again.dst == parsed.dst);
  FUZZ_CHECK(again.sport == parsed.sport && again.dport == parsed.dport);
  if (sums_ok) FUZZ_CHECK(verifyPacketChecksums(bytes, again) == ChecksumStatus::kOk);
  if (!translated(r.action)) FUZZ_CHECK(bytes == before);
  return r;
}

}  // namespace
}  // namespace xredir

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xredir;
  FuzzedDataProvider in(data, size);
  const Family fam = in.ConsumeBool() ? Family::kV6 : Family::kV4;
  const RuleSet rules = makeRules(in, fam);
  const auto compiled = compileRuleSet(rules);
  ConntrackConfig cfg;
  cfg.max_entries = in.ConsumeIntegralInRange<std::uint32_t>(1, 64);
  cfg.shard_count = 1U << in.ConsumeIntegralInRange(0, 3);
  cfg.max_entries = std::max(cfg.max_entries, cfg.shard_count);
  cfg.hash_seed = in.ConsumeIntegral<std::uint64_t>();
  ConntrackTable table(cfg);
  Harness h{&table, compiled.get(), {}, {}, {}};
  h.config.proxy_v4 = IpAddr::fromV4(0xa9fe4d01);
  h.config.proxy_v6 = parseIpAddr("fd00::77");
  h.context.in_iface = "eth0";

  for (int steps = 0; steps < 64 && in.remaining_bytes() > 0; ++steps) {
    h.now += in.ConsumeIntegralInRange<std::uint64_t>(0, 200) * 1'000'000'000ULL;
    if (in.ConsumeIntegralInRange(0, 15) == 0) {
      table.reapSlice(h.now, in.ConsumeIntegralInRange<std::uint32_t>(1, 64));
    }
    if (in.ConsumeIntegralInRange(0, 7) == 0) {
      // Raw frame bytes.
      std::vector<std::uint8_t> bytes =
          in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 200));
      ParsedPacket parsed;
      if (parsePacket(bytes, parsed) != ParseStatus::kOk) continue;
      stepChecked(h, bytes, parsed);
      continue;
    }
    testing::PacketSpec spec;
    spec.protocol = in.ConsumeBool() ? kIpProtoTcp : kIpProtoUdp;
    spec.src = Endpoint{hostAddr(fam, 1, in.ConsumeIntegralInRange<std::uint8_t>(1, 3)),
                        static_cast<std::uint16_t>(40000 + in.ConsumeIntegralInRange(0, 3))};
    spec.dst = Endpoint{hostAddr(fam, 2, in.ConsumeIntegralInRange<std::uint8_t>(1, 3)),
                        kPorts[in.ConsumeIntegralInRange(0, 5)]};
    if (in.ConsumeBool()) std::swap(spec.src, spec.dst);  // server-to-client traffic too
    spec.tcp_flags = in.ConsumeBool() ? kTcpSyn : in.ConsumeIntegral<std::uint8_t>();
    spec.udp_no_checksum = fam == Family::kV4 && in.ConsumeIntegralInRange(0, 7) == 0;
    spec.payload = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange(0, 8));
    std::vector<std::uint8_t> bytes = testing::buildPacket(spec).bytes;
    ParsedPacket parsed;
    FUZZ_CHECK(parsePacket(bytes, parsed) == ParseStatus::kOk);
    const FlowTuple original = tupleOf(parsed);
    const StepResult r = stepChecked(h, bytes, parsed);
    if (r.dir != Direction::kOriginal || (r.action != StepAction::kTranslatedForward &&
                                          r.action != StepAction::kPassNotTranslated)) {
      continue;
    }
    if (spec.protocol == kIpProtoTcp && (spec.tcp_flags & kTcpRst)) continue;  // entry killed
    const FlowTuple sent = tupleOf(parsed);
    // The proxy's question about what left the step names what entered it.
    const OriginalDstResult od = table.originalDst(spec.protocol, sent.src(), sent.dst());
    if (sent.dst() != original.dst()) {
      FUZZ_CHECK(od.status == OriginalDstStatus::kFound && od.dst == original.dst());
    } else {
      FUZZ_CHECK(od.status == OriginalDstStatus::kNotTranslated);
    }
    // The reply of what left the step must come back as the exact inverse of what entered.
    testing::PacketSpec reply_spec;
    reply_spec.protocol = spec.protocol;
    reply_spec.src = sent.dst();
    reply_spec.dst = sent.src();
    reply_spec.tcp_flags = kTcpAck;
    std::vector<std::uint8_t> reply = testing::buildPacket(reply_spec).bytes;
    ParsedPacket reply_parsed;
    FUZZ_CHECK(parsePacket(reply, reply_parsed) == ParseStatus::kOk);
    const StepResult rr = stepChecked(h, reply, reply_parsed);
    FUZZ_CHECK(rr.dir == Direction::kReply);
    if (r.action == StepAction::kTranslatedForward) {
      FUZZ_CHECK(rr.action == StepAction::kTranslatedReply);
    } else {
      FUZZ_CHECK(rr.action == StepAction::kPassNotTranslated);
    }
    FUZZ_CHECK(tupleOf(reply_parsed) == original.inverted());
  }
  return 0;
}
