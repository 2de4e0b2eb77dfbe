#include "base/temp_dir.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace isoscope {
namespace {

// Counts the entries of `dir`.
size_t EntriesIn(const std::filesystem::path& dir) {
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(dir)) {
    ++entries;
  }
  return entries;
}

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
  EXPECT_EQ(EntriesIn(parent->path()), 4u);  // two directories, two locks

  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-x-", parent->path()), 1);
  EXPECT_EQ(EntriesIn(parent->path()), 2u);  // the live one and its lock
  EXPECT_TRUE(std::filesystem::is_directory(live->path()));
  ASSERT_TRUE(live->Remove().has_value());
  EXPECT_TRUE(std::filesystem::is_empty(parent->path()));
}

// An owner killed after naming its lock file but before making the
// directory leaves the lock file alone; so does a workload that removed its
// own workdir before its isoscope was killed.
TEST(TempDirTest, AFreeLockFileWithoutItsDirectoryIsRemoved) {
  auto parent = TempDir::Create("isoscope-test-parent-");
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  auto live = TempDir::Create("isoscope-x-", parent->path());
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  std::ofstream(parent->path() / "isoscope-x-AbC123.lock").put('\n');
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto dir = TempDir::Create("isoscope-x-", parent->path());
    if (dir) std::filesystem::remove(dir->path());
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(EntriesIn(parent->path()), 4u);  // two lock files alone

  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-x-", parent->path()), 2);
  EXPECT_EQ(EntriesIn(parent->path()), 2u);  // the live one and its lock
  EXPECT_TRUE(std::filesystem::is_directory(live->path()));
}

// A workload given its directory as a workdir may replace what is in it, or
// (in a sticky /tmp, as the directory's owner) the directory itself, with
// a symbolic link: removing it never follows one.
TEST(TempDirTest, RemovalNeverFollowsALinkTheWorkloadPlanted) {
  auto parent = TempDir::Create("isoscope-test-parent-");
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  const std::filesystem::path canary = parent->path() / "canary";
  std::filesystem::create_directory(canary);
  std::ofstream(canary / "keep") << "x";

  auto inner = TempDir::Create("isoscope-x-", parent->path());
  ASSERT_TRUE(inner.has_value()) << inner.error().ToString();
  std::filesystem::create_directory_symlink(canary, inner->path() / "link");
  std::filesystem::create_directory(inner->path() / "sub");
  std::filesystem::create_directory_symlink(canary,
                                            inner->path() / "sub" / "link");
  ASSERT_TRUE(inner->Remove().has_value());

  auto swapped = TempDir::Create("isoscope-x-", parent->path());
  ASSERT_TRUE(swapped.has_value()) << swapped.error().ToString();
  const std::filesystem::path path = swapped->path();
  std::filesystem::rename(path, parent->path() / "moved");
  std::filesystem::create_directory_symlink(canary, path);
  ASSERT_TRUE(swapped->Remove().has_value());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));

  // Left by a killed owner: a free lock file, a link where its directory was.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto dir = TempDir::Create("isoscope-y-", parent->path());
    if (dir) {
      std::filesystem::remove(dir->path());
      std::filesystem::create_directory_symlink(canary, dir->path());
    }
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-y-", parent->path()), 0);

  EXPECT_TRUE(std::filesystem::exists(canary / "keep"));
  EXPECT_EQ(EntriesIn(canary), 1u);
}

TEST(TempDirTest, MissingParentIsAnError) {
  auto dir = TempDir::Create("x-", "/nonexistent/isoscope");
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().sys_errno(), ENOENT);
}

}  // namespace
}  // namespace isoscope
