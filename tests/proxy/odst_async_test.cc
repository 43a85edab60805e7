// odst_async_test: the ring-driven original-destination client against a fake server on the
// other end of a socketpair (or a Unix listener): request framing, pipelining with FIFO
// matching of answers (also when they arrive in fragments), status mapping, failure of pending
// queries when the server goes away, and reconnection.
#include "odst_async.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "xredir/odst.h"

namespace xredir::proxy {
namespace {

struct Answer {
  std::uint64_t token;
  std::optional<Endpoint> destination;
  OdstError error;
};

class RecordingSink final : public OdstSink {
 public:
  void onOriginalDst(std::uint64_t token,
                     const std::optional<Endpoint>& destination,
                     OdstError error) override {
    answers.push_back({token, destination, error});
  }
  std::vector<Answer> answers;
};

Endpoint ep(const char* text) {
  return *parseEndpoint(text);
}

class OdstAsyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ring_.emplace(*Ring::create(64, &error));
  }
  // drive runs the ring until `answers` answers have arrived (or 2 s passed).
  void drive(OdstClient& client, std::size_t answers, int rounds = 200) {
    for (int i = 0; i < rounds && sink_.answers.size() < answers; ++i) {
      __kernel_timespec ts{0, 10'000'000};
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(ring_->raw(), &cqe, 1, &ts, nullptr);
      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(ring_->raw(), head, cqe) {
        ++seen;
        client.onCompletion(decodeUserData(cqe->user_data), cqe->res);
      }
      io_uring_cq_advance(ring_->raw(), seen);
    }
  }
  // pump runs the ring for a few rounds so that queued sends go out.
  void pump(OdstClient& client) { drive(client, sink_.answers.size() + 1, 5); }
  // drainIdle runs the ring until the client has no operation in flight.
  void drainIdle(OdstClient& client) {
    for (int i = 0; i < 200 && !client.idle(); ++i) drive(client, sink_.answers.size() + 1, 1);
  }
  static std::vector<xredir_odst_request> readRequests(int fd, std::size_t n) {
    std::vector<std::uint8_t> buf(n * XREDIR_ODST_REQUEST_SIZE);
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t r = read(fd, buf.data() + got, buf.size() - got);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    std::vector<xredir_odst_request> out(got / XREDIR_ODST_REQUEST_SIZE);
    for (std::size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(xredir_odst_decode_request(buf.data() + i * XREDIR_ODST_REQUEST_SIZE, &out[i]),
                XREDIR_ODST_OK);
    }
    return out;
  }
  static std::vector<std::uint8_t> response(std::uint8_t status, const Endpoint& dst) {
    xredir_odst_response r{};
    r.version = XREDIR_ODST_VERSION;
    r.status = status;
    r.family = dst.addr.family == Family::kV4 ? XREDIR_ODST_FAMILY_V4 : XREDIR_ODST_FAMILY_V6;
    std::memcpy(r.addr, dst.addr.bytes.data(), 16);
    r.port = dst.port;
    std::vector<std::uint8_t> out(XREDIR_ODST_RESPONSE_SIZE);
    xredir_odst_encode_response(&r, out.data());
    return out;
  }
  std::optional<Ring> ring_;
  RecordingSink sink_;
};

TEST_F(OdstAsyncTest, PipelinedQueriesAreFramedAndAnsweredInOrder) {
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  OdstClient client(*ring_, "/nonexistent", sink_);
  client.adoptConnection(sp[0]);
  const Endpoint clients[] = {ep("10.0.0.1:1000"), ep("10.0.0.2:2000"), ep("[2001:db8::5]:3000")};
  const Endpoint proxies[] = {ep("127.0.0.1:15001"), ep("127.0.0.1:15001"), ep("[::1]:15001")};
  const Endpoint dsts[] = {ep("192.0.2.1:80"), ep("192.0.2.2:443"), ep("[2001:db8::9]:8443")};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.query(100 + i, clients[i], proxies[i], 0));
  }
  EXPECT_EQ(client.pending(), 3u);
  pump(client);
  std::vector<xredir_odst_request> reqs = readRequests(sp[1], 3);
  ASSERT_EQ(reqs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reqs[i].version, XREDIR_ODST_VERSION);
    EXPECT_EQ(reqs[i].protocol, IPPROTO_TCP);
    EXPECT_EQ(reqs[i].family, i == 2 ? XREDIR_ODST_FAMILY_V6 : XREDIR_ODST_FAMILY_V4);
    EXPECT_EQ(reqs[i].client_port, clients[i].port);
    EXPECT_EQ(reqs[i].proxy_port, proxies[i].port);
    EXPECT_EQ(std::memcmp(reqs[i].client_addr, clients[i].addr.bytes.data(), 16), 0);
    EXPECT_EQ(std::memcmp(reqs[i].proxy_addr, proxies[i].addr.bytes.data(), 16), 0);
  }
  // Answer in fragments that cut responses apart: framing must not depend on recv boundaries.
  std::vector<std::uint8_t> all;
  for (const Endpoint& d : dsts) {
    std::vector<std::uint8_t> r = response(XREDIR_ODST_OK, d);
    all.insert(all.end(), r.begin(), r.end());
  }
  ASSERT_EQ(write(sp[1], all.data(), 5), 5);
  drive(client, 1, 5);
  EXPECT_TRUE(sink_.answers.empty());
  ASSERT_EQ(write(sp[1], all.data() + 5, 40), 40);
  drive(client, 1);
  ASSERT_EQ(sink_.answers.size(), 1u);
  ASSERT_EQ(write(sp[1], all.data() + 45, all.size() - 45), static_cast<ssize_t>(all.size() - 45));
  drive(client, 3);
  ASSERT_EQ(sink_.answers.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sink_.answers[i].token, 100u + i);
    ASSERT_TRUE(sink_.answers[i].destination);
    EXPECT_EQ(*sink_.answers[i].destination, dsts[i]);
  }
  EXPECT_EQ(client.pending(), 0u);
  close(sp[1]);
  drainIdle(client);
}

