#include "odst/odst_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "odst/request_handler.h"

namespace xredir::odst {
namespace asio = boost::asio;
using LocalSocket = asio::local::stream_protocol::socket;

namespace {

// kListenBacklog lets a burst of connects wait for accept instead of being refused by the kernel.
constexpr int kListenBacklog = 4096;
// kAcceptRetry is how long accept pauses when the process is out of descriptors or memory, so
// that a full fd table does not turn the accept loop into a busy loop.
constexpr std::chrono::milliseconds kAcceptRetry{10};

// State shared by the acceptor and every connection; lives as long as the I/O threads.
struct Shared {
  OriginalDstSource& source;
  ServerCounters counters;
  std::atomic<std::size_t> open{0};
  std::optional<ViewDescriptor> view;
  explicit Shared(OriginalDstSource& s) : source(s) {}
};

// sendWithDescriptor writes one response with `fd` attached (SCM_RIGHTS on its first byte).
// The connection wrote everything before it read this request, so the socket's send buffer is
// empty and 32 bytes fit at once; anything else (the peer vanished) just fails. Returns whether
// the whole response went out.
bool sendWithDescriptor(int sock, const std::uint8_t* data, std::size_t len, int fd) {
  union {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int))];
  } control{};
  iovec iov{const_cast<std::uint8_t*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return ::sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(len);
}

// Connection serves one admitted client. State machine: reading -> (answer) -> writing ->
// reading ...; after writing an answer that ends the connection, or on EOF/error, the last
// handler returns without re-arming and dropping the last shared_ptr closes the socket.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(LocalSocket socket, Shared& shared) : socket_(std::move(socket)), shared_(shared) {}
  ~Connection() { shared_.open.fetch_sub(1, std::memory_order_relaxed); }

  void start() { readMore(); }

 private:
  void readMore() {
    socket_.async_read_some(asio::buffer(in_.data() + in_len_, in_.size() - in_len_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        std::size_t n) { self->onRead(ec, n); });
  }

  void onRead(const boost::system::error_code& ec, std::size_t n) {
    if (ec) return;  // EOF (the client went away, maybe mid-request) or a socket error
    in_len_ += n;
    answerBuffered();
  }

  // answerBuffered answers the complete requests in in_, writes the answers and goes on.
  void answerBuffered() {
    const BatchResult r =
        answerRequests(std::span<const std::uint8_t>(in_.data(), in_len_), shared_.source,
                       shared_.counters, out_, shared_.view ? &shared_.view->offer : nullptr);
    std::memmove(in_.data(), in_.data() + r.consumed, in_len_ - r.consumed);
    in_len_ -= r.consumed;
    if (r.produced == 0) {
      readMore();  // only part of a request so far
      return;
    }
    if (r.attach_view) {
      // The answer is alone in out_ (answerRequests sees to it) and ends the connection:
      // returning without re-arming closes the socket.
      if (sendWithDescriptor(socket_.native_handle(), out_.data(), r.produced, shared_.view->fd)) {
        shared_.counters.countViewSent();
      }
      return;
    }
    closing_ = r.close;
    asio::async_write(socket_, asio::buffer(out_.data(), r.produced),
                      [self = shared_from_this()](const boost::system::error_code& wec,
                                                  std::size_t) { self->onWritten(wec); });
  }

  void onWritten(const boost::system::error_code& ec) {
    if (ec || closing_) {
      boost::system::error_code ignored;
      socket_.shutdown(asio::socket_base::shutdown_both, ignored);
      return;
    }
    // in_ holds kPipelineDepth requests and out_ as many answers, so every complete request was
    // answered, except a version 2 frame that followed others (it is answered alone).
    if (in_len_ >= XREDIR_ODST_REQUEST_SIZE) {
      answerBuffered();
      return;
    }
    readMore();
  }

  LocalSocket socket_;
  Shared& shared_;
  std::array<std::uint8_t, kPipelineDepth * XREDIR_ODST_REQUEST_SIZE> in_{};
  std::array<std::uint8_t, kPipelineDepth * XREDIR_ODST_RESPONSE_SIZE> out_{};
  std::size_t in_len_ = 0;
  bool closing_ = false;
};

// sendRefusal writes the one response a refused peer gets. The socket is fresh, so its buffer
// has room; a peer that already vanished makes the send fail, which changes nothing.
void sendRefusal(int fd, xredir_odst_status status) {
  std::array<std::uint8_t, XREDIR_ODST_RESPONSE_SIZE> buf{};
  encodeRefusal(status, buf);
  [[maybe_unused]] ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

// makeDirectories creates every missing directory of path's parent with mode 0755.
Status makeDirectories(const std::string& path) {
  for (std::size_t pos = path.find('/', 1); pos != std::string::npos;
       pos = path.find('/', pos + 1)) {
    const std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::error(errno, "create directory " + dir);
    }
  }
  return {};
}

