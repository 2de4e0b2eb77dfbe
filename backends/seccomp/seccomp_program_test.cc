#include "backends/seccomp/seccomp_program.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/seccomp/seccomp_test_support.h"
#include "policies/decide.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "tests/host_abi.h"

namespace isoscope {
namespace {

using seccomp_testing::ChildOptions;
using seccomp_testing::ChildRun;
using seccomp_testing::EvaluateBpf;
using seccomp_testing::kNotifiedErrno;
using seccomp_testing::kTrapMarker;
using seccomp_testing::kTrappedExit;
using seccomp_testing::MustBuild;
using seccomp_testing::PlanOf;
using seccomp_testing::Raw;
using seccomp_testing::Record;
using seccomp_testing::RunInChild;
using seccomp_testing::SyscallData;
using ::testing::ElementsAre;
using testing::HostHasI386Abi;
using testing::I386Syscall0;
using testing::kI386Getpid;
using ::testing::Optional;

constexpr uint64_t kGuardBegin = 0x10000;
constexpr uint64_t kGuardEnd = 0x190000;
constexpr uint32_t kX32Bit = 0x40000000;
constexpr uint64_t kHigh = 0x7f0000000000;  // far above any guard
constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kNotify = SECCOMP_RET_USER_NOTIF;

uint32_t Trace(SeccompTraceReason reason) {
  return SECCOMP_RET_TRACE | static_cast<uint16_t>(reason);
}
uint32_t Errno(int value) {
  return SECCOMP_RET_ERRNO | static_cast<uint32_t>(value);
}
uint32_t Kill(bool trap) {
  return trap ? SECCOMP_RET_TRAP : SECCOMP_RET_KILL_PROCESS;
}

uint32_t Kill(KillRoute route) {
  switch (route) {
    case KillRoute::kKillProcess:
      return SECCOMP_RET_KILL_PROCESS;
    case KillRoute::kTrap:
      return SECCOMP_RET_TRAP;
    case KillRoute::kNotify:
      return SECCOMP_RET_USER_NOTIF;
  }
  return 0xffffffff;
}

std::string ActionName(uint32_t action) {
  uint32_t data = action & SECCOMP_RET_DATA;
  switch (action & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
      return "ALLOW";
    case SECCOMP_RET_ERRNO:
      return fmt::format("ERRNO({})", data);
    case SECCOMP_RET_TRACE:
      return fmt::format("TRACE({})", data);
    case SECCOMP_RET_USER_NOTIF:
      return "USER_NOTIF";
    case SECCOMP_RET_TRAP:
      return "TRAP";
    case SECCOMP_RET_KILL_PROCESS:
      return "KILL_PROCESS";
  }
  return fmt::format("{:#x}", action);
}

uint32_t Evaluate(const SeccompProgram& program, int nr,
                  std::vector<uint64_t> args = {},
                  uint32_t arch = AUDIT_ARCH_X86_64) {
  return EvaluateBpf(program.instructions(),
                     SyscallData(nr, std::move(args), arch));
}

bool Contains(const std::vector<int>& numbers, int number) {
  return std::find(numbers.begin(), numbers.end(), number) != numbers.end();
}

const std::vector<int>& GuardedSyscalls() {
  static const std::vector<int> numbers = {
      SYS_munmap, SYS_mprotect,         SYS_pkey_mprotect, SYS_madvise,
      SYS_mremap, SYS_remap_file_pages, SYS_mmap,          SYS_shmat,
      SYS_prctl,  SYS_process_madvise};
  return numbers;
}

// What the filter must answer for a call whose plan is `planned` (routing
// without guard or always-lists): an independent statement of the rules.
uint32_t RoutedAction(const SyscallPlan& planned, const SeccompRouting& routing,
                      int nr) {
  switch (planned.disposition) {
    case Disposition::kAllow:
      return kAllow;
    case Disposition::kErrno:
      return routing.notify_denials ? kNotify : Errno(planned.errno_value);
    case Disposition::kKill:
      return Kill(routing.kills);
    case Disposition::kInspect:
      if ((routing.trace_paths && !PathArguments(nr).empty()) ||
          !routing.user_notif) {
        return Trace(SeccompTraceReason::kInspect);
      }
      return kNotify;
  }
  return 0xffffffff;
}

// What the brief says syscall `nr` gets when its arguments keep clear of
// any guard: an independent statement of the routing rules.
uint32_t ExpectedAction(const CompiledPlan& plan, const SeccompRouting& routing,
                        int nr) {
  const SyscallPlan& syscall_plan = plan.For(nr);
  if (Contains(routing.trace_always, nr)) {
    return Trace(SeccompTraceReason::kAlways);
  }
  if (Contains(routing.notify_always, nr)) return kNotify;
  if (routing.guard_end != 0 &&
      syscall_plan.disposition == Disposition::kInspect &&
      Contains(GuardedSyscalls(), nr)) {
    return Trace(SeccompTraceReason::kInspect);
  }
  // process_madvise's ranges are in memory: allowed, it goes to the tracer
  // whatever its arguments.
  if (routing.guard_end != 0 && nr == SYS_process_madvise &&
      syscall_plan.disposition == Disposition::kAllow) {
    return Trace(SeccompTraceReason::kGuard);
  }
  return RoutedAction(syscall_plan, routing, nr);
}

uint32_t AbiExpected(const SyscallPlan& abi, const SeccompRouting& routing) {
  if (abi.disposition == Disposition::kKill) return Kill(routing.kills);
  return routing.notify_denials ? kNotify : Errno(abi.errno_value);
}

SeccompRouting PtraceRouting() {
  SeccompRouting routing;
  routing.trace_paths = true;
  routing.user_notif = true;
  routing.trace_always = {SYS_execve, SYS_execveat};
  routing.kills = KillRoute::kTrap;
  routing.notify_denials = true;
  routing.guard_begin = kGuardBegin;
  routing.guard_end = kGuardEnd;
  return routing;
}

// ---- The program, evaluated in process --------------------------------

TEST(SeccompProgramTest, PresetsRouteEverySyscallAsPlanned) {
  // The container backend's: user notification for every inspected call,
  // every exec and every kill.
  SeccompRouting container;
  container.notify_always = {SYS_execve, SYS_execveat};
  container.kills = KillRoute::kNotify;
  container.notify_denials = true;
  SeccompRouting trace_all;
  trace_all.user_notif = false;
  for (const std::string& preset : PresetNames()) {
    auto policy = LoadPreset(preset);
    ASSERT_TRUE(policy.has_value()) << policy.error().message();
    CompiledPlan plan =
        CompiledPlan::Compile(std::make_shared<const Policy>(*policy));
    for (const SeccompRouting& routing :
         {PtraceRouting(), container, trace_all}) {
      SeccompProgram program = MustBuild(plan, routing);
      ASSERT_FALSE(program.instructions().empty());
      EXPECT_LE(program.instructions().size(), size_t{BPF_MAXINSNS});
      for (int nr : AllSyscallNumbers()) {
        uint32_t got = Evaluate(program, nr, {kHigh, kHigh, 0, 0, kHigh, 0});
        uint32_t want = ExpectedAction(plan, routing, nr);
        EXPECT_EQ(got, want)
            << preset << ": " << SyscallName(nr) << " (" << nr << ") got "
            << ActionName(got) << ", want " << ActionName(want);
      }
      // Numbers without a plan of their own follow the default.
      uint32_t want_default = ExpectedAction(plan, routing, 1000);
      EXPECT_EQ(Evaluate(program, 1000), want_default) << preset;
      EXPECT_EQ(Evaluate(program, kMaxSyscallNumber + 1), want_default);
      // nr -1 (a tracer skipping a call) is native, not x32.
      EXPECT_EQ(Evaluate(program, -1), want_default) << preset;
      EXPECT_EQ(Evaluate(program, kX32Bit | SYS_getpid),
                AbiExpected(plan.x32(), routing))
          << preset;
      EXPECT_EQ(Evaluate(program, 20, {}, AUDIT_ARCH_I386),
                AbiExpected(plan.i386(), routing))
          << preset;
    }
  }
}

// What Decide says the filter must do with a call: its verdict where the
// plan decides statically, the supervisor's route where it inspects.
uint32_t DecidedAction(const Policy& policy, const CompiledPlan& plan,
                       const SeccompRouting& routing, int nr,
                       const std::array<uint64_t, 6>& args) {
  const SyscallPlan& planned = plan.ForCall(nr, args);
  if (planned.disposition == Disposition::kInspect) {
    return RoutedAction(planned, routing, nr);
  }
  SyscallRequest request;
  request.number = nr;
  request.args = args;
  Verdict verdict = Decide(policy, request);
  switch (verdict.action.action) {
    case Action::kAllow:
      return kAllow;
    case Action::kDeny:
      return routing.notify_denials ? kNotify
                                    : Errno(verdict.action.errno_value);
    case Action::kKill:
      return Kill(routing.kills);
    default:
      return 0xffffffff;  // a static plan never logs or emulates
  }
}

// The namespace flags of clone are read from arg 0 by the filter, which
// must give every clone what Decide gives it, for the presets and for every
// combination of clone and unshare rules, on every backend's routing; and
// clone3 what the plan says (ENOSYS where namespaces are refused).
TEST(SeccompProgramTest, CloneNamespaceFlagsMeetDecide) {
  std::vector<uint64_t> flags = {
      SIGCHLD,
      CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
          CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
          CLONE_CHILD_CLEARTID,
      CLONE_UNTRACED | SIGCHLD,
      CLONE_NEWTIME | SIGCHLD,  // the exit signal's bits in clone
      kCloneNamespaceFlags,
      kCloneNamespaceFlags | CLONE_UNTRACED,
      0xffffffff00000000,
      0xffffffffffffffff,
  };
  for (uint64_t bit = 1; bit != 0; bit <<= 1) {
    if ((kCloneNamespaceFlags & bit) == 0) continue;
    flags.push_back(bit | SIGCHLD);
    flags.push_back(bit | CLONE_UNTRACED);
    flags.push_back(bit | (kCloneNamespaceFlags & ~(bit - 1)));  // higher too
    flags.push_back(bit | 0xffffffff00000000);
  }
  std::vector<Policy> policies;
  for (const std::string& preset : PresetNames()) {
    auto policy = LoadPreset(preset);
    ASSERT_TRUE(policy.has_value()) << policy.error().message();
    policies.push_back(*policy);
  }
  for (const char* clone_action :
       {"action: allow", "action: log", "action: deny, errno: EAGAIN"}) {
    for (const char* unshare_action :
         {"action: allow", "action: deny, errno: EPERM", "action: kill",
          "action: log"}) {
      auto policy = ParsePolicy(fmt::format(R"(version: 1
syscalls:
  default: allow
  rules:
    - {{id: harness, syscalls: [write], action: allow}}
    - {{id: ns, syscalls: [unshare], {}}}
    - {{id: c, syscalls: [clone, clone3], {}}}
)",
                                            unshare_action, clone_action),
                                "t.yaml", {.refuse_holes = false});
      ASSERT_TRUE(policy.has_value()) << policy.error().message();
      policies.push_back(*policy);
    }
  }
  SeccompRouting ptrace_like = PtraceRouting();
  ptrace_like.forbid_untraced_clones = true;
  SeccompRouting container;
  container.notify_always = {SYS_execve, SYS_execveat};
  container.kills = KillRoute::kNotify;
  container.notify_denials = true;
  SeccompRouting trace_all;
  trace_all.user_notif = false;
  int checked = 0;
  for (const Policy& policy : policies) {
    CompiledPlan plan =
        CompiledPlan::Compile(std::make_shared<const Policy>(policy));
    for (const SeccompRouting& routing : {ptrace_like, container, trace_all}) {
      SeccompProgram program = MustBuild(plan, routing);
      for (uint64_t flag : flags) {
        const std::array<uint64_t, 6> args = {flag, 0, 0, 0, 0, 0};
        uint32_t want = DecidedAction(policy, plan, routing, SYS_clone, args);
        const bool runs =
            want == kAllow ||
            plan.ForCall(SYS_clone, args).disposition == Disposition::kInspect;
        if (routing.forbid_untraced_clones && runs &&
            (flag & CLONE_UNTRACED) != 0) {
          want = Errno(EPERM);
        }
        uint32_t got = Evaluate(program, SYS_clone, {flag});
        EXPECT_EQ(got, want) << fmt::format("{}: clone({:#x}) got {}, want {}",
                                            policy.source.substr(0, 200), flag,
                                            ActionName(got), ActionName(want));
        ++checked;
      }
      uint32_t clone3 = Evaluate(program, SYS_clone3);
      uint32_t want3 =
          routing.forbid_untraced_clones &&
                  plan.For(SYS_clone3).disposition != Disposition::kErrno &&
                  plan.For(SYS_clone3).disposition != Disposition::kKill
              ? Errno(ENOSYS)
              : DecidedAction(policy, plan, routing, SYS_clone3, {});
      EXPECT_EQ(clone3, want3) << policy.source.substr(0, 200);
    }
  }
  EXPECT_GT(checked, 1000);
  // The shipped presets, spelled out: default refuses namespaces with
  // EPERM (rule admin) and clone3 with ENOSYS on every routing.
  auto preset = LoadPreset("default");
  ASSERT_TRUE(preset.has_value());
  CompiledPlan plan =
      CompiledPlan::Compile(std::make_shared<const Policy>(*preset));
  for (const SeccompRouting& routing : {ptrace_like, container, trace_all}) {
    SeccompProgram program = MustBuild(plan, routing);
    // Where denials are routed, the listener answers them with that errno.
    EXPECT_EQ(Evaluate(program, SYS_clone, {CLONE_NEWUSER | SIGCHLD}),
              routing.notify_denials ? kNotify : Errno(EPERM));
    EXPECT_EQ(Evaluate(program, SYS_clone, {SIGCHLD}), kAllow);
    EXPECT_EQ(Evaluate(program, SYS_clone3),
              routing.notify_denials ? kNotify : Errno(ENOSYS));
  }
}

// setsockopt's routing options (RoutingSocketOptions) get the plan's
// routing_options() from the filter, compared on the low 32 bits of level
// and option as the kernel takes them; every other setsockopt its own plan.
TEST(SeccompProgramTest, RoutingOptionsMeetThePlan) {
  std::vector<std::pair<uint64_t, uint64_t>> calls = {
      {SOL_SOCKET, SO_REUSEADDR},  {IPPROTO_IP, IP_TOS},
      {IPPROTO_IPV6, IPV6_V6ONLY}, {SOL_SOCKET, IP_OPTIONS},
      {IPPROTO_TCP, IPV6_RTHDR},   {IPPROTO_IPV6, IP_OPTIONS},
      {IPPROTO_IP, IPV6_RTHDR},
  };
  for (const RoutingSocketOption& option : RoutingSocketOptions()) {
    const auto level = static_cast<uint64_t>(option.level);
    const auto name = static_cast<uint64_t>(option.option);
    calls.emplace_back(level, name);
    calls.emplace_back(level | 0xffffffff00000000, name);
    calls.emplace_back(level, name | 0x100000000);
    calls.emplace_back(level + 1, name);
    calls.emplace_back(level, name + 1);
  }
  std::vector<std::string> policies;
  for (const char* setsockopt_rule :
       {"", "    - {id: s, syscalls: [setsockopt], action: log}\n",
        "    - {id: s, syscalls: [setsockopt], action: deny, errno: "
        "EPERM}\n"}) {
    for (const char* lists :
         {"network: {mode: loopback, connect: [\"127.0.0.1:1\"]}\n",
          "network: {mode: loopback, bind: [\"127.0.0.1:1\"]}\n",
          "network: loopback\n"}) {
      policies.push_back(fmt::format(
          "version: 1\nsyscalls:\n  default: allow\n  rules:\n"
          "    - {{id: harness, syscalls: [write], action: allow}}\n{}{}",
          setsockopt_rule, lists));
    }
  }
  SeccompRouting container;
  container.notify_always = {SYS_execve, SYS_execveat};
  container.kills = KillRoute::kNotify;
  container.notify_denials = true;
  SeccompRouting in_kernel;  // denials stay in the kernel
  int refused = 0;
  for (const std::string& text : policies) {
    auto policy = ParsePolicy(text, "t.yaml", {.refuse_holes = false});
    ASSERT_TRUE(policy.has_value()) << policy.error().message();
    CompiledPlan plan =
        CompiledPlan::Compile(std::make_shared<const Policy>(*policy));
    for (const SeccompRouting& routing :
         {PtraceRouting(), container, in_kernel}) {
      SeccompProgram program = MustBuild(plan, routing);
      for (auto [level, name] : calls) {
        const std::array<uint64_t, 6> args = {3, level, name, 0, 0, 0};
        const SyscallPlan& planned = plan.ForCall(SYS_setsockopt, args);
        refused += planned.rule_id == "network.connect" ? 1 : 0;
        EXPECT_EQ(Evaluate(program, SYS_setsockopt, {3, level, name}),
                  RoutedAction(planned, routing, SYS_setsockopt))
            << fmt::format("{}: setsockopt(3, {:#x}, {:#x})", text, level,
                           name);
      }
      // Other ABIs follow their own plan, whatever the arguments.
      EXPECT_EQ(Evaluate(program, SYS_setsockopt, {3, IPPROTO_IP, IP_OPTIONS},
                         AUDIT_ARCH_I386),
                AbiExpected(plan.i386(), routing));
    }
  }
  // Only the allowing setsockopt with a connect list refuses them, on each
  // of the three routings.
  const auto routing_calls = std::count_if(
      calls.begin(), calls.end(), [](std::pair<uint64_t, uint64_t> call) {
        return FindRoutingSocketOption(call.first, call.second) != nullptr;
      });
  // Each option plain and with upper bits twice; IPV6_2292RTHDR + 1 is
  // IPV6_2292PKTOPTIONS.
  EXPECT_EQ(routing_calls,
            3 * static_cast<int>(RoutingSocketOptions().size()) + 1);
  EXPECT_EQ(refused, 3 * routing_calls);
}

// The reference the filter must agree with: does a call with these
// arguments reach below `limit`?
bool ReachesGuard(int nr, const std::vector<uint64_t>& a, uint64_t limit) {
  switch (nr) {
    case SYS_mmap:
      return a[0] < limit && (a[3] & MAP_FIXED) != 0;
    case SYS_mremap:
      return a[0] < limit || ((a[3] & MREMAP_FIXED) != 0 && a[4] < limit);
    case SYS_shmat:
      return a[1] != 0 && a[1] < limit;
    case SYS_prctl:
      return (a[0] & 0xffffffff) == PR_SET_MM;
    case SYS_process_madvise:
      return true;
    default:
      return a[0] < limit;
  }
}

// Every combination of boundary addresses and flags meets exactly the
// action the reference gives, whether the allowed part is the default
// (libseccomp then holds only the trace rules) or a rule of its own.
TEST(SeccompProgramTest, GuardSplitsAllowedCallsOnTheirAddresses) {
  const std::vector<uint64_t> addresses = {0,
                                           1,
                                           0xfff,
                                           0x1000,
                                           kGuardBegin,
                                           0x20000,
                                           0x18f000,
                                           0x18f800,
                                           kGuardEnd - 1,
                                           kGuardEnd,
                                           kGuardEnd + 1,
                                           kGuardEnd + 0x1000,
                                           0xffffffff,
                                           0x100000000,
                                           0x100010000,  // high word set
                                           kHigh,
                                           0xffffffffffff0000,
                                           0xffffffffffffffff,
                                           uint64_t{PR_SET_MM},  // prctl
                                           0xffffffff00000000 | PR_SET_MM,
                                           uint64_t{PR_SET_MM ^ 1},
                                           uint64_t{PR_SET_MM ^ 0x80000000}};
  const std::vector<uint64_t> flags = {0,
                                       MAP_FIXED,
                                       MAP_FIXED_NOREPLACE,
                                       MAP_FIXED | MAP_FIXED_NOREPLACE,
                                       MAP_PRIVATE | MAP_ANONYMOUS,
                                       MREMAP_MAYMOVE,
                                       MREMAP_MAYMOVE | MREMAP_FIXED,
                                       MREMAP_FIXED | MREMAP_DONTUNMAP,
                                       0xffffffff00000000,
                                       0xffffffff00000012};
  const std::vector<CompiledPlan> plans = {PlanOf("allow", ""),
                                           PlanOf("kill", R"yaml(
    - id: memory
      syscalls: [munmap, mprotect, pkey_mprotect, madvise, remap_file_pages,
                 mmap, mremap, shmat, prctl, process_madvise]
      action: allow)yaml")};
  // An end inside a page guards the whole page.
  for (uint64_t guard_end : {kGuardEnd, kGuardEnd - 0xfff}) {
    for (const CompiledPlan& plan : plans) {
      SeccompRouting routing = PtraceRouting();
      routing.guard_end = guard_end;
      SeccompProgram program = MustBuild(plan, routing);
      for (int nr : GuardedSyscalls()) {
        for (uint64_t address : addresses) {
          for (uint64_t flag : flags) {
            for (uint64_t second : {uint64_t{0x20000}, kHigh}) {
              // mremap's new address (arg4) varies too; shmat's address is
              // arg1.
              std::vector<uint64_t> args = {address, address, 4096,
                                            flag,    second,  0};
              if (nr == SYS_shmat) args[0] = 7;
              uint32_t want = ReachesGuard(nr, args, kGuardEnd)
                                  ? Trace(SeccompTraceReason::kGuard)
                                  : kAllow;
              uint32_t got = Evaluate(program, nr, args);
              EXPECT_EQ(got, want)
                  << fmt::format("{} args {:#x} end {:#x}: got {}, want {}",
                                 SyscallName(nr), fmt::join(args, ", "),
                                 guard_end, ActionName(got), ActionName(want));
            }
          }
        }
      }
    }
  }
}

// forbid_kernel_userfaults: a userfaultfd object that would handle
// kernel-mode faults fails with EPERM where the plan runs the call, made by
// the syscall or by /dev/userfaultfd's ioctl (whose command the kernel
// reads as an int: high bits do not hide it); the rest keeps the plan.
TEST(SeccompProgramTest, KernelModeUserfaultsAreRefused) {
  constexpr uint64_t kUserModeOnly = 1;  // UFFD_USER_MODE_ONLY
  constexpr uint64_t kIocNew = 0xAA00;   // USERFAULTFD_IOC_NEW
  for (const char* ioctl_action : {"allow", "log", "deny"}) {
    CompiledPlan plan = PlanOf("allow", fmt::format(R"yaml(
    - {{id: tty, syscalls: [ioctl], action: {}}})yaml",
                                                    ioctl_action));
    SeccompRouting routing = PtraceRouting();
    routing.forbid_kernel_userfaults = true;
    SeccompProgram program = MustBuild(plan, routing);
    const uint32_t planned = ExpectedAction(plan, routing, SYS_ioctl);
    const bool runs = std::string_view(ioctl_action) != "deny";
    const uint32_t refused = runs ? Errno(EPERM) : planned;
    EXPECT_EQ(Evaluate(program, SYS_userfaultfd, {0}), Errno(EPERM));
    EXPECT_EQ(Evaluate(program, SYS_userfaultfd, {O_CLOEXEC}), Errno(EPERM));
    EXPECT_EQ(Evaluate(program, SYS_userfaultfd, {kUserModeOnly | O_CLOEXEC}),
              kAllow);
    for (uint64_t command : {kIocNew, uint64_t{0xffffffff00000000} | kIocNew}) {
      EXPECT_EQ(Evaluate(program, SYS_ioctl, {3, command, 0}), refused)
          << ioctl_action << fmt::format(" {:#x}", command);
      EXPECT_EQ(Evaluate(program, SYS_ioctl, {3, command, O_CLOEXEC}), refused)
          << ioctl_action;
      EXPECT_EQ(Evaluate(program, SYS_ioctl, {3, command, kUserModeOnly}),
                planned)
          << ioctl_action;
    }
    for (uint64_t command : {uint64_t{0x5401}, kIocNew ^ 1, kIocNew ^ 0x8000,
                             kIocNew | 0x10000, uint64_t{0}}) {
      EXPECT_EQ(Evaluate(program, SYS_ioctl, {3, command, 0}), planned)
          << ioctl_action << fmt::format(" {:#x}", command);
    }
  }
  // Without the routing's word, the plan alone.
  CompiledPlan plan = PlanOf("allow", "");
  SeccompProgram program = MustBuild(plan, PtraceRouting());
  EXPECT_EQ(Evaluate(program, SYS_userfaultfd, {0}), kAllow);
  EXPECT_EQ(Evaluate(program, SYS_ioctl, {3, kIocNew, 0}), kAllow);
}

// forbid_privileged_files: every call that would give a file S_ISUID or S_ISGID
// fails with EPERM where the plan runs it (open and openat only when they
// create a file); openat2, whose mode the filter cannot read, with ENOSYS;
// every other mode keeps the plan.
TEST(SeccompProgramTest, SetidModesAreRefused) {
  constexpr uint64_t kFd = 3;
  constexpr uint64_t kPath = 0x10000;
  constexpr uint64_t kHighBits = uint64_t{0xabcd} << 32;
  struct Call {
    int nr;
    std::vector<uint64_t> args;  // the mode where `mode` is
    size_t mode;
  };
  const std::vector<Call> calls = {
      {SYS_chmod, {kPath, 0}, 1},
      {SYS_fchmod, {kFd, 0}, 1},
      {SYS_fchmodat, {kFd, kPath, 0, 0}, 2},
      {452 /* fchmodat2 */, {kFd, kPath, 0, 0}, 2},
      {SYS_creat, {kPath, 0}, 1},
      {SYS_mknod, {kPath, 0, 0}, 1},
      {SYS_mknodat, {kFd, kPath, 0, 0}, 2},
      {SYS_open, {kPath, O_WRONLY | O_CREAT, 0}, 2},
      {SYS_openat, {kFd, kPath, O_WRONLY | O_CREAT | O_TRUNC, 0}, 3},
      {SYS_openat, {kFd, kPath, O_RDWR | O_TMPFILE, 0}, 3},
      {SYS_open, {kPath, O_WRONLY | O_CREAT | O_EXCL | kHighBits, 0}, 2},
  };
  for (const char* action : {"allow", "log", "deny"}) {
    CompiledPlan plan = PlanOf("allow", fmt::format(R"yaml(
    - {{id: modes, syscalls: [chmod, fchmod, fchmodat, fchmodat2, creat,
                             mknod, mknodat, open, openat, openat2],
       action: {}}})yaml",
                                                    action));
    for (SeccompRouting routing : {PtraceRouting(), SeccompRouting{}}) {
      routing.forbid_privileged_files = true;
      SeccompProgram program = MustBuild(plan, routing);
      const bool runs = std::string_view(action) != "deny";
      for (const Call& call : calls) {
        const uint32_t planned = ExpectedAction(plan, routing, call.nr);
        const uint32_t refused = runs ? Errno(EPERM) : planned;
        for (uint64_t mode : {uint64_t{04755}, uint64_t{02755}, uint64_t{06000},
                              uint64_t{S_IFREG | 04700}, kHighBits | 02000}) {
          std::vector<uint64_t> args = call.args;
          args[call.mode] = mode;
          EXPECT_EQ(Evaluate(program, call.nr, args), refused)
              << action << " " << SyscallName(call.nr)
              << fmt::format(" {:#o}", mode);
        }
        for (uint64_t mode :
             {uint64_t{0755}, uint64_t{01777}, uint64_t{0}, kHighBits | 0644}) {
          std::vector<uint64_t> args = call.args;
          args[call.mode] = mode;
          EXPECT_EQ(Evaluate(program, call.nr, args), planned)
              << action << " " << SyscallName(call.nr)
              << fmt::format(" {:#o}", mode);
        }
      }
      // open and openat that create nothing ignore their mode argument.
      EXPECT_EQ(Evaluate(program, SYS_open, {kPath, O_RDONLY, 04755}),
                ExpectedAction(plan, routing, SYS_open));
      EXPECT_EQ(Evaluate(program, SYS_openat,
                         {kFd, kPath, O_WRONLY | O_TRUNC | O_DIRECTORY, 06777}),
                ExpectedAction(plan, routing, SYS_openat));
      EXPECT_EQ(
          Evaluate(program, SYS_openat2, {kFd, kPath, 0, 24}),
          runs ? Errno(ENOSYS) : ExpectedAction(plan, routing, SYS_openat2));
    }
  }
  // Around the mode: extended attributes (ACLs, file capabilities), new
  // user namespaces, and the calls whose arguments the filter cannot read.
  for (const char* action : {"allow", "log", "deny"}) {
    const bool runs = std::string_view(action) != "deny";
    CompiledPlan plan = PlanOf(runs ? "allow" : "deny", fmt::format(R"yaml(
    - {{id: around, syscalls: [setxattr, lsetxattr, fsetxattr, unshare,
                              clone, clone3, io_uring_setup], action: {}}})yaml",
                                                                    action));
    for (SeccompRouting routing : {PtraceRouting(), SeccompRouting{}}) {
      routing.forbid_privileged_files = true;
      SeccompProgram program = MustBuild(plan, routing);
      for (int nr :
           {SYS_setxattr, SYS_lsetxattr, SYS_fsetxattr, 463 /* setxattrat */}) {
        const uint32_t planned = nr == 463
                                     ? RoutedAction(plan.unknown(), routing, -1)
                                     : ExpectedAction(plan, routing, nr);
        EXPECT_EQ(Evaluate(program, nr, {kPath, kPath, kPath, 28, 0}),
                  runs ? Errno(EOPNOTSUPP) : planned)
            << action << " " << nr;
      }
      for (int nr : {SYS_clone3, SYS_io_uring_setup}) {
        EXPECT_EQ(Evaluate(program, nr, {kPath, 88}),
                  runs ? Errno(ENOSYS) : ExpectedAction(plan, routing, nr))
            << action << " " << SyscallName(nr);
      }
      const uint32_t unshare = ExpectedAction(plan, routing, SYS_unshare);
      EXPECT_EQ(Evaluate(program, SYS_unshare, {CLONE_NEWUSER}),
                runs ? Errno(EPERM) : unshare);
      EXPECT_EQ(Evaluate(program, SYS_unshare, {CLONE_NEWUSER | CLONE_NEWNS}),
                runs ? Errno(EPERM) : unshare);
      EXPECT_EQ(Evaluate(program, SYS_unshare, {CLONE_NEWNS}), unshare);
      const uint32_t clone = ExpectedAction(plan, routing, SYS_clone);
      for (uint64_t flags :
           {uint64_t{CLONE_NEWUSER | SIGCHLD},
            uint64_t{CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID},
            uint64_t{CLONE_NEWUSER | CLONE_UNTRACED}}) {
        EXPECT_EQ(Evaluate(program, SYS_clone, {flags}),
                  runs ? Errno(EPERM) : clone)
            << action << fmt::format(" {:#x}", flags);
      }
      EXPECT_EQ(Evaluate(program, SYS_clone, {SIGCHLD}), clone) << action;
      EXPECT_EQ(Evaluate(program, SYS_clone, {CLONE_NEWNS | SIGCHLD}), clone)
          << action;
    }
  }
  // Without the routing's word, the plan alone.
  CompiledPlan plan = PlanOf("allow", "");
  SeccompProgram program = MustBuild(plan, PtraceRouting());
  EXPECT_EQ(Evaluate(program, SYS_chmod, {kPath, 04755}), kAllow);
  EXPECT_EQ(Evaluate(program, SYS_openat2, {kFd, kPath, 0, 24}), kAllow);
}

