/* client.c is the C client library of the original-destination API (libxredir-odst): it turns an
 * accepted socket into a request, answers it from the shared view when the view holds it
 * (client_view.c), and otherwise asks over a small pool of persistent connections to the server
 * so that concurrent threads rarely wait for each other.
 *
 * Connections: kPoolSize slots, each a mutex and a connected fd (or -1). A thread starts at its
 * own slot (assigned round-robin on first use), takes the first free slot, and waits on its own
 * when all are busy. One request is in flight per connection, so answers cannot be mixed up. A
 * connection that fails is closed and the request is retried once on a new one, but only if the
 * failed one had been used before (a server restart breaks old connections; a fresh one failing
 * means the server is not there). Lock order: only one slot mutex is held at a time, except in
 * the fork handlers, which take all of them in index order.
 *
 * Fork: the child must not share the parent's connections (two processes reading one stream
 * would steal each other's answers), so the child closes its copies and starts afresh. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "odst/client_internal.h"

/* kPoolSize bounds the connections one process opens to the server. */
enum { kPoolSize = 8 };
/* kTimeoutSeconds bounds how long a query waits for the server before failing with ETIMEDOUT:
 * a proxy must not hang its accept path on a stuck daemon. */
enum { kTimeoutSeconds = 2 };

struct Slot {
  pthread_mutex_t mu;
  int fd;
};

static struct Slot g_slots[kPoolSize];
static atomic_uint g_next_slot;
static __thread int t_slot = -1;

static void lockAll(void) {
  for (int i = 0; i < kPoolSize; ++i) pthread_mutex_lock(&g_slots[i].mu);
}

static void unlockAll(void) {
  for (int i = 0; i < kPoolSize; ++i) pthread_mutex_unlock(&g_slots[i].mu);
}

static void closeAllInChild(void) {
  for (int i = 0; i < kPoolSize; ++i) {
    if (g_slots[i].fd >= 0) close(g_slots[i].fd);
    g_slots[i].fd = -1;
    pthread_mutex_init(&g_slots[i].mu, NULL);
  }
}

__attribute__((constructor)) static void initPool(void) {
  for (int i = 0; i < kPoolSize; ++i) {
    pthread_mutex_init(&g_slots[i].mu, NULL);
    g_slots[i].fd = -1;
  }
  pthread_atfork(lockAll, unlockAll, closeAllInChild);
}

static struct Slot* acquireSlot(void) {
  if (t_slot < 0) t_slot = (int)(atomic_fetch_add(&g_next_slot, 1u) % kPoolSize);
  for (int i = 0; i < kPoolSize; ++i) {
    struct Slot* s = &g_slots[(t_slot + i) % kPoolSize];
    if (pthread_mutex_trylock(&s->mu) == 0) return s;
  }
  struct Slot* s = &g_slots[t_slot];
  pthread_mutex_lock(&s->mu);
  return s;
}

static void dropConnection(struct Slot* s) {
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}

int xredir_odst_connect(void) {
  const char* path = getenv(XREDIR_ODST_SOCKET_ENV);
  if (path == NULL || path[0] == '\0') path = XREDIR_ODST_DEFAULT_SOCKET;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(addr.sun_path)) return -ENAMETOOLONG;
  strcpy(addr.sun_path, path);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  const struct timeval tv = {.tv_sec = kTimeoutSeconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, (const struct sockaddr*)&addr, sizeof(addr)) != 0) {
    const int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) return -ECONNREFUSED;
    if (e == EAGAIN || e == EINPROGRESS) return -ETIMEDOUT; /* backlog full past the timeout */
    return -e;
  }
  return fd;
}

/* readResponse reads one whole response. Returns 0, -EPIPE on EOF, -ETIMEDOUT, or -errno. When
 * nonblocking, returns -EAGAIN if nothing is queued. */
static int readResponse(int fd, uint8_t buf[XREDIR_ODST_RESPONSE_SIZE], int nonblocking) {
  size_t got = 0;
  while (got < XREDIR_ODST_RESPONSE_SIZE) {
    const ssize_t n = recv(fd, buf + got, XREDIR_ODST_RESPONSE_SIZE - got,
                           nonblocking && got == 0 ? MSG_DONTWAIT : 0);
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    if (n == 0) return -EPIPE;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return nonblocking && got == 0 ? -EAGAIN : -ETIMEDOUT;
    return -errno;
  }
  return 0;
}

