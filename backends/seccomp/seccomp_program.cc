#include "backends/seccomp/seccomp_program.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/unique_fd.h"
#include "policies/decide.h"
#include "policies/syscalls.h"

namespace isoscope {
namespace {

// libseccomp's action values are the kernel's SECCOMP_RET_* values; the
// hand-written prologue below returns them directly.
static_assert(SCMP_ACT_ALLOW == SECCOMP_RET_ALLOW);
static_assert(SCMP_ACT_TRAP == SECCOMP_RET_TRAP);
static_assert(SCMP_ACT_KILL_PROCESS == SECCOMP_RET_KILL_PROCESS);
static_assert(SCMP_ACT_NOTIFY == SECCOMP_RET_USER_NOTIF);
static_assert(SCMP_ACT_ERRNO(5) == (SECCOMP_RET_ERRNO | 5));
static_assert(SCMP_ACT_TRACE(5) == (SECCOMP_RET_TRACE | 5));

constexpr uint64_t kPageSize = 4096;
constexpr uint32_t kX32SyscallBit = 0x40000000;    // __X32_SYSCALL_BIT
constexpr uint64_t kMapFixed = MAP_FIXED;          // 0x10
constexpr uint64_t kMapFixedNoReplace = 0x100000;  // MAP_FIXED_NOREPLACE
constexpr uint64_t kMremapFixed = 2;               // MREMAP_FIXED
constexpr uint64_t kPrSetMm = PR_SET_MM;
constexpr uint64_t kInt = 0xffffffff;  // an int argument: the kernel's bits
// userfaultfd's flag that leaves faults in kernel mode (a syscall copying
// from the workload, isoscope reading its memory) to the kernel.
constexpr uint64_t kUffdUserModeOnly = 1;
constexpr uint64_t kUserfaultfdIocNew = 0xAA00;  // USERFAULTFD_IOC_NEW
static_assert(kMapFixed == 0x10);
// A file's set-user-ID and set-group-ID bits; open's flags that create one.
constexpr uint64_t kSetidBits = S_ISUID | S_ISGID;
constexpr uint64_t kOpenCreat = O_CREAT;
constexpr uint64_t kOpenTmpfileBit = 020000000;  // __O_TMPFILE
constexpr int kSysFchmodat2 = 452;               // Linux 6.6
constexpr int kSysSetxattrat = 463;              // Linux 6.13

using FilterContext = std::unique_ptr<void, decltype(&seccomp_release)>;

uint32_t TraceAction(SeccompTraceReason reason) {
  return SCMP_ACT_TRACE(static_cast<uint16_t>(reason));
}

uint32_t KillAction(const SeccompRouting& routing) {
  switch (routing.kills) {
    case KillRoute::kKillProcess:
      return SCMP_ACT_KILL_PROCESS;
    case KillRoute::kTrap:
      return SCMP_ACT_TRAP;
    case KillRoute::kNotify:
      return SCMP_ACT_NOTIFY;
  }
  return SCMP_ACT_KILL_PROCESS;
}

Result<uint32_t> ErrnoAction(const SyscallPlan& plan) {
  // SECCOMP_RET_DATA holds 16 bits, but only 1..4095 reads as an error in
  // user space (the kernel returns -data).
  if (plan.errno_value < 1 || plan.errno_value > 4095) {
    return Fail(ErrorCode::kInternal,
                fmt::format("rule '{}' denies with errno {}, which is not an "
                            "errno value",
                            plan.rule_id, plan.errno_value));
  }
  return SCMP_ACT_ERRNO(static_cast<uint32_t>(plan.errno_value));
}

// What the plan's disposition becomes for x86-64 syscall `number` (-1: the
// default action, for numbers without a plan of their own).
Result<uint32_t> PlanAction(const SyscallPlan& plan, int number,
                            const SeccompRouting& routing) {
  switch (plan.disposition) {
    case Disposition::kAllow:
      return SCMP_ACT_ALLOW;
    case Disposition::kErrno: {
      auto action = ErrnoAction(plan);  // checks the errno either way
      if (!action || !routing.notify_denials) return action;
      return SCMP_ACT_NOTIFY;
    }
    case Disposition::kKill:
      return KillAction(routing);
    case Disposition::kInspect: {
      const bool traced_paths =
          routing.trace_paths && number >= 0 &&
          !PathArguments(number).empty() &&
          std::find(routing.notify_paths.begin(), routing.notify_paths.end(),
                    number) == routing.notify_paths.end();
      const bool traced_always =
          std::find(routing.trace_inspected.begin(),
                    routing.trace_inspected.end(),
                    number) != routing.trace_inspected.end();
      if (traced_paths || traced_always || !routing.user_notif) {
        return TraceAction(SeccompTraceReason::kInspect);
      }
      return SCMP_ACT_NOTIFY;
    }
  }
  return Fail(ErrorCode::kInternal, "unknown disposition");
}

// Non-native ABIs: isoscope decodes only x86-64 arguments, so nothing can
// inspect such a call; the plan compiler never asks for it.
Result<uint32_t> AbiAction(const SyscallPlan& plan,
                           const SeccompRouting& routing) {
  if (plan.disposition == Disposition::kInspect) {
    return Fail(ErrorCode::kInternal,
                fmt::format("rule '{}' inspects a non-native ABI, which "
                            "cannot be decoded",
                            plan.rule_id));
  }
  return PlanAction(plan, -1, routing);
}

// [begin, end) as aligned power-of-two blocks {mask, value}: x is in a block
// iff (x & mask) == value. Used where a range needs two bounds on one
// argument, which libseccomp 2.5 refuses within one rule (EINVAL).
std::vector<std::pair<uint64_t, uint64_t>> AlignedBlocks(uint64_t begin,
                                                         uint64_t end) {
  std::vector<std::pair<uint64_t, uint64_t>> blocks;
  while (begin < end) {
    uint64_t size =
        begin == 0 ? uint64_t{1} << 63 : begin & (~begin + 1);  // alignment
    while (size > end - begin) size >>= 1;
    blocks.emplace_back(~(size - 1), begin);
    begin += size;
  }
  return blocks;
}

// The low 32 bits (an int argument as the kernel reads it) other than
// `value`'s, as blocks {mask, value} that never overlap: block i holds the
// numbers that agree with `value` above bit i and differ at bit i.
std::vector<std::pair<uint64_t, uint64_t>> OtherIntBlocks(uint64_t value) {
  std::vector<std::pair<uint64_t, uint64_t>> blocks;
  for (int bit = 31; bit >= 0; --bit) {
    const uint64_t mask = (kInt << bit) & kInt;
    blocks.emplace_back(mask, ((value & mask) ^ (uint64_t{1} << bit)));
  }
  return blocks;
}

scmp_arg_cmp Arg(unsigned index, scmp_compare op, uint64_t a, uint64_t b = 0) {
  return scmp_arg_cmp{index, op, a, b};
}

// One libseccomp rule: the action when all comparisons hold.
struct FilterRule {
  uint32_t action;
  std::vector<scmp_arg_cmp> args;
};

// The syscalls that can unmap, remap, reprotect or replace memory at an
// address they are given, and where that address is.
enum class GuardShape {
  kAddressArg0,  // munmap, mprotect, pkey_mprotect, madvise,
                 // remap_file_pages: the range starts at arg0
  kMmap,         // arg0; replaces a mapping only with MAP_FIXED in arg3
  kMremap,       // arg0, and arg4 with MREMAP_FIXED in arg3
  kShmat,        // arg1; 0 lets the kernel choose
  kPrctlSetMm,   // prctl(PR_SET_MM, ...): moves the heap's bounds (and
                 // more) over any mapping, which brk then unmaps
  kAlways,       // process_madvise: its ranges are in memory (an iovec)
                 // the filter cannot read
};

struct GuardedSyscall {
  int number;
  GuardShape shape;
};

constexpr GuardedSyscall kGuardedSyscalls[] = {
    {__NR_munmap, GuardShape::kAddressArg0},
    {__NR_mprotect, GuardShape::kAddressArg0},
    {__NR_pkey_mprotect, GuardShape::kAddressArg0},
    {__NR_madvise, GuardShape::kAddressArg0},
    {__NR_remap_file_pages, GuardShape::kAddressArg0},
    {__NR_mmap, GuardShape::kMmap},
    {__NR_mremap, GuardShape::kMremap},
    {__NR_shmat, GuardShape::kShmat},
    {__NR_prctl, GuardShape::kPrctlSetMm},
    {__NR_process_madvise, GuardShape::kAlways},
};

const GuardedSyscall* FindGuarded(int number) {
  for (const GuardedSyscall& guarded : kGuardedSyscalls) {
    if (guarded.number == number) return &guarded;
  }
  return nullptr;
}

// An allowed guarded syscall split on its address argument(s) into rules
// that never overlap, so libseccomp's choice between overlapping rules never
// matters: each argument combination meets exactly one rule. A call below
// `limit` goes to the tracer, one above stays allowed.
std::vector<FilterRule> GuardRules(GuardShape shape, uint64_t limit) {
  const uint32_t allow = SCMP_ACT_ALLOW;
  const uint32_t trace = TraceAction(SeccompTraceReason::kGuard);
  switch (shape) {
    case GuardShape::kAddressArg0:
      return {{allow, {Arg(0, SCMP_CMP_GE, limit)}},
              {trace, {Arg(0, SCMP_CMP_LT, limit)}}};
    case GuardShape::kMmap:
      // Without MAP_FIXED the address is a hint the kernel never honours by
      // replacing a mapping (MAP_FIXED_NOREPLACE alone fails with EEXIST).
      return {{allow, {Arg(0, SCMP_CMP_GE, limit)}},
              {allow,
               {Arg(0, SCMP_CMP_LT, limit),
                Arg(3, SCMP_CMP_MASKED_EQ, kMapFixed, 0)}},
              {trace,
               {Arg(0, SCMP_CMP_LT, limit),
                Arg(3, SCMP_CMP_MASKED_EQ, kMapFixed, kMapFixed)}}};
    case GuardShape::kMremap:
      // The old range (arg0) moves or shrinks; with MREMAP_FIXED the new
      // address (arg4) replaces whatever is mapped there.
      return {{trace, {Arg(0, SCMP_CMP_LT, limit)}},
              {allow,
               {Arg(0, SCMP_CMP_GE, limit),
                Arg(3, SCMP_CMP_MASKED_EQ, kMremapFixed, 0)}},
              {trace,
               {Arg(0, SCMP_CMP_GE, limit),
                Arg(3, SCMP_CMP_MASKED_EQ, kMremapFixed, kMremapFixed),
                Arg(4, SCMP_CMP_LT, limit)}},
              {allow,
               {Arg(0, SCMP_CMP_GE, limit),
                Arg(3, SCMP_CMP_MASKED_EQ, kMremapFixed, kMremapFixed),
                Arg(4, SCMP_CMP_GE, limit)}}};
    case GuardShape::kShmat: {
      // 0 lets the kernel choose a free range. 1..limit-1 needs two bounds
      // on arg1, which one libseccomp rule cannot hold, so it is covered by
      // aligned blocks (about 20 masked comparisons, only on shmat's path).
      std::vector<FilterRule> rules = {{allow, {Arg(1, SCMP_CMP_EQ, 0)}},
                                       {allow, {Arg(1, SCMP_CMP_GE, limit)}}};
      for (auto [mask, value] : AlignedBlocks(1, limit)) {
        rules.push_back({trace, {Arg(1, SCMP_CMP_MASKED_EQ, mask, value)}});
      }
      return rules;
    }
    case GuardShape::kPrctlSetMm: {
      std::vector<FilterRule> rules = {
          {trace, {Arg(0, SCMP_CMP_MASKED_EQ, kInt, kPrSetMm)}}};
      for (auto [mask, value] : OtherIntBlocks(kPrSetMm)) {
        rules.push_back({allow, {Arg(0, SCMP_CMP_MASKED_EQ, mask, value)}});
      }
      return rules;
    }
    case GuardShape::kAlways:
      return {{trace, {}}};
  }
  return {};
}

// With forbid_kernel_userfaults, for a userfaultfd or ioctl the plan runs
// with `action`: a userfaultfd object made without UFFD_USER_MODE_ONLY
// (the syscall, or /dev/userfaultfd's USERFAULTFD_IOC_NEW) fails with
// EPERM. The rules partition the arguments (ioctl's command is an int).
std::vector<FilterRule> UserfaultRules(int number, uint32_t action) {
  const uint32_t refuse = SCMP_ACT_ERRNO(EPERM);
  if (number == __NR_userfaultfd) {
    return {
        {refuse, {Arg(0, SCMP_CMP_MASKED_EQ, kUffdUserModeOnly, 0)}},
        {action,
         {Arg(0, SCMP_CMP_MASKED_EQ, kUffdUserModeOnly, kUffdUserModeOnly)}}};
  }
  std::vector<FilterRule> rules = {
      {refuse,
       {Arg(1, SCMP_CMP_MASKED_EQ, kInt, kUserfaultfdIocNew),
        Arg(2, SCMP_CMP_MASKED_EQ, kUffdUserModeOnly, 0)}},
      {action,
       {Arg(1, SCMP_CMP_MASKED_EQ, kInt, kUserfaultfdIocNew),
        Arg(2, SCMP_CMP_MASKED_EQ, kUffdUserModeOnly, kUffdUserModeOnly)}}};
  for (auto [mask, value] : OtherIntBlocks(kUserfaultfdIocNew)) {
    rules.push_back({action, {Arg(1, SCMP_CMP_MASKED_EQ, mask, value)}});
  }
  return rules;
}

// The calls that give a file a mode, and where it is: the mode's argument,
// and for open and openat the flags' (the mode applies only when they
// create a file); -1 where the call always sets the mode.
struct SetidModeCall {
  int number;
  unsigned mode_arg;
  int flags_arg;
};

constexpr SetidModeCall kSetidModeCalls[] = {
    {__NR_chmod, 1, -1},    {__NR_fchmod, 1, -1}, {__NR_fchmodat, 2, -1},
    {kSysFchmodat2, 2, -1}, {__NR_creat, 1, -1},  {__NR_mknod, 1, -1},
    {__NR_mknodat, 2, -1},  {__NR_open, 2, 1},    {__NR_openat, 3, 2},
};

// setxattr, lsetxattr, fsetxattr and setxattrat (Linux 6.13).
bool IsXattrWrite(int number) {
  return number == __NR_setxattr || number == __NR_lsetxattr ||
         number == __NR_fsetxattr || number == kSysSetxattrat;
}

const SetidModeCall* FindSetidModeCall(int number) {
  for (const SetidModeCall& call : kSetidModeCalls) {
    if (call.number == number) return &call;
  }
  return nullptr;
}

// With forbid_privileged_files, for a call the plan runs with `action`: EPERM
// when the mode holds S_ISUID or S_ISGID (and, for open and openat, the
// flags create a file). The rules partition the arguments: S_ISUID set;
// S_ISUID clear and S_ISGID set; neither; and for open and openat, O_CREAT
// set; O_CREAT clear and O_TMPFILE set; neither.
std::vector<FilterRule> SetidModeRules(const SetidModeCall& call,
                                       uint32_t action) {
  const uint32_t refuse = SCMP_ACT_ERRNO(EPERM);
  const auto modes = [&](const std::vector<scmp_arg_cmp>& flags) {
    std::vector<FilterRule> rules;
    const std::pair<uint64_t, uint32_t> parts[] = {
        {S_ISUID, refuse}, {S_ISGID, refuse}, {0, action}};
    for (auto [value, part_action] : parts) {
      std::vector<scmp_arg_cmp> args = flags;
      const uint64_t mask = value == S_ISUID ? S_ISUID : kSetidBits;
      args.push_back(Arg(call.mode_arg, SCMP_CMP_MASKED_EQ, mask, value));
      rules.push_back({part_action, std::move(args)});
    }
    return rules;
  };
  if (call.flags_arg < 0) return modes({});
  const auto flags_arg = static_cast<unsigned>(call.flags_arg);
  const uint64_t creating = kOpenCreat | kOpenTmpfileBit;
  std::vector<FilterRule> rules =
      modes({Arg(flags_arg, SCMP_CMP_MASKED_EQ, kOpenCreat, kOpenCreat)});
  for (FilterRule& rule :
       modes({Arg(flags_arg, SCMP_CMP_MASKED_EQ, creating, kOpenTmpfileBit)})) {
    rules.push_back(std::move(rule));
  }
  rules.push_back({action, {Arg(flags_arg, SCMP_CMP_MASKED_EQ, creating, 0)}});
  return rules;
}

bool Runs(const SyscallPlan& plan) {
  return plan.disposition == Disposition::kAllow ||
         plan.disposition == Disposition::kInspect;
}

// clone's flags are arg 0, a register the filter reads: a clone with a
// CLONE_NEW* flag gets the plan's clone_namespaces(), any other clone
// For(clone); where that runs the call, a clone with CLONE_UNTRACED
// (forbid_untraced_clones) or CLONE_NEWUSER (forbid_privileged_files) fails
// with EPERM. Each rule is one masked comparison on arg 0, and together they
// partition arg 0's values: the first namespace bit set decides which plan
// (bits below it clear, it set), then the first refused bit set refuses
// (refused bits before it clear), so no two rules overlap and libseccomp's
// order never matters.
Result<std::vector<FilterRule>> CloneRules(const CompiledPlan& plan,
                                           const SeccompRouting& routing) {
  std::vector<FilterRule> rules;
  auto add = [&](uint64_t mask, uint64_t value,
                 const SyscallPlan& branch) -> Status {
    auto action = PlanAction(branch, SYS_clone, routing);
    if (!action) return tl::unexpected(action.error());
    uint64_t refused = 0;
    if (Runs(branch)) {
      if (routing.forbid_untraced_clones) refused |= CLONE_UNTRACED;
      if (routing.forbid_privileged_files) refused |= CLONE_NEWUSER;
    }
    const auto rule = [&](uint32_t rule_action, uint64_t m, uint64_t v) {
      if (m == 0) {
        rules.push_back({rule_action, {}});
      } else {
        rules.push_back({rule_action, {Arg(0, SCMP_CMP_MASKED_EQ, m, v)}});
      }
    };
    if ((value & refused) != 0) {  // the block holds a refused bit
      rule(SCMP_ACT_ERRNO(EPERM), mask, value);
      return {};
    }
    refused &= ~mask;  // the block's own bits are clear there
    uint64_t clear = 0;
    for (uint64_t bit = 1; bit != 0; bit <<= 1) {
      if ((refused & bit) == 0) continue;
      rule(SCMP_ACT_ERRNO(EPERM), mask | clear | bit, value | bit);
      clear |= bit;
    }
    rule(*action, mask | clear, value);
    return {};
  };
  const SyscallPlan& own = plan.For(SYS_clone);
  const SyscallPlan& namespaces = plan.clone_namespaces();
  if (own == namespaces) {
    if (Status status = add(0, 0, own); !status) {
      return tl::unexpected(status.error());
    }
    return rules;
  }
  if (Status status = add(kCloneNamespaceFlags, 0, own); !status) {
    return tl::unexpected(status.error());
  }
  uint64_t seen = 0;
  for (uint64_t bit = 1; bit != 0; bit <<= 1) {
    if ((kCloneNamespaceFlags & bit) == 0) continue;
    seen |= bit;
    if (Status status = add(seen, bit, namespaces); !status) {
      return tl::unexpected(status.error());
    }
  }
  return rules;
}

// The rules for one x86-64 syscall number (a single unconditional rule when
// no argument matters).
Result<std::vector<FilterRule>> RulesFor(int number, const CompiledPlan& plan,
                                         const SeccompRouting& routing,
                                         uint64_t guard_limit) {
  const SyscallPlan& syscall_plan = plan.For(number);
  bool allowed = syscall_plan.disposition == Disposition::kAllow;
  if (std::find(routing.trace_always.begin(), routing.trace_always.end(),
                number) != routing.trace_always.end()) {
    return std::vector<FilterRule>{
        {TraceAction(SeccompTraceReason::kAlways), {}}};
  }
  if (std::find(routing.notify_always.begin(), routing.notify_always.end(),
                number) != routing.notify_always.end()) {
    return std::vector<FilterRule>{{SCMP_ACT_NOTIFY, {}}};
  }
  if (routing.forbid_untraced_clones && Runs(syscall_plan) &&
      number == SYS_clone3) {
    return std::vector<FilterRule>{{SCMP_ACT_ERRNO(ENOSYS), {}}};
  }
  if (number == SYS_clone) return CloneRules(plan, routing);
  if (routing.forbid_privileged_files && Runs(syscall_plan)) {
    if (number == SYS_openat2 || number == SYS_io_uring_setup ||
        number == SYS_clone3) {
      return std::vector<FilterRule>{{SCMP_ACT_ERRNO(ENOSYS), {}}};
    }
    if (IsXattrWrite(number)) {
      return std::vector<FilterRule>{{SCMP_ACT_ERRNO(EOPNOTSUPP), {}}};
    }
    auto action = PlanAction(syscall_plan, number, routing);
    if (!action) return tl::unexpected(action.error());
    if (number == SYS_unshare) {
      return std::vector<FilterRule>{
          {SCMP_ACT_ERRNO(EPERM),
           {Arg(0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)}},
          {*action, {Arg(0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, 0)}}};
    }
    if (const SetidModeCall* call = FindSetidModeCall(number)) {
      return SetidModeRules(*call, *action);
    }
  }
  const GuardedSyscall* guarded =
      guard_limit != 0 ? FindGuarded(number) : nullptr;
  if (guarded != nullptr) {
    if (allowed) return GuardRules(guarded->shape, guard_limit);
    // An inspected guarded syscall goes wholly to the tracer: it checks the
    // guard and asks the supervisor, so there is one place that decides.
    if (syscall_plan.disposition == Disposition::kInspect) {
      return std::vector<FilterRule>{
          {TraceAction(SeccompTraceReason::kInspect), {}}};
    }
    // Denied or killed: the call never runs, the guard is safe.
  }
  auto action = PlanAction(syscall_plan, number, routing);
  if (!action) return tl::unexpected(action.error());
  if (routing.forbid_kernel_userfaults && Runs(syscall_plan) &&
      (number == SYS_userfaultfd || number == SYS_ioctl)) {
    return UserfaultRules(number, *action);
  }
  if (guarded != nullptr && number == SYS_mmap) {
    // But the tracer maps the guarded region itself, by turning a stopped
    // call into mmap(guard_begin, ..., MAP_FIXED_NOREPLACE), which the
    // kernel filters again when the stop ends: that one call must reach
    // the tracer (whose own call then counts as allowed). The workload's
    // own such call is decided there by the plan, as any traced call, and
    // never runs; every other mmap keeps the plan's action here.
    return std::vector<FilterRule>{
        {*action, {Arg(0, SCMP_CMP_NE, routing.guard_begin)}},
        {*action,
         {Arg(0, SCMP_CMP_EQ, routing.guard_begin),
          Arg(3, SCMP_CMP_MASKED_EQ, kMapFixedNoReplace, 0)}},
        {TraceAction(SeccompTraceReason::kGuard),
         {Arg(0, SCMP_CMP_EQ, routing.guard_begin),
          Arg(3, SCMP_CMP_MASKED_EQ, kMapFixedNoReplace, kMapFixedNoReplace)}}};
  }
  return std::vector<FilterRule>{{*action, {}}};
}

// Whether the running kernel supports `action` (SECCOMP_GET_ACTION_AVAIL,
// Linux 4.14; older kernels lack the actions asked about anyway).
bool KernelHasAction(uint32_t action) {
  uint32_t base = action & SECCOMP_RET_ACTION_FULL;
  return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &base) == 0;
}

Status CheckKernelActions(const std::vector<uint32_t>& actions) {
  struct Needed {
    uint32_t action;
    const char* name;
  };
  for (Needed needed :
       {Needed{SECCOMP_RET_USER_NOTIF, "USER_NOTIF"},
        Needed{SECCOMP_RET_KILL_PROCESS, "KILL_PROCESS"},
        Needed{SECCOMP_RET_TRACE, "TRACE"}, Needed{SECCOMP_RET_TRAP, "TRAP"}}) {
    bool used = std::any_of(actions.begin(), actions.end(), [&](uint32_t a) {
      return (a & SECCOMP_RET_ACTION_FULL) == needed.action;
    });
    if (used && !KernelHasAction(needed.action)) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("this kernel lacks the seccomp action "
                              "SECCOMP_RET_{}",
                              needed.name));
    }
  }
  return {};
}