// removeStaleSocket clears the way for bind: a socket nobody listens on is left by a dead server
// and is removed; a live one or anything that is not a socket is an error.
Status removeStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status{} : Status::error(errno, "stat " + path);
  }
  if (!S_ISSOCK(st.st_mode)) return Status::error(EEXIST, path + " exists and is not a socket");
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return Status::error(errno, "socket");
  const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(probe);
  if (live) return Status::error(EADDRINUSE, "another server answers on " + path);
  if (::unlink(path.c_str()) != 0) return Status::error(errno, "remove stale socket " + path);
  return {};
}

}  // namespace

struct OdstServer::Impl {
  explicit Impl(OriginalDstSource& source) : shared(source) {}

  void acceptNext() {
    acceptor->async_accept([this](const boost::system::error_code& ec, LocalSocket socket) {
      onAccept(ec, std::move(socket));
    });
  }

  void onAccept(const boost::system::error_code& ec, LocalSocket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      const int e = ec.value();
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        retry_timer->expires_after(kAcceptRetry);
        retry_timer->async_wait([this](const boost::system::error_code& tec) {
          if (!tec) acceptNext();
        });
        return;
      }
      acceptNext();  // ECONNABORTED and friends concern one peer only
      return;
    }
    admit(std::move(socket));
    acceptNext();
  }

  void admit(LocalSocket socket) {
    const int fd = socket.native_handle();
    const std::optional<PeerCredentials> peer = readPeerCredentials(fd);
    if (!peer || !options->access.allows(*peer)) {
      shared.counters.countRefusedPermission();
      sendRefusal(fd, XREDIR_ODST_PERMISSION_DENIED);
      return;  // closing `socket` ends the connection
    }
    if (shared.open.fetch_add(1, std::memory_order_relaxed) >= options->max_connections) {
      shared.open.fetch_sub(1, std::memory_order_relaxed);
      shared.counters.countRefusedBusy();
      sendRefusal(fd, XREDIR_ODST_BUSY);
      return;
    }
    shared.counters.countAccepted();
    // The Connection's destructor gives the slot back.
    std::make_shared<Connection>(std::move(socket), shared)->start();
  }

  const ServerOptions* options = nullptr;
  Shared shared;
  // Destroyed in stop() after the threads are joined; destroying the io_context destroys the
  // pending handlers and with them every Connection.
  std::unique_ptr<asio::io_context> io;
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> retry_timer;
  std::vector<std::thread> threads;
  bool running = false;
};

OdstServer::OdstServer(ServerOptions options, OriginalDstSource& source)
    : options_(std::move(options)), source_(source) {}

OdstServer::~OdstServer() {
  stop();
}

Status OdstServer::start() {
  if (impl_ && impl_->running) return Status::error(EALREADY, "odst server already started");
  const std::string& path = options_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::error(ENAMETOOLONG, "odst socket path '" + path + "'");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (Status s = makeDirectories(path); !s.ok()) return s;
  if (Status s = removeStaleSocket(path, addr); !s.ok()) return s;

  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::error(errno, "socket for " + path);
  auto fail = [&](const std::string& what) {
    const int e = errno;
    ::close(fd);
    return Status::error(e, what + " " + path);
  };
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail("bind");
  }
  if (::chmod(path.c_str(), 0660) != 0) {
    Status s = fail("chmod 0660");
    ::unlink(path.c_str());
    return s;
  }
  if (options_.socket_group &&
      ::chown(path.c_str(), static_cast<uid_t>(-1), *options_.socket_group) != 0) {
    Status s = fail("chown group " + std::to_string(*options_.socket_group));
    ::unlink(path.c_str());
    return s;
  }
  if (::listen(fd, kListenBacklog) != 0) {
    Status s = fail("listen");
    ::unlink(path.c_str());
    return s;
  }

  impl_ = std::make_unique<Impl>(source_);
  impl_->options = &options_;
  impl_->shared.view = options_.view;
  impl_->io = std::make_unique<asio::io_context>(static_cast<int>(options_.threads));
  impl_->acceptor = std::make_unique<asio::local::stream_protocol::acceptor>(*impl_->io);
  impl_->retry_timer = std::make_unique<asio::steady_timer>(*impl_->io);
  boost::system::error_code ec;
  impl_->acceptor->assign(asio::local::stream_protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    ::unlink(path.c_str());
    impl_.reset();
    return Status::error(ec.value(), "assign listener " + path);
  }
  impl_->acceptNext();
  impl_->running = true;
  const unsigned n = options_.threads == 0 ? 1 : options_.threads;
  for (unsigned i = 0; i < n; ++i) {
    impl_->threads.emplace_back([io = impl_->io.get()] { io->run(); });
  }
  return {};
}

void OdstServer::stop() {
  if (!impl_ || !impl_->running) return;
  impl_->io->stop();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->retry_timer.reset();
  impl_->acceptor.reset();
  impl_->io.reset();  // destroys pending handlers, and so every connection
  impl_->running = false;
  ::unlink(options_.socket_path.c_str());
}

CountersSnapshot OdstServer::counters() const {
  if (!impl_) return {};
  return impl_->shared.counters.snapshot(impl_->shared.open.load(std::memory_order_relaxed));
}

}  // namespace xredir::odst
