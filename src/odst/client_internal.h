/* client_internal.h owns the pieces of the client library that the LD_PRELOAD shim needs beyond
 * the public xredir_original_dst(): building a request from a socket with a chosen view of its
 * family, and one request/response exchange with the server. Not installed, not exported. */
#ifndef XREDIR_ODST_CLIENT_INTERNAL_H
#define XREDIR_ODST_CLIENT_INTERNAL_H

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

/* xredir_odst_exchange sends req to the server over the process's persistent connections and
 * reads the answer. Returns 0 with *resp filled (any status), or -ECONNREFUSED (no server),
 * -ETIMEDOUT, -EPROTO (unreadable answer) or another -errno of the transport. */
int xredir_odst_exchange(const struct xredir_odst_request* req, struct xredir_odst_response* resp);

#ifdef __cplusplus
}
#endif

#endif /* XREDIR_ODST_CLIENT_INTERNAL_H */
