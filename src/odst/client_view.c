/* client_view.c owns the client library's shared view: fetching it from the server once per
 * process (the map-view request of odst.h, the descriptor over SCM_RIGHTS), checking and mapping
 * it, answering lookups from it, and dropping it when its owner is gone.
 *
 * State. g_view points at the mapped view, or is NULL. Readers load it and look up without any
 * lock. One thread at a time fetches (g_fetch_mu, taken with trylock: the others ask over the
 * socket meanwhile rather than wait). A fetch that fails (no server, no view offered, refused,
 * a view that fails validation) is not repeated for kRetryNs, so a process behind a server
 * without a view pays one round trip per interval, not per call.
 *
 * Retiring. When a lookup finds the owner gone (xredir exited or died), the thread that swaps
 * g_view to NULL replaces the mapping in place with anonymous zero pages (MAP_FIXED): threads
 * still reading through the old pointer then read an empty view with a dead owner, never an
 * unmapped page, and the memfd's memory is released. The small struct is kept on a list, never
 * freed, because a reader may still hold it; one is left per xredir restart. A fetch follows at
 * once, so a restarted xredir's view is picked up by the next call.
 *
 * Fork: the child keeps the mapping (the view is still valid) and the fetch lock is taken around
 * fork so that the child never inherits it held. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "odst/client_internal.h"
#include "odst/view_reader.h"

/* kRetryNs: how long after a failed fetch the next call tries again. */
static const uint64_t kRetryNs = 5ull * 1000 * 1000 * 1000;
/* kMaxPassedFds: SCM_RIGHTS room; a server that sends more gets them closed (by the kernel past
 * this room, by us within it). */
enum { kMaxPassedFds = 4 };

struct MappedView {
  struct xredir_odst_view_map map;
  size_t mapped; /* bytes mapped at map.base */
  struct MappedView* next_retired;
};

static struct MappedView* g_view;
static struct MappedView* g_retired;
static uint64_t g_next_fetch_ns;
static pthread_mutex_t g_fetch_mu = PTHREAD_MUTEX_INITIALIZER;

static void lockFetch(void) {
  pthread_mutex_lock(&g_fetch_mu);
}

static void unlockFetch(void) {
  pthread_mutex_unlock(&g_fetch_mu);
}

__attribute__((constructor)) static void initView(void) {
  pthread_atfork(lockFetch, unlockFetch, unlockFetch);
}

static uint64_t monotonicNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* mapView checks the received descriptor and maps it. Returns the view or NULL. */
static struct MappedView* mapView(int fd, const struct xredir_odst_view_response* resp) {
  if (resp->layout != XREDIR_ODST_VIEW_LAYOUT || resp->bytes < XREDIR_ODST_VIEW_HEADER_BYTES ||
      resp->bytes > (uint64_t)SIZE_MAX) {
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < resp->bytes) {
    return NULL;
  }
  /* Without F_SEAL_SHRINK the file could be cut under the mapping and a read would be SIGBUS. */
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK)) return NULL;
  const size_t bytes = (size_t)resp->bytes;
  void* base = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return NULL;
  struct MappedView* v = calloc(1, sizeof(*v));
  if (v == NULL || xredir_odst_view_validate(base, bytes, &v->map) != 0) {
    free(v);
    munmap(base, bytes);
    return NULL;
  }
  v->mapped = bytes;
  return v;
}

/* takePassedFds closes every descriptor of a message's SCM_RIGHTS data except the first one,
 * which goes to *keep when *keep is still -1. */
static void takePassedFds(struct msghdr* msg, int* keep) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (*keep < 0) {
        *keep = fd;
      } else {
        close(fd);
      }
    }
  }
}

/* fetchView asks the server for its view on a connection of its own. Returns the mapped view or
 * NULL (no server, no view offered, refused, garbage, a view that fails its checks). */
static struct MappedView* fetchView(void) {
  const int sock = xredir_odst_connect();
  if (sock < 0) return NULL;
  uint8_t req[XREDIR_ODST_REQUEST_SIZE];
  xredir_odst_encode_view_request(req);
  uint8_t buf[XREDIR_ODST_RESPONSE_SIZE];
  size_t got = 0;
  int view_fd = -1;
  int ok = xredir_odst_send_all(sock, req, sizeof(req)) == 0;
  while (ok && got < sizeof(buf)) {
    union {
      struct cmsghdr align;
      char bytes[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
    } control;
    struct iovec iov = {.iov_base = buf + got, .iov_len = sizeof(buf) - got};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof(control.bytes);
    const ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n >= 0) takePassedFds(&msg, &view_fd);
    if (n <= 0) ok = 0; /* EOF or error (the receive timeout included) */
    if (n > 0) got += (size_t)n;
  }
  close(sock);
  struct xredir_odst_view_response resp;
  struct MappedView* v = NULL;
  if (ok && view_fd >= 0 && xredir_odst_decode_view_response(buf, &resp) == 0 &&
      resp.status == XREDIR_ODST_OK && resp.bytes != 0) {
    v = mapView(view_fd, &resp);
  }
  if (view_fd >= 0) close(view_fd); /* the mapping keeps the file */
  return v;
}