Status Validate(const SeccompRouting& routing) {
  for (auto [field, numbers] :
       {std::pair{"trace_always", &routing.trace_always},
        std::pair{"notify_always", &routing.notify_always}}) {
    for (int number : *numbers) {
      if (number < 0 || number > kMaxSyscallNumber) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: {} is not an x86-64 syscall number", field,
                                number));
      }
    }
  }
  for (int number : routing.notify_always) {
    if (std::find(routing.trace_always.begin(), routing.trace_always.end(),
                  number) != routing.trace_always.end()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("syscall {} is both in trace_always and in "
                              "notify_always",
                              number));
    }
  }
  if (routing.guard_begin > routing.guard_end ||
      (routing.guard_end != 0 && routing.guard_begin == routing.guard_end) ||
      routing.guard_end > UINT64_MAX - kPageSize) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("guard range [{:#x}, {:#x}) is not a range",
                            routing.guard_begin, routing.guard_end));
  }
  return {};
}

constexpr sock_filter Statement(uint16_t code, uint32_t k) {
  return sock_filter{code, 0, 0, k};
}
constexpr sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return sock_filter{code, jt, jf, k};
}

// Why a hand-written prologue: libseccomp 2.5.4's x86_64 block sends every
// number with the x32 bit (except -1) to the bad-arch action, the same one
// the i386 ABI gets, and adding SCMP_ARCH_X32 instead gives x32 calls the
// x86-64 rules by name and the shared default action. Neither lets x32 and
// i386 follow different plans; these six instructions do. They only return
// for x32 numbers and fall through to libseccomp's program otherwise (which
// reloads arch and nr itself; classic BPF jumps are relative and forward, so
// prepending keeps its jumps intact). i386 then reaches libseccomp's arch
// check and gets the bad-arch action, which is plan.i386()'s.
std::vector<sock_filter> X32Prologue(uint32_t x32_action) {
  constexpr uint16_t kLoadWord = BPF_LD | BPF_W | BPF_ABS;
  return {
      Statement(kLoadWord, offsetof(seccomp_data, arch)),
      // Not x86-64: skip to libseccomp's program.
      Jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
      Statement(kLoadWord, offsetof(seccomp_data, nr)),
      // Below the x32 bit: native, skip.
      Jump(BPF_JMP | BPF_JGE | BPF_K, kX32SyscallBit, 0, 2),
      // -1 (a tracer skipping the call) is native too, as in libseccomp.
      Jump(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, 1, 0),
      Statement(BPF_RET | BPF_K, x32_action),
  };
}