TEST(SeccompProgramTest, GuardKeepsNonAllowingPlans) {
  CompiledPlan plan = PlanOf("allow", R"yaml(
    - {id: watched, syscalls: [mprotect], action: log}
    - {id: no-unmap, syscalls: [munmap], action: deny, errno: EPERM}
    - {id: no-mmap, syscalls: [mmap], action: kill})yaml");
  SeccompProgram program = MustBuild(plan, PtraceRouting());
  // Inspected: the whole syscall goes to the tracer, above the guard too.
  EXPECT_EQ(Evaluate(program, SYS_mprotect, {kHigh, 4096, PROT_READ}),
            Trace(SeccompTraceReason::kInspect));
  EXPECT_EQ(Evaluate(program, SYS_mprotect, {kGuardBegin, 4096, PROT_READ}),
            Trace(SeccompTraceReason::kInspect));
  // Denied (answered by the listener) or killed: the call never runs, so
  // the plan stands.
  EXPECT_EQ(Evaluate(program, SYS_munmap, {kGuardBegin, 4096}), kNotify);
  EXPECT_EQ(Evaluate(program, SYS_mmap, {0x20000, 4096, 0, MAP_FIXED}),
            Kill(true));
  EXPECT_EQ(
      Evaluate(program, SYS_mmap,
               {0, 4096, PROT_READ, uint64_t{MAP_PRIVATE | MAP_ANONYMOUS}}),
      Kill(true));
  EXPECT_EQ(Evaluate(program, SYS_mmap,
                     {kGuardBegin, 4096, PROT_READ,
                      uint64_t{MAP_PRIVATE | MAP_ANONYMOUS}}),
            Kill(true));
  // Except the mmap the tracer maps the region with, injected at a trace
  // stop and filtered again: it must reach the tracer.
  EXPECT_EQ(
      Evaluate(program, SYS_mmap,
               {kGuardBegin, kGuardEnd - kGuardBegin, PROT_READ,
                uint64_t{MAP_PRIVATE | MAP_ANONYMOUS} | MAP_FIXED_NOREPLACE}),
      Trace(SeccompTraceReason::kGuard));
  // Without a guard nothing is split.
  SeccompRouting no_guard = PtraceRouting();
  no_guard.guard_begin = no_guard.guard_end = 0;
  SeccompProgram unguarded = MustBuild(plan, no_guard);
  EXPECT_EQ(Evaluate(unguarded, SYS_mprotect, {kGuardBegin, 4096}), kNotify);
  EXPECT_EQ(Evaluate(unguarded, SYS_madvise, {kGuardBegin, 4096}), kAllow);
}

