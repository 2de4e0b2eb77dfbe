#include "backends/process/namespaced_opener.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/process/fs_credentials.h"
#include "base/unique_fd.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

// A process in network, pid and mount namespaces of its own, with a /proc
// of its pid namespace, that reports the pid_max it reads and waits until
// its pipe closes.
class NamespacedChild {
 public:
  NamespacedChild() {
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 ||
        ::pipe2(from_child, O_CLOEXEC) != 0) {
      return;
    }
    go_.Reset(to_child[1]);
    UniqueFd wait_end(to_child[0]);
    report_.Reset(from_child[0]);
    UniqueFd report_end(from_child[1]);
    clone_args args{};
    args.flags = CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS;
    args.exit_signal = SIGCHLD;
    pid_ = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
    if (pid_ < 0) {
      error_ = errno;
      return;
    }
    if (pid_ == 0) {
      go_.Reset();  // the end whose closing lets it go
      report_.Reset();
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  nullptr) != 0) {
        ::_exit(1);
      }
      char value[32] = {};
      const int fd = ::open("/proc/sys/kernel/pid_max", O_RDONLY);
      const ssize_t n = fd < 0 ? -1 : ::read(fd, value, sizeof value - 1);
      if (n <= 0 ||
          ::write(report_end.get(), value, static_cast<size_t>(n)) != n) {
        ::_exit(1);
      }
      report_end.Reset();
      char byte;
      while (::read(wait_end.get(), &byte, 1) > 0) {
      }
      ::_exit(0);
    }
    report_end.Reset();
    char value[32] = {};
    const ssize_t n = ::read(report_.get(), value, sizeof value - 1);
    if (n > 0) pid_max_.assign(value, static_cast<size_t>(n));
  }
  NamespacedChild(const NamespacedChild&) = delete;
  NamespacedChild& operator=(const NamespacedChild&) = delete;
  ~NamespacedChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  int error() const { return error_; }
  const std::string& pid_max() const { return pid_max_; }

  // Lets the child (its pid namespace's init) end; whether it was reaped
  // within `limit`.
  bool EndWithin(std::chrono::milliseconds limit) {
    go_.Reset();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        reaped_ = true;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  int error_ = 0;
  bool reaped_ = false;
  UniqueFd go_;
  UniqueFd report_;
  std::string pid_max_;
};

std::vector<std::string> Listing(UniqueFd dir) {
  std::vector<std::string> names;
  DIR* stream = ::fdopendir(dir.Release());
  if (stream == nullptr) return names;
  while (dirent* entry = ::readdir(stream)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(stream);
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadAll(const UniqueFd& fd) {
  std::string text;
  char buffer[256];
  ssize_t n;
  while ((n = ::read(fd.get(), buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

// The processes of `pid`'s pid namespace other than `pid` itself.
std::vector<pid_t> OthersInNamespaceOf(pid_t pid) {
  std::vector<pid_t> found;
  std::error_code ec;
  const fs::path ns = fs::read_symlink(fmt::format("/proc/{}/ns/pid", pid), ec);
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stoi(name) == pid) continue;
    std::error_code link_ec;
    if (fs::read_symlink(entry.path() / "ns/pid", link_ec) == ns) {
      found.push_back(std::stoi(name));
    }
  }
  return found;
}

std::string StatusLine(pid_t pid, const std::string& key) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(key)) return line;
  }
  return "";
}

class NamespacedOpenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (setns, namespaces)";
    if (child_.error() == EPERM || child_.error() == ENOSPC) {
      GTEST_SKIP() << "this host refuses new namespaces: "
                   << std::strerror(child_.error());
    }
    ASSERT_GT(child_.pid(), 0) << std::strerror(child_.error());
    ASSERT_FALSE(child_.pid_max().empty()) << "the child could not start";
  }

  NamespacedChild child_;
};

constexpr uint64_t kResolve = RESOLVE_NO_SYMLINKS;

// The child's network namespace has only its loopback: its sysctl tree
// lists that, whatever interfaces the host has; and its pid_max is its pid
// namespace's, as the child itself read it.
TEST_F(NamespacedOpenerTest, LooksUpInTheThreadsNamespaces) {
  NamespacedOpener opener(65534, 65534, 0);
  auto dir = opener.Open(child_.pid(), "/proc/sys/net/ipv4/conf",
                         O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, kResolve);
  ASSERT_TRUE(dir.has_value()) << std::strerror(dir.error());
  EXPECT_THAT(Listing(*std::move(dir)), ElementsAre("all", "default", "lo"));

  auto pid_max = opener.Open(child_.pid(), "/proc/sys/kernel/pid_max",
                             O_RDONLY | O_CLOEXEC, 0, kResolve);
  ASSERT_TRUE(pid_max.has_value()) << std::strerror(pid_max.error());
  EXPECT_EQ(ReadAll(*pid_max), child_.pid_max());
  EXPECT_EQ(opener.helpers(), 1U);

  // From a thread acting as the workload (checked calls run so), which by
  // itself may not follow the child's /proc/<pid>/ns links.
  {
    ScopedFsCredentials as_workload;
    ASSERT_TRUE(as_workload.Enter(65534, 65534, 0).has_value());
    auto again = opener.Open(child_.pid(), "/proc/sys/kernel/pid_max",
                             O_RDONLY | O_CLOEXEC, 0, kResolve);
    EXPECT_TRUE(again.has_value()) << std::strerror(again.error());
    ASSERT_TRUE(as_workload.Restore().has_value());
  }

  // The workload's identity, not isoscope's: nobody may not write a sysctl.
  auto written = opener.Open(child_.pid(), "/proc/sys/kernel/pid_max",
                             O_WRONLY | O_CLOEXEC, 0, kResolve);
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error(), EACCES);
  // Nothing it cannot find, and no symlink followed.
  auto missing = opener.Open(child_.pid(), "/proc/sys/net/ipv4/conf/nothing",
                             O_RDONLY | O_CLOEXEC, 0, kResolve);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error(), ENOENT);
  auto link = opener.Open(child_.pid(), "/proc/self/root/etc/hostname",
                          O_RDONLY | O_CLOEXEC, 0, kResolve);
  ASSERT_FALSE(link.has_value());
  EXPECT_EQ(link.error(), ELOOP);
}

