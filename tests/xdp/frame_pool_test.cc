#include "xdp/frame_pool.h"

#include <gtest/gtest.h>

#include <set>

namespace xredir::xdp {
namespace {

TEST(FramePool, HandsOutEveryFrameOnceAligned) {
  FramePool pool(8, 4096);
  std::set<std::uint64_t> seen;
  while (pool.available() > 0) {
    std::uint64_t a = pool.pop();
    EXPECT_EQ(a % 4096, 0u);
    EXPECT_LT(a, 8u * 4096);
    EXPECT_TRUE(seen.insert(a).second) << a;
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST(FramePool, PushStripsTheOffsetInsideTheFrame) {
  struct Case {
    std::uint64_t pushed;
    std::uint64_t expected;
  };
  const Case cases[] = {{4096 + 256, 4096}, {3 * 4096 + 4095, 3 * 4096}, {0, 0}};
  for (const auto& c : cases) {
    FramePool pool(4, 4096);
    (void)pool.pop();
    ASSERT_TRUE(pool.push(c.pushed));
    EXPECT_EQ(pool.pop(), c.expected) << c.pushed;
  }
}

TEST(FramePool, RefusesAPushBeyondCapacity) {
  FramePool pool(2, 2048);
  EXPECT_FALSE(pool.push(0));
  EXPECT_EQ(pool.available(), 2u);
  (void)pool.pop();
  EXPECT_TRUE(pool.push(2048));
  EXPECT_FALSE(pool.push(2048));
}

}  // namespace
}  // namespace xredir::xdp
