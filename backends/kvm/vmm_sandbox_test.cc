// The VMM thread's seccomp filter: the allowlist is well-formed, a confined
// thread can make the calls the VMM needs and no others (EPERM, never a
// kill), the filter binds only the thread that installed it, and the list
// covers what a real run's VMM thread does (a missing entry would surface
// as an error of the run or a failing workload).
#include "backends/kvm/vmm_sandbox.h"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backends/kvm/kvm_backend.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "policies/loader.h"
#include "policies/policy.h"
#include "supervisor/host_facts.h"
#include "supervisor/supervisor.h"

namespace isoscope::kvm {
namespace {

// Runs `body` on a fresh thread and waits for it: a filter installed there
// dies with the thread and never reaches the test's own thread.
template <typename Body>
void OnFreshThread(Body body) {
  std::thread thread(body);
  thread.join();
}

// errno of a call that returned -1, or 0 when it succeeded.
int ErrnoOf(long rc) { return rc == -1 ? errno : 0; }

TEST(VmmAllowedSyscallsTest, SortedUniqueAndKnownToLibseccomp) {
  const auto names = VmmAllowedSyscalls();
  ASSERT_FALSE(names.empty());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end())
      << "a syscall is listed twice";
  std::set<int> numbers;
  for (std::string_view name : names) {
    const std::string copy(name);
    const int number = seccomp_syscall_resolve_name(copy.c_str());
    EXPECT_NE(number, __NR_SCMP_ERROR) << name;
    EXPECT_GE(number, 0) << name << " is not a native x86-64 syscall";
    numbers.insert(number);
  }
  // Two names of one number would make the surface look bigger than it is.
  EXPECT_EQ(numbers.size(), names.size());
}

TEST(VmmAllowedSyscallsTest, ExcludesWhatASubvertedVmmWouldWant) {
  const auto names = VmmAllowedSyscalls();
  for (std::string_view banned : {"execve",
                                  "execveat",
                                  "fork",
                                  "vfork",
                                  "clone",
                                  "clone3",
                                  "ptrace",
                                  "socket",
                                  "connect",
                                  "kill",
                                  "tkill",
                                  "mount",
                                  "setns",
                                  "unshare",
                                  "process_vm_writev",
                                  "prctl",
                                  "seccomp",
                                  "bpf",
                                  "open_by_handle_at",
                                  "kexec_load",
                                  "init_module"}) {
    EXPECT_FALSE(std::binary_search(names.begin(), names.end(), banned))
        << banned;
  }
}

TEST(ConfineVmmThreadTest, AllowsWhatTheVmmNeeds) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  ASSERT_EQ(::write(write_end.get(), "x", 1), 1);

  bool confined = false;
  long read_rc = -2;
  char byte = 0;
  int clock_errno = -1;
  long write_rc = -2;
  int open_errno = -1;
  int close_errno = -1;
  OnFreshThread([&] {
    confined = ConfineVmmThread().has_value();
    if (!confined) return;
    read_rc = ::read(read_end.get(), &byte, 1);
    timespec now = {};
    clock_errno = ErrnoOf(::syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now));
    write_rc = ::write(write_end.get(), "y", 1);
    // File calls of the guest are proxied: openat of a path is allowed by
    // design (the view's checks are the guest kernel's, not the filter's).
    const long fd =
        ::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
    open_errno = ErrnoOf(fd);
    if (fd >= 0) close_errno = ErrnoOf(::close(static_cast<int>(fd)));
  });
  ASSERT_TRUE(confined);
  EXPECT_EQ(read_rc, 1);
  EXPECT_EQ(byte, 'x');
  EXPECT_EQ(clock_errno, 0) << ::strerror(clock_errno);
  EXPECT_EQ(write_rc, 1);
  EXPECT_EQ(open_errno, 0) << ::strerror(open_errno);
  EXPECT_EQ(close_errno, 0) << ::strerror(close_errno);
  char echoed = 0;
  EXPECT_EQ(::read(read_end.get(), &echoed, 1), 1);
  EXPECT_EQ(echoed, 'y');
}

