/*
 * odst.h owns the original-destination API as seen from outside xredir: the C ABI of the client
 * library (libxredir-odst, pkg-config name `xredir-odst`) and the versioned binary protocol that
 * the client speaks to xredir's server over a Unix stream socket. A proxy that accepted a
 * connection redirected by xredir calls xredir_original_dst() where, behind the kernel's iptables,
 * it would have called getsockopt(SOL_IP, SO_ORIGINAL_DST). Unmodified proxies get the same answer
 * through the LD_PRELOAD shim (proxy/odst_shim.c), which is built on this library.
 *
 * Protocol, version 1 (XREDIR_ODST_VERSION). The client connects to the server's socket
 * (default XREDIR_ODST_DEFAULT_SOCKET, overridden by the environment variable XREDIR_ODST_SOCKET)
 * and writes fixed-size requests; the server writes one fixed-size response per request, in
 * request order. A client may pipeline any number of requests on one connection. Multi-byte
 * integers are big-endian (network order); addresses are in network order; an IPv4 address uses
 * the first 4 of its 16 bytes and the other 12 are zero. Reserved bytes are zero.
 *
 *   request, 48 bytes                          response, 32 bytes
 *   off size field                             off size field
 *     0   4  magic 0x58524F51 ("XROQ")           0   4  magic 0x58524F52 ("XROR")
 *     4   1  version (1)                         4   1  version (always the server's: 1)
 *     5   1  family (4 = IPv4, 6 = IPv6)         5   1  status (enum xredir_odst_status)
 *     6   1  protocol (IPPROTO_TCP, ...)         6   1  family (4/6 when status is OK, else 0)
 *     7   1  reserved                            7   1  reserved
 *     8  16  client (peer) address               8  16  original destination address
 *    24   2  client port                        24   2  original destination port
 *    26   2  reserved                           26   6  reserved
 *    28  16  proxy (local) address
 *    44   2  proxy port
 *    46   2  reserved
 *
 * The server reads the magic and version first. A wrong magic, a family other than 4/6, or a
 * non-zero reserved byte is answered with XREDIR_ODST_MALFORMED; a version other than 1 (or 2,
 * below) with XREDIR_ODST_UNSUPPORTED_VERSION. After either answer the server closes the
 * connection, because it can no longer trust the framing of what follows. A peer that the access
 * policy refuses (SO_PEERCRED: uid/gid not allowed) and a peer arriving while the server is at its
 * connection cap receive exactly one response, XREDIR_ODST_PERMISSION_DENIED resp.
 * XREDIR_ODST_BUSY, written as soon as they connect, and then the connection is closed; clients
 * read it as the answer to their first request. The access policy allows root (uid 0) always, then
 * the configured uids and gids (primary or supplementary group); the socket file has mode 0660 and
 * the configured group.
 *
 * Protocol, version 2 (XREDIR_ODST_VERSION_MAP_VIEW) adds one request to version 1, whose
 * messages are unchanged (lookups are still sent and answered as version 1): "map view", which
 * hands the client the shared original-destination view (include/xredir/odst_view.h) so that it
 * can answer lookups in its own thread.
 *
 *   map-view request, 48 bytes                 map-view response, 32 bytes
 *   off size field                             off size field
 *     0   4  magic "XROQ"                        0   4  magic "XROR"
 *     4   1  version (2)                         4   1  version (2)
 *     5   1  kind (1 = map view)                 5   1  status (OK)
 *     6  42  reserved                            6   2  reserved
 *                                                8   4  view layout (XREDIR_ODST_VIEW_LAYOUT;
 *                                                       0 = the server offers no view)
 *                                               12   8  view size in bytes (0 = no view)
 *                                               20  12  reserved
 *
 * With a view, exactly one file descriptor travels with the response (SCM_RIGHTS, on its first
 * byte): the view, open read-only and sealed. Only peers that the access policy admits ever
 * reach the request, so a refused peer gets the usual PERMISSION_DENIED (version 1) at connect
 * and no descriptor. A version 2 frame with another kind or non-zero reserved bytes is answered
 * MALFORMED (version 2). After answering a version 2 frame the server closes the connection, so
 * that a descriptor never rides along with the answers of later lookups; clients ask for the
 * view on a connection of its own. A version 1 server answers the request
 * UNSUPPORTED_VERSION: it offers no view.
 */
