#include "base/temp_dir.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "base/leftover_mark.h"

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

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = TempDir::Create("isoscope-test-registry-");
    ASSERT_TRUE(registry.has_value()) << registry.error().ToString();
    registry_.emplace(std::move(*registry));
  }

  // Runs `body` in a child, which calls the function it is given to be
  // killed outright (while what it made is still held); the child is killed
  // when `body` returns in any case. The child's
  // leftover mark goes to a registry of this test's own: a dead mark in the
  // user's registry would make their next isoscope sweep.
  void InAKilledChild(
      const std::function<void(const std::function<void()>& die)>& body) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      SetLeftoverRegistryForTesting(registry_->path() / "leftovers");
      body([] { ::kill(::getpid(), SIGKILL); });
      ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
  }

  std::optional<TempDir> registry_;
};

TEST_F(TempDirTest, RemovedWithContentsOnDestruction) {
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

TEST_F(TempDirTest, MovedFromDoesNotRemove) {
  auto dir = TempDir::Create("isoscope-test-");
  ASSERT_TRUE(dir.has_value());
  TempDir moved = std::move(*dir);
  EXPECT_TRUE(std::filesystem::is_directory(moved.path()));
  ASSERT_TRUE(moved.Remove().has_value());
  EXPECT_TRUE(moved.path().empty());
}

TEST_F(TempDirTest, AbandonedDirectoriesAreRemovedAndLiveOnesKept) {
  auto parent = TempDir::Create("isoscope-test-parent-");
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  auto live = TempDir::Create("isoscope-x-", parent->path());
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(live->path().string() + ".lock"));
  // A child creates a directory and dies without cleaning up (SIGKILL).
  InAKilledChild([&](const auto& die) {
    auto dir = TempDir::Create("isoscope-x-", parent->path());
    if (dir) std::ofstream(dir->path() / "left") << "behind";
    die();
  });
  EXPECT_EQ(EntriesIn(parent->path()), 4u);  // two directories, two locks

  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-x-", parent->path()).removed, 1);
  EXPECT_EQ(EntriesIn(parent->path()), 2u);  // the live one and its lock
  EXPECT_TRUE(std::filesystem::is_directory(live->path()));
  ASSERT_TRUE(live->Remove().has_value());
  EXPECT_TRUE(std::filesystem::is_empty(parent->path()));
}

// Makes `path` as Create makes a lock file: empty, 0600.
void MakeLockFile(const std::filesystem::path& path) {
  const std::ofstream made(path);
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
}

// An owner killed after naming its lock file but before making the
// directory leaves the lock file alone; so does a workload that removed its
// own workdir before its isoscope was killed. Lock files named or made
// otherwise are another program's, and stay.
TEST_F(TempDirTest, AFreeLockFileWithoutItsDirectoryIsRemoved) {
  auto parent = TempDir::Create("isoscope-test-parent-");
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  const std::filesystem::path& in = parent->path();
  auto live = TempDir::Create("isoscope-x-", in);
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  MakeLockFile(in / "isoscope-x-AbC123.lock");  // as a kill leaves it
  MakeLockFile(in / "isoscope-x-ci.lock");      // not a name Create makes
  MakeLockFile(in / "isoscope-x-AbC12!.lock");
  std::ofstream(in / "isoscope-x-Zzz999.lock") << "pid 42\n";  // not empty
  { const std::ofstream not_0600(in / "isoscope-x-Yyy999.lock"); }
  std::filesystem::permissions(
      in / "isoscope-x-Yyy999.lock",
      std::filesystem::perms::owner_all | std::filesystem::perms::group_read);
  InAKilledChild([&](const auto& die) {
    auto dir = TempDir::Create("isoscope-x-", in);
    if (dir) std::filesystem::remove(dir->path());
    die();
  });
  EXPECT_EQ(EntriesIn(in), 8u);  // six lock files alone

  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-x-", in).removed, 2);
  EXPECT_EQ(EntriesIn(in), 6u);
  EXPECT_TRUE(std::filesystem::is_directory(live->path()));
  EXPECT_FALSE(std::filesystem::exists(in / "isoscope-x-AbC123.lock"));
  for (const char* other :
       {"isoscope-x-ci.lock", "isoscope-x-AbC12!.lock",
        "isoscope-x-Zzz999.lock", "isoscope-x-Yyy999.lock"}) {
    EXPECT_TRUE(std::filesystem::exists(in / other)) << other;
  }
}

