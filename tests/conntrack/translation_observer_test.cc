// TranslationObserver: the table reports every translated connection when it is inserted and
// when it leaves by any path (remove, expiry seen by a packet, the reaper, early drop, a SYN
// reopening it, a RST before any reply, an insert replacing an expired entry), and a mirror kept
// from those calls alone always agrees with originalDst.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"
#include "xredir/conntrack.h"
#include "xredir/conntrack_clock.h"

namespace xredir {
namespace {

using cttest::noop;
using cttest::redirect;
using cttest::smallConfig;
using cttest::tuple;

// MirrorObserver keeps what the calls say is in the table, and every call in order.
class MirrorObserver final : public TranslationObserver {
 public:
  struct Entry {
    FlowTuple reply;
    Endpoint original_dst;
  };
  void onTranslatedInserted(const FlowTuple& reply, const Endpoint& original_dst) override {
    ++inserted;
    for (const Entry& e : entries) {
      if (e.reply == reply) ++duplicates;
    }
    entries.push_back({reply, original_dst});
  }
  void onTranslatedRemoved(const FlowTuple& reply) override {
    ++removed;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].reply == reply) {
        entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
    }
    ++unknown_removals;
  }
  const Entry* find(const FlowTuple& reply) const {
    for (const Entry& e : entries) {
      if (e.reply == reply) return &e;
    }
    return nullptr;
  }

  std::vector<Entry> entries;
  int inserted = 0;
  int removed = 0;
  int duplicates = 0;
  int unknown_removals = 0;
};

ConntrackConfig observed(std::uint32_t max_entries, std::uint32_t shards, MirrorObserver& o) {
  ConntrackConfig c = smallConfig(max_entries, shards);
  c.translation_observer = &o;
  return c;
}

TEST(ConntrackTranslationObserver, InsertReportsTheReplyTupleAndTheOriginalDestination) {
  MirrorObserver observer;
  // One shard: the client's port is kept (with more, it may be remapped to stay in the shard).
  ConntrackTable table(observed(64, 1, observer));
  const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:443");
  const InsertResult r = table.insert(redirect(orig, "169.254.77.1", 15001, 15001), 0);
  ASSERT_EQ(r.status, InsertStatus::kInserted);
  ASSERT_EQ(observer.entries.size(), 1U);
  // The reply tuple is what the proxy's socket sees: from the proxy to the client.
  EXPECT_EQ(observer.entries[0].reply, r.target.inverted());
  EXPECT_EQ(observer.entries[0].reply.src(), cttest::ep("169.254.77.1:15001"));
  EXPECT_EQ(observer.entries[0].reply.dst(), cttest::ep("10.0.0.1:40000"));
  EXPECT_EQ(observer.entries[0].original_dst, cttest::ep("203.0.113.7:443"));

  // IPv6 too; an untranslated (no-op) connection and a redirect to its own destination are not
  // translated and not reported.
  const FlowTuple v6 = tuple(kIpProtoUdp, "[2001:db8::1]:5353", "[2001:db8:99::7]:53");
  ASSERT_EQ(table.insert(redirect(v6, "fd00::77", 15053, 15053, 0), 0).status,
            InsertStatus::kInserted);
  EXPECT_EQ(observer.entries.size(), 2U);
  EXPECT_EQ(observer.entries[1].original_dst, cttest::ep("[2001:db8:99::7]:53"));
  ASSERT_EQ(table.insert(noop(tuple(kIpProtoTcp, "10.0.0.2:1", "10.0.0.9:22")), 0).status,
            InsertStatus::kInserted);
  const FlowTuple to_self = tuple(kIpProtoTcp, "10.0.0.3:1", "169.254.77.1:15001");
  ASSERT_EQ(table.insert(redirect(to_self, "169.254.77.1", 15001, 15001), 0).status,
            InsertStatus::kInserted);
  EXPECT_EQ(observer.inserted, 2);
  EXPECT_EQ(
      table.originalDst(kIpProtoTcp, cttest::ep("10.0.0.3:1"), cttest::ep("169.254.77.1:15001"))
          .status,
      OriginalDstStatus::kNotTranslated);
}