TEST(SeccompProgramTest, NonNativeAbisFollowTheirOwnPlans) {
  struct Case {
    const char* abi;
    uint32_t i386_trap, x32_trap;  // with KillRoute::kTrap
    uint32_t i386_kill, x32_kill;  // without
  };
  const Case cases[] = {
      {"{i386: {action: deny, errno: EPERM}, x32: {action: deny, errno: "
       "EACCES}}",
       Errno(EPERM), Errno(EACCES), Errno(EPERM), Errno(EACCES)},
      {"{i386: kill, x32: {action: deny, errno: EACCES}}", Kill(true),
       Errno(EACCES), Kill(false), Errno(EACCES)},
      {"{i386: {action: deny, errno: EPERM}, x32: kill}", Errno(EPERM),
       Kill(true), Errno(EPERM), Kill(false)},
      {"{i386: kill, x32: kill}", Kill(true), Kill(true), Kill(false),
       Kill(false)},
  };
  for (const Case& c : cases) {
    CompiledPlan plan = PlanOf("allow", "", c.abi);
    for (bool trap : {true, false}) {
      SeccompRouting routing;
      routing.kills = trap ? KillRoute::kTrap : KillRoute::kKillProcess;
      SeccompProgram program = MustBuild(plan, routing);
      uint32_t want_i386 = trap ? c.i386_trap : c.i386_kill;
      uint32_t want_x32 = trap ? c.x32_trap : c.x32_kill;
      EXPECT_EQ(Evaluate(program, 20, {}, AUDIT_ARCH_I386), want_i386) << c.abi;
      EXPECT_EQ(Evaluate(program, SYS_getpid, {}, AUDIT_ARCH_I386), want_i386)
          << c.abi;
      EXPECT_EQ(Evaluate(program, kX32Bit | SYS_getpid), want_x32) << c.abi;
      EXPECT_EQ(Evaluate(program, kX32Bit | 512), want_x32) << c.abi;
      EXPECT_EQ(Evaluate(program, static_cast<int>(0x80000000)), want_x32)
          << c.abi;
      // Native calls are not affected.
      EXPECT_EQ(Evaluate(program, SYS_getpid), kAllow) << c.abi;
      EXPECT_EQ(Evaluate(program, -1), kAllow) << c.abi;
      // An architecture the kernel never reports on x86-64 gets the bad-arch
      // action, which is the i386 one.
      EXPECT_EQ(Evaluate(program, SYS_getpid, {}, AUDIT_ARCH_AARCH64),
                want_i386)
          << c.abi;
    }
  }
}

