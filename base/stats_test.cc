#include "base/stats.h"

#include <gtest/gtest.h>

namespace isoscope {
namespace {

TEST(SummarizeTest, MedianAndQuartilesOfOddAndEvenCounts) {
  Spread odd = Summarize({5, 1, 3});
  EXPECT_EQ(odd.median, 3);
  EXPECT_EQ(odd.min, 1);
  EXPECT_EQ(odd.max, 5);
  EXPECT_EQ(odd.p25, 2);
  EXPECT_EQ(odd.p75, 4);
  EXPECT_EQ(odd.count, 3u);
  Spread even = Summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(even.median, 2.5);
  EXPECT_DOUBLE_EQ(even.p25, 1.75);
  EXPECT_DOUBLE_EQ(even.p75, 3.25);
}

TEST(SummarizeTest, SingleSampleAndEmpty) {
  Spread one = Summarize({7});
  EXPECT_EQ(one.median, 7);
  EXPECT_EQ(one.p25, 7);
  EXPECT_EQ(one.max, 7);
  Spread none = Summarize({});
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(none.median, 0);
}

TEST(RatioTest, NeedsAPositiveBaseline) {
  EXPECT_DOUBLE_EQ(*Ratio(3, 2), 1.5);
  EXPECT_FALSE(Ratio(3, 0).has_value());
  EXPECT_FALSE(Ratio(3, -1).has_value());
}

}  // namespace
}  // namespace isoscope
