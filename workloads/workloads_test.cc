// Runs each built-in bench workload natively and checks its exit status and
// its exact RESULT line; checks the catalog finds the built programs.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "workloads/catalog.h"

namespace isoscope {
namespace {

struct Outcome {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;
};

// The build's workloads directory: $ISOSCOPE_BUILD_DIR/workloads, else the
// directory of this test binary (built into that same directory).
std::filesystem::path WorkloadsDir() {
  if (const char* build = std::getenv("ISOSCOPE_BUILD_DIR");
      build != nullptr && build[0] != '\0') {
    return std::filesystem::path(build) / "workloads";
  }
  return std::filesystem::read_symlink("/proc/self/exe").parent_path();
}

// Runs `program args...` in `cwd` with stdout captured and stderr discarded.
Outcome RunWorkload(
    const std::filesystem::path& program, const std::vector<std::string>& args,
    const std::filesystem::path& cwd = std::filesystem::temp_directory_path()) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  std::vector<std::string> argv_storage = {program.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string cwd_str = cwd.string();

  pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until execv
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (dup2(fds[1], 1) < 0 || dup2(devnull, 2) < 0 ||
        chdir(cwd_str.c_str()) != 0) {
      _exit(126);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  Outcome outcome;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) outcome.out.append(buf, n);
  close(fds[0]);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  }
  return outcome;
}

std::filesystem::path Bench(const char* name) {
  return WorkloadsDir() / "bench" / name;
}

class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "isoscope-wl-XXXXXX")
            .string();
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(BenchWorkloads, StartupExitsZeroSilently) {
  Outcome o = RunWorkload(Bench("startup"), {});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "");
}

TEST(BenchWorkloads, HelloPrintsAndExitsWithCode) {
  Outcome o = RunWorkload(Bench("hello"), {});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "hello from isoscope\nRESULT hello code=0\n");
  o = RunWorkload(Bench("hello"), {"7"});
  EXPECT_EQ(o.exit_code, 7);
  EXPECT_EQ(o.out, "hello from isoscope\nRESULT hello code=7\n");
}

