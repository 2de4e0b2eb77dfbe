#include "base/leftover_mark.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/temp_dir.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::vector<std::string> Entries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

// Runs `body` in a child, which calls the function it is given to die of
// SIGKILL while it holds what it made.
void InAChildKilledOutright(
    const std::function<void(const std::function<void()>&)>& body) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const auto die = [] { ::kill(::getpid(), SIGKILL); };
    body(die);
    ::_exit(1);  // `body` did not die: the wait below says so
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
}

// Each test has a registry (XDG_RUNTIME_DIR) and a default temporary
// parent (TMPDIR) of its own.
class LeftoverMarkTest : public ::testing::Test {
 protected:
  // Not a TempDir: that would mark this process in the real registry, and
  // a process has one mark however many it takes.
  void SetUp() override {
    std::string templ =
        (fs::temp_directory_path() / "isoscope-leftover-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    scratch_ = templ;
    fs::create_directory(scratch_ / "runtime");
    fs::create_directory(scratch_ / "tmp");
    runtime_.emplace("XDG_RUNTIME_DIR", (scratch_ / "runtime").string());
    tmpdir_.emplace("TMPDIR", (scratch_ / "tmp").string());
  }
  void TearDown() override {
    tmpdir_.reset();
    runtime_.reset();
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }
  fs::path Registry() const {
    return scratch_ / "runtime" / "isoscope" / "leftovers";
  }
  fs::path Tmp() const { return scratch_ / "tmp"; }

  fs::path scratch_;
  std::optional<ScopedEnv> runtime_;
  std::optional<ScopedEnv> tmpdir_;
};

TEST_F(LeftoverMarkTest, OneFilePerProcessWhileAnyMarkIsHeld) {
  EXPECT_EQ(LeftoverRegistry(), Registry());
  {
    LeftoverMark first;
    ASSERT_EQ(Entries(Registry()).size(), 1u);
    {
      LeftoverMark second;
      LeftoverMark moved(std::move(second));
      EXPECT_EQ(Entries(Registry()).size(), 1u);
    }
    EXPECT_EQ(Entries(Registry()).size(), 1u);
    struct stat st {};
    ASSERT_EQ(::stat(Registry().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    // A live process's mark is not dead.
    EXPECT_EQ(FindDeadLeftoverMarks(), std::vector<fs::path>{});
  }
  EXPECT_TRUE(Entries(Registry()).empty());
}

TEST_F(LeftoverMarkTest, AProcessKilledHoldingAMarkLeavesItDead) {
  LeftoverMark ours;
  InAChildKilledOutright([](const auto& die) {
    const LeftoverMark theirs;
    die();
  });
  auto dead = FindDeadLeftoverMarks();
  ASSERT_TRUE(dead.has_value());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(Entries(Registry()).size(), 2u);
  ForgetLeftoverMarks(*dead);
  EXPECT_EQ(Entries(Registry()).size(), 1u);  // ours, still held
  EXPECT_EQ(FindDeadLeftoverMarks(), std::vector<fs::path>{});
}

// The start-up sweep lists the temporary parent only after an owner died.
TEST_F(LeftoverMarkTest, TheSweepRunsOnlyAfterAnOwnerDied) {
  // A directory abandoned without a mark (an isoscope from before marks):
  // its lock is free, but nobody died holding a mark since.
  fs::create_directory(Tmp() / "isoscope-old-1");
  std::ofstream(Tmp() / "isoscope-old-1.lock") << "";
  EXPECT_EQ(TempDir::RemoveAbandonedAfterDeadOwners("isoscope-"), 0);
  EXPECT_TRUE(fs::exists(Tmp() / "isoscope-old-1"));

  InAChildKilledOutright([](const auto& die) {
    auto dir = TempDir::Create("isoscope-killed-");
    if (dir) std::ofstream(dir->path() / "left") << "behind";
    die();
  });
  auto live = TempDir::Create("isoscope-live-");
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  EXPECT_EQ(Entries(Tmp()).size(), 6u);  // three directories, three locks
  // The dead mark brings the whole sweep: both abandoned directories go.
  EXPECT_EQ(TempDir::RemoveAbandonedAfterDeadOwners("isoscope-"), 2);
  EXPECT_EQ(Entries(Tmp()).size(), 2u);
  EXPECT_TRUE(fs::is_directory(live->path()));
  EXPECT_EQ(FindDeadLeftoverMarks(), std::vector<fs::path>{});
  ASSERT_TRUE(live->Remove().has_value());
  EXPECT_TRUE(Entries(Registry()).empty());
}

// Without a registry that can be trusted, every start sweeps.
TEST_F(LeftoverMarkTest, AnUntrustedRegistryMeansSweepingEveryTime) {
  fs::create_directories(Registry());
  fs::permissions(Registry(), fs::perms::others_write, fs::perm_options::add);
  EXPECT_EQ(FindDeadLeftoverMarks(), std::nullopt);
  fs::create_directory(Tmp() / "isoscope-old-2");
  std::ofstream(Tmp() / "isoscope-old-2.lock") << "";
  EXPECT_EQ(TempDir::RemoveAbandonedAfterDeadOwners("isoscope-"), 1);
  EXPECT_FALSE(fs::exists(Tmp() / "isoscope-old-2"));
}

}  // namespace
}  // namespace isoscope