#ifndef XREDIR_ODST_H
#define XREDIR_ODST_H

#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XREDIR_ODST_API __attribute__((visibility("default")))

#define XREDIR_ODST_DEFAULT_SOCKET "/run/xredir/odst.sock"
#define XREDIR_ODST_SOCKET_ENV "XREDIR_ODST_SOCKET"
#define XREDIR_ODST_REQUEST_MAGIC 0x58524F51u  /* "XROQ" */
#define XREDIR_ODST_RESPONSE_MAGIC 0x58524F52u /* "XROR" */
#define XREDIR_ODST_VERSION 1
#define XREDIR_ODST_VERSION_MAP_VIEW 2
#define XREDIR_ODST_KIND_MAP_VIEW 1
#define XREDIR_ODST_REQUEST_SIZE 48
#define XREDIR_ODST_RESPONSE_SIZE 32
#define XREDIR_ODST_FAMILY_V4 4
#define XREDIR_ODST_FAMILY_V6 6

/* xredir_odst_status is the status byte of a response. Zero is not a status, so that a zeroed
 * response never reads as success. */
enum xredir_odst_status {
  XREDIR_ODST_INVALID = 0,
  XREDIR_ODST_OK = 1,                  /* original destination follows */
  XREDIR_ODST_NOT_TRACKED = 2,         /* xredir tracks no such connection */
  XREDIR_ODST_NOT_TRANSLATED = 3,      /* tracked, but its destination was not rewritten */
  XREDIR_ODST_PERMISSION_DENIED = 4,   /* the peer's uid/gid is not allowed to ask */
  XREDIR_ODST_MALFORMED = 5,           /* bad magic, family or reserved bytes */
  XREDIR_ODST_UNSUPPORTED_VERSION = 6, /* the request's version is not spoken by the server */
  XREDIR_ODST_BUSY = 7                 /* the server is at its connection cap */
};

/* xredir_odst_request is a decoded request. Ports are in host byte order. */
struct xredir_odst_request {
  uint8_t version;
  uint8_t family;
  uint8_t protocol;
  uint8_t client_addr[16];
  uint16_t client_port;
  uint8_t proxy_addr[16];
  uint16_t proxy_port;
};

/* xredir_odst_response is a decoded response. The port is in host byte order. */
struct xredir_odst_response {
  uint8_t version;
  uint8_t status; /* enum xredir_odst_status */
  uint8_t family;
  uint8_t addr[16];
  uint16_t port;
};

/* xredir_odst_encode_request writes req as XREDIR_ODST_REQUEST_SIZE bytes, with the magic and
 * req->version as given (so tests can send other versions). IPv4 addresses have their bytes
 * 4..15 written as zero whatever req holds. */
XREDIR_ODST_API void xredir_odst_encode_request(const struct xredir_odst_request* req,
                                                uint8_t out[XREDIR_ODST_REQUEST_SIZE]);

/* xredir_odst_decode_request parses XREDIR_ODST_REQUEST_SIZE bytes. Returns XREDIR_ODST_OK and
 * fills *req, or XREDIR_ODST_MALFORMED / XREDIR_ODST_UNSUPPORTED_VERSION (checked in that order:
 * the magic first, then the version, then the version's fields) and leaves *req unspecified. */
XREDIR_ODST_API enum xredir_odst_status xredir_odst_decode_request(
    const uint8_t in[XREDIR_ODST_REQUEST_SIZE], struct xredir_odst_request* req);

