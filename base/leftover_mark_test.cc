#include "base/leftover_mark.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
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
#include "base/unique_fd.h"

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
  SweepIfAnOwnerDied([&](const std::vector<fs::path>& parents) {
    swept = parents;
    return SweepResult{};
  });
  return swept;
}

// Each test has a registry and a default temporary parent (TMPDIR) of its
// own.
class LeftoverMarkTest : public ::testing::Test {
 protected:
  // Not a TempDir: that would mark this process in the real registry, and
  // a process has one mark however many it takes.
  void SetUp() override {
    std::string templ =
        (fs::temp_directory_path() / "isoscope-leftover-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    scratch_ = templ;
    fs::create_directories(scratch_ / "runtime" / "isoscope");
    fs::create_directory(scratch_ / "tmp");
    SetLeftoverRegistryForTesting(Registry());
    tmpdir_.emplace("TMPDIR", Tmp().string());
    // A new registry is trusted only after a first whole sweep.
    ASSERT_EQ(Sweep(), std::vector<fs::path>{});
    ASSERT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
  }
  void TearDown() override {
    tmpdir_.reset();
    SetLeftoverRegistryForTesting({});
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
    SweepResult swept;
    for (const fs::path& parent : parents) {
      swept += TempDir::RemoveAbandoned("isoscope-", parent);
    }
    removed = swept.removed;
    return swept;
  }));
  EXPECT_EQ(removed, 2);
  EXPECT_EQ(Entries(elsewhere), std::set<std::string>{});
  EXPECT_EQ(Entries(Tmp()).size(), 2u);  // the live one and its lock
  ASSERT_TRUE(live->Remove().has_value());
  EXPECT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
}

// A sweep that could not look at or remove everything (an isoscope started
// with too few descriptors, say) leaves the dead marks: the next start
// sweeps again, where the killed owner's directories still are.
TEST_F(LeftoverMarkTest, AnIncompleteSweepKeepsTheDeadMarks) {
  const fs::path elsewhere = KillAChildHoldingTwoDirectories();
  const std::set<std::string> marks = Entries(Registry());
  ASSERT_EQ(marks.size(), 2u);  // `swept` and the dead mark
  std::vector<fs::path> first;
  EXPECT_TRUE(SweepIfAnOwnerDied([&](const std::vector<fs::path>& parents) {
    first = parents;
    return SweepResult{.removed = 0, .complete = false};
  }));
  EXPECT_EQ(Entries(Registry()), marks);
  EXPECT_EQ(Sweep(), first) << "the next start sweeps the same parents";
  EXPECT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
  EXPECT_EQ(Entries(elsewhere).size(), 2u);  // the sweep above removed none
}

// RemoveAbandoned says when it could not look at everything: here, for want
// of a descriptor to list the parent with.
TEST_F(LeftoverMarkTest, RemoveAbandonedWithoutADescriptorIsIncomplete) {
  KillAChildHoldingTwoDirectories();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int lowest = ::dup(0);
    ::close(lowest);
    const rlimit none{static_cast<rlim_t>(lowest), static_cast<rlim_t>(lowest)};
    if (lowest < 0 || ::setrlimit(RLIMIT_NOFILE, &none) != 0) ::_exit(2);
    const SweepResult swept = TempDir::RemoveAbandoned("isoscope-", Tmp());
    ::_exit(!swept.complete && swept.removed == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const SweepResult swept = TempDir::RemoveAbandoned("isoscope-", Tmp());
  EXPECT_TRUE(swept.complete);
  EXPECT_EQ(swept.removed, 1);
}

// A registry that was wiped (a reboot empties /run while /tmp may stay)
// says nothing: the sweep runs once, then the registry is trusted again.
TEST_F(LeftoverMarkTest, AWipedRegistrySweepsOnceThenIsTrustedAgain) {
  fs::remove_all(Registry());
  EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  EXPECT_EQ(Sweep(), std::nullopt);
}

// A process that cannot mark itself (every name it could take is held)
// keeps the registry untrusted for as long as it lives: sweeps run, and
// none trusts the registry again until it is gone; then one sweep finds
// what it left.
TEST_F(LeftoverMarkTest, AnUnmarkedProcessKeepsEveryStartSweepingWhileItLives) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string pid = std::to_string(::getpid());
    for (int i = 0; i < 64; ++i) {
      UniqueFd taken(
          ::open((Registry() / (pid + "." + std::to_string(i))).c_str(),
                 O_CREAT | O_RDWR | O_CLOEXEC, 0600));
      if (!taken || ::flock(taken.get(), LOCK_EX) != 0) ::_exit(2);
      (void)taken.Release();  // held for the child's life
    }
    auto dir = TempDir::Create("isoscope-unmarked-");
    if (!dir || ::write(ready[1], "r", 1) != 1) ::_exit(3);
    ::pause();
    ::_exit(4);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(Entries(Registry()).count("swept"), 0u);
  EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  EXPECT_EQ(Entries(Registry()).count("swept"), 0u) << "trusted while it lives";
  EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  int removed = 0;
  EXPECT_TRUE(SweepIfAnOwnerDied([&](const std::vector<fs::path>&) {
    const SweepResult swept = TempDir::RemoveAbandoned("isoscope-", Tmp());
    removed = swept.removed;
    return swept;
  }));
  EXPECT_EQ(removed, 1);
  EXPECT_EQ(Entries(Registry()), std::set<std::string>{"swept"});
  EXPECT_EQ(Sweep(), std::nullopt);
}

TEST_F(LeftoverMarkTest, ARegistryReplacedByALinkIsNotFollowed) {
  fs::remove_all(Registry());
  fs::create_directory(scratch_ / "victim");
  std::ofstream(scratch_ / "victim" / "precious") << "x";
  fs::create_directory_symlink(scratch_ / "victim", Registry());
  EXPECT_EQ(Sweep(), std::vector<fs::path>{});
  { LeftoverMark mark; }
  EXPECT_EQ(Entries(scratch_ / "victim"), std::set<std::string>{"precious"});
}

// Another user's runtime directory (`su` keeps XDG_RUNTIME_DIR) is not used
// by a user who is not root (root uses /run/isoscope whatever its
// environment): checked in a child that becomes nobody.
TEST_F(LeftoverMarkTest, AnotherUsersRuntimeDirectoryIsNotUsed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  const fs::path runtime = scratch_ / "others-runtime";
  fs::create_directory(runtime);
  fs::permissions(runtime, fs::perms::all);  // theirs, and open to all
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SetLeftoverRegistryForTesting({});
    ::setenv("XDG_RUNTIME_DIR", runtime.c_str(), 1);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    bool swept_all = false;
    SweepIfAnOwnerDied([&](const std::vector<fs::path>& parents) {
      swept_all = parents.empty();
      return SweepResult{};
    });
    { LeftoverMark mark; }
    ::_exit(swept_all ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the start did not sweep";
  EXPECT_EQ(Entries(runtime), std::set<std::string>{}) << "marks were kept "
                                                          "there";
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
  EXPECT_EQ(TempDir::RemoveAbandoned("isoscope-", Tmp()).removed, 1);
  EXPECT_TRUE(fs::exists(Tmp() / "isoscope-planted"));
  EXPECT_FALSE(fs::exists(Tmp() / "isoscope-given"));
}

}  // namespace
}  // namespace isoscope
