#include "base/leftover_mark.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
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

std::set<std::string> Entries(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.insert(entry.path().filename().string());
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

// What a start's sweep was given, or nullopt when it did not run.
std::optional<std::vector<fs::path>> Sweep() {
  std::optional<std::vector<fs::path>> swept;
  SweepIfAnOwnerDied(
      [&](const std::vector<fs::path>& parents) { swept = parents; });
  return swept;
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
    fs::permissions(scratch_ / "runtime", fs::perms::owner_all);
    fs::create_directory(scratch_ / "tmp");
    runtime_.emplace("XDG_RUNTIME_DIR", (scratch_ / "runtime").string());
    tmpdir_.emplace("TMPDIR", Tmp().string());
    // A new registry is trusted only after a first whole sweep.
    ASSERT_EQ(Sweep(), std::vector<fs::path>{});
    ASSERT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
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

  // A child makes a temporary directory in the default parent and one in
  // another (returned), and is killed holding both.
  fs::path KillAChildHoldingTwoDirectories() const {
    fs::path elsewhere = scratch_ / "elsewhere";
    fs::create_directory(elsewhere);
    InAChildKilledOutright([&](const auto& die) {
      auto dir = TempDir::Create("isoscope-killed-");
      auto other = TempDir::Create("isoscope-killed-", elsewhere);
      if (dir && other) die();
    });
    return elsewhere;
  }

  fs::path scratch_;
  std::optional<ScopedEnv> runtime_;
  std::optional<ScopedEnv> tmpdir_;
};

TEST_F(LeftoverMarkTest, OneFilePerProcessWhileAnyMarkIsHeld) {
  {
    LeftoverMark first;
    ASSERT_EQ(Entries(Registry()).size(), 2u);  // the mark and "swept"
    {
      LeftoverMark second(Tmp());
      LeftoverMark moved(std::move(second));
      EXPECT_EQ(Entries(Registry()).size(), 2u);
    }
    EXPECT_EQ(Entries(Registry()).size(), 2u);
    struct stat st {};
    ASSERT_EQ(::stat(Registry().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    // A live process's mark is not dead.
    EXPECT_EQ(Sweep(), std::nullopt);
  }
  EXPECT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
}

// The start-up sweep runs only after an owner died, and looks where the
// dead owner made its directories.
TEST_F(LeftoverMarkTest, TheSweepRunsAfterAnOwnerDiedWhereItsDirectoriesWere) {
  LeftoverMark ours;
  const fs::path elsewhere = KillAChildHoldingTwoDirectories();
  EXPECT_EQ(Entries(Registry()).size(), 3u);  // ours, theirs, "swept"
  std::optional<std::vector<fs::path>> swept = Sweep();
  ASSERT_TRUE(swept.has_value());
  EXPECT_EQ(std::set<fs::path>(swept->begin(), swept->end()),
            (std::set<fs::path>{Tmp(), elsewhere}));
  EXPECT_EQ(Entries(Registry()).size(), 2u);  // the dead mark is gone
  EXPECT_EQ(Sweep(), std::nullopt);
}

// A kill leaves what TempDir::RemoveAbandoned then finds, in both parents.
TEST_F(LeftoverMarkTest, AKilledOwnersDirectoriesAreRemovedByTheSweep) {
  const fs::path elsewhere = KillAChildHoldingTwoDirectories();
  auto live = TempDir::Create("isoscope-live-");
  ASSERT_TRUE(live.has_value()) << live.error().ToString();
  int removed = 0;
  EXPECT_TRUE(SweepIfAnOwnerDied([&](const std::vector<fs::path>& parents) {
    for (const fs::path& parent : parents) {
      removed += TempDir::RemoveAbandoned("isoscope-", parent);
    }
  }));
  EXPECT_EQ(removed, 2);
  EXPECT_EQ(Entries(elsewhere), std::set<std::string>{});
  EXPECT_EQ(Entries(Tmp()).size(), 2u);  // the live one and its lock
  ASSERT_TRUE(live->Remove().has_value());
  EXPECT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
}

// A registry that was wiped (a reboot empties /run while /tmp may stay) or
// that a process could not mark itself in says nothing: the sweep runs.
TEST_F(LeftoverMarkTest, AnUntrustedRegistrySweepsOnceThenIsTrustedAgain) {
  fs::remove_all(Registry());
  EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  EXPECT_EQ(Sweep(), std::nullopt);

  // Every name a mark could take is held: this process cannot mark itself.
  const std::string pid = std::to_string(::getpid());
  for (int i = 0; i < 64; ++i) {
    std::ofstream(Registry() / (pid + "." + std::to_string(i))) << "";
  }
  std::set<std::string> before = Entries(Registry());
  {
    LeftoverMark unmade;
    EXPECT_EQ(Entries(Registry()).count("swept"), 0u);
  }
  // The unlocked files are dead marks as well; the sweep removes them.
  EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  EXPECT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
}

TEST_F(LeftoverMarkTest, ARegistryOthersCouldChangeIsNotUsed) {
  // Another user's runtime directory (`su` keeps XDG_RUNTIME_DIR).
  fs::permissions(scratch_ / "runtime", fs::perms::others_write,
                  fs::perm_options::add);
  {
    LeftoverMark mark;
    // Nothing in the untrusted one (root falls back to /run/isoscope).
    EXPECT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
  }
  if (::geteuid() != 0) {
    // No registry at all: every start sweeps.
    EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  }
  // A link in place of the registry is refused, not followed.
  fs::permissions(scratch_ / "runtime", fs::perms::others_write,
                  fs::perm_options::remove);
  fs::remove_all(Registry());
  fs::create_directory(scratch_ / "victim");
  std::ofstream(scratch_ / "victim" / "precious") << "x";
  fs::create_directory_symlink(scratch_ / "victim", Registry());
  EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  EXPECT_TRUE(fs::exists(scratch_ / "victim" / "precious"));
}

// A directory planted in a shared /tmp by another user (its lock file
// theirs) is not removed; a workdir given to the workload's user (the lock
// file isoscope's) is.
TEST_F(LeftoverMarkTest, RemoveAbandonedTakesOnlyWhatThisUserLocked) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to plant another owner";
  fs::create_directory(Tmp() / "isoscope-planted");
  std::ofstream(Tmp() / "isoscope-planted.lock") << "";
  ASSERT_EQ(::chown((Tmp() / "isoscope-planted").c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chown((Tmp() / "isoscope-planted.lock").c_str(), 65534, 65534),
            0);
  fs::create_directory(Tmp() / "isoscope-given");
  std::ofstream(Tmp() / "isoscope-given.lock") << "";
  ASSERT_EQ(::chown((Tmp() / "isoscope-given").c_str(), 65534, 65534), 0);
  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-", Tmp()), 1);
  EXPECT_TRUE(fs::exists(Tmp() / "isoscope-planted"));
  EXPECT_FALSE(fs::exists(Tmp() / "isoscope-given"));
}

}  // namespace
}  // namespace isoscope
