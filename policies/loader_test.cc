#include "policies/loader.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policies/syscalls.h"
#include "policies/test_support.h"
#include "policies/units.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;
using testing::MustParse;
using testing::SourceDir;
using ::testing::StartsWith;

std::string BrokenDir() { return SourceDir() + "/tests/policies/broken"; }

struct BrokenCase {
  const char* name;      // tests/policies/broken/<name>.yaml
  const char* expected;  // the message after "<path>"
};

// One fixture per kind of mistake; the message is part of the interface
// (users read it, editors jump to file:line:column), so it is pinned exactly.
const BrokenCase kBrokenCases[] = {
    {"abi_allow",
     ":3:15: syscalls.abi.i386: action 'allow' is not possible for a "
     "non-native ABI (expected kill or deny)"},
    {"bad_arg_index",
     ":6:19: syscalls.rules[0].args[0].index: argument index 6 out of range "
     "(expected 0..5)"},
    {"bad_duration",
     ":3:13: resources.cpu_time: duration '10' needs a unit (ms, s, m, h)"},
    {"bad_else_action",
     ":7:43: syscalls.rules[0].else.retrun: unknown key (expected action, "
     "errno, return)"},
    {"bad_fault_action",
     ":3:10: faults.cpuid: unknown fault action 'allow' (expected kill, "
     "report, deliver, emulate)"},
    {"bad_network_mode",
     ":2:10: network: unknown network mode 'full' (expected none, loopback, "
     "host)"},
    {"bad_op",
     ":6:26: syscalls.rules[0].args[0].op: unknown op 'equals' (expected eq, "
     "ne, lt, le, gt, ge, masked_eq)"},
    {"bad_size_unit",
     ":3:11: resources.memory: unknown unit 'MB' in size '256MB' (expected B, "
     "K, KiB, M, MiB, G, GiB, T, TiB)"},
    {"bad_uid",
     ":3:8: identity.uid: uid 4294967295 out of range (expected "
     "0..4294967294)"},
    {"bad_user_namespace",
     ":3:19: identity.user_namespace: expected true or false, got 'yes'"},
    {"breakpoint_emulate",
     ":3:15: faults.breakpoint: emulate is not possible for breakpoint "
     "(expected kill, report, deliver)"},
    {"duplicate_id",
     ":7:11: syscalls.rules[1].id: duplicate rule id 'stdio' (first used by "
     "syscalls.rules[0])"},
    {"duplicate_key", ":3:1: network: duplicate key"},
    {"else_without_conditions",
     ":6:7: syscalls.rules[0].else: else never applies: the rule has no args "
     "or paths"},
    {"empty_document",
     ":1:1: policy: empty document (expected a mapping with version: 1)"},
    {"empty_syscall_list",
     ":4:17: syscalls.rules[0].syscalls: empty list (name at least one "
     "syscall)"},
    {"emulate_without_return",
     ":6:15: syscalls.rules[0].return: action emulate needs a return value"},
    {"errno_without_deny",
     ":6:7: syscalls.rules[0].errno: errno is only valid with action deny"},
    {"hole_accepted_twice",
     ":7:24: accepted_holes[1].syscalls[1]: 'io_uring_setup' is already "
     "accepted by accepted_holes[0]"},
    {"hole_blank_reason",
     ":7:13: accepted_holes[0].reason: empty reason (say why this hole is "
     "acceptable)"},
    {"hole_io_uring",
     ":12:7: syscalls.rules[1] (rule 'uring'): lets io_uring_setup run, a "
     "hole: it reaches files with no path isoscope can check, while rule "
     "'files' checks paths (io_uring_setup: a ring's IORING_OP_OPENAT, "
     "OPENAT2, STATX, RENAMEAT, UNLINKAT, MKDIRAT, SYMLINKAT and LINKAT name "
     "files in ring memory, not in a syscall). Deny or kill it in a rule "
     "before this one, or accept it with a reason: accepted_holes: "
     "[{syscalls: [io_uring_setup], reason: \"...\"}]"},
    {"hole_network",
     ":2:21: syscalls.default: lets ptrace, setns, process_vm_writev, "
     "io_uring_setup and pidfd_getfd run, a hole: they step around network: "
     "loopback (ptrace: makes another process connect on the workload's "
     "behalf; setns: joins another process's network namespace; "
     "process_vm_writev: rewrites another process's memory so that it "
     "connects; io_uring_setup: IORING_OP_SOCKET, CONNECT, BIND and SEND are "
     "not socket syscalls any rule sees; pidfd_getfd: takes a connected "
     "socket from another process). Deny or kill them in a rule, or accept "
     "them with a reason: accepted_holes: [{syscalls: [ptrace, setns, "
     "process_vm_writev, io_uring_setup, pidfd_getfd], reason: \"...\"}]"},
    {"hole_not_a_hole",
     ":7:5: accepted_holes[0].syscalls[0]: 'io_uring_setup' is no hole of "
     "this policy (no rule lets it step around paths or network); remove "
     "it"},
    {"masked_eq_without_mask",
     ":5:14: syscalls.rules[0].args[0].mask: op masked_eq needs a mask"},
    {"missing_action",
     ":4:7: syscalls.rules[0].action: required key is missing"},
    {"missing_version", ":1:1: version: required key is missing"},
    {"negative_number", ":3:14: resources.processes: '-1' is negative"},
    {"not_a_number",
     ":6:15: syscalls.rules[0].return: 'zero' is not an integer"},
    {"page_fault_emulate",
     ":3:15: faults.page_fault: emulate is not possible for page_fault "
     "(expected kill, report, deliver)"},
    {"paths_on_pathless_syscall",
     ":5:26: syscalls.rules[0].syscalls[1]: 'read' takes no path argument, but "
     "the rule has paths (move it to a rule without paths)"},
    {"relative_glob",
     ":6:16: syscalls.rules[0].paths.read[0]: glob 'usr/**' must be absolute "
     "or start with {workdir}"},
    {"size_overflow",
     ":3:11: resources.output: size '20000000TiB' does not fit in 64 bits"},
    {"syntax_error", ":6:1: YAML syntax error: end of map flow not found"},
    {"unknown_action",
     ":10:15: syscalls.rules[2].action: unknown action 'alow' (expected allow, "
     "deny, kill, log, emulate)"},
    {"unknown_capability",
     ":2:27: capabilities[1]: unknown capability 'CAP_TELEPORT' (expected a "
     "name like CAP_NET_BIND_SERVICE)"},
    {"unknown_errno",
     ":6:14: syscalls.rules[0].errno: unknown errno 'EPREM' (use a name such "
     "as EPERM, EACCES, ENOSYS)"},
    {"unknown_fault_key",
     ":4:3: faults.div_error: unknown key (expected privileged_instruction, "
     "cpuid, rdtsc, page_fault, invalid_instruction, breakpoint, arithmetic, "
     "hide_hypervisor)"},
    {"unknown_rule_key",
     ":5:7: syscalls.rules[0].acton: unknown key (expected id, syscalls, "
     "action, errno, return, args, paths, else)"},
    {"unknown_syscall",
     ":4:24: syscalls.rules[0].syscalls[1]: unknown x86-64 syscall 'opne'"},
    {"unknown_top_level_key",
     ":2:1: sycalls: unknown key (expected version, syscalls, faults, "
     "resources, filesystem, network, identity, capabilities, "
     "accepted_holes)"},
    {"unquoted_workdir",
     ":3:14: filesystem.writable[0]: expected a string, got a mapping (quote "
     "strings that start with '{', like \"{workdir}\")"},
    {"wrong_type", ":3:3: syscalls: expected a mapping, got a list"},
    {"wrong_version", ":1:10: version: unsupported version 2 (expected 1)"},
};

