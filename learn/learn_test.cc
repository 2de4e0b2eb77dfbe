#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "learn/learned_policy.h"
#include "learn/observation.h"
#include "learn/path_globs.h"
#include "learn/proof.h"
#include "policies/decide.h"
#include "policies/loader.h"

namespace isoscope {
namespace {

SyscallEvent Call(int number, std::array<uint64_t, 6> args = {},
                  std::vector<PathArgument> paths = {}) {
  SyscallEvent event;
  event.pid = 42;
  event.request.number = number;
  event.request.args = args;
  event.request.paths = std::move(paths);
  return event;
}

SyscallEvent Open(const std::string& path, uint64_t flags) {
  return Call(SYS_openat, {static_cast<uint64_t>(AT_FDCWD), 0x1000, flags},
              {PathArgument{1, path}});
}

SyscallRequest Request(int number, std::array<uint64_t, 6> args = {},
                       std::vector<PathArgument> paths = {}) {
  return Call(number, args, std::move(paths)).request;
}

// A run of a small program: reads a library and a config file, writes in
// its workdir, asks isatty, opens a UNIX socket, then exits.
Observation SmallRun(InetEndpoint endpoint = {}) {
  Observer observer(
      "/run/wd",
      [endpoint](const SyscallEvent&) -> std::optional<InetEndpoint> {
        if (endpoint.address.empty()) return std::nullopt;
        return endpoint;
      });
  observer.Append(Event{Open("/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY)});
  observer.Append(Event{Open("/etc/hostname", O_RDONLY)});
  observer.Append(Event{Open("/run/wd/out.txt", O_WRONLY | O_CREAT)});
  observer.Append(
      Event{Call(SYS_execve, {}, {PathArgument{0, "/usr/bin/cat"}})});
  observer.Append(Event{Call(SYS_ioctl, {1, 0x5401})});
  observer.Append(Event{Call(SYS_read, {3, 0x1000, 832})});
  observer.Append(Event{Call(SYS_read, {3, 0x2000, 64})});
  observer.Append(
      Event{Call(SYS_socket, {AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC})});
  if (!endpoint.address.empty()) {
    observer.Append(Event{Call(SYS_socket, {AF_INET, SOCK_STREAM})});
    observer.Append(Event{Call(SYS_connect, {4, 0x3000, 16})});
  }
  observer.Append(Event{Call(SYS_exit_group)});
  ExitEvent exit;
  exit.usage.max_rss_kib = 100 * 1024;
  exit.usage.user_cpu_us = 2000;
  observer.Append(Event{exit});
  return observer.Finish(/*wall_ms=*/50, /*output_bytes=*/10);
}

Policy Base() {
  auto base = LoadPreset("default");
  EXPECT_TRUE(base) << base.error().message();
  return *base;
}

Policy Learn(const Observation& observation, const Policy* merge = nullptr) {
  const Policy base = Base();
  auto learned = LearnPolicy(observation, base,
                             {"cat /etc/hostname", "ptrace", "default", merge});
  EXPECT_TRUE(learned) << learned.error().message();
  auto policy = ParsePolicy(learned->yaml, "learned.yaml");
  EXPECT_TRUE(policy) << policy.error().message() << "\n" << learned->yaml;
  return WithWorkdir(*policy, "/work/dir");
}

TEST(ObserverTest, CountsCallsPathsAndSelectorValues) {
  const Observation seen = SmallRun();
  ASSERT_TRUE(seen.syscalls.contains(SYS_read));
  EXPECT_EQ(seen.syscalls.at(SYS_read).count, 2u);
  EXPECT_EQ(seen.syscalls.at(SYS_read).example_args[2], 832u);
  EXPECT_EQ(seen.syscalls.at(SYS_ioctl).selector_values,
            (std::map<std::vector<uint64_t>, uint64_t>{{{0x5401}, 1}}));
  // socket: its family and its type without SOCK_NONBLOCK|SOCK_CLOEXEC.
  EXPECT_EQ(
      seen.syscalls.at(SYS_socket).selector_values,
      (std::map<std::vector<uint64_t>, uint64_t>{{{AF_UNIX, SOCK_STREAM}, 1}}));
  EXPECT_TRUE(seen.paths.contains({PathIntent::kRead, "/etc/hostname"}));
  EXPECT_TRUE(seen.paths.contains({PathIntent::kWrite, "{workdir}/out.txt"}));
  EXPECT_TRUE(seen.paths.contains({PathIntent::kExec, "/usr/bin/cat"}));
  EXPECT_EQ(seen.socket_families, std::set<int>{AF_UNIX});
  EXPECT_EQ(seen.max_rss_kib, 100 * 1024);
  EXPECT_EQ(seen.max_wall_ms, 50);
  EXPECT_EQ(seen.runs, 1);
}

TEST(ObserverTest, MergeAddsCountsAndKeepsPeaks) {
  Observation both = SmallRun();
  Observation other = SmallRun();
  other.max_wall_ms = 500;
  both.Merge(other);
  EXPECT_EQ(both.runs, 2);
  EXPECT_EQ(both.syscalls.at(SYS_read).count, 4u);
  EXPECT_EQ(both.max_wall_ms, 500);
}

TEST(PathGlobsTest, GeneralisesAsAPersonWould) {
  std::vector<ObservedPath> read = {
      {"{workdir}/a/b.txt", 1},
      {"/tmp/tmpk3j4h5", 2},
      {"/usr/lib/python3.11/os.py", 1},
      {"/usr/lib/python3.11/encodings/utf_8.py", 1},
      {"/proc/4242/stat", 1},
      {"/etc/passwd", 1},
      {"/etc/hosts", 1},
  };
  for (int i = 0; i < 8; ++i) {
    read.push_back({"/opt/app/conf/" + std::to_string(i) + ".conf", 1});
  }
  const GeneralisedPaths out = GeneralisePaths(PathIntent::kRead, read);
  std::vector<std::string> globs;
  for (const auto& [glob, use] : out.globs) globs.push_back(glob);
  EXPECT_EQ(globs,
            (std::vector<std::string>{
                "/etc/hosts", "/etc/passwd", "/opt/app/conf/*", "/proc/*/stat",
                "/tmp/**", "/usr/lib/python3.11/**", "{workdir}/**"}));
  EXPECT_EQ(out.globs.at("/usr/lib/python3.11/**").paths, 2u);
  EXPECT_EQ(out.globs.at("/tmp/**").calls, 2u);
}

TEST(PathGlobsTest, ExecutedProgramsStayExact) {
  const GeneralisedPaths out = GeneralisePaths(
      PathIntent::kExec, {{"/usr/bin/gcc", 1},
                          {"{workdir}/a.out", 1},
                          {"/usr/lib/gcc/x86_64-linux-gnu/12/cc1", 1}});
  std::vector<std::string> globs;
  for (const auto& [glob, use] : out.globs) globs.push_back(glob);
  EXPECT_EQ(globs, (std::vector<std::string>{
                       "/usr/bin/gcc", "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
                       "{workdir}/a.out"}));
}

TEST(PathGlobsTest, APathWithAGlobCharacterIsLeftOutAndSaid) {
  const GeneralisedPaths out =
      GeneralisePaths(PathIntent::kRead, {{"/srv/a*b", 1}});
  EXPECT_TRUE(out.globs.empty());
  ASSERT_EQ(out.notes.size(), 1u);
  EXPECT_NE(out.notes[0].find("/srv/a*b"), std::string::npos);
}

TEST(PathGlobsTest, WritesStayExactAndSecretsTreesAreNotCollapsed) {
  const GeneralisedPaths written = GeneralisePaths(
      PathIntent::kWrite,
      {{"/usr/lib/python3/dist-packages/x/__pycache__/a.pyc", 1}});
  EXPECT_TRUE(written.globs.contains(
      "/usr/lib/python3/dist-packages/x/__pycache__/a.pyc"));
  EXPECT_EQ(written.globs.size(), 1u);
  std::vector<ObservedPath> dotfiles;
  for (int i = 0; i < 10; ++i) {
    dotfiles.push_back({"/home/u/.rc" + std::to_string(i), 1});
    dotfiles.push_back({"/proc/self/f" + std::to_string(i), 1});
  }
  const GeneralisedPaths read = GeneralisePaths(PathIntent::kRead, dotfiles);
  EXPECT_EQ(read.globs.size(), 20u);  // each exact, none "dir/*"
  EXPECT_FALSE(read.globs.contains("/home/u/*"));
}

TEST(PathGlobsTest, GlobCharactersAndBytesYamlCannotHoldAreLeftOut) {
  const GeneralisedPaths out = GeneralisePaths(
      PathIntent::kRead, {{"/srv/a?b", 1}, {"/srv/caf\xe9", 1}});
  EXPECT_TRUE(out.globs.empty());
  EXPECT_EQ(out.notes.size(), 2u);
}

TEST(LearnPolicyTest, ATaskMadeMayExitEvenIfNoneWasSeenExiting) {
  Observer observer("", nullptr);
  observer.Append(Event{Call(SYS_clone, {0x3d0f00})});
  const Policy policy = Learn(observer.Finish(10, 0));
  EXPECT_EQ(Decide(policy, Request(SYS_exit)).action.action, Action::kAllow);
  EXPECT_EQ(Decide(Learn(SmallRun()), Request(SYS_exit)).rule_id,
            "syscalls.default");
}

TEST(LearnPolicyTest, MergeKeepsACallAllowedWhateverItsArguments) {
  const Policy first = Learn(SmallRun());  // ioctl TCGETS only
  Observer observer("", nullptr);
  for (uint64_t request = 0; request < 70; ++request) {
    observer.Append(Event{Call(SYS_ioctl, {1, 0x1000 + request})});
  }
  const Policy widened = Learn(observer.Finish(10, 0), &first);
  EXPECT_EQ(Decide(widened, Request(SYS_ioctl, {1, 0x5401})).action.action,
            Action::kAllow);
  EXPECT_EQ(Decide(widened, Request(SYS_ioctl, {1, 0x9999})).action.action,
            Action::kAllow);
}

// clone's flags seen are the only ones allowed, whatever the exit signal
// and the upper half the kernel ignores; any other set is refused EPERM,
// and clone3 (whose flags no filter reads) ENOSYS, so libc falls back to
// the checked clone.
TEST(LearnPolicyTest, CloneFlagsSeenAreTheOnlyOnesAllowed) {
  constexpr uint64_t kThread = 0x3d0f00;  // glibc's pthread_create
  constexpr uint64_t kFork = 0x1200000;   // glibc's fork, with SIGCHLD
  Observer observer("", nullptr);
  observer.Append(Event{Call(SYS_clone3, {0x1000, 88})});
  observer.Append(Event{Call(SYS_clone, {kThread})});
  observer.Append(Event{Call(SYS_clone, {kFork | SIGCHLD})});
  const Observation seen = observer.Finish(10, 0);
  EXPECT_EQ(seen.syscalls.at(SYS_clone).selector_values,
            (std::map<std::vector<uint64_t>, uint64_t>{{{kThread}, 1},
                                                       {{kFork}, 1}}));
  const Policy policy = Learn(seen);
  const auto decide = [&policy](std::array<uint64_t, 6> args) {
    return Decide(policy, Request(SYS_clone, args));
  };
  EXPECT_EQ(decide({kThread}).action.action, Action::kAllow);
  EXPECT_EQ(decide({kFork | SIGUSR1}).action.action, Action::kAllow);
  EXPECT_EQ(decide({(uint64_t{1} << 32) | kThread}).action.action,
            Action::kAllow);
  const Verdict spawn = decide({CLONE_VM | CLONE_VFORK | SIGCHLD});
  EXPECT_EQ(spawn.action, (ActionSpec{Action::kDeny, EPERM}));
  EXPECT_EQ(spawn.rule_id, "clone-0x1200000.else");
  EXPECT_EQ(decide({kFork | CLONE_NEWUSER | SIGCHLD}).action,
            (ActionSpec{Action::kDeny, EPERM}));
  const Verdict clone3 = Decide(policy, Request(SYS_clone3, {0x1000, 88}));
  EXPECT_EQ(clone3.action, (ActionSpec{Action::kDeny, ENOSYS}));
  EXPECT_EQ(clone3.rule_id, "clone3-fallback");

  auto learned =
      LearnPolicy(seen, Base(), {"sh -c 'a & b'", "ptrace", "default"});
  ASSERT_TRUE(learned) << learned.error().message();
  EXPECT_NE(learned->yaml.find("# clone with flags CLONE_VM|CLONE_FS|"
                               "CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|"
                               "CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|"
                               "CLONE_CHILD_CLEARTID (0x3d0f00): 1 call"),
            std::string::npos)
      << learned->yaml;
  EXPECT_NE(learned->yaml.find("{index: 0, op: masked_eq, value: 0x3d0f00, "
                               "mask: 0xffffff00}"),
            std::string::npos)
      << learned->yaml;
}

Observation Protections(const std::vector<std::pair<int, uint64_t>>& calls) {
  Observer observer("", nullptr);
  for (const auto& [number, prot] : calls) {
    observer.Append(Event{Call(number, {0, 4096, prot, MAP_PRIVATE})});
  }
  return observer.Finish(10, 0);
}

// Memory never asked to be writable and executable at once may not be;
// never executable at all, not executable; asked for (a JIT), allowed.
// Every other protection stays allowed, and a merge widens.
TEST(LearnPolicyTest, MemoryProtectionsNeverSeenAreRefused) {
  constexpr uint64_t kR = PROT_READ;
  constexpr uint64_t kRw = PROT_READ | PROT_WRITE;
  constexpr uint64_t kRx = PROT_READ | PROT_EXEC;
  constexpr uint64_t kRwx = PROT_READ | PROT_WRITE | PROT_EXEC;
  const auto decide = [](const Policy& policy, int number, uint64_t prot) {
    return Decide(policy, Request(number, {0, 4096, prot, MAP_PRIVATE}));
  };
  const Policy dynamic = Learn(Protections(
      {{SYS_mmap, kR}, {SYS_mmap, kRw}, {SYS_mmap, kRx}, {SYS_mprotect, kR}}));
  EXPECT_EQ(decide(dynamic, SYS_mmap, kRx).action.action, Action::kAllow);
  EXPECT_EQ(decide(dynamic, SYS_mmap, PROT_NONE).action.action, Action::kAllow);
  EXPECT_EQ(decide(dynamic, SYS_mprotect, kRw).action.action, Action::kAllow);
  for (int number : {SYS_mmap, SYS_mprotect}) {
    const Verdict wx = decide(dynamic, number, kRwx);
    EXPECT_EQ(wx.action, (ActionSpec{Action::kDeny, EACCES}));
    EXPECT_EQ(wx.rule_id, "no-writable-executable-memory");
    EXPECT_EQ(decide(dynamic, number, PROT_WRITE | PROT_EXEC).action.action,
              Action::kDeny);
  }
  // Never seen at all: refused as ever (the base's default).
  EXPECT_EQ(decide(dynamic, SYS_pkey_mprotect, kR).rule_id, "syscalls.default");

  const Policy no_exec = Learn(Protections({{SYS_mmap, kRw}}));
  EXPECT_EQ(decide(no_exec, SYS_mmap, kRx).rule_id, "no-executable-memory");
  EXPECT_EQ(decide(no_exec, SYS_mmap, kRw).action.action, Action::kAllow);

  const Policy jit =
      Learn(Protections({{SYS_mmap, kRw}, {SYS_mprotect, kRwx}}));
  EXPECT_EQ(decide(jit, SYS_mmap, kRwx).action.action, Action::kAllow);

  // Merged: what either allowed, and only that.
  const Policy widened = Learn(Protections({{SYS_mmap, kRx}}), &no_exec);
  EXPECT_EQ(decide(widened, SYS_mmap, kRx).action.action, Action::kAllow);
  EXPECT_EQ(decide(widened, SYS_mmap, kRwx).rule_id,
            "no-writable-executable-memory");
  const Policy kept = Learn(Protections({{SYS_mmap, kR}}), &jit);
  EXPECT_EQ(decide(kept, SYS_mmap, kRwx).action.action, Action::kAllow);
}

TEST(LearnPolicyTest, AFileReadInATmpfsOfTheViewIsShownItself) {
  auto dir = TempDir::Create("isoscope-learn-view-");
  ASSERT_TRUE(dir) << dir.error().message();
  // The base view's tmpfs is /tmp: a file directly in the test's own tmp
  // directory, read and never written, was there before the run.
  const std::string file = (dir->path() / "input.csv").string();
  std::ofstream(file) << "1,2\n";
  Observer observer("", nullptr);
  observer.Append(Event{Open(file, O_RDONLY)});
  Policy base = Base();
  base.filesystem.tmpfs = {dir->path().string()};
  auto learned = LearnPolicy(observer.Finish(10, 0), base,
                             {"cat input.csv", "ptrace", "default"});
  ASSERT_TRUE(learned) << learned.error().message();
  auto policy = ParsePolicy(learned->yaml, "learned.yaml");
  ASSERT_TRUE(policy) << policy.error().message();
  EXPECT_THAT(policy->filesystem.readonly, ::testing::Contains(file));
  EXPECT_THAT(policy->filesystem.readonly,
              ::testing::Not(::testing::Contains(dir->path().string())));
}

TEST(LearnPolicyTest, AllowsWhatWasSeenAndNothingElse) {
  const Policy policy = Learn(SmallRun());
  const auto decide = [&policy](const SyscallRequest& request) {
    return Decide(policy, request);
  };
  EXPECT_EQ(decide(Request(SYS_read)).action.action, Action::kAllow);
  // A file it read, and one beside it that it never read.
  EXPECT_EQ(decide(Open("/etc/hostname", O_RDONLY).request).action.action,
            Action::kAllow);
  const Verdict other = decide(Open("/etc/shadow", O_RDONLY).request);
  EXPECT_EQ(other.action, (ActionSpec{Action::kDeny, EACCES}));
  EXPECT_EQ(other.rule_id, "files.else");
  // It wrote in its workdir; it never wrote /etc/hostname.
  EXPECT_EQ(
      decide(Open("/work/dir/new", O_WRONLY | O_CREAT).request).action.action,
      Action::kAllow);
  EXPECT_EQ(decide(Open("/etc/hostname", O_WRONLY).request).action.action,
            Action::kDeny);
  // It ran cat, not sh.
  EXPECT_EQ(decide(Request(SYS_execve, {}, {PathArgument{0, "/usr/bin/cat"}}))
                .action.action,
            Action::kAllow);
  EXPECT_EQ(
      decide(Request(SYS_execve, {}, {PathArgument{0, "/bin/sh"}})).rule_id,
      "files.else");
  // isatty, but no other ioctl.
  EXPECT_EQ(decide(Request(SYS_ioctl, {1, 0x5401})).action.action,
            Action::kAllow);
  const Verdict ioctl = decide(Request(SYS_ioctl, {1, 0x5413}));
  EXPECT_EQ(ioctl.action, (ActionSpec{Action::kDeny, ENOTTY}));
  EXPECT_EQ(ioctl.rule_id, "ioctl-0x5401.else");
  // A UNIX socket, not an IP one.
  EXPECT_EQ(decide(Request(SYS_socket, {AF_UNIX, SOCK_STREAM})).action.action,
            Action::kAllow);
  EXPECT_EQ(decide(Request(SYS_socket, {AF_INET, SOCK_STREAM})).action,
            (ActionSpec{Action::kDeny, EAFNOSUPPORT}));
  // Of that family, the type seen (with or without its two flags), no
  // other.
  EXPECT_EQ(decide(Request(SYS_socket, {AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK}))
                .action.action,
            Action::kAllow);
  const Verdict datagram = decide(Request(SYS_socket, {AF_UNIX, SOCK_DGRAM}));
  EXPECT_EQ(datagram.action, (ActionSpec{Action::kDeny, EAFNOSUPPORT}));
  EXPECT_EQ(datagram.rule_id, "socket-0x1-0x1.else");
  EXPECT_EQ(policy.network, NetworkMode::kNone);
  // Never seen: the base's answers.
  EXPECT_EQ(decide(Request(SYS_mount)).action,
            (ActionSpec{Action::kDeny, EPERM}));
  EXPECT_EQ(decide(Request(SYS_mount)).rule_id, "refused-admin");
  EXPECT_EQ(decide(Request(SYS_write)).rule_id, "syscalls.default");
  // Peaks with headroom.
  // Twice the peak is 200 MiB, but the base's 1 GiB is higher.
  EXPECT_EQ(policy.resources.memory_bytes, uint64_t{1024} * 1024 * 1024);
  EXPECT_EQ(policy.resources.wall_time_ms, 30000u);
  EXPECT_EQ(policy.identity, Base().identity);
}

TEST(LearnPolicyTest, NetworkFollowsTheEndpointsReached) {
  EXPECT_EQ(Learn(SmallRun({"127.0.0.1", 8080, true})).network,
            NetworkMode::kLoopback);
  EXPECT_EQ(Learn(SmallRun({"192.0.2.7", 443, false})).network,
            NetworkMode::kHost);
}

SyscallRequest ConnectTo(IpEndpoint endpoint, int number = SYS_connect) {
  SyscallRequest request = Request(number);
  request.address = SocketAddress{SocketAddress::Kind::kIp, AF_INET, endpoint};
  return request;
}

IpEndpoint Loopback(uint16_t port) {
  IpEndpoint endpoint;
  endpoint.address = {127, 0, 0, 1};
  endpoint.port = port;
  return endpoint;
}

// The endpoints seen become network.connect and network.bind: what was
// connected to is reached, another port is not; nothing bound, an empty
// bind list.
TEST(LearnPolicyTest, EndpointsSeenAreTheOnlyOnesReached) {
  const Policy policy = Learn(SmallRun({"127.0.0.1", 8080, true}));
  ASSERT_TRUE(policy.endpoints.connect);
  ASSERT_TRUE(policy.endpoints.bind);
  EXPECT_TRUE(policy.endpoints.bind->empty());
  EXPECT_NE(Decide(policy, ConnectTo(Loopback(8080))).action.action,
            Action::kDeny);
  EXPECT_EQ(Decide(policy, ConnectTo(Loopback(8081))).rule_id,
            "network.connect");
  // Never called, bind is refused by its syscall rule before any list.
  EXPECT_NE(Decide(policy, ConnectTo(Loopback(0), SYS_bind)).action.action,
            Action::kAllow);
}

// A server bound to port 0 and a client of it: the port the kernel picked
// is unknown, so its range is allowed on that host, and no port outside.
TEST(LearnPolicyTest, PortsOfABindToPortZeroAreItsRange) {
  Observer observer(
      "", [](const SyscallEvent& event) -> std::optional<InetEndpoint> {
        return InetEndpoint{"127.0.0.1",
                            static_cast<uint16_t>(event.request.args[1]), true};
      });
  observer.Append(Event{Call(SYS_socket, {AF_INET, SOCK_STREAM})});
  observer.Append(Event{Call(SYS_bind, {3, 0})});
  observer.Append(Event{Call(SYS_connect, {4, 41234})});
  const Policy policy = Learn(observer.Finish(10, 0));
  ASSERT_TRUE(policy.endpoints.connect);
  ASSERT_EQ(policy.endpoints.connect->size(), 1U);
  EXPECT_EQ(policy.endpoints.connect->front().text, "127.0.0.1:32768-60999");
  EXPECT_NE(Decide(policy, ConnectTo(Loopback(45000))).action.action,
            Action::kDeny);
  EXPECT_EQ(Decide(policy, ConnectTo(Loopback(8080))).rule_id,
            "network.connect");
  EXPECT_NE(Decide(policy, ConnectTo(Loopback(0), SYS_bind)).action.action,
            Action::kDeny);
}

TEST(LearnPolicyTest, CommentsSayWhatTheWorkloadDid) {
  const Policy base = Base();
  auto learned =
      LearnPolicy(SmallRun(), base, {"cat /etc/hostname", "ptrace", "default"});
  ASSERT_TRUE(learned) << learned.error().message();
  const std::string& yaml = learned->yaml;
  EXPECT_NE(yaml.find("# ioctl with request TCGETS (0x5401): 1 call\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("read x2, e.g. read(0x3, 0x1000, 0x340)"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("# Command: cat /etc/hostname"), std::string::npos);
}

TEST(LearnPolicyTest, MergeWidensAnEarlierPolicy) {
  const Policy first = Learn(SmallRun());
  Observer observer("", nullptr);
  observer.Append(Event{Call(SYS_ioctl, {1, 0x5413})});
  observer.Append(Event{Open("/etc/os-release", O_RDONLY)});
  const Policy widened = Learn(observer.Finish(10, 0), &first);
  EXPECT_EQ(Decide(widened, Request(SYS_ioctl, {1, 0x5401})).action.action,
            Action::kAllow);
  EXPECT_EQ(Decide(widened, Request(SYS_ioctl, {1, 0x5413})).action.action,
            Action::kAllow);
  EXPECT_EQ(
      Decide(widened, Open("/etc/hostname", O_RDONLY).request).action.action,
      Action::kAllow);
  EXPECT_EQ(
      Decide(widened, Open("/etc/os-release", O_RDONLY).request).action.action,
      Action::kAllow);
  EXPECT_EQ(Decide(widened, Open("/etc/shadow", O_RDONLY).request).rule_id,
            "files.else");
  EXPECT_EQ(Decide(widened, Request(SYS_read)).action.action, Action::kAllow);
}

RunResult Exited(int code, std::string out) {
  RunResult run;
  run.termination.outcome = Outcome::kExited;
  run.termination.exit_code = code;
  run.output.stdout_bytes = std::move(out);
  return run;
}

RunResult Sigill() {
  RunResult run;
  run.termination.outcome = Outcome::kSignaled;
  run.termination.signal = SIGILL;
  return run;
}

FaultEvent InvalidInstruction(std::string mnemonic) {
  FaultEvent fault;
  fault.kind = FaultKind::kInvalidInstruction;
  fault.signal = SIGILL;
  fault.rip = 0x496cfe;
  fault.mnemonic = std::move(mnemonic);
  return fault;
}

// A proof run the backend could not execute (kvm on a PVM host stops at
// the first SSE instruction) is "not run"; anything else that differs,
// whatever the fault, is a difference.
TEST(ClassifyProofTest, AnInstructionTheBackendCannotRunIsNotADifference) {
  const RunResult learned = Exited(0, "hi\n");
  const Observation observed = SmallRun();
  using Kind = ProofOutcome::Kind;
  const auto classify = [&](const RunResult& proof,
                            const std::optional<FaultEvent>& fault,
                            const Observation& seen) {
    return ClassifyProof(learned, seen, proof, fault);
  };
  EXPECT_EQ(classify(Exited(0, "hi\n"), std::nullopt, observed).kind,
            Kind::kSame);
  const ProofOutcome pxor =
      classify(Sigill(), InvalidInstruction("pxor"), observed);
  EXPECT_EQ(pxor.kind, Kind::kNotRun);
  EXPECT_NE(pxor.reason.find("cannot execute pxor at rip 0x496cfe"),
            std::string::npos)
      << pxor.reason;
  // The program's own ud2, or an undecodable instruction: its doing.
  EXPECT_EQ(classify(Sigill(), InvalidInstruction("ud2"), observed).kind,
            Kind::kDiffers);
  EXPECT_EQ(classify(Sigill(), InvalidInstruction(""), observed).kind,
            Kind::kDiffers);
  // No fault recorded, or another kind of fault.
  EXPECT_EQ(classify(Sigill(), std::nullopt, observed).kind, Kind::kDiffers);
  FaultEvent segv = InvalidInstruction("mov");
  segv.kind = FaultKind::kPageFault;
  EXPECT_EQ(classify(Sigill(), segv, observed).kind, Kind::kDiffers);
  // A rule that killed the run (a violation), even at such an
  // instruction.
  RunResult killed = Sigill();
  killed.termination.outcome = Outcome::kViolation;
  killed.termination.rule_id = "faults.invalid_instruction";
  EXPECT_EQ(classify(killed, InvalidInstruction("pxor"), observed).kind,
            Kind::kDiffers);
  // The observed run faulted so too: the program's own SIGILL.
  Observation faulting = observed;
  faulting.faults[FaultKind::kInvalidInstruction] = 1;
  EXPECT_EQ(classify(Sigill(), InvalidInstruction("pxor"), faulting).kind,
            Kind::kDiffers);
  // A policy refusal that changes the output.
  const ProofOutcome refused = classify(Exited(1, ""), std::nullopt, observed);
  EXPECT_EQ(refused.kind, Kind::kDiffers);
  EXPECT_FALSE(refused.same_stdout);
  EXPECT_FALSE(refused.same_exit);
}

// LastFault keeps the run's last fault, whatever came after it.
TEST(ClassifyProofTest, LastFaultKeepsTheLastFault) {
  LastFault last;
  EXPECT_FALSE(last.fault());
  last.Append(Event{InvalidInstruction("cpuid")});
  last.Append(Event{InvalidInstruction("pxor")});
  last.Append(Event{Call(SYS_write)});
  ASSERT_TRUE(last.fault());
  EXPECT_EQ(last.fault()->mnemonic, "pxor");
}

}  // namespace
}  // namespace isoscope