// With notify_denials every errno the plan decides goes to the listener
// (per syscall, the default, non-native ABIs), so that it is recorded; the
// errnos of the routing's own machinery stay in the kernel, and an errno
// that is no errno is still refused.
TEST(SeccompProgramTest, RoutedDenialsGoToTheListener) {
  CompiledPlan plan = PlanOf(
      "{action: deny, errno: ENOSYS}",
      "    - {id: ids, syscalls: [getpid, clone], action: allow}\n"
      "    - {id: no-uid, syscalls: [getuid], action: deny, errno: EPERM}\n"
      "    - {id: no-reboot, syscalls: [reboot], action: kill}",
      "{i386: {action: deny, errno: EPERM}, x32: kill}");
  SeccompRouting routing;
  routing.notify_denials = true;
  routing.kills = KillRoute::kTrap;
  routing.forbid_untraced_clones = true;
  SeccompProgram program = MustBuild(plan, routing);
  EXPECT_EQ(Evaluate(program, SYS_getuid), kNotify);
  EXPECT_EQ(Evaluate(program, SYS_getppid), kNotify);  // the default
  EXPECT_EQ(Evaluate(program, 1000), kNotify);         // no name: default
  EXPECT_EQ(Evaluate(program, 20, {}, AUDIT_ARCH_I386), kNotify);
  EXPECT_EQ(Evaluate(program, kX32Bit | SYS_getpid), Kill(true));
  EXPECT_EQ(Evaluate(program, SYS_reboot), Kill(true));
  EXPECT_EQ(Evaluate(program, SYS_getpid), kAllow);
  EXPECT_EQ(Evaluate(program, SYS_clone, {SIGCHLD}), kAllow);
  EXPECT_EQ(Evaluate(program, SYS_clone, {SIGCHLD | CLONE_UNTRACED}),
            Errno(EPERM));
  // clone3 gets the default (denied), routed like any denial.
  EXPECT_EQ(Evaluate(program, SYS_clone3), kNotify);
  // Without the route, the same plan stays in the kernel.
  routing.notify_denials = false;
  SeccompProgram in_kernel = MustBuild(plan, routing);
  EXPECT_EQ(Evaluate(in_kernel, SYS_getuid), Errno(EPERM));
  EXPECT_EQ(Evaluate(in_kernel, SYS_getppid), Errno(ENOSYS));
  EXPECT_EQ(Evaluate(in_kernel, 20, {}, AUDIT_ARCH_I386), Errno(EPERM));
}