// Each refused call is one whose unconfined result differs from EPERM and
// does no harm (a missing path, a pid that cannot exist), so a filter that
// let it through fails the test instead of replacing or forking it.
TEST(ConfineVmmThreadTest, RefusesEverythingElseWithEperm) {
  bool confined = false;
  int socket_errno = 0;
  int getppid_errno = 0;
  int tgkill_errno = 0;
  int execve_errno = 0;
  int ptrace_errno = 0;
  int clone3_errno = 0;
  int kill_errno = 0;
  long socket_fd = -1;
  OnFreshThread([&] {
    confined = ConfineVmmThread().has_value();
    if (!confined) return;
    socket_fd = ::syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socket_errno = ErrnoOf(socket_fd);
    getppid_errno = ErrnoOf(::syscall(SYS_getppid));
    // tgkill is allowed towards this process only (abort()); signal 0
    // sends nothing either way.
    tgkill_errno = ErrnoOf(::syscall(SYS_tgkill, 1, 1, 0));
    char path[] = "/nonexistent/isoscope-vmm-sandbox-test";
    char* argv[] = {path, nullptr};
    char* envp[] = {nullptr};
    execve_errno = ErrnoOf(::syscall(SYS_execve, path, argv, envp));
    ptrace_errno =
        ErrnoOf(::syscall(SYS_ptrace, PTRACE_PEEKDATA, -1, nullptr, nullptr));
    // A size below CLONE_ARGS_SIZE_VER0 is EINVAL when unfiltered.
    clone3_errno = ErrnoOf(::syscall(SYS_clone3, nullptr, 0));
    kill_errno = ErrnoOf(::syscall(SYS_kill, -1000000000, 0));
  });
  if (socket_fd >= 0) ::close(static_cast<int>(socket_fd));
  ASSERT_TRUE(confined);
  EXPECT_EQ(socket_errno, EPERM) << ::strerror(socket_errno);
  EXPECT_EQ(getppid_errno, EPERM) << ::strerror(getppid_errno);
  EXPECT_EQ(tgkill_errno, EPERM) << ::strerror(tgkill_errno);
  EXPECT_EQ(execve_errno, EPERM) << ::strerror(execve_errno);
  EXPECT_EQ(ptrace_errno, EPERM) << ::strerror(ptrace_errno);
  EXPECT_EQ(clone3_errno, EPERM) << ::strerror(clone3_errno);
  EXPECT_EQ(kill_errno, EPERM) << ::strerror(kill_errno);
}

