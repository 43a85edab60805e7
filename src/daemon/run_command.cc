// run_command.cc: `xredir run --config FILE`, the daemon. Only wiring: it loads the
// configuration and rules, builds conntrack, the AF_XDP datapath (which creates the injection
// pair and attaches XDP), the flow processor, the original-destination API (socket server and
// shared view) and the metrics endpoint, then waits for signals: SIGHUP reloads the rules
// atomically (a bad file is refused with its error and the old rules stay), SIGTERM/SIGINT tear
// everything down in reverse order and exit 0. Expired conntrack entries are reaped from the same
// loop, a slice at a time.
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <filesystem>
#include <sstream>
#include <string_view>

#include "daemon/commands.h"
#include "daemon/conntrack_odst_source.h"
#include "daemon/conntrack_view_publisher.h"
#include "daemon/metrics_server.h"
#include "daemon/rule_generation.h"
#include "daemon/run_config.h"
#include "odst/odst_server.h"
#include "odst/shared_view.h"
#include "xdp/datapath.h"
#include "daemon/host_addr_types.h"
#include "xdp/conntrack_processor.h"

namespace xredir {
namespace {

// How much of the table one reaper tick examines, and how often ticks run: a full sweep of a
// 1M-entry table takes ~25 s, far below the shortest timeout that matters for memory (UDP 30 s).
constexpr std::uint32_t kReapSlice = 4096;
constexpr timespec kTick{0, 100'000'000};
constexpr unsigned kTicksPerFastSweep = 10;

// InstanceLock refuses a second xredir on the same interface of the same network namespace. The
// lock is a bound abstract Unix socket: that namespace is per network namespace, exactly the
// scope of an interface name, and the kernel releases the name when the process ends in any way
// (SIGKILL included), so nothing is left on disk and a stale lock cannot exist.
class InstanceLock {
 public:
  bool acquire(const std::string& ifname, std::string& error) {
    const std::string name = "xredir/capture/" + ifname;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
      error = errno == EADDRINUSE
                  ? "another xredir instance already captures " + ifname +
                        " in this network namespace (it holds the abstract socket @" + name + ")"
                  : "instance lock for " + ifname + ": " + std::strerror(errno);
      if (fd >= 0) close(fd);
      return false;
    }
    fds_.push_back(fd);
    return true;
  }
  ~InstanceLock() {
    for (int fd : fds_) close(fd);
  }

