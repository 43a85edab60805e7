// main.cc: the `xredir` command line. Only parsing and dispatch live here.
#include <CLI/CLI.hpp>
#include <numeric>

#include "daemon/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"xredir: kernel-bypass transparent proxy redirector"};
  app.require_subcommand(1);

  xredir::CheckOptions check;
  auto* check_cmd = app.add_subcommand("check", "validate rule files and summarise them");
  check_cmd->add_option("files", check.rule_files, "iptables-save / iptables-restore files")
      ->required();
  check_cmd->add_option("--ipset", check.ipset_files, "ipset save files for -m set");
  check_cmd->add_flag("-6,--ipv6", check.ipv6, "the files are ip6tables-save input");

  xredir::TraceOptions trace;
  std::vector<std::string> packet_words;
  auto* trace_cmd =
      app.add_subcommand("trace", "show every rule a packet is checked against, and the verdict");
  trace_cmd->add_option("--rules", trace.rule_files, "iptables-save files")->required();
  trace_cmd->add_option("--ipset", trace.ipset_files, "ipset save files for -m set");
  trace_cmd->add_flag("--json", trace.json, "print one JSON object");
  trace_cmd->add_option("--proxy-v4", trace.proxy_v4, "address REDIRECT sends IPv4 flows to")
      ->capture_default_str();
  trace_cmd->add_option("--proxy-v6", trace.proxy_v6, "address REDIRECT sends IPv6 flows to")
      ->capture_default_str();
  trace_cmd
      ->add_option("packet", packet_words,
                   "e.g. tcp 10.0.0.1:40000 -> 93.184.216.34:443 in eth0 hook prerouting")
      ->required();

  xredir::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "run the redirector (root)");
  run_cmd->add_option("--config", run.config_file, "daemon configuration (TOML)")->required();

  CLI11_PARSE(app, argc, argv);

  if (check_cmd->parsed()) return xredir::runCheck(check);
  if (trace_cmd->parsed()) {
    for (const auto& word : packet_words) trace.packet += word + " ";
    return xredir::runTrace(trace);
  }
  if (run_cmd->parsed()) return xredir::runDaemon(run);
  return 2;
}