TEST(ConfineVmmThreadTest, OtherThreadsStayFree) {
  bool confined = false;
  int socket_errno_inside = 0;
  OnFreshThread([&] {
    confined = ConfineVmmThread().has_value();
    if (confined) {
      socket_errno_inside = ErrnoOf(
          ::syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
  });
  ASSERT_TRUE(confined);
  ASSERT_EQ(socket_errno_inside, EPERM);  // the filter did load

  UniqueFd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(socket_fd.valid()) << ::strerror(errno);
  EXPECT_GT(::syscall(SYS_getppid), 0);
  // A thread started after the confined one ended is free as well.
  long later_fd = -1;
  int later_errno = 0;
  OnFreshThread([&] {
    later_fd = ::syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    later_errno = ErrnoOf(later_fd);
  });
  EXPECT_GE(later_fd, 0) << ::strerror(later_errno);
  if (later_fd >= 0) ::close(static_cast<int>(later_fd));
}

// --- The list covers a real run's VMM thread ---------------------------------

std::filesystem::path BuildDir() {
  if (const char* dir = std::getenv("ISOSCOPE_BUILD_DIR")) return dir;
  return ISOSCOPE_TEST_BUILD_DIR;
}

class ConfinedVmmRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto probe = KvmBackend().Probe(); !probe.available) {
      GTEST_SKIP() << "kvm backend unavailable: " << probe.reason;
    }
    auto dir = TempDir::Create("isoscope-vmmsandbox-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    workdir_.emplace(std::move(*dir));
  }

  // Runs a bench workload under the default preset (or `policy_yaml`) on the
  // kvm backend, whose VMM thread confines itself before the guest's first
  // instruction.
  Result<RunResult> RunBench(const std::string& name,
                             std::vector<std::string> args,
                             std::optional<std::string> policy_yaml = {}) {
    const std::filesystem::path built = BuildDir() / "workloads/bench" / name;
    EXPECT_TRUE(std::filesystem::exists(built))
        << built << " is not built (target isoscope_workload_programs)";
    // From the workdir, where the preset lets a workload exec.
    const std::string path = (workdir_->path() / name).string();
    std::error_code ec;
    std::filesystem::copy_file(built, path, ec);
    Workload workload{
        path, {path}, {"PATH=/usr/bin:/bin"}, workdir_->path().string()};
    for (auto& arg : args) workload.argv.push_back(std::move(arg));
    // A test policy is deliberately open (holes.h); the preset is checked.
    auto preset = policy_yaml ? ParsePolicy(*policy_yaml, "test.yaml",
                                            {.refuse_holes = false})
                              : LoadPreset("default");
    if (!preset) return tl::unexpected(preset.error());
    auto policy = std::make_shared<const Policy>(
        WithWorkdir(*preset, workdir_->path().string()));
    SupervisorOptions options;
    options.host_facts = HostFacts{};
    KvmBackend kvm;
    return Supervisor(policy, options).Run(kvm, workload);
  }

  std::optional<TempDir> workdir_;
};

TEST_F(ConfinedVmmRunTest, HelloRunsToItsEnd) {
  auto result = RunBench("hello", {});
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason;
  EXPECT_EQ(result->termination.exit_code, 0);
  EXPECT_EQ(result->output.stdout_bytes,
            "hello from isoscope\nRESULT hello code=0\n");
  EXPECT_EQ(result->output.stderr_bytes, "");
}

// file-io proxies openat, write, fsync, lseek, read, close and unlink to
// the host from the confined thread.
TEST_F(ConfinedVmmRunTest, FileIoRunsToItsEnd) {
  auto result = RunBench("file-io", {"4"});
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason;
  EXPECT_EQ(result->termination.exit_code, 0);
  EXPECT_EQ(result->output.stdout_bytes,
            "RESULT file-io n=4 bytes=16384 ok=1\n");
  EXPECT_EQ(result->output.stderr_bytes, "");
  EXPECT_FALSE(
      std::filesystem::exists(workdir_->path() / "isoscope-file-io.tmp"));
}

// fork snapshots guest RAM (mincore), dups every guest descriptor (fcntl)
// and restores the parent's RAM; execve opens and reads the new image and
// resets the VM. The workloads directory is in the view, so the child's
// execve of `startup` can succeed.
TEST_F(ConfinedVmmRunTest, ForkExecRunsToItsEnd) {
  const std::string yaml = fmt::format(R"(version: 1
syscalls: {{default: allow}}
filesystem:
  readonly: ["{}"]
  writable: ["{{workdir}}"]
)",
                                       (BuildDir() / "workloads").string());
  // fork-exec execs the startup program beside it.
  std::filesystem::copy_file(BuildDir() / "workloads/bench/startup",
                             workdir_->path() / "startup");
  auto result = RunBench("fork-exec", {"2"}, yaml);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason;
  EXPECT_EQ(result->termination.exit_code, 0) << result->output.stderr_bytes;
  EXPECT_EQ(result->output.stdout_bytes, "RESULT fork-exec n=2 ok=1\n");
}

}  // namespace
}  // namespace isoscope::kvm
