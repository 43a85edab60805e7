/*
 * odst_view.h owns the layout of the shared original-destination view: a fixed-size hash table in
 * shared memory (a sealed memfd) that xredir writes and that allowed clients map read-only, so
 * that xredir_original_dst() answers in the caller's own thread, as the kernel's
 * getsockopt(SO_ORIGINAL_DST) does, instead of waking xredir's server. A client obtains the view
 * with the map-view request of include/xredir/odst.h (protocol version 2).
 *
 * The view holds one slot per *translated* connection that xredir's conntrack tracks, keyed by
 * what a proxy knows of its accepted socket: (family, protocol, client addr:port = the socket's
 * peer, proxy addr:port = the socket's own address), valued with the original destination. xredir
 * publishes a connection when conntrack inserts it and unpublishes it when conntrack removes it,
 * in both cases before conntrack's own change is visible, so a slot found is always an answer
 * conntrack gives at that moment. A connection whose buckets were full is simply absent: a miss
 * is never an answer; the client then asks over the socket, which stays the single source of the
 * precise statuses (not tracked, not translated).
 *
 * Everything is in the host's native byte order (the view never leaves the machine), ports too.
 * IPv4 addresses use bytes 0..3 of their 16 and bytes 4..15 are zero.
 *
 *   file = header (header_bytes) + bucket_count * bucket_slots slots of slot_bytes each
 *
 * Header, 128 bytes (struct xredir_odst_view_header):
 *   off size field
 *     0   4  magic XREDIR_ODST_VIEW_MAGIC ("XROV")
 *     4   4  layout XREDIR_ODST_VIEW_LAYOUT (1)
 *     8   4  header_bytes: 128 (slots start here; a multiple of 64)
 *    12   4  slot_bytes: 64
 *    16   4  bucket_slots: slots per bucket (xredir writes 4; readers accept 1..16)
 *    20   4  bucket_count: >= 1
 *    24   8  total_bytes: header_bytes + bucket_count * bucket_slots * slot_bytes
 *    32   8  hash_seed (random per xredir run)
 *    40  24  reserved, zero
 *    64   4  owner: the liveness word (below)
 *    68  60  private to the writer
 *
 * Slot, 64 bytes (struct xredir_odst_view_slot), read as eight 64-bit words:
 *     0   8  seq: even when the slot is stable, odd while xredir rewrites it
 *     8   1  family: 0 = empty, 4 = IPv4, 6 = IPv6 (also the original destination's family)
 *     9   1  protocol (IPPROTO_TCP, IPPROTO_UDP)
 *    10   2  client port
 *    12   2  proxy port
 *    14   2  original destination port
 *    16  16  client address
 *    32  16  proxy address
 *    48  16  original destination address
 *
 * Where a key lives: h = xredir_odst_view_hash(hash_seed, key); xredir_odst_view_buckets(h,
 * bucket_count) names two buckets (two-choice hashing: xredir puts a key in the less full one,
 * which keeps full buckets rare up to a load near 1). A key is in at most one slot of those two
 * buckets, never anywhere else.
 *
 * Reading a slot (a seqlock; readers never write and never wait):
 *   1. s1 = seq, loaded with acquire; if s1 is odd, try again;
 *   2. load words 1..7 with acquire each;
 *   3. s2 = seq again; if s2 != s1 the slot changed meanwhile: try again.
 *   Give up after a bounded number of tries (the writer may have been preempted mid-write) and
 *   treat the key as not found. xredir stores seq+1, then words 1..7 with release each, then
 *   seq+2 with release.
 * After a slot matched, load the owner word with acquire: the answer stands only if xredir was
 * still alive (below) after the slot was read.
 *
 * Liveness. The owner word is the lock word of a robust, process-shared mutex that a thread of
 * xredir holds for as long as the view is live: bits 0..29 hold that thread's id. xredir clears
 * the word when it retires the view (clean exit), and if xredir dies in any way the kernel sets
 * bit 30 (FUTEX_OWNER_DIED) and clears the id as the thread exits, before its file descriptors
 * close. A view whose owner is not alive answers nothing: its slots describe a conntrack that is
 * gone, and a new xredir makes a new view.
 *
 * Safety. The file is sealed against shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW, so a
 * mapping can never fault with SIGBUS) and against writes other than xredir's own mapping
 * (F_SEAL_FUTURE_WRITE), and clients receive a read-only descriptor. A client must still treat the
 * contents as untrusted input: check the header against the file's size before use, bound every
 * probe by its own copy of the header, and bound the seqlock retries.
 */
