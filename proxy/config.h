// config.h owns the proxy's options (Config) and their command line (parseCommandLine), as
// fixed by the contract in the proxy's README section: every knob of the proxy lives in this one
// struct, handed to the workers; nothing is a file-scope global.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xredir/ip_addr.h"

namespace xredir::proxy {

enum class OriginalDstMode : std::uint8_t { kXredir = 1, kKernel = 2 };

enum class LogLevel : std::uint8_t { kTrace = 1, kDebug, kInfo, kWarn, kError };

struct Config {
  std::vector<Endpoint> listen;  // never empty after parsing
  OriginalDstMode original_dst = OriginalDstMode::kXredir;
  std::string odst_socket;  // --odst-socket, else $XREDIR_ODST_SOCKET, else the default path
  bool odst_view = true;    // answer from xredir's shared view first (--no-odst-view: never)
  unsigned threads = 1;
  std::vector<int> cpus;  // empty: no pinning
  std::uint32_t mark = 0;
  unsigned connect_timeout_ms = 5000;
  unsigned idle_timeout_s = 300;
  unsigned max_connections = 10000;
  unsigned buffer_size = 65536;
  bool proxy_protocol = false;
  std::optional<Endpoint> metrics;
  unsigned drain_timeout_s = 30;
  LogLevel log_level = LogLevel::kInfo;
};

// ParseResult is what parseCommandLine found: a config, or an error line (exit 1), or a help /
// version text to print before exiting 0.
struct ParseResult {
  std::optional<Config> config;
  std::string error;  // set when config is empty and this is a failure
  std::string help;   // set when config is empty and --help was asked for
};

// parseCommandLine parses argv (argv[0] is the program name). odst_env is the value of
// $XREDIR_ODST_SOCKET (nullptr when unset), passed in so tests do not depend on the environment.
ParseResult parseCommandLine(int argc, const char* const* argv, const char* odst_env);

// parseCpuList parses "0,1" or "0-3,6". Returns nullopt on malformed text.
std::optional<std::vector<int>> parseCpuList(const std::string& text);

}  // namespace xredir::proxy
