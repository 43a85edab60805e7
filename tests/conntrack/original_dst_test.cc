// originalDst: the SO_ORIGINAL_DST answer and its precise errors, IPv4 and IPv6.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "xredir/conntrack.h"

namespace xredir {
namespace {

using cttest::ep;
using cttest::noop;
using cttest::redirect;
using cttest::smallConfig;
using cttest::tuple;

TEST(ConntrackOriginalDst, AnswersAndErrors) {
  ConntrackTable table(smallConfig(256, 8));
  struct Flow {
    std::uint8_t proto;
    const char* client;
    const char* dst;
    const char* proxy_addr;  // nullptr: no-op entry
  };
  const std::vector<Flow> flows = {
      {kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:443", "169.254.77.1"},
      {kIpProtoUdp, "10.0.0.1:40001", "203.0.113.7:53", "169.254.77.1"},
      {kIpProtoTcp, "[2001:db8::1]:40000", "[2001:db8:99::7]:443", "fd00::77"},
      {kIpProtoTcp, "10.0.0.2:40000", "10.0.0.9:22", nullptr},
      {kIpProtoTcp, "[2001:db8::2]:40000", "[2001:db8::9]:22", nullptr},
  };
  std::vector<InsertResult> inserted;
  for (const Flow& f : flows) {
    const FlowTuple t = tuple(f.proto, f.client, f.dst);
    const InsertResult r =
        f.proxy_addr
            ? table.insert(
                  redirect(t, f.proxy_addr, 15001, 15001, f.proto == kIpProtoTcp ? kTcpSyn : 0), 0)
            : table.insert(noop(t), 0);
    ASSERT_EQ(r.status, InsertStatus::kInserted) << f.client;
    inserted.push_back(r);
  }

  struct Query {
    const char* name;
    std::uint8_t proto;
    Endpoint client;
    Endpoint proxy;
    OriginalDstStatus want;
    const char* want_dst;
  };
  const std::vector<Query> queries = {
      {"v4 tcp redirected", kIpProtoTcp, inserted[0].target.src(), inserted[0].target.dst(),
       OriginalDstStatus::kFound, "203.0.113.7:443"},
      {"v4 udp redirected", kIpProtoUdp, inserted[1].target.src(), inserted[1].target.dst(),
       OriginalDstStatus::kFound, "203.0.113.7:53"},
      {"v6 tcp redirected", kIpProtoTcp, inserted[2].target.src(), inserted[2].target.dst(),
       OriginalDstStatus::kFound, "[2001:db8:99::7]:443"},
      {"v4 protocol mismatch", kIpProtoUdp, inserted[0].target.src(), inserted[0].target.dst(),
       OriginalDstStatus::kNotTracked, nullptr},
      {"v4 unknown client port", kIpProtoTcp, ep("10.0.0.1:1"), ep("169.254.77.1:15001"),
       OriginalDstStatus::kNotTracked, nullptr},
      {"v6 unknown", kIpProtoTcp, ep("[2001:db8::5]:40000"), ep("[fd00::77]:15001"),
       OriginalDstStatus::kNotTracked, nullptr},
      {"v4 not translated", kIpProtoTcp, ep("10.0.0.2:40000"), ep("10.0.0.9:22"),
       OriginalDstStatus::kNotTranslated, nullptr},
      {"v6 not translated", kIpProtoTcp, ep("[2001:db8::2]:40000"), ep("[2001:db8::9]:22"),
       OriginalDstStatus::kNotTranslated, nullptr},
      // The original direction of a connection: the "proxy" endpoint opened it itself.
      {"asked from the wrong side", kIpProtoTcp, ep("10.0.0.9:22"), ep("10.0.0.2:40000"),
       OriginalDstStatus::kNotTranslated, nullptr},
      {"icmp", kIpProtoIcmp, inserted[0].target.src(), inserted[0].target.dst(),
       OriginalDstStatus::kUnsupportedProtocol, nullptr},
      {"mixed families", kIpProtoTcp, ep("10.0.0.1:40000"), ep("[fd00::77]:15001"),
       OriginalDstStatus::kNotTracked, nullptr},
  };
  for (const Query& q : queries) {
    const OriginalDstResult r = table.originalDst(q.proto, q.client, q.proxy);
    EXPECT_EQ(r.status, q.want) << q.name;
    if (q.want_dst) {
      EXPECT_EQ(formatEndpoint(r.dst), q.want_dst) << q.name;
    }
  }
}

TEST(ConntrackOriginalDst, ForgetsRemovedConnections) {
  ConntrackTable table(smallConfig(64, 2));
  const FlowTuple t = tuple(kIpProtoTcp, "10.0.0.1:40000", "203.0.113.7:443");
  const InsertResult r = table.insert(redirect(t, "169.254.77.1", 15001, 15001), 0);
  ASSERT_EQ(r.status, InsertStatus::kInserted);
  ASSERT_EQ(table.originalDst(kIpProtoTcp, r.target.src(), r.target.dst()).status,
            OriginalDstStatus::kFound);
  EXPECT_TRUE(table.remove(r.target.inverted()));
  EXPECT_EQ(table.originalDst(kIpProtoTcp, r.target.src(), r.target.dst()).status,
            OriginalDstStatus::kNotTracked);
  EXPECT_FALSE(table.remove(t));
}

}  // namespace
}  // namespace xredir