TEST(BenchWorkloads, SyscallStorm) {
  Outcome o = RunWorkload(Bench("syscall-storm"), {"10000"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT syscall-storm n=10000 ok=1\n");
}

TEST(BenchWorkloads, FileIoLeavesNothingBehind) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  Outcome o = RunWorkload(Bench("file-io"), {"16"}, dir.path());
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT file-io n=16 bytes=65536 ok=1\n");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(BenchWorkloads, MmapTouch) {
  Outcome o = RunWorkload(Bench("mmap-touch"), {"256"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT mmap-touch n=256 ok=1\n");
}

TEST(BenchWorkloads, ComputeIsDeterministic) {
  Outcome o = RunWorkload(Bench("compute"), {"1000"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT compute n=1000 hash=0x4b566900bb53c3e8\n");
  o = RunWorkload(Bench("compute"), {"0"});
  EXPECT_EQ(o.out, "RESULT compute n=0 hash=0xcbf29ce484222325\n");
}

TEST(BenchWorkloads, ForkExec) {
  Outcome o = RunWorkload(Bench("fork-exec"), {"5"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "RESULT fork-exec n=5 ok=1\n");
}

TEST(BenchWorkloads, BadArgumentsExitTwo) {
  const std::vector<std::pair<const char*, std::vector<std::string>>> cases = {
      {"hello", {"256"}},        {"hello", {"x"}},
      {"syscall-storm", {"-1"}}, {"file-io", {"1", "2"}},
      {"mmap-touch", {"12abc"}}, {"compute", {""}},
      {"fork-exec", {"0x"}},
  };
  for (const auto& [name, args] : cases) {
    Outcome o = RunWorkload(Bench(name), args);
    EXPECT_EQ(o.exit_code, 2) << name << " " << args[0];
    EXPECT_EQ(o.out, "") << name;
  }
}

// The resource probes (the runner's --noisy): built, never run by the tests.
const std::set<std::string> kNoisyProbes = {"fork-bomb", "memory-bomb",
                                            "disk-fill", "cpu-spin"};

// The probes that take one CASE argument (the runner's ProbeCases).
const std::set<std::string> kProbesWithCases = {
    "fault-map",     "magic-links", "checked-arg",  "identity", "network",
    "pathless-open", "ns-flags",    "checked-call", "sensitive"};

// Without a case, or with an unknown one, they print usage and exit 2.
TEST(Probes, ProbesWithCasesNeedOne) {
  for (const std::string& id : kProbesWithCases) {
    const std::filesystem::path program = WorkloadsDir() / "probes" / id;
    EXPECT_EQ(RunWorkload(program, {}).exit_code, 2) << id;
    Outcome o = RunWorkload(program, {"bogus"});
    EXPECT_EQ(o.exit_code, 2) << id;
    EXPECT_EQ(o.out, "") << id;
  }
}

// Every probe prints exactly one well-formed PROBE line (those with cases
// one per case, run by the runner's tests) and exits 0. Run in a temporary
// directory: mknod works in the cwd. The canary probes see no ISOSCOPE_CANARY_*
// here and print NA.
TEST(Probes, EachPrintsOneWellFormedLine) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::filesystem::path probes = WorkloadsDir() / "probes";
  const std::regex line(
      "PROBE ([a-z0-9.-]+) (BLOCKED|REACHABLE|ESCAPED|NA) "
      "[^\\n]+\\n");
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(probes)) {
    const std::string id = entry.path().filename().string();
    if (kProbesWithCases.contains(id) || kNoisyProbes.contains(id)) continue;
    Outcome o = RunWorkload(entry.path(), {}, dir.path());
    EXPECT_EQ(o.exit_code, 0) << id;
    std::smatch match;
    EXPECT_TRUE(std::regex_match(o.out, match, line)) << id << ": " << o.out;
    if (match.size() > 1) {
      EXPECT_EQ(match[1].str(), id);
    }
    ++count;
  }
  EXPECT_GE(count, 40);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Probes, NoisyProbesAreBuilt) {
  for (const std::string& id : kNoisyProbes) {
    EXPECT_TRUE(
        std::filesystem::is_regular_file(WorkloadsDir() / "probes" / id))
        << id;
  }
}

// The canaries the probe runner provides, set up here the same way and passed
// through the environment; everything is undone by the destructor.
class Canaries {
 public:
  Canaries() {
    std::mt19937_64 rng(std::random_device{}());
    token_ = std::to_string(rng());
    // The secret file.
    secret_ = std::filesystem::temp_directory_path() /
              ("isoscope-canary-secret-" + std::to_string(getpid()));
    std::ofstream(secret_) << token_;
    // A TCP listener on 127.0.0.1, any port.
    tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    if (tcp_ >= 0 &&
        bind(tcp_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0 &&
        listen(tcp_, 8) == 0 &&
        getsockname(tcp_, reinterpret_cast<sockaddr*>(&sin), &len) == 0) {
      port_ = ntohs(sin.sin_port);
    }
    // An abstract unix listener.
    abstract_name_ = "isoscope-canary-" + std::to_string(getpid()) + "-" +
                     std::to_string(rng() % 1000000);
    unix_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    abstract_name_.copy(sun.sun_path + 1, abstract_name_.size());
    socklen_t sun_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                               1 + abstract_name_.size());
    abstract_ok_ =
        unix_ >= 0 &&
        bind(unix_, reinterpret_cast<sockaddr*>(&sun), sun_len) == 0 &&
        listen(unix_, 8) == 0;
    // Two sleeping children with SIGUSR1 blocked, so a delivered SIGUSR1
    // stays pending where the test can see it: the canary and a stand-in for
    // the supervisor.
    canary_pid_ = SpawnSleeper();
    supervisor_pid_ = SpawnSleeper();
    // A SysV segment, mode 0600, under a fresh key.
    for (int i = 0; i < 100 && shm_id_ < 0; ++i) {
      shm_key_ = static_cast<key_t>(rng() % 0x7ffffffe) + 1;
      shm_id_ = shmget(shm_key_, 4096, IPC_CREAT | IPC_EXCL | 0600);
    }
    setenv("ISOSCOPE_CANARY_SECRET", secret_.c_str(), 1);
    setenv("ISOSCOPE_CANARY_TCP_PORT", std::to_string(port_).c_str(), 1);
    setenv("ISOSCOPE_CANARY_ABSTRACT", abstract_name_.c_str(), 1);
    setenv("ISOSCOPE_CANARY_PID", std::to_string(canary_pid_).c_str(), 1);
    setenv("ISOSCOPE_CANARY_SHM_KEY", std::to_string(shm_key_).c_str(), 1);
    setenv("ISOSCOPE_SUPERVISOR_PID", std::to_string(supervisor_pid_).c_str(),
           1);
  }

  ~Canaries() {
    for (const char* var :
         {"ISOSCOPE_CANARY_SECRET", "ISOSCOPE_CANARY_TCP_PORT",
          "ISOSCOPE_CANARY_ABSTRACT", "ISOSCOPE_CANARY_PID",
          "ISOSCOPE_CANARY_SHM_KEY", "ISOSCOPE_SUPERVISOR_PID"}) {
      unsetenv(var);
    }
    for (pid_t pid : {canary_pid_, supervisor_pid_}) {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
    if (shm_id_ >= 0) shmctl(shm_id_, IPC_RMID, nullptr);
    if (unix_ >= 0) close(unix_);
    if (tcp_ >= 0) close(tcp_);
    std::error_code ec;
    std::filesystem::remove(secret_, ec);
  }

  bool ok() const {
    return port_ > 0 && abstract_ok_ && canary_pid_ > 0 &&
           supervisor_pid_ > 0 && shm_id_ >= 0 &&
           std::filesystem::file_size(secret_) == token_.size();
  }

  // What a client sent on the first queued connection of `listener`, or
  // nullopt if none is queued (the probe has already closed its end).
  static std::optional<std::string> Accepted(int listener) {
    int conn =
        accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) return std::nullopt;
    std::string data;
    char buf[64];
    ssize_t n;
    while ((n = read(conn, buf, sizeof(buf))) > 0) data.append(buf, n);
    close(conn);
    return data;
  }

  // Whether SIGUSR1 is pending (blocked, delivered) on the child `pid`.
  static bool Usr1Pending(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("ShdPnd:", 0) == 0) {
        uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
        return (mask & (1ULL << (SIGUSR1 - 1))) != 0;
      }
    }
    return false;
  }

  const std::string& token() const { return token_; }
  int tcp() const { return tcp_; }
  int unix_listener() const { return unix_; }
  pid_t canary_pid() const { return canary_pid_; }

 private:
  static pid_t SpawnSleeper() {
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    sigprocmask(SIG_SETMASK, &old, nullptr);
    return pid;
  }

  std::string token_;
  std::filesystem::path secret_;
  int tcp_ = -1;
  int port_ = 0;
  std::string abstract_name_;
  int unix_ = -1;
  bool abstract_ok_ = false;
  pid_t canary_pid_ = -1;
  pid_t supervisor_pid_ = -1;
  key_t shm_key_ = 0;
  int shm_id_ = -1;
};

// The first line a probe prints, split into id, verdict and detail.
struct ProbeLine {
  std::string id, verdict, detail;
};
ProbeLine RunProbe(const std::string& id) {
  Outcome o = RunWorkload(WorkloadsDir() / "probes" / id, {});
  std::smatch m;
  static const std::regex line("PROBE (\\S+) (\\S+) ([^\\n]+)\\n");
  if (o.exit_code != 0 || !std::regex_match(o.out, m, line)) {
    return {"", "", o.out};
  }
  return {m[1].str(), m[2].str(), m[3].str()};
}

// Natively nothing stands between a probe and the canaries: each one is
// reached, and the runner's side sees it (the "ISOSCOPE" bytes, the pending
// SIGUSR1).
TEST(Probes, CanaryProbesEscapeNatively) {
  Canaries canaries;
  ASSERT_TRUE(canaries.ok());

  ProbeLine secret = RunProbe("secret-file");
  EXPECT_EQ(secret.id, "secret-file");
  EXPECT_EQ(secret.verdict, "ESCAPED") << secret.detail;
  // The detail gives the size, never the content.
  EXPECT_EQ(secret.detail,
            "read " + std::to_string(canaries.token().size()) + " bytes");

  ProbeLine tcp = RunProbe("loopback-connect");
  EXPECT_EQ(tcp.id, "loopback-connect");
  EXPECT_EQ(tcp.verdict, "ESCAPED") << tcp.detail;
  EXPECT_EQ(Canaries::Accepted(canaries.tcp()), "ISOSCOPE");

  ProbeLine abstract = RunProbe("abstract-socket");
  EXPECT_EQ(abstract.id, "abstract-socket");
  EXPECT_EQ(abstract.verdict, "ESCAPED") << abstract.detail;
  EXPECT_EQ(Canaries::Accepted(canaries.unix_listener()), "ISOSCOPE");

  EXPECT_FALSE(Canaries::Usr1Pending(canaries.canary_pid()));
  ProbeLine signal = RunProbe("signal-canary");
  EXPECT_EQ(signal.id, "signal-canary");
  EXPECT_EQ(signal.verdict, "ESCAPED") << signal.detail;
  EXPECT_TRUE(Canaries::Usr1Pending(canaries.canary_pid()));

  ProbeLine shm = RunProbe("sysv-shm");
  EXPECT_EQ(shm.id, "sysv-shm");
  EXPECT_EQ(shm.verdict, "ESCAPED") << shm.detail;

  // kill(pid, 0) only: the stand-in supervisor gets no signal.
  ProbeLine kill_sup = RunProbe("kill-supervisor");
  EXPECT_EQ(kill_sup.id, "kill-supervisor");
  EXPECT_EQ(kill_sup.verdict, "REACHABLE") << kill_sup.detail;

  // PTRACE_SEIZE of a process that is not the probe's child: allowed here
  // (root, no Yama), EPERM under Yama ptrace_scope >= 1 without
  // CAP_SYS_PTRACE. The tracee must not notice (detached when the probe
  // exits, never stopped).
  for (const char* id : {"ptrace-canary", "ptrace-supervisor"}) {
    ProbeLine ptrace = RunProbe(id);
    EXPECT_EQ(ptrace.id, id);
    EXPECT_TRUE(ptrace.verdict == "ESCAPED" || ptrace.verdict == "BLOCKED")
        << id << ": " << ptrace.verdict << " " << ptrace.detail;
  }
  EXPECT_EQ(waitpid(canaries.canary_pid(), nullptr, WNOHANG), 0)
      << "the canary process must still be running";
}

// A canary variable that is missing or could name something else than a
// canary (pid 1, a process group, everyone) is refused with NA.
TEST(Probes, BadCanariesAreRefused) {
  for (const char* value : {"1", "0", "-1", "-4242", "abc", "12x", ""}) {
    ASSERT_EQ(setenv("ISOSCOPE_CANARY_PID", value, 1), 0);
    ProbeLine p = RunProbe("signal-canary");
    EXPECT_EQ(p.verdict, "NA") << value;
    EXPECT_EQ(p.detail, value[0] == 0 ? "no canary: ISOSCOPE_CANARY_PID"
                                      : "bad canary: ISOSCOPE_CANARY_PID")
        << value;
  }
  unsetenv("ISOSCOPE_CANARY_PID");
  EXPECT_EQ(RunProbe("ptrace-canary").detail, "no canary: ISOSCOPE_CANARY_PID");
  ASSERT_EQ(setenv("ISOSCOPE_CANARY_SHM_KEY", "0", 1), 0);
  EXPECT_EQ(RunProbe("sysv-shm").detail, "bad canary: IPC_PRIVATE key");
  ASSERT_EQ(setenv("ISOSCOPE_CANARY_TCP_PORT", "70000", 1), 0);
  EXPECT_EQ(RunProbe("loopback-connect").detail,
            "bad canary: ISOSCOPE_CANARY_TCP_PORT");
  unsetenv("ISOSCOPE_CANARY_SHM_KEY");
  unsetenv("ISOSCOPE_CANARY_TCP_PORT");
}

TEST(Probes, FaultMapNativeRouting) {
  Outcome o = RunWorkload(WorkloadsDir() / "probes" / "fault-map",
                          {"syscall", "hlt", "int3", "ud2", "div0"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out,
            "PROBE fault-map.syscall REACHABLE completed getpid=positive\n"
            "PROBE fault-map.hlt BLOCKED signal=11 (SIGSEGV) code=128\n"
            "PROBE fault-map.int3 BLOCKED signal=5 (SIGTRAP) code=128\n"
            "PROBE fault-map.ud2 BLOCKED signal=4 (SIGILL) code=2\n"
            "PROBE fault-map.div0 BLOCKED signal=8 (SIGFPE) code=1\n");
  EXPECT_EQ(RunWorkload(WorkloadsDir() / "probes" / "fault-map", {}).exit_code,
            2);
  EXPECT_EQ(
      RunWorkload(WorkloadsDir() / "probes" / "fault-map", {"bogus"}).exit_code,
      2);
}

// What a plain process at CPL 3 sees (the native column of the
// sensitive-instruction table): popf cannot change IF or IOPL, CS is
// __USER_CS, and rdpid/rdtscp/xgetbv either run or are reported absent.
TEST(Probes, SensitiveInstructionsNatively) {
  const std::filesystem::path program = WorkloadsDir() / "probes" / "sensitive";
  const auto line = [&](const std::string& c) {
    Outcome o = RunWorkload(program, {c});
    EXPECT_EQ(o.exit_code, 0) << c;
    return o.out;
  };
  EXPECT_EQ(line("cs"), "PROBE sensitive.cs REACHABLE value=0x33 cpl=3\n");
  EXPECT_EQ(line("ss"), "PROBE sensitive.ss REACHABLE value=0x2b cpl=3\n");
  EXPECT_EQ(line("popf-if"),
            "PROBE sensitive.popf-if REACHABLE value=ignored cpl=3 "
            "effect=ignored if=1->1 (asked 0)\n");
  EXPECT_EQ(line("popf-iopl"),
            "PROBE sensitive.popf-iopl REACHABLE value=ignored cpl=3 "
            "effect=ignored iopl=0->0 (asked 3)\n");
  EXPECT_TRUE(line("pushf").starts_with(
      "PROBE sensitive.pushf REACHABLE value=if:1,iopl:0 cpl=3 rflags=0x"));
  // Linux's per-CPU segment is there, readable at CPL 3.
  EXPECT_TRUE(line("lsl").starts_with(
      "PROBE sensitive.lsl REACHABLE value=cpunode cpl=3 selector=0x7b "
      "limit=0x"));
  for (const std::string c : {"rdpid", "rdtscp"}) {
    const std::string out = line(c);
    EXPECT_TRUE(std::regex_match(
        out, std::regex("PROBE sensitive\\." + c +
                        " (REACHABLE value=cpunode cpl=3 aux=0x[0-9a-f]+ "
                        "cpunode=0x[0-9a-f]+|NA absent=[a-z0-9-]+ cpl=3)\n")))
        << out;
  }
  // Where the kernel uses UMIP (it lists the flag), sgdt faults and the
  // kernel answers with its made-up GDT (arch/x86/kernel/umip.c).
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string flags;
  while (std::getline(cpuinfo, flags) && !flags.starts_with("flags")) {
  }
  if (std::regex_search(flags, std::regex("\\bumip\\b"))) {
    const std::string sgdt = line("sgdt");
    EXPECT_NE(sgdt.find("value=0xfffffffffffe0000/0x0 cpl=3 umip=emulated"),
              std::string::npos)
        << sgdt;
  } else {
    // Without it, the real tables of the CPU the probe ran on: the token
    // keeps only what every CPU shares.
    for (const std::string c : {"sgdt", "sidt"}) {
      const std::string out = line(c);
      EXPECT_TRUE(std::regex_match(
          out, std::regex("PROBE sensitive\\." + c +
                          " REACHABLE value=kernel/0x[0-9a-f]+ cpl=3 "
                          "umip=off base=0xffff[0-9a-f]+ limit=0x[0-9a-f]+\n")))
          << out;
    }
  }
}

TEST(Catalog, FindsBuildWorkloadsThroughEnvironment) {
  ASSERT_EQ(setenv("ISOSCOPE_WORKLOADS_DIR", WorkloadsDir().c_str(), 1), 0);
  std::optional<std::filesystem::path> hello = FindBuiltinWorkload("hello");
  ASSERT_TRUE(hello.has_value());
  EXPECT_TRUE(std::filesystem::equivalent(*hello, Bench("hello")));
  EXPECT_TRUE(FindBuiltinWorkload("syscall-storm").has_value());
  EXPECT_FALSE(FindBuiltinWorkload("no-such-workload").has_value());
  EXPECT_FALSE(FindBuiltinWorkload("../bench/hello").has_value());
  std::optional<std::filesystem::path> probe =
      FindBuiltinWorkload("probes/pid1");
  ASSERT_TRUE(probe.has_value());
  EXPECT_TRUE(
      std::filesystem::equivalent(*probe, WorkloadsDir() / "probes" / "pid1"));

  std::vector<BuiltinWorkload> all = ListBuiltinWorkloads();
  std::vector<std::string> names;
  for (const BuiltinWorkload& w : all) {
    names.push_back(w.name);
    EXPECT_FALSE(w.description.empty()) << w.name;
    EXPECT_TRUE(std::filesystem::exists(w.path)) << w.name;
  }
  for (const char* bench : {"startup", "hello", "syscall-storm", "file-io",
                            "mmap-touch", "compute", "fork-exec"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), bench), names.end())
        << bench;
  }
  unsetenv("ISOSCOPE_WORKLOADS_DIR");
}

TEST(Catalog, RecognisesBuiltinProgramsOnly) {
  ASSERT_EQ(setenv("ISOSCOPE_WORKLOADS_DIR", WorkloadsDir().c_str(), 1), 0);
  EXPECT_TRUE(IsBuiltinWorkloadProgram(Bench("hello")));
  EXPECT_TRUE(IsBuiltinWorkloadProgram(WorkloadsDir() / "probes" / "pid1"));
  // Spelled with `..`, or through a symlink of another name: the same file.
  EXPECT_TRUE(IsBuiltinWorkloadProgram(WorkloadsDir() / "probes" / ".." /
                                       "bench" / "syscall-storm"));
  const std::filesystem::path scratch =
      std::filesystem::temp_directory_path() /
      ("catalog-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(scratch);
  std::filesystem::create_symlink(Bench("hello"), scratch / "greeter");
  EXPECT_TRUE(IsBuiltinWorkloadProgram(scratch / "greeter"));
  // A copy of a built-in program, or another file of a built-in's name, is
  // not one.
  std::filesystem::copy_file(Bench("hello"), scratch / "hello");
  EXPECT_FALSE(IsBuiltinWorkloadProgram(scratch / "hello"));
  EXPECT_FALSE(IsBuiltinWorkloadProgram("/bin/true"));
  EXPECT_FALSE(IsBuiltinWorkloadProgram(scratch / "missing"));
  std::filesystem::remove_all(scratch);
  unsetenv("ISOSCOPE_WORKLOADS_DIR");
}

}  // namespace
}  // namespace isoscope
