// commands.h: the `xredir` subcommands. Each returns the process exit status and prints its
// own errors; main.cc only parses the command line.
#pragma once

#include <string>
#include <vector>

namespace xredir {

struct CheckOptions {
  std::vector<std::string> rule_files;
  std::vector<std::string> ipset_files;
  bool ipv6 = false;
};

// runCheck loads and validates the files and prints a summary of tables, chains and rules.
int runCheck(const CheckOptions& options);

struct TraceOptions {
  std::vector<std::string> rule_files;
  std::vector<std::string> ipset_files;
  std::string packet;                          // a packet description (packet_description.h)
  std::string proxy_v4 = "169.254.77.1";       // where REDIRECT sends IPv4 flows
  std::string proxy_v6 = "fd00:7872:6564::1";  // and IPv6 flows ("xred" in the ULA)
  bool json = false;
};

// runTrace evaluates one described packet, printing every rule checked and the verdict.
int runTrace(const TraceOptions& options);

struct RunOptions {
  std::string config_file;
};

// runDaemon runs xredir until SIGTERM/SIGINT (run_command.cc). Returns 0 after a clean stop.
int runDaemon(const RunOptions& options);

}  // namespace xredir
