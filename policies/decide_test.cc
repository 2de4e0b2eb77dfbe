#include "policies/decide.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "policies/syscalls.h"
#include "policies/test_support.h"

namespace isoscope {
namespace {

using testing::MustLoadPreset;
using testing::MustParse;

int Nr(const char* name) { return SyscallNumber(name).value(); }

SyscallRequest Call(const char* name, std::vector<PathArgument> paths = {},
                    std::array<uint64_t, 6> args = {}) {
  SyscallRequest request;
  request.number = Nr(name);
  request.args = args;
  request.paths = std::move(paths);
  return request;
}

// openat(AT_FDCWD, path, flags)
SyscallRequest OpenAt(const std::string& path, uint64_t flags) {
  return Call("openat", {{1, path}},
              {static_cast<uint64_t>(AT_FDCWD), 0, flags, 0, 0, 0});
}

SyscallRequest Exec(const std::string& path) {
  return Call("execve", {{0, path}});
}

TEST(NormalizePathTest, Lexical) {
  EXPECT_EQ(NormalizePath("/"), "/");
  EXPECT_EQ(NormalizePath("/a/./b/../c"), "/a/c");
  EXPECT_EQ(NormalizePath("//usr///lib/"), "/usr/lib");
  EXPECT_EQ(NormalizePath("/.."), "/");
  EXPECT_EQ(NormalizePath("/../../etc/shadow"), "/etc/shadow");
  EXPECT_EQ(NormalizePath("/tmp/../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(NormalizePath("/a/b/.."), "/a");
  EXPECT_EQ(NormalizePath("/a/..."), "/a/...");
  EXPECT_EQ(NormalizePath("relative/../x"), "relative/../x");
  EXPECT_EQ(NormalizePath(""), "");
}

TEST(GlobMatchTest, Components) {
  EXPECT_TRUE(GlobMatch("/usr/bin/*", "/usr/bin/ls"));
  EXPECT_FALSE(GlobMatch("/usr/bin/*", "/usr/bin"));
  EXPECT_FALSE(GlobMatch("/usr/bin/*", "/usr/bin/x/y"));
  EXPECT_TRUE(GlobMatch("/usr/bin/l?", "/usr/bin/ls"));
  EXPECT_FALSE(GlobMatch("/usr/bin/l?", "/usr/bin/l"));
  EXPECT_TRUE(GlobMatch("/etc/ssh/ssh_host_*", "/etc/ssh/ssh_host_rsa_key"));
  EXPECT_TRUE(GlobMatch("/a/*.so*", "/a/libc.so.6"));
  EXPECT_FALSE(GlobMatch("/a/*.so", "/a/libc.so.6"));
  EXPECT_TRUE(GlobMatch("/dev/null", "/dev/null"));
  EXPECT_FALSE(GlobMatch("/dev/null", "/dev/nullx"));
  EXPECT_FALSE(GlobMatch("/dev/null", "dev/null"));
}

TEST(GlobMatchTest, DoubleStar) {
  EXPECT_TRUE(GlobMatch("/usr/**", "/usr"));
  EXPECT_TRUE(GlobMatch("/usr/**", "/usr/lib"));
  EXPECT_TRUE(GlobMatch("/usr/**", "/usr/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_FALSE(GlobMatch("/usr/**", "/usrx"));
  EXPECT_FALSE(GlobMatch("/usr/**", "/"));
  EXPECT_TRUE(GlobMatch("/**", "/"));
  EXPECT_TRUE(GlobMatch("/**", "/anything/at/all"));
  EXPECT_TRUE(GlobMatch("/a/**/z", "/a/z"));
  EXPECT_TRUE(GlobMatch("/a/**/z", "/a/b/c/z"));
  EXPECT_FALSE(GlobMatch("/a/**/z", "/a/b/c/y"));
  EXPECT_TRUE(GlobMatch("/a/**/**/z", "/a/b/z"));
  EXPECT_TRUE(GlobMatch("/a/**/*.txt", "/a/b/c.txt"));
  // "**" inside a component is two stars: it stays within the component.
  EXPECT_TRUE(GlobMatch("/a/x**", "/a/xyz"));
  EXPECT_FALSE(GlobMatch("/a/x**", "/a/x/y"));
}

TEST(DecideTest, AbiAndDefault) {
  Policy policy = MustParse(
      "version: 1\nsyscalls:\n  default: {action: deny, errno: ENOSYS}\n"
      "  abi: {i386: kill, x32: {action: deny, errno: EPERM}}\n");
  SyscallRequest request;
  request.abi = Abi::kI386;
  request.number = 1;
  Verdict verdict = Decide(policy, request);
  EXPECT_EQ(verdict.action.action, Action::kKill);
  EXPECT_EQ(verdict.rule_id, "syscalls.abi.i386");
  request.abi = Abi::kX32;
  verdict = Decide(policy, request);
  EXPECT_EQ(verdict.action, (ActionSpec{Action::kDeny, EPERM, 0}));
  EXPECT_EQ(verdict.rule_id, "syscalls.abi.x32");
  verdict = Decide(policy, Call("read"));
  EXPECT_EQ(verdict.action, (ActionSpec{Action::kDeny, ENOSYS, 0}));
  EXPECT_EQ(verdict.rule_id, "syscalls.default");
  EXPECT_EQ(verdict.reason,
            "read: no rule names it; syscalls.default: deny ENOSYS");
  SyscallRequest unknown;
  unknown.number = 100000;
  EXPECT_EQ(Decide(policy, unknown).rule_id, "syscalls.default");
}

constexpr char kRules[] = R"yaml(
version: 1
syscalls:
  default: kill
  rules:
    - id: small-writes
      syscalls: [write]
      args: [{index: 2, op: lt, value: 100}]
      action: allow
    - id: stdout
      syscalls: [write]
      args: [{index: 0, op: eq, value: 1}]
      action: log
      else: {action: deny, errno: EBADF}
    - id: never-reached
      syscalls: [write]
      action: allow
    - syscalls: [ioctl]
      args: [{index: 1, op: masked_eq, mask: 0xff00, value: 0x5400}]
      action: allow
    - syscalls: [getuid]
      action: emulate
      return: 0
    - id: files
      syscalls: [openat, openat2, execve, rename]
      paths:
        read: ["/usr/**", "/work/**"]
        write: ["/work/**"]
        exec: ["/usr/bin/*"]
      action: allow
      else: {action: deny, errno: EACCES}
)yaml";

TEST(DecideTest, FirstMatchElseAndFallThrough) {
  Policy policy = MustParse(kRules);
  Verdict verdict = Decide(policy, Call("write", {}, {2, 0, 10}));
  EXPECT_EQ(verdict.action.action, Action::kAllow);
  EXPECT_EQ(verdict.rule_id, "small-writes");
  verdict = Decide(policy, Call("write", {}, {1, 0, 1000}));
  EXPECT_EQ(verdict.action.action, Action::kLog);
  EXPECT_EQ(verdict.rule_id, "stdout");
  verdict = Decide(policy, Call("write", {}, {2, 0, 1000}));
  EXPECT_EQ(verdict.action, (ActionSpec{Action::kDeny, EBADF, 0}));
  EXPECT_EQ(verdict.rule_id, "stdout.else");
  EXPECT_EQ(verdict.reason,
            "write arg0 = 0x2 fails eq 0x1 in rule 'stdout'; else branch: "
            "deny EBADF");

  verdict = Decide(policy, Call("ioctl", {}, {0, 0x5413}));
  EXPECT_EQ(verdict.rule_id, "rules[3]");
  verdict = Decide(policy, Call("ioctl", {}, {0, 0x8913}));
  EXPECT_EQ(verdict.rule_id, "syscalls.default");
  EXPECT_EQ(verdict.action.action, Action::kKill);
  EXPECT_EQ(verdict.reason,
            "ioctl: no rule applies (last tried 'rules[3]'); "
            "syscalls.default: kill");

  verdict = Decide(policy, Call("getuid"));
  EXPECT_EQ(verdict.action, (ActionSpec{Action::kEmulate, 0, 0}));
}

TEST(DecideTest, ComparisonOps) {
  const std::pair<const char*, std::vector<bool>> kCases[] = {
      // results for arg = 4, 5, 6 against value 5
      {"eq", {false, true, false}}, {"ne", {true, false, true}},
      {"lt", {true, false, false}}, {"le", {true, true, false}},
      {"gt", {false, false, true}}, {"ge", {false, true, true}},
  };
  for (const auto& [op, expected] : kCases) {
    Policy policy = MustParse(
        std::string("version: 1\nsyscalls:\n  rules:\n"
                    "    - syscalls: [close]\n      args: [{index: 0, op: ") +
        op + ", value: 5}]\n      action: allow\n");
    for (uint64_t arg = 4; arg <= 6; ++arg) {
      bool allowed = Decide(policy, Call("close", {}, {arg})).action.action ==
                     Action::kAllow;
      EXPECT_EQ(allowed, expected[arg - 4]) << op << " " << arg;
    }
  }
  // Unsigned: -1 is the largest value.
  Policy policy = MustParse(
      "version: 1\nsyscalls:\n  rules:\n    - syscalls: [close]\n"
      "      args: [{index: 0, op: gt, value: 100}]\n      action: allow\n");
  EXPECT_EQ(Decide(policy, Call("close", {}, {~0ull})).action.action,
            Action::kAllow);
}

TEST(DecideTest, PathsByIntent) {
  Policy policy = MustParse(kRules);
  Verdict verdict = Decide(policy, OpenAt("/usr/lib/libc.so.6", O_RDONLY));
  EXPECT_EQ(verdict.action.action, Action::kAllow);
  EXPECT_EQ(verdict.rule_id, "files");
  EXPECT_EQ(verdict.reason,
            "openat path '/usr/lib/libc.so.6' (read) matches rule 'files': "
            "allow");
  for (uint64_t flags : {O_WRONLY, O_RDWR, O_RDONLY | O_CREAT,
                         O_RDONLY | O_TRUNC, O_RDONLY | O_APPEND}) {
    verdict = Decide(policy, OpenAt("/usr/lib/libc.so.6", flags));
    EXPECT_EQ(verdict.rule_id, "files.else") << flags;
    EXPECT_EQ(Decide(policy, OpenAt("/work/out", flags)).rule_id, "files");
  }
  verdict = Decide(policy, OpenAt("/etc/shadow", O_RDONLY));
  EXPECT_EQ(verdict.action, (ActionSpec{Action::kDeny, EACCES, 0}));
  EXPECT_EQ(verdict.rule_id, "files.else");
  EXPECT_EQ(verdict.reason,
            "openat path '/etc/shadow' (read) matches no read glob of rule "
            "'files'; else branch: deny EACCES");
  // Lexical normalisation happens before matching.
  EXPECT_EQ(Decide(policy, OpenAt("/usr/../etc/shadow", O_RDONLY)).rule_id,
            "files.else");
  EXPECT_EQ(Decide(policy, OpenAt("/work/a/../../usr/lib/x", O_RDONLY)).rule_id,
            "files");
  EXPECT_EQ(Decide(policy, OpenAt("/work/../etc/passwd", O_RDONLY)).rule_id,
            "files.else");

  EXPECT_EQ(Decide(policy, Exec("/usr/bin/ls")).rule_id, "files");
  EXPECT_EQ(Decide(policy, Exec("/usr/lib/ld.so")).rule_id, "files.else");
  EXPECT_EQ(Decide(policy, Exec("/work/prog")).rule_id, "files.else");
}

TEST(DecideTest, MissingPathFailsClosed) {
  Policy policy = MustParse(kRules);
  SyscallRequest request = OpenAt("/usr/lib/x", O_RDONLY);
  request.paths.clear();
  Verdict verdict = Decide(policy, request);
  EXPECT_EQ(verdict.rule_id, "files.else");
  EXPECT_EQ(verdict.reason,
            "openat path argument 1 was not decoded (fails closed) for rule "
            "'files'; else branch: deny EACCES");
  // A path for the wrong argument does not count.
  request.paths = {{0, "/usr/lib/x"}};
  EXPECT_EQ(Decide(policy, request).rule_id, "files.else");
}

TEST(DecideTest, EveryPathOfAMultiPathCallMustMatch) {
  Policy policy = MustParse(kRules);
  EXPECT_EQ(
      Decide(policy, Call("rename", {{0, "/work/a"}, {1, "/work/b"}})).rule_id,
      "files");
  EXPECT_EQ(
      Decide(policy, Call("rename", {{0, "/work/a"}, {1, "/usr/b"}})).rule_id,
      "files.else");
  EXPECT_EQ(Decide(policy, Call("rename", {{0, "/work/a"}})).rule_id,
            "files.else");
}

TEST(DecideTest, Openat2UsesDecodedFlags) {
  Policy policy = MustParse(kRules);
  SyscallRequest request = Call("openat2", {{1, "/usr/lib/x"}});
  Verdict verdict = Decide(policy, request);
  EXPECT_EQ(verdict.rule_id, "files.else");  // flags unknown: fails closed
  EXPECT_EQ(verdict.reason,
            "openat2 flags were not decoded (fails closed) in rule 'files'; "
            "else branch: deny EACCES");
  request.open_flags = O_RDONLY;
  EXPECT_EQ(Decide(policy, request).rule_id, "files");
  request.open_flags = O_WRONLY;
  EXPECT_EQ(Decide(policy, request).rule_id, "files.else");
  request.paths = {{1, "/work/new"}};
  request.open_flags = O_CREAT | O_RDWR;
  EXPECT_EQ(Decide(policy, request).rule_id, "files");
  // Register arguments do not stand in for the struct's flags.
  request.open_flags.reset();
  request.args[2] = O_RDONLY;
  EXPECT_EQ(Decide(policy, request).rule_id, "files.else");
}

TEST(DecideTest, Faults) {
  Policy policy = MustLoadPreset("strict");
  Verdict verdict = DecideFault(policy, {FaultKind::kCpuid});
  EXPECT_EQ(verdict.action.action, Action::kEmulate);
  EXPECT_EQ(verdict.rule_id, "faults.cpuid");
  verdict = DecideFault(policy, {FaultKind::kPrivilegedInstruction});
  EXPECT_EQ(verdict.action.action, Action::kKill);
  EXPECT_EQ(verdict.rule_id, "faults.privileged_instruction");
  EXPECT_EQ(DecideFault(policy, {FaultKind::kPageFault}).rule_id,
            "faults.page_fault");
  EXPECT_EQ(DecideFault(policy, {FaultKind::kRdtsc}).rule_id, "faults.rdtsc");
  verdict = DecideFault(policy, {FaultKind::kArithmetic});
  EXPECT_EQ(verdict.action.action, Action::kDeliver);
  EXPECT_EQ(verdict.rule_id, "faults.arithmetic");
  EXPECT_EQ(verdict.reason, "arithmetic fault: faults.arithmetic is deliver");
  EXPECT_EQ(DecideFault(policy, {FaultKind::kInvalidInstruction}).rule_id,
            "faults.invalid_instruction");
  EXPECT_EQ(DecideFault(policy, {FaultKind::kBreakpoint}).rule_id,
            "faults.breakpoint");
}

TEST(DecideTest, Names) {
  EXPECT_EQ(ActionName(Action::kDeliver), "deliver");
  EXPECT_EQ(PathIntentName(PathIntent::kExec), "exec");
  EXPECT_EQ(FaultKindName(FaultKind::kPrivilegedInstruction),
            "privileged_instruction");
  EXPECT_EQ(FaultKindName(FaultKind::kCpuid), "cpuid");
  EXPECT_EQ(FaultKindName(FaultKind::kRdtsc), "rdtsc");
  EXPECT_EQ(FaultKindName(FaultKind::kPageFault), "page_fault");
  EXPECT_EQ(FaultKindName(FaultKind::kInvalidInstruction),
            "invalid_instruction");
  EXPECT_EQ(FaultKindName(FaultKind::kBreakpoint), "breakpoint");
  EXPECT_EQ(FaultKindName(FaultKind::kArithmetic), "arithmetic");
  EXPECT_EQ(NetworkModeName(NetworkMode::kLoopback), "loopback");
  EXPECT_EQ(AbiName(Abi::kX32), "x32");
  EXPECT_EQ(DescribeAction({Action::kDeny, EACCES, 0}), "deny EACCES");
  EXPECT_EQ(DescribeAction({Action::kEmulate, 0, -1}), "emulate -1");
}

SyscallRequest Clone(uint64_t flags) {
  return Call("clone", {}, {flags, 0, 0, 0, 0, 0});
}

// `default` refuses unshare in its `admin` rule; a clone that would create
// a user namespace gets the same answer from the same rule.
TEST(DecideNamespacesTest, CloneNewUserUnderDefaultIsDeniedByTheUnshareRule) {
  Policy policy = MustLoadPreset("default");
  Verdict verdict = Decide(policy, Clone(CLONE_NEWUSER | SIGCHLD));
  EXPECT_EQ(verdict.action, (ActionSpec{Action::kDeny, EPERM, 0}));
  EXPECT_EQ(verdict.rule_id, "admin");
  EXPECT_EQ(verdict.reason,
            "clone with CLONE_NEWUSER creates namespaces, decided as unshare: "
            "unshare matches rule 'admin': deny EPERM");
  // Every namespace flag, alone or together, and with thread flags.
  for (uint64_t flags :
       {uint64_t{CLONE_NEWNS}, uint64_t{CLONE_NEWCGROUP},
        uint64_t{CLONE_NEWUTS}, uint64_t{CLONE_NEWIPC}, uint64_t{CLONE_NEWPID},
        uint64_t{CLONE_NEWNET},
        kCloneNamespaceFlags | CLONE_VM | CLONE_THREAD | CLONE_SIGHAND}) {
    EXPECT_EQ(Decide(policy, Clone(flags)).rule_id, "admin") << flags;
  }
  // An ordinary fork or thread is the `processes` rule's.
  EXPECT_EQ(Decide(policy, Clone(SIGCHLD)).rule_id, "processes");
  EXPECT_EQ(Decide(policy, Clone(CLONE_VM | CLONE_THREAD | CLONE_SIGHAND |
                                 CLONE_SETTLS))
                .action.action,
            Action::kAllow);
  // 0x80 is CLONE_NEWTIME for unshare and clone3, but clone's exit signal.
  EXPECT_EQ(Decide(policy, Clone(0x80 | SIGCHLD)).rule_id, "processes");
  // clone3's flags cannot be read by a filter: ENOSYS, so libc uses clone.
  Verdict clone3 = Decide(policy, Call("clone3"));
  EXPECT_EQ(clone3.action, (ActionSpec{Action::kDeny, ENOSYS, 0}));
  EXPECT_EQ(clone3.rule_id, "admin.clone3");
  EXPECT_NE(clone3.reason.find("CLONE_NEWNS"), std::string::npos)
      << clone3.reason;
}

TEST(DecideNamespacesTest, PresetsFollowTheirUnshareRule) {
  Policy strict = MustLoadPreset("strict");
  EXPECT_EQ(Decide(strict, Clone(CLONE_NEWNET | SIGCHLD)).action.action,
            Action::kKill);
  EXPECT_EQ(Decide(strict, Clone(CLONE_NEWNET | SIGCHLD)).rule_id, "escape");
  // strict never named clone3: its own default kills it first.
  EXPECT_EQ(Decide(strict, Call("clone3")).rule_id, "syscalls.default");
  Policy permissive = MustLoadPreset("permissive");
  Verdict logged = Decide(permissive, Clone(CLONE_NEWUSER | SIGCHLD));
  EXPECT_EQ(logged.action.action, Action::kLog);
  EXPECT_EQ(logged.rule_id, "namespaces");
  EXPECT_EQ(Decide(permissive, Clone(SIGCHLD)).action.action, Action::kAllow);
  // A logged unshare is not plainly allowed: clone3 would create namespaces
  // unrecorded, so it is refused and libc's clone is logged instead.
  EXPECT_EQ(Decide(permissive, Call("clone3")).rule_id, "namespaces.clone3");
}

TEST(DecideNamespacesTest, OnlyAStricterUnshareAnswerOverridesClone) {
  auto policy_with = [](const std::string& clone_rule,
                        const std::string& unshare_rule) {
    return MustParse("version: 1\nsyscalls:\n  default: allow\n  rules:\n" +
                     unshare_rule + clone_rule);
  };
  const std::string clone_allowed =
      "    - {id: c, syscalls: [clone, clone3], action: allow}\n";
  // unshare allowed: clone and clone3 keep their own rule.
  Policy open = policy_with(
      clone_allowed, "    - {id: u, syscalls: [unshare], action: allow}\n");
  EXPECT_EQ(Decide(open, Clone(CLONE_NEWUSER)).rule_id, "c");
  EXPECT_EQ(Decide(open, Call("clone3")).rule_id, "c");
  // unshare killed: so is the clone, but a clone that is itself denied
  // stays denied (it creates nothing).
  Policy killed = policy_with(
      clone_allowed, "    - {id: u, syscalls: [unshare], action: kill}\n");
  EXPECT_EQ(Decide(killed, Clone(CLONE_NEWUSER)).action.action, Action::kKill);
  Policy clone_denied = policy_with(
      "    - {id: c, syscalls: [clone, clone3], action: deny, errno: EAGAIN}\n",
      "    - {id: u, syscalls: [unshare], action: kill}\n");
  EXPECT_EQ(Decide(clone_denied, Clone(CLONE_NEWUSER)).rule_id, "c");
  EXPECT_EQ(Decide(clone_denied, Call("clone3")).rule_id, "c");
  // An emulated unshare cannot become an emulated clone.
  Policy emulated = policy_with(
      clone_allowed,
      "    - {id: u, syscalls: [unshare], action: emulate, return: 0}\n");
  Verdict verdict = Decide(emulated, Clone(CLONE_NEWPID));
  EXPECT_EQ(verdict.action, (ActionSpec{Action::kDeny, EPERM, 0}));
  EXPECT_EQ(verdict.rule_id, "u");
  // unshare allowed only for a mount namespace: clone follows the flags,
  // and clone3 (flags unknown) is refused.
  Policy mount_only = policy_with(
      clone_allowed,
      "    - {id: u, syscalls: [unshare], args: [{index: 0, op: eq, value: "
      "0x20000}], action: allow, else: {action: deny, errno: EPERM}}\n");
  EXPECT_EQ(Decide(mount_only, Clone(CLONE_NEWNS | SIGCHLD)).rule_id, "c");
  EXPECT_EQ(Decide(mount_only, Clone(CLONE_NEWNS | CLONE_NEWUSER)).rule_id,
            "u.else");
  EXPECT_EQ(Decide(mount_only, Call("clone3")).rule_id, "u.else.clone3");
}

TEST(WithWorkdirTest, ReplacesPlaceholders) {
  Policy policy = MustLoadPreset("default");
  Policy bound = WithWorkdir(policy, "/srv/run/./7/");
  EXPECT_EQ(bound.filesystem.writable,
            (std::vector<std::string>{"/srv/run/7"}));
  bool found = false;
  for (const Rule& rule : bound.syscalls.rules) {
    if (rule.id != "files") continue;
    found = true;
    EXPECT_NE(std::find(rule.paths->write.begin(), rule.paths->write.end(),
                        "/srv/run/7/**"),
              rule.paths->write.end());
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(
      Decide(bound, OpenAt("/srv/run/7/out.txt", O_WRONLY | O_CREAT)).rule_id,
      "files");
  EXPECT_EQ(Decide(policy, OpenAt("/srv/run/7/out.txt", O_WRONLY)).rule_id,
            "files.else");
  EXPECT_EQ(WithWorkdir(policy, "/srv/run/7"), bound);
  // Nothing else changes.
  bound.syscalls = policy.syscalls;
  bound.filesystem = policy.filesystem;
  EXPECT_EQ(bound, policy);

  Policy root = WithWorkdir(MustLoadPreset("strict"), "/");
  EXPECT_EQ(root.filesystem.writable, (std::vector<std::string>{"/"}));
  EXPECT_EQ(Decide(root, OpenAt("/anything", O_RDWR)).rule_id, "files");
}

// What each preset does with files, through the paths a real run sees.
TEST(PresetPathsTest, Default) {
  Policy policy = WithWorkdir(MustLoadPreset("default"), "/run/w");
  auto rule = [&](const SyscallRequest& request) {
    return Decide(policy, request).rule_id;
  };
  EXPECT_EQ(rule(OpenAt("/etc/ld.so.cache", O_RDONLY | O_CLOEXEC)), "files");
  EXPECT_EQ(rule(OpenAt("/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY)), "files");
  EXPECT_EQ(rule(OpenAt("/proc/self/maps", O_RDONLY)), "files");
  EXPECT_EQ(rule(OpenAt("/dev/null", O_WRONLY)), "files");
  EXPECT_EQ(rule(OpenAt("/run/w/out", O_WRONLY | O_CREAT | O_TRUNC)), "files");
  EXPECT_EQ(rule(OpenAt("/tmp/x", O_RDWR | O_CREAT)), "files");
  EXPECT_EQ(rule(OpenAt("/etc/passwd", O_WRONLY)), "files.else");
  EXPECT_EQ(rule(Call("newfstatat", {{1, "/"}}, {0, 0, 0, 0})), "files");
  EXPECT_EQ(rule(OpenAt("/root/.bashrc", O_RDONLY)), "files.else");
  EXPECT_EQ(rule(OpenAt("/home/user/.ssh/id_rsa", O_RDONLY)), "files.else");
  EXPECT_EQ(rule(OpenAt("/etc/shadow", O_RDONLY)), "secrets");
  EXPECT_EQ(rule(OpenAt("/tmp/../etc/shadow", O_RDONLY)), "secrets");
  EXPECT_EQ(rule(OpenAt("/etc/ssh/ssh_host_ed25519_key", O_RDONLY)), "secrets");
  EXPECT_EQ(Decide(policy, OpenAt("/etc/shadow", O_RDONLY)).action,
            (ActionSpec{Action::kDeny, EACCES, 0}));
  EXPECT_EQ(rule(Exec("/bin/sh")), "files");
  EXPECT_EQ(rule(Exec("/usr/bin/true")), "files");
  EXPECT_EQ(rule(Exec("/run/w/workload")), "files");
  EXPECT_EQ(rule(Exec("/tmp/dropped")), "files.else");
  EXPECT_EQ(rule(Call("mount", {{0, "none"}, {1, "/run/w"}})), "admin");
  EXPECT_EQ(rule(Call("newfstatat", {}, {1, 0, 0, 0x1000})), "fstat-by-fd");
  EXPECT_EQ(rule(Call("newfstatat", {}, {1, 0, 0, 0})), "files.else");
}

TEST(PresetPathsTest, Strict) {
  Policy policy = WithWorkdir(MustLoadPreset("strict"), "/run/w");
  auto rule = [&](const SyscallRequest& request) {
    return Decide(policy, request).rule_id;
  };
  EXPECT_EQ(rule(OpenAt("/run/w/data", O_RDONLY)), "files");
  EXPECT_EQ(rule(OpenAt("/run/w/data", O_WRONLY | O_CREAT)), "files");
  EXPECT_EQ(rule(OpenAt("/proc/self/status", O_RDONLY)), "files");
  EXPECT_EQ(rule(OpenAt("/proc/self/mem", O_RDWR)), "files.else");
  EXPECT_EQ(rule(OpenAt("/etc/passwd", O_RDONLY)), "files.else");
  EXPECT_EQ(rule(OpenAt("/run/w/../x", O_RDONLY)), "files.else");
  EXPECT_EQ(rule(Exec("/run/w/workload")), "files");
  EXPECT_EQ(rule(Exec("/usr/bin/true")), "files");
  EXPECT_EQ(rule(Exec("/tmp/x")), "files.else");
  EXPECT_EQ(Decide(policy, Call("ptrace")).action.action, Action::kKill);
  EXPECT_EQ(rule(Call("ptrace")), "escape");
  EXPECT_EQ(rule(Call("socket", {}, {1})), "syscalls.default");
}

TEST(PresetPathsTest, Permissive) {
  Policy policy = WithWorkdir(MustLoadPreset("permissive"), "/run/w");
  EXPECT_EQ(Decide(policy, OpenAt("/etc/shadow", O_RDONLY)).action.action,
            Action::kAllow);
  Verdict verdict = Decide(policy, Call("mount"));
  EXPECT_EQ(verdict.action.action, Action::kLog);
  EXPECT_EQ(verdict.rule_id, "mounts");
  EXPECT_EQ(Decide(policy, Call("ptrace")).rule_id, "process-access");
}

TEST(SyscallsTest, TableAndNames) {
  EXPECT_EQ(SyscallNumber("openat"), 257);
  EXPECT_EQ(SyscallNumber("read"), 0);
  EXPECT_FALSE(SyscallNumber("opne").has_value());
  EXPECT_FALSE(SyscallNumber("socketcall").has_value());  // i386 only
  EXPECT_EQ(SyscallName(257), "openat");
  EXPECT_EQ(SyscallName(400), "");
  EXPECT_EQ(SyscallName(-1), "");
  const auto& all = AllSyscallNumbers();
  EXPECT_GT(all.size(), 300u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  for (int number : all) {
    EXPECT_EQ(SyscallNumber(SyscallName(number)), number);
  }
  for (const char* name : {"open",
                           "openat",
                           "openat2",
                           "creat",
                           "execve",
                           "execveat",
                           "stat",
                           "lstat",
                           "newfstatat",
                           "statx",
                           "access",
                           "faccessat",
                           "faccessat2",
                           "readlink",
                           "readlinkat",
                           "chdir",
                           "chroot",
                           "mkdir",
                           "mkdirat",
                           "rmdir",
                           "unlink",
                           "unlinkat",
                           "rename",
                           "renameat",
                           "renameat2",
                           "link",
                           "linkat",
                           "symlink",
                           "symlinkat",
                           "chmod",
                           "fchmodat",
                           "chown",
                           "lchown",
                           "fchownat",
                           "truncate",
                           "utimensat",
                           "mknod",
                           "mknodat",
                           "getxattr",
                           "lgetxattr",
                           "setxattr",
                           "lsetxattr",
                           "removexattr",
                           "lremovexattr",
                           "listxattr",
                           "llistxattr",
                           "statfs",
                           "mount",
                           "umount2",
                           "pivot_root",
                           "swapon",
                           "swapoff",
                           "acct",
                           "inotify_add_watch",
                           "name_to_handle_at",
                           "open_tree",
                           "uselib"}) {
    EXPECT_FALSE(PathArguments(Nr(name)).empty()) << name;
  }
  EXPECT_TRUE(PathArguments(Nr("read")).empty());
  auto renameat2 = PathArguments(Nr("renameat2"));
  ASSERT_EQ(renameat2.size(), 2u);
  EXPECT_EQ(renameat2[0].intent, PathIntent::kWrite);
  EXPECT_EQ(renameat2[1].path_index, 3);
  EXPECT_EQ(renameat2[1].dirfd_index, 2);
  auto symlinkat = PathArguments(Nr("symlinkat"));
  ASSERT_EQ(symlinkat.size(), 1u);
  EXPECT_EQ(symlinkat[0].path_index, 2);
  auto mount = PathArguments(Nr("mount"));
  ASSERT_EQ(mount.size(), 2u);
  EXPECT_EQ(mount[0].intent, PathIntent::kRead);
  EXPECT_EQ(mount[1].intent, PathIntent::kWrite);
  EXPECT_EQ(PathArguments(Nr("openat"))[0].flags_index, 2);
  EXPECT_EQ(PathArguments(Nr("execve"))[0].intent, PathIntent::kExec);
}

}  // namespace
}  // namespace isoscope
