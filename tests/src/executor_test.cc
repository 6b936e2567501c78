// The executors and the static split: every index runs exactly once, nested loops run inline,
// and Balance211 covers its range in order with sizes that differ by at most one.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "propel/error.h"
#include "propel/threading.h"
#include "src/gemm/gemm_driver.h"
#include "src/runtime/executor.h"
#include "src/runtime/partition.h"
#include "tests/test_util.h"

namespace propel::detail {
namespace {

TEST(Partition, Balance211CoversRangeInOrder) {
  for (int64_t n : {0, 1, 7, 64, 1000}) {
    for (int64_t parts : {1, 2, 3, 8, 13}) {
      int64_t next = 0, min_size = n, max_size = 0;
      for (int64_t p = 0; p < parts; ++p) {
        const Range r = Balance211(n, parts, p);
        EXPECT_EQ(r.begin, next);
        next = r.end;
        min_size = std::min(min_size, r.end - r.begin);
        max_size = std::max(max_size, r.end - r.begin);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(max_size - min_size, 1);
    }
  }
}

TEST(Partition, BalancedBlockAbsorbsThinRemainders) {
  EXPECT_EQ(BalancedBlock(100, 256, 8), 104);      // one block, rounded to the granule
  EXPECT_EQ(BalancedBlock(784, 256, 8), 264);      // 264 + 264 + 256, not 3 x 256 + 16
  EXPECT_EQ(BalancedBlock(1024, 256, 8), 256);     // exact
  EXPECT_EQ(BalancedBlock(1024, 1008, 48), 1056);  // 16 leftover columns: one block
  EXPECT_EQ(BalancedBlock(1500, 1008, 48), 768);   // balanced halves
  for (int64_t total : {1, 17, 255, 257, 1000, 4097}) {
    const int64_t b = BalancedBlock(total, 256, 8);
    EXPECT_EQ(b % 8, 0);
    EXPECT_LE(b, 256 + 256 / 4 + 8) << total;
    EXPECT_GE(b * CeilDiv(total, b), total);
  }
}

TEST(Partition, ThreadGridUsesBudgetOnlyWhenWorthIt) {
  EXPECT_EQ(ChooseThreadGrid(8, 8, 8, 8, 48, 4).tm * ChooseThreadGrid(8, 8, 8, 8, 48, 4).tn, 1);
  const ThreadGrid g = ChooseThreadGrid(1024, 1024, 1024, 8, 48, 4);
  EXPECT_EQ(g.tm * g.tn, 4);
  const ThreadGrid skinny = ChooseThreadGrid(64, 4096, 1024, 8, 48, 2);
  EXPECT_EQ(skinny.tn, 2);  // split the long side
}

class ExecutorTest : public ::testing::TestWithParam<Executor> {};

TEST_P(ExecutorTest, EveryIndexOnceAndNestedInline) {
  const int saved = num_threads();
  set_executor(GetParam());
  set_num_threads(3);
  std::vector<std::atomic<int>> hits(100);
  std::atomic<int> nested_outside{0};
  auto body = [&](int64_t i) {
    hits[static_cast<size_t>(i)].fetch_add(1);
    EXPECT_TRUE(InParallelRegion());
    EXPECT_EQ(AvailableThreads(), 1);
    int inner = 0;
    auto inner_body = [&](int64_t) { ++inner; };  // runs inline: no data race on `inner`
    ParallelFor(4, 3, inner_body);
    if (inner != 4) nested_outside.fetch_add(1);
  };
  ParallelFor(100, 3, body);
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_EQ(nested_outside.load(), 0);
  EXPECT_FALSE(InParallelRegion());
  set_executor(Executor::kTbb);
  set_num_threads(saved);
}

TEST_P(ExecutorTest, ExceptionReachesTheCaller) {
  const int saved = num_threads();
  set_executor(GetParam());
  set_num_threads(2);
  auto body = [](int64_t i) {
    if (i == 5) throw Error(ErrorCode::kNumerical, "index 5");
  };
  EXPECT_THROW(ParallelFor(16, 2, body), Error);
  EXPECT_FALSE(InParallelRegion());
  set_executor(Executor::kTbb);
  set_num_threads(saved);
}

INSTANTIATE_TEST_SUITE_P(All, ExecutorTest, ::testing::ValuesIn(test::Executors()));

TEST(Threading, InvalidBudgetAndExecutorAreErrors) {
  EXPECT_THROW(set_num_threads(0), Error);
  EXPECT_THROW(set_executor(static_cast<Executor>(9)), Error);
}

}  // namespace
}  // namespace propel::detail
