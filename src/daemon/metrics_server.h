// metrics_server.h owns the Prometheus endpoint: a small HTTP/1.0 server on its own thread
// (Boost.Asio) that answers `GET /metrics` with the text a render function produces. Requests
// are bounded (8 KiB of headers, 5 s to send them) so a hostile client costs nothing lasting.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace xredir {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  // start listens on ADDR:PORT (IPv6 in brackets) and serves until destruction. Returns nullptr
  // and sets error on a bad address or a bind failure.
  static std::unique_ptr<MetricsServer> start(const std::string& listen,
                                              Render render,
                                              std::string& error);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // port is the bound port (useful when the configuration asked for port 0).
  unsigned short port() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xredir
