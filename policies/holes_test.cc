#include "policies/holes.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policies/loader.h"
#include "policies/syscalls.h"
#include "policies/test_support.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MustParse;
using ::testing::UnorderedElementsAre;

// The names of the holes of `kind` (all kinds when nullopt).
std::set<std::string> Names(const std::vector<Hole>& holes,
                            std::optional<HoleKind> kind = std::nullopt) {
  std::set<std::string> out;
  for (const Hole& hole : holes) {
    if (!kind || hole.kind == *kind) out.insert(SyscallName(hole.syscall));
  }
  return out;
}

const Hole* Find(const std::vector<Hole>& holes, std::string_view name,
                 HoleKind kind) {
  auto it = std::find_if(holes.begin(), holes.end(), [&](const Hole& hole) {
    return hole.kind == kind && SyscallName(hole.syscall) == name;
  });
  return it == holes.end() ? nullptr : &*it;
}

// A policy whose only file rule allows reading /usr; `rules` come after it.
Policy FilesAnd(const std::string& rules, const std::string& rest = "",
                const std::string& default_action = "kill") {
  return MustParse(R"(version: 1
syscalls:
  default: )" + default_action +
                   R"(
  rules:
    - id: files
      syscalls: [open, openat]
      paths: {read: ["/usr/**"]}
      action: allow
      else: {action: deny, errno: EACCES}
)" + rules + rest);
}

TEST(HolesTest, NoPathRulesAndHostNetworkHaveNoHoles) {
  // permissive's shape: everything runs, nothing is promised.
  Policy policy = MustParse(
      "version: 1\nsyscalls: {default: allow}\n"
      "network: host\n");
  EXPECT_THAT(FindHoles(policy), IsEmpty());
  EXPECT_TRUE(CheckHoles(policy, "p.yaml").has_value());
}

TEST(HolesTest, IoUringNextToPathRulesIsAHoleNamingItsRule) {
  Policy policy = FilesAnd(
      "    - {id: uring, syscalls: [io_uring_setup, io_uring_enter], action: "
      "allow}\n",
      "network: host\n");
  std::vector<Hole> holes = FindHoles(policy);
  ASSERT_EQ(holes.size(), 1u);
  EXPECT_EQ(SyscallName(holes[0].syscall), "io_uring_setup");
  EXPECT_EQ(holes[0].kind, HoleKind::kNoPath);
  EXPECT_EQ(holes[0].rule_id, "uring");
  EXPECT_EQ(holes[0].field, "syscalls.rules[1]");
  EXPECT_EQ(holes[0].position.line, 10);
  EXPECT_THAT(holes[0].what, HasSubstr("IORING_OP_OPENAT"));
  EXPECT_FALSE(holes[0].accepted);
  // Under network: none it is a network hole too.
  Policy no_network =
      FilesAnd("    - {id: uring, syscalls: [io_uring_setup], action: log}\n");
  EXPECT_NE(Find(FindHoles(no_network), "io_uring_setup", HoleKind::kNetwork),
            nullptr);
  EXPECT_NE(Find(FindHoles(no_network), "io_uring_setup", HoleKind::kNoPath),
            nullptr);
}

TEST(HolesTest, EveryClassOfHoleIsFoundWhereItCanRun) {
  Policy policy = FilesAnd(R"(    - id: open-doors
      syscalls: [open_by_handle_at, fanotify_init, bpf, quotactl, mount,
                 umount2, chroot, pivot_root, fsopen, fsconfig, fsmount,
                 fspick, move_mount, open_tree, mount_setattr, mknod,
                 mknodat, setns, ptrace, process_vm_readv, process_vm_writev,
                 pidfd_getfd, perf_event_open, io_uring_setup]
      action: allow
)");
  std::vector<Hole> holes = FindHoles(policy);
  EXPECT_EQ(Names(holes, HoleKind::kNoPath),
            (std::set<std::string>{"bpf", "fanotify_init", "io_uring_setup",
                                   "open_by_handle_at", "quotactl"}));
  EXPECT_EQ(Names(holes, HoleKind::kRebindsPaths),
            (std::set<std::string>{"chroot", "fsconfig", "fsmount", "fsopen",
                                   "fspick", "mknod", "mknodat", "mount",
                                   "mount_setattr", "move_mount", "open_tree",
                                   "pivot_root", "setns", "umount2"}));
  EXPECT_EQ(Names(holes, HoleKind::kOtherProcess),
            (std::set<std::string>{"perf_event_open", "pidfd_getfd", "ptrace",
                                   "process_vm_readv", "process_vm_writev"}));
  EXPECT_EQ(Names(holes, HoleKind::kNetwork),
            (std::set<std::string>{"io_uring_setup", "pidfd_getfd", "ptrace",
                                   "process_vm_writev", "setns"}));
  // Each names the one rule that lets it run.
  for (const Hole& hole : holes) EXPECT_EQ(hole.rule_id, "open-doors");
}

