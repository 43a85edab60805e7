/* odst_shim.c is the LD_PRELOAD shim that lets proxies written for iptables work behind xredir
 * unmodified: it interposes getsockopt() and answers (SOL_IP, SO_ORIGINAL_DST) and
 * (SOL_IPV6, IP6T_SO_ORIGINAL_DST) from xredir's original-destination API, in exactly the format
 * of the kernel's getorigdst()/ipv6_getorigdst() (net/netfilter/nf_conntrack_proto.c). Every other
 * call goes to the next getsockopt (libc) untouched.
 *
 * Kernel behaviour reproduced:
 *  - non-IP sockets, and SOL_IPV6 on an AF_INET socket, are the kernel's business: passed through;
 *  - protocols other than TCP/SCTP: ENOPROTOOPT, checked before the length;
 *  - *optlen shorter than the sockaddr: EINVAL (for IPv6 also a negative int length);
 *  - success writes a struct sockaddr_in (zeroed sin_zero) or sockaddr_in6 (flow info from the
 *    socket's flow label, scope id = the bound device for link-local destinations) and leaves
 *    *optlen as the caller passed it, as the kernel does;
 *  - SOL_IP on an AF_INET6 socket asks with the IPv4 halves of IPv4-mapped addresses (the kernel
 *    uses the socket's IPv4 view); a true IPv6 connection has no IPv4 entry: ENOENT; SOL_IPV6 on
 *    such a socket asks with the mapped IPv6 addresses as they are, which xredir (like the
 *    kernel, whose conntrack holds the connection as IPv4) does not know: ENOENT;
 *  - no entry: ENOENT. "Tracked but not translated" answers the socket's local address, which is
 *    what the kernel returns for a tracked connection without NAT.
 *
 * Policy: xredir is asked first, always. Asking the kernel first would be wrong, because the
 * kernel's conntrack also sees xredir-delivered connections (already rewritten, so un-NATed in its
 * view) and would answer the proxy's own address. When xredir does not know the connection (not
 * tracked) or cannot be asked (no server, busy, protocol error), the kernel's own answer is
 * returned, so that connections redirected by the kernel's iptables on the same host keep
 * working; XREDIR_ODST_KERNEL_FALLBACK=0 turns that off and such calls fail with ENOENT. A refusal
 * by xredir's access policy is never masked: it fails with EACCES so that the misconfiguration
 * shows in the proxy's logs. */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "odst/client_internal.h"

/* From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, both 80. */
#define SHIM_SO_ORIGINAL_DST 80
#define SHIM_IP6T_SO_ORIGINAL_DST 80
/* From linux/in6.h, which clashes with glibc's netinet/in.h. */
#define SHIM_IPV6_FLOWLABEL_MGR 32
#define SHIM_IPV6_FL_A_GET 0
#define SHIM_IPV6_FLOWINFO_MASK 0x0FFFFFFFu
struct ShimFlowlabelReq {
  struct in6_addr flr_dst;
  uint32_t flr_label;
  uint8_t flr_action;
  uint8_t flr_share;
  uint16_t flr_flags;
  uint16_t flr_expires;
  uint16_t flr_linger;
  uint32_t flr_pad;
};
#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

typedef int (*GetsockoptFn)(int, int, int, void*, socklen_t*);

static GetsockoptFn g_real_getsockopt;
static int g_kernel_fallback = 1;

__attribute__((constructor)) static void initShim(void) {
  g_real_getsockopt = (GetsockoptFn)dlsym(RTLD_NEXT, "getsockopt");
  const char* fb = getenv("XREDIR_ODST_KERNEL_FALLBACK");
  g_kernel_fallback = !(fb != NULL && strcmp(fb, "0") == 0);
}

static int realGetsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  /* A getsockopt from another library's constructor can run before ours. */
  GetsockoptFn fn = __atomic_load_n(&g_real_getsockopt, __ATOMIC_ACQUIRE);
  if (fn == NULL) {
    fn = (GetsockoptFn)dlsym(RTLD_NEXT, "getsockopt");
    __atomic_store_n(&g_real_getsockopt, fn, __ATOMIC_RELEASE);
  }
  if (fn == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return fn(fd, level, optname, optval, optlen);
}

static int fail(int err) {
  errno = err;
  return -1;
}

/* needsScopeId mirrors the kernel's __ipv6_addr_needs_scope_id: link-local unicast, and
 * interface- or link-local multicast. */
static int needsScopeId(const struct in6_addr* a) {
  return IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MC_NODELOCAL(a) || IN6_IS_ADDR_MC_LINKLOCAL(a);
}

static void writeV4(void* optval, const uint8_t addr[4], uint16_t port_host) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port_host);
  memcpy(&sin.sin_addr, addr, 4);
  memcpy(optval, &sin, sizeof(sin));
}