int xredir_odst_send_all(int fd, const uint8_t* buf, size_t len) {
  size_t sent = 0;
  while (sent < len) {
    const ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -ETIMEDOUT;
    return n < 0 ? -errno : -EPIPE;
  }
  return 0;
}

static int decodeInto(const uint8_t buf[XREDIR_ODST_RESPONSE_SIZE],
                      struct xredir_odst_response* resp) {
  return xredir_odst_decode_response(buf, resp) == 0 ? 0 : -EPROTO;
}

/* isFinal reports statuses after which the server closes the connection. */
static int isFinal(uint8_t status) {
  return status == XREDIR_ODST_PERMISSION_DENIED || status == XREDIR_ODST_BUSY ||
         status == XREDIR_ODST_MALFORMED || status == XREDIR_ODST_UNSUPPORTED_VERSION;
}

static int exchangeOnSlot(struct Slot* s,
                          const uint8_t req[XREDIR_ODST_REQUEST_SIZE],
                          struct xredir_odst_response* resp) {
  uint8_t buf[XREDIR_ODST_RESPONSE_SIZE];
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int reused = s->fd >= 0;
    if (!reused) {
      const int fd = xredir_odst_connect();
      if (fd < 0) return fd;
      s->fd = fd;
    }
    int rc = xredir_odst_send_all(s->fd, req, XREDIR_ODST_REQUEST_SIZE);
    if (rc != 0) {
      /* A refused peer is closed right after the server's one answer, possibly before our
       * request arrived: that answer is still queued for us. */
      if (readResponse(s->fd, buf, 1) == 0) {
        dropConnection(s);
        return decodeInto(buf, resp);
      }
      dropConnection(s);
      if (reused && rc != -ETIMEDOUT) continue;
      return rc;
    }
    rc = readResponse(s->fd, buf, 0);
    if (rc != 0) {
      dropConnection(s); /* a late answer would be read as the next request's */
      if (reused && rc != -ETIMEDOUT) continue;
      return rc == -EPIPE ? -ECONNRESET : rc;
    }
    rc = decodeInto(buf, resp);
    if (rc != 0 || isFinal(resp->status)) dropConnection(s);
    return rc;
  }
  return -ECONNRESET;
}

