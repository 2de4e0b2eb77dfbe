// The ptrace backend with real processes, driven by the real supervisor: the
// checks issue 4 names (errno and kill with their rules, the TOCTOU race,
// threads and forks followed, faults trapped and emulated, nothing left
// after the supervisor is SIGKILLed) and the conformance of its recorded
// decisions with Decide.
#include "backends/ptrace/ptrace_backend.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/native/native_backend.h"
#include "base/temp_dir.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "supervisor/host_facts.h"
#include "supervisor/supervisor.h"
#include "tests/backend_fixture.h"
#include "tests/recording_backend.h"
#include "tests/test_env.h"

namespace isoscope {
namespace {

using testing::BuildDir;
using testing::BuiltWorkload;
using ::testing::HasSubstr;

// Paths a dynamically linked Debian program reads while starting.
constexpr std::string_view kSystemReads =
    R"("/usr/**", "/lib/**", "/lib64/**", "/etc/**", "/proc/**", "/dev/**")";

std::filesystem::path TestProgram(const std::string& name) {
  return BuildDir() / "backends" / name;
}

class PtraceBackendTest : public testing::BackendFixture {
 protected:
  void SetUp() override {
    if (auto probe = PtraceBackend().Probe(); !probe.available) {
      GTEST_SKIP() << "ptrace backend unavailable: " << probe.reason;
    }
    MakeWorkdir("isoscope-ptrace-test-");
  }

  // Everything allowed except open/openat outside the system's read paths
  // (plus `extra_read`, a quoted glob list suffix), refused with EACCES;
  // writes only to /dev.
  std::shared_ptr<const Policy> FilesPolicy(
      const std::string& extra_read = "") const {
    return PolicyFrom(fmt::format(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: files
      syscalls: [open, openat]
      paths:
        read: [{}{}]
        write: ["/dev/**"]
      action: allow
      else: {{action: deny, errno: EACCES}}
)",
                                  kSystemReads, extra_read));
  }

  // endpoint-race's counts after `mode` for 1.5 s under `policy` (written:
  // -1 unless the mode writes through the workload's memory file); all -1
  // when the run did not end as expected, which is a test failure.
  struct EndpointRaceCounts {
    int64_t ok = -1, refused = -1, reached = -1, written = -1;
  };

  EndpointRaceCounts RunEndpointRace(std::shared_ptr<const Policy> policy,
                                     const std::string& mode) {
    EndpointRaceCounts counts;
    auto result =
        Run(std::move(policy), Program(TestProgram("endpoint-race"),
                                       {"18080", "18081", mode, "1500"}));
    if (!result) {
      ADD_FAILURE() << mode << ": " << result.error().ToString();
      return counts;
    }
    if (result->termination.outcome != Outcome::kExited) {
      ADD_FAILURE() << mode << ": " << result->termination.reason
                    << result->output.stderr_bytes;
      return counts;
    }
    const int parsed = std::sscanf(result->output.stdout_bytes.c_str(),
                                   "ok=%" SCNd64 " refused=%" SCNd64
                                   " reached=%" SCNd64 " written=%" SCNd64,
                                   &counts.ok, &counts.refused, &counts.reached,
                                   &counts.written);
    if (parsed < 3) {
      ADD_FAILURE() << mode << ": " << result->output.stdout_bytes;
    }
    return counts;
  }

  Result<RunResult> Run(std::shared_ptr<const Policy> policy,
                        const Workload& workload, Backend* backend = nullptr) {
    SupervisorOptions options;
    options.host_facts = HostFacts{};
    Supervisor supervisor(std::move(policy), options);
    PtraceBackend ptrace_backend;
    return supervisor.Run(backend != nullptr ? *backend : ptrace_backend,
                          workload);
  }
};

// A file outside every glob is refused with the rule's errno, and the
// decision is recorded with the path and the deciding rule.
TEST_F(PtraceBackendTest, DeniedSyscallReturnsItsErrnoAndIsRecorded) {
  std::string secret = WriteFile("secret", "hidden\n");
  auto policy = FilesPolicy();
  auto result = Run(policy, Program("/bin/cat", {secret}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited);
  EXPECT_EQ(result->termination.exit_code, 1);
  EXPECT_THAT(result->output.stderr_bytes, HasSubstr("Permission denied"));
  bool recorded = false;
  for (const SyscallEvent& event : SyscallEvents(*result)) {
    if (event.request.paths.empty() || event.request.paths[0].path != secret) {
      continue;
    }
    recorded = true;
    ASSERT_TRUE(event.verdict.has_value());
    EXPECT_EQ(event.verdict->action.action, Action::kDeny);
    EXPECT_EQ(event.verdict->action.errno_value, EACCES);
    EXPECT_EQ(event.verdict->rule_id, "files.else");
    EXPECT_EQ(event.decided_by, DecidedBy::kSupervisor);
  }
  EXPECT_TRUE(recorded) << "no recorded decision on " << secret;
}

// Without `identity.hostname` the UTS namespace keeps the host's host and
// domain names; with one, the workload sees it.
TEST_F(PtraceBackendTest, HostAndDomainNamesAreTheHostsWithoutIdentity) {
  const Workload names = Program("/bin/sh", {"-c",
                                             "cat /proc/sys/kernel/hostname "
                                             "/proc/sys/kernel/domainname"});
  auto result =
      Run(PolicyFrom("version: 1\nsyscalls: {default: allow}\n"), names);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ExpectSameAsNative(*result, names);
  auto named = Run(PolicyFrom("version: 1\nsyscalls: {default: allow}\n"
                              "identity: {hostname: ptest-box}\n"),
                   names);
  ASSERT_TRUE(named.has_value()) << named.error().ToString();
  EXPECT_EQ(named->output.stdout_bytes.substr(0, 10), "ptest-box\n");
}

// The path calls ptrace now has isoscope perform (the xattr family, statfs,
// inotify_add_watch) give what they give natively.
TEST_F(PtraceBackendTest, PerformedXattrStatfsAndInotifyMatchNative) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: paths
      syscalls: [getxattr, lgetxattr, listxattr, llistxattr, statfs,
                 inotify_add_watch]
      paths: {read: ["/**"]}
      action: allow
)");
  const Workload workload = Program(
      "/bin/sh", {"-c",
                  "ls -la / | wc -l; stat -f -c '%T %b' /; python3 -c \"import "
                  "ctypes, os; c=ctypes.CDLL(None); fd=c.inotify_init1(0); "
                  "print(c.inotify_add_watch(fd, b'/etc', 0x100), "
                  "c.inotify_add_watch(fd, b'/no/such', 0x100)); "
                  "print(os.listxattr('/etc'))\""});
  auto result = Run(policy, workload);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.exit_code, 0) << result->output.stderr_bytes;
  ExpectSameAsNative(*result, workload);
}

// A statically killed syscall ends the run in the kernel filter's SIGSYS,
// reported with the rule; a call decided by the supervisor (user
// notification) can be emulated.
TEST_F(PtraceBackendTest, KilledSyscallEndsTheRunWithItsRule) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: no-uname
      syscalls: [uname]
      action: kill
)");
  auto result = Run(policy, Program("/bin/uname"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kViolation);
  EXPECT_EQ(result->termination.rule_id, "no-uname");
  EXPECT_THAT(result->termination.reason, HasSubstr("uname"));
  std::vector<SyscallEvent> events = SyscallEvents(*result);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().decided_by, DecidedBy::kKernelFilter);
  EXPECT_EQ(events.back().verdict->action.action, Action::kKill);
}

// A call the plan denies (the filter's fast path) still comes to the
// supervisor: counted with its rule, its first occurrence kept, answered
// with the plan's errno.
TEST_F(PtraceBackendTest, KernelDecidedDenialsAreCountedWithTheirRule) {
  auto result =
      Run(DenyByDefaultPolicy(),
          Program(testing::BuiltWorkload("bench/syscall-storm"), {"500"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ExpectGetppidDenialsCounted(*result, 500);
}

TEST_F(PtraceBackendTest, InspectedCallWithoutPointersIsEmulated) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: fake-pid
      syscalls: [getpid]
      action: emulate
      return: 4242
)");
  auto result = Run(policy, Program("/bin/sh", {"-c", "echo $$"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->output.stdout_bytes, "4242\n");
  EXPECT_GE(result->counters.syscalls_trapped, 1u);
}

// Issue 4's race: one thread flips the path between an allowed and a
// forbidden file while another opens it in a loop. The open runs on the
// checked copy, so the forbidden file is never opened, while both outcomes
// (opened, denied) show the race was live.
TEST_F(PtraceBackendTest, PathFlippedDuringTheCheckNeverOpensTheForbiddenFile) {
  std::string allowed = WriteFile("allowed", "allowed\n");
  auto other = TempDir::Create("isoscope-ptrace-forbidden-");
  ASSERT_TRUE(other.has_value());
  std::string forbidden = other->path().string() + "/forbidden";
  // Same length, so a mix of the two strings is usually a plausible path.
  ASSERT_LE(allowed.size(), forbidden.size());
  std::ofstream(forbidden) << "forbidden\n";
  auto policy = FilesPolicy(fmt::format(", \"{}\"", allowed));
  auto result = Run(policy, Program(TestProgram("toctou-race"),
                                    {allowed, forbidden, "1500"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << result->output.stderr_bytes;
  // NOLINTNEXTLINE(google-runtime-int): what sscanf's %ld reads
  long opens = -1, denied = -1, escaped = -1;
  ASSERT_EQ(std::sscanf(result->output.stdout_bytes.c_str(),
                        "opens=%ld denied=%ld forbidden=%ld", &opens, &denied,
                        &escaped),
            3)
      << result->output.stdout_bytes;
  EXPECT_EQ(escaped, 0);
  EXPECT_GT(opens, 50);
  EXPECT_GT(denied, 50) << result->output.stdout_bytes;
}

// network.connect and network.bind (issue 17): a listed endpoint is
// reached, another refused with the policy's errno and recorded under the
// list's rule, for connect, sendto, sendmsg and bind alike.
constexpr char kEndpointPolicy[] = R"(version: 1
syscalls:
  default: allow
network:
  mode: loopback
  connect: ["127.0.0.1:18080"]
  bind: ["127.0.0.1:18080", "127.0.0.1:18081"]
  errno: {}
)";

TEST_F(PtraceBackendTest, EndpointListsAllowListedAndRefuseOthers) {
  auto policy = PolicyFrom(fmt::format(kEndpointPolicy, "ECONNREFUSED"));
  auto result = Run(policy, Program(TestProgram("endpoint-race"),
                                    {"18080", "18081", "once"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << result->output.stderr_bytes;
  EXPECT_EQ(result->output.stdout_bytes,
            fmt::format("connect=0/{0} sendto=0/{0} sendmsg=0/{0} bind={0}\n",
                        ECONNREFUSED));
  std::set<std::string> refused;
  for (const SyscallEvent& event : SyscallEvents(*result)) {
    if (event.verdict && event.verdict->action.action == Action::kDeny) {
      refused.insert(fmt::format("{} {}", SyscallName(event.request.number),
                                 event.verdict->rule_id));
    }
  }
  EXPECT_EQ(refused, (std::set<std::string>{
                         "bind network.bind", "connect network.connect",
                         "sendmsg network.connect", "sendto network.connect"}));
}

// The race of issue 17: one thread flips the port of a sockaddr between a
// listed and an unlisted one while another connects (or sends) to it. The
// kernel uses isoscope's read-only copy, so nothing reaches the unlisted
// port, while both outcomes show the race was live.
TEST_F(PtraceBackendTest, EndpointFlippedDuringTheCheckNeverReachesIt) {
  auto policy = PolicyFrom(fmt::format(kEndpointPolicy, "EACCES"));
  for (const char* mode : {"race-connect", "race-sendmsg"}) {
    const EndpointRaceCounts counts = RunEndpointRace(policy, mode);
    EXPECT_EQ(counts.reached, 0) << mode;
    EXPECT_GT(counts.ok, 50) << mode;
    EXPECT_GT(counts.refused, 50) << mode;
  }
}

// The same race through the workload's own memory file: with a policy
// without path rules nothing inspects its open of /proc/self/mem, and a
// thread writes the unlisted port over the checked copy in the scratch
// region. The kernel refuses forced writes to a read-only shared mapping,
// so none lands and nothing reaches the unlisted port.
TEST_F(PtraceBackendTest, EndpointCopiesCannotBeRewrittenThroughProcessMemory) {
  auto policy = PolicyFrom(fmt::format(kEndpointPolicy, "EACCES"));
  for (const char* mode : {"mem-connect", "mem-sendmsg"}) {
    const EndpointRaceCounts counts = RunEndpointRace(policy, mode);
    EXPECT_EQ(counts.reached, 0) << mode;
    EXPECT_EQ(counts.written, 0) << mode;
    EXPECT_EQ(counts.refused, 0) << mode;
    EXPECT_GT(counts.ok, 50) << mode;
  }
}

// Routes around a listed address (issue 17): socket options that set a
// source route or routing header, and sendmsg control messages other than
// those that leave the destination alone, are refused with the lists'
// errno and recorded under network.connect with what they were; sendmsg
// with IP_TTL or IP_PKTINFO to the listed endpoint still arrives.
TEST_F(PtraceBackendTest, EndpointListsRefuseRoutesAroundThem) {
  auto policy = PolicyFrom(fmt::format(kEndpointPolicy, "EACCES"));
  auto result = Run(policy, Program(TestProgram("endpoint-race"),
                                    {"18080", "18081", "routes"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << result->output.stderr_bytes;
  const std::string& out = result->output.stdout_bytes;
  if (out.find("rthdr=none") != std::string::npos) {
    GTEST_SKIP() << "this host makes no IPv6 socket: " << out;
  }
  EXPECT_EQ(out, fmt::format("ip_options={0} rthdr={0} flowlabel={0} "
                             "retopts={0} unknown={0} ttl=0 pktinfo=0 "
                             "arrived=2\n",
                             EACCES));
  std::vector<std::string> refused;
  for (const SyscallEvent& event : SyscallEvents(*result)) {
    if (event.verdict && event.verdict->rule_id == "network.connect") {
      refused.push_back(fmt::format("{}: {}", SyscallName(event.request.number),
                                    event.verdict->reason));
    }
  }
  const std::string all = fmt::format("{}", fmt::join(refused, "\n"));
  EXPECT_EQ(refused.size(), 5U) << all;
  for (const char* named :
       {"setsockopt: setsockopt IPPROTO_IP IP_OPTIONS",
        "setsockopt: setsockopt IPPROTO_IPV6 IPV6_RTHDR",
        "setsockopt: setsockopt IPPROTO_IPV6 IPV6_FLOWLABEL_MGR",
        "control message IPPROTO_IP IP_RETOPTS", "of level 0, type 200"}) {
    EXPECT_THAT(all, HasSubstr(named));
  }
}

// The race of issue 17 on the control: one thread flips a control
// message's type between IP_TTL (sent) and IP_RETOPTS (refused) while
// another sends with it. The kernel reads isoscope's copy of the control,
// so no datagram arrives with the IP options the check refused.
TEST_F(PtraceBackendTest, ControlFlippedDuringTheCheckNeverReachesTheKernel) {
  auto policy = PolicyFrom(fmt::format(kEndpointPolicy, "EACCES"));
  auto result =
      Run(policy, Program(TestProgram("endpoint-race"),
                          {"18080", "18081", "race-control", "1500"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << result->output.stderr_bytes;
  int64_t ok = -1, refused = -1, reached = -1;
  ASSERT_EQ(std::sscanf(result->output.stdout_bytes.c_str(),
                        "ok=%" SCNd64 " refused=%" SCNd64 " reached=%" SCNd64,
                        &ok, &refused, &reached),
            3)
      << result->output.stdout_bytes << result->output.stderr_bytes;
  EXPECT_EQ(reached, 0);
  EXPECT_GT(ok, 50) << result->output.stdout_bytes;
  EXPECT_GT(refused, 50) << result->output.stdout_bytes;
}

// A path is decided on what it reaches: symlinks the workload made, and the
// magic links of its own /proc, lead to the secret only through names the
// policy never saw before this check existed. Each way is refused, and the
// refusal names the secret's real path.
TEST_F(PtraceBackendTest, SymlinksAndMagicLinksAreDecidedOnWhatTheyReach) {
  auto other = TempDir::Create("isoscope-ptrace-secret-");
  ASSERT_TRUE(other.has_value());
  const std::string secret_dir = other->path().string();
  const std::string secret = secret_dir + "/secret";
  std::ofstream(secret) << "hidden\n";
  WriteFile("allowed", "visible\n");
  const std::string workdir = Workdir();
  std::filesystem::create_symlink(secret, workdir + "/link");
  std::filesystem::create_directory_symlink(secret_dir, workdir + "/dirlink");
  std::filesystem::create_symlink(workdir + "/allowed", workdir + "/good");
  // The secret's directory itself may be opened (listed), not what it holds.
  auto policy =
      FilesPolicy(fmt::format(", \"{}/**\", \"{}\"", workdir, secret_dir));
  const std::vector<std::string> attacks = {
      workdir + "/link",
      workdir + "/dirlink/secret",
      "/proc/self/root" + secret,
      "/proc/thread-self/root" + secret,
      "/proc/self/cwd/dirlink/secret",
      "/dev/fd/3/secret",  // the directory fd the shell opens below
      "/proc/self/fd/3/secret",
  };
  for (const std::string& path : attacks) {
    auto result =
        Run(policy, Program("/bin/sh", {"-c", fmt::format("exec 3<'{}'; "
                                                          "exec /bin/cat '{}'",
                                                          secret_dir, path)}));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(result->output.stdout_bytes, "") << path;
    EXPECT_NE(result->termination.exit_code, 0) << path;
    bool refused = false;
    for (const SyscallEvent& event : SyscallEvents(*result)) {
      for (const PathArgument& argument : event.request.paths) {
        if (argument.path == secret && event.verdict &&
            event.verdict->action.action == Action::kDeny) {
          refused = true;
        }
      }
    }
    EXPECT_TRUE(refused) << path << " was not decided as " << secret;
  }
  // The same mechanisms reaching an allowed file still work.
  for (const std::string& path :
       {workdir + "/good", std::string("/proc/self/cwd/allowed")}) {
    auto result = Run(policy, Program("/bin/cat", {path}));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(result->output.stdout_bytes, "visible\n") << path;
  }
  // A magic link to an open file without a path (a pipe) reopens it.
  auto piped =
      Run(policy, Program("/bin/sh", {"-c", "echo piped | cat /dev/stdin"}));
  ASSERT_TRUE(piped.has_value()) << piped.error().ToString();
  EXPECT_EQ(piped->output.stdout_bytes, "piped\n")
      << piped->output.stderr_bytes;
}

// A fork the policy inspects (`log`) is decided while its caller is stopped,
// so the SIGCHLD of earlier children cannot interrupt it into EINTR (as it
// would a seccomp notification): each of 300 forks succeeds, and each came
// to the supervisor.
TEST_F(PtraceBackendTest, InspectedForksAreNotInterruptedBySignals) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: watched
      syscalls: [clone, fork, vfork]
      action: log
)");
  auto result = Run(policy, Program(TestProgram("forks-under-signals")));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->output.stdout_bytes, "forks ok\n");
  EXPECT_EQ(result->termination.exit_code, 0);
  EXPECT_GE(result->counters.syscalls_trapped, 300u);
}

TEST_F(PtraceBackendTest, ThreadsAndForkedChildrenAreAllFollowed) {
  std::string secret = WriteFile("secret", "hidden\n");
  auto policy = FilesPolicy();
  PtraceBackend ptrace_backend;
  testing::RecordingBackend recording(ptrace_backend);
  auto result = Run(policy, Program(TestProgram("threads-and-forks"), {secret}),
                    &recording);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->output.stdout_bytes,
            "children-denied=4 threads-denied=4\n");
  // Each task's open came to the supervisor (the run keeps only the first
  // denial of a kind as an event, so the decisions handed to the backend
  // say who asked).
  std::set<int> callers;
  for (size_t i = 0; i < recording.resolved.size(); ++i) {
    const SyscallRequest& request = recording.resolved[i].first;
    if (!request.paths.empty() && request.paths[0].path == secret) {
      callers.insert(recording.resolved_pids[i]);
    }
  }
  EXPECT_EQ(callers.size(), 8u) << "4 threads and 4 children";
  ASSERT_TRUE(result->denials.has_value());
  uint64_t refused = 0;
  for (const DenialCount& row : *result->denials) {
    if (row.rule_id == "files.else") refused += row.count;
  }
  EXPECT_GE(refused, 8u);
}

// Carries out verdicts like the backend it wraps, but first SIGKILLs the
// thread that made the first call numbered `number`, and waits until it is
// a zombie or stopped on its way out: what a workload that kills its own
// processes (trinity does, at random) does to a call isoscope holds in a ptrace
// stop.
class KillsTheCallerFirst : public testing::RecordingBackend {
 public:
  KillsTheCallerFirst(Backend& inner, int number)
      : RecordingBackend(inner), number_(number) {}
  Status Resolve(const Event& event, const Verdict& verdict) override {
    const auto* call = std::get_if<SyscallEvent>(&event);
    if (call != nullptr && call->request.number == number_ && killed_ == 0) {
      killed_ = call->pid;
      ::kill(killed_, SIGKILL);
      const std::string stat = fmt::format("/proc/{}/stat", killed_);
      for (int i = 0; i < 500; ++i) {
        std::string text;
        std::getline(std::ifstream(stat), text);
        const size_t name_end = text.rfind(')');
        if (name_end != std::string::npos && name_end + 2 < text.size() &&
            text[name_end + 2] == 'Z') {
          zombie_ = true;
          break;
        }
        // Or past the point of no return: stopped in do_exit at its
        // PTRACE_EVENT_EXIT stop (the backend reads its peak memory
        // there), which only the tracer, busy here, can end.
        std::stringstream stack;
        stack << std::ifstream(fmt::format("/proc/{}/stack", killed_)).rdbuf();
        if (stack.str().find("do_exit") != std::string::npos) {
          zombie_ = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    return RecordingBackend::Resolve(event, verdict);
  }
  pid_t killed() const { return killed_; }
  bool zombie() const { return zombie_; }

 private:
  int number_;
  pid_t killed_ = 0;
  bool zombie_ = false;
};

// A thread killed while isoscope holds its call (a denied chdir waits in a
// ptrace stop for its verdict) is gone when the verdict is carried out:
// every ptrace request about it fails with ESRCH. That is the workload's
// doing: the run goes on (the subshell's parent prints and exits 0), where
// it used to end as an isoscope error ("PTRACE_GETREGS ...: ESRCH"), found
// by trinity.
TEST_F(PtraceBackendTest, ACallersDeathBeforeItsVerdictIsNoError) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: no-chdir
      syscalls: [chdir]
      paths:
        read: ["/nonexistent/**"]
      action: allow
      else: {action: deny, errno: EACCES}
)");
  PtraceBackend ptrace_backend;
  KillsTheCallerFirst killing(ptrace_backend, SYS_chdir);
  auto result =
      Run(policy, Program("/bin/sh", {"-c", "(cd /); echo went on"}), &killing);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_NE(killing.killed(), 0) << "no chdir came to the supervisor";
  EXPECT_TRUE(killing.zombie()) << "the caller never died";
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason;
  EXPECT_EQ(result->termination.exit_code, 0);
  EXPECT_EQ(result->output.stdout_bytes, "went on\n");
}

// Fails the first call it is asked to carry out a verdict on, as an error
// of isoscope's would: the run ends while the workload lives, that call
// held in a ptrace stop.
class FailsTheFirstVerdict : public testing::RecordingBackend {
 public:
  using RecordingBackend::RecordingBackend;
  Status Resolve(const Event& event, const Verdict& verdict) override {
    if (std::holds_alternative<SyscallEvent>(event)) {
      return Fail(ErrorCode::kInternal, "verdict refused by the test");
    }
    return RecordingBackend::Resolve(event, verdict);
  }
};

// Whether a process of this machine is still traced by this test process.
bool AnyTraceeLeft() {
  const std::string tracer = fmt::format("TracerPid:\t{}\n", ::getpid());
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    if (testing::ReadProcFile(entry.path() / "status").find(tracer) !=
        std::string::npos) {
      return true;
    }
  }
  return false;
}

// A run that ends in an error of isoscope's kills its workload; each killed
// tracee stops once more on its way out (PTRACE_EVENT_EXIT) and waits there
// for isoscope, whatever SIGKILLs follow. Destroying the backend resumes and
// reaps them all. It used to wait for the first of them for ever (trinity's
// run hung so under ASan, after an error its own kills caused): the alarm
// ends this test then, since a hang cannot fail otherwise.
TEST_F(PtraceBackendTest, AnErrorMidRunLeavesNoTraceeBehind) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: no-chdir
      syscalls: [chdir]
      paths:
        read: ["/nonexistent/**"]
      action: allow
      else: {action: deny, errno: EACCES}
)");
  struct sigaction hung = {};
  hung.sa_handler = [](int) {
    constexpr std::string_view kWhy =
        "AnErrorMidRunLeavesNoTraceeBehind: the backend never reaped its "
        "tracees\n";
    (void)!::write(STDERR_FILENO, kWhy.data(), kWhy.size());
    ::_exit(1);
  };
  struct sigaction saved = {};
  ASSERT_EQ(::sigaction(SIGALRM, &hung, &saved), 0);
  ::alarm(60);
  {
    PtraceBackend ptrace_backend;
    FailsTheFirstVerdict failing(ptrace_backend);
    auto result =
        Run(policy, Program("/bin/sh", {"-c", "(cd /); sleep 100"}), &failing);
    EXPECT_FALSE(result.has_value()) << "the verdict was not refused";
    if (!result) {
      EXPECT_THAT(result.error().ToString(),
                  HasSubstr("verdict refused by the test"));
    }
  }
  ::alarm(0);
  ::sigaction(SIGALRM, &saved, nullptr);
  EXPECT_FALSE(AnyTraceeLeft());
}

// The fault routing workload: each fault is trapped and decided; emulated
// ones complete, delivered ones reach the workload's handler. (RDTSC, which
// only some hosts can trap, has a test of its own below.)
TEST_F(PtraceBackendTest, FaultsAreTrappedDecidedAndEmulated) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
faults:
  privileged_instruction: emulate
  cpuid: emulate
  page_fault: deliver
  invalid_instruction: deliver
  breakpoint: deliver
  arithmetic: deliver
)");
  auto result = Run(policy, Program(BuiltWorkload("probes/fault-map"),
                                    {"hlt", "cli", "out", "unmapped", "ud2",
                                     "int3", "div0", "rdmsr"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.hlt REACHABLE"));
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.cli REACHABLE"));
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.out REACHABLE"));
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.unmapped BLOCKED signal=11"));
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.ud2 BLOCKED signal=4"));
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.int3 BLOCKED signal=5"));
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.div0 BLOCKED signal=8"));
  // rdmsr has no virtual device: not emulated, so the signal follows.
  EXPECT_THAT(out, HasSubstr("PROBE fault-map.rdmsr BLOCKED signal=11"));
  std::map<std::string, FaultKind> kinds;
  for (const Event& event : result->events) {
    if (const auto* fault = std::get_if<FaultEvent>(&event)) {
      kinds[fault->mnemonic] = fault->kind;
      EXPECT_TRUE(fault->verdict.has_value());
      EXPECT_FALSE(fault->bytes.empty()) << fault->mnemonic;
      EXPECT_NE(fault->rip, 0u) << fault->mnemonic;
    }
  }
  EXPECT_EQ(kinds["hlt"], FaultKind::kPrivilegedInstruction);
  EXPECT_EQ(kinds["cli"], FaultKind::kPrivilegedInstruction);
  EXPECT_EQ(kinds["out"], FaultKind::kPrivilegedInstruction);
  EXPECT_EQ(kinds["ud2"], FaultKind::kInvalidInstruction);
  EXPECT_EQ(kinds["div"], FaultKind::kArithmetic);
  EXPECT_EQ(kinds["int3"], FaultKind::kBreakpoint);
}

// RDTSC made to trap with PR_SET_TSC is a fault event the policy decides:
// emulated from the virtual clock, so the workload completes; killed, so the
// run is a violation. Only where the host honours it (HostFacts).
TEST_F(PtraceBackendTest, RdtscIsTrappedWhereTheHostCanTrapIt) {
  const Feature& rdtsc = ProbedHostFacts().rdtsc_trapping;
  if (!rdtsc.available) GTEST_SKIP() << "RDTSC trapping: " << rdtsc.detail;
  auto emulated = Run(PolicyFrom(R"(version: 1
syscalls:
  default: allow
faults:
  rdtsc: emulate
)"),
                      Program(BuiltWorkload("probes/fault-map"), {"rdtsc"}));
  ASSERT_TRUE(emulated.has_value()) << emulated.error().ToString();
  EXPECT_THAT(emulated->output.stdout_bytes,
              HasSubstr("PROBE fault-map.rdtsc REACHABLE"));
  std::vector<FaultEvent> faults;
  for (const Event& event : emulated->events) {
    if (const auto* fault = std::get_if<FaultEvent>(&event)) {
      faults.push_back(*fault);
    }
  }
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].kind, FaultKind::kRdtsc);
  EXPECT_EQ(faults[0].mnemonic, "rdtsc");
  ASSERT_TRUE(faults[0].verdict.has_value());
  EXPECT_EQ(faults[0].verdict->action.action, Action::kEmulate);

  auto killed = Run(PolicyFrom(R"(version: 1
syscalls:
  default: allow
faults:
  rdtsc: kill
)"),
                    Program(BuiltWorkload("probes/fault-map"), {"rdtsc"}));
  ASSERT_TRUE(killed.has_value()) << killed.error().ToString();
  EXPECT_EQ(killed->termination.outcome, Outcome::kViolation);
  EXPECT_EQ(killed->termination.rule_id, "faults.rdtsc");
}

// `out` to COM1 lands in the run's captured output.
TEST_F(PtraceBackendTest, SerialPortOutputIsCaptured) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
faults:
  privileged_instruction: emulate
)");
  auto result = Run(policy, Program(TestProgram("serial-hello")));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason;
  EXPECT_EQ(result->output.stdout_bytes, "hello over COM1\nwritten\n");
}

// A fault the policy kills ends the run as a violation naming the rule.
TEST_F(PtraceBackendTest, KilledFaultIsAViolation) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
faults:
  privileged_instruction: kill
)");
  auto result =
      Run(policy, Program(BuiltWorkload("probes/fault-map"), {"cli"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kViolation);
  EXPECT_EQ(result->termination.rule_id, "faults.privileged_instruction");
  EXPECT_EQ(result->output.stdout_bytes, "");
}

// The region that holds checked copies cannot be unmapped, made writable,
// mapped a second time, left by the heap's bounds or punched out; and no
// userfaultfd can supply the pages a syscall copies from.
TEST_F(PtraceBackendTest, ScratchRegionCannotBeChanged) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  rules:
    - id: dirs
      syscalls: [chdir]
      paths: {read: ["/**"]}
      action: allow
)");
  auto result = Run(policy, Program(TestProgram("scratch-attack")));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(
      result->output.stdout_bytes,
      "mapped=yes munmap=EPERM mprotect=EPERM mmap-fixed=EPERM madvise=EPERM "
      "mremap=EPERM mremap-dup=EPERM prctl-set-mm=EPERM "
      "process-madvise=EPERM " +
          std::string(::access("/dev/userfaultfd", F_OK) == 0
                          ? "uffd-kernel=EPERM uffd-user=ok\n"
                          : "uffd=absent\n"))
      << result->output.stderr_bytes;
}

// A capability that opens /proc/self/map_files for writing would let the
// workload rewrite the scratch region's copies: such a policy does not run.
TEST_F(PtraceBackendTest, CapabilitiesThatRewriteTheScratchRegionAreRefused) {
  for (const char* capability : {"CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"}) {
    auto policy = PolicyFrom(fmt::format(R"(version: 1
syscalls:
  default: allow
capabilities: [{}]
)",
                                         capability));
    auto result = Run(policy, Program("/bin/true"));
    ASSERT_FALSE(result.has_value()) << capability;
    EXPECT_THAT(result.error().message(), HasSubstr("map_files"));
  }
  auto kept = Run(PolicyFrom(R"(version: 1
syscalls:
  default: allow
capabilities: [CAP_CHOWN]
)"),
                  Program("/bin/true"));
  ASSERT_TRUE(kept.has_value()) << kept.error().ToString();
  EXPECT_EQ(kept->termination.exit_code, 0);
}

// With CAP_SYS_PTRACE a root workload attached to PID 1 of its pid
// namespace, isoscope's init there: root's capabilities in the host's mount
// and network namespaces. Every workload process is isoscope's tracee, so
// the capability has no other use here: such a policy does not run.
TEST_F(PtraceBackendTest, CapSysPtraceIsRefused) {
  auto refused = Run(PolicyFrom(R"(version: 1
syscalls:
  default: allow
capabilities: [CAP_SYS_PTRACE]
)"),
                     Program("/bin/true"));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPolicy);
  EXPECT_THAT(refused.error().message(), HasSubstr("CAP_SYS_PTRACE"));
  EXPECT_THAT(refused.error().message(), HasSubstr("init"));
}

// Limits: the process limit ends the run as a limit, naming it.
TEST_F(PtraceBackendTest, ProcessLimitIsReported) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
resources:
  processes: 3
)");
  auto result = Run(policy, Program("/bin/sh", {"-c",
                                                "sleep 5 & sleep 5 & sleep 5 & "
                                                "sleep 5 & wait"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kProcesses);
  EXPECT_LT(result->timings.wall_ns, int64_t{4'000'000'000});
}

// rlimits from the policy; the kernel's SIGXFSZ names the file-size limit.
TEST_F(PtraceBackendTest, FileSizeLimitIsReported) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
resources:
  file_size: 64KiB
)");
  auto result = Run(policy, Program("/bin/sh", {"-c",
                                                "head -c 200000 /dev/zero > "
                                                "big"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit)
      << result->termination.reason;
  EXPECT_EQ(result->termination.limit, LimitKind::kFileSize);
  EXPECT_EQ(std::filesystem::file_size(workdir_->path() / "big"), 65536u);
}

TEST_F(PtraceBackendTest, WallTimeLimitKillsEveryTracee) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
resources:
  wall_time: 500ms
)");
  // A duration no other test sleeps: other tests' `sleep 30` may run
  // beside this one.
  auto result =
      Run(policy, Program("/bin/sh", {"-c", "sleep 30.417 & sleep 30.417"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kWallTime);
  EXPECT_FALSE(testing::ProcessWithArgsExists("sleep 30.417"));
}

// The workload dies with the supervisor, even a SIGKILLed one: nothing
// outlives isoscope.
TEST_F(PtraceBackendTest, NothingOutlivesASigkilledSupervisor) {
  // A results store of the test's own: the default one is the user's.
  auto data = TempDir::Create("isoscope-ptrace-data-");
  ASSERT_TRUE(data) << data.error().ToString();
  bool signalled = false;
  testing::CommandResult run = testing::RunAndSignalWhen(
      {testing::IsoscopeBinary().string(), "run", "--backend", "ptrace", "--",
       "/bin/sh", "-c", "sleep 1001 & sleep 1002"},
      {"XDG_DATA_HOME=" + data->path().string()},
      [&] {
        return testing::ProcessSleeping("sleep 1001") &&
               testing::ProcessSleeping("sleep 1002");
      },
      SIGKILL, &signalled);
  ASSERT_TRUE(signalled) << run.err;
  for (int i = 0; i < 200 && (testing::ProcessWithArgsExists("sleep 1001") ||
                              testing::ProcessWithArgsExists("sleep 1002"));
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(testing::ProcessWithArgsExists("sleep 1001"));
  EXPECT_FALSE(testing::ProcessWithArgsExists("sleep 1002"));
}

// Conformance: every decision the backend recorded (in the kernel filter or
// by the supervisor) equals Decide on the same request, for the built-in
// workloads under every preset; outputs equal the native run's.
TEST_F(PtraceBackendTest, RecordedDecisionsEqualDecide) {
  const std::vector<std::vector<std::string>> workloads = {
      {"hello"},         {"startup"},          {"syscall-storm", "2000"},
      {"file-io", "64"}, {"mmap-touch", "64"}, {"compute", "1000"},
      {"fork-exec", "3"}};
  // In the workdir, so strict's exec rule ({workdir}/**) lets fork-exec run
  // `startup` beside it.
  for (const auto& spec : workloads) {
    std::filesystem::copy_file(BuiltWorkload("bench/" + spec[0]),
                               workdir_->path() / spec[0]);
  }
  size_t decisions = 0;
  size_t runs_checked = 0;
  for (std::string_view preset : {"strict", "default", "permissive"}) {
    auto loaded = LoadPreset(preset);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
    auto policy =
        std::make_shared<const Policy>(WithWorkdir(*loaded, Workdir()));
    for (const auto& spec : workloads) {
      SCOPED_TRACE(fmt::format("{} under {}", spec[0], preset));
      std::vector<std::string> args(spec.begin() + 1, spec.end());
      Workload workload = Program(Workdir() + "/" + spec[0], args);
      // file-io's file, if a run that may not unlink it left it: each
      // preset runs as its own uid, which may not reuse another's.
      std::filesystem::remove(workdir_->path() / "isoscope-file-io.tmp");
      SupervisorOptions run_options;
      run_options.host_facts = HostFacts{};
      PtraceBackend ptrace;
      testing::RecordingBackend recording(ptrace);
      auto result = Supervisor(policy, run_options).Run(recording, workload);
      ASSERT_TRUE(result.has_value()) << result.error().ToString();
      // Decided in the kernel filter (kills), as recorded in the result...
      std::vector<std::pair<SyscallRequest, Verdict>> decided =
          recording.resolved;
      for (const SyscallEvent& event : SyscallEvents(*result)) {
        ASSERT_TRUE(event.verdict.has_value());
        if (event.decided_by == DecidedBy::kKernelFilter) {
          decided.emplace_back(event.request, *event.verdict);
        }
      }
      // ...and by the supervisor, allowed ones included.
      for (const auto& [request, verdict] : decided) {
        if (verdict.rule_id.rfind("ptrace.", 0) == 0) continue;
        ++decisions;
        Verdict expected = Decide(*policy, request);
        EXPECT_EQ(verdict.action, expected.action)
            << SyscallName(request.number);
        EXPECT_EQ(verdict.rule_id, expected.rule_id)
            << SyscallName(request.number);
      }
      if (preset == "strict" && spec[0] == "file-io") {
        // file-io unlinks, which strict does not allow: the kill is the
        // policy's (and was just checked against Decide). Every other pair
        // runs to its end as natively.
        EXPECT_EQ(result->termination.outcome, Outcome::kViolation)
            << result->termination.reason;
        EXPECT_EQ(result->termination.rule_id, "syscalls.default");
        continue;
      }
      ExpectSameAsNative(*result, workload);
      ++runs_checked;
    }
  }
  EXPECT_EQ(runs_checked, 20u);
  // Not vacuous: under strict and default the supervisor decides file-io's
  // open and unlink (strict's kill of it included) and fork-exec's three
  // execs, five each; permissive inspects none of these calls. And under
  // every preset, after each exec (each run's first, 21, and fork-exec's
  // three, 9) the image the kernel ran (a static program: only itself).
  EXPECT_EQ(decisions, 40u);
}

}  // namespace
}  // namespace isoscope
