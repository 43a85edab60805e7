// The shared view as the daemon wires it: conntrack's TranslationObserver publishing into a
// SharedView (daemon/conntrack_view_publisher.h). What a client reads from the view is exactly
// what ConntrackTable::originalDst answers for translated connections, both families, redirected
// and source-translated ones; untranslated and removed connections are not in it; and workers
// inserting and removing at once leave it exact (also run under ThreadSanitizer).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon/conntrack_view_publisher.h"
#include "odst/request_of.h"
#include "odst/shared_view.h"
#include "odst/view_reader.h"
#include "xredir/conntrack.h"

namespace xredir {
namespace {

Endpoint ep(const char* text) {
  return *parseEndpoint(text);
}

FlowTuple tuple(std::uint8_t proto, const std::string& src, const std::string& dst) {
  return FlowTuple::fromEndpoints(proto, *parseEndpoint(src), *parseEndpoint(dst));
}

NewConnection redirect(const FlowTuple& orig, const char* proxy_addr, std::uint16_t port) {
  NewConnection nc;
  nc.original = orig;
  nc.tcp_flags = orig.protocol == kIpProtoTcp ? kTcpSyn : 0;
  nc.translate_dst = true;
  nc.to_addr = parseIpAddr(proxy_addr)->bytes;
  nc.to_port_first = port;
  nc.to_port_last = port;
  return nc;
}

// Fixture: a view, the publisher, a table that tells it, and a reader of the view.
class ConntrackViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status status;
    view_ = odst::SharedView::create(1024, 7, status);
    ASSERT_TRUE(view_) << status.message();
    publisher_ = std::make_unique<ConntrackViewPublisher>(*view_);
    ConntrackConfig config;
    config.max_entries = 256;
    config.shard_count = 4;
    config.hash_seed = 11;
    config.translation_observer = publisher_.get();
    table_ = std::make_unique<ConntrackTable>(config);
    ASSERT_EQ(0, xredir_odst_view_validate(view_->base(), view_->bytes(), &map_));
  }
  // viewAnswer asks the view the question a proxy's socket (local = proxy, peer = client) asks.
  std::optional<Endpoint> viewAnswer(std::uint8_t protocol,
                                     const Endpoint& client,
                                     const Endpoint& proxy) const {
    const xredir_odst_view_key key = odst::viewKeyOf(protocol, client, proxy);
    xredir_odst_response resp{};
    if (xredir_odst_view_lookup(&map_, &key, &resp) != XREDIR_ODST_VIEW_HIT) return std::nullopt;
    Endpoint e;
    e.addr.family = resp.family == XREDIR_ODST_FAMILY_V6 ? Family::kV6 : Family::kV4;
    std::memcpy(e.addr.bytes.data(), resp.addr, 16);
    e.port = resp.port;
    return e;
  }

  std::unique_ptr<odst::SharedView> view_;
  std::unique_ptr<ConntrackViewPublisher> publisher_;
  std::unique_ptr<ConntrackTable> table_;
  xredir_odst_view_map map_{};
};