TEST(SeccompProgramTest, RejectsBadRouting) {
  CompiledPlan plan = PlanOf("allow", "");
  SeccompRouting bad_number;
  bad_number.trace_always = {-1};
  auto built = BuildSeccompProgram(plan, bad_number);
  ASSERT_FALSE(built.has_value());
  EXPECT_EQ(built.error().code(), ErrorCode::kInvalidArgument);
  SeccompRouting bad_notify;
  bad_notify.notify_always = {kMaxSyscallNumber + 1};
  built = BuildSeccompProgram(plan, bad_notify);
  ASSERT_FALSE(built.has_value());
  EXPECT_THAT(built.error().message(), ::testing::HasSubstr("notify_always"));
  SeccompRouting both;
  both.trace_always = {SYS_execve};
  both.notify_always = {SYS_execve};
  built = BuildSeccompProgram(plan, both);
  ASSERT_FALSE(built.has_value());
  EXPECT_THAT(built.error().message(), ::testing::HasSubstr("both"));
  SeccompRouting bad_guard;
  bad_guard.guard_begin = 0x20000;
  bad_guard.guard_end = 0x10000;
  built = BuildSeccompProgram(plan, bad_guard);
  ASSERT_FALSE(built.has_value());
  EXPECT_EQ(built.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(built.error().message(), ::testing::HasSubstr("guard range"));
}

TEST(SeccompProgramTest, CopiesAndMovesPointAtTheirOwnInstructions) {
  SeccompProgram program = MustBuild(PlanOf("allow", ""), SeccompRouting{});
  ASSERT_GT(program.instructions().size(), 6u);
  EXPECT_EQ(program.fprog()->filter, program.instructions().data());
  EXPECT_EQ(program.fprog()->len, program.instructions().size());
  SeccompProgram copy = program;
  EXPECT_EQ(copy.fprog()->filter, copy.instructions().data());
  EXPECT_NE(copy.fprog()->filter, program.fprog()->filter);
  SeccompProgram moved = std::move(copy);
  EXPECT_EQ(moved.fprog()->filter, moved.instructions().data());
  EXPECT_EQ(moved.fprog()->len, program.instructions().size());
}

// ---- The program, installed in a forked child ---------------------------

TEST(SeccompProgramChildTest, StaticallyAllowedSyscallsRun) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan =
      PlanOf("kill", "    - {id: pid, syscalls: [getpid], action: allow}");
  SeccompProgram program = MustBuild(plan, SeccompRouting{});
  ChildRun run =
      RunInChild(program, [] { Record(Raw(::syscall(SYS_getpid))); });
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.values, ElementsAre(run.pid)) << run.Describe();
  EXPECT_TRUE(run.notifications.empty());
}