// setsockopt's level and option are registers, so a routing option
// (RoutingSocketOptions) gets the plan's routing_options() here. A
// hand-written prologue, like the x32 one, because the kernel takes both
// as an int: only their low 32 bits may be compared, and the complement of
// a few values in 32 bits, which libseccomp's rules would need (they must
// partition the arguments), takes about a hundred masked rules. These load
// each argument's low word (x86-64 is little-endian) and only return for a
// routing option of a native setsockopt; anything else falls through.
std::vector<sock_filter> RoutingOptionsPrologue(uint32_t action) {
  constexpr uint16_t kLoadWord = BPF_LD | BPF_W | BPF_ABS;
  constexpr uint16_t kJumpIfEqual = BPF_JMP | BPF_JEQ | BPF_K;
  constexpr uint32_t kLevel = offsetof(seccomp_data, args) + 1 * sizeof(__u64);
  constexpr uint32_t kOption = offsetof(seccomp_data, args) + 2 * sizeof(__u64);
  const std::span<const RoutingSocketOption> options = RoutingSocketOptions();
  // Per option: load the level, skip the next two unless it matches, load
  // the option, return if it matches.
  const auto after_options = static_cast<uint8_t>(4 * options.size());
  std::vector<sock_filter> program = {
      Statement(kLoadWord, offsetof(seccomp_data, arch)),
      Jump(kJumpIfEqual, AUDIT_ARCH_X86_64, 0, after_options + 4),
      Statement(kLoadWord, offsetof(seccomp_data, nr)),
      Jump(kJumpIfEqual, SYS_setsockopt, 0, after_options + 2),
  };
  for (size_t i = 0; i < options.size(); ++i) {
    const auto left = static_cast<uint8_t>(4 * (options.size() - i - 1));
    program.push_back(Statement(kLoadWord, kLevel));
    program.push_back(
        Jump(kJumpIfEqual, static_cast<uint32_t>(options[i].level), 0, 2));
    program.push_back(Statement(kLoadWord, kOption));
    // Matched: over the remaining options and the jump, onto the return.
    program.push_back(Jump(kJumpIfEqual,
                           static_cast<uint32_t>(options[i].option),
                           static_cast<uint8_t>(left + 1), 0));
  }
  // No option matched: jump over the return.
  program.push_back(Jump(BPF_JMP | BPF_JA, 1, 0, 0));
  program.push_back(Statement(BPF_RET | BPF_K, action));
  return program;
}

}  // namespace

