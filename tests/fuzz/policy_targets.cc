// The policy engine's fuzz targets: the YAML loader on arbitrary text, and
// Decide on generated policies and the presets against the compiled plan.
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "policies/decide.h"
#include "policies/loader.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "policies/syscalls.h"
#include "tests/fuzz/fuzz_targets.h"

namespace isoscope::fuzz {
namespace {

constexpr std::string_view kSource = "fuzz.yaml";
constexpr std::string_view kWorkdir = "/work/run";

// The syscalls the compiler and Decide treat specially, and a few plain ones.
constexpr const char* kSyscalls[] = {
    "read",   "write",      "getpid",     "exit_group", "rt_sigreturn",
    "clone",  "clone3",     "unshare",    "setns",      "mmap",
    "munmap", "mprotect",   "mremap",     "shmat",      "madvise",
    "openat", "open",       "openat2",    "execve",     "execveat",
    "socket", "newfstatat", "readlinkat", "mount",      "ptrace",
};
// Of those, the ones that take paths (a rule with `paths` may name only
// these).
constexpr const char* kPathSyscalls[] = {"openat",     "open",     "openat2",
                                         "execve",     "execveat", "newfstatat",
                                         "readlinkat", "mount"};
constexpr const char* kActions[] = {
    "allow",
    "kill",
    "log",
    "{action: deny}",
    "{action: deny, errno: ENOSYS}",
    "{action: deny, errno: EACCES}",
    "{action: emulate, return: 0}",
    "{action: emulate, return: -1}",
};
constexpr const char* kAbiActions[] = {"kill", "{action: deny}",
                                       "{action: deny, errno: ENOSYS}"};
constexpr const char* kOps[] = {"eq", "ne", "lt", "le", "gt", "ge"};
constexpr const char* kGlobs[] = {
    "/**",     "/usr/**",        "\"{workdir}/**\"", "/etc/*",
    "/tmp/?x", "/proc/self/exe", "/a/**/b",          "/**/*.so*",
};
// Argument values around the bits the compiler and Decide test.
constexpr uint64_t kValues[] = {
    0,
    1,
    SIGCHLD,
    CLONE_NEWUSER,
    CLONE_NEWNS | CLONE_NEWPID,
    CLONE_UNTRACED,
    0x7e020000,  // every CLONE_NEW* clone takes
    0x80,        // CLONE_NEWTIME, clone's exit signal bits
    O_WRONLY | O_CREAT,
    0x10,                         // MAP_FIXED
    static_cast<uint64_t>(-100),  // AT_FDCWD
    0xffffffff,
    0x100000000,
    ~uint64_t{0},
    0x190000,  // a guard's end in the seccomp target
};

std::string ActionText(FuzzInput& in) { return in.Pick(kActions); }

uint64_t Value(FuzzInput& in) {
  switch (in.Byte() % 4) {
    case 0:
      return in.U64();
    case 1:
      return in.Byte();
    default:
      return in.Pick(kValues);
  }
}

std::string Globs(FuzzInput& in) {
  std::string list = "[";
  const int n = 1 + in.Byte() % 3;
  for (int i = 0; i < n; ++i) {
    list += fmt::format("{}{}", i == 0 ? "" : ", ", in.Pick(kGlobs));
  }
  return list + "]";
}

}  // namespace

std::string GeneratedPolicyYaml(FuzzInput& in) {
  std::string yaml = "version: 1\nsyscalls:\n";
  yaml += fmt::format("  default: {}\n", ActionText(in));
  yaml += fmt::format("  abi: {{i386: {}, x32: {}}}\n", in.Pick(kAbiActions),
                      in.Pick(kAbiActions));
  const int rules = in.Byte() % 9;
  if (rules > 0) yaml += "  rules:\n";
  for (int r = 0; r < rules; ++r) {
    const uint8_t shape = in.Byte();
    const bool with_paths = (shape & 1) != 0;
    const bool with_args = (shape & 2) != 0;
    std::string names;
    const int count = 1 + in.Byte() % 3;
    for (int i = 0; i < count; ++i) {
      names +=
          fmt::format("{}{}", i == 0 ? "" : ", ",
                      with_paths ? in.Pick(kPathSyscalls) : in.Pick(kSyscalls));
    }
    yaml += fmt::format("    - id: r{}\n      syscalls: [{}]\n", r, names);
    if (with_args) {
      yaml += "      args:\n";
      const int conditions = 1 + in.Byte() % 2;
      for (int c = 0; c < conditions; ++c) {
        const int index = in.Byte() % 6;
        if (in.Byte() % 4 == 0) {
          yaml += fmt::format(
              "        - {{index: {}, op: masked_eq, mask: {:#x}, value: "
              "{:#x}}}\n",
              index, Value(in), Value(in));
        } else {
          yaml += fmt::format("        - {{index: {}, op: {}, value: {:#x}}}\n",
                              index, in.Pick(kOps), Value(in));
        }
      }
    }
    if (with_paths) {
      yaml += fmt::format("      paths: {{read: {}, write: {}, exec: {}}}\n",
                          Globs(in), Globs(in), Globs(in));
    }
    yaml += fmt::format("      action: {}\n", ActionText(in));
    if ((with_args || with_paths) && (shape & 4) != 0) {
      yaml += fmt::format("      else: {}\n", ActionText(in));
    }
  }
  return yaml;
}

std::string PolicyLoaderInput(std::span<const uint8_t> input) {
  const std::string_view text(reinterpret_cast<const char*>(input.data()),
                              input.size());
  bool refused_accepted = false;
  for (bool refuse_holes : {true, false}) {
    auto policy = ParsePolicy(text, kSource, {.refuse_holes = refuse_holes});
    if (!policy) {
      const Error& error = policy.error();
      if (error.code() != ErrorCode::kPolicy) {
        return fmt::format("error of code {}, not policy: {}",
                           ErrorCodeName(error.code()), error.message());
      }
      if (!error.message().starts_with(kSource)) {
        return fmt::format("error does not name the file: {}", error.message());
      }
      if (refused_accepted) {
        return "accepted with holes refused, refused with holes allowed: " +
               error.message();
      }
      continue;
    }
    refused_accepted = refuse_holes;
    // The same text parses to the same policy, and a valid policy compiles.
    auto again = ParsePolicy(text, kSource, {.refuse_holes = refuse_holes});
    if (!again || !(*again == *policy)) {
      return "parsing the same text twice gave different results";
    }
    CompiledPlan::Compile(std::make_shared<const Policy>(
        WithWorkdir(*policy, std::string(kWorkdir))));
  }
  return "";
}

namespace {

// An x86-64 syscall number: mostly one a rule of GeneratedPolicyYaml can
// name, sometimes any number (unnamed, negative, past the table).
int Number(FuzzInput& in) {
  const uint8_t how = in.Byte();
  if (how < 160) return *SyscallNumber(kSyscalls[how % std::size(kSyscalls)]);
  if (how < 240) return in.U16() % (kMaxSyscallNumber + 32);
  return static_cast<int>(in.U32());
}

constexpr const char* kPaths[] = {
    "/",           "/work/run",          "/work/run/x", "/work/run/../x",
    "/etc/passwd", "/usr/lib/libc.so.6", "/tmp/ax",     "/a/b",
    "/a/x/y/b",    "/proc/self/exe",     "pipe:[42]",   "",
};

std::string PathOf(FuzzInput& in) {
  if (in.Byte() % 3 != 0) return in.Pick(kPaths);
  return NormalizePath("/" + in.String(300));
}

std::string_view Expected(Disposition disposition) {
  switch (disposition) {
    case Disposition::kAllow:
      return "allow";
    case Disposition::kErrno:
      return "deny";
    case Disposition::kKill:
      return "kill";
    case Disposition::kInspect:
      return "inspect";
  }
  return "?";
}

bool Agrees(const SyscallPlan& plan, const Verdict& verdict) {
  switch (plan.disposition) {
    case Disposition::kAllow:
      return verdict.action.action == Action::kAllow;
    case Disposition::kErrno:
      return verdict.action.action == Action::kDeny &&
             verdict.action.errno_value == plan.errno_value;
    case Disposition::kKill:
      return verdict.action.action == Action::kKill;
    case Disposition::kInspect:
      return true;
  }
  return false;
}

std::optional<CompiledPlan> PlanOf(const Result<Policy>& policy) {
  if (!policy) return std::nullopt;
  return CompiledPlan::Compile(std::make_shared<const Policy>(
      WithWorkdir(*policy, std::string(kWorkdir))));
}

}  // namespace

const CompiledPlan& PresetPlan(size_t index) {
  // Compiled once: parsing a preset is most of an input's time otherwise.
  static const auto* const kPlans = [] {
    auto* plans = new std::vector<CompiledPlan>;
    for (const std::string& name : PresetNames()) {
      std::optional<CompiledPlan> plan = PlanOf(LoadPreset(name));
      if (!plan) std::abort();
      plans->push_back(*std::move(plan));
    }
    return plans;
  }();
  return (*kPlans)[index % kPlans->size()];
}

std::optional<CompiledPlan> GeneratedPlan(FuzzInput& in) {
  return PlanOf(
      ParsePolicy(GeneratedPolicyYaml(in), kSource, {.refuse_holes = false}));
}

std::string DecideInput(std::span<const uint8_t> input) {
  FuzzInput in(input);
  std::optional<CompiledPlan> generated;
  const uint8_t source = in.Byte() % 4;
  if (source == 0) {
    generated = GeneratedPlan(in);
    if (!generated) return "";  // the generator made an invalid policy
  }
  const CompiledPlan& plan = generated ? *generated : PresetPlan(source - 1);
  const Policy& decided = plan.policy();
  for (int call = 0; call < 16 && !in.done(); ++call) {
    SyscallRequest request;
    const uint8_t abi = in.Byte() % 8;
    request.abi = abi == 0 ? Abi::kI386 : abi == 1 ? Abi::kX32 : Abi::kX86_64;
    request.number = Number(in);
    for (uint64_t& arg : request.args) arg = Value(in);
    if (request.abi == Abi::kX86_64 && request.number >= 0 &&
        request.number <= kMaxSyscallNumber) {
      for (const PathArgSpec& spec : PathArguments(request.number)) {
        if (in.Byte() % 8 == 0) continue;  // the backend could not read it
        request.paths.push_back({spec.path_index, PathOf(in)});
      }
      if (request.number == SYS_openat2 && in.Bool()) {
        request.open_flags = Value(in);
      }
    }
    const Verdict verdict = Decide(decided, request);
    const std::string call_text = fmt::format(
        "{} {}({}) ({:#x}, {:#x}, {:#x}, ...)", AbiName(request.abi),
        SyscallName(request.number), request.number, request.args[0],
        request.args[1], request.args[2]);
    if (!(Decide(decided, request) == verdict)) {
      return call_text + ": Decide gave two verdicts";
    }
    if (verdict.rule_id.empty() || verdict.reason.empty()) {
      return call_text + ": verdict without a rule or a reason";
    }
    const Action action = verdict.action.action;
    if (action == Action::kReport || action == Action::kDeliver) {
      return call_text + ": a fault action for a syscall";
    }
    if (action == Action::kDeny &&
        (verdict.action.errno_value < 1 || verdict.action.errno_value > 4095)) {
      return fmt::format("{}: denied with errno {}", call_text,
                         verdict.action.errno_value);
    }
    // Where the plan decides statically, Decide must say the same, by the
    // same rule: the fast paths are built from the plan.
    const SyscallPlan& planned =
        request.abi == Abi::kI386  ? plan.i386()
        : request.abi == Abi::kX32 ? plan.x32()
                                   : plan.ForCall(request.number, request.args);
    if (!Agrees(planned, verdict) ||
        (planned.disposition != Disposition::kInspect &&
         planned.rule_id != verdict.rule_id)) {
      return fmt::format("{}: the plan says {} {} by '{}', Decide {} by '{}'",
                         call_text, Expected(planned.disposition),
                         planned.errno_value, planned.rule_id,
                         DescribeAction(verdict.action), verdict.rule_id);
    }
    for (const PathArgument& path : request.paths) {
      const std::string once = NormalizePath(path.path);
      if (NormalizePath(once) != once) {
        return fmt::format("NormalizePath is not idempotent on '{}'",
                           path.path);
      }
    }
  }
  return "";
}

}  // namespace isoscope::fuzz