TEST(LoaderBrokenTest, EachFixtureGivesItsExactMessage) {
  for (const BrokenCase& test_case : kBrokenCases) {
    std::string path = BrokenDir() + "/" + test_case.name + ".yaml";
    auto policy = LoadPolicyFile(path);
    ASSERT_FALSE(policy.has_value()) << test_case.name;
    EXPECT_EQ(policy.error().code(), ErrorCode::kPolicy) << test_case.name;
    EXPECT_EQ(policy.error().message(), path + test_case.expected)
        << test_case.name;
  }
}

TEST(LoaderBrokenTest, EveryFixtureIsInTheTable) {
  std::set<std::string> in_table;
  for (const BrokenCase& test_case : kBrokenCases) {
    in_table.insert(test_case.name);
  }
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(BrokenDir())) {
    if (entry.path().extension() == ".yaml") {
      on_disk.insert(entry.path().stem().string());
    }
  }
  EXPECT_EQ(in_table, on_disk);
}

TEST(LoaderTest, UnreadableFiles) {
  auto missing = LoadPolicyFile("/nonexistent/policy.yaml");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kPolicy);
  EXPECT_EQ(missing.error().message(),
            "/nonexistent/policy.yaml: cannot read policy: No such file or "
            "directory");
  auto directory = LoadPolicyFile(BrokenDir());
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().message(),
            BrokenDir() + ": cannot read policy: Is a directory");
}

