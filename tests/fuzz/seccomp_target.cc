// The seccomp compiler against the in-process BPF evaluator: a generated
// policy (or a preset) and a backend routing compiled with
// BuildSeccompProgram, then random (arch, nr, args) tuples evaluated on the
// program must meet the action the routing's contract (seccomp_program.h)
// gives the call's plan. A disagreement is a finding naming the call, the
// action of each side, the policy and the routing.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backends/seccomp/bpf_evaluator.h"
#include "backends/seccomp/seccomp_program.h"
#include "policies/decide.h"
#include "policies/plan.h"
#include "policies/syscalls.h"
#include "tests/fuzz/fuzz_targets.h"

namespace isoscope::fuzz {
namespace {

constexpr uint32_t kX32Bit = 0x40000000;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kMremapFixed = 2;

constexpr int kAlwaysCandidates[] = {SYS_execve, SYS_execveat, SYS_getpid,
                                     SYS_clone,  SYS_munmap,   SYS_openat,
                                     SYS_clone3, SYS_mmap,     SYS_unshare};
constexpr int kGuarded[] = {
    SYS_munmap, SYS_mprotect,         SYS_pkey_mprotect, SYS_madvise,
    SYS_mremap, SYS_remap_file_pages, SYS_mmap,          SYS_shmat,
    SYS_prctl,  SYS_process_madvise};
constexpr uint64_t kPrSetMm = 35;                // PR_SET_MM
constexpr uint64_t kUffdUserModeOnly = 1;        // UFFD_USER_MODE_ONLY
constexpr uint64_t kUserfaultfdIocNew = 0xAA00;  // USERFAULTFD_IOC_NEW
constexpr int kSysFchmodat2 = 452;
constexpr int kSysSetxattrat = 463;  // unnamed in libseccomp 2.5
constexpr int kInteresting[] = {SYS_setxattr,
                                SYS_fsetxattr,
                                kSysSetxattrat,
                                SYS_io_uring_setup,
                                SYS_clone,
                                SYS_clone3,
                                SYS_unshare,
                                SYS_munmap,
                                SYS_mprotect,
                                SYS_madvise,
                                SYS_pkey_mprotect,
                                SYS_mremap,
                                SYS_shmat,
                                SYS_mmap,
                                SYS_remap_file_pages,
                                SYS_openat,
                                SYS_open,
                                SYS_openat2,
                                SYS_execve,
                                SYS_execveat,
                                SYS_getpid,
                                SYS_read,
                                SYS_socket,
                                SYS_newfstatat,
                                SYS_readlinkat,
                                SYS_mount,
                                SYS_ptrace,
                                SYS_setns,
                                SYS_write,
                                SYS_prctl,
                                SYS_process_madvise,
                                SYS_userfaultfd,
                                SYS_ioctl,
                                SYS_setsockopt,
                                SYS_chmod,
                                SYS_fchmod,
                                SYS_fchmodat,
                                kSysFchmodat2,
                                SYS_creat,
                                SYS_mknod,
                                SYS_mknodat};
constexpr uint64_t kGuardEnds[] = {0x190000, 0x190001, 0x1000, 0x18ffff,
                                   0x7f0000000000};

bool Contains(const std::vector<int>& numbers, int number) {
  return std::find(numbers.begin(), numbers.end(), number) != numbers.end();
}

template <size_t N>
bool Contains(const int (&numbers)[N], int number) {
  return std::find(std::begin(numbers), std::end(numbers), number) !=
         std::end(numbers);
}

SeccompRouting RoutingOf(FuzzInput& in) {
  SeccompRouting routing;
  const uint8_t flags = in.Byte();
  routing.trace_paths = (flags & 1) != 0;
  routing.user_notif = (flags & 2) != 0;
  routing.notify_denials = (flags & 4) != 0;
  routing.forbid_untraced_clones = (flags & 8) != 0;
  routing.forbid_kernel_userfaults = (flags & 64) != 0;
  routing.forbid_privileged_files = (flags & 128) != 0;
  routing.kills = static_cast<KillRoute>(in.Byte() % 3);
  if (routing.trace_paths && (flags & 16) != 0) {
    routing.notify_paths = {SYS_openat, SYS_newfstatat, SYS_readlinkat};
  }
  // Each candidate: in neither list, in trace_always or in notify_always.
  const uint32_t lists = in.U32();
  for (size_t i = 0; i < std::size(kAlwaysCandidates); ++i) {
    switch ((lists >> (2 * i)) & 3) {
      case 1:
        routing.trace_always.push_back(kAlwaysCandidates[i]);
        break;
      case 2:
        routing.notify_always.push_back(kAlwaysCandidates[i]);
        break;
      default:
        break;
    }
  }
  if ((flags & 32) != 0) {
    // Only the end matters to the program (seccomp_program.h).
    routing.guard_end = in.Pick(kGuardEnds);
    routing.guard_begin = routing.guard_end / 2;
  }
  return routing;
}

uint32_t Trace(SeccompTraceReason reason) {
  return SECCOMP_RET_TRACE | static_cast<uint16_t>(reason);
}

uint32_t KillOf(const SeccompRouting& routing) {
  switch (routing.kills) {
    case KillRoute::kKillProcess:
      return SECCOMP_RET_KILL_PROCESS;
    case KillRoute::kTrap:
      return SECCOMP_RET_TRAP;
    case KillRoute::kNotify:
      return SECCOMP_RET_USER_NOTIF;
  }
  return 0;
}

// What a plan becomes on this routing for syscall `number` (-1: a number
// without a plan of its own), as seccomp_program.h states it.
uint32_t Routed(const SyscallPlan& plan, const SeccompRouting& routing,
                int number) {
  switch (plan.disposition) {
    case Disposition::kAllow:
      return SECCOMP_RET_ALLOW;
    case Disposition::kErrno:
      return routing.notify_denials
                 ? SECCOMP_RET_USER_NOTIF
                 : SECCOMP_RET_ERRNO | static_cast<uint32_t>(plan.errno_value);
    case Disposition::kKill:
      return KillOf(routing);
    case Disposition::kInspect: {
      const bool path_call = number >= 0 && !PathArguments(number).empty() &&
                             !Contains(routing.notify_paths, number);
      return (routing.trace_paths && path_call) || !routing.user_notif
                 ? Trace(SeccompTraceReason::kInspect)
                 : SECCOMP_RET_USER_NOTIF;
    }
  }
  return 0;
}

bool Runs(const SyscallPlan& plan) {
  return plan.disposition == Disposition::kAllow ||
         plan.disposition == Disposition::kInspect;
}

// Does a call with these arguments reach below `limit` (the guard's end
// rounded up to a page)?
bool ReachesGuard(int number, const std::array<uint64_t, 6>& a,
                  uint64_t limit) {
  switch (number) {
    case SYS_mmap:
      return a[0] < limit && (a[3] & MAP_FIXED) != 0;
    case SYS_mremap:
      return a[0] < limit || ((a[3] & kMremapFixed) != 0 && a[4] < limit);
    case SYS_shmat:
      return a[1] != 0 && a[1] < limit;
    case SYS_prctl:
      return (a[0] & 0xffffffff) == kPrSetMm;
    case SYS_process_madvise:
      return true;
    default:
      return a[0] < limit;
  }
}

// Does this call give a file S_ISUID or S_ISGID (seccomp_program.h)?
bool SetsSetidMode(int number, const std::array<uint64_t, 6>& a) {
  constexpr uint64_t kSetid = S_ISUID | S_ISGID;
  constexpr uint64_t kCreating = O_CREAT | 020000000;  // __O_TMPFILE
  switch (number) {
    case SYS_chmod:
    case SYS_fchmod:
    case SYS_creat:
    case SYS_mknod:
      return (a[1] & kSetid) != 0;
    case SYS_fchmodat:
    case kSysFchmodat2:
    case SYS_mknodat:
      return (a[2] & kSetid) != 0;
    case SYS_open:
      return (a[1] & kCreating) != 0 && (a[2] & kSetid) != 0;
    case SYS_openat:
      return (a[2] & kCreating) != 0 && (a[3] & kSetid) != 0;
    default:
      return false;
  }
}

// The action the program must return.
uint32_t Reference(const CompiledPlan& plan, const SeccompRouting& routing,
                   uint32_t arch, uint32_t nr,
                   const std::array<uint64_t, 6>& args) {
  // Every other architecture gets the i386 ABI's action; on x86-64, every
  // number from the x32 bit up (except -1, a tracer skipping the call) the
  // x32 ABI's: the kernel runs none of them as native calls.
  if (arch != AUDIT_ARCH_X86_64) return Routed(plan.i386(), routing, -1);
  if (nr >= kX32Bit && nr != 0xffffffff) return Routed(plan.x32(), routing, -1);
  const int number = static_cast<int>(nr);
  // A routing option of setsockopt (level and option as the kernel's ints)
  // gets routing_options(), before anything else, where it differs.
  if (number == SYS_setsockopt &&
      plan.routing_options() != plan.For(SYS_setsockopt)) {
    for (const RoutingSocketOption& option : RoutingSocketOptions()) {
      if ((args[1] & 0xffffffff) == static_cast<uint32_t>(option.level) &&
          (args[2] & 0xffffffff) == static_cast<uint32_t>(option.option)) {
        return Routed(plan.routing_options(), routing, number);
      }
    }
  }
  if (Contains(routing.trace_always, number)) {
    return Trace(SeccompTraceReason::kAlways);
  }
  if (Contains(routing.notify_always, number)) return SECCOMP_RET_USER_NOTIF;
  const std::vector<int>& named = AllSyscallNumbers();
  if (number == kSysSetxattrat && routing.forbid_privileged_files &&
      Runs(plan.unknown())) {
    return SECCOMP_RET_ERRNO | EOPNOTSUPP;
  }
  if (!std::binary_search(named.begin(), named.end(), number)) {
    return Routed(plan.unknown(), routing, -1);
  }
  const SyscallPlan& own = plan.For(number);
  if (number == SYS_clone3 && routing.forbid_untraced_clones && Runs(own)) {
    return SECCOMP_RET_ERRNO | ENOSYS;
  }
  if (number == SYS_clone) {
    const SyscallPlan& branch = plan.ForCall(number, args);
    if (routing.forbid_untraced_clones && Runs(branch) &&
        (args[0] & CLONE_UNTRACED) != 0) {
      return SECCOMP_RET_ERRNO | EPERM;
    }
    if (routing.forbid_privileged_files && Runs(branch) &&
        (args[0] & CLONE_NEWUSER) != 0) {
      return SECCOMP_RET_ERRNO | EPERM;
    }
    return Routed(branch, routing, number);
  }
  if (routing.guard_end != 0 && Contains(kGuarded, number)) {
    const uint64_t limit = (routing.guard_end + kPage - 1) / kPage * kPage;
    if (own.disposition == Disposition::kAllow) {
      return ReachesGuard(number, args, limit)
                 ? Trace(SeccompTraceReason::kGuard)
                 : SECCOMP_RET_ALLOW;
    }
    if (own.disposition == Disposition::kInspect) {
      return Trace(SeccompTraceReason::kInspect);
    }
  }
  if (routing.forbid_kernel_userfaults && Runs(own)) {
    const bool kernel_mode =
        (number == SYS_userfaultfd && (args[0] & kUffdUserModeOnly) == 0) ||
        (number == SYS_ioctl && (args[1] & 0xffffffff) == kUserfaultfdIocNew &&
         (args[2] & kUffdUserModeOnly) == 0);
    if (kernel_mode) return SECCOMP_RET_ERRNO | EPERM;
  }
  if (routing.forbid_privileged_files && Runs(own)) {
    if (number == SYS_openat2 || number == SYS_io_uring_setup ||
        number == SYS_clone3) {
      return SECCOMP_RET_ERRNO | ENOSYS;
    }
    if (number == SYS_setxattr || number == SYS_lsetxattr ||
        number == SYS_fsetxattr || number == kSysSetxattrat) {
      return SECCOMP_RET_ERRNO | EOPNOTSUPP;
    }
    if (number == SYS_unshare && (args[0] & CLONE_NEWUSER) != 0) {
      return SECCOMP_RET_ERRNO | EPERM;
    }
    if (SetsSetidMode(number, args)) return SECCOMP_RET_ERRNO | EPERM;
  }
  return Routed(own, routing, number);
}

uint64_t ArgValue(FuzzInput& in, const SeccompRouting& routing) {
  const uint64_t limit = (routing.guard_end + kPage - 1) / kPage * kPage;
  switch (in.Byte() % 11) {
    case 0:
      return in.U64();
    case 1:
      return in.Byte();
    case 2:
      return limit - 1;
    case 3:
      return limit;
    case 4:
      return uint64_t{in.Byte()} << 32 | limit;  // high half set
    case 5:
      return CLONE_UNTRACED | (in.Bool() ? CLONE_NEWUSER : SIGCHLD);
    case 6:
      return uint64_t{1} << (in.Byte() % 64);
    case 7:
      return MAP_FIXED | kMremapFixed;
    case 8:
      return ~uint64_t{0} - in.Byte();
    case 9: {
      // prctl's PR_SET_MM, USERFAULTFD_IOC_NEW, a routing option's level
      // or option (IPPROTO_IP 0, IP_OPTIONS 4, IPPROTO_IPV6 41, IPV6_RTHDR
      // 57), maybe with high bits.
      // Set-id modes and creating open flags too.
      constexpr uint64_t kValues[] = {
          kPrSetMm, kUserfaultfdIocNew, 0,       4,       41,
          57,       S_ISUID | 0755,     S_ISGID, O_CREAT, 020200000};
      return in.Pick(kValues) | (in.Bool() ? uint64_t{in.Byte()} << 32 : 0);
    }
    default:
      return 0x7f0000000000;
  }
}

uint32_t NumberOf(FuzzInput& in) {
  const uint8_t how = in.Byte();
  if (how < 128) return static_cast<uint32_t>(in.Pick(kInteresting));
  if (how < 200) return in.U16() % (kMaxSyscallNumber + 64);
  if (how < 215) return 0xffffffff;
  if (how < 235) return kX32Bit | (in.U16() % 600);
  return in.U32();
}

uint32_t ArchOf(FuzzInput& in) {
  const uint8_t how = in.Byte();
  if (how < 224) return AUDIT_ARCH_X86_64;
  if (how < 248) return AUDIT_ARCH_I386;
  return in.U32();
}

std::string Describe(const SeccompRouting& r) {
  return fmt::format(
      "trace_paths={} notify_paths=[{}] user_notif={} trace_always=[{}] "
      "notify_always=[{}] kills={} notify_denials={} guard=[{:#x}, {:#x}) "
      "forbid_untraced_clones={} forbid_kernel_userfaults={}",
      r.trace_paths, fmt::join(r.notify_paths, ","), r.user_notif,
      fmt::join(r.trace_always, ","), fmt::join(r.notify_always, ","),
      static_cast<int>(r.kills), r.notify_denials, r.guard_begin, r.guard_end,
      r.forbid_untraced_clones, r.forbid_kernel_userfaults);
}

}  // namespace

std::string SeccompCompilerInput(std::span<const uint8_t> input) {
  FuzzInput in(input);
  std::optional<CompiledPlan> generated;
  const uint8_t source = in.Byte() % 8;
  if (source >= 3) {
    generated = GeneratedPlan(in);
    if (!generated) return "";  // the generator made an invalid policy
  }
  const CompiledPlan& plan = generated ? *generated : PresetPlan(source);
  const Policy* policy = &plan.policy();
  const SeccompRouting routing = RoutingOf(in);
  auto program = BuildSeccompProgram(plan, routing);
  if (!program) {
    // A kernel without an action the routing needs is the host's limit;
    // anything else is the compiler failing on a valid plan.
    if (program.error().code() == ErrorCode::kUnavailable) return "";
    return fmt::format("BuildSeccompProgram failed: {}\nrouting: {}\n{}",
                       program.error().message(), Describe(routing),
                       policy->source);
  }
  for (int call = 0; call < 64 && !in.done(); ++call) {
    seccomp_data data{};
    data.arch = ArchOf(in);
    const uint32_t nr = NumberOf(in);
    data.nr = static_cast<int>(nr);
    data.instruction_pointer = in.U64();
    std::array<uint64_t, 6> args{};
    for (uint64_t& arg : args) arg = ArgValue(in, routing);
    std::copy(args.begin(), args.end(), data.args);
    auto got = EvaluateSeccompBpf(program->instructions(), data);
    const uint32_t want = Reference(plan, routing, data.arch, nr, args);
    if (!got || *got != want) {
      return fmt::format(
          "arch {:#x} nr {} ({}) args [{:#x}]: the program returns {}, the "
          "plan wants {:#x}\nrouting: {}\n{}",
          data.arch, static_cast<int>(nr), SyscallName(static_cast<int>(nr)),
          fmt::join(args, ", "),
          got ? fmt::format("{:#x}", *got) : got.error().message(), want,
          Describe(routing), policy->source);
    }
  }
  return "";
}

}  // namespace isoscope::fuzz
