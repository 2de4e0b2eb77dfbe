#include "bench/bench_report.h"

#include <gtest/gtest.h>

namespace isoscope::bench {
namespace {

TEST(SummarizeTest, MedianAndQuartilesOfOddAndEvenCounts) {
  Summary odd = Summarize({5, 1, 3});
  EXPECT_EQ(odd.median, 3);
  EXPECT_EQ(odd.min, 1);
  EXPECT_EQ(odd.max, 5);
  EXPECT_EQ(odd.p25, 2);
  EXPECT_EQ(odd.p75, 4);
  Summary even = Summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(even.median, 2.5);
  EXPECT_EQ(even.count, 4u);
}

TEST(SummarizeTest, EmptyIsAllZero) {
  Summary none = Summarize({});
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(none.median, 0);
}

}  // namespace
}  // namespace isoscope::bench
