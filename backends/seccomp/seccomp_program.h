// The seccomp-bpf program a backend installs in the workload: the policy's
// fast path, compiled from a CompiledPlan with libseccomp. The plan says what
// each syscall gets (allow, errno, kill, inspect); SeccompRouting says how a
// particular backend wants inspected syscalls and kills delivered (to a
// ptrace tracer, to a user-notification listener) and which extra calls its
// own machinery must see.
#ifndef ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_PROGRAM_H_
#define ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_PROGRAM_H_

#include <linux/filter.h>
#include <seccomp.h>

#include <array>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "policies/plan.h"
#include "supervisor/event.h"

namespace isoscope {

// How a syscall the plan kills is delivered.
enum class KillRoute {
  // SECCOMP_RET_KILL_PROCESS: the kernel kills at once; the supervisor only
  // sees SIGSYS in the exit status, not which call it was.
  kKillProcess,
  // SECCOMP_RET_TRAP: SIGSYS with si_syscall/si_arch, so a tracer can report
  // which syscall was tried before it kills. Only with a tracer that
  // intercepts signals: a workload's own SIGSYS handler would otherwise
  // swallow the kill.
  kTrap,
  // SECCOMP_RET_USER_NOTIF: the calling thread blocks before the call runs
  // and the listener names the syscall; the supervisor reports it and kills
  // the workload. Without a listener the kernel fails the call with ENOSYS,
  // so only for a backend that always holds one.
  kNotify,
};

struct SeccompRouting {
  // kInspect syscalls that take path arguments (PathArguments non-empty) go
  // to SECCOMP_RET_TRACE: only a tracer can copy the path out of the
  // workload's memory and make the kernel use that copy (no TOCTOU).
  bool trace_paths = false;
  // With trace_paths: the path syscalls the supervisor performs itself on
  // the workload's behalf (checked_calls.h), which go to
  // SECCOMP_RET_USER_NOTIF all the same: no copy is left in the workload.
  std::vector<int> notify_paths;
  // The other kInspect syscalls (and all of them without trace_paths) go to
  // SECCOMP_RET_USER_NOTIF (true) or SECCOMP_RET_TRACE (false).
  bool user_notif = true;
  // kInspect syscalls that go to SECCOMP_RET_TRACE all the same: those a
  // signal must not interrupt while isoscope decides (a notified fork a
  // SIGCHLD interrupts fails with EINTR, which fork never does; a tracee
  // stopped for its tracer is not interrupted).
  std::vector<int> trace_inspected;
  // Syscall numbers sent to SECCOMP_RET_TRACE whatever the plan says, even
  // when it allows them (the ptrace backend lists execve and execveat: the
  // tracer lets isoscope's own exec of the workload through, copies the
  // child's listener at that stop, and applies the plan to the rest).
  std::vector<int> trace_always;
  // The same for SECCOMP_RET_USER_NOTIF (the container backend lists execve
  // and execveat: the child blocks in its first execve until the
  // supervisor has copied the listener, which the exec would close).
  std::vector<int> notify_always;
  // Where kKill (per syscall, the default, non-native ABIs) goes.
  KillRoute kills = KillRoute::kKillProcess;
  // Where kErrno (per syscall, the default, non-native ABIs) goes. false:
  // SECCOMP_RET_ERRNO, decided in the kernel and never seen by isoscope.
  // true: SECCOMP_RET_USER_NOTIF, so that the supervisor records the call
  // with its rule and the listener answers it with the plan's errno
  // (AnswerRoutedDenial). Only for a backend that always holds the
  // listener, as with KillRoute::kNotify. The errnos of the routing's own
  // machinery (forbid_untraced_clones) stay in the kernel.
  bool notify_denials = false;
  // A region the workload must not unmap, remap, reprotect or replace
  // ([guard_begin, guard_end); 0, 0 = none). When the plan allows munmap,
  // mprotect, pkey_mprotect, madvise, mremap, mmap (MAP_FIXED), shmat or
  // remap_file_pages, a call whose address reaches below guard_end (rounded
  // up to a page) goes to SECCOMP_RET_TRACE; when the plan inspects one of
  // them, the whole syscall does. Only the end is compared: an address below
  // the end with any length may reach into the region, one above cannot.
  // So do prctl(PR_SET_MM, ...) (it can move the heap's bounds over the
  // region, which brk would then unmap) and every process_madvise (its
  // ranges are in memory the filter cannot read).
  // When the plan denies or kills mmap, an mmap at guard_begin with
  // MAP_FIXED_NOREPLACE still goes to SECCOMP_RET_TRACE: the tracer maps
  // the region with that call, injected at a trace stop.
  uint64_t guard_begin = 0;
  uint64_t guard_end = 0;
  // For a tracer that must follow every task: clone with CLONE_UNTRACED
  // (which would create a child the tracer is never told about) fails with
  // EPERM, and clone3 (whose flags are in memory a filter cannot read)
  // with ENOSYS, so libc falls back to clone. Where the plan kills or
  // denies them, the plan's action stays. (Whatever the routing, a clone
  // with a CLONE_NEW* flag gets the plan's clone_namespaces(), read from
  // arg 0, clone3 what the plan says: ENOSYS where namespaces are not
  // allowed, and a setsockopt of a routing option the plan's
  // routing_options(), read from args 1 and 2.)
  bool forbid_untraced_clones = false;
  // For a backend that reads the workload's memory (checked arguments) or
  // hands the kernel checked copies: a userfaultfd object that would handle
  // faults in kernel mode (userfaultfd(2) without UFFD_USER_MODE_ONLY, or
  // ioctl USERFAULTFD_IOC_NEW on /dev/userfaultfd without it) fails with
  // EPERM where the plan runs the call. Such an object stalls isoscope's
  // own reads of a registered page for as long as the workload likes, and
  // supplies the page a syscall copies from after a check. A user-mode-only
  // object (what a garbage collector or a snapshotting runtime needs) is
  // left to the plan.
  bool forbid_kernel_userfaults = false;
  // For a backend whose workload writes files as someone else (the
  // container's idmapped workdir: the workload's files belong to the
  // workdir's owner on the host): the workload cannot make a file that
  // grants privileges to whoever runs it there. Where the plan runs them:
  // - chmod, fchmod, fchmodat, fchmodat2 with S_ISUID or S_ISGID in the
  //   mode, and the creating calls with them in the new file's mode
  //   (creat, mknod, mknodat, open and openat with O_CREAT or O_TMPFILE),
  //   fail with EPERM;
  // - setxattr, lsetxattr, fsetxattr, setxattrat fail with EOPNOTSUPP (an
  //   ACL can add execute bits beside a set-group-ID bit without a chmod,
  //   security.capability holds file capabilities; the name is in memory
  //   the filter cannot read);
  // - a new user namespace (unshare or clone with CLONE_NEWUSER) fails with
  //   EPERM: in one, the workload would hold CAP_FSETID and CAP_SETFCAP
  //   over the workdir's files, which the idmap shows as its own;
  // - openat2 (its mode is in memory), io_uring_setup (its operations
  //   never pass the filter) and clone3 (its flags are in memory) fail with
  //   ENOSYS; callers fall back to openat, plain calls and clone.
  // Without this, a workload running as uid 1000 in a root-owned workdir
  // could leave a setuid-root program there.
  bool forbid_privileged_files = false;
};

// SECCOMP_RET_DATA of each SECCOMP_RET_TRACE the program returns (the tracer
// reads it with PTRACE_GETEVENTMSG): why the call came to the tracer. A hint
// only; the tracer still decides from the plan and the arguments. Without a
// tracer the kernel fails a TRACE'd call with ENOSYS. After the tracer resumes
// a TRACE stop, the kernel runs the filter again on the (possibly rewritten)
// syscall: a second TRACE then counts as allow, any other action applies.
enum class SeccompTraceReason : uint16_t {
  kInspect = 1,  // the plan inspects the syscall (or the default)
  kGuard = 2,    // statically allowed, but its address is below the
                 // guard's end
  kAlways = 3,   // listed in trace_always
};

// A compiled classic-BPF seccomp program. fprog() points into the object,
// so keep it alive (and unmoved) until the filter is installed.
class SeccompProgram {
 public:
  explicit SeccompProgram(std::vector<sock_filter> instructions);
  SeccompProgram(const SeccompProgram& other);
  SeccompProgram& operator=(const SeccompProgram& other);
  SeccompProgram(SeccompProgram&& other) noexcept;
  SeccompProgram& operator=(SeccompProgram&& other) noexcept;
  ~SeccompProgram() = default;