// The helper is the child's pid namespace's one other process: with the
// effective ids and capabilities it was given (real and saved ids
// isoscope's), no_new_privs, a seccomp filter, not dumpable; a process of
// the workload's uid can neither signal nor ptrace it. Killed (by root), it
// is replaced at the next lookup.
TEST_F(NamespacedOpenerTest, HelperIsConfinedAndReplacedWhenKilled) {
  NamespacedOpener opener(65534, 65534, 0);
  ASSERT_TRUE(opener
                  .Open(child_.pid(), "/proc/sys/kernel/pid_max",
                        O_RDONLY | O_CLOEXEC, 0, kResolve)
                  .has_value());
  const std::vector<pid_t> helpers = OthersInNamespaceOf(child_.pid());
  ASSERT_EQ(helpers.size(), 1U);
  const pid_t helper = helpers[0];
  EXPECT_EQ(StatusLine(helper, "Uid:"), "Uid:\t0\t65534\t0\t65534");
  EXPECT_EQ(StatusLine(helper, "Gid:"), "Gid:\t0\t65534\t0\t65534");
  EXPECT_EQ(StatusLine(helper, "Groups:"), "Groups:\t65534 ");
  EXPECT_EQ(StatusLine(helper, "CapEff:"), "CapEff:\t0000000000000000");
  EXPECT_EQ(StatusLine(helper, "CapPrm:"), "CapPrm:\t0000000000000000");
  EXPECT_EQ(StatusLine(helper, "NoNewPrivs:"), "NoNewPrivs:\t1");
  EXPECT_EQ(StatusLine(helper, "Seccomp:"), "Seccomp:\t2");
  struct stat st {};
  ASSERT_EQ(::stat(fmt::format("/proc/{}/mem", helper).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0U) << "a dumpable helper's /proc files are its own";

  // As the workload's uid: no signal, no ptrace.
  const pid_t workload = ::fork();
  ASSERT_GE(workload, 0);
  if (workload == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(2);
    }
    const bool signalled = ::kill(helper, SIGSTOP) == 0 || errno != EPERM;
    const bool attached =
        ::ptrace(PTRACE_ATTACH, helper, nullptr, nullptr) == 0 ||
        errno != EPERM;
    ::_exit(signalled ? 3 : attached ? 4 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(workload, &status, 0), workload);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "exit status " << WEXITSTATUS(status)
      << " (3: signalled it, 4: attached to it)";

  ASSERT_EQ(::kill(helper, SIGKILL), 0);
  for (int i = 0; i < 200 && !OthersInNamespaceOf(child_.pid()).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto again = opener.Open(child_.pid(), "/proc/sys/kernel/pid_max",
                           O_RDONLY | O_CLOEXEC, 0, kResolve);
  ASSERT_TRUE(again.has_value()) << std::strerror(again.error());
  EXPECT_EQ(ReadAll(*again), child_.pid_max());
  EXPECT_EQ(opener.helpers(), 1U);
}

// The init of a pid namespace ends only once every process of it has been
// reaped: a helper left unreaped would hold the workload's end for ever.
// And the opener leaves no process of its own behind.
TEST_F(NamespacedOpenerTest, TheWorkloadEndsWhileAHelperLivesAndNothingStays) {
  {
    NamespacedOpener opener(65534, 65534, 0);
    ASSERT_TRUE(opener
                    .Open(child_.pid(), "/proc/sys/kernel/pid_max",
                          O_RDONLY | O_CLOEXEC, 0, kResolve)
                    .has_value());
    EXPECT_TRUE(child_.EndWithin(std::chrono::seconds(5)))
        << "the namespace's init did not end with a helper in it";
    // Its namespaces are gone: the call fails, isoscope goes on.
    auto after = opener.Open(child_.pid(), "/proc/sys/kernel/pid_max",
                             O_RDONLY | O_CLOEXEC, 0, kResolve);
    EXPECT_FALSE(after.has_value());
  }
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1)
      << "a child of the test is left";
  EXPECT_EQ(errno, ECHILD);
}

TEST(NamespacedOpenerPathsTest, OnlyTheNamespacedProcTrees) {
  EXPECT_TRUE(NamespacedOpener::DependsOnNamespaces("/proc/sys"));
  EXPECT_TRUE(NamespacedOpener::DependsOnNamespaces("/proc/sys/net/core"));
  EXPECT_TRUE(NamespacedOpener::DependsOnNamespaces("/proc/sysvipc/shm"));
  EXPECT_FALSE(NamespacedOpener::DependsOnNamespaces("/proc/sysrq-trigger"));
  EXPECT_FALSE(NamespacedOpener::DependsOnNamespaces("/proc/system"));
  EXPECT_FALSE(NamespacedOpener::DependsOnNamespaces("/proc/self/net/dev"));
  EXPECT_FALSE(NamespacedOpener::DependsOnNamespaces("/etc/sys/x"));
  EXPECT_FALSE(NamespacedOpener::DependsOnNamespaces("/proc"));
}

}  // namespace
}  // namespace isoscope
