#include "supervisor/cli/since.h"

#include <gtest/gtest.h>

namespace isoscope::cli {
namespace {

constexpr int64_t kNow = 1796535000000;  // 2026-12-06 05:30:00 UTC

TEST(ParseSinceTest, DurationsAgo) {
  EXPECT_EQ(ParseSince("90s", kNow).value(), kNow - 90'000);
  EXPECT_EQ(ParseSince("30m", kNow).value(), kNow - 30 * 60'000);
  EXPECT_EQ(ParseSince("2h", kNow).value(), kNow - 2 * 3'600'000);
  EXPECT_EQ(ParseSince("7d", kNow).value(), kNow - 7 * 86'400'000LL);
  EXPECT_EQ(ParseSince("2w", kNow).value(), kNow - 14 * 86'400'000LL);
  EXPECT_EQ(ParseSince("0s", kNow).value(), kNow);
}

TEST(ParseSinceTest, UtcTimes) {
  EXPECT_EQ(ParseSince("2026-12-06", kNow).value(), 1796515200000);
  EXPECT_EQ(ParseSince("2026-12-06T05:30", kNow).value(), kNow);
  EXPECT_EQ(ParseSince("2026-12-06 05:30:00", kNow).value(), kNow);
  EXPECT_EQ(ParseSince("2026-12-06T05:30:07", kNow).value(), kNow + 7000);
  EXPECT_EQ(ParseSince("1970-01-01", kNow).value(), 0);
}

TEST(ParseSinceTest, AnythingElseIsAUsageError) {
  for (const char* bad :
       {"", "h", "2", "-2h", "2x", "2 h", "1.5h", "99999999999999999999d",
        "10000000w", "2026-13-01", "2026-02-30", "2026-1-01", "2026-01-01T",
        "2026-01-01T24:00", "2026-01-01T10:60", "2026-01-01T10:00:61",
        "2026-01-01T10:00Z", "yesterday"}) {
    const auto parsed = ParseSince(bad, kNow);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace isoscope::cli