// A tracer must see every task: no untraced clone, no clone3 (whose flags
// the filter cannot read); an ordinary clone still runs.
TEST(SeccompProgramChildTest, UntracedClonesAreRefused) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  SeccompRouting routing;
  routing.forbid_untraced_clones = true;
  for (const char* default_action : {"allow", "log"}) {
    SCOPED_TRACE(default_action);
    SeccompProgram program = MustBuild(PlanOf(default_action, ""), routing);
    ChildRun run = RunInChild(program, [] {
      Record(Raw(::syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0)));
      clone_args args{};
      args.exit_signal = SIGCHLD;
      Record(Raw(::syscall(SYS_clone3, &args, sizeof args)));
    });
    EXPECT_THAT(run.values, ElementsAre(-EPERM, -ENOSYS)) << run.Describe();
  }
  // Not refused where the plan already decides clone otherwise.
  SeccompProgram denied =
      MustBuild(PlanOf("allow",
                       "    - {id: c, syscalls: [clone, clone3], action: "
                       "deny, errno: EACCES}"),
                routing);
  ChildRun run = RunInChild(denied, [] {
    Record(Raw(::syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0)));
    clone_args args{};
    Record(Raw(::syscall(SYS_clone3, &args, sizeof args)));
  });
  EXPECT_THAT(run.values, ElementsAre(-EACCES, -EACCES)) << run.Describe();
}

// Whether this host lets a (root or unprivileged) process create a user
// namespace with clone; without it the kernel's own refusal would pass for
// the filter's.
bool HostClonesUserNamespaces() {
  pid_t pid = ::fork();
  if (pid == 0) {
    int64_t child = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) ::_exit(0);
    ::_exit(child > 0 &&
                    ::waitpid(static_cast<pid_t>(child), nullptr, 0) == child
                ? 0
                : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// In the child: clone with `flags` (a created child exits at once and is
// reaped), then clone3 with `clone3_flags`; records both results.
void CloneAndClone3(uint64_t flags, uint64_t clone3_flags) {
  int64_t child = ::syscall(SYS_clone, flags, 0, 0, 0, 0);
  if (child == 0) ::_exit(0);
  if (child > 0) ::waitpid(static_cast<pid_t>(child), nullptr, 0);
  Record(child > 0 ? 1 : Raw(child));
  clone_args args{};
  args.flags = clone3_flags;
  args.exit_signal = SIGCHLD;
  int64_t child3 = ::syscall(SYS_clone3, &args, sizeof args);
  if (child3 == 0) ::_exit(0);
  if (child3 > 0) ::waitpid(static_cast<pid_t>(child3), nullptr, 0);
  Record(child3 > 0 ? 1 : Raw(child3));
}

// The default preset's filter, installed in a real child on the container's
// and on the ptrace backend's routing: clone(CLONE_NEWUSER) fails with
// EPERM (rule admin), clone3 with ENOSYS, and a plain fork still works.
TEST(SeccompProgramChildTest, DefaultPresetRefusesNamespacesFromClone) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  if (!HostClonesUserNamespaces()) {
    GTEST_SKIP() << "this host refuses clone(CLONE_NEWUSER) itself (user "
                    "namespaces disabled), so the filter cannot be told apart";
  }
  auto preset = LoadPreset("default");
  ASSERT_TRUE(preset.has_value());
  CompiledPlan plan =
      CompiledPlan::Compile(std::make_shared<const Policy>(*preset));
  SeccompRouting container;
  container.notify_always = {SYS_execve, SYS_execveat};
  container.kills = KillRoute::kNotify;
  SeccompRouting ptrace_like;
  ptrace_like.trace_paths = true;
  ptrace_like.kills = KillRoute::kTrap;
  ptrace_like.forbid_untraced_clones = true;
  for (const SeccompRouting& routing : {container, ptrace_like}) {
    SeccompProgram program = MustBuild(plan, routing);
    ChildRun refused = RunInChild(program, [] {
      CloneAndClone3(CLONE_NEWUSER | SIGCHLD, CLONE_NEWUSER);
    });
    EXPECT_EQ(refused.exit_code, 0) << refused.Describe();
    EXPECT_THAT(refused.values, ElementsAre(-EPERM, -ENOSYS))
        << refused.Describe();
    // Every namespace flag, each on its own.
    for (uint64_t flag : {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS,
                          CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET}) {
      ChildRun run = RunInChild(program, [flag] {
        int64_t child = ::syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
        if (child == 0) ::_exit(0);
        Record(Raw(child));
      });
      EXPECT_THAT(run.values, ElementsAre(-EPERM))
          << std::hex << flag << " " << run.Describe();
    }
    ChildRun plain = RunInChild(program, [] { CloneAndClone3(SIGCHLD, 0); });
    EXPECT_EQ(plain.exit_code, 0) << plain.Describe();
    EXPECT_THAT(plain.values, ElementsAre(1, -ENOSYS)) << plain.Describe();
  }
}

// Where unshare is killed, a clone creating a namespace kills the process;
// an ordinary clone runs.
TEST(SeccompProgramChildTest, KilledUnshareKillsCloneWithNamespaceFlags) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan =
      PlanOf("allow", "    - {id: no-ns, syscalls: [unshare], action: kill}");
  SeccompRouting routing;
  routing.kills = KillRoute::kKillProcess;
  SeccompProgram program = MustBuild(plan, routing);
  ChildRun killed = RunInChild(program, [] {
    Record(1);
    int64_t child = ::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) ::_exit(0);
    Record(2);
  });
  EXPECT_THAT(killed.term_signal, Optional(SIGSYS)) << killed.Describe();
  EXPECT_THAT(killed.values, ElementsAre(1)) << killed.Describe();
  ChildRun plain = RunInChild(program, [] {
    int64_t child = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (child == 0) ::_exit(0);
    if (child > 0) ::waitpid(static_cast<pid_t>(child), nullptr, 0);
    Record(child > 0 ? 1 : Raw(child));
  });
  EXPECT_EQ(plain.exit_code, 0) << plain.Describe();
  EXPECT_THAT(plain.values, ElementsAre(1)) << plain.Describe();
}