TEST(HolesTest, RefusedOrEmulatedCallsAreNoHoles) {
  Policy policy =
      FilesAnd(R"(    - {id: no, syscalls: [mount, ptrace], action: deny}
    - {id: fake, syscalls: [io_uring_setup], action: emulate, return: -38}
    - {id: gone, syscalls: [open_by_handle_at], action: kill}
)",
               "", "{action: deny, errno: ENOSYS}");
  EXPECT_THAT(FindHoles(policy), IsEmpty());
}

TEST(HolesTest, PathCallsMustBeCheckedWhereverTheyRun) {
  // stat and chmod are allowed outright; openat2 falls to a default that
  // allows; execve is checked by a blocklist rule only, then allowed.
  Policy policy =
      FilesAnd(R"(    - {id: look, syscalls: [stat, chmod], action: allow}
    - id: no-secrets
      syscalls: [execve]
      paths: {exec: ["/srv/**"]}
      action: deny
    - {id: run, syscalls: [execve], action: allow}
)",
               "network: host\n", "allow");
  std::vector<Hole> holes = FindHoles(policy);
  const Hole* stat = Find(holes, "stat", HoleKind::kUncheckedPath);
  ASSERT_NE(stat, nullptr);
  EXPECT_EQ(stat->rule_id, "look");
  const Hole* execve = Find(holes, "execve", HoleKind::kUncheckedPath);
  ASSERT_NE(execve, nullptr);
  EXPECT_EQ(execve->rule_id, "run");
  const Hole* openat2 = Find(holes, "openat2", HoleKind::kUncheckedPath);
  ASSERT_NE(openat2, nullptr);
  EXPECT_EQ(openat2->rule_id, "syscalls.default");
  EXPECT_EQ(openat2->field, "syscalls.default");
  // open and openat are checked by `files`, whose else decides the rest.
  EXPECT_EQ(Find(holes, "openat", HoleKind::kUncheckedPath), nullptr);
  EXPECT_EQ(Find(holes, "open", HoleKind::kUncheckedPath), nullptr);
  // The default allows every hole call too.
  EXPECT_NE(Find(holes, "io_uring_setup", HoleKind::kNoPath), nullptr);
}

// A checked path does not help a call that changes what paths name: a
// bind mount from a readable source onto a writable target makes the
// target's path reach the source.
TEST(HolesTest, CheckedMountsAndDeviceNodesAreStillHoles) {
  Policy policy = FilesAnd(R"(    - id: mounts
      syscalls: [mount, mknod, chroot]
      paths: {read: ["/usr/**"], write: ["/tmp/**"]}
      action: allow
      else: {action: deny, errno: EPERM}
)",
                           "network: host\n");
  std::vector<Hole> holes = FindHoles(policy);
  EXPECT_EQ(Names(holes, HoleKind::kRebindsPaths),
            (std::set<std::string>{"chroot", "mknod", "mount"}));
  EXPECT_EQ(Names(holes, HoleKind::kUncheckedPath), std::set<std::string>{});
}

TEST(HolesTest, AnElseThatRunsOrAConditionalAllowIsAHole) {
  Policy policy = MustParse(R"(version: 1
syscalls:
  rules:
    - id: files
      syscalls: [openat]
      paths: {read: ["/usr/**"]}
      action: allow
      else: log
    - id: stat-by-fd
      syscalls: [newfstatat]
      args: [{index: 3, op: masked_eq, mask: 0x1000, value: 0x1000}]
      action: allow
network: host
)");
  std::vector<Hole> holes = FindHoles(policy);
  EXPECT_EQ(Names(holes), (std::set<std::string>{"openat", "newfstatat"}));
  const Hole* openat = Find(holes, "openat", HoleKind::kUncheckedPath);
  ASSERT_NE(openat, nullptr);
  EXPECT_EQ(openat->rule_id, "files.else");
  EXPECT_EQ(openat->field, "syscalls.rules[0].else");
}

TEST(HolesTest, UnixAddressesAreHolesOnlyWhereUnixSocketsCanBeMade) {
  const std::string io =
      "    - {id: io, syscalls: [connect, bind, sendto, sendmsg, sendmmsg], "
      "action: allow}\n";
  Policy inet_only = FilesAnd(
      "    - {id: inet, syscalls: [socket], args: [{index: 0, op: eq, value: "
      "2}], action: allow}\n" +
          io,
      "network: host\n");
  EXPECT_THAT(FindHoles(inet_only), IsEmpty());
  Policy unix_sockets = FilesAnd(
      "    - {id: unix, syscalls: [socket], args: [{index: 0, op: eq, value: "
      "1}], action: allow}\n" +
          io,
      "network: host\n");
  EXPECT_EQ(Names(FindHoles(unix_sockets), HoleKind::kUnixAddress),
            (std::set<std::string>{"bind", "connect", "sendmmsg", "sendmsg",
                                   "sendto"}));
  // A socketpair's datagram socket can still bind or send to a path.
  Policy pairs = FilesAnd(
      "    - {id: pairs, syscalls: [socketpair], action: allow}\n"
      "    - {id: io, syscalls: [sendto], action: allow}\n",
      "network: host\n");
  EXPECT_EQ(Names(FindHoles(pairs)), (std::set<std::string>{"sendto"}));
}

