/* view_reader.h owns reading the shared original-destination view (layout and read protocol in
 * include/xredir/odst_view.h) from memory the client mapped: checking a header against the size
 * that is mapped, and looking a key up with bounded seqlock reads. Both are functions of memory
 * only, so that the fuzz target can drive them with arbitrary bytes. Not installed, not
 * exported. */
#ifndef XREDIR_ODST_VIEW_READER_H
#define XREDIR_ODST_VIEW_READER_H

#include <stdint.h>

#include "xredir/odst.h"
#include "xredir/odst_view.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xredir_odst_view_map is a validated view: the mapping plus the reader's own copy of the sizes,
 * taken once, so that every probe is bounded by values the writer can no longer change. */
struct xredir_odst_view_map {
  const unsigned char* base;
  uint64_t total_bytes;
  uint32_t header_bytes;
  uint32_t bucket_slots;
  uint32_t bucket_count;
  uint64_t hash_seed;
};

enum xredir_odst_view_outcome {
  XREDIR_ODST_VIEW_HIT = 1,   /* *resp holds the original destination */
  XREDIR_ODST_VIEW_MISS,      /* no slot holds the key: ask the server */
  XREDIR_ODST_VIEW_UNSETTLED, /* a slot kept changing while it was read: ask the server */
  XREDIR_ODST_VIEW_RETIRED    /* the view's owner is gone: drop the view, ask the server */
};

/* kXredirOdstViewReadAttempts bounds the seqlock reads of one slot. A write holds a slot odd for
 * tens of nanoseconds; a writer preempted mid-write must not stall the reader, who then asks
 * the server instead. */
enum { kXredirOdstViewReadAttempts = 64 };

/* xredir_odst_view_validate checks the header at base, of which `mapped` bytes are readable, and
 * fills *map. Returns 0, or -1 for a wrong magic or layout, sizes other than this layout's, a
 * total that differs from the sizes or does not fit in `mapped`, or an owner that is not alive.
 * base must be 8-byte aligned (a mapping is page-aligned). */
int xredir_odst_view_validate(const void* base, uint64_t mapped, struct xredir_odst_view_map* map);

/* xredir_odst_view_key_of builds the view key of a lookup request. */
void xredir_odst_view_key_of(const struct xredir_odst_request* req,
                             struct xredir_odst_view_key* key);

/* xredir_odst_view_lookup probes the key's two buckets. On XREDIR_ODST_VIEW_HIT, *resp is an OK
 * response (version 1) with the original destination. The owner is checked after the probes,
 * whatever they found, so a retired view is noticed on a miss too. At most 2 * bucket_slots *
 * kXredirOdstViewReadAttempts slot reads; never writes to the view. */
enum xredir_odst_view_outcome xredir_odst_view_lookup(const struct xredir_odst_view_map* map,
                                                      const struct xredir_odst_view_key* key,
                                                      struct xredir_odst_response* resp);

#ifdef __cplusplus
}
#endif

#endif /* XREDIR_ODST_VIEW_READER_H */
