#include "policies/plan.h"

#include <sched.h>
#include <sys/syscall.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "policies/decide.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "policies/test_support.h"

namespace isoscope {
namespace {

using testing::MustLoadPreset;
using testing::MustParse;

CompiledPlan PlanOf(const Policy& policy) {
  return CompiledPlan::Compile(std::make_shared<const Policy>(policy));
}

// For a backend that does not apply the policy: nothing per syscall, every
// question answered by syscalls.default, the policy itself still there.
TEST(PlanTest, AnUncompiledPlanAnswersTheDefaultForEveryCall) {
  auto policy = std::make_shared<const Policy>(MustParse(R"yaml(
version: 1
syscalls:
  default: {action: deny, errno: ENOSYS}
  rules:
    - {id: io, syscalls: [read, write], action: allow}
)yaml"));
  const CompiledPlan plan = CompiledPlan::Uncompiled(policy);
  const SyscallPlan kDefault{Disposition::kErrno, ENOSYS, "syscalls.default"};
  EXPECT_EQ(&plan.policy(), policy.get());
  EXPECT_EQ(plan.For(0), kDefault);
  EXPECT_EQ(plan.For(-1), kDefault);
  EXPECT_EQ(plan.For(kMaxSyscallNumber), kDefault);
  EXPECT_EQ(plan.ForCall(SyscallNumber("clone").value(), {CLONE_NEWUSER}),
            kDefault);
  EXPECT_FALSE(plan.compiled());
  EXPECT_TRUE(CompiledPlan::Compile(policy).compiled());
  // The other ABIs still answer as the policy's syscalls.abi says.
  EXPECT_EQ(plan.i386(),
            (SyscallPlan{Disposition::kKill, 0, "syscalls.abi.i386"}));
  EXPECT_TRUE(plan.NumbersWith(Disposition::kAllow).empty());
}

TEST(PlanTest, StaticInspectAndUnknown) {
  Policy policy = MustParse(R"yaml(
version: 1
syscalls:
  default: {action: deny, errno: ENOSYS}
  abi: {i386: {action: deny, errno: EPERM}, x32: kill}
  rules:
    - {id: io, syscalls: [read, write], action: allow}
    - {id: again, syscalls: [read, close], action: kill}
    - {id: cond, syscalls: [ioctl], args: [{index: 1, op: eq, value: 1}], action: allow}
    - {id: logged, syscalls: [mount], action: log}
    - {id: fake, syscalls: [getuid], action: emulate, return: 0}
    - {id: denied, syscalls: [ptrace], action: deny}
    - {id: files, syscalls: [openat], paths: {read: ["/**"]}, action: allow}
)yaml");
  CompiledPlan plan = PlanOf(policy);
  EXPECT_EQ(plan.For(0), (SyscallPlan{Disposition::kAllow, 0, "io"}));
  EXPECT_EQ(plan.For(3), (SyscallPlan{Disposition::kKill, 0, "again"}));
  EXPECT_EQ(plan.For(SyscallNumber("ioctl").value()).disposition,
            Disposition::kInspect);
  EXPECT_EQ(plan.For(SyscallNumber("ioctl").value()).rule_id, "");
  EXPECT_EQ(plan.For(SyscallNumber("mount").value()).disposition,
            Disposition::kInspect);
  EXPECT_EQ(plan.For(SyscallNumber("getuid").value()).disposition,
            Disposition::kInspect);
  EXPECT_EQ(plan.For(SyscallNumber("openat").value()).disposition,
            Disposition::kInspect);
  EXPECT_EQ(plan.For(SyscallNumber("ptrace").value()),
            (SyscallPlan{Disposition::kErrno, EPERM, "denied"}));
  const SyscallPlan kDefault{Disposition::kErrno, ENOSYS, "syscalls.default"};
  EXPECT_EQ(plan.For(SyscallNumber("getpid").value()), kDefault);
  EXPECT_EQ(plan.unknown(), kDefault);
  EXPECT_EQ(plan.For(400), kDefault);  // unnamed
  EXPECT_EQ(plan.For(-1), kDefault);
  EXPECT_EQ(plan.For(kMaxSyscallNumber + 1), kDefault);
  EXPECT_EQ(plan.i386(),
            (SyscallPlan{Disposition::kErrno, EPERM, "syscalls.abi.i386"}));
  EXPECT_EQ(plan.x32(),
            (SyscallPlan{Disposition::kKill, 0, "syscalls.abi.x32"}));
  EXPECT_EQ(plan.NumbersWith(Disposition::kAllow), (std::vector<int>{0, 1}));
  EXPECT_EQ(plan.NumbersWith(Disposition::kKill), (std::vector<int>{3}));
  EXPECT_EQ(&plan.policy(), plan.shared_policy().get());
}

TEST(PlanTest, DispositionsPartitionTheNamedSyscalls) {
  for (const std::string& name : PresetNames()) {
    CompiledPlan plan = PlanOf(MustLoadPreset(name));
    size_t total = 0;
    for (Disposition disposition :
         {Disposition::kAllow, Disposition::kErrno, Disposition::kKill,
          Disposition::kInspect}) {
      std::vector<int> numbers = plan.NumbersWith(disposition);
      EXPECT_TRUE(std::is_sorted(numbers.begin(), numbers.end()));
      total += numbers.size();
    }
    EXPECT_EQ(total, AllSyscallNumbers().size()) << name;
    EXPECT_NE(plan.i386().disposition, Disposition::kInspect);
    EXPECT_NE(plan.x32().disposition, Disposition::kInspect);
  }
}

ActionSpec PlanAction(const SyscallPlan& plan) {
  switch (plan.disposition) {
    case Disposition::kAllow:
      return {Action::kAllow};
    case Disposition::kErrno:
      return {Action::kDeny, plan.errno_value, 0};
    case Disposition::kKill:
      return {Action::kKill};
    case Disposition::kInspect:
      break;
  }
  return {Action::kLog};  // never compared
}

// The fast path and Decide must agree: for every statically planned syscall,
// whatever the arguments and paths, Decide gives the plan's action and rule.
TEST(PlanTest, StaticPlansAgreeWithDecide) {
  std::mt19937_64 rng(20240601);
  const std::vector<std::string> kPaths = {"/usr/lib/libc.so.6",
                                           "/etc/shadow",
                                           "/tmp/x",
                                           "/run/w/out",
                                           "/",
                                           "/proc/self/maps",
                                           "/bin/sh",
                                           "relative",
                                           ""};
  auto random_arg = [&]() -> uint64_t {
    switch (rng() % 4) {
      case 0:
        return rng() % 16;
      case 1:
        return rng();
      case 2:
        return uint64_t{1} << (rng() % 64);
      default:
        return ~uint64_t{0} - rng() % 4;
    }
  };
  for (const std::string& name : PresetNames()) {
    Policy policy = WithWorkdir(MustLoadPreset(name), "/run/w");
    CompiledPlan plan = PlanOf(policy);
    std::vector<int> numbers;
    for (int number = -2; number <= kMaxSyscallNumber + 2; ++number) {
      numbers.push_back(number);
    }
    numbers.push_back(100000);
    for (int number : numbers) {
      for (int i = 0; i < 40; ++i) {
        SyscallRequest request;
        request.number = number;
        for (uint64_t& arg : request.args) arg = random_arg();
        // clone's flags: half the time with namespace flags, which the fast
        // path reads (ForCall).
        if (number == SYS_clone && rng() % 2 == 0) {
          uint64_t namespaces = kCloneNamespaceFlags & rng();
          request.args[0] |= namespaces != 0 ? namespaces : CLONE_NEWUSER;
        }
        const SyscallPlan& planned = plan.ForCall(number, request.args);
        if (planned.disposition == Disposition::kInspect) continue;
        for (int p = static_cast<int>(rng() % 3); p > 0; --p) {
          request.paths.push_back(
              {static_cast<int>(rng() % 6), kPaths[rng() % kPaths.size()]});
        }
        if (rng() % 2) request.open_flags = random_arg();
        Verdict verdict = Decide(policy, request);
        ASSERT_EQ(verdict.action, PlanAction(planned))
            << name << " syscall " << number << ": " << verdict.reason;
        ASSERT_EQ(verdict.rule_id, planned.rule_id) << name << " " << number;
      }
    }
    for (Abi abi : {Abi::kI386, Abi::kX32}) {
      SyscallRequest request;
      request.abi = abi;
      request.number = static_cast<int>(rng() % 600);
      const SyscallPlan& planned = abi == Abi::kI386 ? plan.i386() : plan.x32();
      Verdict verdict = Decide(policy, request);
      EXPECT_EQ(verdict.action, PlanAction(planned));
      EXPECT_EQ(verdict.rule_id, planned.rule_id);
    }
  }
}

// clone's namespace flags follow unshare (Decide): for every combination of
// what the rules say to clone, clone3 and unshare, the plan's static answers
// (clone_namespaces(), For(clone3)) are Decide's, and clone without
// namespace flags keeps its own plan.
TEST(PlanTest, CloneNamespacePlansAgreeWithDecide) {
  const std::vector<std::string> actions = {
      "action: allow", "action: deny, errno: EACCES", "action: kill",
      "action: log",   "action: emulate, return: 0",
  };
  // unshare allowed only for a mount namespace (a condition: inspected).
  const std::string only_mount_ns =
      "    - {id: ns, syscalls: [unshare], args: [{index: 0, op: eq, value: "
      "0x20000}], action: allow, else: {action: deny, errno: EPERM}}\n";
  std::vector<std::string> unshare_rules;
  for (const std::string& action : actions) {
    unshare_rules.push_back(
        fmt::format("    - {{id: ns, syscalls: [unshare], {}}}\n", action));
  }
  unshare_rules.push_back(only_mount_ns);
  unshare_rules.emplace_back();  // the default decides unshare
  const std::vector<uint64_t> flags = {
      SIGCHLD,
      CLONE_NEWUSER | SIGCHLD,
      CLONE_NEWNS,
      CLONE_NEWNET | CLONE_NEWPID | CLONE_VM,
      kCloneNamespaceFlags,
      CLONE_NEWTIME | SIGCHLD,  // the exit signal's bits, not a namespace
      0xffffffff00000000 | CLONE_NEWUSER,
      0xffffffff00000000,
  };
  int compared = 0;
  for (const std::string& clone_action : actions) {
    for (const std::string& unshare_rule : unshare_rules) {
      for (const char* default_action : {"allow", "kill"}) {
        Policy policy = MustParse(
            fmt::format("version: 1\nsyscalls:\n  default: {}\n  rules:\n{}"
                        "    - {{id: c, syscalls: [clone, clone3], {}}}\n",
                        default_action, unshare_rule, clone_action));
        CompiledPlan plan = PlanOf(policy);
        SCOPED_TRACE(fmt::format("clone {}, default {}, {}", clone_action,
                                 default_action, unshare_rule));
        // Without namespace flags clone keeps its own plan.
        EXPECT_EQ(plan.ForCall(SYS_clone, {SIGCHLD}), plan.For(SYS_clone));
        for (uint64_t flag : flags) {
          SyscallRequest request;
          request.number = SYS_clone;
          request.args[0] = flag;
          const SyscallPlan& planned = plan.ForCall(SYS_clone, request.args);
          EXPECT_EQ(&planned, (flag & kCloneNamespaceFlags) != 0
                                  ? &plan.clone_namespaces()
                                  : &plan.For(SYS_clone));
          if (planned.disposition == Disposition::kInspect) continue;
          Verdict verdict = Decide(policy, request);
          EXPECT_EQ(verdict.action, PlanAction(planned))
              << fmt::format("{:#x}: ", flag) << verdict.reason;
          EXPECT_EQ(verdict.rule_id, planned.rule_id) << verdict.reason;
          ++compared;
        }
        const SyscallPlan& clone3 = plan.For(SYS_clone3);
        if (clone3.disposition != Disposition::kInspect) {
          SyscallRequest request;
          request.number = SYS_clone3;
          Verdict verdict = Decide(policy, request);
          EXPECT_EQ(verdict.action, PlanAction(clone3)) << verdict.reason;
          EXPECT_EQ(verdict.rule_id, clone3.rule_id) << verdict.reason;
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 200);
}

TEST(PlanTest, NamespaceFlagsGetUnsharesStaticPlan) {
  Policy policy = MustParse(R"yaml(
version: 1
syscalls:
  default: allow
  rules:
    - {id: no-ns, syscalls: [unshare], action: deny, errno: EPERM}
)yaml");
  CompiledPlan plan = PlanOf(policy);
  EXPECT_EQ(plan.For(SYS_clone),
            (SyscallPlan{Disposition::kAllow, 0, "syscalls.default"}));
  EXPECT_EQ(plan.clone_namespaces(),
            (SyscallPlan{Disposition::kErrno, EPERM, "no-ns"}));
  EXPECT_EQ(plan.ForCall(SYS_clone, {CLONE_NEWUSER | SIGCHLD}),
            plan.clone_namespaces());
  EXPECT_EQ(plan.ForCall(SYS_clone, {CLONE_VM | CLONE_THREAD}),
            plan.For(SYS_clone));
  // Only clone reads its flags: unshare and fork keep their own plans.
  EXPECT_EQ(plan.ForCall(SYS_fork, {CLONE_NEWUSER}), plan.For(SYS_fork));
  EXPECT_EQ(plan.For(SYS_clone3),
            (SyscallPlan{Disposition::kErrno, ENOSYS, "no-ns.clone3"}));
}

// Golden decision tables: one line per syscall number, `name action[/errno]
// rule_id`, for a request with no decoded paths and zero arguments, then one
// per non-native ABI, per namespace flag of clone and per fault kind. They pin
// what each preset does to every syscall and fault so a preset edit shows up in
// review. Regenerate with: ISOSCOPE_UPDATE_GOLDEN=1 ./policies_test
//   --gtest_filter='*GoldenTest*'   (then review the diff).
std::string Format(const Verdict& verdict) {
  std::string action(ActionName(verdict.action.action));
  if (verdict.action.action == Action::kDeny) {
    action += "/" + std::string(ErrnoName(verdict.action.errno_value));
  } else if (verdict.action.action == Action::kEmulate) {
    action += fmt::format("/{}", verdict.action.emulate_value);
  }
  return fmt::format("{} {}", action, verdict.rule_id);
}

std::string DecisionTable(const Policy& policy) {
  std::string out = fmt::format(
      "# Decisions of preset '{}' for a request with zero arguments and no\n"
      "# decoded paths. Generated by policies_test; regenerate with\n"
      "# ISOSCOPE_UPDATE_GOLDEN=1 (see policies/README.md).\n",
      policy.name);
  std::vector<int> numbers;
  for (int number = 0; number <= kMaxSyscallNumber; ++number) {
    numbers.push_back(number);
  }
  for (int unknown : {512, 1024, 99999}) numbers.push_back(unknown);
  for (int number : numbers) {
    SyscallRequest request;
    request.number = number;
    std::string name = SyscallName(number);
    if (name.empty()) name = fmt::format("nr{}", number);
    out += fmt::format("{} {}\n", name, Format(Decide(policy, request)));
  }
  for (Abi abi : {Abi::kI386, Abi::kX32}) {
    SyscallRequest request;
    request.abi = abi;
    out += fmt::format("abi.{} {}\n", AbiName(abi),
                       Format(Decide(policy, request)));
  }
  // clone with each namespace flag (and SIGCHLD), decided as unshare is.
  for (auto [flag, flag_name] : {std::pair{CLONE_NEWNS, "CLONE_NEWNS"},
                                 std::pair{CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
                                 std::pair{CLONE_NEWUTS, "CLONE_NEWUTS"},
                                 std::pair{CLONE_NEWIPC, "CLONE_NEWIPC"},
                                 std::pair{CLONE_NEWUSER, "CLONE_NEWUSER"},
                                 std::pair{CLONE_NEWPID, "CLONE_NEWPID"},
                                 std::pair{CLONE_NEWNET, "CLONE_NEWNET"}}) {
    SyscallRequest request;
    request.number = SYS_clone;
    request.args[0] = static_cast<uint64_t>(flag) | SIGCHLD;
    out += fmt::format("clone({}) {}\n", flag_name,
                       Format(Decide(policy, request)));
  }
  // A fault action has no errno or return value to show.
  for (FaultKind kind : kAllFaultKinds) {
    Verdict verdict = DecideFault(policy, FaultRequest{kind});
    out += fmt::format("fault.{} {} {}\n", FaultKindName(kind),
                       ActionName(verdict.action.action), verdict.rule_id);
  }
  return out;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, DecisionTableMatches) {
  const std::string& name = GetParam();
  std::string path =
      testing::SourceDir() + "/policies/testdata/" + name + ".decisions";
  std::string actual = DecisionTable(MustLoadPreset(name));
  if (const char* update = std::getenv("ISOSCOPE_UPDATE_GOLDEN");
      update != nullptr && std::string(update) == "1") {
    std::ofstream(path) << actual;
    GTEST_SKIP() << "wrote " << path;
  }
  std::ifstream file(path);
  ASSERT_TRUE(file.good()) << "missing " << path
                           << " (run with ISOSCOPE_UPDATE_GOLDEN=1)";
  std::stringstream expected;
  expected << file.rdbuf();
  // Line by line, so a failure names the syscall that changed.
  std::istringstream want(expected.str());
  std::istringstream got(actual);
  std::string want_line;
  std::string got_line;
  int line = 0;
  while (true) {
    bool more_want = static_cast<bool>(std::getline(want, want_line));
    bool more_got = static_cast<bool>(std::getline(got, got_line));
    ++line;
    if (!more_want && !more_got) break;
    ASSERT_EQ(more_want, more_got) << path << ": length differs at " << line;
    EXPECT_EQ(got_line, want_line) << path << ":" << line;
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, GoldenTest,
                         ::testing::Values("permissive", "default", "strict"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace isoscope