TEST_F(OdstAsyncTest, StatusesMapToErrors) {
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  OdstClient client(*ring_, "/nonexistent", sink_);
  client.adoptConnection(sp[0]);
  const std::uint8_t statuses[] = {XREDIR_ODST_NOT_TRACKED, XREDIR_ODST_NOT_TRANSLATED,
                                   XREDIR_ODST_PERMISSION_DENIED};
  const OdstError want[] = {OdstError::kNotTracked, OdstError::kNotTranslated,
                            OdstError::kPermissionDenied};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.query(i, ep("10.0.0.1:1"), ep("10.0.0.2:2"), 0));
  }
  pump(client);
  ASSERT_EQ(readRequests(sp[1], 3).size(), 3u);
  for (std::uint8_t s : statuses) {
    std::vector<std::uint8_t> r = response(s, ep("0.0.0.0:0"));
    ASSERT_EQ(write(sp[1], r.data(), r.size()), static_cast<ssize_t>(r.size()));
  }
  drive(client, 3);
  ASSERT_EQ(sink_.answers.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(sink_.answers[i].destination);
    EXPECT_EQ(sink_.answers[i].error, want[i]);
  }
  close(sp[1]);
  drainIdle(client);
}

TEST_F(OdstAsyncTest, ServerGoneFailsPendingAsUnavailable) {
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  OdstClient client(*ring_, "/nonexistent/odst.sock", sink_);
  client.adoptConnection(sp[0]);
  ASSERT_TRUE(client.query(1, ep("10.0.0.1:1"), ep("10.0.0.2:2"), 0));
  ASSERT_TRUE(client.query(2, ep("10.0.0.1:3"), ep("10.0.0.2:2"), 0));
  pump(client);
  close(sp[1]);
  drive(client, 2);
  ASSERT_EQ(sink_.answers.size(), 2u);
  EXPECT_EQ(sink_.answers[0].token, 1u);
  EXPECT_EQ(sink_.answers[1].token, 2u);
  EXPECT_EQ(sink_.answers[0].error, OdstError::kUnavailable);
  EXPECT_EQ(sink_.answers[1].error, OdstError::kUnavailable);
  drainIdle(client);
  // No server at the path: the query is refused at once, and no answer will come.
  EXPECT_FALSE(client.query(3, ep("10.0.0.1:1"), ep("10.0.0.2:2"), 0));
  EXPECT_EQ(client.pending(), 0u);
}

TEST_F(OdstAsyncTest, MalformedAnswerFailsThatQueryAndDropsTheStream) {
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  OdstClient client(*ring_, "/nonexistent", sink_);
  client.adoptConnection(sp[0]);
  ASSERT_TRUE(client.query(1, ep("10.0.0.1:1"), ep("10.0.0.2:2"), 0));
  ASSERT_TRUE(client.query(2, ep("10.0.0.1:3"), ep("10.0.0.2:2"), 0));
  pump(client);
  std::vector<std::uint8_t> garbage(XREDIR_ODST_RESPONSE_SIZE, 0x42);
  ASSERT_EQ(write(sp[1], garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  drive(client, 2);
  ASSERT_EQ(sink_.answers.size(), 2u);
  EXPECT_EQ(sink_.answers[0].error, OdstError::kMalformed);
  EXPECT_EQ(sink_.answers[1].error, OdstError::kUnavailable);
  close(sp[1]);
  drainIdle(client);
}

TEST_F(OdstAsyncTest, ReconnectsAfterTheServerClosed) {
  const std::string path = "/tmp/xredir_proxy_odst_test_" + std::to_string(getpid()) + ".sock";
  unlink(path.c_str());
  const int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(lfd, 8), 0);
  OdstClient client(*ring_, path, sink_);
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(client.query(round, ep("10.0.0.1:1"), ep("10.0.0.2:2"), 0)) << round;
    pump(client);
    const int s = accept(lfd, nullptr, nullptr);
    ASSERT_GE(s, 0);
    ASSERT_EQ(readRequests(s, 1).size(), 1u);
    std::vector<std::uint8_t> r = response(XREDIR_ODST_OK, ep("192.0.2.7:8080"));
    ASSERT_EQ(write(s, r.data(), r.size()), static_cast<ssize_t>(r.size()));
    drive(client, sink_.answers.size() + 1);
    ASSERT_EQ(sink_.answers.size(), static_cast<std::size_t>(round + 1));
    EXPECT_EQ(sink_.answers.back().token, static_cast<std::uint64_t>(round));
    ASSERT_TRUE(sink_.answers.back().destination);
    EXPECT_EQ(formatEndpoint(*sink_.answers.back().destination), "192.0.2.7:8080");
    close(s);  // the server goes away; the client notices through its pending recv
    for (int i = 0; i < 200 && !client.idle(); ++i) drive(client, sink_.answers.size() + 1, 1);
  }
  close(lfd);
  unlink(path.c_str());
}

}  // namespace
}  // namespace xredir::proxy