TEST(SeccompProgramChildTest, ErrnoDispositionsReturnTheirErrno) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan = PlanOf(
      "{action: deny, errno: EDOM}",
      "    - {id: uid, syscalls: [getuid], action: deny, errno: EACCES}");
  SeccompProgram program = MustBuild(plan, SeccompRouting{});
  ChildRun run = RunInChild(program, [] {
    Record(Raw(::syscall(SYS_getuid)));
    Record(Raw(::syscall(SYS_getppid)));  // no rule: the default
    Record(Raw(::syscall(1000)));         // no name: the default
  });
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.values, ElementsAre(-EACCES, -EDOM, -EDOM)) << run.Describe();
}

TEST(SeccompProgramChildTest, KillWithoutTrapKillsTheProcessUncatchably) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan =
      PlanOf("allow", "    - {id: uid, syscalls: [getuid], action: kill}");
  SeccompRouting routing;
  routing.kills = KillRoute::kKillProcess;
  SeccompProgram program = MustBuild(plan, routing);
  ChildOptions options;
  options.catch_sigsys = true;  // KILL_PROCESS never reaches a handler
  ChildRun run = RunInChild(
      program,
      [] {
        Record(1);
        ::syscall(SYS_getuid);
        Record(2);
      },
      options);
  EXPECT_THAT(run.term_signal, Optional(SIGSYS)) << run.Describe();
  EXPECT_THAT(run.values, ElementsAre(1)) << run.Describe();
}

TEST(SeccompProgramChildTest, KillWithTrapRaisesSigsysNamingTheSyscall) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan =
      PlanOf("kill", "    - {id: uid, syscalls: [getuid], action: kill}");
  SeccompRouting routing;
  routing.kills = KillRoute::kTrap;
  SeccompProgram program = MustBuild(plan, routing);
  auto body = [] {
    Record(1);
    ::syscall(SYS_getuid);
    Record(2);
  };
  // No handler (and no tracer): SIGSYS's default action kills.
  ChildRun killed = RunInChild(program, body);
  EXPECT_THAT(killed.term_signal, Optional(SIGSYS)) << killed.Describe();
  EXPECT_THAT(killed.values, ElementsAre(1)) << killed.Describe();
  // A handler shows it was a trap, with the syscall and ABI.
  ChildOptions options;
  options.catch_sigsys = true;
  ChildRun trapped = RunInChild(program, body, options);
  EXPECT_EQ(trapped.exit_code, kTrappedExit) << trapped.Describe();
  EXPECT_THAT(trapped.values,
              ElementsAre(1, kTrapMarker, SYS_getuid, AUDIT_ARCH_X86_64))
      << trapped.Describe();
  // The default (kill) traps unnamed numbers the same way.
  ChildRun unknown = RunInChild(
      program, [] { ::syscall(1000); }, options);
  EXPECT_EQ(unknown.exit_code, kTrappedExit) << unknown.Describe();
  EXPECT_THAT(unknown.values, ElementsAre(kTrapMarker, 1000, AUDIT_ARCH_X86_64))
      << unknown.Describe();
}

// x32 calls are decided by the filter (x86-64 arch, the x32 bit in the
// number) before the kernel looks at them, so this runs on every host,
// whether or not it has the x32 or i386 ABI.
TEST(SeccompProgramChildTest, X32FollowsItsOwnPlan) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  {
    CompiledPlan plan = PlanOf("allow", "",
                               "{i386: {action: deny, errno: EPERM}, x32: "
                               "{action: deny, errno: EACCES}}");
    ChildRun run = RunInChild(MustBuild(plan, SeccompRouting{}), [] {
      Record(Raw(::syscall(kX32Bit | SYS_getpid)));
      Record(Raw(::syscall(SYS_getpid)));
    });
    EXPECT_EQ(run.exit_code, 0) << run.Describe();
    EXPECT_THAT(run.values, ElementsAre(-EACCES, run.pid)) << run.Describe();
  }
  {
    // x32 killed outright; the native call before it went through.
    CompiledPlan plan =
        PlanOf("allow", "", "{i386: {action: deny, errno: EPERM}, x32: kill}");
    ChildRun run = RunInChild(MustBuild(plan, SeccompRouting{}), [] {
      Record(Raw(::syscall(SYS_getpid)));
      Record(Raw(::syscall(kX32Bit | SYS_getpid)));
    });
    EXPECT_THAT(run.term_signal, Optional(SIGSYS)) << run.Describe();
    EXPECT_THAT(run.values, ElementsAre(run.pid)) << run.Describe();
  }
}

TEST(SeccompProgramChildTest, I386FollowsItsOwnPlan) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  if (!HostHasI386Abi()) {
    GTEST_SKIP() << "this host lacks the i386 syscall ABI (int 0x80: "
                    "CONFIG_IA32_EMULATION off or ia32_emulation=0)";
  }
  {
    CompiledPlan plan = PlanOf("allow", "",
                               "{i386: {action: deny, errno: EPERM}, x32: "
                               "{action: deny, errno: EACCES}}");
    ChildRun run = RunInChild(MustBuild(plan, SeccompRouting{}), [] {
      Record(I386Syscall0(kI386Getpid));
      Record(Raw(::syscall(SYS_getpid)));
    });
    EXPECT_EQ(run.exit_code, 0) << run.Describe();
    EXPECT_THAT(run.values, ElementsAre(-EPERM, run.pid)) << run.Describe();
  }
  {
    // i386 killed (trapped), x32 denied: x32 first so both show.
    CompiledPlan plan =
        PlanOf("allow", "", "{i386: kill, x32: {action: deny, errno: EACCES}}");
    SeccompRouting routing;
    routing.kills = KillRoute::kTrap;
    ChildOptions options;
    options.catch_sigsys = true;
    ChildRun run = RunInChild(
        MustBuild(plan, routing),
        [] {
          Record(Raw(::syscall(kX32Bit | SYS_getpid)));
          Record(I386Syscall0(kI386Getpid));
        },
        options);
    EXPECT_EQ(run.exit_code, kTrappedExit) << run.Describe();
    EXPECT_THAT(run.values,
                ElementsAre(-EACCES, kTrapMarker, kI386Getpid, AUDIT_ARCH_I386))
        << run.Describe();
  }
}

// SECCOMP_RET_TRACE without a tracer fails the call with ENOSYS; user
// notifications are answered with kNotifiedErrno by the harness: so each
// value below tells where the call went.
SeccompProgram GuardProgram(const CompiledPlan& plan) {
  SeccompRouting routing;
  routing.trace_paths = true;
  routing.guard_begin = kGuardBegin;
  routing.guard_end = kGuardEnd;
  return MustBuild(plan, routing);
}

int64_t Mmap(uint64_t address, uint64_t length, int prot, int flags) {
  return ::syscall(SYS_mmap, address, length, prot, flags, -1, 0);
}
constexpr int kAnon = MAP_PRIVATE | MAP_ANONYMOUS;

TEST(SeccompProgramChildTest, GuardSendsMunmapAndMmapFixedBelowItsEnd) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  ChildRun run = RunInChild(GuardProgram(PlanOf("allow", "")), [] {
    Record(Raw(::syscall(SYS_munmap, kGuardBegin, 4096)));
    int64_t high = Mmap(0, 8192, PROT_READ | PROT_WRITE, kAnon);  // no hint
    Record(high > static_cast<int64_t>(kGuardEnd));
    Record(Raw(::syscall(SYS_munmap, high + 4096, 4096)));
    Record(Raw(Mmap(0x20000, 4096, PROT_READ, kAnon | MAP_FIXED)));
    // NOREPLACE alone cannot replace anything: allowed (maps the page).
    Record(Raw(Mmap(0x20000, 4096, PROT_READ, kAnon | MAP_FIXED_NOREPLACE)));
    // MAP_FIXED above the guard: allowed.
    Record(Raw(Mmap(high, 4096, PROT_READ, kAnon | MAP_FIXED)) == high);
    Record(Raw(::syscall(SYS_munmap, 0x20000, 4096)));
  });
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.values,
              ElementsAre(-ENOSYS, 1, 0, -ENOSYS, 0x20000, 1, -ENOSYS))
      << run.Describe();
  EXPECT_TRUE(run.notifications.empty()) << run.Describe();
}

