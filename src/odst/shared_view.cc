// The shared original-destination view's writer; see shared_view.h and include/xredir/odst_view.h.
#include "odst/shared_view.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <system_error>

#include "xredir/spin_lock.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U  // linux/memfd.h since 6.3; glibc 2.36 lacks it
#endif

namespace xredir::odst {
namespace {

static_assert(sizeof(xredir_odst_view_header) == XREDIR_ODST_VIEW_HEADER_BYTES);
static_assert(offsetof(xredir_odst_view_header, owner) == 64);
static_assert(sizeof(xredir_odst_view_slot) == XREDIR_ODST_VIEW_SLOT_BYTES);
// The owner word is the lock word of a pthread mutex placed at the owner field: glibc keeps the
// futex word (owner thread id, FUTEX_OWNER_DIED) first, and the whole mutex must fit.
static_assert(sizeof(pthread_mutex_t) <= XREDIR_ODST_VIEW_HEADER_BYTES - 64);
#ifdef __GLIBC__
static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0);
#endif

constexpr std::uint32_t kBucketSlots = XREDIR_ODST_VIEW_BUCKET_SLOTS;
constexpr std::uint64_t kBucketBytes = std::uint64_t{kBucketSlots} * XREDIR_ODST_VIEW_SLOT_BYTES;
constexpr int kSlotWords = XREDIR_ODST_VIEW_SLOT_BYTES / 8;

xredir_odst_view_key keyOf(std::uint8_t protocol, const Endpoint& client, const Endpoint& proxy) {
  xredir_odst_view_key k{};
  const bool v6 = client.addr.family == Family::kV6;
  const std::size_t len = v6 ? 16 : 4;  // IPv4 keeps bytes 4..15 zero, as every reader does
  k.family = v6 ? XREDIR_ODST_FAMILY_V6 : XREDIR_ODST_FAMILY_V4;
  k.protocol = protocol;
  k.client_port = client.port;
  k.proxy_port = proxy.port;
  std::memcpy(k.client_addr, client.addr.bytes.data(), len);
  std::memcpy(k.proxy_addr, proxy.addr.bytes.data(), len);
  return k;
}

// loadSlot copies a slot under its bucket lock (other writers are excluded; readers only read).
xredir_odst_view_slot loadSlot(xredir_odst_view_slot* slot) {
  auto* words = reinterpret_cast<std::uint64_t*>(slot);
  std::uint64_t w[kSlotWords];
  for (int i = 0; i < kSlotWords; ++i) {
    w[i] = std::atomic_ref<std::uint64_t>(words[i]).load(std::memory_order_relaxed);
  }
  xredir_odst_view_slot s;
  std::memcpy(&s, w, sizeof(s));
  return s;
}

// storeSlot writes a slot's words 1..7 as the seqlock's writer (odst_view.h): seq odd, the words
// with release (a reader that sees any of them then sees seq odd or later), seq even again.
void storeSlot(xredir_odst_view_slot* slot, const xredir_odst_view_slot& value) {
  auto* words = reinterpret_cast<std::uint64_t*>(slot);
  std::uint64_t w[kSlotWords];
  std::memcpy(w, &value, sizeof(w));
  std::atomic_ref<std::uint64_t> seq(words[0]);
  const std::uint64_t s = seq.load(std::memory_order_relaxed);
  seq.store(s + 1, std::memory_order_relaxed);
  for (int i = 1; i < kSlotWords; ++i) {
    std::atomic_ref<std::uint64_t>(words[i]).store(w[i], std::memory_order_release);
  }
  seq.store(s + 2, std::memory_order_release);
}

bool sameKey(const xredir_odst_view_slot& s, const xredir_odst_view_key& k) {
  return s.family == k.family && s.protocol == k.protocol && s.client_port == k.client_port &&
         s.proxy_port == k.proxy_port && std::memcmp(s.client_addr, k.client_addr, 16) == 0 &&
         std::memcmp(s.proxy_addr, k.proxy_addr, 16) == 0;
}

Status osError(const std::string& what) {
  return Status::error(errno, "shared view: " + what);
}

}  // namespace

std::unique_ptr<SharedView> SharedView::create(std::uint64_t slots,
                                               std::uint64_t hash_seed,
                                               Status& status) {
  std::unique_ptr<SharedView> view(new SharedView());
  status = view->init(slots, hash_seed);
  if (!status.ok()) return nullptr;
  return view;
}

