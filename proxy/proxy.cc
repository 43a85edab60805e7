// proxy.cc: start-up and shutdown of the workers (see proxy.h).
#include "proxy.h"

#include <pthread.h>
#include <sched.h>

#include <future>
#include <spdlog/spdlog.h>

namespace xredir::proxy {

Proxy::Proxy(Config config) : config_(std::move(config)), metrics_(config_.threads) {}

Proxy::~Proxy() {
  if (!threads_.empty()) {
    requestStop();
    requestStop();
    wait();
  }
}

bool Proxy::start(std::string* error) {
  std::optional<ListenerSet> set = openListeners(config_.listen, config_.threads, error);
  if (!set) {
    *error = "cannot listen on " + *error;
    return false;
  }
  listeners_ = std::move(*set);
  // Before any other thread of ours starts: the refresher sets the environment the library reads.
  if (config_.original_dst == OriginalDstMode::kXredir && config_.odst_view) {
    if (view_refresher_.start(config_.odst_socket)) {
      spdlog::info("original destinations from xredir's shared view, the rest from {}",
                   config_.odst_socket);
    } else {
      spdlog::info("no shared original-destination view from {} yet: asking over the socket",
                   config_.odst_socket);
    }
  }
  if (config_.metrics && !metrics_server_.start(*config_.metrics, metrics_, error)) return false;
  std::vector<std::promise<std::string>> ready(config_.threads);
  for (unsigned i = 0; i < config_.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(config_, listeners_.fds[i], listeners_.bound,
                                                metrics_.worker(i), metrics_.active()));
  }
  for (unsigned i = 0; i < config_.threads; ++i) {
    std::promise<std::string>* promise = &ready[i];
    threads_.emplace_back([this, i, promise] {
      if (!config_.cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(config_.cpus[i % config_.cpus.size()], &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
          spdlog::warn("cannot pin worker {} to CPU {}", i, config_.cpus[i % config_.cpus.size()]);
        }
      }
      std::string err;
      workers_[i]->run(&err, [&](bool ok) { promise->set_value(ok ? std::string() : err); });
      finished_.fetch_add(1);
    });
  }
  std::string first_error;
  for (auto& p : ready) {
    std::string e = p.get_future().get();
    if (!e.empty() && first_error.empty()) first_error = e;
  }
  if (!first_error.empty()) {
    *error = first_error;
    requestStop();
    requestStop();
    wait();
    return false;
  }
  return true;
}

void Proxy::requestStop() {
  for (auto& w : workers_) w->requestStop();
}

void Proxy::wait() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  view_refresher_.stop();
  metrics_server_.stop();
}

}  // namespace xredir::proxy
