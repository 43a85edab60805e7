// odst_view_fuzz feeds arbitrary bytes to the client's reader of the shared original-destination
// view (src/odst/view_reader.c) as if they were the mapped file, the way a corrupt or hostile
// view would reach a client, and checks it against a simple reference:
//  - xredir_odst_view_validate accepts exactly the headers the reference accepts, and never
//    reads past the mapped size (AddressSanitizer);
//  - xredir_odst_view_lookup agrees with a byte-by-byte reference scan of the key's two buckets
//    (hit with the same answer, miss, a slot that never settled, a retired owner) for keys taken
//    from the input itself and from the file's own slots, so that hits are reachable.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "odst/view_reader.h"
#include "xredir/odst_view.h"

namespace {

struct RefMap {
  std::uint32_t header_bytes, bucket_slots, bucket_count;
  std::uint64_t seed;
};

bool referenceValidate(const std::uint8_t* b, std::uint64_t size, RefMap& m) {
  if (size < 128) return false;
  xredir_odst_view_header h;
  std::memcpy(&h, b, sizeof(h));
  if (h.magic != 0x58524F56u || h.layout != 1 || h.slot_bytes != 64) return false;
  if (h.header_bytes < 128 || h.header_bytes % 64 != 0) return false;
  if (h.bucket_slots == 0 || h.bucket_slots > 16 || h.bucket_count == 0) return false;
  const unsigned __int128 total =
      static_cast<unsigned __int128>(h.header_bytes) +
      static_cast<unsigned __int128>(h.bucket_count) * h.bucket_slots * 64;
  if (total != h.total_bytes || total > size) return false;
  if ((h.owner & 0x3fffffffu) == 0 || (h.owner & 0x40000000u) != 0) return false;
  m = RefMap{h.header_bytes, h.bucket_slots, h.bucket_count, h.hash_seed};
  return true;
}

xredir_odst_view_outcome referenceLookup(const std::uint8_t* b,
                                         const RefMap& m,
                                         const xredir_odst_view_key& k,
                                         xredir_odst_view_slot& found) {
  if (k.family != 4 && k.family != 6) return XREDIR_ODST_VIEW_MISS;
  std::uint32_t buckets[2];
  xredir_odst_view_buckets(xredir_odst_view_hash(m.seed, &k), m.bucket_count, buckets);
  bool unsettled = false;
  bool hit = false;
  for (int i = 0; i < (buckets[0] == buckets[1] ? 1 : 2) && !hit; ++i) {
    for (std::uint32_t s = 0; s < m.bucket_slots && !hit; ++s) {
      xredir_odst_view_slot slot;
      std::memcpy(&slot, b + m.header_bytes + (std::uint64_t{buckets[i]} * m.bucket_slots + s) * 64,
                  sizeof(slot));
      if (slot.seq % 2 != 0) {
        unsettled = true;
        continue;
      }
      hit = slot.family == k.family && slot.protocol == k.protocol &&
            slot.client_port == k.client_port && slot.proxy_port == k.proxy_port &&
            std::memcmp(slot.client_addr, k.client_addr, 16) == 0 &&
            std::memcmp(slot.proxy_addr, k.proxy_addr, 16) == 0;
      if (hit) found = slot;
    }
  }
  xredir_odst_view_header h;
  std::memcpy(&h, b, sizeof(h));
  if ((h.owner & 0x3fffffffu) == 0 || (h.owner & 0x40000000u) != 0) return XREDIR_ODST_VIEW_RETIRED;
  if (hit) return XREDIR_ODST_VIEW_HIT;
  return unsettled ? XREDIR_ODST_VIEW_UNSETTLED : XREDIR_ODST_VIEW_MISS;
}

// keyFrom reads a key from 40 bytes laid out as a slot's key (bytes 8..47 of a slot).
xredir_odst_view_key keyFrom(const std::uint8_t* p) {
  xredir_odst_view_key k{};
  k.family = p[0];
  k.protocol = p[1];
  std::memcpy(&k.client_port, p + 2, 2);
  std::memcpy(&k.proxy_port, p + 4, 2);
  std::memcpy(k.client_addr, p + 8, 16);
  std::memcpy(k.proxy_addr, p + 24, 16);
  return k;
}

void checkKey(const xredir_odst_view_map& map,
              const std::uint8_t* file,
              const RefMap& ref,
              const xredir_odst_view_key& key) {
  xredir_odst_response resp{};
  const xredir_odst_view_outcome got = xredir_odst_view_lookup(&map, &key, &resp);
  xredir_odst_view_slot slot{};
  const xredir_odst_view_outcome want = referenceLookup(file, ref, key, slot);
  if (got != want) std::abort();
  if (got != XREDIR_ODST_VIEW_HIT) return;
  const std::size_t len = slot.family == 6 ? 16 : 4;
  if (resp.status != XREDIR_ODST_OK || resp.family != slot.family ||
      resp.port != slot.original_port || std::memcmp(resp.addr, slot.original_addr, len) != 0) {
    std::abort();
  }
  for (std::size_t i = len; i < 16; ++i) {
    if (resp.addr[i] != 0) std::abort();  // an IPv4 answer never carries the slot's tail bytes
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The file is the input, copied to memory aligned as a mapping is, of exactly its size (so
  // that AddressSanitizer flags any read past it).
  auto* file =
      static_cast<std::uint8_t*>(::operator new (size == 0 ? 1 : size, std::align_val_t{64}));
  std::memcpy(file, data, size);
  struct Free {
    std::uint8_t* p;
    ~Free() { ::operator delete (p, std::align_val_t{64}); }
  } free_file{file};

  xredir_odst_view_map map{};
  RefMap ref{};
  const bool valid = xredir_odst_view_validate(file, size, &map) == 0;
  if (valid != referenceValidate(file, size, ref)) std::abort();
  if (!valid) return 0;
  if (map.total_bytes > size) std::abort();

  // Keys from the file's own slots (hits), and the same keys with one byte changed (misses).
  const std::uint64_t slots = (map.total_bytes - map.header_bytes) / 64;
  for (std::uint64_t s = 0; s < slots && s < 64; ++s) {
    const std::uint8_t* slot = file + map.header_bytes + s * 64;
    xredir_odst_view_key key = keyFrom(slot + 8);
    checkKey(map, file, ref, key);
    key.client_port ^= 1;
    checkKey(map, file, ref, key);
  }
  return 0;
}