static void writeV6(int fd, void* optval, const uint8_t addr[16], uint16_t port_host) {
  struct sockaddr_in6 sin6;
  memset(&sin6, 0, sizeof(sin6));
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port_host);
  memcpy(&sin6.sin6_addr, addr, 16);
  /* The kernel reports the socket's own flow label (inet6->flow_label); IPV6_FLOWLABEL_MGR's
   * IPV6_FL_A_GET reads it and fails with ENOENT when there is none (then it is 0). */
  struct ShimFlowlabelReq freq;
  memset(&freq, 0, sizeof(freq));
  freq.flr_action = SHIM_IPV6_FL_A_GET;
  socklen_t flen = sizeof(freq);
  if (realGetsockopt(fd, SOL_IPV6, SHIM_IPV6_FLOWLABEL_MGR, &freq, &flen) == 0) {
    sin6.sin6_flowinfo = freq.flr_label & htonl(SHIM_IPV6_FLOWINFO_MASK);
  }
  if (needsScopeId(&sin6.sin6_addr)) {
    int ifindex = 0;
    socklen_t ilen = sizeof(ifindex);
    if (realGetsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &ifindex, &ilen) == 0) {
      sin6.sin6_scope_id = (uint32_t)ifindex;
    }
  }
  memcpy(optval, &sin6, sizeof(sin6));
}

/* writeLocal answers "tracked but not translated" with the socket's local address, in the view
 * (IPv4 or IPv6) that was asked. */
static void writeLocal(int fd, int level, void* optval, const struct sockaddr_storage* local) {
  if (local->ss_family == AF_INET) {
    const struct sockaddr_in* l4 = (const struct sockaddr_in*)local;
    writeV4(optval, (const uint8_t*)&l4->sin_addr, ntohs(l4->sin_port));
    return;
  }
  const struct sockaddr_in6* l6 = (const struct sockaddr_in6*)local;
  if (level == SOL_IP) {
    writeV4(optval, l6->sin6_addr.s6_addr + 12, ntohs(l6->sin6_port));
  } else {
    writeV6(fd, optval, l6->sin6_addr.s6_addr, ntohs(l6->sin6_port));
  }
}

static int originalDst(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  int domain = 0;
  socklen_t dlen = sizeof(domain);
  if (realGetsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0) {
    return realGetsockopt(fd, level, optname, optval, optlen); /* EBADF, ENOTSOCK as usual */
  }
  if (domain != AF_INET && domain != AF_INET6) {
    return realGetsockopt(fd, level, optname, optval, optlen);
  }
  if (domain == AF_INET && level == SOL_IPV6) {
    return realGetsockopt(fd, level, optname, optval, optlen);
  }
  int protocol = 0;
  socklen_t plen = sizeof(protocol);
  if (realGetsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &plen) != 0) return -1;
  if (protocol != IPPROTO_TCP && protocol != IPPROTO_SCTP) return fail(ENOPROTOOPT);
  if (optlen == NULL) return fail(EFAULT);
  if (level == SOL_IP) {
    if (*optlen < sizeof(struct sockaddr_in)) return fail(EINVAL);
  } else if ((int)*optlen < 0 || *optlen < sizeof(struct sockaddr_in6)) {
    return fail(EINVAL);
  }
  if (optval == NULL) return fail(EFAULT);

  struct xredir_odst_request req;
  struct sockaddr_storage local;
  const int built = xredir_odst_request_for_socket(
      fd, level == SOL_IP ? XREDIR_ODST_VIEW_V4 : XREDIR_ODST_VIEW_V6, &req, &local);
  if (built != 0) {
    /* Not connected, or an IPv6 connection asked as IPv4: the kernel finds no entry either. */
    return fail(ENOENT);
  }
  struct xredir_odst_response resp;
  const int asked = xredir_odst_exchange(&req, &resp);
  int xredir_knows = asked == 0;
  if (asked == 0) {
    switch ((enum xredir_odst_status)resp.status) {
      case XREDIR_ODST_OK:
        if (level == SOL_IP) {
          if (resp.family != XREDIR_ODST_FAMILY_V4) return fail(ENOENT);
          writeV4(optval, resp.addr, resp.port);
        } else {
          if (resp.family != XREDIR_ODST_FAMILY_V6) return fail(ENOENT);
          writeV6(fd, optval, resp.addr, resp.port);
        }
        return 0;
      case XREDIR_ODST_NOT_TRANSLATED:
        writeLocal(fd, level, optval, &local);
        return 0;
      case XREDIR_ODST_PERMISSION_DENIED:
        return fail(EACCES);
      case XREDIR_ODST_NOT_TRACKED:
      case XREDIR_ODST_BUSY:
      case XREDIR_ODST_MALFORMED:
      case XREDIR_ODST_UNSUPPORTED_VERSION:
      case XREDIR_ODST_INVALID:
        xredir_knows = 0;
        break;
    }
  }
  if (!xredir_knows && g_kernel_fallback) {
    return realGetsockopt(fd, level, optname, optval, optlen);
  }
  return fail(ENOENT);
}

/* getsockopt interposes libc's: the original-destination options are answered by xredir, every
 * other option goes to the next definition unchanged. */
__attribute__((visibility("default"))) int getsockopt(
    int fd, int level, int optname, void* __restrict optval, socklen_t* __restrict optlen) {
  if ((level == SOL_IP && optname == SHIM_SO_ORIGINAL_DST) ||
      (level == SOL_IPV6 && optname == SHIM_IP6T_SO_ORIGINAL_DST)) {
    return originalDst(fd, level, optname, optval, optlen);
  }
  return realGetsockopt(fd, level, optname, optval, optlen);
}