TEST(HolesTest, AcceptedHolesAreMarkedAndTheRestRefused) {
  Policy policy = FilesAnd(
      "    - {id: uring, syscalls: [io_uring_setup, mount], action: allow}\n",
      R"(network: host
accepted_holes:
  - {syscalls: [io_uring_setup], reason: "the benchmark measures io_uring"}
)");
  std::vector<Hole> holes = FindHoles(policy);
  const Hole* uring = Find(holes, "io_uring_setup", HoleKind::kNoPath);
  ASSERT_NE(uring, nullptr);
  EXPECT_EQ(uring->accepted, 0u);
  const Hole* mount = Find(holes, "mount", HoleKind::kRebindsPaths);
  ASSERT_NE(mount, nullptr);
  EXPECT_FALSE(mount->accepted);
  Status status = CheckHoles(policy, "p.yaml");
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kPolicy);
  EXPECT_THAT(status.error().message(),
              HasSubstr("p.yaml:10:7: syscalls.rules[1] (rule 'uring'): lets "
                        "mount run"));
  EXPECT_THAT(status.error().message(),
              ::testing::Not(HasSubstr("io_uring_setup")));
}

TEST(HolesTest, OneLinePerRuleAndKind) {
  Policy policy = FilesAnd(
      "    - {id: a, syscalls: [mount, chroot, ptrace], action: allow}\n"
      "    - {id: b, syscalls: [io_uring_setup], action: log}\n",
      "network: host\n");
  Status status = CheckHoles(policy, "p.yaml");
  ASSERT_FALSE(status.has_value());
  const std::string& message = status.error().message();
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 2) << message;
  EXPECT_THAT(message, HasSubstr("p.yaml:10:7: syscalls.rules[1] (rule 'a'): "
                                 "lets chroot and mount run, a hole: they "
                                 "change what a checked path names"));
  EXPECT_THAT(message, HasSubstr("p.yaml:10:7: syscalls.rules[1] (rule 'a'): "
                                 "lets ptrace run, a hole: it acts with "
                                 "another process's"));
  EXPECT_THAT(message, HasSubstr("p.yaml:11:7: syscalls.rules[2] (rule 'b'): "
                                 "lets io_uring_setup run"));
}

TEST(HolesTest, ShippedPresetsAcceptExactlyTheirListedHoles) {
  struct Expected {
    const char* preset;
    std::set<std::string> holes;
  };
  const Expected presets[] = {
      {"permissive", {}},
      {"default",
       {"newfstatat", "statx", "connect", "bind", "sendto", "sendmsg",
        "sendmmsg", "mknod", "mknodat"}},
      {"strict", {"newfstatat"}},
  };
  for (const Expected& expected : presets) {
    auto policy = LoadPreset(expected.preset);
    ASSERT_TRUE(policy.has_value()) << policy.error().message();
    std::vector<Hole> holes = FindHoles(*policy);
    EXPECT_EQ(Names(holes), expected.holes) << expected.preset;
    for (const Hole& hole : holes) {
      EXPECT_TRUE(hole.accepted)
          << expected.preset << " " << SyscallName(hole.syscall);
    }
  }
}

// default's `secrets` blocklist denies the secrets under /etc to every call
// of the `files` rule after it that reads or looks at a path (fixed read
// intent, or an open, whose intent depends on its flags): a call named only
// by `files` would reach /etc/shadow's contents or metadata.
TEST(PresetTest, DefaultSecretsCoverEveryReadingCallOfFiles) {
  auto policy = LoadPreset("default");
  ASSERT_TRUE(policy.has_value()) << policy.error().message();
  const Rule* secrets = nullptr;
  const Rule* files = nullptr;
  for (const Rule& rule : policy->syscalls.rules) {
    if (rule.id == "secrets") secrets = &rule;
    if (rule.id == "files") files = &rule;
  }
  ASSERT_NE(secrets, nullptr);
  ASSERT_NE(files, nullptr);
  const std::set<int> blocked(secrets->syscalls.begin(),
                              secrets->syscalls.end());
  for (int number : files->syscalls) {
    for (const PathArgSpec& arg : PathArguments(number)) {
      if (arg.intent != PathIntent::kRead && arg.flags_index < 0 &&
          SyscallName(number) != "openat2") {
        continue;
      }
      EXPECT_TRUE(blocked.contains(number))
          << SyscallName(number) << " reads a path under `files` but "
          << "`secrets` does not name it";
    }
  }
}

}  // namespace
}  // namespace isoscope