TEST(ConntrackTranslationObserver, EveryRemovalPathReportsTheConnection) {
  constexpr std::uint64_t kSec = kNanosPerSecond;
  const FlowTuple orig = tuple(kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:443");
  struct Case {
    const char* name;
    std::uint32_t capacity;  // one shard
    // remove takes the connection out of the table; reply is its reply tuple, now its clock.
    std::function<void(ConntrackTable&, const FlowTuple& reply, std::uint64_t now)> remove;
  };
  const std::vector<Case> cases = {
      {"remove() by the original tuple", 8,
       [&](ConntrackTable& t, const FlowTuple&, std::uint64_t) { ASSERT_TRUE(t.remove(orig)); }},
      {"remove() by the reply tuple", 8,
       [](ConntrackTable& t, const FlowTuple& reply, std::uint64_t) {
         ASSERT_TRUE(t.remove(reply));
       }},
      {"a packet finds it expired", 8,
       [](ConntrackTable& t, const FlowTuple& reply, std::uint64_t now) {
         // SYN_SENT lives 120 s.
         EXPECT_EQ(t.trackPacket(reply, kTcpSyn | kTcpAck, now + 121 * kSec).status,
                   TrackStatus::kMiss);
       }},
      {"the reaper", 8,
       [](ConntrackTable& t, const FlowTuple&, std::uint64_t now) {
         EXPECT_EQ(t.reapSlice(now + 121 * kSec, 1024).reaped, 1U);
       }},
      {"early drop evicts it", 1,
       [](ConntrackTable& t, const FlowTuple&, std::uint64_t now) {
         const FlowTuple other = tuple(kIpProtoTcp, "10.0.0.2:40000", "10.0.0.9:22");
         const InsertResult r = t.insert(noop(other), now + kSec);
         ASSERT_EQ(r.status, InsertStatus::kInserted);
         EXPECT_TRUE(r.evicted);
       }},
      {"a SYN reopens it after a RST", 8,
       [&](ConntrackTable& t, const FlowTuple& reply, std::uint64_t now) {
         ASSERT_EQ(t.trackPacket(reply, kTcpSyn | kTcpAck, now + 1).status, TrackStatus::kHit);
         ASSERT_EQ(t.trackPacket(orig, kTcpAck, now + 2).status, TrackStatus::kHit);
         ASSERT_EQ(t.trackPacket(orig, kTcpRst, now + 3).status, TrackStatus::kHit);
         EXPECT_EQ(t.trackPacket(orig, kTcpSyn, now + 4).status, TrackStatus::kMiss);
       }},
      {"a RST before any reply kills it", 8,
       [&](ConntrackTable& t, const FlowTuple&, std::uint64_t now) {
         EXPECT_EQ(t.trackPacket(orig, kTcpRst, now + 1).status, TrackStatus::kHit);
       }},
      {"an insert replaces it when expired", 8,
       [&](ConntrackTable& t, const FlowTuple&, std::uint64_t now) {
         // The same client port again, after the old entry expired: a new connection.
         ASSERT_EQ(t.insert(redirect(orig, "169.254.77.1", 15001, 15001), now + 121 * kSec).status,
                   InsertStatus::kInserted);
       }},
  };
  for (const Case& c : cases) {
    MirrorObserver observer;
    ConntrackTable table(observed(c.capacity, 1, observer));
    const std::uint64_t now = kSec;
    const InsertResult r = table.insert(redirect(orig, "169.254.77.1", 15001, 15001), now);
    ASSERT_EQ(r.status, InsertStatus::kInserted) << c.name;
    const FlowTuple reply = r.target.inverted();
    ASSERT_NE(observer.find(reply), nullptr) << c.name;
    c.remove(table, reply, now);
    EXPECT_EQ(observer.removed, 1) << c.name;
    EXPECT_EQ(observer.unknown_removals, 0) << c.name;
    // The mirror now agrees with the table: either empty, or (the replacing insert) the new one.
    const OriginalDstResult answer = table.originalDst(kIpProtoTcp, reply.dst(), reply.src());
    const MirrorObserver::Entry* mirrored = observer.find(reply);
    EXPECT_EQ(mirrored != nullptr, answer.status == OriginalDstStatus::kFound) << c.name;
    EXPECT_EQ(observer.entries.size(), static_cast<std::size_t>(observer.inserted - 1)) << c.name;
  }
}

TEST(ConntrackTranslationObserver, UntranslatedConnectionsAreNeverReported) {
  MirrorObserver observer;
  ConntrackTable table(observed(4, 1, observer));
  for (int i = 0; i < 8; ++i) {  // fills the table and evicts
    const FlowTuple t =
        tuple(kIpProtoUdp, "10.0.0." + std::to_string(i + 1) + ":1000", "10.1.0.1:53");
    ASSERT_EQ(table.insert(noop(t, 0), i).status, InsertStatus::kInserted);
  }
  table.reapSlice(1000 * kNanosPerSecond, 64);
  EXPECT_EQ(observer.inserted + observer.removed, 0);
}

// A random workload over a small table (so that early drop, expiry and reopening all happen):
// after every step, the mirror built from the observer's calls alone answers exactly what
// originalDst answers, for every connection ever inserted.
TEST(ConntrackTranslationObserver, MirrorAgreesWithOriginalDstUnderARandomWorkload) {
  MirrorObserver observer;
  ConntrackTable table(observed(64, 4, observer));
  std::mt19937 rng(7);
  ManualClock clock;
  struct Known {
    FlowTuple orig;
    FlowTuple reply;
  };
  std::vector<Known> known;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 100);
    const std::string client = "10.0." + std::to_string(rng() % 4) + "." +
                               std::to_string(1 + rng() % 8) + ":" +
                               std::to_string(40000 + rng() % 16);
    const bool udp = rng() % 4 == 0;
    const FlowTuple orig = tuple(udp ? kIpProtoUdp : kIpProtoTcp, client,
                                 "203.0.113." + std::to_string(rng() % 4) + ":443");
    if (op < 40) {
      const bool translate = rng() % 4 != 0;
      const std::uint8_t flags = udp ? 0 : kTcpSyn;
      const InsertResult r =
          translate
              ? table.insert(redirect(orig, "169.254.77.1", 15001, 15002, flags), clock.nowNs())
              : table.insert(noop(orig, flags), clock.nowNs());
      if (r.status == InsertStatus::kInserted) known.push_back({orig, r.target.inverted()});
    } else if (op < 80 && !known.empty()) {
      const Known& k = known[rng() % known.size()];
      static constexpr std::uint8_t kFlags[] = {kTcpSyn, kTcpSyn | kTcpAck, kTcpAck,
                                                kTcpFin | kTcpAck, kTcpRst};
      const std::uint8_t flags = k.orig.protocol == kIpProtoUdp ? 0 : kFlags[rng() % 5];
      table.trackPacket(rng() % 2 ? k.orig : k.reply, flags, clock.nowNs());
    } else if (op < 85 && !known.empty()) {
      table.remove(known[rng() % known.size()].orig);
    } else if (op < 95) {
      clock.advanceSeconds(rng() % 40);
    } else {
      table.reapSlice(clock.nowNs(), 16);
    }
    if (step % 97 != 0 && step != 19999) continue;
    for (const Known& k : known) {
      const OriginalDstResult a = table.originalDst(k.reply.protocol, k.reply.dst(), k.reply.src());
      const MirrorObserver::Entry* m = observer.find(k.reply);
      ASSERT_EQ(m != nullptr, a.status == OriginalDstStatus::kFound) << "step " << step;
      if (m != nullptr) {
        ASSERT_EQ(m->original_dst, a.dst) << "step " << step;
      }
    }
  }
  EXPECT_EQ(observer.duplicates, 0);
  EXPECT_EQ(observer.unknown_removals, 0);
  EXPECT_GT(observer.removed, 100);  // the workload did remove by the various paths
  EXPECT_GT(table.totalCounters().evictions, 0U);
}

}  // namespace
}  // namespace xredir
