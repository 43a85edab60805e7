// user_data_test: the typed io_uring user_data encoding round-trips and keeps fields apart.
#include "user_data.h"

#include <gtest/gtest.h>

namespace xredir::proxy {
namespace {

TEST(UserData, RoundTripsEveryField) {
  const UserData cases[] = {
      {OpKind::kAccept, 0, 0},
      {OpKind::kRecvClient, 1, 1},
      {OpKind::kSendUpstream, 0xFFFFFFFFu, kGenerationMask},
      {OpKind::kIgnore, 12345, 0xABCDEF},
      {OpKind::kWatchUpstream, 0x80000000u, 0x800000},
  };
  for (const UserData& d : cases) {
    EXPECT_EQ(decodeUserData(encodeUserData(d)), d) << static_cast<int>(d.kind);
  }
}

TEST(UserData, GenerationWrapsAt24Bits) {
  const UserData d{OpKind::kSendClient, 7, kGenerationMask + 2};
  const UserData back = decodeUserData(encodeUserData(d));
  EXPECT_EQ(back.generation, 1u);
  EXPECT_EQ(back.slot, 7u);
  EXPECT_EQ(back.kind, OpKind::kSendClient);
}

TEST(UserData, ZeroIsNotAnOperation) {
  EXPECT_EQ(decodeUserData(0).kind, OpKind::kInvalid);
}

TEST(UserData, DistinctFieldsGiveDistinctValues) {
  const std::uint64_t base = encodeUserData({OpKind::kRecvClient, 5, 9});
  EXPECT_NE(base, encodeUserData({OpKind::kRecvUpstream, 5, 9}));
  EXPECT_NE(base, encodeUserData({OpKind::kRecvClient, 6, 9}));
  EXPECT_NE(base, encodeUserData({OpKind::kRecvClient, 5, 10}));
}

}  // namespace
}  // namespace xredir::proxy