// libseccomp 2.5.4 has no seccomp_export_bpf_mem: exported into a memfd and
// read back.
Result<std::vector<sock_filter>> ExportSeccompBpf(scmp_filter_ctx ctx) {
  UniqueFd memfd(::memfd_create("isoscope-seccomp", MFD_CLOEXEC));
  if (!memfd) return FailErrno("memfd_create", errno);
  if (int rc = seccomp_export_bpf(ctx, memfd.get()); rc < 0) {
    return FailErrno("seccomp_export_bpf", -rc);
  }
  struct stat st {};
  if (::fstat(memfd.get(), &st) != 0) return FailErrno("fstat memfd", errno);
  auto size = static_cast<size_t>(st.st_size);
  if (size == 0 || size % sizeof(sock_filter) != 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("libseccomp exported {} bytes, not a whole "
                            "number of BPF instructions",
                            size));
  }
  std::vector<sock_filter> instructions(size / sizeof(sock_filter));
  auto* out = reinterpret_cast<char*>(instructions.data());
  size_t done = 0;
  while (done < size) {
    ssize_t n =
        ::pread(memfd.get(), out + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("reading the exported seccomp program", errno);
    if (n == 0) return Fail(ErrorCode::kInternal, "exported program shrank");
    done += static_cast<size_t>(n);
  }
  return instructions;
}