/* xredir_odst_encode_response writes resp as XREDIR_ODST_RESPONSE_SIZE bytes. When the status is
 * not OK, family, address and port are written as zero. */
XREDIR_ODST_API void xredir_odst_encode_response(const struct xredir_odst_response* resp,
                                                 uint8_t out[XREDIR_ODST_RESPONSE_SIZE]);

/* xredir_odst_decode_response parses XREDIR_ODST_RESPONSE_SIZE bytes. Returns 0 and fills *resp,
 * or -1 when the magic is wrong, the status is not a known value, or an OK response carries a
 * family other than 4/6. */
XREDIR_ODST_API int xredir_odst_decode_response(const uint8_t in[XREDIR_ODST_RESPONSE_SIZE],
                                                struct xredir_odst_response* resp);

/* xredir_odst_view_response is a decoded map-view response (version 2). */
struct xredir_odst_view_response {
  uint8_t version;
  uint8_t status;  /* enum xredir_odst_status */
  uint32_t layout; /* XREDIR_ODST_VIEW_LAYOUT, 0 when no view is offered */
  uint64_t bytes;  /* the view's size, 0 when no view is offered */
};

/* xredir_odst_encode_view_request writes the map-view request. */
XREDIR_ODST_API void xredir_odst_encode_view_request(uint8_t out[XREDIR_ODST_REQUEST_SIZE]);

/* xredir_odst_decode_view_request checks a version 2 frame. Returns XREDIR_ODST_OK for a
 * map-view request, XREDIR_ODST_MALFORMED for a wrong magic, another kind or non-zero reserved
 * bytes, XREDIR_ODST_UNSUPPORTED_VERSION when the version is not 2. */
XREDIR_ODST_API enum xredir_odst_status xredir_odst_decode_view_request(
    const uint8_t in[XREDIR_ODST_REQUEST_SIZE]);

/* xredir_odst_encode_view_response writes resp; layout and size only when the status is OK. */
XREDIR_ODST_API void xredir_odst_encode_view_response(const struct xredir_odst_view_response* resp,
                                                      uint8_t out[XREDIR_ODST_RESPONSE_SIZE]);

/* xredir_odst_decode_view_response parses the answer to a map-view request, which may also be
 * a version 1 refusal (PERMISSION_DENIED, BUSY) or a version 1 server's UNSUPPORTED_VERSION.
 * Returns 0 and fills *resp, or -1 when the magic is wrong, the status is not a known value, or
 * an OK answer is not version 2 or names a size without a layout (or the reverse). */
XREDIR_ODST_API int xredir_odst_decode_view_response(const uint8_t in[XREDIR_ODST_RESPONSE_SIZE],
                                                     struct xredir_odst_view_response* resp);

/* xredir_original_dst asks xredir for the original destination of the connection accepted_fd
 * (an accepted or connected TCP/UDP/SCTP socket; the protocol comes from SO_PROTOCOL). It reads
 * the socket's own address (the proxy side) and its peer (the client side), asks the server over
 * a persistent connection shared by the process (thread-safe; reconnects once when the
 * connection broke; re-created in a forked child), and on success writes the original
 * destination to *out as a struct sockaddr_in or sockaddr_in6, sets *len to its size and
 * returns 0.
 *
 * Shared view: the first call maps the server's shared view (include/xredir/odst_view.h) once
 * for the whole process (thread-safe; one thread fetches it while the others ask over the
 * socket). A connection found in the view is answered there, in the caller's thread, with no
 * round trip to the server; any other question (not in the view, a view whose owner died or
 * that fails validation, a server without a view) is asked over the socket as above. A failed
 * fetch is retried after a few seconds; a view whose xredir exited is dropped and a new one is
 * fetched at once.
 *
 * IPv4-mapped IPv6: when accepted_fd is AF_INET6 and both of its addresses are ::ffff:a.b.c.d
 * (an IPv4 client on a dual-stack socket), the question is asked as IPv4 and the answer is a
 * struct sockaddr_in, as ztunnel does with the kernel's answers.
 *
 * On failure returns -1 and sets errno:
 *   ENOENT        xredir tracks no such connection (what the kernel answers without an entry)
 *   EADDRNOTAVAIL the connection is tracked but was not translated: it was addressed to the
 *                 proxy itself, so its original destination is the socket's local address
 *   EACCES        the server refused this process's uid/gid
 *   EAGAIN        the server is at its connection cap
 *   EPROTO        the server answered malformed / unsupported version, or sent garbage
 *   ECONNREFUSED  no server: the socket path is missing or nobody listens on it
 *   ETIMEDOUT     the server did not answer within 2 seconds
 *   EINVAL        *len is shorter than the sockaddr of the answer, or out/len is NULL
 *   EAFNOSUPPORT  accepted_fd is not an AF_INET/AF_INET6 socket
 *   any errno of getsockname/getpeername/getsockopt on accepted_fd (EBADF, ENOTSOCK, ENOTCONN)
 */
