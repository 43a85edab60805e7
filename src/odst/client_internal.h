/* client_internal.h owns the pieces of the client library that the LD_PRELOAD shim needs beyond
 * the public xredir_original_dst(): building a request from a socket with a chosen view of its
 * family, and one question answered from the shared view or by the server; and the seams
 * between the library's own files (client.c, client_view.c) and its tests. Not installed, not
 * exported. */
#ifndef XREDIR_ODST_CLIENT_INTERNAL_H
#define XREDIR_ODST_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "xredir/odst.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a socket's addresses become a request's family. */
enum xredir_odst_view {
  XREDIR_ODST_VIEW_AUTO = 0, /* the socket's family; IPv4-mapped IPv6 asked as IPv4 */
  XREDIR_ODST_VIEW_V4 = 4,   /* IPv4 only: an AF_INET6 socket must carry mapped addresses */
  XREDIR_ODST_VIEW_V6 = 6    /* IPv6 as is (mapped addresses stay mapped), as the kernel's
                                IP6T_SO_ORIGINAL_DST looks them up */
};

/* xredir_odst_request_for_socket fills req from fd's local (proxy) and peer (client) addresses
 * and SO_PROTOCOL. Returns 0, -ENOENT when the view cannot express the socket's addresses (an
 * IPv6 connection asked as IPv4: no IPv4 entry can exist, as with the kernel), -EAFNOSUPPORT for
 * a non-IP socket, or -errno of getsockname/getpeername/getsockopt. When local is not NULL it
 * receives the socket's local address (used for "tracked but not translated"). */
int xredir_odst_request_for_socket(int fd,
                                   enum xredir_odst_view view,
                                   struct xredir_odst_request* req,
                                   struct sockaddr_storage* local);

/* xredir_odst_exchange answers req from the process's shared view when the view holds the
 * connection, and otherwise sends it to the server over the process's persistent connections
 * and reads the answer. Returns 0 with *resp filled (any status), or -ECONNREFUSED (no server),
 * -ETIMEDOUT, -EPROTO (unreadable answer) or another -errno of the transport. */
int xredir_odst_exchange(const struct xredir_odst_request* req, struct xredir_odst_response* resp);

/* xredir_odst_connect opens a connection to the server (XREDIR_ODST_SOCKET or the default path)
 * with a send and receive timeout of 2 s. Returns the fd or -errno; a missing socket file and a
 * socket nobody listens on are both -ECONNREFUSED, so that ENOENT keeps meaning "not tracked". */
int xredir_odst_connect(void);

/* xredir_odst_send_all writes len bytes. Returns 0, -ETIMEDOUT, -EPIPE or another -errno. */
int xredir_odst_send_all(int fd, const uint8_t* buf, size_t len);

/* xredir_odst_view_answer answers req from the process's shared view (client_view.c), mapping
 * the view first if none is mapped and a fetch is due. Returns 1 with *resp an OK response, or 0
 * when the view cannot answer (no view, not in it, a slot that kept changing, a retired view):
 * the server must be asked. */
int xredir_odst_view_answer(const struct xredir_odst_request* req,
                            struct xredir_odst_response* resp);

/* xredir_odst_view_answer_mapped is xredir_odst_view_answer without the fetch: it answers only
 * from a view already mapped, and makes no system call on a hit (xredir_original_dst_from_view). */
int xredir_odst_view_answer_mapped(const struct xredir_odst_request* req,
                                   struct xredir_odst_response* resp);

/* xredir_odst_forget_view drops the mapped view (as when its owner retires) and lets the next
 * question fetch one at once, even within the retry interval of a failed fetch. For tests and
 * benchmarks that start servers one after another in one process. */
void xredir_odst_forget_view(void);

/* xredir_odst_view_mapped reports whether the process has a shared view mapped now. */
int xredir_odst_view_mapped(void);

#ifdef __cplusplus
}
#endif

#endif /* XREDIR_ODST_CLIENT_INTERNAL_H */
