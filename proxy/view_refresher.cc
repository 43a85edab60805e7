// view_refresher.cc: see view_refresher.h.
#include "view_refresher.h"

#include <chrono>
#include <cstdlib>

#include "xredir/odst.h"

namespace xredir::proxy {

bool ViewRefresher::start(const std::string& socket_path) {
  // The library finds the server through the environment; the view must come from the same
  // server the workers' socket clients ask. Set before the thread starts, read only by it and
  // by the library's fetches.
  ::setenv(XREDIR_ODST_SOCKET_ENV, socket_path.c_str(), 1);
  const bool mapped = xredir_odst_view_refresh() == 1;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(kIntervalMs),
                           [this] { return stopping_; })) {
      lock.unlock();
      (void)xredir_odst_view_refresh();
      lock.lock();
    }
  });
  return mapped;
}

void ViewRefresher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace xredir::proxy
