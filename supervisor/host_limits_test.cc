#include "supervisor/host_limits.h"

#include <sys/resource.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace isoscope {
namespace {

using ::testing::HasSubstr;

Policy WithOpenFiles(std::optional<uint64_t> open_files) {
  Policy policy;
  policy.name = "p.yaml";
  policy.resources.open_files = open_files;
  return policy;
}

TEST(HostLimitsTest, OpenFilesAboveWhatTheHostAllowsIsAPolicyError) {
  const HostLimits nr_open{.max_open_files = 1048576, .from_nr_open = true};
  auto refused = CheckPolicyFitsHost(WithOpenFiles(100000000), nr_open);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPolicy);
  EXPECT_EQ(refused.error().message(),
            "p.yaml: resources.open_files: 100000000 is more than this host "
            "lets isoscope set (fs.nr_open = 1048576)");

  const HostLimits own{.max_open_files = 20000, .from_nr_open = false};
  auto over_own = CheckPolicyFitsHost(WithOpenFiles(20001), own);
  ASSERT_FALSE(over_own.has_value());
  EXPECT_THAT(over_own.error().message(),
              HasSubstr("(isoscope's own hard RLIMIT_NOFILE = 20000)"));
}

TEST(HostLimitsTest, LimitsWithinTheHostsOrUnknownPass) {
  const HostLimits own{.max_open_files = 20000, .from_nr_open = false};
  EXPECT_TRUE(CheckPolicyFitsHost(WithOpenFiles(20000), own).has_value());
  EXPECT_TRUE(CheckPolicyFitsHost(WithOpenFiles(std::nullopt), own));
  EXPECT_TRUE(CheckPolicyFitsHost(WithOpenFiles(100000000), HostLimits{}));
}

// This process's own figure is one of the two, and never below its soft
// limit.
TEST(HostLimitsTest, ReadsAFigureForThisProcess) {
  const HostLimits limits = ReadHostLimits();
  ASSERT_TRUE(limits.max_open_files.has_value());
  rlimit own{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &own), 0);
  EXPECT_GE(*limits.max_open_files, own.rlim_cur);
}

}  // namespace
}  // namespace isoscope
