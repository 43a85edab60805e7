// view_refresher.h owns the one place where the proxy may wait for xredir's shared view: a thread
// of its own that maps the view at start and again whenever it is gone (xredir restarted), so
// that the workers' rings only ever read an already mapped view (original_dst_view.h).
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace xredir::proxy {

class ViewRefresher {
 public:
  // kIntervalMs: how often the thread checks that a view is mapped (a check with one mapped is a
  // load; the library retries a failed fetch only every few seconds on its own).
  static constexpr int kIntervalMs = 1000;

  ViewRefresher() = default;
  ~ViewRefresher() { stop(); }
  ViewRefresher(const ViewRefresher&) = delete;
  ViewRefresher& operator=(const ViewRefresher&) = delete;

  // start points the client library at socket_path ($XREDIR_ODST_SOCKET, which it reads), maps
  // the view once here (so the first connections can use it; at most one 2 s timeout) and
  // starts the thread. Returns whether a view is mapped now; without one, every query goes to
  // the server until the thread maps one.
  bool start(const std::string& socket_path);
  // stop ends the thread (promptly, unless a fetch is in progress: then within its timeout).
  void stop();

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace xredir::proxy