 private:
  std::vector<int> fds_;
};

std::string resolvePath(const std::filesystem::path& base, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (base / path).string();
}

// escapeLabel escapes a Prometheus label value (backslash, double quote, newline).
std::string escapeLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// renderRuleHits writes xredir_rule_hits_total: per family, table, chain and rule (1-based
// position, or "policy"), the new connections that rule decided since the running rules were
// loaded (a reload starts new counters from zero: rule_hit_counters.h).
void renderRuleHits(std::ostringstream& out, const xdp::ConntrackProcessor& processor) {
  out << "# HELP xredir_rule_hits_total new connections decided by a rule (rule: 1-based "
         "position in its chain, or policy), since the running rules were loaded\n"
      << "# TYPE xredir_rule_hits_total counter\n";
  for (Family family : {Family::kV4, Family::kV6}) {
    const auto hits = processor.ruleHits(family);
    if (!hits) continue;
    const char* family_label = family == Family::kV4 ? "ipv4" : "ipv6";
    for (const auto& sample : hits->samples()) {
      out << "xredir_rule_hits_total{family=\"" << family_label << "\",table=\""
          << tableName(sample.table) << "\",chain=\"" << escapeLabel(sample.chain) << "\",rule=\""
          << (sample.position ? std::to_string(*sample.position) : std::string("policy")) << "\"} "
          << sample.hits << "\n";
    }
  }
}

// Prometheus text of everything the daemon counts.
std::string renderMetrics(const xdp::ConntrackProcessor& processor,
                          const ConntrackTable& table,
                          const xdp::Datapath& datapath,
                          const odst::OdstServer& api,
                          const odst::SharedView* view,
                          std::uint64_t reloads,
                          std::uint64_t reload_failures) {
  std::ostringstream out;
  auto metric = [&out](const char* name, const char* type, const char* help, auto value,
                       const std::string& labels = "") {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
        << name << labels << " " << value << "\n";
  };
  std::uint64_t rx = 0, tx = 0, to_kernel = 0, drop_processor = 0, tx_full = 0, no_egress = 0;
  for (const auto& worker : datapath.workers()) {
    const xdp::WorkerStats& w = worker->stats();
    rx += w.rx_frames.load();
    tx += w.tx_frames.load();
    to_kernel += w.to_kernel.load();
    drop_processor += w.drop_processor.load();
    tx_full += w.drop_tx_ring_full.load();
    no_egress += w.drop_no_egress.load();
  }
  const xdp::ConntrackProcessorStats& p = processor.stats();
  metric("xredir_rx_frames_total", "counter", "frames received by the AF_XDP workers", rx);
  metric("xredir_tx_frames_total", "counter", "frames sent by the AF_XDP workers", tx);
  metric("xredir_to_kernel_total", "counter", "frames handed back to the kernel", to_kernel);
  out << "# HELP xredir_drops_total frames dropped, by reason\n"
      << "# TYPE xredir_drops_total counter\n"
      << "xredir_drops_total{reason=\"processor\"} " << drop_processor << "\n"
      << "xredir_drops_total{reason=\"tx_ring_full\"} " << tx_full << "\n"
      << "xredir_drops_total{reason=\"no_egress\"} " << no_egress << "\n"
      << "xredir_drops_total{reason=\"rule_or_table_full\"} " << p.step_drop.load() << "\n"
      << "xredir_drops_total{reason=\"unknown_reply\"} " << p.reply_untracked.load() << "\n"
      << "xredir_drops_total{reason=\"rewrite_error\"} " << p.step_error.load() << "\n";
  metric("xredir_unparsable_total", "counter", "frames that did not parse", p.unparsable.load());
  metric("xredir_output_new_total", "counter", "local connections evaluated at OUTPUT",
         p.output_new.load());
  metric("xredir_output_no_context_total", "counter",
         "local connections evaluated without a recorded socket context",
         p.output_no_context.load());
  const auto xdp_stats = datapath.bpf().readStats();
  metric("xredir_fastpath_packets_total", "counter",
         "packets rewritten and redirected by the XDP program (fast path)",
         xdp_stats[XREDIR_STAT_FAST_PATH]);
  metric("xredir_fastpath_installed_total", "counter", "connections put on the fast path",
         p.fast_installed.load());
  metric("xredir_fastpath_install_failed_total", "counter",
         "connections the fast-path map refused (full)", p.fast_install_failed.load());
  metric("xredir_fastpath_removed_total", "counter",
         "connections taken off the fast path by a FIN/RST", p.fast_removed.load());
  metric("xredir_fastpath_swept_total", "counter",
         "fast-path entries removed because conntrack no longer holds them ESTABLISHED",
         p.fast_swept.load());
  metric("xredir_conntrack_entries", "gauge", "tracked connections", table.size());
  metric("xredir_conntrack_capacity", "gauge", "maximum tracked connections", table.capacity());
  const ConntrackCounters c = table.totalCounters();
  metric("xredir_new_flows_total", "counter", "connections tracked", c.inserts);
  metric("xredir_conntrack_evictions_total", "counter", "early drops", c.evictions);
  metric("xredir_conntrack_refused_total", "counter", "new flows refused (table full)", c.refusals);
  metric("xredir_conntrack_reaped_total", "counter", "expired entries removed", c.reaped);
  metric("xredir_conntrack_nat_port_remaps_total", "counter",
         "connections whose client port was changed (their reply tuple was taken)",
         c.nat_port_remaps);
  metric("xredir_conntrack_nat_exhausted_total", "counter",
         "new flows refused: no free reply tuple", c.nat_exhausted);
  renderRuleHits(out, processor);
  metric("xredir_rule_reloads_total", "counter", "successful rule reloads", reloads);
  metric("xredir_rule_reload_failures_total", "counter", "refused rule reloads", reload_failures);
  const auto api_counters = api.counters();
  metric("xredir_odst_queries_total", "counter", "original-destination queries",
         api_counters.queries);
  metric("xredir_odst_refused_total", "counter", "API peers refused by credentials",
         api_counters.refused_permission);
  metric("xredir_odst_views_sent_total", "counter",
         "shared original-destination views handed to clients", api_counters.views_sent);
  if (view != nullptr) {
    const odst::SharedViewCounters v = view->counters();
    metric("xredir_odst_view_slots", "gauge", "slots of the shared original-destination view",
           v.slots);
    metric("xredir_odst_view_entries", "gauge",
           "translated connections the shared view answers for", v.entries);
    metric("xredir_odst_view_publish_full_total", "counter",
           "translated connections left out of the shared view (both buckets full; the socket "
           "answers them)",
           v.publish_full);
  }
  return out.str();
}

}  // namespace