XREDIR_ODST_API int xredir_original_dst(int accepted_fd,
                                        struct sockaddr_storage* out,
                                        socklen_t* len);

/* xredir_original_dst_of answers the same question for a connection the caller describes
 * instead of a socket: protocol (IPPROTO_TCP, IPPROTO_UDP, ...), local = the accepted socket's
 * own address (the proxy side), peer = its peer (the client side), each a struct sockaddr_in or
 * sockaddr_in6 of the given length (IPv4-mapped IPv6 pairs are asked as IPv4). A proxy that
 * already knows both addresses (accept4 returns the peer; a listener bound to one address knows
 * the local one) saves the three system calls xredir_original_dst makes, and a view hit then
 * makes none at all. Results and errno as xredir_original_dst; EINVAL also for a length too short
 * for its family or for two different families. */
XREDIR_ODST_API int xredir_original_dst_of(int protocol,
                                           const struct sockaddr* local,
                                           socklen_t local_len,
                                           const struct sockaddr* peer,
                                           socklen_t peer_len,
                                           struct sockaddr_storage* out,
                                           socklen_t* len);

/* xredir_original_dst_from_view is xredir_original_dst_of answered from the process's shared view
 * only, for event loops that must never wait (an io_uring or epoll proxy's loop thread): it never
 * blocks, and a hit makes no system call. Returns 0 with *out and *len as xredir_original_dst_of
 * when the view holds the connection; otherwise -1 with errno EWOULDBLOCK (no view mapped yet, the
 * connection not in the view, a slot that kept changing under the read, a view whose xredir
 * exited): ask the server then, asynchronously with the protocol above or from a thread that may
 * block. The view holds translated connections only, so ENOENT and EADDRNOTAVAIL come from the
 * server, never from here. EINVAL and EAFNOSUPPORT as xredir_original_dst_of. The view is mapped
 * by xredir_odst_view_refresh or by any call of xredir_original_dst or xredir_original_dst_of. */
XREDIR_ODST_API int xredir_original_dst_from_view(int protocol,
                                                  const struct sockaddr* local,
                                                  socklen_t local_len,
                                                  const struct sockaddr* peer,
                                                  socklen_t peer_len,
                                                  struct sockaddr_storage* out,
                                                  socklen_t* len);

/* xredir_odst_view_refresh maps the server's shared view when none is mapped (at first, and after
 * the xredir that owned the mapped one exited), blocking for one round trip (at most the 2 s
 * timeout); with a view mapped it returns at once. Returns 1 when a view is mapped on return and 0
 * when none is (no server, a server that offers none or refuses this process, another thread
 * fetching right now). Unlike the other calls, which after a failed fetch leave the view alone
 * for a few seconds, it always tries: the caller paces it. For a thread of an event-loop proxy
 * that may block: call it at start and then every second or so. */
XREDIR_ODST_API int xredir_odst_view_refresh(void);

#ifdef __cplusplus
}
#endif

#endif /* XREDIR_ODST_H */
