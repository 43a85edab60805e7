// proxy.h owns the assembly of a running proxy (Proxy): the listeners bound for every worker,
// the worker threads (optionally pinned), the metrics registry and its HTTP responder. main.cc
// wraps it with the command line and signals; the loopback tests run it in-process.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "listener.h"
#include "metrics.h"
#include "view_refresher.h"
#include "worker.h"

namespace xredir::proxy {

class Proxy {
 public:
  explicit Proxy(Config config);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // start binds the listeners (and the metrics address), starts the workers and returns once
  // every worker's ring is set up. Returns false with *error set to one line otherwise (then
  // nothing keeps running).
  bool start(std::string* error);
  // boundListen returns the listen addresses with port 0 resolved.
  const std::vector<Endpoint>& boundListen() const { return listeners_.bound; }
  std::uint16_t metricsPort() const { return metrics_server_.boundPort(); }
  const MetricsRegistry& metrics() const { return metrics_; }
  // requestStop asks every worker to drain (thread-safe; a second call closes everything).
  void requestStop();
  // finished reports that every worker has returned.
  bool finished() const { return finished_.load() == workers_.size(); }
  // wait joins the workers and stops the metrics responder.
  void wait();

 private:
  Config config_;
  MetricsRegistry metrics_;
  MetricsServer metrics_server_;
  ListenerSet listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> finished_{0};
  ViewRefresher view_refresher_;  // runs with --original-dst xredir unless --no-odst-view
};

}  // namespace xredir::proxy
