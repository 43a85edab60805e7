// trace_command.cc: `xredir trace --rules FILE PACKET` shows every rule a described packet is
// checked against and the verdict, like `iptables -j TRACE`. The walk comes from the reference
// evaluator; the compiled engine is asked too and must agree, so a trace doubles as a check of
// the engine the datapath uses.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "daemon/commands.h"
#include "daemon/host_addr_types.h"
#include "daemon/packet_description.h"
#include "daemon/rule_files.h"
#include "xredir/rule_loader.h"

namespace xredir {
namespace {

std::string ruleName(const Verdict& v) {
  return v.rule_index ? "rule " + std::to_string(*v.rule_index + 1) : std::string("policy");
}

bool sameVerdict(const Verdict& a, const Verdict& b) {
  return a.kind == b.kind && a.table == b.table && a.chain == b.chain &&
         a.rule_index == b.rule_index && a.to_ports == b.to_ports &&
         a.to_addr_first == b.to_addr_first && a.to_addr_last == b.to_addr_last && a.mark == b.mark;
}

// translatedTo is where the datapath sends the flow: REDIRECT goes to the proxy address, DNAT
// to the first address of its range; the first port of the range, or the original port.
std::optional<Endpoint> translatedTo(const Verdict& v, const PacketMeta& p, const IpAddr& proxy) {
  const std::uint16_t port = v.to_ports ? v.to_ports->first : p.dport;
  switch (v.kind) {
    case VerdictKind::kRedirect:
      return Endpoint{proxy, port};
    case VerdictKind::kDnat:
      return Endpoint{v.to_addr_first.value_or(p.dst), port};
    case VerdictKind::kAccept:
    case VerdictKind::kDrop:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

int runTrace(const TraceOptions& options) {
  auto described = parsePacketDescription(options.packet);
  if (auto* error = std::get_if<std::string>(&described)) {
    std::fprintf(stderr, "bad packet description: %s\n", error->c_str());
    return 2;
  }
  const PacketDescription& desc = std::get<PacketDescription>(described);
  const PacketMeta packet = desc.meta();
  const auto proxy =
      parseIpAddr(packet.family == Family::kV4 ? options.proxy_v4 : options.proxy_v6);
  if (!proxy || proxy->family != packet.family) {
    std::fprintf(stderr, "bad proxy address for this packet's family\n");
    return 2;
  }

  auto loaded = loadRuleFiles(options.rule_files, options.ipset_files, packet.family);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "%s\n", error->c_str());
    return 1;
  }
  const RuleSet& rules = std::get<RuleSet>(loaded);

  // statistic --mode random draws: the same seeded sequence for both engines, so they agree.
  EvalContext ctx;
  ctx.addr_type = makeAddrTypeLookup(readHostAddresses());
  std::mt19937_64 rng(1);
  ctx.random_unit = [&rng] { return std::uniform_real_distribution<double>(0, 1)(rng); };

  nlohmann::json steps = nlohmann::json::array();
  const Verdict verdict =
      ReferenceEvaluator(rules).evaluate(desc.hook, packet, ctx, [&](const TraceEvent& e) {
        const std::string where = std::string(tableName(e.table)) + " " + std::string(e.chain);
        switch (e.kind) {
          case TraceEvent::Kind::kRuleChecked:
            if (options.json) {
              steps.push_back({{"table", tableName(e.table)},
                               {"chain", e.chain},
                               {"rule", e.rule_index + 1},
                               {"matched", e.matched}});
            } else {
              std::printf("%-34s rule %-3d %-8s %s\n", where.c_str(), e.rule_index + 1,
                          e.matched ? "MATCH" : "no", printRule(e.chain, *e.rule).c_str());
            }
            break;
          case TraceEvent::Kind::kPolicy:
            if (options.json) {
              steps.push_back(
                  {{"table", tableName(e.table)}, {"chain", e.chain}, {"policy", true}});
            } else {
              std::printf("%-34s policy\n", where.c_str());
            }
            break;
          case TraceEvent::Kind::kReturnFromChain:
            if (!options.json) std::printf("%-34s return\n", where.c_str());
            break;
        }
      });

  rng.seed(1);
  const auto compiled = compileRuleSet(rules);
  const Verdict fast = evaluateCompiled(*compiled, desc.hook, packet, ctx);
  if (!sameVerdict(verdict, fast)) {
    std::fprintf(stderr,
                 "internal error: the compiled engine decided %s at %s %s %s; "
                 "the reference decided %s\n",
                 verdictName(fast.kind), tableName(fast.table), std::string(fast.chain).c_str(),
                 ruleName(fast).c_str(), verdictName(verdict.kind));
    return 70;
  }

  const auto to = translatedTo(verdict, packet, *proxy);
  if (options.json) {
    nlohmann::json out = {{"verdict", verdictName(verdict.kind)},
                          {"hook", hookChainName(desc.hook)},
                          {"table", tableName(verdict.table)},
                          {"chain", verdict.chain},
                          {"rule", verdict.rule_index ? nlohmann::json(*verdict.rule_index + 1)
                                                      : nlohmann::json("policy")},
                          {"mark", verdict.mark},
                          {"steps", steps}};
    if (to) out["to"] = formatEndpoint(*to);
    if (to && verdict.to_ports && verdict.to_ports->last != verdict.to_ports->first) {
      out["to_ports"] =
          std::to_string(verdict.to_ports->first) + "-" + std::to_string(verdict.to_ports->last);
    }
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("verdict: %s", verdictName(verdict.kind));
    if (to) std::printf(" to %s", formatEndpoint(*to).c_str());
    std::printf(" (%s %s %s)\n", tableName(verdict.table), std::string(verdict.chain).c_str(),
                ruleName(verdict).c_str());
  }
  return 0;
}

}  // namespace xredir
