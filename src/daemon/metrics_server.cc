// metrics_server.cc: the Prometheus text endpoint (see metrics_server.h).
#include "daemon/metrics_server.h"

#include <array>
#include <boost/asio.hpp>
#include <thread>

#include "xredir/ip_addr.h"

namespace xredir {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kMaxRequestBytes = 8192;
constexpr auto kRequestTimeout = std::chrono::seconds(5);

// Session reads one request head and writes one response; it owns itself through the
// shared_ptr captured by its pending operations.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const MetricsServer::Render& render)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), render_(render) {}

  void start() {
    timer_.expires_after(kRequestTimeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->socket_.close();
    });
    asio::async_read_until(socket_, asio::dynamic_buffer(request_, kMaxRequestBytes), "\r\n\r\n",
                           [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                             self->respond(ec);
                           });
  }

 private:
  void respond(boost::system::error_code ec) {
    if (ec) {
      timer_.cancel();
      return;  // closed, timed out or over the size bound: nothing to answer
    }
    std::string body;
    std::string status = "200 OK";
    if (request_.rfind("GET /metrics ", 0) == 0 || request_.rfind("GET /metrics?", 0) == 0) {
      body = render_();
    } else {
      status = "404 Not Found";
      body = "only /metrics is served\n";
    }
    response_ = "HTTP/1.0 " + status +
                "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](boost::system::error_code, std::size_t) {
                        self->timer_.cancel();
                        boost::system::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                      });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const MetricsServer::Render& render_;
  std::string request_;
  std::string response_;
};

}  // namespace

struct MetricsServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  Render render;
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), render)->start();
      accept();
    });
  }
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

unsigned short MetricsServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& listen,
                                                    Render render,
                                                    std::string& error) {
  const auto ep = parseEndpoint(listen);
  if (!ep) {
    error = "bad metrics listen address `" + listen + "` (ADDR:PORT or [ADDR6]:PORT)";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  const auto addr = asio::ip::make_address(formatIpAddr(ep->addr));
  boost::system::error_code ec;
  const tcp::endpoint endpoint(addr, ep->port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "metrics: cannot listen on " + listen + ": " + ec.message();
    return nullptr;
  }
  impl->accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace xredir
