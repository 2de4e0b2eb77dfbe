#include "backends/kvm/vmm_sandbox.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backends/seccomp/seccomp_program.h"
#include "base/unique_fd.h"

namespace isoscope::kvm {
namespace {

// Why each is needed, by group:
//   running the vCPU: ioctl (KVM_RUN, KVM_GET/SET_SREGS, KVM_SET_MSRS);
//   the kick and CPU-time signal: rt_sigreturn;
//   the event channel and its wake-ups: futex, write (eventfd), sched_yield;
//   the guest kernel's own work: clock_gettime, clock_getres,
//     clock_nanosleep, nanosleep, getrandom, uname, sysinfo, madvise
//     (discarding guest pages), mincore (a forked parent's RAM copy),
//     getrusage;
//   proxied file calls, all relative to the view's directory fds: openat,
//     openat2, read, pread64, write, pwrite64, close, lseek, fstat,
//     newfstatat, statx, getdents64, readlinkat, unlinkat, mkdirat,
//     renameat2, fsync, fdatasync, ftruncate, fchmod, fchmodat, fcntl
//     (F_DUPFD_CLOEXEC for dup), faccessat2;
//   the C++ runtime's allocator: brk, mmap, munmap, mremap, mprotect;
//   ending the thread: exit, sigaltstack (sanitizer runtimes undo their
//     signal stack); dying cleanly on a broken invariant: exit_group,
//     getpid, and tgkill of this process only (abort()), rather than a
//     VMM thread spinning on EPERM.
constexpr std::string_view kAllowed[] = {
    "brk",          "clock_gettime", "clock_nanosleep",
    "close",        "exit",          "faccessat2",
    "fchmod",       "fchmodat",      "fcntl",
    "fdatasync",    "fstat",         "fsync",
    "ftruncate",    "futex",         "getdents64",
    "getrandom",    "getrusage",     "gettid",
    "ioctl",        "lseek",         "madvise",
    "mkdirat",      "mmap",          "mprotect",
    "mremap",       "munmap",        "nanosleep",
    "newfstatat",   "openat",        "openat2",
    "pread64",      "pwrite64",      "read",
    "readlinkat",   "renameat2",     "rt_sigprocmask",
    "rt_sigreturn", "sched_yield",   "statx",
    "symlinkat",    "linkat",        "uname",
    "unlinkat",     "write",         "poll",
    "ppoll",        "fstatfs",       "pipe2",
    "clock_getres", "sysinfo",       "mincore",
    "exit_group",   "sigaltstack",   "getpid",
    "tgkill",
};

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

}  // namespace

std::span<const std::string_view> VmmAllowedSyscalls() {
  static const auto sorted = [] {
    std::array<std::string_view, std::size(kAllowed)> names;
    std::copy(std::begin(kAllowed), std::end(kAllowed), names.begin());
    std::sort(names.begin(), names.end());
    return names;
  }();
  return sorted;
}

namespace {

// The filter compiled once per process (libseccomp's compile costs a good
// part of a millisecond, every VM start would pay it): exported as BPF,
// then loaded directly on each VMM thread.
Result<std::vector<sock_filter>> CompileFilter() {
  std::unique_ptr<void, FilterDeleter> ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!ctx) {
    return tl::unexpected(
        Error(ErrorCode::kSystem, "VMM seccomp filter: seccomp_init failed"));
  }
  for (std::string_view name : kAllowed) {
    const std::string copy(name);
    const int number = seccomp_syscall_resolve_name(copy.c_str());
    if (number == __NR_SCMP_ERROR) {
      return tl::unexpected(
          Error(ErrorCode::kInternal,
                fmt::format("VMM seccomp filter: unknown syscall '{}'", name)));
    }
    // tgkill only towards this process (abort() raising SIGABRT). Not
    // SCMP_A0: a compound literal, which clang's -Wpedantic refuses in C++.
    const scmp_arg_cmp own_process{0, SCMP_CMP_EQ,
                                   static_cast<uint64_t>(getpid()), 0};
    const int rc = name == "tgkill"
                       ? seccomp_rule_add_array(ctx.get(), SCMP_ACT_ALLOW,
                                                number, 1, &own_process)
                       : seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, number, 0);
    if (rc < 0) {
      return tl::unexpected(Error::FromErrno(
          fmt::format("VMM seccomp filter: allowing {}", name), -rc));
    }
  }
  auto program = ExportSeccompBpf(ctx.get());
  if (!program) {
    return tl::unexpected(
        std::move(program).error().WithContext("VMM seccomp filter"));
  }
  return program;
}

}  // namespace

Status ConfineVmmThread() {
  // Compiled once per process: tgkill's rule names this process's pid, so
  // a forked supervisor compiles its own.
  static std::mutex mutex;
  static pid_t compiled_for = 0;
  static Result<std::vector<sock_filter>> compiled = std::vector<sock_filter>{};
  std::vector<sock_filter> program;
  {
    std::lock_guard lock(mutex);
    if (compiled_for != getpid()) {
      compiled = CompileFilter();
      compiled_for = getpid();
    }
    if (!compiled) return tl::unexpected(compiled.error());
    program = *compiled;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return tl::unexpected(
        Error::FromErrno("VMM seccomp filter: no_new_privs", errno));
  }
  sock_fprog prog{static_cast<uint16_t>(program.size()), program.data()};
  // No SECCOMP_FILTER_FLAG_TSYNC: this thread only.
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    return tl::unexpected(
        Error::FromErrno("VMM seccomp filter: loading it", errno));
  }
  return {};
}

}  // namespace isoscope::kvm