int xredir_odst_exchange(const struct xredir_odst_request* req, struct xredir_odst_response* resp) {
  if (xredir_odst_view_answer(req, resp)) return 0;
  uint8_t buf[XREDIR_ODST_REQUEST_SIZE];
  xredir_odst_encode_request(req, buf);
  struct Slot* s = acquireSlot();
  const int rc = exchangeOnSlot(s, buf, resp);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static int isMapped(const struct in6_addr* a) {
  return IN6_IS_ADDR_V4MAPPED(a);
}

/* requestFromAddrs fills req from a connection's local (proxy) and peer (client) addresses, both
 * AF_INET or both AF_INET6 (checked by the callers). Returns 0 or -ENOENT (see
 * xredir_odst_request_for_socket). */
static int requestFromAddrs(int protocol,
                            const struct sockaddr_storage* local,
                            const struct sockaddr_storage* peer,
                            enum xredir_odst_view view,
                            struct xredir_odst_request* req) {
  memset(req, 0, sizeof(*req));
  req->version = XREDIR_ODST_VERSION;
  req->protocol = (uint8_t)protocol;
  if (local->ss_family == AF_INET) {
    if (view == XREDIR_ODST_VIEW_V6) return -EAFNOSUPPORT;
    const struct sockaddr_in* l4 = (const struct sockaddr_in*)local;
    const struct sockaddr_in* p4 = (const struct sockaddr_in*)peer;
    req->family = XREDIR_ODST_FAMILY_V4;
    memcpy(req->proxy_addr, &l4->sin_addr, 4);
    req->proxy_port = ntohs(l4->sin_port);
    memcpy(req->client_addr, &p4->sin_addr, 4);
    req->client_port = ntohs(p4->sin_port);
    return 0;
  }
  const struct sockaddr_in6* l6 = (const struct sockaddr_in6*)local;
  const struct sockaddr_in6* p6 = (const struct sockaddr_in6*)peer;
  const int mapped = isMapped(&l6->sin6_addr) && isMapped(&p6->sin6_addr);
  const int as_v4 = view == XREDIR_ODST_VIEW_V4 || (view == XREDIR_ODST_VIEW_AUTO && mapped);
  if (as_v4) {
    if (!mapped) return -ENOENT;
    req->family = XREDIR_ODST_FAMILY_V4;
    memcpy(req->proxy_addr, l6->sin6_addr.s6_addr + 12, 4);
    memcpy(req->client_addr, p6->sin6_addr.s6_addr + 12, 4);
  } else {
    req->family = XREDIR_ODST_FAMILY_V6;
    memcpy(req->proxy_addr, l6->sin6_addr.s6_addr, 16);
    memcpy(req->client_addr, p6->sin6_addr.s6_addr, 16);
  }
  req->proxy_port = ntohs(l6->sin6_port);
  req->client_port = ntohs(p6->sin6_port);
  return 0;
}

int xredir_odst_request_for_socket(int fd,
                                   enum xredir_odst_view view,
                                   struct xredir_odst_request* req,
                                   struct sockaddr_storage* local_out) {
  struct sockaddr_storage local, peer;
  socklen_t llen = sizeof(local), plen = sizeof(peer);
  if (getsockname(fd, (struct sockaddr*)&local, &llen) != 0) return -errno;
  if (local.ss_family != AF_INET && local.ss_family != AF_INET6) return -EAFNOSUPPORT;
  if (getpeername(fd, (struct sockaddr*)&peer, &plen) != 0) return -errno;
  int protocol = 0;
  socklen_t olen = sizeof(protocol);
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &olen) != 0) return -errno;
  const int rc = requestFromAddrs(protocol, &local, &peer, view, req);
  if (rc != 0) return rc;
  if (local_out != NULL) *local_out = local;
  return 0;
}

/* putSockaddr hands the caller's buffer (*len bytes of *out) the address sa of sa_len bytes: the
 * rest of the buffer is zeroed and *len becomes sa_len. Returns 0, or -1 with errno EINVAL when
 * the buffer is too small. */
static int putSockaddr(const void* sa,
                       socklen_t sa_len,
                       struct sockaddr_storage* out,
                       socklen_t* len) {
  if (*len < sa_len) {
    errno = EINVAL;
    return -1;
  }
  memset(out, 0, *len < sizeof(*out) ? *len : sizeof(*out));
  memcpy(out, sa, sa_len);
  *len = sa_len;
  return 0;
}

/* answer turns the outcome of a question into xredir_original_dst's result. */
static int answer(int rc,
                  const struct xredir_odst_response* resp,
                  struct sockaddr_storage* out,
                  socklen_t* len) {
  if (rc != 0) {
    errno = -rc;
    return -1;
  }
  switch ((enum xredir_odst_status)resp->status) {
    case XREDIR_ODST_OK:
      break;
    case XREDIR_ODST_NOT_TRACKED:
      errno = ENOENT;
      return -1;
    case XREDIR_ODST_NOT_TRANSLATED:
      errno = EADDRNOTAVAIL;
      return -1;
    case XREDIR_ODST_PERMISSION_DENIED:
      errno = EACCES;
      return -1;
    case XREDIR_ODST_BUSY:
      errno = EAGAIN;
      return -1;
    case XREDIR_ODST_MALFORMED:
    case XREDIR_ODST_UNSUPPORTED_VERSION:
    case XREDIR_ODST_INVALID:
      errno = EPROTO;
      return -1;
  }
  if (resp->family == XREDIR_ODST_FAMILY_V4) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(resp->port);
    memcpy(&sin.sin_addr, resp->addr, 4);
    return putSockaddr(&sin, sizeof(sin), out, len);
  }
  struct sockaddr_in6 sin6;
  memset(&sin6, 0, sizeof(sin6));
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(resp->port);
  memcpy(&sin6.sin6_addr, resp->addr, 16);
  return putSockaddr(&sin6, sizeof(sin6), out, len);
}

