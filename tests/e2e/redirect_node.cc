// redirect_node is the e2e tests' node-side program: it runs the AF_XDP datapath on the given
// capture interfaces with the FixedRedirectProcessor until SIGTERM/SIGINT, then tears
// everything down and prints its counters as `name value` lines (the harness asserts on them).
// It writes "READY" to stdout once steering is live.
//   redirect_node --iface n0 [--iface ...] --ports 443,53 --proxy-port 15001
//                 [--inject xr0 --proxy-if xr1] [--cpu N] [--rules FILE] [--fast-path 0|1]
// With --rules (an iptables-save nat table, IPv4) the frames go through the real engine: the
// ConntrackProcessor (conntrack step + compiled rules) instead of the fixed REDIRECT; its fast
// path (established flows carried by the XDP program) is on unless --fast-path 0, and is swept
// against conntrack every second as the daemon does.
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <variant>

#include "fixed_redirect_processor.h"
#include "xdp/conntrack_processor.h"
#include "xdp/datapath.h"
#include "xredir/rule_loader.h"

using namespace xredir::xdp;

namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) {
  g_stop = 1;
}

int usage() {
  std::fprintf(stderr,
               "usage: redirect_node --iface IF [--iface IF...] --ports P[,P...] "
               "[--proxy-port P] [--inject NAME] [--proxy-if NAME] [--cpu N] [--rules FILE] "
               "[--fast-path 0|1]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  DatapathConfig config;
  std::set<std::uint16_t> ports;
  std::uint16_t proxy_port = 15001;
  std::string rules_file;
  bool fast_path = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--iface") {
      config.capture_interfaces.push_back(v);
    } else if (a == "--ports") {
      for (char* tok = std::strtok(v.data(), ","); tok; tok = std::strtok(nullptr, ",")) {
        ports.insert(static_cast<std::uint16_t>(std::atoi(tok)));
      }
    } else if (a == "--proxy-port") {
      proxy_port = static_cast<std::uint16_t>(std::atoi(v.c_str()));
    } else if (a == "--inject") {
      config.injection.inject_if = v;
    } else if (a == "--proxy-if") {
      config.injection.proxy_if = v;
    } else if (a == "--rules") {
      rules_file = v;
    } else if (a == "--fast-path") {
      fast_path = v != "0";
    } else if (a == "--cpu") {
      config.cpus.push_back(std::atoi(v.c_str()));
    } else {
      return usage();
    }
  }
  if (config.capture_interfaces.empty() || (ports.empty() && rules_file.empty())) return usage();
  config.injection.proxy_ports = {proxy_port};
  fast_path = fast_path && !rules_file.empty();  // the fixed processor has no conntrack
  config.injection.proxy_gro = fast_path;
  config.reply_fast_path = fast_path;
  spdlog::set_level(spdlog::level::info);

  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  xredir::Status err;
  auto dp = Datapath::create(config, err);
  if (!dp) {
    spdlog::error("{}", err.message());
    return 1;
  }
  xredir::xdp::test::FixedRedirectProcessor fixed(*dp, ports, proxy_port);
  // The engine path: rules loaded and compiled, a conntrack table, the real step.
  std::shared_ptr<xredir::RuleSet> rule_set;
  std::unique_ptr<xredir::ConntrackTable> table;
  xredir::SteadyClock clock;
  std::mt19937_64 rng(1);
  xredir::EvalContext eval_ctx;
  eval_ctx.random_unit = [&rng] { return std::uniform_real_distribution<double>(0, 1)(rng); };
  std::unique_ptr<ConntrackProcessor> engine;
  PacketProcessor* processor = &fixed;
  if (!rules_file.empty()) {
    std::ifstream in(rules_file);
    std::stringstream text;
    text << in.rdbuf();
    auto loaded = xredir::loadRuleSet({{rules_file, text.str()}}, {}, {});
    if (auto* e = std::get_if<xredir::LoadError>(&loaded)) {
      spdlog::error("{}", e->message());
      return 1;
    }
    rule_set = std::make_shared<xredir::RuleSet>(std::move(std::get<xredir::RuleSet>(loaded)));
    std::shared_ptr<const xredir::CompiledRuleSet> compiled = xredir::compileRuleSet(*rule_set);
    // Keep the RuleSet alive as long as its compiled form (an aliasing pointer owning both).
    auto owner = std::make_shared<std::pair<std::shared_ptr<xredir::RuleSet>,
                                            std::shared_ptr<const xredir::CompiledRuleSet>>>(
        rule_set, compiled);
    std::shared_ptr<const xredir::CompiledRuleSet> pinned(owner, compiled.get());
    table = std::make_unique<xredir::ConntrackTable>(xredir::ConntrackConfig{});
    engine = std::make_unique<ConntrackProcessor>(*dp, *table, clock, eval_ctx);
    engine->setRules(pinned, nullptr);
    engine->setFastPath(fast_path);
    processor = engine.get();
    spdlog::info("rules from {}: conntrack engine in the loop", rules_file);
  }
  err = dp->startWorkers(*processor);
  if (!err.ok()) {
    spdlog::error("{}", err.message());
    return 1;
  }
  std::printf("READY\n");
  std::fflush(stdout);
  while (!g_stop) {
    sleep(1);  // interrupted by SIGTERM/SIGINT
    if (engine && fast_path && !g_stop) engine->sweepFastPath();
  }
  // Left in the fast-path map at exit: a FIN-closed connection leaves none behind.
  const std::size_t fast_left = dp->bpf().fastEntries().size();

  auto bpf_stats = dp->bpf().readStats();
  std::uint64_t rx = 0, tx = 0, to_kernel = 0, drops = 0, ring_full = 0;
  for (const auto& w : dp->workers()) {
    const auto& s = w->stats();
    rx += s.rx_frames;
    tx += s.tx_frames;
    to_kernel += s.to_kernel;
    drops += s.drop_processor + s.drop_tx_ring_full + s.drop_no_egress + s.drop_reinject;
    ring_full += s.drop_tx_ring_full;
  }
  if (engine) {
    const auto& cs = engine->stats();
    std::printf(
        "engine_unparsable %llu\nengine_reply_untracked %llu\nengine_step_drop %llu\n"
        "engine_step_error %llu\nengine_fast_installed %llu\nengine_fast_install_failed %llu\n"
        "engine_fast_removed %llu\nengine_fast_swept %llu\nengine_fast_refreshed %llu\n"
        "engine_fast_entries_left %llu\n",
        static_cast<unsigned long long>(cs.unparsable.load()),
        static_cast<unsigned long long>(cs.reply_untracked.load()),
        static_cast<unsigned long long>(cs.step_drop.load()),
        static_cast<unsigned long long>(cs.step_error.load()),
        static_cast<unsigned long long>(cs.fast_installed.load()),
        static_cast<unsigned long long>(cs.fast_install_failed.load()),
        static_cast<unsigned long long>(cs.fast_removed.load()),
        static_cast<unsigned long long>(cs.fast_swept.load()),
        static_cast<unsigned long long>(cs.fast_refreshed.load()),
        static_cast<unsigned long long>(fast_left));
  }
  dp.reset();  // tear down before reporting, so the harness sees the final state
  std::printf("worker_drop_tx_ring_full %llu\n", static_cast<unsigned long long>(ring_full));
  std::printf("worker_rx %llu\nworker_tx %llu\nworker_to_kernel %llu\nworker_drops %llu\n",
              static_cast<unsigned long long>(rx), static_cast<unsigned long long>(tx),
              static_cast<unsigned long long>(to_kernel), static_cast<unsigned long long>(drops));
  const char* names[XREDIR_STAT_COUNT] = {"seen",           "pass_not_ip",   "pass_not_l4",
                                          "pass_truncated", "pass_no_iface", "pass_no_match",
                                          "pass_flow",      "steered",       "steered_xlat",
                                          "fast_path",      "fast_slow"};
  for (int i = 0; i < XREDIR_STAT_COUNT; ++i) {
    std::printf("xdp_%s %llu\n", names[i], static_cast<unsigned long long>(bpf_stats[i]));
  }
  return 0;
}
