// odst_server.h owns the original-destination API server: a Unix stream socket served by
// Boost.Asio on its own I/O threads, speaking the protocol of include/xredir/odst.h.
//
// Per connection: SO_PEERCRED is checked once at accept against the AccessPolicy; a refused peer
// gets one XREDIR_ODST_PERMISSION_DENIED response and is closed, a peer arriving at the
// connection cap gets XREDIR_ODST_BUSY and is closed, both counted. An admitted connection owns
// two fixed buffers (kPipelineDepth requests in, as many responses out) and has at most one
// operation in flight: read, answer every complete request, write the answers, read again. A
// client that stops reading therefore stops being read (its socket buffer fills, not our memory),
// a client that vanishes mid-request is closed at EOF, and neither holds up anybody else because
// nothing blocks. Memory is bounded by max_connections times a connection's fixed size.
//
// Shared view: when ServerOptions::view is set, a map-view request (protocol version 2) from an
// admitted peer is answered with the view's layout and size, and the view's read-only
// descriptor is sent with the answer (SCM_RIGHTS) before the connection is closed. Without it
// the answer says that no view is offered.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "odst/access_policy.h"
#include "odst/original_dst_source.h"
#include "odst/request_handler.h"
#include "odst/server_counters.h"
#include "xredir/os_status.h"
#include "xredir/odst.h"

namespace xredir::odst {

// kPipelineDepth is how many requests one read may carry and so how many answers one write
// carries: 16 keeps a connection under 1.5 KiB of buffers, so 16384 connections stay < 25 MiB.
inline constexpr std::size_t kPipelineDepth = 16;

// ViewDescriptor is the shared view a server hands out: a descriptor that the caller owns and
// keeps open while the server runs, and what the answer says of it.
struct ViewDescriptor {
  int fd = -1;
  ViewOffer offer;
};

struct ServerOptions {
  std::string socket_path = XREDIR_ODST_DEFAULT_SOCKET;
  AccessPolicy access;
  // socket_group, when set, becomes the group of the socket file, so that members of that group
  // can connect() through the 0660 mode; the AccessPolicy then decides who may ask.
  std::optional<gid_t> socket_group;
  std::size_t max_connections = 16384;
  unsigned threads = 1;                // I/O threads running the io_context
  std::optional<ViewDescriptor> view;  // the shared view to hand out, if any
};

class OdstServer {
 public:
  // OdstServer keeps a reference to source, which must outlive the server.
  OdstServer(ServerOptions options, OriginalDstSource& source);
  ~OdstServer();
  OdstServer(const OdstServer&) = delete;
  OdstServer& operator=(const OdstServer&) = delete;

  // start creates the socket's directory (mode 0755 for directories it creates), removes a stale
  // socket left by a dead server (but refuses when a server answers there, or the path is not a
  // socket), binds, sets mode 0660 (and the group), listens and starts the I/O threads.
  Status start();
  // stop closes the listener and every connection, joins the I/O threads and unlinks the socket
  // path. Idempotent; the destructor calls it.
  void stop();
  // counters returns the current counters.
  CountersSnapshot counters() const;
  const std::string& socketPath() const { return options_.socket_path; }

 private:
  struct Impl;
  ServerOptions options_;
  OriginalDstSource& source_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xredir::odst
