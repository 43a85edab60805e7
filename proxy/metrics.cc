// metrics.cc: Prometheus text exposition and the /metrics responder (see metrics.h).
#include "metrics.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "listener.h"
#include "sockaddr_util.h"

namespace xredir::proxy {

const char* failReasonLabel(FailReason r) {
  switch (r) {
    case FailReason::kInvalid:
      return "invalid";
    case FailReason::kOriginalDst:
      return "original_dst";
    case FailReason::kConnectRefused:
      return "connect_refused";
    case FailReason::kConnectTimeout:
      return "connect_timeout";
    case FailReason::kConnectError:
      return "connect_error";
    case FailReason::kLimit:
      return "limit";
    case FailReason::kLoop:
      return "loop";
  }
  return "invalid";
}

const char* odstErrorLabel(OdstError e) {
  switch (e) {
    case OdstError::kInvalid:
      return "invalid";
    case OdstError::kNotTracked:
      return "not_tracked";
    case OdstError::kNotTranslated:
      return "not_translated";
    case OdstError::kPermissionDenied:
      return "permission_denied";
    case OdstError::kUnavailable:
      return "unavailable";
    case OdstError::kMalformed:
      return "malformed";
    case OdstError::kOther:
      return "other";
  }
  return "invalid";
}

std::string MetricsRegistry::render() const {
  auto sum = [this](auto field) {
    std::uint64_t total = 0;
    for (const WorkerCounters& w : workers_) total += field(w).load(std::memory_order_relaxed);
    return total;
  };
  std::string out;
  auto line = [&out](const std::string& name, std::uint64_t v) {
    out += name;
    out += ' ';
    out += std::to_string(v);
    out += '\n';
  };
  const std::int64_t active = active_.load(std::memory_order_relaxed);
  out += "# HELP xredir_proxy_connections_active Connections currently open.\n";
  out += "# TYPE xredir_proxy_connections_active gauge\n";
  line("xredir_proxy_connections_active", active < 0 ? 0 : static_cast<std::uint64_t>(active));
  out += "# HELP xredir_proxy_connections_total Connections accepted.\n";
  out += "# TYPE xredir_proxy_connections_total counter\n";
  line("xredir_proxy_connections_total",
       sum([](const WorkerCounters& w) -> const Counter& { return w.connections_total; }));
  out +=
      "# HELP xredir_proxy_connections_failed_total Connections refused or failed before "
      "relaying, by reason.\n";
  out += "# TYPE xredir_proxy_connections_failed_total counter\n";
  for (std::size_t i = 1; i < kFailReasonCount; ++i) {
    line(std::string("xredir_proxy_connections_failed_total{reason=\"") +
             failReasonLabel(static_cast<FailReason>(i)) + "\"}",
         sum([i](const WorkerCounters& w) -> const Counter& { return w.failed[i]; }));
  }
  out +=
      "# HELP xredir_proxy_connections_idle_closed_total Connections closed by the idle "
      "timeout.\n";
  out += "# TYPE xredir_proxy_connections_idle_closed_total counter\n";
  line("xredir_proxy_connections_idle_closed_total",
       sum([](const WorkerCounters& w) -> const Counter& { return w.idle_closed; }));
  out += "# HELP xredir_proxy_bytes_total Bytes relayed, by direction.\n";
  out += "# TYPE xredir_proxy_bytes_total counter\n";
  line("xredir_proxy_bytes_total{direction=\"to_upstream\"}",
       sum([](const WorkerCounters& w) -> const Counter& { return w.bytes_to_upstream; }));
  line("xredir_proxy_bytes_total{direction=\"to_client\"}",
       sum([](const WorkerCounters& w) -> const Counter& { return w.bytes_to_client; }));
  out +=
      "# HELP xredir_proxy_original_dst_answers_total Original destinations found, by where "
      "the answer came from (the shared view or the server).\n";
  out += "# TYPE xredir_proxy_original_dst_answers_total counter\n";
  line("xredir_proxy_original_dst_answers_total{source=\"view\"}",
       sum([](const WorkerCounters& w) -> const Counter& { return w.odst_view_answers; }));
  line("xredir_proxy_original_dst_answers_total{source=\"server\"}",
       sum([](const WorkerCounters& w) -> const Counter& { return w.odst_server_answers; }));
  out +=
      "# HELP xredir_proxy_original_dst_errors_total Failed original-destination queries, by "
      "status.\n";
  out += "# TYPE xredir_proxy_original_dst_errors_total counter\n";
  for (std::size_t i = 1; i < kOdstErrorCount; ++i) {
    line(std::string("xredir_proxy_original_dst_errors_total{status=\"") +
             odstErrorLabel(static_cast<OdstError>(i)) + "\"}",
         sum([i](const WorkerCounters& w) -> const Counter& { return w.odst_errors[i]; }));
  }
  return out;
}

MetricsServer::~MetricsServer() {
  stop();
}

bool MetricsServer::start(const Endpoint& at, const MetricsRegistry& registry, std::string* error) {
  fd_ = openListener(at, /*reuse_port=*/false, error);
  if (fd_ < 0) {
    *error = "--metrics: " + *error;
    return false;
  }
  std::optional<Endpoint> bound = localEndpoint(fd_);
  port_ = bound ? bound->port : at.port;
  thread_ = std::thread([this, &registry] { serve(registry); });
  return true;
}

void MetricsServer::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void MetricsServer::serve(const MetricsRegistry& registry) {
  // Polls with a short timeout so that stop() needs no signal or second fd to wake the thread.
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    std::string request;
    char buf[2048];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
      const ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    std::string response;
    if (request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0) {
      const std::string body = registry.render();
      response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    } else {
      const std::string body = "not found\n";
      response = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    }
    std::size_t sent = 0;
    while (sent < response.size()) {
      const ssize_t n = send(c, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    close(c);
  }
}

}  // namespace xredir::proxy
