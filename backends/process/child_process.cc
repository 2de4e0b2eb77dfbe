#include "backends/process/child_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <poll.h>
#include <sanitizer/asan_interface.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// glibc 2.36's <sys/pidfd.h> declares its functions without extern "C".
extern "C" {
#include <sys/pidfd.h>
}

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "backends/process/clone_on_stack.h"
#include "backends/seccomp/seccomp_program.h"
#include "base/exec_args.h"

namespace isoscope {
namespace {

// Steps of the child between fork and exec, reported with errno on failure.
// 0 is not a failure: it announces the listener's fd number.
enum class ChildStep : int {
  kImagePeak = -1,  // not a failure: the image's VmHWM before the execve
  kListenerNumber = 0,
  kJoinCgroup = 1,
  kSetProcessGroup,
  kDeathSignal,
  kParentGone,
  kSignalMask,
  kStdio,
  kEnterRoot,
  kChdir,
  kWaitForRelease,
  kSetup,
  kLimits,
  kTrapRdtsc,
  kCloseDescriptors,
  kSeccomp,
  kExec,
};

const char* ChildStepName(ChildStep step) {
  switch (step) {
    case ChildStep::kImagePeak:
      return "reporting its peak memory";
    case ChildStep::kListenerNumber:
      return "announcing the seccomp listener";
    case ChildStep::kJoinCgroup:
      return "joining the run's cgroup v1 hierarchies";
    case ChildStep::kSetProcessGroup:
      return "setpgid";
    case ChildStep::kDeathSignal:
      return "prctl(PR_SET_PDEATHSIG)";
    case ChildStep::kParentGone:
      return "checking the parent is alive";
    case ChildStep::kSignalMask:
      return "resetting signals";
    case ChildStep::kStdio:
      return "setting up stdio";
    case ChildStep::kEnterRoot:
      return "entering the workload's root";
    case ChildStep::kChdir:
      return "chdir to the workdir";
    case ChildStep::kWaitForRelease:
      return "waiting for the parent";
    case ChildStep::kSetup:
      return "setting up";
    case ChildStep::kLimits:
      return "setrlimit";
    case ChildStep::kTrapRdtsc:
      return "prctl(PR_SET_TSC)";
    case ChildStep::kCloseDescriptors:
      return "closing inherited descriptors (close_range)";
    case ChildStep::kSeccomp:
      return "installing the seccomp filter";
    case ChildStep::kExec:
      return "execve";
  }
  return "?";
}

// One message on the report channel (a SOCK_SEQPACKET keeps each whole).
struct ChildFailure {
  int step;
  int error;
  ChildSetup::Failure setup;  // kSetup: what failed
};

// ChildFail, ChildMain and SharedMemoryChildMain are not instrumented by
// AddressSanitizer (the attribute; a no-op in other builds). A child that
// shares the parent's memory (SpawnSharingMemory) runs on a stack the
// runtime does not know, with the parent's thread state and shadow memory,
// as glibc's posix_spawn child does. Instrumented, each call of a noreturn
// function there (these and _exit) first ran __asan_handle_no_return: it
// judged the child's stack against the parent's bounds, printed a warning
// on isoscope's stderr, and its sigaltstack call wrote to a stack slot the
// shadow still marked poisoned. Between clone and exec these functions only
// make async-signal-safe calls; the runtime still checks the libc calls it
// intercepts.
[[noreturn, gnu::no_sanitize_address]] void ChildFail(
    int report_fd, ChildStep step, const ChildSetup::Failure* setup = nullptr) {
  ChildFailure failure{static_cast<int>(step), errno, {}};
  if (setup != nullptr) failure.setup = *setup;
  failure.setup.what[sizeof failure.setup.what - 1] = '\0';
  // Nothing useful can be done if the report itself fails.
  [[maybe_unused]] ssize_t n = ::write(report_fd, &failure, sizeof failure);
  ::_exit(127);
}

// The peak resident set in KiB (VmHWM) in a /proc/<pid>/status file, or -1.
// Async-signal-safe: no allocation, the file read into a stack buffer.
int64_t ReadPeakKib(const char* status_path) {
  const int fd = ::open(status_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[4096];
  size_t used = 0;
  while (used < sizeof text - 1) {
    const ssize_t n = ::read(fd, text + used, sizeof text - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  text[used] = '\0';
  constexpr char kKey[] = "\nVmHWM:";
  const char* at = ::strstr(text, kKey);
  if (at == nullptr) return -1;
  at += sizeof kKey - 1;
  while (*at == ' ' || *at == '\t') ++at;
  int64_t kib = 0;
  bool digits = false;
  for (; *at >= '0' && *at <= '9'; ++at) {
    kib = kib * 10 + (*at - '0');
    digits = true;
  }
  return digits ? kib : -1;
}

// Makes `root` the process's root (SpawnOptions::root). In a mount namespace
// of its own: `root` bound on itself and pivoted into, the old root
// detached, so no path leads out of it and /proc shows the workload's paths
// as it sees them. Otherwise chroot. Async-signal-safe; 0 or -1 with errno.
// Not instrumented by AddressSanitizer, as ChildMain, which calls it.
[[gnu::no_sanitize_address]] int EnterRoot(const char* root,
                                           bool own_mount_namespace) {
  if (!own_mount_namespace) return ::chroot(root);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount(root, root, nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
      ::chdir(root) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 ||
      ::umount2(".", MNT_DETACH) != 0) {
    return -1;
  }
  return ::chdir("/");
}

// Runs in the child: async-signal-safe calls only, no allocation. Not
// instrumented by AddressSanitizer (see ChildFail).
[[noreturn, gnu::no_sanitize_address]] void ChildMain(
    int report_fd, pid_t parent, const SpawnOptions& options,
    const char* workdir, const char* path, char* const* argv,
    char* const* envp) {
  const ChildStdio& stdio = options.stdio;
  for (const int tasks : options.join_cgroup_tasks) {
    if (::write(tasks, "0", 1) != 1) {
      ChildFail(report_fd, ChildStep::kJoinCgroup);
    }
  }
  if (::setpgid(0, 0) != 0) ChildFail(report_fd, ChildStep::kSetProcessGroup);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    ChildFail(report_fd, ChildStep::kDeathSignal);
  }
  // The parent may have died before PR_SET_PDEATHSIG took effect. In a new
  // pid namespace the parent is outside it (getppid() is 0): the release
  // read then sees the parent's death as EOF instead.
  if (::getppid() != parent) {
    errno = ESRCH;
    ChildFail(report_fd, ChildStep::kParentGone);
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t empty;
  sigemptyset(&empty);
  if (::sigprocmask(SIG_SETMASK, &empty, nullptr) != 0) {
    ChildFail(report_fd, ChildStep::kSignalMask);
  }
  if (::dup2(stdio.stdin_fd, 0) < 0 || ::dup2(stdio.stdout_fd, 1) < 0 ||
      ::dup2(stdio.stderr_fd, 2) < 0) {
    ChildFail(report_fd, ChildStep::kStdio);
  }
  if (!options.root.empty() &&
      EnterRoot(options.root.c_str(),
                (options.namespaces & CLONE_NEWNS) != 0) != 0) {
    ChildFail(report_fd, ChildStep::kEnterRoot);
  }
  if (::chdir(workdir) != 0) ChildFail(report_fd, ChildStep::kChdir);
  if (options.wait_for_release || options.count_syscalls) {
    char go = 0;
    ssize_t n;
    do {
      n = ::read(report_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
      if (n == 0) errno = EPIPE;
      ChildFail(report_fd, ChildStep::kWaitForRelease);
    }
  }
  if (options.setup != nullptr) {
    ChildSetup::Failure failure;
    if (int result = options.setup->Run(&failure); result < 0) {
      errno = -result;
      ChildFail(report_fd, ChildStep::kSetup, &failure);
    }
    // A change of uid or gid in the set-up clears the parent-death signal
    // (prctl(2)): set it again, then make sure the parent did not die in
    // between. The parent writes nothing more on the channel, so anything
    // readable there is its end closing.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
      ChildFail(report_fd, ChildStep::kDeathSignal);
    }
    pollfd channel{report_fd, POLLIN, 0};
    if ((parent != 0 && ::getppid() != parent) || ::poll(&channel, 1, 0) != 0) {
      errno = ESRCH;
      ChildFail(report_fd, ChildStep::kParentGone);
    }
  }
  for (const ResourceLimit& limit : options.limits) {
    rlimit value{limit.value, limit.value};
    if (::setrlimit(limit.resource, &value) != 0) {
      ChildFail(report_fd, ChildStep::kLimits);
    }
  }
  if (options.trap_rdtsc && ::prctl(PR_SET_TSC, PR_TSC_SIGSEGV) != 0) {
    ChildFail(report_fd, ChildStep::kTrapRdtsc);
  }
  // Nothing of isoscope reaches the workload: every descriptor above stdio
  // closes at its execve, whatever the set-up opened or isoscope inherited
  // (`isoscope run ... 8<secret`). Marked close-on-exec rather than closed,
  // so the report channel still works until the execve succeeds. Kernels
  // before 5.11 lack CLOSE_RANGE_CLOEXEC (EINVAL): everything but the
  // channel is closed instead, which is as good since nothing after this
  // needs another descriptor.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    if (errno != EINVAL) ChildFail(report_fd, ChildStep::kCloseDescriptors);
    const auto channel = static_cast<unsigned>(report_fd);
    if ((channel > 3 && ::syscall(SYS_close_range, 3U, channel - 1, 0U) != 0) ||
        ::syscall(SYS_close_range, channel + 1, ~0U, 0U) != 0) {
      ChildFail(report_fd, ChildStep::kCloseDescriptors);
    }
  }
  // The last thing this image does that grows it is behind us; the filter
  // (below) may refuse the open. The value fits an int for 2 TiB.
  if (const int64_t peak = ReadPeakKib("/proc/self/status");
      peak >= 0 && peak <= INT32_MAX) {
    ChildFailure report{static_cast<int>(ChildStep::kImagePeak),
                        static_cast<int>(peak)};
    if (::write(report_fd, &report, sizeof report) !=
        static_cast<ssize_t>(sizeof report)) {
      ChildFail(report_fd, ChildStep::kImagePeak);
    }
  }
  if (options.seccomp_filter != nullptr) {
    if (options.seccomp_listener) {
      // The listener takes the lowest free descriptor, as this dup does.
      int lowest = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
      if (lowest < 0) ChildFail(report_fd, ChildStep::kSeccomp);
      ::close(lowest);
      ChildFailure announce{static_cast<int>(ChildStep::kListenerNumber),
                            lowest};
      if (::write(report_fd, &announce, sizeof announce) !=
          static_cast<ssize_t>(sizeof announce)) {
        ChildFail(report_fd, ChildStep::kListenerNumber);
      }
    }
    // From here on every syscall is the policy's: only execve follows.
    int installed = InstallSeccompProgram(*options.seccomp_filter,
                                          options.seccomp_listener);
    if (installed < 0) {
      errno = -installed;
      ChildFail(report_fd, ChildStep::kSeccomp);
    }
  }
  ::execve(path, argv, envp);
  ChildFail(report_fd, ChildStep::kExec);
}

// What a child sharing the parent's memory (SpawnSharingMemory) runs with.
// It lives on the parent's stack, which the parent does not touch until the
// child has exec'd or exited.
struct SharedMemoryChild {
  int report_fd;
  int parent_end;  // the parent's end of the channel, closed in the child
  pid_t parent;
  const SpawnOptions* options;
  const char* workdir;
  const char* path;
  char* const* argv;
  char* const* envp;
};

[[gnu::no_sanitize_address]] int SharedMemoryChildMain(void* raw) {
  const auto* child = static_cast<const SharedMemoryChild*>(raw);
  // Closes this process's copy only: nothing of the parent's memory is
  // written by the child (a UniqueFd's Reset would be).
  ::close(child->parent_end);
  ChildMain(child->report_fd, child->parent, *child->options, child->workdir,
            child->path, child->argv, child->envp);
}

// The stack a child sharing the parent's memory runs on, unmapped when the
// child no longer uses it (it has exec'd or exited).
class ChildStack {
 public:
  // ChildMain's frames need a few KiB; the rest is headroom never touched.
  static constexpr size_t kSize = size_t{64} * 1024;
  // Under AddressSanitizer the mapping's shadow is cleared first: the
  // runtime does not clear it at munmap, so a region mapped where poisoned
  // memory was would fail the checks of the libc calls the child makes on
  // its stack (a no-op in other builds).
  ChildStack()
      : base_(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) {
    if (base_ != MAP_FAILED) ASAN_UNPOISON_MEMORY_REGION(base_, kSize);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  ~ChildStack() {
    if (base_ != MAP_FAILED) ::munmap(base_, kSize);
  }
  bool valid() const { return base_ != MAP_FAILED; }
  void* base() const { return base_; }

 private:
  void* base_;
};

// Starts `child` the way posix_spawn does: clone3(CLONE_VM | CLONE_VFORK)
// on a stack of its own (in the options' cgroup, if any), so the supervisor's
// address space is neither copied nor marked copy-on-write (page tables, then a
// fault for every page either side writes before the exec), and this thread
// waits until the child has exec'd or exited. Only for a child that needs
// nothing from the parent before its exec: no release, syscall counter, set-up
// or listener to copy out of it. Signals are blocked around the clone so no
// handler of isoscope's runs in the child before it resets them (it unblocks
// them after). Returns the pid, or -1 with errno.
pid_t SpawnSharingMemory(const SharedMemoryChild& child) {
  const ChildStack stack;
  if (!stack.valid()) return -1;
  clone_args args{};
  args.flags = CLONE_VM | CLONE_VFORK;
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<uint64_t>(stack.base());
  args.stack_size = ChildStack::kSize;
  if (child.options->cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(child.options->cgroup_fd);
  }
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  auto* argument = const_cast<SharedMemoryChild*>(&child);
  pid_t pid = CloneOnStack(args, SharedMemoryChildMain, argument);
  // Where a seccomp profile refuses clone3 (older container runtimes'), the
  // child can still be started with clone(2) when no cgroup is asked for.
  if (pid < 0 && (errno == ENOSYS || errno == EPERM) &&
      child.options->cgroup_fd < 0) {
    pid = ::clone(SharedMemoryChildMain,
                  static_cast<char*>(stack.base()) + ChildStack::kSize,
                  CLONE_VM | CLONE_VFORK | SIGCHLD, argument);
  }
  const int clone_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  errno = clone_error;
  return pid;
}

// The init of a separate_init pid namespace (see SpawnOptions): reaps
// whatever is re-parented to it until its lifeline reads EOF (every copy of
// the write end is closed: isoscope is gone) or it is killed. Runs in the
// child: async-signal-safe calls only.
[[noreturn]] void InitMain(int lifeline) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // A copy of isoscope, with root's capabilities, in the host's other
  // namespaces: reading or tracing it then takes CAP_SYS_PTRACE, which no
  // workload beside it keeps (PtraceBackend refuses such a policy).
  ::prctl(PR_SET_DUMPABLE, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  // Nothing reaches it: signals stay pending, SIGCHLD is read from a
  // signalfd. (SIGKILL and SIGSTOP from inside the namespace never reach a
  // PID 1.)
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  // Nothing of isoscope stays in the namespace but the lifeline.
  const auto keep = static_cast<unsigned>(lifeline);
  if (keep > 0) ::syscall(SYS_close_range, 0U, keep - 1, 0U);
  ::syscall(SYS_close_range, keep + 1, ~0U, 0U);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  const int children = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (children < 0) ::_exit(127);
  while (true) {
    while (::waitpid(-1, nullptr, WNOHANG | __WALL) > 0) {
    }
    pollfd fds[2] = {{lifeline, POLLIN, 0}, {children, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) ::_exit(127);
    if (fds[0].revents != 0) ::_exit(0);
    signalfd_siginfo info;
    while (::read(children, &info, sizeof info) > 0) {
    }
  }
}

struct InitProcess {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd lifeline;  // the write end
};

// Starts the init of a new pid namespace (separate_init).
Result<InitProcess> StartInit() {
  int lifeline[2];
  if (::pipe2(lifeline, O_CLOEXEC) != 0) {
    return FailErrno("creating the init's lifeline", errno);
  }
  UniqueFd read_end(lifeline[0]);
  InitProcess init;
  init.lifeline.Reset(lifeline[1]);
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_NEWPID | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  init.pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
  if (init.pid < 0) {
    return FailErrno("clone3 of the pid namespace's init", errno);
  }
  if (init.pid == 0) InitMain(read_end.get());
  init.pidfd.Reset(pidfd);
  return init;
}

// While alive, the children this thread creates are born in another pid
// namespace (setns of a pidfd with CLONE_NEWPID changes only the calling
// thread's namespace for children). Restore() puts back the one it had.
class ChildrenPidNamespace {
 public:
  static Result<ChildrenPidNamespace> Enter(int pidfd) {
    UniqueFd saved(
        ::open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC));
    if (!saved) return FailErrno("opening this thread's pid namespace", errno);
    if (::setns(pidfd, CLONE_NEWPID) != 0) {
      return FailErrno("entering the workload's pid namespace", errno);
    }
    return ChildrenPidNamespace(std::move(saved));
  }
  ChildrenPidNamespace(ChildrenPidNamespace&&) noexcept = default;
  ChildrenPidNamespace& operator=(ChildrenPidNamespace&&) = delete;
  ~ChildrenPidNamespace() { (void)Restore(); }

  Status Restore() {
    if (!saved_) return {};
    UniqueFd saved = std::move(saved_);
    if (::setns(saved.get(), CLONE_NEWPID) != 0) {
      return FailErrno("returning to isoscope's pid namespace", errno);
    }
    return {};
  }

 private:
  explicit ChildrenPidNamespace(UniqueFd saved) : saved_(std::move(saved)) {}
  UniqueFd saved_;
};

Error SpawnError(const ChildFailure& failure, std::string_view executable) {
  auto step = static_cast<ChildStep>(failure.step);
  if (step == ChildStep::kExec) {
    if (failure.error == ENOENT) {
      return Error(ErrorCode::kNotFound,
                   fmt::format("{}: no such file (or its interpreter is "
                               "missing)",
                               executable),
                   failure.error);
    }
    if (failure.error == EACCES || failure.error == ENOEXEC ||
        failure.error == EISDIR) {
      return Error(ErrorCode::kNotExecutable,
                   fmt::format("{}: cannot execute: {}", executable,
                               std::strerror(failure.error)),
                   failure.error);
    }
  }
  if (step == ChildStep::kSetup) {
    return Error::FromErrno(
        fmt::format("starting {}: {}", executable, failure.setup.what),
        failure.error);
  }
  return Error::FromErrno(
      fmt::format("starting {}: {}", executable, ChildStepName(step)),
      failure.error);
}

}  // namespace

Result<ChildProcess> ChildProcess::Spawn(const Workload& workload,
                                         const ChildStdio& stdio) {
  SpawnOptions options;
  options.stdio = stdio;
  return Spawn(workload, options);
}

Result<ChildProcess> ChildProcess::Spawn(const Workload& workload,
                                         const SpawnOptions& options) {
  // Everything the child touches is prepared before fork.
  std::vector<std::string> argv = workload.argv;
  std::vector<std::string> env = workload.env;
  std::vector<char*> c_argv = ExecArgs(argv);
  std::vector<char*> c_env = ExecArgs(env);

  // A socketpair rather than a pipe: it also carries the parent's go-ahead
  // to a child waiting for its tracer. Close-on-exec, so EOF means exec'd.
  int channel[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0) {
    return FailErrno("creating the spawn report channel", errno);
  }
  UniqueFd parent_end(channel[0]);
  UniqueFd child_end(channel[1]);

  // In a new pid namespace the child's getppid() is 0.
  pid_t parent = (options.namespaces & CLONE_NEWPID) != 0 ? 0 : ::getpid();
  uint64_t namespaces = options.namespaces;
  std::optional<InitProcess> init;
  std::optional<ChildrenPidNamespace> init_namespace;
  if (options.separate_init && (namespaces & CLONE_NEWPID) != 0) {
    auto started = StartInit();
    if (!started) return tl::unexpected(started.error());
    init.emplace(std::move(*started));
    auto entered = ChildrenPidNamespace::Enter(init->pidfd.get());
    if (!entered) {
      ::pidfd_send_signal(init->pidfd.get(), SIGKILL, nullptr, 0);
      ::waitpid(init->pid, nullptr, 0);
      return tl::unexpected(entered.error());
    }
    init_namespace.emplace(std::move(*entered));
    namespaces &= ~static_cast<uint64_t>(CLONE_NEWPID);
  }
  pid_t pid = -1;
  int spawn_error = 0;
  // A counted child waits for its counter before its exec (count_syscalls),
  // which a vfork-like parent, suspended until that exec, could not open.
  if (namespaces == 0 && !init && !options.wait_for_release &&
      !options.count_syscalls && !options.seccomp_listener &&
      options.setup == nullptr) {
    const SharedMemoryChild shared{child_end.get(),
                                   parent_end.get(),
                                   parent,
                                   &options,
                                   workload.workdir.c_str(),
                                   workload.executable.c_str(),
                                   c_argv.data(),
                                   c_env.data()};
    pid = SpawnSharingMemory(shared);
    if (pid < 0) spawn_error = errno;
  } else if (namespaces == 0 && options.cgroup_fd < 0) {
    pid = ::fork();
    if (pid < 0) spawn_error = errno;
  } else {
    // clone3 without CLONE_VM is fork with namespaces (or into a cgroup):
    // the child gets a copy of this address space, so the prepared data
    // stays valid in it.
    clone_args args{};
    args.flags = namespaces;
    args.exit_signal = SIGCHLD;
    if (options.cgroup_fd >= 0) {
      args.flags |= CLONE_INTO_CGROUP;
      args.cgroup = static_cast<uint64_t>(options.cgroup_fd);
    }
    pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
    if (pid < 0) spawn_error = errno;
  }
  if (pid == 0) {
    parent_end.Reset();
    ChildMain(child_end.get(), parent, options, workload.workdir.c_str(),
              workload.executable.c_str(), c_argv.data(), c_env.data());
  }
  Status restored = init_namespace ? init_namespace->Restore() : Status{};
  const auto kill_init = [&init] {
    if (!init) return;
    ::pidfd_send_signal(init->pidfd.get(), SIGKILL, nullptr, 0);
    ::waitpid(init->pid, nullptr, 0);
  };
  if (pid < 0 || !restored) {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    kill_init();
    if (!restored) return tl::unexpected(restored.error());
    return FailErrno(
        namespaces != 0
            ? fmt::format(
                  "clone3 with namespaces {:#x}{}", namespaces,
                  options.cgroup_fd >= 0 ? " into the run's cgroup" : "")
        : options.cgroup_fd >= 0 ? std::string("clone3 into the run's cgroup")
                                 : std::string("fork"),
        spawn_error);
  }
  // Also set in the parent so there is no window where the child is not yet
  // in its own group; EACCES just means the child already exec'd.
  ::setpgid(pid, pid);

  int raw_pidfd = ::pidfd_open(pid, 0);
  if (raw_pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    kill_init();
    return FailErrno("pidfd_open", err);
  }
  child_end.Reset();
  ChildProcess child(pid, UniqueFd(raw_pidfd), std::move(parent_end),
                     workload.executable);
  if (init) {
    child.init_pid_ = init->pid;
    child.init_pidfd_ = std::move(init->pidfd);
    child.init_lifeline_ = std::move(init->lifeline);
  }
  if (options.count_syscalls) {
    // The child waits (for its release) until the counter is on it: it
    // counts from the execve that follows. A host that cannot count, or a
    // counter that fails to open, leaves the figure unknown, not the run.
    const SyscallCounterSupport& support = HostSyscallCounter();
    if (support.feature.available) {
      if (auto counter =
              SyscallCounter::OpenBeforeExec(pid, support.tracepoint);
          counter) {
        child.syscall_counter_.emplace(std::move(*counter));
      }
    }
    if (!options.wait_for_release) {
      if (auto released = child.Release(); !released) {
        return tl::unexpected(released.error());
      }
    }
  }
  if (options.wait_for_release) return child;
  while (true) {
    auto more = child.ReadSpawnReport();
    if (!more) return tl::unexpected(more.error());
    if (!*more) return child;
  }
}

Status ChildProcess::Release() {
  char go = 1;
  ssize_t n;
  do {
    n = ::send(channel_.get(), &go, 1, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n == 1) return {};
  const int error = n < 0 ? errno : EIO;
  // A child that failed before its release (joining its cgroup, say) has
  // closed its end: what it reported says why, where EPIPE would not.
  if (error == EPIPE || error == ECONNRESET) {
    while (channel_) {
      auto more = ReadSpawnReport();
      if (!more) return tl::unexpected(more.error());
      if (!*more) break;
    }
  }
  return FailErrno("releasing the child", error);
}

Result<bool> ChildProcess::ReadSpawnReport() {
  if (!channel_) return Fail(ErrorCode::kInternal, "spawn report already read");
  while (true) {
    ChildFailure report{};
    ssize_t n;
    do {
      n = ::read(channel_.get(), &report, sizeof report);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {  // EOF: the close-on-exec channel closed at execve
      channel_.Reset();
      return false;
    }
    if (n != static_cast<ssize_t>(sizeof report)) {
      channel_.Reset();
      return FailErrno("reading the spawn report", n < 0 ? errno : EIO);
    }
    if (report.step == static_cast<int>(ChildStep::kImagePeak)) {
      // Noted on the way: not a report the caller waits for.
      image_peak_kib_ = report.error;
      continue;
    }
    if (report.step == static_cast<int>(ChildStep::kListenerNumber)) {
      listener_fd_in_child_ = report.error;
      return true;
    }
    channel_.Reset();
    return tl::unexpected(SpawnError(report, executable_));
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      channel_(std::move(other.channel_)),
      listener_fd_in_child_(std::exchange(other.listener_fd_in_child_, -1)),
      image_peak_kib_(std::exchange(other.image_peak_kib_, std::nullopt)),
      syscall_counter_(std::exchange(other.syscall_counter_, std::nullopt)),
      init_pid_(std::exchange(other.init_pid_, -1)),
      init_pidfd_(std::move(other.init_pidfd_)),
      init_lifeline_(std::move(other.init_lifeline_)),
      executable_(std::move(other.executable_)),
      reaped_(std::exchange(other.reaped_, true)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    channel_ = std::move(other.channel_);
    listener_fd_in_child_ = std::exchange(other.listener_fd_in_child_, -1);
    image_peak_kib_ = std::exchange(other.image_peak_kib_, std::nullopt);
    syscall_counter_ = std::exchange(other.syscall_counter_, std::nullopt);
    init_pid_ = std::exchange(other.init_pid_, -1);
    init_pidfd_ = std::move(other.init_pidfd_);
    init_lifeline_ = std::move(other.init_lifeline_);
    executable_ = std::move(other.executable_);
    reaped_ = std::exchange(other.reaped_, true);
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

void ChildProcess::KillAndReap() {
  if (pid_ <= 0) return;
  KillGroup();
  if (!reaped_) {
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (init_pid_ > 0) {
    // Killing it kills whatever is left in the namespace.
    ::pidfd_send_signal(init_pidfd_.get(), SIGKILL, nullptr, 0);
    while (::waitpid(init_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    init_pid_ = -1;
  }
}

void ChildProcess::KillGroup() {
  if (pid_ <= 0) return;
  // The group outlives its leader; its id is not reused while it exists.
  ::kill(-pid_, SIGKILL);
  if (!reaped_ && pidfd_.valid()) {
    ::pidfd_send_signal(pidfd_.get(), SIGKILL, nullptr, 0);
  }
}

Result<std::optional<ExitEvent>> ChildProcess::TryReap() {
  if (reaped_) return Fail(ErrorCode::kInternal, "process already reaped");
  int status = 0;
  rusage usage{};
  pid_t got;
  do {
    got = ::wait4(pid_, &status, WNOHANG, &usage);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return FailErrno(fmt::format("wait4({})", pid_), errno);
  if (got == 0) return std::optional<ExitEvent>();
  reaped_ = true;
  ExitEvent exit = ExitFromWaitStatus(status, usage);
  exit.usage.max_rss_kib = OwnPeakKib(usage.ru_maxrss);
  return std::optional<ExitEvent>(std::move(exit));
}

std::optional<uint64_t> ChildProcess::CountedSyscalls() const {
  if (!syscall_counter_) return std::nullopt;
  auto counted = syscall_counter_->Read();
  if (!counted) return std::nullopt;
  return *counted;
}

std::optional<int64_t> ChildProcess::OwnPeakKib(int64_t ru_maxrss_kib) const {
  if (!image_peak_kib_) return std::nullopt;
  // The kernel takes the replaced image's peak from per-CPU counters it
  // reads without summing (Linux 6.2+): off by up to a batch of pages per
  // CPU (percpu_counter_batch: max(32, 2 x CPUs)) from the exact VmHWM the
  // child read. And the image still grows after that read: the code the
  // child runs until its execve (its own, libc's wrappers, installing the
  // filter) is not in a forked child's page tables until it faults it in,
  // and each such fault maps up to 16 pages around it (fault-around). 2,600
  // KiB against a VmHWM more than 256 KiB lower was seen for a workload
  // whose own peak was 20 KiB. Only a ru_maxrss beyond both is surely the
  // workload's.
  constexpr int64_t kGrowthAfterReadKib = 1024;
  const int64_t cpus = std::max<int64_t>(1, ::sysconf(_SC_NPROCESSORS_CONF));
  const int64_t page_kib = ::sysconf(_SC_PAGESIZE) / 1024;
  const int64_t slack_kib =
      std::max<int64_t>(32, 2 * cpus) * cpus * page_kib + kGrowthAfterReadKib;
  if (ru_maxrss_kib <= *image_peak_kib_ + slack_kib) return std::nullopt;
  return ru_maxrss_kib;
}

ExitEvent ExitFromWaitStatus(int status, const rusage& usage) {
  ExitEvent exit;
  exit.signaled = WIFSIGNALED(status);
  exit.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  exit.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  exit.core_dumped = WIFSIGNALED(status) && WCOREDUMP(status);
  exit.usage.user_cpu_us =
      int64_t{usage.ru_utime.tv_sec} * 1000000 + usage.ru_utime.tv_usec;
  exit.usage.system_cpu_us =
      int64_t{usage.ru_stime.tv_sec} * 1000000 + usage.ru_stime.tv_usec;
  return exit;
}

std::optional<int64_t> ProcessPeakKib(pid_t pid) {
  const std::string path = fmt::format("/proc/{}/status", pid);
  const int64_t peak = ReadPeakKib(path.c_str());
  if (peak < 0) return std::nullopt;
  return peak;
}

Status BecomeChildSubreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return FailErrno("prctl(PR_SET_CHILD_SUBREAPER)", errno);
  }
  return {};
}

bool HasChildren() {
  siginfo_t info{};
  // WNOWAIT: look without reaping; ECHILD: no child at all, living or not.
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

std::vector<pid_t> ListChildren() {
  // Without /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN, absent on
  // these kernels) finding children means reading every /proc/<pid>/stat;
  // skip that in the common case of having none.
  std::vector<pid_t> children;
  if (!HasChildren()) return children;
  const pid_t self = ::getpid();
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return children;
  while (dirent* entry = ::readdir(proc)) {
    pid_t pid = 0;
    const char* name = entry->d_name;
    auto [end, ec] = std::from_chars(name, name + std::strlen(name), pid);
    if (ec != std::errc() || *end != '\0' || pid <= 0) continue;
    std::ifstream stat_file(fmt::format("/proc/{}/stat", pid));
    std::string stat;
    std::getline(stat_file, stat);
    // Fields after the parenthesised command name: state, ppid, ...
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close_paren + 1, " %c %d", &state, &ppid) ==
            2 &&
        ppid == self) {
      children.push_back(pid);
    }
  }
  ::closedir(proc);
  return children;
}

int KillOrphanedChildren(const std::vector<pid_t>& keep) {
  int killed = 0;
  for (pid_t pid : ListChildren()) {
    if (std::find(keep.begin(), keep.end(), pid) != keep.end()) continue;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    ++killed;
  }
  return killed;
}

}  // namespace isoscope
