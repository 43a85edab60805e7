// Tests for answerRequests (framing, lookups, statuses, when to close) and the AccessPolicy,
// without sockets.
#include "odst/request_handler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "odst/access_policy.h"
#include "odst/fake_source.h"
#include "odst_test_support.h"

namespace xredir::odst {
namespace {

using testing::ep;
using testing::FakeSource;
using testing::translated;

std::vector<std::uint8_t> request(const char* client, const char* proxy, std::uint8_t proto = 6) {
  return testing::encodeRequest(proto, ep(client), ep(proxy));
}

std::vector<xredir_odst_response> decodeAll(const std::vector<std::uint8_t>& out, std::size_t n) {
  std::vector<xredir_odst_response> v;
  for (std::size_t off = 0; off + XREDIR_ODST_RESPONSE_SIZE <= n;
       off += XREDIR_ODST_RESPONSE_SIZE) {
    xredir_odst_response r{};
    EXPECT_EQ(0, xredir_odst_decode_response(out.data() + off, &r));
    v.push_back(r);
  }
  return v;
}

TEST(AnswerRequests, EachOutcomeOfTheSourceBecomesItsStatus) {
  FakeSource source;
  source.set({6, ep("10.0.0.1:40000"), ep("169.254.77.1:15001")}, translated("203.0.113.7:443"));
  source.set({6, ep("10.0.0.2:40000"), ep("169.254.77.1:15001")},
             LookupResult{LookupOutcome::kNotTranslated, {}});
  source.set({6, ep("10.0.0.3:40000"), ep("169.254.77.1:15001")},
             LookupResult{LookupOutcome::kUnknown, {}});
  source.set({6, ep("[2001:db8::1]:5000"), ep("[fd00::1]:15001")},
             translated("[2001:db8::99]:8443"));
  struct Case {
    const char* client;
    const char* proxy;
    std::uint8_t want_status;
    const char* want_original;  // nullptr unless OK
  };
  const Case cases[] = {
      {"10.0.0.1:40000", "169.254.77.1:15001", XREDIR_ODST_OK, "203.0.113.7:443"},
      {"10.0.0.2:40000", "169.254.77.1:15001", XREDIR_ODST_NOT_TRANSLATED, nullptr},
      {"10.0.0.3:40000", "169.254.77.1:15001", XREDIR_ODST_NOT_TRACKED, nullptr},
      {"10.0.0.9:40000", "169.254.77.1:15001", XREDIR_ODST_NOT_TRACKED, nullptr},
      {"[2001:db8::1]:5000", "[fd00::1]:15001", XREDIR_ODST_OK, "[2001:db8::99]:8443"},
  };
  for (const Case& c : cases) {
    ServerCounters counters;
    const std::vector<std::uint8_t> in = request(c.client, c.proxy);
    std::vector<std::uint8_t> out(XREDIR_ODST_RESPONSE_SIZE);
    const BatchResult r = answerRequests(in, source, counters, out);
    ASSERT_EQ(XREDIR_ODST_REQUEST_SIZE, r.consumed) << c.client;
    ASSERT_EQ(XREDIR_ODST_RESPONSE_SIZE, r.produced);
    EXPECT_FALSE(r.close);
    const auto resp = decodeAll(out, r.produced);
    EXPECT_EQ(c.want_status, resp[0].status) << c.client;
    if (c.want_original != nullptr) {
      const Endpoint want = ep(c.want_original);
      EXPECT_EQ(want.addr.family == Family::kV6 ? 6 : 4, resp[0].family);
      EXPECT_EQ(0, std::memcmp(want.addr.bytes.data(), resp[0].addr, 16));
      EXPECT_EQ(want.port, resp[0].port);
    }
    EXPECT_EQ(1u, counters.snapshot(0).by_status[c.want_status]);
  }
}

TEST(AnswerRequests, PassesTheProtocolAndBothEndpointsToTheSource) {
  FakeSource source;
  ServerCounters counters;
  const auto in = request("10.1.2.3:1234", "10.9.8.7:15001", 132);
  std::vector<std::uint8_t> out(XREDIR_ODST_RESPONSE_SIZE);
  (void)answerRequests(in, source, counters, out);
  ASSERT_EQ(1u, source.asked().size());
  EXPECT_EQ(132, source.asked()[0].protocol);
  EXPECT_EQ(ep("10.1.2.3:1234"), source.asked()[0].client);
  EXPECT_EQ(ep("10.9.8.7:15001"), source.asked()[0].proxy);
}

TEST(AnswerRequests, PipelinedRequestsAreAnsweredInOrderAndAPartialOneWaits) {
  FakeSource source;
  source.set({6, ep("10.0.0.1:1"), ep("10.0.0.9:2")}, translated("1.1.1.1:11"));
  source.set({6, ep("10.0.0.2:1"), ep("10.0.0.9:2")}, translated("2.2.2.2:22"));
  ServerCounters counters;
  std::vector<std::uint8_t> in;
  for (const char* c : {"10.0.0.2:1", "10.0.0.1:1", "10.0.0.7:1"}) {
    const auto r = request(c, "10.0.0.9:2");
    in.insert(in.end(), r.begin(), r.end());
  }
  const auto partial = request("10.0.0.1:1", "10.0.0.9:2");
  in.insert(in.end(), partial.begin(), partial.begin() + 20);
  std::vector<std::uint8_t> out(8 * XREDIR_ODST_RESPONSE_SIZE);
  const BatchResult r = answerRequests(in, source, counters, out);
  EXPECT_EQ(3u * XREDIR_ODST_REQUEST_SIZE, r.consumed);
  const auto resp = decodeAll(out, r.produced);
  ASSERT_EQ(3u, resp.size());
  EXPECT_EQ(22, resp[0].port);
  EXPECT_EQ(11, resp[1].port);
  EXPECT_EQ(XREDIR_ODST_NOT_TRACKED, resp[2].status);
  EXPECT_EQ(3u, counters.snapshot(0).queries);
}

TEST(AnswerRequests, StopsWhenTheOutputIsFull) {
  FakeSource source;
  ServerCounters counters;
  std::vector<std::uint8_t> in;
  for (int i = 0; i < 3; ++i) {
    const auto r = request("10.0.0.1:1", "10.0.0.9:2");
    in.insert(in.end(), r.begin(), r.end());
  }
  std::vector<std::uint8_t> out(2 * XREDIR_ODST_RESPONSE_SIZE + 5);
  const BatchResult r = answerRequests(in, source, counters, out);
  EXPECT_EQ(2u * XREDIR_ODST_REQUEST_SIZE, r.consumed);
  EXPECT_EQ(2u * XREDIR_ODST_RESPONSE_SIZE, r.produced);
}

TEST(AnswerRequests, MalformedAndUnsupportedVersionAnswerThenCloseWithoutReadingFurther) {
  struct Case {
    std::size_t offset;
    std::uint8_t value;
    std::uint8_t want;
  };
  const Case cases[] = {{0, 0xff, XREDIR_ODST_MALFORMED},
                        {4, 7, XREDIR_ODST_UNSUPPORTED_VERSION},
                        {5, 5, XREDIR_ODST_MALFORMED}};
  for (const Case& c : cases) {
    FakeSource source;
    ServerCounters counters;
    auto in = request("10.0.0.1:1", "10.0.0.9:2");
    in[c.offset] = c.value;
    const auto good = request("10.0.0.1:1", "10.0.0.9:2");
    in.insert(in.end(), good.begin(), good.end());
    std::vector<std::uint8_t> out(4 * XREDIR_ODST_RESPONSE_SIZE);
    const BatchResult r = answerRequests(in, source, counters, out);
    EXPECT_TRUE(r.close);
    EXPECT_EQ(XREDIR_ODST_REQUEST_SIZE, r.consumed);
    const auto resp = decodeAll(out, r.produced);
    ASSERT_EQ(1u, resp.size());
    EXPECT_EQ(c.want, resp[0].status);
    EXPECT_TRUE(source.asked().empty());
    EXPECT_EQ(1u, counters.snapshot(0).by_status[c.want]);
  }
}

std::vector<std::uint8_t> viewRequest() {
  std::vector<std::uint8_t> b(XREDIR_ODST_REQUEST_SIZE);
  xredir_odst_encode_view_request(b.data());
  return b;
}

TEST(AnswerRequests, AMapViewRequestIsAnsweredAloneAndEndsTheConnection) {
  FakeSource source;
  source.set({6, ep("10.0.0.1:1"), ep("10.0.0.2:2")}, translated("203.0.113.7:443"));
  const ViewOffer offer{1, 4224};
  // A lookup, the map-view request, another lookup, all in one read.
  std::vector<std::uint8_t> in = request("10.0.0.1:1", "10.0.0.2:2");
  const auto view_req = viewRequest();
  in.insert(in.end(), view_req.begin(), view_req.end());
  const auto after = request("10.0.0.1:1", "10.0.0.2:2");
  in.insert(in.end(), after.begin(), after.end());
  ServerCounters counters;
  std::vector<std::uint8_t> out(16 * XREDIR_ODST_RESPONSE_SIZE);

  // First call: the lookup only; the map-view request waits so that its answer goes out alone.
  BatchResult r = answerRequests(in, source, counters, out, &offer);
  EXPECT_EQ(XREDIR_ODST_REQUEST_SIZE, r.consumed);
  EXPECT_EQ(XREDIR_ODST_RESPONSE_SIZE, r.produced);
  EXPECT_FALSE(r.close);
  EXPECT_FALSE(r.attach_view);
  // Second call: the map-view answer, with the descriptor to attach; nothing after it is read.
  const std::span<const std::uint8_t> rest(in.data() + r.consumed, in.size() - r.consumed);
  r = answerRequests(rest, source, counters, out, &offer);
  EXPECT_EQ(XREDIR_ODST_REQUEST_SIZE, r.consumed);
  EXPECT_EQ(XREDIR_ODST_RESPONSE_SIZE, r.produced);
  EXPECT_TRUE(r.close);
  EXPECT_TRUE(r.attach_view);
  xredir_odst_view_response v{};
  ASSERT_EQ(0, xredir_odst_decode_view_response(out.data(), &v));
  EXPECT_EQ(XREDIR_ODST_OK, v.status);
  EXPECT_EQ(2, v.version);
  EXPECT_EQ(1U, v.layout);
  EXPECT_EQ(4224U, v.bytes);
  const CountersSnapshot snap = counters.snapshot(0);
  EXPECT_EQ(1U, snap.queries) << "a map-view request is not a lookup";
  EXPECT_EQ(1U, snap.view_requests);
}

TEST(AnswerRequests, WithoutAViewTheAnswerSaysSoAndABadVersion2FrameIsMalformed) {
  FakeSource source;
  ServerCounters counters;
  std::vector<std::uint8_t> out(XREDIR_ODST_RESPONSE_SIZE);
  BatchResult r = answerRequests(viewRequest(), source, counters, out, nullptr);
  EXPECT_TRUE(r.close);
  EXPECT_FALSE(r.attach_view);
  xredir_odst_view_response v{};
  ASSERT_EQ(0, xredir_odst_decode_view_response(out.data(), &v));
  EXPECT_EQ(XREDIR_ODST_OK, v.status);
  EXPECT_EQ(0U, v.layout);
  EXPECT_EQ(0U, v.bytes);

  // A version 2 lookup does not exist: malformed, even when a view is offered.
  const ViewOffer offer{1, 4224};
  std::vector<std::uint8_t> bad = request("10.0.0.1:1", "10.0.0.2:2");
  bad[4] = XREDIR_ODST_VERSION_MAP_VIEW;
  r = answerRequests(bad, source, counters, out, &offer);
  EXPECT_TRUE(r.close);
  EXPECT_FALSE(r.attach_view);
  xredir_odst_response resp{};
  ASSERT_EQ(0, xredir_odst_decode_response(out.data(), &resp));
  EXPECT_EQ(XREDIR_ODST_MALFORMED, resp.status);
  const CountersSnapshot snap = counters.snapshot(0);
  EXPECT_EQ(1U, snap.view_requests);
  EXPECT_EQ(1U, snap.by_status[XREDIR_ODST_MALFORMED]);
  EXPECT_TRUE(source.asked().empty());
}

TEST(AccessPolicy, RootAllowedUidsAndGroupsPassOthersDoNot) {
  const AccessPolicy policy({1337}, {4242});
  struct Case {
    const char* name;
    PeerCredentials peer;
    bool want;
  };
  const Case cases[] = {
      {"root", {1, 0, 0, {}}, true},
      {"allowed uid", {1, 1337, 100, {}}, true},
      {"allowed primary gid", {1, 1000, 4242, {}}, true},
      {"allowed supplementary gid", {1, 1000, 100, {27, 4242}}, true},
      {"nobody", {1, 65534, 65534, {65534}}, false},
      {"other uid and groups", {1, 1000, 100, {27, 100}}, false},
  };
  for (const Case& c : cases) EXPECT_EQ(c.want, policy.allows(c.peer)) << c.name;
  EXPECT_FALSE(AccessPolicy().allows(PeerCredentials{1, 1337, 4242, {}}));
}

}  // namespace
}  // namespace xredir::odst
