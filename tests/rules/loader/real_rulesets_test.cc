// Tests over the real-world rule sets in ../shared/testdata/rulesets (see INDEX.md there) and
// the examples in config/examples: each file loads or is refused at the line and column of the
// feature xredir does not support; everything that loads survives print -> load unchanged.
#include <grp.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "load_helpers.h"
#include "rule_set_equal.h"

namespace xredir::testing {
namespace {

namespace fs = std::filesystem;

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const fs::path kRulesets = XREDIR_RULESETS_DIR;
const fs::path kExamples = XREDIR_EXAMPLES_DIR;

struct Expect {
  const char* file;
  Family family;
  const char* ipsets;  // ipset save text to load with it, or ""
  int line;            // 0: loads
  int column;
  const char* reason;
};

// The group `ftp` is resolved at load time, as the kernel's tools do; INDEX.md records that it
// does not exist on the reference machine. Decide from this machine's group database.
bool ftpGroupExists() {
  return getgrnam("ftp") != nullptr;
}

std::vector<Expect> expectations() {
  std::vector<Expect> e = {
      {"docker-swarm-portmap-nat.rules", Family::kV4, "", 14, 67, "unsupported target MASQUERADE"},
      {"docker-usernet-portmap-nat.rules", Family::kV4, "", 11, 48,
       "unsupported target MASQUERADE"},
      {"docker-usernet-portmap-noproxy-nat.rules", Family::kV4, "", 11, 59,
       "unsupported target MASQUERADE"},
      {"istio-basic-exclude-nic.rules", Family::kV4, "", 0, 0, ""},
      {"istio-cni-ambient-default.rules", Family::kV4, "", 8, 46, "unsupported target CONNMARK"},
      {"istio-cni-ambient-hostprobe.rules", Family::kV4, "", 6, 68,
       "set istio-inpod-probes-v4 does not exist"},
      {"istio-cni-ambient-hostprobe.rules", Family::kV4, "create istio-inpod-probes-v4 hash:ip\n",
       6, 97, "unsupported target SNAT"},
      {"istio-cni-ambient-virtual-interfaces.rules", Family::kV4, "", 8, 46,
       "unsupported target CONNMARK"},
      {"istio-dns-uid-gid.rules", Family::kV4, "", 35, 65, "unsupported target CT"},
      {"istio-drop-invalid.rules", Family::kV4, "", 0, 0, ""},
      {"istio-host-ipv4-loopback-cidr.rules", Family::kV4, "", 0, 0, ""},
      {"istio-ipnets-kube-virt-interfaces.rules", Family::kV4, "", 0, 0, ""},
      {"istio-ipv6-inbound-ports-v6.rules", Family::kV6, "", 0, 0, ""},
      {"istio-ipv6-inbound-ports-v6.rules", Family::kV4, "", 15, 26,
       "IPv6 address ::6/128 in an IPv4 rule set"},
      {"istio-loopback-outbound-iprange.rules", Family::kV4, "", 32, 65, "unsupported target CT"},
      {"istio-outbound-ports-include.rules", Family::kV4, "", 0, 0, ""},
      {"istio-tproxy.rules", Family::kV4, "", 11, 45, "unsupported target TPROXY"},
      {"kuma-default.rules", Family::kV4, "", 0, 0, ""},
      {"kuma-kumactl-excludedports-wildcards.rules", Family::kV4, "", 0, 0, ""},
      {"kuma-multiple-flags.rules", Family::kV4, "", 5, 149, "unsupported target CT"},
      {"linkerd-proxy-init-existing.rules", Family::kV4, "", 0, 0, ""},
      {"osm-default.rules", Family::kV4, "", 0, 0, ""},
      {"osm-exclusions-inclusions.rules", Family::kV4, "", 0, 0, ""},
  };
  if (ftpGroupExists()) {
    e.push_back({"istio-outbound-owner-groups-exclude.rules", Family::kV4, "", 0, 0, ""});
  } else {
    e.push_back({"istio-outbound-owner-groups-exclude.rules", Family::kV4, "", 20, 38,
                 "group \"ftp\" does not exist"});
  }
  return e;
}

std::variant<RuleSet, LoadError> loadFile(const fs::path& p,
                                          Family family,
                                          const std::string& ipsets) {
  std::vector<RuleSource> sets;
  if (!ipsets.empty()) sets.push_back({"sets.ipset", ipsets});
  return loadRuleSet({{p.filename().string(), readFile(p)}}, sets, LoadOptions{family});
}

void expectRoundTrip(const RuleSet& rs, const std::string& ipsets, const std::string& name) {
  const std::string printed = printRuleSet(rs);
  std::vector<RuleSource> sets;
  if (!ipsets.empty()) sets.push_back({"sets.ipset", ipsets});
  auto again = loadRuleSet({{"printed", printed}}, sets, LoadOptions{rs.family});
  ASSERT_TRUE(std::holds_alternative<RuleSet>(again))
      << name << ": printed text does not load: " << std::get<LoadError>(again).message() << "\n"
      << printed;
  EXPECT_EQ(diffRuleSets(rs, std::get<RuleSet>(again)), "") << name << "\n" << printed;
  EXPECT_EQ(printRuleSet(std::get<RuleSet>(again)), printed) << name;
}

TEST(RealRulesetsTest, EachFileLoadsOrIsRefusedAtTheUnsupportedFeature) {
  ASSERT_TRUE(fs::is_directory(kRulesets)) << "test data missing: " << kRulesets;
  std::set<std::string> covered;
  for (const Expect& x : expectations()) {
    covered.insert(x.file);
    auto r = loadFile(kRulesets / x.file, x.family, x.ipsets);
    const LoadError* e = std::get_if<LoadError>(&r);
    if (x.line == 0) {
      ASSERT_EQ(e, nullptr) << x.file << ": " << (e ? e->message() : "");
      expectRoundTrip(std::get<RuleSet>(r), x.ipsets, x.file);
      continue;
    }
    ASSERT_NE(e, nullptr) << x.file << " loaded but should be refused";
    EXPECT_EQ(e->file, x.file);
    EXPECT_EQ(e->line, x.line) << e->message();
    EXPECT_EQ(e->column, x.column) << e->message();
    EXPECT_NE(e->reason.find(x.reason), std::string::npos) << e->message();
  }
  // Every file of the directory has an expectation.
  for (const auto& entry : fs::directory_iterator(kRulesets)) {
    if (entry.path().extension() == ".rules") {
      EXPECT_EQ(covered.count(entry.path().filename().string()), 1u)
          << "no expectation for " << entry.path();
    }
  }
}

std::vector<std::string> chainSummary(const Chain& c) {
  std::vector<std::string> out;
  for (const Rule& r : c.rules) {
    std::string s = r.in_iface ? r.in_iface->name : "";
    s += r.dst ? " " + formatCidr(r.dst->cidr) : "";
    s += " " + (r.target.kind == TargetKind::kJump ? r.target.chain : std::string("RETURN"));
    out.push_back(s);
  }
  return out;
}

TEST(RealRulesetsTest, IstioIpnetsInsertAtOneGivesTheKernelsOrder) {
  const RuleSet rs = std::get<RuleSet>(
      loadFile(kRulesets / "istio-ipnets-kube-virt-interfaces.rules", Family::kV4, ""));
  // INDEX.md: final order eth2-REDIRECT, eth1-REDIRECT, eth2-RETURN, eth1-RETURN.
  EXPECT_EQ(
      chainSummary(*findChain(rs, Table::kNat, "PREROUTING")),
      (std::vector<std::string>{"eth2 10.0.0.0/8 ISTIO_REDIRECT", "eth1 10.0.0.0/8 ISTIO_REDIRECT",
                                "eth2 RETURN", "eth1 RETURN"}));
}

TEST(RealRulesetsTest, OsmInsertWithoutPositionPrepends) {
  const RuleSet rs =
      std::get<RuleSet>(loadFile(kRulesets / "osm-exclusions-inclusions.rules", Family::kV4, ""));
  const Chain* c = findChain(rs, Table::kNat, "OSM_PROXY_INBOUND");
  ASSERT_TRUE(c && c->rules.size() == 9);
  // Lines 17-19 insert at 1 each: the last inserted (multiport 30,40) comes first.
  ASSERT_TRUE(c->rules[0].dport.has_value());
  EXPECT_EQ(c->rules[0].dport->ranges, (std::vector<PortRange>{{30, 30}, {40, 40}}));
  EXPECT_EQ(c->rules[0].where.line, 19);
  EXPECT_EQ(c->rules[1].in_iface->name, "eth1");
  EXPECT_EQ(c->rules[2].in_iface->name, "eth0");
  EXPECT_EQ(c->rules[3].where.line, 11);
}

TEST(RealRulesetsTest, NonCanonicalPrefixAndAbbreviatedOptions) {
  const RuleSet loop = std::get<RuleSet>(
      loadFile(kRulesets / "istio-host-ipv4-loopback-cidr.rules", Family::kV4, ""));
  const Chain* out = findChain(loop, Table::kNat, "ISTIO_OUTPUT");
  ASSERT_TRUE(out && out->rules.size() >= 2 && out->rules[1].dst);
  EXPECT_EQ(formatCidr(out->rules[1].dst->cidr), "127.0.0.0/8");
  EXPECT_TRUE(out->rules[1].dst->invert);

  const RuleSet kuma = std::get<RuleSet>(
      loadFile(kRulesets / "kuma-kumactl-excludedports-wildcards.rules", Family::kV4, ""));
  const Chain* o = findChain(kuma, Table::kNat, "OUTPUT");
  ASSERT_TRUE(o && o->rules.size() == 3);
  // `-m multiport -p tcp --dport 1:65535`: --dport abbreviates multiport's --dports.
  EXPECT_EQ(o->rules[0].match_order, (std::vector<std::string>{"multiport", "owner"}));
  EXPECT_EQ(o->rules[0].dport->ranges, (std::vector<PortRange>{{1, 65535}}));
  EXPECT_EQ(o->rules[1].protocol, 17);

  const RuleSet osm = std::get<RuleSet>(loadFile(kRulesets / "osm-default.rules", Family::kV4, ""));
  const Chain* redir = findChain(osm, Table::kNat, "OSM_PROXY_IN_REDIRECT");
  ASSERT_TRUE(redir && redir->rules.size() == 1);
  // REDIRECT --to-port abbreviates --to-ports.
  EXPECT_EQ(redir->rules[0].target.to_ports, (PortRange{15003, 15003}));
}

TEST(RealRulesetsTest, ExamplesLoadAndRoundTrip) {
  ASSERT_TRUE(fs::is_directory(kExamples)) << kExamples;
  int count = 0;
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".rules") continue;
    ++count;
    fs::path ipset = entry.path();
    ipset.replace_extension(".ipset");
    const std::string sets = fs::exists(ipset) ? readFile(ipset) : "";
    auto r = loadFile(entry.path(), Family::kV4, sets);
    ASSERT_TRUE(std::holds_alternative<RuleSet>(r))
        << entry.path() << ": " << std::get<LoadError>(r).message();
    const RuleSet& rs = std::get<RuleSet>(r);
    ASSERT_NE(rs.findTable(Table::kNat), nullptr) << entry.path();
    expectRoundTrip(rs, sets, entry.path().filename().string());
  }
  EXPECT_GE(count, 4);
}

}  // namespace
}  // namespace xredir::testing
