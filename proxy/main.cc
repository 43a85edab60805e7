// main.cc: `xredir-proxy`, the io_uring transparent proxy. Parses the command line (config.h),
// starts the workers (proxy.h) and turns SIGTERM/SIGINT into a graceful drain. The signals are
// blocked in every thread and read from a signalfd here, so no work happens in a signal handler;
// the workers learn of them through their stop eventfds.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config.h"
#include "proxy.h"

namespace {

spdlog::level::level_enum toSpdlog(xredir::proxy::LogLevel l) {
  switch (l) {
    case xredir::proxy::LogLevel::kTrace:
      return spdlog::level::trace;
    case xredir::proxy::LogLevel::kDebug:
      return spdlog::level::debug;
    case xredir::proxy::LogLevel::kInfo:
      return spdlog::level::info;
    case xredir::proxy::LogLevel::kWarn:
      return spdlog::level::warn;
    case xredir::proxy::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xredir::proxy;
  spdlog::set_default_logger(spdlog::stderr_logger_mt("xredir-proxy"));
  ParseResult parsed = parseCommandLine(argc, argv, std::getenv("XREDIR_ODST_SOCKET"));
  if (!parsed.config) {
    if (!parsed.help.empty()) {
      std::fputs(parsed.help.c_str(), stdout);
      return 0;
    }
    spdlog::error("{}", parsed.error);
    return 1;
  }
  const Config& config = *parsed.config;
  spdlog::set_level(toSpdlog(config.log_level));

  // Block the signals before any thread starts, so that every thread inherits the mask and
  // only the signalfd below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const int sfd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (sfd < 0) {
    spdlog::error("signalfd: {}", std::strerror(errno));
    return 1;
  }

  Proxy proxy(config);
  std::string error;
  if (!proxy.start(&error)) {
    spdlog::error("{}", error);
    return 1;
  }
  std::string addresses;
  for (const xredir::Endpoint& ep : proxy.boundListen()) {
    addresses += (addresses.empty() ? "" : ", ") + xredir::formatEndpoint(ep);
  }
  spdlog::info("listening on {} ({} thread{}, original destination from {})", addresses,
               config.threads, config.threads == 1 ? "" : "s",
               config.original_dst == OriginalDstMode::kKernel ? "the kernel" : config.odst_socket);
  if (config.metrics) {
    spdlog::info("metrics on {}",
                 xredir::formatEndpoint({config.metrics->addr, proxy.metricsPort()}));
  }
  unsigned stops = 0;
  while (!proxy.finished()) {
    pollfd p{sfd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    signalfd_siginfo info{};
    if (read(sfd, &info, sizeof(info)) != sizeof(info)) continue;
    ++stops;
    if (stops == 1) {
      spdlog::info("signal {}: draining (up to {} s)", info.ssi_signo, config.drain_timeout_s);
    } else {
      spdlog::info("signal {}: closing all connections now", info.ssi_signo);
    }
    proxy.requestStop();
  }
  proxy.wait();
  close(sfd);
  spdlog::info("stopped");
  return stops > 0 ? 0 : 1;
}