SeccompProgram::SeccompProgram(std::vector<sock_filter> instructions)
    : instructions_(std::move(instructions)) {
  PointAtInstructions();
}

SeccompProgram::SeccompProgram(const SeccompProgram& other)
    : instructions_(other.instructions_) {
  PointAtInstructions();
}

SeccompProgram& SeccompProgram::operator=(const SeccompProgram& other) {
  instructions_ = other.instructions_;
  PointAtInstructions();
  return *this;
}

SeccompProgram::SeccompProgram(SeccompProgram&& other) noexcept
    : instructions_(std::move(other.instructions_)) {
  PointAtInstructions();
  other.PointAtInstructions();
}

SeccompProgram& SeccompProgram::operator=(SeccompProgram&& other) noexcept {
  instructions_ = std::move(other.instructions_);
  PointAtInstructions();
  other.PointAtInstructions();
  return *this;
}

void SeccompProgram::PointAtInstructions() {
  fprog_.len = static_cast<decltype(fprog_.len)>(instructions_.size());
  fprog_.filter = instructions_.data();
}

Result<SeccompProgram> BuildSeccompProgram(const CompiledPlan& plan,
                                           const SeccompRouting& routing) {
  if (Status valid = Validate(routing); !valid) {
    return tl::unexpected(valid.error());
  }
  // Mappings are whole pages, so an address anywhere in the guard's last
  // page reaches the guard (and shmat's SHM_RND rounds down to a page).
  uint64_t guard_limit =
      routing.guard_end == 0
          ? 0
          : (routing.guard_end + kPageSize - 1) / kPageSize * kPageSize;

  auto default_action = PlanAction(plan.unknown(), -1, routing);
  if (!default_action) return tl::unexpected(default_action.error());
  auto i386_action = AbiAction(plan.i386(), routing);
  if (!i386_action) return tl::unexpected(i386_action.error());
  auto x32_action = AbiAction(plan.x32(), routing);
  if (!x32_action) return tl::unexpected(x32_action.error());

  std::vector<int> numbers = AllSyscallNumbers();
  numbers.insert(numbers.end(), routing.trace_always.begin(),
                 routing.trace_always.end());
  numbers.insert(numbers.end(), routing.notify_always.begin(),
                 routing.notify_always.end());
  // Newer than libseccomp's table, so without a name: the plan's default
  // applies to it, and where that runs it, the routing's refusal.
  if (routing.forbid_privileged_files) numbers.push_back(kSysSetxattrat);
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());

  std::vector<std::pair<int, std::vector<FilterRule>>> rules_by_number;
  std::vector<uint32_t> actions = {*default_action, *i386_action, *x32_action};
  for (int number : numbers) {
    auto rules = RulesFor(number, plan, routing, guard_limit);
    if (!rules) return tl::unexpected(rules.error());
    for (const FilterRule& rule : *rules) actions.push_back(rule.action);
    rules_by_number.emplace_back(number, std::move(*rules));
  }
  // Only where it differs from setsockopt's own plan.
  std::optional<uint32_t> routing_options_action;
  if (plan.routing_options() != plan.For(SYS_setsockopt)) {
    auto action = PlanAction(plan.routing_options(), SYS_setsockopt, routing);
    if (!action) return tl::unexpected(action.error());
    routing_options_action = *action;
    actions.push_back(*action);
  }
  if (Status kernel = CheckKernelActions(actions); !kernel) {
    return tl::unexpected(kernel.error());
  }

  FilterContext ctx(seccomp_init(*default_action), &seccomp_release);
  if (!ctx) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("libseccomp refused the default action {:#x}",
                            *default_action));
  }
  if (int rc =
          seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, *i386_action);
      rc < 0) {
    return FailErrno("seccomp_attr_set(ACT_BADARCH)", -rc);
  }
  // The program is exported, never loaded by libseccomp; the child sets
  // no_new_privs itself (InstallSeccompProgram).
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc < 0) {
    return FailErrno("seccomp_attr_set(CTL_NNP)", -rc);
  }
  // A binary search over syscall numbers instead of a linear chain: with
  // hundreds of rules this is what keeps the fast path fast. Optional
  // (libseccomp before 2.5 lacks it); the program is correct either way.
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);

  for (const auto& [number, rules] : rules_by_number) {
    for (const FilterRule& rule : rules) {
      // The default already does it, and libseccomp refuses such a rule
      // (EACCES). The rules of one syscall partition its arguments, so
      // leaving one out leaves exactly its part to the default.
      if (rule.action == *default_action) continue;
      int rc = seccomp_rule_add_exact_array(
          ctx.get(), rule.action, number,
          static_cast<unsigned>(rule.args.size()), rule.args.data());
      if (rc < 0) {
        return Fail(
            ErrorCode::kInternal,
            fmt::format("libseccomp rejected a rule for syscall {} "
                        "({}): {}",
                        SyscallName(number), number, std::strerror(-rc)),
            -rc);
      }
    }
  }

  auto exported = ExportSeccompBpf(ctx.get());
  if (!exported) return tl::unexpected(exported.error());
  std::vector<sock_filter> program = X32Prologue(*x32_action);
  if (routing_options_action) {
    std::vector<sock_filter> prologue =
        RoutingOptionsPrologue(*routing_options_action);
    program.insert(program.end(), prologue.begin(), prologue.end());
  }
  program.insert(program.end(), exported->begin(), exported->end());
  if (program.size() > BPF_MAXINSNS) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the seccomp program has {} instructions; the "
                            "kernel takes at most {}",
                            program.size(), BPF_MAXINSNS));
  }
  return SeccompProgram(std::move(program));
}