/* currentView returns the mapped view, fetching it when none is mapped and a fetch is due. */
static struct MappedView* currentView(void) {
  struct MappedView* v = __atomic_load_n(&g_view, __ATOMIC_ACQUIRE);
  if (v != NULL) return v;
  if (monotonicNs() < __atomic_load_n(&g_next_fetch_ns, __ATOMIC_RELAXED)) return NULL;
  if (pthread_mutex_trylock(&g_fetch_mu) != 0) return NULL; /* another thread is fetching */
  v = __atomic_load_n(&g_view, __ATOMIC_ACQUIRE);
  if (v == NULL && monotonicNs() >= __atomic_load_n(&g_next_fetch_ns, __ATOMIC_RELAXED)) {
    v = fetchView();
    if (v != NULL) {
      __atomic_store_n(&g_view, v, __ATOMIC_RELEASE);
    } else {
      __atomic_store_n(&g_next_fetch_ns, monotonicNs() + kRetryNs, __ATOMIC_RELAXED);
    }
  }
  pthread_mutex_unlock(&g_fetch_mu);
  return v;
}

/* retire drops v if it is still the current view (see the file comment). */
static void retire(struct MappedView* v) {
  struct MappedView* expected = v;
  if (!__atomic_compare_exchange_n(&g_view, &expected, NULL, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    return; /* another thread retired it already */
  }
  /* Replacing the pages keeps the addresses valid for readers still inside a lookup. Should the
   * kernel refuse, the mapping stays as it is: its owner is dead, so it answers nothing. */
  mmap((void*)v->map.base, v->mapped, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  struct MappedView* head = __atomic_load_n(&g_retired, __ATOMIC_RELAXED);
  do {
    v->next_retired = head;
  } while (
      !__atomic_compare_exchange_n(&g_retired, &head, v, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
  __atomic_store_n(&g_next_fetch_ns, 0, __ATOMIC_RELAXED);
}

/* viewAnswer answers req from the mapped view; with fetch, it maps one first when none is mapped
 * and a fetch is due (a blocking round trip); without, it never makes a system call on a hit and
 * leaves a retired view's replacement to the next fetching call. */
static int viewAnswer(const struct xredir_odst_request* req,
                      struct xredir_odst_response* resp,
                      int fetch) {
  struct xredir_odst_view_key key;
  xredir_odst_view_key_of(req, &key);
  /* Twice at most: a view found retired is replaced by a fresh fetch and asked once more. */
  for (int round = 0; round < 2; ++round) {
    struct MappedView* v = fetch ? currentView() : __atomic_load_n(&g_view, __ATOMIC_ACQUIRE);
    if (v == NULL) return 0;
    switch (xredir_odst_view_lookup(&v->map, &key, resp)) {
      case XREDIR_ODST_VIEW_HIT:
        return 1;
      case XREDIR_ODST_VIEW_MISS:
      case XREDIR_ODST_VIEW_UNSETTLED:
        return 0;
      case XREDIR_ODST_VIEW_RETIRED:
        retire(v);
        if (!fetch) return 0;
        break;
    }
  }
  return 0;
}

int xredir_odst_view_answer(const struct xredir_odst_request* req,
                            struct xredir_odst_response* resp) {
  return viewAnswer(req, resp, 1);
}

int xredir_odst_view_answer_mapped(const struct xredir_odst_request* req,
                                   struct xredir_odst_response* resp) {
  return viewAnswer(req, resp, 0);
}

int xredir_odst_view_refresh(void) {
  if (__atomic_load_n(&g_view, __ATOMIC_ACQUIRE) != NULL) return 1;
  /* The caller paces its own calls (a housekeeping thread, about once a second): the retry
   * interval that keeps per-question calls from pestering a server without a view would only
   * delay the view of an xredir that started after the proxy. */
  __atomic_store_n(&g_next_fetch_ns, 0, __ATOMIC_RELAXED);
  return currentView() != NULL;
}

void xredir_odst_forget_view(void) {
  struct MappedView* v = __atomic_load_n(&g_view, __ATOMIC_ACQUIRE);
  if (v != NULL) retire(v);
  __atomic_store_n(&g_next_fetch_ns, 0, __ATOMIC_RELAXED);
}

int xredir_odst_view_mapped(void) {
  return __atomic_load_n(&g_view, __ATOMIC_ACQUIRE) != NULL;
}