TEST(SeccompProgramChildTest, GuardSendsProtectionAndAdviceBelowItsEnd) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  ChildRun run = RunInChild(GuardProgram(PlanOf("allow", "")), [] {
    int64_t high = Mmap(0, 4096, PROT_READ | PROT_WRITE, kAnon);
    Record(Raw(::syscall(SYS_mprotect, kGuardBegin, 4096, PROT_READ)));
    Record(Raw(::syscall(SYS_mprotect, high, 4096, PROT_READ)));
    Record(Raw(::syscall(SYS_pkey_mprotect, kGuardBegin, 4096, PROT_READ, -1)));
    Record(Raw(::syscall(SYS_pkey_mprotect, high, 4096, PROT_READ, -1)));
    Record(Raw(::syscall(SYS_madvise, kGuardBegin, 4096, MADV_DONTNEED)));
    Record(Raw(::syscall(SYS_madvise, high, 4096, MADV_DONTNEED)));
    Record(Raw(::syscall(SYS_remap_file_pages, kGuardBegin, 4096, 0, 0, 0)));
    // Allowed; fails on its own (not a shared file mapping).
    Record(Raw(::syscall(SYS_remap_file_pages, high, 4096, 0, 0, 0)));
  });
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.values, ElementsAre(-ENOSYS, 0, -ENOSYS, 0, -ENOSYS, 0,
                                      -ENOSYS, ::testing::Ne(-ENOSYS)))
      << run.Describe();
}

TEST(SeccompProgramChildTest, GuardSendsMremapAndShmatBelowItsEnd) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  ChildRun run = RunInChild(GuardProgram(PlanOf("allow", "")), [] {
    int64_t a = Mmap(0, 4096, PROT_READ, kAnon);
    int64_t b = Mmap(0, 4096, PROT_READ, kAnon);
    Record(Raw(::syscall(SYS_mremap, kGuardBegin, 4096, 4096, 0, 0)));
    Record(Raw(::syscall(SYS_mremap, a, 4096, 4096,
                         MREMAP_MAYMOVE | MREMAP_FIXED, 0x30000)));
    Record(Raw(::syscall(SYS_mremap, a, 4096, 4096,
                         MREMAP_MAYMOVE | MREMAP_FIXED, b)) == b);
    Record(Raw(::syscall(SYS_mremap, b, 4096, 8192, MREMAP_MAYMOVE, 0)) >
           static_cast<int64_t>(kGuardEnd));
    // shmid -1: an allowed shmat fails on its own with EINVAL.
    Record(Raw(::syscall(SYS_shmat, -1, 0x20000, 0)));
    Record(Raw(::syscall(SYS_shmat, -1, 0, 0)));
    Record(Raw(::syscall(SYS_shmat, -1, kHigh, 0)));
  });
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.values,
              ElementsAre(-ENOSYS, -ENOSYS, 1, 1, -ENOSYS, -EINVAL, -EINVAL))
      << run.Describe();
}

TEST(SeccompProgramChildTest, InspectedGuardedSyscallGoesWhollyToTheTracer) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan =
      PlanOf("allow", "    - {id: watched, syscalls: [mprotect], action: log}");
  ChildRun run = RunInChild(GuardProgram(plan), [] {
    int64_t high = Mmap(0, 4096, PROT_READ, kAnon);
    Record(Raw(::syscall(SYS_mprotect, high, 4096, PROT_READ)));
  });
  EXPECT_THAT(run.values, ElementsAre(-ENOSYS)) << run.Describe();
  EXPECT_TRUE(run.notifications.empty()) << run.Describe();
}

TEST(SeccompProgramChildTest, InspectedCallsGoToTracerOrListener) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan = PlanOf("allow", R"yaml(
    - id: files
      syscalls: [openat]
      paths: {read: ["/**"]}
      action: allow
    - {id: watched, syscalls: [getppid], action: log})yaml");
  auto body = [] {
    Record(Raw(::syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_CLOEXEC)));
    Record(Raw(::syscall(SYS_getppid)));
  };
  SeccompRouting routing;
  routing.trace_paths = true;
  routing.user_notif = true;
  ChildRun ptrace_like = RunInChild(MustBuild(plan, routing), body);
  EXPECT_THAT(ptrace_like.values, ElementsAre(-ENOSYS, -kNotifiedErrno))
      << ptrace_like.Describe();
  ASSERT_EQ(ptrace_like.notifications.size(), 1u);
  EXPECT_EQ(ptrace_like.notifications[0].nr, SYS_getppid);

  routing.trace_paths = false;
  ChildRun all_notified = RunInChild(MustBuild(plan, routing), body);
  EXPECT_THAT(all_notified.values,
              ElementsAre(-kNotifiedErrno, -kNotifiedErrno))
      << all_notified.Describe();

  routing.user_notif = false;
  ChildRun all_traced = RunInChild(MustBuild(plan, routing), body);
  EXPECT_THAT(all_traced.values, ElementsAre(-ENOSYS, -ENOSYS))
      << all_traced.Describe();
  EXPECT_TRUE(all_traced.notifications.empty());
}

TEST(SeccompProgramChildTest, InspectedDefaultGoesToTheListener) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  CompiledPlan plan = PlanOf("log", "");
  auto body = [] { Record(Raw(::syscall(1000))); };
  ChildRun notified = RunInChild(MustBuild(plan, SeccompRouting{}), body);
  EXPECT_THAT(notified.values, ElementsAre(-kNotifiedErrno))
      << notified.Describe();
  ASSERT_EQ(notified.notifications.size(), 1u);
  EXPECT_EQ(notified.notifications[0].nr, 1000);
  SeccompRouting trace;
  trace.user_notif = false;
  ChildRun traced = RunInChild(MustBuild(plan, trace), body);
  EXPECT_THAT(traced.values, ElementsAre(-ENOSYS)) << traced.Describe();
}

TEST(SeccompProgramChildTest, TraceAlwaysOverridesThePlan) {
  ISOSCOPE_SKIP_WITHOUT_SECCOMP();
  auto body = [] {
    static char path[] = "/nonexistent-isoscope-seccomp-test";
    static char* argv[] = {path, nullptr};
    static char* envp[] = {nullptr};
    Record(Raw(::syscall(SYS_execve, path, argv, envp)));
    Record(Raw(::syscall(SYS_execveat, AT_FDCWD, path, argv, envp, 0)));
  };
  SeccompRouting routing;
  routing.trace_always = {SYS_execve, SYS_execveat};
  routing.kills = KillRoute::kKillProcess;
  for (const char* rule :
       {"    - {id: exec, syscalls: [execve, execveat], action: kill}",
        "    - {id: exec, syscalls: [execve, execveat], action: deny, "
        "errno: EACCES}",
        "    - {id: exec, syscalls: [execve, execveat], action: log}"}) {
    ChildRun run = RunInChild(MustBuild(PlanOf("allow", rule), routing), body);
    EXPECT_EQ(run.exit_code, 0) << rule << ": " << run.Describe();
    EXPECT_THAT(run.values, ElementsAre(-ENOSYS, -ENOSYS))
        << rule << ": " << run.Describe();
  }
  // Statically allowed too: the tracer must see isoscope's own exec.
  ChildRun allowed =
      RunInChild(MustBuild(PlanOf("allow",
                                  "    - {id: exec, syscalls: [execve, "
                                  "execveat], action: allow}"),
                           routing),
                 body);
  EXPECT_THAT(allowed.values, ElementsAre(-ENOSYS, -ENOSYS))
      << allowed.Describe();
}

}  // namespace
}  // namespace isoscope