int InstallSeccompProgram(const sock_fprog& program, bool new_listener) {
  // Raw syscalls only: this runs between fork and exec.
  if (::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0) {
    return -errno;
  }
  uint64_t flags = new_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
  int64_t rc = -1;
  if (new_listener) {
    // A call waiting for the listener's answer is interruptible: a signal
    // (a shell's SIGCHLD) ends the wait with ERESTARTSYS, which a handler
    // without SA_RESTART turns into EINTR from calls that never give it
    // (pipe, fork, open of a file). With WAIT_KILLABLE_RECV (Linux 5.19)
    // only SIGKILL interrupts it once isoscope has received the
    // notification; older kernels refuse the flag (EINVAL) and keep the
    // interruptible wait.
    rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                   flags | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &program);
  }
  if (rc < 0 && (!new_listener || errno == EINVAL)) {
    rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
  }
  if (rc < 0) return -errno;
  // With NEW_LISTENER the kernel returns the listener fd (close-on-exec).
  return new_listener ? static_cast<int>(rc) : 0;
}

FilteredCall ClassifyFilteredCall(const CompiledPlan& plan, uint32_t arch,
                                  int number,
                                  const std::array<uint64_t, 6>& args) {
  FilteredCall call;
  call.request.args = args;
  if (arch == AUDIT_ARCH_I386) {
    call.request.abi = Abi::kI386;
    call.request.number = number;
    call.plan = &plan.i386();
  } else if ((static_cast<uint32_t>(number) & kX32SyscallBit) != 0) {
    call.request.abi = Abi::kX32;
    call.request.number =
        static_cast<int>(static_cast<uint32_t>(number) & ~kX32SyscallBit);
    call.plan = &plan.x32();
  } else {
    call.request.number = number;
    call.plan = &plan.ForCall(number, args);
  }
  return call;
}

SyscallEvent FilterKillEvent(const CompiledPlan& plan, int pid, uint32_t arch,
                             int number, const std::array<uint64_t, 6>& args) {
  FilteredCall call = ClassifyFilteredCall(plan, arch, number, args);
  SyscallEvent event;
  event.pid = pid;
  event.request = std::move(call.request);
  std::string name = SyscallName(event.request.number);
  event.verdict = Verdict{
      ActionSpec{Action::kKill}, call.plan->rule_id,
      fmt::format(
          "{} ({} ABI) is killed by the seccomp filter (rule '{}')",
          name.empty() ? fmt::format("#{}", event.request.number) : name,
          AbiName(event.request.abi), call.plan->rule_id)};
  event.decided_by = DecidedBy::kKernelFilter;
  return event;
}

}  // namespace isoscope