TEST(LoaderTest, OversizedPoliciesAreRefusedWithoutReadingThemWhole) {
  std::string big = "version: 1\nsyscalls: {default: allow}\n";
  big += std::string(kMaxPolicyBytes, '#');
  auto parsed = ParsePolicy(big, "big.yaml", {.refuse_holes = false});
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kPolicy);
  EXPECT_EQ(parsed.error().message(),
            "big.yaml: policy larger than 1024 KiB (a policy is a few "
            "kilobytes; is this the right file?)");
  // An endless file ends at the limit.
  auto endless = LoadPolicyFile("/dev/zero");
  ASSERT_FALSE(endless.has_value());
  EXPECT_THAT(endless.error().message(), HasSubstr("larger than 1024 KiB"));
}

TEST(LoaderTest, DeepNestingSaysWhereAndWhy) {
  const std::string deep = "version: 1\nsyscalls: " + std::string(5000, '[') +
                           std::string(5000, ']') + "\n";
  auto parsed = ParsePolicy(deep, "deep.yaml");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kPolicy);
  EXPECT_THAT(parsed.error().message(), StartsWith("deep.yaml:2:"));
  EXPECT_THAT(parsed.error().message(),
              HasSubstr("levels deep, more than the parser allows"));
}

TEST(LoaderTest, PolicyArgumentIsPresetOrPath) {
  auto strict = LoadPolicyArgument("strict");
  ASSERT_TRUE(strict.has_value()) << strict.error().message();
  EXPECT_EQ(strict->name, "strict");
  EXPECT_EQ(*strict, *LoadPreset("strict"));

  auto file = LoadPolicyArgument(BrokenDir() + "/wrong_version.yaml");
  ASSERT_FALSE(file.has_value());
  EXPECT_NE(file.error().message().find("unsupported version 2"),
            std::string::npos);

  auto neither = LoadPolicyArgument("strcit");
  ASSERT_FALSE(neither.has_value());
  EXPECT_EQ(neither.error().code(), ErrorCode::kPolicy);
  EXPECT_EQ(neither.error().message(),
            "strcit: no such policy file, and not a preset (presets: "
            "permissive, default, strict)");
}

TEST(LoaderTest, PresetsLoadAndKeepTheirText) {
  EXPECT_EQ(PresetNames(),
            (std::vector<std::string>{"permissive", "default", "strict"}));
  for (const std::string& name : PresetNames()) {
    auto policy = LoadPreset(name);
    ASSERT_TRUE(policy.has_value()) << policy.error().message();
    EXPECT_EQ(policy->name, name);
    auto text = PresetText(name);
    ASSERT_TRUE(text.has_value());
    EXPECT_NE(text->find("version: 1"), std::string::npos);
    // The embedded text is the file, byte for byte, and the preset compiled
    // at build time (compile_presets.cc) is what its YAML parses to.
    std::string path = SourceDir() + "/policies/presets/" + name + ".yaml";
    auto from_file = LoadPolicyFile(path);
    ASSERT_TRUE(from_file.has_value()) << from_file.error().message();
    from_file->name = name;
    EXPECT_EQ(*from_file, *policy);
  }
  EXPECT_FALSE(LoadPreset("nope").has_value());
  EXPECT_FALSE(PresetText("nope").has_value());
}

