#include "base/temp_dir.h"

#include <fstream>

#include <gtest/gtest.h>

namespace isoscope {
namespace {

TEST(TempDirTest, RemovedWithContentsOnDestruction) {
  std::filesystem::path path;
  {
    auto dir = TempDir::Create("isoscope-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    path = dir->path();
    std::filesystem::create_directories(path / "a" / "b");
    std::ofstream(path / "a" / "b" / "f") << "x";
    EXPECT_TRUE(std::filesystem::exists(path / "a" / "b" / "f"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TempDirTest, MovedFromDoesNotRemove) {
  auto dir = TempDir::Create("isoscope-test-");
  ASSERT_TRUE(dir.has_value());
  TempDir moved = std::move(*dir);
  EXPECT_TRUE(std::filesystem::is_directory(moved.path()));
  ASSERT_TRUE(moved.Remove().has_value());
  EXPECT_TRUE(moved.path().empty());
}

TEST(TempDirTest, MissingParentIsAnError) {
  auto dir = TempDir::Create("x-", "/nonexistent/isoscope");
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().sys_errno(), ENOENT);
}

}  // namespace
}  // namespace isoscope