int xredir_original_dst(int accepted_fd, struct sockaddr_storage* out, socklen_t* len) {
  if (out == NULL || len == NULL) {
    errno = EINVAL;
    return -1;
  }
  struct xredir_odst_request req;
  struct xredir_odst_response resp;
  int rc = xredir_odst_request_for_socket(accepted_fd, XREDIR_ODST_VIEW_AUTO, &req, NULL);
  if (rc == 0) rc = xredir_odst_exchange(&req, &resp);
  return answer(rc, &resp, out, len);
}

/* copyAddr copies a caller's sockaddr of `len` bytes into *ss. Returns 0, -EAFNOSUPPORT for a
 * family other than AF_INET/AF_INET6, or -EINVAL for a length too short for its family. */
static int copyAddr(const struct sockaddr* sa, socklen_t len, struct sockaddr_storage* ss) {
  if (sa == NULL || len < (socklen_t)sizeof(sa_family_t)) return -EINVAL;
  size_t need = 0;
  if (sa->sa_family == AF_INET) {
    need = sizeof(struct sockaddr_in);
  } else if (sa->sa_family == AF_INET6) {
    need = sizeof(struct sockaddr_in6);
  } else {
    return -EAFNOSUPPORT;
  }
  if ((size_t)len < need) return -EINVAL;
  memset(ss, 0, sizeof(*ss));
  memcpy(ss, sa, need);
  return 0;
}

/* requestOf checks the arguments of xredir_original_dst_of and its view-only twin and builds
 * their request. Returns 0 or -errno. */
static int requestOf(int protocol,
                     const struct sockaddr* local,
                     socklen_t local_len,
                     const struct sockaddr* peer,
                     socklen_t peer_len,
                     struct xredir_odst_request* req) {
  if (protocol < 0 || protocol > 255) return -EINVAL;
  struct sockaddr_storage l, p;
  int rc = copyAddr(local, local_len, &l);
  if (rc == 0) rc = copyAddr(peer, peer_len, &p);
  if (rc == 0 && l.ss_family != p.ss_family) rc = -EINVAL;
  if (rc == 0) rc = requestFromAddrs(protocol, &l, &p, XREDIR_ODST_VIEW_AUTO, req);
  return rc;
}

/* askOf is xredir_original_dst_of (view_only 0: the view, else the server) and its view-only
 * twin (view_only 1: the view or EWOULDBLOCK). */
static int askOf(int protocol,
                 const struct sockaddr* local,
                 socklen_t local_len,
                 const struct sockaddr* peer,
                 socklen_t peer_len,
                 struct sockaddr_storage* out,
                 socklen_t* len,
                 int view_only) {
  if (out == NULL || len == NULL) {
    errno = EINVAL;
    return -1;
  }
  struct xredir_odst_request req;
  struct xredir_odst_response resp;
  int rc = requestOf(protocol, local, local_len, peer, peer_len, &req);
  if (rc == 0 && view_only) {
    if (!xredir_odst_view_answer_mapped(&req, &resp)) rc = -EWOULDBLOCK;
  } else if (rc == 0) {
    rc = xredir_odst_exchange(&req, &resp);
  }
  return answer(rc, &resp, out, len);
}

int xredir_original_dst_of(int protocol,
                           const struct sockaddr* local,
                           socklen_t local_len,
                           const struct sockaddr* peer,
                           socklen_t peer_len,
                           struct sockaddr_storage* out,
                           socklen_t* len) {
  return askOf(protocol, local, local_len, peer, peer_len, out, len, 0);
}

int xredir_original_dst_from_view(int protocol,
                                  const struct sockaddr* local,
                                  socklen_t local_len,
                                  const struct sockaddr* peer,
                                  socklen_t peer_len,
                                  struct sockaddr_storage* out,
                                  socklen_t* len) {
  return askOf(protocol, local, local_len, peer, peer_len, out, len, 1);
}
