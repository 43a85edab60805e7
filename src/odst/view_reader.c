/* view_reader.c reads the shared original-destination view; see view_reader.h and the layout in
 * include/xredir/odst_view.h. Every load from the view is an atomic load: the writer changes
 * slots while readers read them, and the seqlock tells a consistent copy from a torn one. */
#include "odst/view_reader.h"

#include <stddef.h>
#include <string.h>

_Static_assert(sizeof(struct xredir_odst_view_header) == XREDIR_ODST_VIEW_HEADER_BYTES,
               "the header is 128 bytes");
_Static_assert(offsetof(struct xredir_odst_view_header, owner) == 64, "owner at offset 64");
_Static_assert(sizeof(struct xredir_odst_view_slot) == XREDIR_ODST_VIEW_SLOT_BYTES,
               "a slot is 64 bytes");
_Static_assert(offsetof(struct xredir_odst_view_slot, client_addr) == 16, "slot layout");
_Static_assert(offsetof(struct xredir_odst_view_slot, original_addr) == 48, "slot layout");

enum { kSlotWords = XREDIR_ODST_VIEW_SLOT_BYTES / 8 };

static inline void spinPause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static uint32_t ownerWord(const unsigned char* base) {
  const uint32_t* owner =
      (const uint32_t*)(const void*)(base + offsetof(struct xredir_odst_view_header, owner));
  return __atomic_load_n(owner, __ATOMIC_ACQUIRE);
}

int xredir_odst_view_validate(const void* base, uint64_t mapped, struct xredir_odst_view_map* map) {
  if (base == NULL || mapped < XREDIR_ODST_VIEW_HEADER_BYTES) return -1;
  /* The header is written once, before the view is handed out; only the owner word changes. */
  struct xredir_odst_view_header h;
  memcpy(&h, base, sizeof(h));
  if (h.magic != XREDIR_ODST_VIEW_MAGIC || h.layout != XREDIR_ODST_VIEW_LAYOUT) return -1;
  if (h.header_bytes < XREDIR_ODST_VIEW_HEADER_BYTES || h.header_bytes % 64 != 0) return -1;
  if (h.slot_bytes != XREDIR_ODST_VIEW_SLOT_BYTES) return -1;
  if (h.bucket_slots < 1 || h.bucket_slots > XREDIR_ODST_VIEW_MAX_BUCKET_SLOTS) return -1;
  if (h.bucket_count < 1) return -1;
  /* At most 2^32 buckets of 16 slots of 64 bytes: 2^42, so the sum cannot overflow. */
  const uint64_t total = (uint64_t)h.header_bytes +
                         (uint64_t)h.bucket_count * h.bucket_slots * XREDIR_ODST_VIEW_SLOT_BYTES;
  if (total != h.total_bytes || total > mapped) return -1;
  if (!xredir_odst_view_owner_alive(ownerWord(base))) return -1;
  map->base = base;
  map->total_bytes = total;
  map->header_bytes = h.header_bytes;
  map->bucket_slots = h.bucket_slots;
  map->bucket_count = h.bucket_count;
  map->hash_seed = h.hash_seed;
  return 0;
}

void xredir_odst_view_key_of(const struct xredir_odst_request* req,
                             struct xredir_odst_view_key* key) {
  memset(key, 0, sizeof(*key));
  const size_t addr_len = req->family == XREDIR_ODST_FAMILY_V6 ? 16 : 4;
  key->family = req->family;
  key->protocol = req->protocol;
  key->client_port = req->client_port;
  key->proxy_port = req->proxy_port;
  memcpy(key->client_addr, req->client_addr, addr_len);
  memcpy(key->proxy_addr, req->proxy_addr, addr_len);
}

/* readSlot copies one slot consistently (the read protocol of odst_view.h). Returns 0 when the
 * slot kept changing for every attempt. */
static int readSlot(const unsigned char* slot, struct xredir_odst_view_slot* copy) {
  const uint64_t* words = (const uint64_t*)(const void*)slot;
  uint64_t w[kSlotWords];
  for (int attempt = 0; attempt < kXredirOdstViewReadAttempts; ++attempt) {
    const uint64_t s1 = __atomic_load_n(&words[0], __ATOMIC_ACQUIRE);
    if (s1 & 1) {
      spinPause();
      continue;
    }
    w[0] = s1;
    for (int i = 1; i < kSlotWords; ++i) w[i] = __atomic_load_n(&words[i], __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&words[0], __ATOMIC_ACQUIRE) == s1) {
      memcpy(copy, w, sizeof(*copy));
      return 1;
    }
  }
  return 0;
}

static int slotMatches(const struct xredir_odst_view_slot* s,
                       const struct xredir_odst_view_key* k) {
  return s->family == k->family && s->protocol == k->protocol && s->client_port == k->client_port &&
         s->proxy_port == k->proxy_port && memcmp(s->client_addr, k->client_addr, 16) == 0 &&
         memcmp(s->proxy_addr, k->proxy_addr, 16) == 0;
}

enum xredir_odst_view_outcome xredir_odst_view_lookup(const struct xredir_odst_view_map* map,
                                                      const struct xredir_odst_view_key* key,
                                                      struct xredir_odst_response* resp) {
  if (key->family != XREDIR_ODST_FAMILY_V4 && key->family != XREDIR_ODST_FAMILY_V6) {
    return XREDIR_ODST_VIEW_MISS; /* an empty slot has family 0: never a match */
  }
  uint32_t buckets[2];
  xredir_odst_view_buckets(xredir_odst_view_hash(map->hash_seed, key), map->bucket_count, buckets);
  const uint64_t bucket_bytes = (uint64_t)map->bucket_slots * XREDIR_ODST_VIEW_SLOT_BYTES;
  const int probes = buckets[1] == buckets[0] ? 1 : 2;
  int unsettled = 0;
  int found = 0;
  struct xredir_odst_view_slot copy;
  for (int b = 0; b < probes && !found; ++b) {
    const unsigned char* bucket = map->base + map->header_bytes + buckets[b] * bucket_bytes;
    for (uint32_t i = 0; i < map->bucket_slots && !found; ++i) {
      if (!readSlot(bucket + (uint64_t)i * XREDIR_ODST_VIEW_SLOT_BYTES, &copy)) {
        unsettled = 1;
        continue;
      }
      found = slotMatches(&copy, key);
    }
  }
  /* Checked after the slot was read: the answer stands only if the owner outlived the read. */
  if (!xredir_odst_view_owner_alive(ownerWord(map->base))) return XREDIR_ODST_VIEW_RETIRED;
  if (!found) return unsettled ? XREDIR_ODST_VIEW_UNSETTLED : XREDIR_ODST_VIEW_MISS;
  memset(resp, 0, sizeof(*resp));
  resp->version = XREDIR_ODST_VERSION;
  resp->status = XREDIR_ODST_OK;
  resp->family = copy.family;
  memcpy(resp->addr, copy.original_addr, copy.family == XREDIR_ODST_FAMILY_V6 ? 16 : 4);
  resp->port = copy.original_port;
  return XREDIR_ODST_VIEW_HIT;
}
