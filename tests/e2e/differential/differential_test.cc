// differential_test.cc: the kernel's iptables as the oracle of the rule engine. Each case loads
// one rule set into the node namespace (iptables-restore / ip6tables-restore, ipset restore)
// and into the engine (loadRuleSet), makes real TCP connections — PREROUTING probes from the
// client namespace, OUTPUT probes from sockets owned by a chosen uid/gid inside the node — and
// asserts that the kernel's outcome (which listener accepted, with which SO_ORIGINAL_DST; or a
// refusal; or silence) is the one the engine's verdict implies, and that the reference and the
// compiled engine agree. Needs root: exits 77 (meson's skip) without it, and fails under CI=true.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "daemon/host_addr_types.h"
#include "e2e/differential/engine_oracle.h"
#include "e2e/differential/kernel_prober.h"
#include "e2e/differential/netns_lab.h"
#include "e2e/differential/probe_generator.h"
#include "e2e/differential/random_rule_set.h"
#include "xredir/rule_loader.h"

namespace xredir::difftest {
namespace {

namespace fs = std::filesystem;

// kConnectTimeoutMs: a dropped SYN is declared dropped after this long. Answered connections
// complete within milliseconds; the margin is for a loaded machine, and stays below the 1 s
// SYN retransmission so a lost SYN is not mistaken for a late answer.
constexpr int kConnectTimeoutMs = 900;
// kBatchSize bounds the connections in flight at once (file descriptors, accept backlogs).
constexpr size_t kBatchSize = 200;
// kMaxReportedMismatches keeps a broken engine's failure output readable.
constexpr int kMaxReportedMismatches = 15;

NetnsLab* g_lab = nullptr;
KernelProber* g_prober = nullptr;
SourcePorts g_sports;

struct CaseSummary {
  int probes = 0;
  int mismatches = 0;
  int engine_disagreements = 0;
  std::map<std::string, int> verdicts;  // reference verdict kinds
  std::map<std::string, int> outcomes;  // kernel outcome kinds
};

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path sourceRoot() {
  return fs::path(XREDIR_SOURCE_ROOT);
}

fs::path rulesetsDir() {
  if (const char* env = std::getenv("XREDIR_RULESETS_DIR")) return env;
  return sourceRoot() / ".." / "shared" / "testdata" / "rulesets";
}

constexpr const char* kSecondLinkName = "eth2";

// foreignInIface returns an `-i` name of the rules that the lab's node lacks ("" when none):
// the exact name, or for `br+` the name "br0".
std::string foreignInIface(const RuleSet& rules) {
  for (const TableRules& table : rules.tables) {
    for (const Chain& chain : table.chains) {
      for (const Rule& r : chain.rules) {
        if (!r.in_iface || r.in_iface->invert) continue;
        std::string n = r.in_iface->name + (r.in_iface->wildcard ? "0" : "");
        if (n.rfind("eth", 0) == 0 || n == "lo" || n.size() > 15) continue;
        return n;
      }
    }
  }
  return "";
}

// runCase is the whole differential check of one rule set. `kernel_text` is what
// iptables-restore gets (the original file, or the printer's output for random sets).
CaseSummary runCase(const std::string& name,
                    const RuleSet& rules,
                    const std::string& kernel_text,
                    const std::string& ipset_text,
                    ProbeCounts counts,
                    std::uint32_t seed,
                    const std::vector<Probe>& explicit_probes = {}) {
  CaseSummary summary;
  NetnsLab& lab = *g_lab;
  // A rule set that captures on an interface the lab does not have gets the second client
  // link renamed to it for the duration of the case.
  const std::string iface = foreignInIface(rules);
  struct RestoreName {
    NetnsLab& lab;
    ~RestoreName() { EXPECT_EQ(lab.renameClientLink(1, kSecondLinkName), ""); }
  } restore{lab};
  if (!iface.empty()) {
    const std::string rename_error = lab.renameClientLink(1, iface);
    EXPECT_EQ(rename_error, "") << name;
    if (!rename_error.empty()) return summary;
  }
  const std::set<std::uint16_t> ports = listenerPortsFor(rules);
  const std::string listen_error =
      g_prober->setNodeListeners(std::vector<std::uint16_t>(ports.begin(), ports.end()));
  EXPECT_EQ(listen_error, "") << name;
  const std::string load_error = lab.loadNodeRules(rules.family, kernel_text, ipset_text);
  EXPECT_EQ(load_error, "") << name << ": the kernel refused the rule set\n" << kernel_text;
  if (!listen_error.empty() || !load_error.empty()) return summary;

  std::vector<HostAddress> host;
  {
    ScopedNetns in_node(lab.nodeFd());  // classify addresses as the node namespace does
    host = readHostAddresses();
  }
  const AddrTypeLookup addr_type = makeAddrTypeLookup(host);
  std::mt19937 rng(seed);
  std::vector<Probe> probes;
  const std::string gen_error =
      generateProbes(rules, lab, addr_type, ports, counts, explicit_probes, rng, g_sports, &probes);
  EXPECT_EQ(gen_error, "") << name;
  if (!gen_error.empty()) return summary;

  const EngineOracle oracle(rules, lab, addr_type, ports);
  std::vector<Outcome> kernel;
  for (size_t start = 0; start < probes.size(); start += kBatchSize) {
    const std::vector<Probe> batch(
        probes.begin() + static_cast<long>(start),
        probes.begin() + static_cast<long>(std::min(probes.size(), start + kBatchSize)));
    const std::vector<Outcome> got = g_prober->run(batch, kConnectTimeoutMs);
    kernel.insert(kernel.end(), got.begin(), got.end());
  }

  for (size_t i = 0; i < probes.size(); ++i) {
    const Probe& p = probes[i];
    const EngineAnswer answer = oracle.ask(p);
    ++summary.probes;
    for (VerdictKind k : answer.kinds) ++summary.verdicts[verdictName(k)];
    ++summary.outcomes[outcomeKindName(kernel[i].kind)];
    std::string ref_text, comp_text, expected_text;
    for (const auto& s : answer.reference) ref_text += "\n      " + s;
    for (const auto& s : answer.compiled) comp_text += "\n      " + s;
    for (const auto& o : answer.expected) expected_text += "\n      " + describeOutcome(o);
    if (answer.reference != answer.compiled) {
      ++summary.engine_disagreements;
      if (summary.engine_disagreements <= kMaxReportedMismatches) {
        ADD_FAILURE() << name
                      << ": reference and compiled engines disagree\n  probe: " << describeProbe(p)
                      << "\n  reference:" << ref_text << "\n  compiled:" << comp_text;
      }
    }
    bool ok = false;
    for (const Outcome& e : answer.expected) ok = ok || e.matches(kernel[i]);
    if (std::getenv("XREDIR_DIFF_VERBOSE") != nullptr) {
      std::printf("  %s %s\n    engine:%s\n    kernel: %s\n", ok ? "ok  " : "DIFF",
                  describeProbe(p).c_str(), ref_text.c_str(), describeOutcome(kernel[i]).c_str());
    }
    if (!ok) {
      ++summary.mismatches;
      if (summary.mismatches <= kMaxReportedMismatches) {
        ADD_FAILURE() << name << ": kernel and engine disagree\n  probe: " << describeProbe(p)
                      << "\n  engine verdict:" << ref_text << "\n  engine expects:" << expected_text
                      << "\n  kernel: " << describeOutcome(kernel[i]);
      }
    }
  }
  std::string line = "[differential] " + name + ": " + std::to_string(summary.probes) +
                     " probes; engine verdicts:";
  for (const auto& [k, n] : summary.verdicts) line += " " + k + "=" + std::to_string(n);
  line += "; kernel outcomes:";
  for (const auto& [k, n] : summary.outcomes) line += " " + k + "=" + std::to_string(n);
  line += "; mismatches=" + std::to_string(summary.mismatches) +
          " engine-disagreements=" + std::to_string(summary.engine_disagreements);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return summary;
}

// loadFile loads a rule file (and its ipset file) in the given family, or reports why not.
std::variant<RuleSet, LoadError> loadFile(const fs::path& rules,
                                          const fs::path& ipsets,
                                          Family family) {
  std::vector<RuleSource> sets;
  if (!ipsets.empty()) sets.push_back({ipsets.string(), readFile(ipsets)});
  return loadRuleSet({{rules.string(), readFile(rules)}}, sets, LoadOptions{family});
}

int translatedVerdicts(const CaseSummary& s) {
  const auto count = [&](const char* k) { return s.verdicts.count(k) ? s.verdicts.at(k) : 0; };
  return count("REDIRECT") + count("DNAT");
}

// checkFileCase: a shipped or real-world rule set: load, compare, and require that the probes
// reached at least one translation (a case that only ever sees ACCEPT proves nothing).
void checkFileCase(const std::string& name,
                   const fs::path& rules,
                   const fs::path& ipsets,
                   Family family,
                   std::uint32_t seed) {
  ASSERT_TRUE(fs::exists(rules)) << rules;
  auto loaded = loadFile(rules, ipsets, family);
  ASSERT_TRUE(std::holds_alternative<RuleSet>(loaded))
      << name << ": the engine refused it: " << std::get<LoadError>(loaded).message();
  const RuleSet& rs = std::get<RuleSet>(loaded);
  const CaseSummary s = runCase(name, rs, readFile(rules), ipsets.empty() ? "" : readFile(ipsets),
                                ProbeCounts{30, 30}, seed);
  EXPECT_GT(s.probes, 0);
  EXPECT_GT(translatedVerdicts(s), 0) << name << ": no probe was translated by the rules";
  EXPECT_EQ(s.mismatches, 0);
  EXPECT_EQ(s.engine_disagreements, 0);
}

// ---- config/examples ---------------------------------------------------------------------

std::vector<std::string> exampleNames() {
  std::vector<std::string> names{"istio-sidecar", "linkerd", "kube-proxy", "trireme"};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(sourceRoot() / "config" / "examples", ec)) {
    if (e.path().extension() != ".rules") continue;
    const std::string stem = e.path().stem().string();
    if (std::find(names.begin(), names.end(), stem) == names.end()) names.push_back(stem);
  }
  return names;
}

class ExampleRuleSet : public ::testing::TestWithParam<std::string> {};

TEST_P(ExampleRuleSet, KernelAndEngineAgree) {
  const fs::path dir = sourceRoot() / "config" / "examples";
  const fs::path rules = dir / (GetParam() + ".rules");
  fs::path ipsets = dir / (GetParam() + ".ipset");
  if (!fs::exists(ipsets)) ipsets.clear();
  ASSERT_TRUE(fs::exists(rules)) << rules << " is missing";
  // The examples do not say their family; an ip6tables set does not load as IPv4.
  Family family = Family::kV4;
  if (!std::holds_alternative<RuleSet>(loadFile(rules, ipsets, Family::kV4)) &&
      std::holds_alternative<RuleSet>(loadFile(rules, ipsets, Family::kV6))) {
    family = Family::kV6;
  }
  checkFileCase("examples/" + GetParam(), rules, ipsets, family,
                static_cast<std::uint32_t>(std::hash<std::string>{}(GetParam())));
}

INSTANTIATE_TEST_SUITE_P(Examples,
                         ExampleRuleSet,
                         ::testing::ValuesIn(exampleNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

// ---- ../shared/testdata/rulesets -------------------------------------------------------

struct RealWorldCase {
  const char* file;
  Family family;
};

class RealWorldRuleSet : public ::testing::TestWithParam<RealWorldCase> {};

TEST_P(RealWorldRuleSet, KernelAndEngineAgree) {
  const fs::path dir = rulesetsDir();
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is not present (set XREDIR_RULESETS_DIR)";
  checkFileCase(GetParam().file, dir / (std::string(GetParam().file) + ".rules"), {},
                GetParam().family,
                static_cast<std::uint32_t>(std::hash<std::string>{}(GetParam().file)));
}

INSTANTIATE_TEST_SUITE_P(
    RealWorld,
    RealWorldRuleSet,
    ::testing::Values(RealWorldCase{"istio-ipnets-kube-virt-interfaces", Family::kV4},
                      RealWorldCase{"kuma-default", Family::kV4},
                      RealWorldCase{"linkerd-proxy-init-existing", Family::kV4},
                      RealWorldCase{"osm-exclusions-inclusions", Family::kV4},
                      RealWorldCase{"istio-outbound-ports-include", Family::kV4},
                      RealWorldCase{"istio-host-ipv4-loopback-cidr", Family::kV4},
                      RealWorldCase{"istio-ipv6-inbound-ports-v6", Family::kV6},
                      RealWorldCase{"istio-basic-exclude-nic", Family::kV4},
                      RealWorldCase{"istio-drop-invalid", Family::kV4},
                      RealWorldCase{"kuma-kumactl-excludedports-wildcards", Family::kV4},
                      RealWorldCase{"osm-default", Family::kV4}),
    [](const auto& info) {
      std::string n = info.param.file;
      for (char& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return n;
    });

// ---- targeted rule sets ---------------------------------------------------------------
// Small sets aimed at one netfilter behaviour each, where an engine is most likely to differ.

// ExplicitProbe: an OUTPUT probe a targeted case must include (the minimal reproductions).
struct ExplicitProbe {
  const char* dst;
  std::uint16_t dport;
  std::uint32_t uid;
};

struct TargetedCase {
  const char* name;
  Family family;
  const char* text;
  std::vector<ExplicitProbe> probes;
};

const TargetedCase kTargetedCases[] = {
    // filter OUTPUT runs after nat OUTPUT (priority 0 vs -100): it sees the translated
    // destination, and the interface of the route chosen before the translation.
    {"filter_after_nat_v4",
     Family::kV4,
     "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
     ":POSTROUTING ACCEPT [0:0]\n"
     "-A OUTPUT -d 203.0.113.0/24 -p tcp -j REDIRECT --to-ports 15010\n"
     "-A OUTPUT -d 198.51.100.0/24 -p tcp -j DNAT --to-destination 192.0.2.10:8443\n"
     "COMMIT\n"
     "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
     "-A OUTPUT -d 203.0.113.7/32 -p tcp -j DROP\n"
     "-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 15010 -m owner --uid-owner 1500 -j DROP\n"
     "-A OUTPUT -d 192.0.2.10/32 -p tcp -m owner --uid-owner 1600 -j DROP\n"
     "-A OUTPUT -o lo -p tcp -m owner --uid-owner 1700 -j DROP\n"
     "COMMIT\n",
     // Redirected to 127.0.0.1:15010, so filter's -d 203.0.113.7 no longer matches: accepted.
     // Redirected to 127.0.0.1:15010 with uid 1500: filter rule 1 matches: dropped.
     // DNATed to 192.0.2.10 with uid 1600: filter rule 2 matches: dropped.
     // Redirected with uid 1700: whether filter's -o sees lo (the route after NAT) or eth0.
     {{"203.0.113.7", 80, 0},
      {"203.0.113.9", 80, 1500},
      {"198.51.100.3", 80, 1600},
      {"203.0.113.9", 80, 1700},
      {"203.0.113.7", 443, 1700}}},
    // mangle runs before nat: a mark set in mangle PREROUTING is seen by nat PREROUTING.
    {"mangle_mark_then_nat_v4",
     Family::kV4,
     "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
     ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
     "-A PREROUTING -i eth1 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x2/0x2\n"
     "-A PREROUTING -i eth2 -p tcp -m tcp --dport 81 -j DROP\n"
     "-A OUTPUT -p tcp -m owner --uid-owner 1337 -j MARK --set-xmark 0x4/0xff\n"
     "COMMIT\n"
     "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
     ":POSTROUTING ACCEPT [0:0]\n"
     "-A PREROUTING -p tcp -m mark --mark 0x2/0x2 -j REDIRECT --to-ports 15001\n"
     "-A OUTPUT -p tcp -m mark ! --mark 0x4/0xff -j REDIRECT --to-ports 15006\n"
     "COMMIT\n",
     {}},
    // REDIRECT to a port range keeps a destination port already inside it (nf_nat keeps an
    // in-range unique tuple), else takes the first; gotos do not return to the caller.
    {"redirect_range_goto_v6",
     Family::kV6,
     "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
     ":POSTROUTING ACCEPT [0:0]\n:IN - [0:0]\n:SKIP - [0:0]\n"
     "-A PREROUTING -p tcp -m tcp --dport 15020:15030 -j REDIRECT --to-ports 15020-15022\n"
     "-A PREROUTING -s fd00:1::5/128 -g SKIP\n"
     "-A PREROUTING -p tcp -j IN\n"
     "-A PREROUTING -p tcp -j REDIRECT --to-ports 15006\n"
     "-A IN -p tcp -m multiport --dports 22,443 -j RETURN\n"
     "-A IN -p tcp -j REDIRECT --to-ports 15020-15022\n"
     "-A SKIP -p tcp -m tcp --dport 443 -j RETURN\n"
     "-A OUTPUT -o lo -p tcp -j REDIRECT --to-ports 15021-15022\n"
     "-A OUTPUT ! -d fd00:2::2/128 -p tcp -m owner ! --uid-owner 0 -j DNAT --to-destination "
     "[fd00:2::2]:8080\n"
     "COMMIT\n",
     {{"::1", 15021, 0}, {"::1", 15030, 0}, {"2001:db8::9", 80, 1000}}},
};

class TargetedRuleSet : public ::testing::TestWithParam<TargetedCase> {};

TEST_P(TargetedRuleSet, KernelAndEngineAgree) {
  const TargetedCase& c = GetParam();
  auto loaded = loadRuleSet({{c.name, c.text}}, {}, LoadOptions{c.family});
  ASSERT_TRUE(std::holds_alternative<RuleSet>(loaded)) << std::get<LoadError>(loaded).message();
  std::vector<Probe> explicit_probes;
  for (const ExplicitProbe& e : c.probes) {
    Probe p;
    p.hook = Hook::kOutput;
    p.family = c.family;
    p.dst = *parseIpAddr(e.dst);
    p.dport = e.dport;
    p.uid = p.gid = e.uid;
    explicit_probes.push_back(p);
  }
  const CaseSummary s = runCase(std::string("targeted/") + c.name, std::get<RuleSet>(loaded),
                                c.text, "", ProbeCounts{20, 30}, 4242, explicit_probes);
  EXPECT_GT(translatedVerdicts(s), 0);
  EXPECT_EQ(s.mismatches, 0) << "rule set:\n" << c.text;
  EXPECT_EQ(s.engine_disagreements, 0);
}

INSTANTIATE_TEST_SUITE_P(Targeted,
                         TargetedRuleSet,
                         ::testing::ValuesIn(kTargetedCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- random rule sets ------------------------------------------------------------------

struct RandomCase {
  Family family;
  std::uint32_t seed;
};

class RandomRuleSet : public ::testing::TestWithParam<RandomCase> {};

TEST_P(RandomRuleSet, KernelAndEngineAgree) {
  const RandomCase c = GetParam();
  std::mt19937 rng(c.seed);
  const std::string text = randomRuleSetText(c.family, rng);
  auto loaded = loadRuleSet({{"random", text}}, {}, LoadOptions{c.family});
  ASSERT_TRUE(std::holds_alternative<RuleSet>(loaded))
      << std::get<LoadError>(loaded).message() << "\n"
      << text;
  const RuleSet& rs = std::get<RuleSet>(loaded);
  // The kernel gets the printer's text, so the printer is checked against iptables-restore too;
  // the printed text must load back into the same rules.
  const std::string printed = printRuleSet(rs);
  auto reloaded = loadRuleSet({{"printed", printed}}, {}, LoadOptions{c.family});
  ASSERT_TRUE(std::holds_alternative<RuleSet>(reloaded))
      << std::get<LoadError>(reloaded).message() << "\n"
      << printed;
  EXPECT_EQ(printRuleSet(std::get<RuleSet>(reloaded)), printed);
  const std::string name =
      std::string("random-") + (c.family == Family::kV4 ? "v4-" : "v6-") + std::to_string(c.seed);
  const CaseSummary s = runCase(name, rs, printed, "", ProbeCounts{25, 25}, c.seed * 7919u);
  EXPECT_GT(s.probes, 0);
  EXPECT_EQ(s.mismatches, 0) << "rule set:\n" << printed;
  EXPECT_EQ(s.engine_disagreements, 0) << "rule set:\n" << printed;
}

std::vector<RandomCase> randomCases() {
  std::vector<RandomCase> cases;
  std::uint32_t base = 1;
  if (const char* env = std::getenv("XREDIR_DIFF_SEED"))
    base = static_cast<std::uint32_t>(std::atoi(env));
  for (std::uint32_t i = 0; i < 8; ++i) cases.push_back({Family::kV4, base + i});
  for (std::uint32_t i = 0; i < 5; ++i) cases.push_back({Family::kV6, base + 100 + i});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Random,
                         RandomRuleSet,
                         ::testing::ValuesIn(randomCases()),
                         [](const auto& info) {
                           return std::string(info.param.family == Family::kV4 ? "v4_" : "v6_") +
                                  std::to_string(info.param.seed);
                         });

extern "C" void removeNamespacesOnSignal(int sig) {
  NetnsLab::removeAllForSignal();
  signal(sig, SIG_DFL);
  raise(sig);
}

bool toolsPresent(std::string* missing) {
  for (const char* tool : {"ip", "iptables-restore", "ip6tables-restore", "ipset", "conntrack"}) {
    if (runCommand(std::string("command -v ") + tool).status != 0) {
      *missing = tool;
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace xredir::difftest

int main(int argc, char** argv) {
  using namespace xredir::difftest;
  ::testing::InitGoogleTest(&argc, argv);
  if (::testing::GTEST_FLAG(list_tests)) return RUN_ALL_TESTS();
  // meson treats exit code 77 as SKIP; in CI a skipped differential test is a failure.
  const char* ci = std::getenv("CI");
  const bool in_ci = ci != nullptr && std::string(ci) == "true";
  const int skip_code = in_ci ? 1 : 77;
  if (geteuid() != 0) {
    std::fprintf(stderr, "differential_test: needs root (network namespaces, iptables)%s\n",
                 in_ci ? "; CI=true, so this is a failure" : ": skipped");
    return skip_code;
  }
  std::string missing;
  if (!toolsPresent(&missing)) {
    std::fprintf(stderr, "differential_test: %s not found%s\n", missing.c_str(),
                 in_ci ? "; CI=true, so this is a failure" : ": skipped");
    return skip_code;
  }
  NetnsLab::removeLeftovers();
  std::string error;
  std::unique_ptr<NetnsLab> lab = NetnsLab::create(&error);
  if (!lab) {
    std::fprintf(stderr, "differential_test: building the namespaces failed: %s\n", error.c_str());
    return 1;
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, removeNamespacesOnSignal);
  int rc = 1;
  try {
    auto prober = std::make_unique<KernelProber>(*lab);
    g_lab = lab.get();
    g_prober = prober.get();
    rc = RUN_ALL_TESTS();
    g_prober = nullptr;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "differential_test: %s\n", e.what());
  }
  g_lab = nullptr;
  lab.reset();
  return rc;
}
