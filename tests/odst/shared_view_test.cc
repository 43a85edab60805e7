// Tests of the shared original-destination view, writer (SharedView) against reader
// (view_reader.c): published keys are found and removed ones are not, both families, full
// buckets, the layout of odst_view.h, what a client's descriptor allows (nothing but reading),
// the owner's retirement and death, and writers and readers at once (also under ThreadSanitizer:
// the readers read the writer's own mapping so that the tool sees both sides).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "odst/fake_source.h"
#include "odst/request_of.h"
#include "odst/shared_view.h"
#include "odst/view_reader.h"

namespace xredir::odst {
namespace {

using testing::ep;

std::unique_ptr<SharedView> makeView(std::uint64_t slots, std::uint64_t seed = 99) {
  Status status;
  auto view = SharedView::create(slots, seed, status);
  EXPECT_TRUE(view) << status.message();
  return view;
}

// Reader looks keys up in a mapping of a view, as the client library does.
struct Reader {
  xredir_odst_view_map map{};
  bool valid = false;
  explicit Reader(const void* base, std::uint64_t bytes) {
    valid = xredir_odst_view_validate(base, bytes, &map) == 0;
  }
  // find returns the answer, or nullopt on a miss; a hit must be an OK response.
  std::optional<Endpoint> find(std::uint8_t protocol,
                               const Endpoint& client,
                               const Endpoint& proxy,
                               xredir_odst_view_outcome* outcome = nullptr) const {
    const xredir_odst_view_key key = viewKeyOf(protocol, client, proxy);
    xredir_odst_response resp{};
    const xredir_odst_view_outcome o = xredir_odst_view_lookup(&map, &key, &resp);
    if (outcome != nullptr) *outcome = o;
    if (o != XREDIR_ODST_VIEW_HIT) return std::nullopt;
    EXPECT_EQ(XREDIR_ODST_OK, resp.status);
    Endpoint e;
    e.addr.family = resp.family == XREDIR_ODST_FAMILY_V6 ? Family::kV6 : Family::kV4;
    std::memcpy(e.addr.bytes.data(), resp.addr, 16);
    e.port = resp.port;
    return e;
  }
};

TEST(OdstSharedView, PublishedKeysAreFoundAndRemovedOnesAreNot) {
  auto view = makeView(64);
  ASSERT_TRUE(view);
  const Reader reader(view->base(), view->bytes());
  ASSERT_TRUE(reader.valid);
  const Endpoint client = ep("10.0.0.1:40000"), proxy = ep("169.254.77.1:15001");
  const Endpoint client6 = ep("[2001:db8::1]:40000"), proxy6 = ep("[fd78:7265:6469::1]:15001");
  EXPECT_FALSE(reader.find(6, client, proxy));

  ASSERT_TRUE(view->publish(6, client, proxy, ep("203.0.113.7:443")));
  ASSERT_TRUE(view->publish(6, client6, proxy6, ep("[2001:db8:99::7]:8443")));
  EXPECT_EQ(ep("203.0.113.7:443"), reader.find(6, client, proxy));
  EXPECT_EQ(ep("[2001:db8:99::7]:8443"), reader.find(6, client6, proxy6));
  EXPECT_EQ(2U, view->counters().entries);
  // Every part of the key counts: protocol, either port, either address.
  EXPECT_FALSE(reader.find(17, client, proxy));
  EXPECT_FALSE(reader.find(6, ep("10.0.0.1:40001"), proxy));
  EXPECT_FALSE(reader.find(6, client, ep("169.254.77.1:15002")));
  EXPECT_FALSE(reader.find(6, ep("10.0.0.2:40000"), proxy));
  EXPECT_FALSE(reader.find(6, client, ep("169.254.77.2:15001")));

  // Publishing the same key again replaces its answer (one entry, not two).
  ASSERT_TRUE(view->publish(6, client, proxy, ep("198.51.100.9:80")));
  EXPECT_EQ(ep("198.51.100.9:80"), reader.find(6, client, proxy));
  EXPECT_EQ(2U, view->counters().entries);

  view->unpublish(6, client, proxy);
  EXPECT_FALSE(reader.find(6, client, proxy));
  EXPECT_EQ(ep("[2001:db8:99::7]:8443"), reader.find(6, client6, proxy6));
  view->unpublish(6, client, proxy);  // not there any more: nothing happens
  EXPECT_EQ(1U, view->counters().entries);
  EXPECT_EQ(0U, view->counters().publish_full);
}

TEST(OdstSharedView, AFullBucketIsCountedAndTheKeyLeftToTheSocket) {
  // Four slots make one bucket, so both choices of every key are that bucket.
  auto view = makeView(4);
  ASSERT_TRUE(view);
  const Reader reader(view->base(), view->bytes());
  ASSERT_TRUE(reader.valid);
  const Endpoint proxy = ep("169.254.77.1:15001");
  auto client = [](int i) { return Endpoint{IpAddr::fromV4(0x0a000001), std::uint16_t(1000 + i)}; };
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(view->publish(6, client(i), proxy, ep("192.0.2.1:1")));
  EXPECT_FALSE(view->publish(6, client(4), proxy, ep("192.0.2.1:1")));
  EXPECT_EQ(1U, view->counters().publish_full);
  EXPECT_FALSE(reader.find(6, client(4), proxy));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(reader.find(6, client(i), proxy)) << i;
  // A freed slot takes the next key.
  view->unpublish(6, client(2), proxy);
  EXPECT_TRUE(view->publish(6, client(4), proxy, ep("192.0.2.4:4")));
  EXPECT_EQ(ep("192.0.2.4:4"), reader.find(6, client(4), proxy));
  EXPECT_EQ(4U, view->counters().entries);
}

TEST(OdstSharedView, TwoChoicesKeepFullBucketsRare) {
  // 4096 slots in 1024 buckets of 4. With one choice per key, 2% of the keys find their bucket
  // full at half load and 16% at 90% load (balls into bins); with the less full of two, none at
  // half load and about 4% at 90%.
  auto view = makeView(4096, 12345);
  ASSERT_TRUE(view);
  std::mt19937 rng(1);
  const Endpoint proxy = ep("169.254.77.1:15001");
  std::uint64_t failed_at_half = 0;
  for (int i = 0; i < 3686; ++i) {
    const Endpoint client{IpAddr::fromV4(0x0a000000u + rng() % 65536), std::uint16_t(rng())};
    view->publish(6, client, proxy, ep("192.0.2.1:1"));
    if (i == 2047) failed_at_half = view->counters().publish_full;
  }
  EXPECT_EQ(0U, failed_at_half);
  EXPECT_LT(view->counters().publish_full, 250U);  // 6.8%
  EXPECT_EQ(3686U - view->counters().publish_full, view->counters().entries);
}

TEST(OdstSharedView, TheHeaderIsTheDocumentedLayout) {
  auto view = makeView(1000, 0xfeedULL);
  ASSERT_TRUE(view);
  xredir_odst_view_header h;
  std::memcpy(&h, view->base(), sizeof(h));
  EXPECT_EQ(XREDIR_ODST_VIEW_MAGIC, h.magic);
  EXPECT_EQ(1U, h.layout);
  EXPECT_EQ(128U, h.header_bytes);
  EXPECT_EQ(64U, h.slot_bytes);
  EXPECT_EQ(4U, h.bucket_slots);
  EXPECT_EQ(250U, h.bucket_count);
  EXPECT_EQ(128U + 250U * 4 * 64, h.total_bytes);
  EXPECT_EQ(h.total_bytes, view->bytes());
  EXPECT_EQ(0xfeedULL, h.hash_seed);
  EXPECT_TRUE(xredir_odst_view_owner_alive(h.owner));
  EXPECT_NE(static_cast<std::uint32_t>(::gettid()), h.owner & XREDIR_ODST_VIEW_OWNER_TID_MASK)
      << "held by the keeper thread, not by the creating one";
  EXPECT_EQ(1000U, view->counters().slots);
  EXPECT_EQ(XREDIR_ODST_VIEW_LAYOUT, view->offer().layout);
  EXPECT_EQ(view->bytes(), view->offer().bytes);
}

TEST(OdstSharedView, AClientsDescriptorCanOnlyRead) {
  auto view = makeView(64);
  ASSERT_TRUE(view);
  const int fd = view->readOnlyFd();
  EXPECT_EQ(O_RDONLY, ::fcntl(fd, F_GETFL) & O_ACCMODE);
  const int seals = ::fcntl(fd, F_GET_SEALS);
  EXPECT_EQ(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL,
            seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL));
  EXPECT_EQ(MAP_FAILED, ::mmap(nullptr, view->bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  EXPECT_LT(::write(fd, "x", 1), 0);
  EXPECT_NE(0, ::ftruncate(fd, 0));
  EXPECT_NE(0, ::fcntl(fd, F_ADD_SEALS, 0));  // F_SEAL_SEAL: the seals stay
  // Reopening through /proc gives a writable description (root may), but the seals still
  // refuse every write and every writable shared mapping.
  const int rw = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDWR | O_CLOEXEC);
  if (rw >= 0) {
    EXPECT_LT(::pwrite(rw, "x", 1, 200), 0);
    EXPECT_EQ(EPERM, errno);
    EXPECT_EQ(MAP_FAILED,
              ::mmap(nullptr, view->bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0));
    ::close(rw);
  }
  // A read-only mapping sees what the writer writes.
  void* ro = ::mmap(nullptr, view->bytes(), PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(MAP_FAILED, ro);
  EXPECT_EQ(0, ::mprotect(ro, view->bytes(), PROT_READ));
  EXPECT_NE(0, ::mprotect(ro, view->bytes(), PROT_READ | PROT_WRITE));
  const Reader reader(ro, view->bytes());
  ASSERT_TRUE(reader.valid);
  ASSERT_TRUE(view->publish(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"), ep("192.0.2.1:80")));
  EXPECT_EQ(ep("192.0.2.1:80"), reader.find(6, ep("10.0.0.1:1"), ep("10.0.0.2:2")));
  ::munmap(ro, view->bytes());
}

TEST(OdstSharedView, RetiringOrDestroyingTheViewRetiresItForReaders) {
  auto view = makeView(64);
  ASSERT_TRUE(view);
  const std::uint64_t bytes = view->bytes();
  void* ro = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, view->readOnlyFd(), 0);
  ASSERT_NE(MAP_FAILED, ro);
  ASSERT_TRUE(view->publish(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"), ep("192.0.2.1:80")));
  const Reader reader(ro, bytes);
  ASSERT_TRUE(reader.valid);
  EXPECT_TRUE(reader.find(6, ep("10.0.0.1:1"), ep("10.0.0.2:2")));
  view->retire();  // what the daemon does as it stops
  xredir_odst_view_outcome outcome{};
  EXPECT_FALSE(reader.find(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"), &outcome));
  EXPECT_EQ(XREDIR_ODST_VIEW_RETIRED, outcome);
  EXPECT_TRUE(view->publish(6, ep("10.0.0.3:3"), ep("10.0.0.2:2"), ep("192.0.2.3:80")))
      << "writing to a retired view is harmless";
  EXPECT_FALSE(reader.find(6, ep("10.0.0.3:3"), ep("10.0.0.2:2"), &outcome));
  EXPECT_EQ(XREDIR_ODST_VIEW_RETIRED, outcome);
  view.reset();
  EXPECT_FALSE(reader.find(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"), &outcome));
  EXPECT_EQ(XREDIR_ODST_VIEW_RETIRED, outcome);
  EXPECT_FALSE(reader.find(6, ep("10.0.0.9:9"), ep("10.0.0.2:2"), &outcome));
  EXPECT_EQ(XREDIR_ODST_VIEW_RETIRED, outcome) << "noticed on a miss too";
  xredir_odst_view_map again{};
  EXPECT_NE(0, xredir_odst_view_validate(ro, bytes, &again)) << "a retired view is refused";
  ::munmap(ro, bytes);
}

// sendFd / receiveFd pass a descriptor between the test and its forked writer.
void sendFd(int sock, int fd) {
  char byte = 'v';
  iovec iov{&byte, 1};
  union {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int))];
  } control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  [[maybe_unused]] ssize_t n = ::sendmsg(sock, &msg, 0);
}

int receiveFd(int sock) {
  char byte;
  iovec iov{&byte, 1};
  union {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int))];
  } control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);
  if (::recvmsg(sock, &msg, 0) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

TEST(OdstSharedView, AKilledWritersViewAnswersNothing) {
  int sv[2];
  ASSERT_EQ(0, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
  const pid_t child = ::fork();
  if (child == 0) {
    // The writer: a view with one answer, its descriptor sent, then it waits to be killed.
    ::close(sv[0]);
    Status status;
    auto view = SharedView::create(64, 5, status);
    if (!view || !view->publish(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"), ep("192.0.2.1:80"))) {
      ::_exit(1);
    }
    sendFd(sv[1], view->readOnlyFd());
    for (;;) ::pause();
  }
  ::close(sv[1]);
  const int fd = receiveFd(sv[0]);
  ::close(sv[0]);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(0, ::fstat(fd, &st));
  void* ro = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(MAP_FAILED, ro);
  const Reader reader(ro, static_cast<std::uint64_t>(st.st_size));
  ASSERT_TRUE(reader.valid);
  EXPECT_EQ(ep("192.0.2.1:80"), reader.find(6, ep("10.0.0.1:1"), ep("10.0.0.2:2")));

  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  xredir_odst_view_header h;
  std::memcpy(&h, ro, sizeof(h));
  EXPECT_NE(0U, h.owner & XREDIR_ODST_VIEW_OWNER_DIED) << "the kernel marked the owner dead";
  xredir_odst_view_outcome outcome{};
  EXPECT_FALSE(reader.find(6, ep("10.0.0.1:1"), ep("10.0.0.2:2"), &outcome));
  EXPECT_EQ(XREDIR_ODST_VIEW_RETIRED, outcome);
  ::munmap(ro, static_cast<std::size_t>(st.st_size));
}

// answerFor is the answer every writer publishes for client port `port`: readers can tell a
// torn entry (parts of two answers) from a whole one.
Endpoint answerFor(std::uint16_t port) {
  return Endpoint{IpAddr::fromV4(0xc0000000u | port), static_cast<std::uint16_t>(port ^ 0x5a5a)};
}

TEST(OdstSharedView, WritersAndReadersAtOnceNeverShowATornEntry) {
  // 64 slots for 96 keys: buckets fill and empty all the time, so slots are reused while read.
  auto view = makeView(64);
  ASSERT_TRUE(view);
  const Reader reader(view->base(), view->bytes());
  ASSERT_TRUE(reader.valid);
  const Endpoint proxy = ep("169.254.77.1:15001");
  constexpr int kWriters = 2;
  constexpr int kKeysPerWriter = 48;
  constexpr int kRounds = 3000;
  constexpr std::uint64_t kMinReads = 50000;  // writers keep going until readers did this many
  // ... and until readers saw this many whole entries: on a loaded machine a reader that shares
  // its core with a writer can spend a whole run inside reads the writer keeps changing (each
  // one, rightly, not an answer), which tests nothing. Bounded, so a view that never answers
  // fails below instead of hanging.
  constexpr std::uint64_t kMinHits = 1000;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::atomic<std::uint64_t> reads{0};
  std::atomic<int> writers_done{0};
  std::atomic<int> torn{0};
  std::atomic<std::uint64_t> hits{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      for (int round = 0; round < kRounds || reads.load() < kMinReads ||
                          (hits.load() < kMinHits && std::chrono::steady_clock::now() < give_up);
           ++round) {
        if (round % 64 == 0) std::this_thread::yield();  // let a reader on this core finish
        const auto port =
            static_cast<std::uint16_t>(1000 + w * kKeysPerWriter + rng() % kKeysPerWriter);
        const Endpoint client{IpAddr::fromV4(0x0a000001), port};
        if (rng() % 2) {
          view->publish(6, client, proxy, answerFor(port));
        } else {
          view->unpublish(6, client, proxy);
        }
      }
      writers_done.fetch_add(1);
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(100 + r));
      while (writers_done.load() < kWriters) {
        const auto port = static_cast<std::uint16_t>(1000 + rng() % (kWriters * kKeysPerWriter));
        const auto found = reader.find(6, Endpoint{IpAddr::fromV4(0x0a000001), port}, proxy);
        reads.fetch_add(1);
        if (!found) continue;
        hits.fetch_add(1);
        if (*found != answerFor(port)) torn.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(0, torn.load());
  EXPECT_GE(hits.load(), kMinHits);
  // Afterwards the count matches what the view holds.
  std::uint64_t present = 0;
  for (int port = 1000; port < 1000 + kWriters * kKeysPerWriter; ++port) {
    present += reader.find(6, Endpoint{IpAddr::fromV4(0x0a000001), std::uint16_t(port)}, proxy)
                   .has_value();
  }
  EXPECT_EQ(present, view->counters().entries);
}

}  // namespace
}  // namespace xredir::odst