int runDaemon(const RunOptions& options) {
  auto loaded_config = loadRunConfig(options.config_file);
  if (auto* error = std::get_if<std::string>(&loaded_config)) {
    spdlog::error("{}", *error);
    return 1;
  }
  RunConfig config = std::move(std::get<RunConfig>(loaded_config));
  const auto base = std::filesystem::absolute(options.config_file).parent_path();
  config.rules_v4 = resolvePath(base, config.rules_v4);
  config.rules_v6 = resolvePath(base, config.rules_v6);
  for (auto& path : config.ipsets) path = resolvePath(base, path);
  if (geteuid() != 0) {
    spdlog::error("xredir run needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN for XDP/AF_XDP)");
    return 1;
  }
  for (const std::string& ifname : config.interfaces) {
    if (if_nametoindex(ifname.c_str()) == 0) {
      spdlog::error("no such interface: {}", ifname);
      return 1;
    }
  }
  InstanceLock lock;
  for (const std::string& ifname : config.interfaces) {
    std::string error;
    if (!lock.acquire(ifname, error)) {
      spdlog::error("{}", error);
      return 1;
    }
  }

  auto generation = loadRuleGeneration(config);
  if (auto* error = std::get_if<std::string>(&generation)) {
    spdlog::error("{}", *error);
    return 1;
  }
  RuleGeneration rules = std::move(std::get<RuleGeneration>(generation));
  spdlog::info("rules loaded: {} REDIRECT port(s)", rules.redirect_ports.size());

  // Signals are taken synchronously by this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The shared original-destination view mirrors conntrack's translated connections, so it is
  // made before the table (which tells it of every insert and removal) and outlives it.
  std::unique_ptr<odst::SharedView> view;
  std::optional<ConntrackViewPublisher> view_publisher;
  const std::uint32_t view_slots = config.api_view_slots.value_or(config.max_entries);
  if (view_slots > 0) {
    Status view_status;
    const std::uint64_t view_seed =
        std::random_device{}() * 0x9e3779b97f4a7c15ULL ^ std::random_device{}();
    view = odst::SharedView::create(view_slots, view_seed, view_status);
    if (!view) {
      spdlog::error("original-destination API: {}", view_status.message());
      return 1;
    }
    view_publisher.emplace(*view);
  }

  ConntrackConfig ct_config;
  ct_config.max_entries = config.max_entries;
  ct_config.shard_count = config.shards;
  ct_config.hash_seed = std::random_device{}() * 0x9e3779b97f4a7c15ULL ^ std::random_device{}();
  ct_config.translation_observer = view_publisher ? &*view_publisher : nullptr;
  ConntrackTable table(ct_config);
  SteadyClock clock;

  xdp::DatapathConfig dp;
  dp.capture_interfaces = config.interfaces;
  dp.queues = config.queues;
  dp.cpus = config.cpus;
  dp.injection.inject_if = config.inject_if;
  dp.injection.proxy_if = config.proxy_if;
  dp.injection.proxy_v4 = config.proxy_v4;
  dp.injection.next_hop_v4 = config.next_hop_v4;
  dp.injection.proxy_v6 = config.proxy_v6;
  dp.injection.next_hop_v6 = config.next_hop_v6;
  dp.injection.proxy_ports = rules.redirect_ports;
  dp.injection.table = config.route_table;
  dp.injection.proxy_gro = config.fast_path;
  dp.reply_fast_path = config.fast_path;
  if (config.output_enabled) {
    xdp::OutputConfig out;
    out.protocols = config.output_protocols;
    out.exclude_uids = config.output_exclude_uids;
    out.exclude_marks = config.output_exclude_marks;
    out.source_v4 = config.output_source_v4;
    out.source_v6 = config.output_source_v6;
    out.ipv6 = config.output_ipv6;
    out.table = config.output_route_table;
    out.rule_pref = config.output_rule_pref;
    dp.output = out;
  }
  Status status;
  std::unique_ptr<xdp::Datapath> datapath = xdp::Datapath::create(dp, status);
  if (!datapath) {
    // This instance holds every capture interface's lock, so an xredir program found on one is
    // not another live instance's: it is what a killed xredir (SIGKILL, crash) left behind. (An
    // existing injection pair proves nothing: a live instance on another interface may own it.)
    const bool leftover =
        status.code() == std::errc::device_or_resource_busy &&
        status.message().find("already has an xredir XDP program") != std::string::npos;
    std::string remedy;
    if (leftover) {
      remedy =
          "; no running xredir holds the interface, so this is a leftover of one that was "
          "killed: remove it with";
      for (const std::string& ifname : config.interfaces) {
        remedy += " `ip link set dev " + ifname + " xdp off`,";
      }
      remedy += " `ip link del " + config.inject_if + "` and the `ip rule`s / `ip -6 rule`s " +
                "that look up table " + std::to_string(config.route_table);
      if (config.output_enabled) remedy += " or " + std::to_string(config.output_route_table);
    }
    spdlog::error("{}{}", status.message(), remedy);
    return 1;
  }

  // Host addresses for -m addrtype are read once, at start.
  EvalContext eval;
  eval.addr_type = makeAddrTypeLookup(readHostAddresses());
  eval.random_unit = [] {
    thread_local std::minstd_rand rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0, 1)(rng);
  };
  xdp::ConntrackProcessor processor(*datapath, table, clock, eval);
  processor.setRules({rules.compiled_v4, rules.rules_v4}, {rules.compiled_v6, rules.rules_v6});
  processor.setFastPath(config.fast_path);

  ConntrackOdstSource odst_source(table);
  odst::ServerOptions api_options;
  api_options.socket_path = config.api_socket;
  api_options.access = odst::AccessPolicy({config.api_uids.begin(), config.api_uids.end()},
                                          {config.api_gids.begin(), config.api_gids.end()});
  if (view) api_options.view = odst::ViewDescriptor{view->readOnlyFd(), view->offer()};
  odst::OdstServer api(api_options, odst_source);
  if (auto s = api.start(); !s.ok()) {
    spdlog::error("original-destination API: {}", s.message());
    return 1;
  }

  std::uint64_t reloads = 0;
  std::uint64_t reload_failures = 0;
  std::unique_ptr<MetricsServer> metrics;
  if (!config.metrics_listen.empty()) {
    std::string error;
    metrics = MetricsServer::start(
        config.metrics_listen,
        [&] {
          return renderMetrics(processor, table, *datapath, api, view.get(), reloads,
                               reload_failures);
        },
        error);
    if (!metrics) {
      spdlog::error("{}", error);
      return 1;
    }
  }

  if (auto s = datapath->startWorkers(processor); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  spdlog::info(
      "xredir running: {} worker(s), proxy at {} / {}, API {} (shared view: {}), "
      "metrics {}",
      datapath->workers().size(), config.proxy_v4, config.proxy_v6, config.api_socket,
      view ? std::to_string(view->counters().slots) + " slots" : std::string("off"),
      config.metrics_listen.empty() ? "off" : config.metrics_listen);

  unsigned ticks_since_sweep = 0;
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &kTick);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("signal {}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGHUP) {
      auto next = loadRuleGeneration(config);
      if (auto* error = std::get_if<std::string>(&next)) {
        ++reload_failures;
        spdlog::error("reload refused, the running rules stay: {}", *error);
      } else if (std::get<RuleGeneration>(next).redirect_ports != rules.redirect_ports) {
        ++reload_failures;
        spdlog::error(
            "reload refused, the running rules stay: the REDIRECT ports changed "
            "(the reply routing is set up at start; restart xredir)");
      } else {
        rules = std::move(std::get<RuleGeneration>(next));
        processor.setRules({rules.compiled_v4, rules.rules_v4},
                           {rules.compiled_v6, rules.rules_v6});
        ++reloads;
        spdlog::info("rules reloaded");
      }
    }
    table.reapSlice(clock.nowNs(), kReapSlice);
    // Every 10th tick (1 s): fast-path entries follow conntrack, and flows only the XDP
    // program carried get their conntrack last use refreshed before the reaper could see them.
    if (processor.fastPath() && ++ticks_since_sweep >= kTicksPerFastSweep) {
      ticks_since_sweep = 0;
      processor.sweepFastPath();
    }
  }
  metrics.reset();
  datapath->stopWorkers();
  api.stop();
  // Clients stop answering from the view now, while conntrack still holds what it says.
  if (view) view->retire();
  datapath.reset();
  spdlog::info("stopped; everything xredir created is removed");
  return 0;
}

}  // namespace xredir