Status SharedView::init(std::uint64_t slots, std::uint64_t hash_seed) {
  const std::uint64_t buckets = slots == 0 ? 1 : (slots + kBucketSlots - 1) / kBucketSlots;
  if (buckets > 0xffffffffULL) {
    return Status::error(EINVAL, "shared view: " + std::to_string(slots) + " slots is too many");
  }
  bucket_count_ = static_cast<std::uint32_t>(buckets);
  bytes_ = XREDIR_ODST_VIEW_HEADER_BYTES + buckets * kBucketBytes;
  hash_seed_ = hash_seed;

  memfd_ = ::memfd_create("xredir-odst-view", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (memfd_ < 0 && errno == EINVAL) {
    memfd_ = ::memfd_create("xredir-odst-view", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  }
  if (memfd_ < 0) return osError("memfd_create");
  if (::ftruncate(memfd_, static_cast<off_t>(bytes_)) != 0) {
    return osError("size the memfd to " + std::to_string(bytes_) + " bytes");
  }
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
  if (p == MAP_FAILED) return osError("map " + std::to_string(bytes_) + " bytes");
  base_ = static_cast<unsigned char*>(p);
  // A child of the daemon (a helper it runs) must not inherit a writable view.
  ::madvise(base_, bytes_, MADV_DONTFORK);

  // The file is zero-filled: every slot starts empty (family 0) and even (seq 0).
  auto* header = reinterpret_cast<xredir_odst_view_header*>(base_);
  header->magic = XREDIR_ODST_VIEW_MAGIC;
  header->layout = XREDIR_ODST_VIEW_LAYOUT;
  header->header_bytes = XREDIR_ODST_VIEW_HEADER_BYTES;
  header->slot_bytes = XREDIR_ODST_VIEW_SLOT_BYTES;
  header->bucket_slots = kBucketSlots;
  header->bucket_count = bucket_count_;
  header->total_bytes = bytes_;
  header->hash_seed = hash_seed_;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  const int rc = pthread_mutex_init(reinterpret_cast<pthread_mutex_t*>(&header->owner), &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) return Status::error(rc, "shared view: robust owner mutex");

  // Sealed before anyone else sees the file: its size is fixed (no SIGBUS in a reader) and no
  // write can happen except through the mapping above.
  if (::fcntl(memfd_, F_ADD_SEALS,
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) {
    return osError("seal the memfd");
  }
  // A read-only open file description for clients. Without /proc the sealed memfd itself is
  // handed out: the seals already refuse writes and writable mappings through it.
  const std::string self = "/proc/self/fd/" + std::to_string(memfd_);
  ro_fd_ = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (ro_fd_ < 0) ro_fd_ = ::fcntl(memfd_, F_DUPFD_CLOEXEC, 0);
  if (ro_fd_ < 0) return osError("read-only descriptor");

  bucket_locks_ = std::make_unique<std::atomic<bool>[]>(bucket_count_);
  try {
    startKeeper();
  } catch (const std::system_error& e) {
    return Status::error(e.code().value(), "shared view: keeper thread");
  }
  return {};
}

void SharedView::startKeeper() {
  auto* owner =
      reinterpret_cast<pthread_mutex_t*>(&reinterpret_cast<xredir_odst_view_header*>(base_)->owner);
  keeper_ = std::thread([this, owner] {
    pthread_mutex_lock(owner);  // a fresh mutex: returns 0 with this thread's id in the word
    std::unique_lock<std::mutex> lock(keeper_mu_);
    keeper_holding_ = true;
    keeper_cv_.notify_all();
    keeper_cv_.wait(lock, [this] { return keeper_stop_; });
    lock.unlock();
    pthread_mutex_unlock(owner);  // the word becomes 0: the view is retired
  });
  std::unique_lock<std::mutex> lock(keeper_mu_);
  keeper_cv_.wait(lock, [this] { return keeper_holding_; });
}

void SharedView::retire() {
  if (!keeper_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(keeper_mu_);
    keeper_stop_ = true;
  }
  keeper_cv_.notify_all();
  keeper_.join();
}

SharedView::~SharedView() {
  retire();
  if (base_ != nullptr) ::munmap(base_, bytes_);
  if (ro_fd_ >= 0) ::close(ro_fd_);
  if (memfd_ >= 0) ::close(memfd_);
}

xredir_odst_view_slot* SharedView::bucket(std::uint32_t index) const {
  return reinterpret_cast<xredir_odst_view_slot*>(base_ + XREDIR_ODST_VIEW_HEADER_BYTES +
                                                  index * kBucketBytes);
}

void SharedView::lockBuckets(const std::uint32_t (&b)[2]) noexcept {
  // Ascending order, and one lock when both choices are the same bucket: no two writers can
  // wait for each other in a cycle.
  const std::uint32_t first = b[0] < b[1] ? b[0] : b[1];
  const std::uint32_t second = b[0] < b[1] ? b[1] : b[0];
  spinLockAcquire(bucket_locks_[first]);
  if (second != first) spinLockAcquire(bucket_locks_[second]);
}

void SharedView::unlockBuckets(const std::uint32_t (&b)[2]) noexcept {
  spinLockRelease(bucket_locks_[b[0]]);
  if (b[1] != b[0]) spinLockRelease(bucket_locks_[b[1]]);
}

bool SharedView::publish(std::uint8_t protocol,
                         const Endpoint& client,
                         const Endpoint& proxy,
                         const Endpoint& original) noexcept {
  const xredir_odst_view_key key = keyOf(protocol, client, proxy);
  std::uint32_t b[2];
  xredir_odst_view_buckets(xredir_odst_view_hash(hash_seed_, &key), bucket_count_, b);
  xredir_odst_view_slot value{};
  value.family = key.family;
  value.protocol = key.protocol;
  value.client_port = key.client_port;
  value.proxy_port = key.proxy_port;
  value.original_port = original.port;
  std::memcpy(value.client_addr, key.client_addr, 16);
  std::memcpy(value.proxy_addr, key.proxy_addr, 16);
  std::memcpy(value.original_addr, original.addr.bytes.data(),
              key.family == XREDIR_ODST_FAMILY_V6 ? 16 : 4);

  lockBuckets(b);
  // One pass over both buckets: the key's own slot if it is there, else the first free slot of
  // the less full bucket (two-choice hashing).
  xredir_odst_view_slot* same = nullptr;
  xredir_odst_view_slot* free_slot[2] = {nullptr, nullptr};
  std::uint32_t used[2] = {0, 0};
  const int choices = b[1] == b[0] ? 1 : 2;
  for (int c = 0; c < choices && same == nullptr; ++c) {
    xredir_odst_view_slot* slots = bucket(b[c]);
    for (std::uint32_t i = 0; i < kBucketSlots; ++i) {
      const xredir_odst_view_slot s = loadSlot(&slots[i]);
      if (s.family == 0) {
        if (free_slot[c] == nullptr) free_slot[c] = &slots[i];
        continue;
      }
      ++used[c];
      if (sameKey(s, key)) {
        same = &slots[i];
        break;
      }
    }
  }
  xredir_odst_view_slot* target = same;
  if (target == nullptr) {
    const int pick = (choices == 2 && (free_slot[0] == nullptr || used[1] < used[0])) ? 1 : 0;
    target = free_slot[pick];
  }
  if (target != nullptr) storeSlot(target, value);
  unlockBuckets(b);
  if (target == nullptr) {
    publish_full_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (same == nullptr) entries_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void SharedView::unpublish(std::uint8_t protocol,
                           const Endpoint& client,
                           const Endpoint& proxy) noexcept {
  const xredir_odst_view_key key = keyOf(protocol, client, proxy);
  std::uint32_t b[2];
  xredir_odst_view_buckets(xredir_odst_view_hash(hash_seed_, &key), bucket_count_, b);
  bool removed = false;
  lockBuckets(b);
  const int choices = b[1] == b[0] ? 1 : 2;
  for (int c = 0; c < choices && !removed; ++c) {
    xredir_odst_view_slot* slots = bucket(b[c]);
    for (std::uint32_t i = 0; i < kBucketSlots; ++i) {
      if (sameKey(loadSlot(&slots[i]), key)) {
        storeSlot(&slots[i], xredir_odst_view_slot{});  // all zero: empty, nothing stale left
        removed = true;
        break;
      }
    }
  }
  unlockBuckets(b);
  if (removed) entries_.fetch_sub(1, std::memory_order_relaxed);
}

SharedViewCounters SharedView::counters() const {
  SharedViewCounters c;
  c.slots = std::uint64_t{bucket_count_} * kBucketSlots;
  c.entries = entries_.load(std::memory_order_relaxed);
  c.publish_full = publish_full_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace xredir::odst