// A name whose directory or lock file is taken (in a shared /tmp, anyone
// may plant one between the lock file's link and the mkdir) is given up
// for another, leaving what was planted alone.
TEST_F(TempDirTest, ATakenNameIsGivenUpForAnother) {
  auto parent = TempDir::Create("isoscope-test-parent-");
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  const std::filesystem::path& in = parent->path();
  std::filesystem::create_directory(in / "isoscope-x-aaaaaa");
  std::ofstream(in / "isoscope-x-bbbbbb.lock") << "theirs";
  SetTempDirSuffixesForTesting({"aaaaaa", "bbbbbb", "cccccc"});
  auto dir = TempDir::Create("isoscope-x-", in);
  SetTempDirSuffixesForTesting({});
  ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
  EXPECT_EQ(dir->path(), in / "isoscope-x-cccccc");
  EXPECT_TRUE(std::filesystem::is_directory(dir->path()));
  EXPECT_TRUE(std::filesystem::exists(in / "isoscope-x-cccccc.lock"));
  EXPECT_TRUE(std::filesystem::is_directory(in / "isoscope-x-aaaaaa"));
  EXPECT_FALSE(std::filesystem::exists(in / "isoscope-x-aaaaaa.lock"));
  std::ifstream theirs(in / "isoscope-x-bbbbbb.lock");
  std::string text;
  theirs >> text;
  EXPECT_EQ(text, "theirs");
  EXPECT_FALSE(std::filesystem::exists(in / "isoscope-x-bbbbbb"));
  // Held: a sweep leaves it.
  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-x-", in).removed, 0);
  ASSERT_TRUE(dir->Remove().has_value());
  EXPECT_EQ(EntriesIn(in), 2u);  // what was planted
}

// A workload given its directory as a workdir may replace what is in it, or
// (in a sticky /tmp, as the directory's owner) the directory itself, with
// a symbolic link: removing it never follows one.
TEST_F(TempDirTest, RemovalNeverFollowsALinkTheWorkloadPlanted) {
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
  SetTempDirSuffixesForTesting({"yyyyyy"});
  InAKilledChild([&](const auto& die) {
    auto dir = TempDir::Create("isoscope-y-", parent->path());
    if (dir) {
      std::filesystem::remove(dir->path());
      std::filesystem::create_directory_symlink(canary, dir->path());
    }
    die();
  });
  SetTempDirSuffixesForTesting({});
  const std::filesystem::path left = parent->path() / "isoscope-y-yyyyyy";
  ASSERT_TRUE(std::filesystem::is_symlink(left));
  ASSERT_TRUE(std::filesystem::exists(left.string() + ".lock"));
  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-y-", parent->path()).removed, 0);
  EXPECT_TRUE(std::filesystem::is_symlink(left));

  EXPECT_TRUE(std::filesystem::exists(canary / "keep"));
  EXPECT_EQ(EntriesIn(canary), 1u);
}

// Where this process cannot reach the registry of leftover marks (no
// descriptor left: EMFILE), nothing is made: a kill would leave it where no
// later isoscope looks.
TEST_F(TempDirTest, NothingIsMadeWhereNoLeftoverMarkCanBeRecorded) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitized build also has UBSan, whose vptr check makes a pipe to
  // probe memory: without a descriptor it reports every virtual call (here
  // fmt's, formatting the error) as undefined behaviour.
  GTEST_SKIP() << "needs a build without UBSan's vptr check, which needs "
                  "descriptors this test takes away (the plain suite runs it)";
#endif
  auto parent = TempDir::Create("isoscope-test-parent-");
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SetLeftoverRegistryForTesting(registry_->path() / "leftovers");
    // A mark taken and released first: the descriptors of the parent's
    // mark, which the child inherited, are closed by it, not freed for the
    // mark below to use.
    { const LeftoverMark warm_up; }
    // Every descriptor below the lowest free one is taken: a limit there
    // leaves none.
    const int lowest = ::dup(0);
    ::close(lowest);
    const rlimit none{static_cast<rlim_t>(lowest), static_cast<rlim_t>(lowest)};
    if (lowest < 0 || ::setrlimit(RLIMIT_NOFILE, &none) != 0) ::_exit(2);
    auto dir = TempDir::Create("isoscope-x-", parent->path());
    const bool refused =
        !dir && dir.error().sys_errno() == EMFILE &&
        dir.error().message().find("no leftover mark could be recorded") !=
            std::string::npos;
    ::_exit(refused ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "made, or failed otherwise";
  EXPECT_EQ(EntriesIn(parent->path()), 0u);
}

TEST_F(TempDirTest, MissingParentIsAnError) {
  auto dir = TempDir::Create("x-", "/nonexistent/isoscope");
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().sys_errno(), ENOENT);
}

}  // namespace
}  // namespace isoscope
