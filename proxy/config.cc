// config.cc: the command line of xredir-proxy (CLI11), see config.h and the contract.
#include "config.h"

#include <CLI/CLI.hpp>

#include "xredir/odst.h"

namespace xredir::proxy {

namespace {

std::optional<Endpoint> parseListenEndpoint(const std::string& text) {
  std::optional<Endpoint> ep = parseEndpoint(text);
  return ep;
}

}  // namespace

std::optional<std::vector<int>> parseCpuList(const std::string& text) {
  std::vector<int> cpus;
  std::size_t pos = 0;
  if (text.empty()) return std::nullopt;
  while (pos <= text.size()) {
    const std::size_t comma = text.find(',', pos);
    const std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const std::size_t dash = item.find('-');
    auto number = [](const std::string& s) -> std::optional<int> {
      if (s.empty() || s.size() > 5) return std::nullopt;
      int v = 0;
      for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
      }
      return v;
    };
    if (dash == std::string::npos) {
      std::optional<int> v = number(item);
      if (!v) return std::nullopt;
      cpus.push_back(*v);
    } else {
      std::optional<int> lo = number(item.substr(0, dash));
      std::optional<int> hi = number(item.substr(dash + 1));
      if (!lo || !hi || *lo > *hi) return std::nullopt;
      for (int c = *lo; c <= *hi; ++c) cpus.push_back(c);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return cpus;
}

ParseResult parseCommandLine(int argc, const char* const* argv, const char* odst_env) {
  CLI::App app{"xredir-proxy: io_uring transparent TCP proxy"};
  std::vector<std::string> listen;
  std::string original_dst = "xredir";
  std::string odst_socket;
  std::string cpus;
  std::string metrics;
  std::string log_level = "info";
  Config c;
  app.add_option("--listen", listen, "ADDR:PORT or [V6ADDR]:PORT (repeatable)");
  app.add_option("--original-dst", original_dst, "xredir|kernel")
      ->check(CLI::IsMember({"xredir", "kernel"}));
  app.add_option("--odst-socket", odst_socket, "original-destination API socket");
  bool no_odst_view = false;
  app.add_flag("--no-odst-view", no_odst_view,
               "ask every original destination over the socket, never from the shared view");
  app.add_option("--threads", c.threads, "worker threads")->check(CLI::Range(1u, 1024u));
  app.add_option("--cpus", cpus, "CPU list to pin the threads to, e.g. 0,1");
  app.add_option("--mark", c.mark, "SO_MARK on upstream sockets (0 = none)");
  app.add_option("--connect-timeout-ms", c.connect_timeout_ms)->check(CLI::Range(1u, 3600000u));
  app.add_option("--idle-timeout-s", c.idle_timeout_s)->check(CLI::Range(1u, 604800u));
  app.add_option("--max-connections", c.max_connections)->check(CLI::Range(1u, 10000000u));
  app.add_option("--buffer-size", c.buffer_size)->check(CLI::Range(512u, 16u << 20));
  app.add_flag("--proxy-protocol", c.proxy_protocol, "send a PROXY protocol v2 header upstream");
  app.add_option("--metrics", metrics, "ADDR:PORT serving GET /metrics");
  app.add_option("--drain-timeout-s", c.drain_timeout_s)->check(CLI::Range(0u, 86400u));
  app.add_option("--log-level", log_level)
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  ParseResult result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.help = app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    result.error = e.what();
    return result;
  }
  if (listen.empty()) listen.push_back("0.0.0.0:15001");
  for (const std::string& l : listen) {
    std::optional<Endpoint> ep = parseListenEndpoint(l);
    if (!ep) {
      result.error = "--listen: not an ADDR:PORT or [V6ADDR]:PORT: " + l;
      return result;
    }
    c.listen.push_back(*ep);
  }
  c.original_dst = original_dst == "kernel" ? OriginalDstMode::kKernel : OriginalDstMode::kXredir;
  c.odst_view = !no_odst_view;
  if (!odst_socket.empty()) {
    c.odst_socket = odst_socket;
  } else if (odst_env != nullptr && odst_env[0] != '\0') {
    c.odst_socket = odst_env;
  } else {
    c.odst_socket = XREDIR_ODST_DEFAULT_SOCKET;
  }
  if (!cpus.empty()) {
    std::optional<std::vector<int>> list = parseCpuList(cpus);
    if (!list) {
      result.error = "--cpus: not a CPU list like 0,1 or 0-3: " + cpus;
      return result;
    }
    c.cpus = *list;
  }
  if (!metrics.empty()) {
    c.metrics = parseListenEndpoint(metrics);
    if (!c.metrics) {
      result.error = "--metrics: not an ADDR:PORT or [V6ADDR]:PORT: " + metrics;
      return result;
    }
  }
  if (log_level == "trace") c.log_level = LogLevel::kTrace;
  if (log_level == "debug") c.log_level = LogLevel::kDebug;
  if (log_level == "info") c.log_level = LogLevel::kInfo;
  if (log_level == "warn") c.log_level = LogLevel::kWarn;
  if (log_level == "error") c.log_level = LogLevel::kError;
  result.config = std::move(c);
  return result;
}

}  // namespace xredir::proxy
