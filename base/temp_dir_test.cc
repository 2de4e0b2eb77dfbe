#include "base/temp_dir.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

TEST(TempDirTest, AbandonedDirectoriesAreRemovedAndLiveOnesKept) {
  auto parent = TempDir::Create("isoscope-test-parent-");
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  auto live = TempDir::Create("isoscope-x-", parent->path());
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(live->path().string() + ".lock"));
  // A child creates a directory and dies without cleaning up (SIGKILL).
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto dir = TempDir::Create("isoscope-x-", parent->path());
    if (dir) std::ofstream(dir->path() / "left") << "behind";
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(parent->path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 4u);  // two directories, two lock files

  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-x-", parent->path()), 1);
  entries = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(parent->path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 2u);  // the live one and its lock
  EXPECT_TRUE(std::filesystem::is_directory(live->path()));
  ASSERT_TRUE(live->Remove().has_value());
  EXPECT_TRUE(std::filesystem::is_empty(parent->path()));
}

TEST(TempDirTest, MissingParentIsAnError) {
  auto dir = TempDir::Create("x-", "/nonexistent/isoscope");
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().sys_errno(), ENOENT);
}

}  // namespace
}  // namespace isoscope
