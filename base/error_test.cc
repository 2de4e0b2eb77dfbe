#include "base/error.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace isoscope {
namespace {

TEST(ErrorTest, FromErrnoNamesTheCallAndTheErrno) {
  Error error = Error::FromErrno("open /nope", ENOENT);
  EXPECT_EQ(error.code(), ErrorCode::kSystem);
  EXPECT_EQ(error.sys_errno(), ENOENT);
  EXPECT_EQ(error.ToString(), "open /nope: No such file or directory (ENOENT)");
}

TEST(ErrorTest, WithContextPrependsAndKeepsCode) {
  Error error = Error(ErrorCode::kPolicy, "bad action").WithContext("p.yaml");
  EXPECT_EQ(error.ToString(), "p.yaml: bad action");
  EXPECT_EQ(error.code(), ErrorCode::kPolicy);
}

TEST(ErrorTest, DebugStringCarriesTheCallSite) {
  Error error(ErrorCode::kInternal, "oops");
  EXPECT_NE(error.ToDebugString().find("error_test.cc"), std::string::npos);
}

TEST(ErrorTest, ErrnoNamesRoundTrip) {
  EXPECT_EQ(ErrnoFromName("EPERM"), EPERM);
  EXPECT_EQ(ErrnoFromName("EACCES"), EACCES);
  EXPECT_EQ(ErrnoName(ENOSYS), "ENOSYS");
  EXPECT_EQ(ErrnoFromName("EBOGUS"), 0);
  EXPECT_EQ(ErrnoName(-1), "");
}

TEST(ErrorTest, ResultCarriesValueOrError) {
  auto fails = []() -> Result<int> { return Fail(ErrorCode::kNotFound, "x"); };
  auto works = []() -> Result<int> { return 7; };
  EXPECT_FALSE(fails().has_value());
  EXPECT_EQ(fails().error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*works(), 7);
}

}  // namespace
}  // namespace isoscope