#ifndef XREDIR_ODST_VIEW_H
#define XREDIR_ODST_VIEW_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XREDIR_ODST_VIEW_MAGIC 0x58524F56u /* "XROV" */
#define XREDIR_ODST_VIEW_LAYOUT 1
#define XREDIR_ODST_VIEW_HEADER_BYTES 128
#define XREDIR_ODST_VIEW_SLOT_BYTES 64
#define XREDIR_ODST_VIEW_BUCKET_SLOTS 4      /* what xredir writes */
#define XREDIR_ODST_VIEW_MAX_BUCKET_SLOTS 16 /* the most a reader accepts */
/* The owner word's bits, as the kernel's robust futexes define them (linux/futex.h). */
#define XREDIR_ODST_VIEW_OWNER_TID_MASK 0x3fffffffu
#define XREDIR_ODST_VIEW_OWNER_DIED 0x40000000u

struct xredir_odst_view_header {
  uint32_t magic;
  uint32_t layout;
  uint32_t header_bytes;
  uint32_t slot_bytes;
  uint32_t bucket_slots;
  uint32_t bucket_count;
  uint64_t total_bytes;
  uint64_t hash_seed;
  uint8_t reserved[24];
  uint32_t owner;
  uint8_t owner_private[60];
};

struct xredir_odst_view_slot {
  uint64_t seq;
  uint8_t family;
  uint8_t protocol;
  uint16_t client_port;
  uint16_t proxy_port;
  uint16_t original_port;
  uint8_t client_addr[16];
  uint8_t proxy_addr[16];
  uint8_t original_addr[16];
};

/* xredir_odst_view_key is what a lookup is keyed by; IPv4 addresses in bytes 0..3, the rest 0. */
struct xredir_odst_view_key {
  uint8_t family; /* XREDIR_ODST_FAMILY_V4 / _V6 (4 / 6) */
  uint8_t protocol;
  uint16_t client_port;
  uint16_t proxy_port;
  uint8_t client_addr[16];
  uint8_t proxy_addr[16];
};

/* xredir_odst_view_hash is the hash that places a key: five 64-bit words folded by multiply and
 * xor-shift, then MurmurHash3's 64-bit finaliser. Seeded, so that remote clients, who choose
 * their ports, cannot aim connections at one bucket. */
static inline uint64_t xredir_odst_view_hash(uint64_t seed, const struct xredir_odst_view_key* k) {
  uint64_t words[5];
  words[0] = (uint64_t)k->family | (uint64_t)k->protocol << 8 | (uint64_t)k->client_port << 16 |
             (uint64_t)k->proxy_port << 32;
  memcpy(&words[1], k->client_addr, 16);
  memcpy(&words[3], k->proxy_addr, 16);
  uint64_t h = seed;
  for (int i = 0; i < 5; ++i) {
    h ^= words[i];
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 32;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* xredir_odst_view_buckets names the two buckets a key with hash h may live in (the same bucket
 * twice only when bucket_count is 1). Lemire's multiply-shift maps each 32-bit half of h onto
 * [0, bucket_count) without a division; bucket_count must be >= 1. */
static inline void xredir_odst_view_buckets(uint64_t h, uint32_t bucket_count, uint32_t out[2]) {
  out[0] = (uint32_t)(((h & 0xffffffffull) * bucket_count) >> 32);
  out[1] = (uint32_t)(((h >> 32) * bucket_count) >> 32);
  if (out[1] == out[0] && bucket_count > 1) out[1] = out[0] + 1 == bucket_count ? 0 : out[0] + 1;
}

/* xredir_odst_view_owner_alive reports whether an owner word names a living writer. */
static inline int xredir_odst_view_owner_alive(uint32_t owner) {
  return (owner & XREDIR_ODST_VIEW_OWNER_TID_MASK) != 0 &&
         (owner & XREDIR_ODST_VIEW_OWNER_DIED) == 0;
}

#ifdef __cplusplus
}
#endif

#endif /* XREDIR_ODST_VIEW_H */