TEST_F(ConntrackViewTest, TheViewAnswersWhatOriginalDstAnswers) {
  NewConnection src_translated =
      redirect(tuple(kIpProtoTcp, "192.168.1.5:50000", "203.0.113.9:443"), "169.254.77.1", 15001);
  src_translated.translate_src = true;  // the OUTPUT hook: the proxy sees the next hop as client
  src_translated.src_to_addr = parseIpAddr("169.254.77.2")->bytes;
  struct Case {
    const char* name;
    NewConnection conn;
    bool translated;
  };
  const std::vector<Case> cases = {
      {"ipv4 tcp",
       redirect(tuple(kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:443"), "169.254.77.1", 15001),
       true},
      {"ipv4 udp",
       redirect(tuple(kIpProtoUdp, "10.0.0.1:40000", "203.0.113.7:53"), "169.254.77.1", 15053),
       true},
      {"ipv6 tcp",
       redirect(tuple(kIpProtoTcp, "[2001:db8::1]:40000", "[2001:db8:99::7]:443"),
                "fd78:7265:6469::1", 15001),
       true},
      {"source-translated", src_translated, true},
      {"redirected to itself",
       redirect(tuple(kIpProtoTcp, "10.0.0.3:1", "169.254.77.1:15001"), "169.254.77.1", 15001),
       false},
  };
  std::vector<FlowTuple> replies;
  for (const Case& c : cases) {
    const InsertResult r = table_->insert(c.conn, 0);
    ASSERT_EQ(InsertStatus::kInserted, r.status) << c.name;
    const FlowTuple reply = r.target.inverted();  // what the proxy's socket sees
    replies.push_back(reply);
    const OriginalDstResult truth = table_->originalDst(reply.protocol, reply.dst(), reply.src());
    const auto seen = viewAnswer(reply.protocol, reply.dst(), reply.src());
    EXPECT_EQ(c.translated, truth.status == OriginalDstStatus::kFound) << c.name;
    ASSERT_EQ(c.translated, seen.has_value()) << c.name;
    if (seen) {
      EXPECT_EQ(truth.dst, *seen) << c.name;
      EXPECT_EQ(c.conn.original.dst(), *seen) << c.name;
    }
  }
  EXPECT_EQ(4U, view_->counters().entries);
  for (const FlowTuple& reply : replies) ASSERT_TRUE(table_->remove(reply));
  for (const FlowTuple& reply : replies) {
    EXPECT_FALSE(viewAnswer(reply.protocol, reply.dst(), reply.src()));
  }
  EXPECT_EQ(0U, view_->counters().entries);
}

TEST_F(ConntrackViewTest, WorkersInsertingAndRemovingAtOnceLeaveTheViewExact) {
  // One shard: the client's port is then never remapped, so a reader can check an answer from
  // the client port it asked with.
  ConntrackConfig config;
  config.max_entries = 256;
  config.shard_count = 1;
  config.translation_observer = publisher_.get();
  table_ = std::make_unique<ConntrackTable>(config);
  constexpr int kWorkers = 2;
  constexpr int kRounds = 2000;
  std::atomic<int> done{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w + 1));
      std::vector<FlowTuple> mine;
      for (int round = 0; round < kRounds; ++round) {
        if (mine.size() < 40 && rng() % 3 != 0) {
          // Destination port encodes the client port: a reader can check an answer's consistency.
          const auto port = static_cast<std::uint16_t>(10000 + w * 1000 + rng() % 1000);
          const FlowTuple orig =
              tuple(kIpProtoTcp, "10.0." + std::to_string(w) + ".1:" + std::to_string(port),
                    "203.0.113.7:" + std::to_string(port ^ 0x4000));
          const InsertResult r = table_->insert(redirect(orig, "169.254.77.1", 15001), 0);
          if (r.status == InsertStatus::kInserted) mine.push_back(r.target.inverted());
        } else if (!mine.empty()) {
          const std::size_t i = rng() % mine.size();
          table_->remove(mine[i]);
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      done.fetch_add(1);
    });
  }
  threads.emplace_back([&] {
    std::mt19937 rng(99);
    while (done.load() < kWorkers) {
      const int w = static_cast<int>(rng() % kWorkers);
      const auto port = static_cast<std::uint16_t>(10000 + w * 1000 + rng() % 1000);
      const Endpoint client{*parseIpAddr("10.0." + std::to_string(w) + ".1"), port};
      const auto seen = viewAnswer(kIpProtoTcp, client, ep("169.254.77.1:15001"));
      if (seen && seen->port != (port ^ 0x4000)) wrong.fetch_add(1);
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(0, wrong.load());
  EXPECT_EQ(0U, view_->counters().publish_full);
  EXPECT_EQ(table_->size(), view_->counters().entries) << "every entry is translated";
}

}  // namespace
}  // namespace xredir