TEST(LoaderTest, PresetChoices) {
  Policy strict = testing::MustLoadPreset("strict");
  EXPECT_EQ(strict.syscalls.default_action.action, Action::kKill);
  EXPECT_EQ(strict.network, NetworkMode::kNone);
  EXPECT_EQ(strict.resources.memory_bytes, 256ull << 20);
  EXPECT_EQ(strict.resources.processes, 16u);
  EXPECT_EQ(strict.resources.cpu_time_ms, 10'000u);
  EXPECT_EQ(strict.resources.wall_time_ms, 30'000u);
  EXPECT_EQ(strict.resources.open_files, 64u);
  EXPECT_EQ(strict.resources.output_bytes, 1u << 20);
  EXPECT_EQ(strict.faults.cpuid, Action::kEmulate);
  EXPECT_EQ(strict.faults.rdtsc, Action::kEmulate);
  EXPECT_EQ(strict.faults.privileged_instruction, Action::kKill);
  EXPECT_EQ(strict.faults.page_fault, Action::kDeliver);
  EXPECT_EQ(strict.faults.invalid_instruction, Action::kDeliver);
  EXPECT_EQ(strict.faults.breakpoint, Action::kDeliver);
  EXPECT_EQ(strict.faults.arithmetic, Action::kDeliver);

  Policy def = testing::MustLoadPreset("default");
  EXPECT_EQ(def.syscalls.default_action,
            (ActionSpec{Action::kDeny, ENOSYS, 0}));
  EXPECT_EQ(def.network, NetworkMode::kLoopback);
  EXPECT_EQ(def.resources.memory_bytes, 1ull << 30);
  EXPECT_EQ(def.resources.processes, 256u);
  EXPECT_EQ(def.resources.cpu_time_ms, 60'000u);
  EXPECT_EQ(def.resources.wall_time_ms, 120'000u);
  EXPECT_EQ(def.resources.open_files, 1024u);
  EXPECT_EQ(def.resources.output_bytes, 16u << 20);
  EXPECT_EQ(def.faults.invalid_instruction, Action::kDeliver);
  EXPECT_EQ(def.faults.breakpoint, Action::kDeliver);
  EXPECT_EQ(def.faults.arithmetic, Action::kDeliver);

  Policy permissive = testing::MustLoadPreset("permissive");
  EXPECT_EQ(permissive.syscalls.default_action.action, Action::kAllow);
  EXPECT_EQ(permissive.network, NetworkMode::kHost);
  EXPECT_EQ(permissive.resources,
            (Resources{.wall_time_ms = 600'000, .output_bytes = 64u << 20}));
  for (FaultKind kind : kAllFaultKinds) {
    EXPECT_EQ(permissive.faults.For(kind), Action::kReport);
  }
}

// The schema example of policies/README.md, kept in step with it.
constexpr char kFullExample[] = R"yaml(
version: 1
syscalls:
  default: kill
  abi: {i386: kill, x32: {action: deny, errno: ENOSYS}}
  rules:
    - id: stdio
      syscalls: [read, write]
      action: allow
    - syscalls: [ptrace]
      action: deny
    - syscalls: [getuid]
      action: emulate
      return: 0
    - id: files
      syscalls: [open, openat, openat2, execve, newfstatat]
      paths:
        read: ["/usr/**", "{workdir}/**"]
        write: ["{workdir}/**"]
        exec: ["/usr/bin/*"]
      action: allow
      else: {action: deny, errno: EACCES}
    - syscalls: [socket]
      args:
        - {index: 0, op: eq, value: 1}
        - {index: 1, op: masked_eq, mask: 0xf, value: 1}
      action: allow
      else: {action: deny, errno: EAFNOSUPPORT}
    - id: fdcwd
      syscalls: [unlinkat]
      args: [{index: 0, op: ne, value: -100}]
      action: kill
      else: log
faults:
  privileged_instruction: kill
  cpuid: report
  rdtsc: emulate
  page_fault: deliver
  invalid_instruction: deliver
  breakpoint: report
  arithmetic: kill
  hide_hypervisor: false
resources:
  memory: 256MiB
  processes: 64
  cpu_time: 1500ms
  wall_time: 2m
  open_files: 256
  output: 1M
filesystem: {readonly: [/usr], writable: ["{workdir}"], tmpfs: [/tmp], hidden: [/root]}
network: loopback
identity: {hostname: sandbox, uid: 1000, gid: 0, user_namespace: true}
capabilities: [cap_net_bind_service, CAP_CHOWN, CAP_NET_BIND_SERVICE]
)yaml";

TEST(LoaderTest, FullExample) {
  Policy policy = MustParse(kFullExample);
  EXPECT_EQ(policy.name, "test.yaml");
  const SyscallPolicy& syscalls = policy.syscalls;
  EXPECT_EQ(syscalls.default_action.action, Action::kKill);
  EXPECT_EQ(syscalls.abi.i386.action, Action::kKill);
  EXPECT_EQ(syscalls.abi.x32, (ActionSpec{Action::kDeny, ENOSYS, 0}));
  ASSERT_EQ(syscalls.rules.size(), 6u);

  const Rule& stdio = syscalls.rules[0];
  EXPECT_EQ(stdio.id, "stdio");
  EXPECT_EQ(stdio.syscalls, (std::vector<int>{0, 1}));
  EXPECT_EQ(stdio.position, (SourcePosition{7, 7}));

  EXPECT_EQ(syscalls.rules[1].id, "rules[1]");
  EXPECT_EQ(syscalls.rules[1].action, (ActionSpec{Action::kDeny, EPERM, 0}));
  EXPECT_EQ(syscalls.rules[2].action, (ActionSpec{Action::kEmulate, 0, 0}));

  const Rule& files = syscalls.rules[3];
  ASSERT_TRUE(files.paths.has_value());
  EXPECT_EQ(files.paths->read,
            (std::vector<std::string>{"/usr/**", "{workdir}/**"}));
  EXPECT_EQ(files.paths->exec, (std::vector<std::string>{"/usr/bin/*"}));
  EXPECT_EQ(files.otherwise, (ActionSpec{Action::kDeny, EACCES, 0}));

  const Rule& socket = syscalls.rules[4];
  ASSERT_EQ(socket.args.size(), 2u);
  EXPECT_EQ(socket.args[0], (ArgCondition{0, CompareOp::kEq, 1, ~0ull}));
  EXPECT_EQ(socket.args[1], (ArgCondition{1, CompareOp::kMaskedEq, 1, 0xf}));

  const Rule& fdcwd = syscalls.rules[5];
  EXPECT_EQ(fdcwd.args[0].value, static_cast<uint64_t>(-100));
  EXPECT_EQ(fdcwd.otherwise, (ActionSpec{Action::kLog}));

  EXPECT_EQ(policy.faults.rdtsc, Action::kEmulate);
  EXPECT_EQ(policy.faults.invalid_instruction, Action::kDeliver);
  EXPECT_EQ(policy.faults.breakpoint, Action::kReport);
  EXPECT_EQ(policy.faults.arithmetic, Action::kKill);
  EXPECT_FALSE(policy.faults.hide_hypervisor);
  EXPECT_EQ(policy.resources.memory_bytes, 256u << 20);
  EXPECT_EQ(policy.resources.cpu_time_ms, 1500u);
  EXPECT_EQ(policy.resources.wall_time_ms, 120'000u);
  EXPECT_EQ(policy.resources.output_bytes, 1u << 20);
  EXPECT_EQ(policy.filesystem.writable,
            (std::vector<std::string>{"{workdir}"}));
  EXPECT_EQ(policy.network, NetworkMode::kLoopback);
  EXPECT_EQ(policy.identity.hostname, "sandbox");
  EXPECT_EQ(policy.identity.uid, 1000u);
  EXPECT_EQ(policy.identity.gid, 0u);
  EXPECT_TRUE(policy.identity.user_namespace);
  EXPECT_EQ(policy.capabilities,
            (std::vector<std::string>{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}));
}

// Path rules next to io_uring_setup: every read could go through a ring's
// IORING_OP_OPENAT instead. Refused, naming the rule that allows it.
constexpr std::string_view kUringNextToPaths = R"yaml(version: 1
network: host
syscalls:
  default: {action: deny, errno: ENOSYS}
  rules:
    - id: files
      syscalls: [openat]
      paths: {read: ["/usr/**"]}
      action: allow
      else: {action: deny, errno: EACCES}
    - id: uring
      syscalls: [io_uring_setup, io_uring_enter]
      action: allow
)yaml";

TEST(LoaderHolesTest, PathRulesWithIoUringAreRefusedNamingTheRule) {
  auto policy = ParsePolicy(kUringNextToPaths, "p.yaml");
  ASSERT_FALSE(policy.has_value());
  EXPECT_EQ(policy.error().code(), ErrorCode::kPolicy);
  const std::string& message = policy.error().message();
  EXPECT_TRUE(message.starts_with(
      "p.yaml:11:7: syscalls.rules[1] (rule 'uring'): lets io_uring_setup "
      "run, a hole: it reaches files with no path isoscope can check, while "
      "rule 'files' checks paths"))
      << message;
  EXPECT_NE(message.find("accepted_holes: [{syscalls: [io_uring_setup]"),
            std::string::npos)
      << message;
  // Only the hole call is named: io_uring_enter needs a ring first.
  EXPECT_EQ(message.find("io_uring_enter"), std::string::npos) << message;
}

TEST(LoaderHolesTest, AcceptedHoleLoadsWithItsReason) {
  std::string yaml = std::string(kUringNextToPaths) + R"yaml(accepted_holes:
  - syscalls: [io_uring_setup]
    reason: "the workload is an io_uring benchmark"
)yaml";
  auto policy = ParsePolicy(yaml, "p.yaml");
  ASSERT_TRUE(policy.has_value()) << policy.error().message();
  ASSERT_EQ(policy->accepted_holes.size(), 1u);
  const AcceptedHole& accepted = policy->accepted_holes[0];
  EXPECT_EQ(accepted.syscalls,
            (std::vector<int>{SyscallNumber("io_uring_setup").value()}));
  EXPECT_EQ(accepted.reason, "the workload is an io_uring benchmark");
  EXPECT_EQ(accepted.position, (SourcePosition{15, 5}));
  EXPECT_EQ(policy->syscalls.default_position, (SourcePosition{4, 12}));
}

TEST(LoaderHolesTest, AcceptedHolesAreCheckedLikeEveryField) {
  const std::string base(kUringNextToPaths);
  struct Case {
    std::string tail;
    std::string expected;
  };
  const Case cases[] = {
      {"accepted_holes: {syscalls: [io_uring_setup]}\n",
       "p.yaml:14:17: accepted_holes: expected a list of {syscalls, reason}, "
       "got a mapping"},
      {"accepted_holes:\n  - {syscalls: [io_uring_setup]}\n",
       "p.yaml:15:5: accepted_holes[0].reason: required key is missing (say "
       "why this hole is acceptable)"},
      {"accepted_holes:\n  - {reason: x}\n",
       "p.yaml:15:5: accepted_holes[0].syscalls: required key is missing"},
      {"accepted_holes:\n  - {syscalls: [io_uring], reason: x}\n",
       "p.yaml:15:17: accepted_holes[0].syscalls[0]: unknown x86-64 syscall "
       "'io_uring'"},
      {"accepted_holes:\n  - {syscalls: [], reason: x}\n",
       "p.yaml:15:16: accepted_holes[0].syscalls: empty list (name at least "
       "one syscall)"},
      {"accepted_holes:\n  - {syscalls: [io_uring_setup], reason: x, "
       "because: y}\n",
       "p.yaml:15:45: accepted_holes[0].because: unknown key (expected "
       "syscalls, reason)"},
  };
  for (const Case& c : cases) {
    auto policy = ParsePolicy(base + c.tail, "p.yaml");
    ASSERT_FALSE(policy.has_value()) << c.tail;
    EXPECT_EQ(policy.error().message(), c.expected);
  }
}

TEST(LoaderHolesTest, RefuseHolesOffLoadsAnOpenPolicyForTests) {
  auto policy =
      ParsePolicy(kUringNextToPaths, "p.yaml", {.refuse_holes = false});
  ASSERT_TRUE(policy.has_value()) << policy.error().message();
  EXPECT_EQ(policy->syscalls.rules.size(), 2u);
}

TEST(LoaderHolesTest, EveryPresetLoadsWithItsHolesAccepted) {
  for (const std::string& name : PresetNames()) {
    auto policy = LoadPreset(name);
    EXPECT_TRUE(policy.has_value())
        << name << ": " << (policy ? "" : policy.error().message());
    // The same text from a file is held to the same check.
    auto text = PresetText(name);
    ASSERT_TRUE(text.has_value());
    EXPECT_TRUE(ParsePolicy(*text, name).has_value()) << name;
  }
}

TEST(LoaderTest, MinimalPolicyFailsClosed) {
  Policy policy = MustParse("version: 1\n");
  EXPECT_EQ(policy.syscalls.default_action.action, Action::kKill);
  EXPECT_EQ(policy.syscalls.abi.i386.action, Action::kKill);
  EXPECT_EQ(policy.syscalls.abi.x32.action, Action::kKill);
  EXPECT_TRUE(policy.syscalls.rules.empty());
  EXPECT_EQ(policy.network, NetworkMode::kNone);
  EXPECT_EQ(policy.resources, Resources{});
  EXPECT_EQ(policy.faults, FaultPolicy{});
}

TEST(LoaderTest, FaultDefaults) {
  const FaultPolicy faults;
  EXPECT_EQ(faults.For(FaultKind::kPrivilegedInstruction), Action::kKill);
  EXPECT_EQ(faults.For(FaultKind::kCpuid), Action::kReport);
  EXPECT_EQ(faults.For(FaultKind::kRdtsc), Action::kReport);
  EXPECT_EQ(faults.For(FaultKind::kPageFault), Action::kDeliver);
  EXPECT_EQ(faults.For(FaultKind::kInvalidInstruction), Action::kDeliver);
  EXPECT_EQ(faults.For(FaultKind::kBreakpoint), Action::kDeliver);
  EXPECT_EQ(faults.For(FaultKind::kArithmetic), Action::kDeliver);
  EXPECT_TRUE(faults.hide_hypervisor);
}

// Every kind takes every fault action but `emulate`, which only the kinds
// with an instruction result to make up accept; each key sets only its kind.
TEST(LoaderTest, EveryFaultKindAndAction) {
  const std::pair<std::string_view, Action> actions[] = {
      {"kill", Action::kKill},
      {"report", Action::kReport},
      {"deliver", Action::kDeliver},
      {"emulate", Action::kEmulate}};
  for (FaultKind kind : kAllFaultKinds) {
    const std::string name(FaultKindName(kind));
    for (const auto& [word, action] : actions) {
      SCOPED_TRACE(name + ": " + std::string(word));
      auto policy = ParsePolicy(
          fmt::format("version: 1\nfaults:\n  {}: {}\n", name, word), "p");
      if (action == Action::kEmulate && !CanEmulate(kind)) {
        ASSERT_FALSE(policy.has_value());
        EXPECT_EQ(policy.error().message(),
                  fmt::format("p:3:{}: faults.{}: emulate is not possible for "
                              "{} (expected kill, report, deliver)",
                              name.size() + 5, name, name));
        continue;
      }
      ASSERT_TRUE(policy.has_value()) << policy.error().message();
      for (FaultKind other : kAllFaultKinds) {
        EXPECT_EQ(policy->faults.For(other),
                  other == kind ? action : FaultPolicy{}.For(other))
            << FaultKindName(other);
      }
    }
  }
  EXPECT_TRUE(CanEmulate(FaultKind::kPrivilegedInstruction));
  EXPECT_TRUE(CanEmulate(FaultKind::kCpuid));
  EXPECT_TRUE(CanEmulate(FaultKind::kRdtsc));
  EXPECT_FALSE(CanEmulate(FaultKind::kPageFault));
  EXPECT_FALSE(CanEmulate(FaultKind::kInvalidInstruction));
  EXPECT_FALSE(CanEmulate(FaultKind::kBreakpoint));
  EXPECT_FALSE(CanEmulate(FaultKind::kArithmetic));
}

TEST(LoaderTest, EmulateReturnsSignedValues) {
  Policy policy = MustParse(
      "version: 1\nsyscalls:\n  rules:\n"
      "    - {syscalls: [getuid], action: emulate, return: -1}\n"
      "    - {syscalls: [getgid], action: emulate, return: 0x10}\n");
  EXPECT_EQ(policy.syscalls.rules[0].action.emulate_value, -1);
  EXPECT_EQ(policy.syscalls.rules[1].action.emulate_value, 16);
  auto too_big = ParsePolicy(
      "version: 1\nsyscalls:\n  rules:\n"
      "    - {syscalls: [getuid], action: emulate, return: "
      "9223372036854775808}\n",
      "p.yaml");
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().message(),
            "p.yaml:4:53: syscalls.rules[0].return: '9223372036854775808' "
            "does not fit in a signed 64-bit value");
}

TEST(LoaderTest, ScalarActionErrorsNameTheField) {
  auto policy = ParsePolicy("version: 1\nsyscalls: {default: emulate}\n", "p");
  ASSERT_FALSE(policy.has_value());
  EXPECT_EQ(policy.error().message(),
            "p:2:21: syscalls.default.return: action emulate needs a return "
            "value");
  auto abi = ParsePolicy("version: 1\nsyscalls: {abi: {x32: log}}\n", "p");
  ASSERT_FALSE(abi.has_value());
  EXPECT_EQ(abi.error().message(),
            "p:2:23: syscalls.abi.x32: action 'log' is not possible for a "
            "non-native ABI (expected kill or deny)");
}

TEST(LoaderTest, GarbageNeverThrows) {
  std::mt19937 rng(12345);
  const std::string alphabet = "version: 1\n-[]{}:,'\"&*!|>#%@`? \t0x";
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    size_t length = rng() % 80;
    for (size_t j = 0; j < length; ++j) {
      text += alphabet[rng() % alphabet.size()];
    }
    EXPECT_NO_THROW({
      auto policy = ParsePolicy(text, "fuzz");
      if (!policy) {
        EXPECT_EQ(policy.error().code(), ErrorCode::kPolicy);
      }
    });
  }
}

TEST(UnitsTest, Sizes) {
  EXPECT_EQ(ParseSize("0"), 0u);
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_EQ(ParseSize("12B"), 12u);
  EXPECT_EQ(ParseSize("1KiB"), 1024u);
  EXPECT_EQ(ParseSize("1K"), 1024u);
  EXPECT_EQ(ParseSize("256MiB"), 256u << 20);
  EXPECT_EQ(ParseSize("256 MiB"), 256u << 20);
  EXPECT_EQ(ParseSize("3G"), 3ull << 30);
  EXPECT_EQ(ParseSize("2TiB"), 2ull << 40);
  EXPECT_EQ(ParseSize("16777215TiB"), 16777215ull << 40);
  EXPECT_FALSE(ParseSize("16777216TiB").has_value());  // 2^64
  EXPECT_FALSE(ParseSize("18446744073709551616").has_value());
  EXPECT_EQ(ParseSize("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(ParseSize("-1").has_value());
  EXPECT_FALSE(ParseSize("1MB").has_value());
  EXPECT_FALSE(ParseSize("1.5GiB").has_value());
  EXPECT_FALSE(ParseSize("MiB").has_value());
  EXPECT_FALSE(ParseSize("").has_value());
  EXPECT_EQ(ParseSize("1mib").error().message(),
            "unknown unit 'mib' in size '1mib' (expected B, K, KiB, M, MiB, "
            "G, GiB, T, TiB)");
}

TEST(UnitsTest, Durations) {
  EXPECT_EQ(ParseDurationMs("250ms"), 250u);
  EXPECT_EQ(ParseDurationMs("10s"), 10'000u);
  EXPECT_EQ(ParseDurationMs("2m"), 120'000u);
  EXPECT_EQ(ParseDurationMs("1h"), 3'600'000u);
  EXPECT_FALSE(ParseDurationMs("10").has_value());
  EXPECT_FALSE(ParseDurationMs("10d").has_value());
  EXPECT_FALSE(ParseDurationMs("-1s").has_value());
  EXPECT_FALSE(ParseDurationMs("18446744073709551615h").has_value());
  EXPECT_EQ(ParseDurationMs("10").error().message(),
            "duration '10' needs a unit (ms, s, m, h)");
}

TEST(UnitsTest, Integers) {
  EXPECT_EQ(ParseUnsigned("0"), 0u);
  EXPECT_EQ(ParseUnsigned("42"), 42u);
  EXPECT_EQ(ParseUnsigned("0x1F"), 31u);
  EXPECT_EQ(ParseUnsigned("0xffffffffffffffff"), UINT64_MAX);
  EXPECT_FALSE(ParseUnsigned("0x10000000000000000").has_value());
  EXPECT_FALSE(ParseUnsigned("0xg").has_value());
  EXPECT_FALSE(ParseUnsigned("12a").has_value());
  EXPECT_FALSE(ParseUnsigned("-3").has_value());
  EXPECT_FALSE(ParseUnsigned("").has_value());
}

}  // namespace
}  // namespace isoscope
