#include "backends/kvm/vmm_sandbox.h"

#include <seccomp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace isoscope::kvm {
namespace {

// Why each is needed, by group:
//   running the vCPU: ioctl (KVM_RUN, KVM_GET/SET_SREGS, KVM_SET_MSRS);
//   the kick and CPU-time signal: rt_sigreturn;
//   the event channel and its wake-ups: futex, write (eventfd), sched_yield;
//   the guest kernel's own work: clock_gettime, clock_nanosleep, nanosleep,
//     getrandom, uname, madvise (discarding guest pages), getrusage;
//   proxied file calls, all relative to the view's directory fds: openat,
//     openat2, read, pread64, write, pwrite64, close, lseek, fstat,
//     newfstatat, statx, getdents64, readlinkat, unlinkat, mkdirat,
//     renameat2, fsync, fdatasync, ftruncate, fchmod, fchmodat, fcntl
//     (F_DUPFD_CLOEXEC for dup), faccessat2;
//   the C++ runtime's allocator: brk, mmap, munmap, mremap, mprotect;
//   ending the thread: exit.
constexpr std::array<std::string_view, 50> kAllowed = {
    "brk",        "clock_gettime", "clock_nanosleep", "close",
    "exit",       "faccessat2",    "fchmod",          "fchmodat",
    "fcntl",      "fdatasync",     "fstat",           "fsync",
    "ftruncate",  "futex",         "getdents64",      "getrandom",
    "getrusage",  "gettid",        "ioctl",           "lseek",
    "madvise",    "mkdirat",       "mmap",            "mprotect",
    "mremap",     "munmap",        "nanosleep",       "newfstatat",
    "openat",     "openat2",       "pread64",         "pwrite64",
    "read",       "readlinkat",    "renameat2",       "rt_sigprocmask",
    "rt_sigreturn", "sched_yield", "statx",           "symlinkat",
    "linkat",     "uname",         "unlinkat",        "write",
    "poll",       "ppoll",         "fstatfs",         "pipe2",
    "clock_getres", "sysinfo",
};

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

}  // namespace

std::span<const std::string_view> VmmAllowedSyscalls() {
  static const auto sorted = [] {
    auto names = kAllowed;
    std::sort(names.begin(), names.end());
    return names;
  }();
  return sorted;
}

Status ConfineVmmThread() {
  std::unique_ptr<void, FilterDeleter> ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!ctx) {
    return tl::unexpected(
        Error(ErrorCode::kSystem, "VMM seccomp filter: seccomp_init failed"));
  }
  for (std::string_view name : kAllowed) {
    const std::string copy(name);
    const int number = seccomp_syscall_resolve_name(copy.c_str());
    if (number == __NR_SCMP_ERROR) {
      return tl::unexpected(Error(
          ErrorCode::kInternal,
          fmt::format("VMM seccomp filter: unknown syscall '{}'", name)));
    }
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, number, 0);
        rc < 0) {
      return tl::unexpected(Error::FromErrno(
          fmt::format("VMM seccomp filter: allowing {}", name), -rc));
    }
  }
  if (int rc = seccomp_load(ctx.get()); rc < 0) {
    return tl::unexpected(
        Error::FromErrno("VMM seccomp filter: loading it", -rc));
  }
  return {};
}

}  // namespace isoscope::kvm