  const std::vector<sock_filter>& instructions() const { return instructions_; }
  // What seccomp(SECCOMP_SET_MODE_FILTER) takes; usable in a forked child.
  const sock_fprog* fprog() const { return &fprog_; }

 private:
  void PointAtInstructions();

  std::vector<sock_filter> instructions_;
  sock_fprog fprog_{};
};

// Compiles `plan` for x86-64 with `routing`. Non-native ABIs follow
// plan.i386() (int 0x80) and plan.x32() (numbers with bit 30 set).
// kUnavailable when libseccomp or the kernel lacks an action the program
// needs; kInvalidArgument for a bad routing (syscall number, guard range).
Result<SeccompProgram> BuildSeccompProgram(const CompiledPlan& plan,
                                           const SeccompRouting& routing);

// The BPF program of libseccomp filter `ctx`, as the kernel loads it.
Result<std::vector<sock_filter>> ExportSeccompBpf(scmp_filter_ctx ctx);

// Sets no_new_privs and installs `program` on the calling thread, with a
// user-notification listener when `new_listener`. Async-signal-safe (raw
// syscalls, no allocation): meant for a forked child before exec. Returns
// the listener fd (O_CLOEXEC) when `new_listener`, else 0; -errno on failure.
int InstallSeccompProgram(const sock_fprog& program, bool new_listener);

// A call the program sent to a tracer or listener, as the kernel named it:
// the request with its ABI (from `arch` and the x32 bit of `number`) and
// number, and the plan that applies to it (CompiledPlan::ForCall for
// x86-64: a clone with namespace flags has the plan that refuses
// namespaces; plan.i386() or plan.x32() otherwise). `plan` points into the
// CompiledPlan.
struct FilteredCall {
  SyscallRequest request;
  const SyscallPlan* plan = nullptr;
};
FilteredCall ClassifyFilteredCall(const CompiledPlan& plan, uint32_t arch,
                                  int number,
                                  const std::array<uint64_t, 6>& args);

// The event for a call the program killed, as the kernel named it (a
// SECCOMP_RET_TRAP's siginfo, or a user notification under
// KillRoute::kNotify): the ABI from `arch` and the x32 bit of `number`, the
// plan's rule for the call (CompiledPlan::ForCall: a clone with namespace
// flags names the rule that refuses namespaces), decided by the kernel
// filter.
SyscallEvent FilterKillEvent(const CompiledPlan& plan, int pid, uint32_t arch,
                             int number, const std::array<uint64_t, 6>& args);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_PROGRAM_H_
