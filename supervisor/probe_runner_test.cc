#include "supervisor/probe_runner.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "tests/fake_backend.h"

namespace isoscope {
namespace {

using testing::BlockUntilWoken;
using testing::FakeBackend;
using ::testing::HasSubstr;

std::map<std::string, std::string> EnvMap(const std::vector<std::string>& env) {
  std::map<std::string, std::string> out;
  for (const std::string& entry : env) {
    const size_t eq = entry.find('=');
    out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

// The scripted fake, plus a host-side action at Start: what a real probe
// would do to a canary from inside its sandbox.
class ActingBackend : public FakeBackend {
 public:
  using Action = std::function<void(const std::map<std::string, std::string>&)>;
  ActingBackend(std::vector<Step> script, Action action)
      : FakeBackend(std::move(script)), action_(std::move(action)) {}
  Status Start(const Workload& workload, const CompiledPlan& plan) override {
    if (action_) action_(EnvMap(workload.env));
    return FakeBackend::Start(workload, plan);
  }

 private:
  Action action_;
};

Event Stdout(const std::string& text) {
  return OutputEvent{OutputStream::kStdout, text};
}
Event Exit(int code) { return ExitEvent{.exit_code = code}; }

class ProbeRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-probe-runner-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    auto store = Store::Open(dir_->path() / "runs.db");
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_.emplace(std::move(*store));
    auto policy = LoadPreset("default");
    ASSERT_TRUE(policy.has_value()) << policy.error().ToString();
    options_.policy = std::make_shared<const Policy>(*policy);
    options_.backends = {"fake"};
  }

  // Registers "fake" as a backend that plays `script` and does `action`.
  void UseFake(const std::vector<FakeBackend::Step>& script,
               const ActingBackend::Action& action = {}) {
    registry_.Register("fake", "scripted", [=] {
      return std::make_unique<ActingBackend>(script, action);
    });
  }

  // One probe whose program is /bin/true (the fake never runs it).
  void OneProbe(const std::string& id, std::vector<std::string> args = {}) {
    options_.probes = {ProbeSpec{id, "/bin/true", std::move(args)}};
  }

  Result<ProbeSession> Run() {
    ProbeRunner runner(registry_, *store_, options_);
    return runner.Run();
  }

  std::optional<TempDir> dir_;
  std::optional<Store> store_;
  BackendRegistry registry_;
  ProbeOptions options_;
};

TEST_F(ProbeRunnerTest, TouchedCanaryOverridesWhatTheProbeSaid) {
  std::string secret_read;
  UseFake({Stdout("PROBE secret-file BLOCKED errno=EACCES\n"), Exit(0)},
          [&](const std::map<std::string, std::string>& env) {
            std::ifstream in(env.at("ISOSCOPE_CANARY_SECRET"));
            std::getline(in, secret_read);
          });
  OneProbe("secret-file");
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  ASSERT_EQ(secret_read.size(), 32u);  // the action really read it
  ASSERT_EQ(session->findings.size(), 1u);
  const ProbeFinding& f = session->findings[0];
  EXPECT_EQ(f.probe_id, "secret-file");
  EXPECT_EQ(f.backend, "fake");
  EXPECT_EQ(f.verdict, "ESCAPED");
  EXPECT_TRUE(f.overridden);
  EXPECT_THAT(f.detail, HasSubstr("secret file read"));
  EXPECT_THAT(f.detail, HasSubstr("BLOCKED errno=EACCES"));
  // Recorded: the session with its finding, the finding with its run.
  auto stored = store_->GetProbeSession(session->id);
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_EQ(*stored, *session);
  auto run = store_->Get(f.run_id);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->backend, "fake");
}

TEST_F(ProbeRunnerTest, ACanaryTouchedByAnotherProbeIsAttributedToIt) {
  // bpf has nothing to do with the loopback canary, yet it connected.
  UseFake({Stdout("PROBE bpf REACHABLE errno=EINVAL\n"), Exit(0)},
          [](const std::map<std::string, std::string>& env) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in in{};
            in.sin_family = AF_INET;
            in.sin_port = htons(static_cast<uint16_t>(
                std::stoi(env.at("ISOSCOPE_CANARY_TCP_PORT"))));
            in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            EXPECT_EQ(
                ::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
            ::close(fd);
          });
  OneProbe("bpf");
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  ASSERT_EQ(session->findings.size(), 1u);
  EXPECT_EQ(session->findings[0].verdict, "ESCAPED");
  EXPECT_TRUE(session->findings[0].overridden);
  EXPECT_THAT(session->findings[0].detail, HasSubstr("loopback"));
}

TEST_F(ProbeRunnerTest, AnEscapeTheRunnerSawIsConfirmedNotOverridden) {
  UseFake({Stdout("PROBE signal-canary ESCAPED delivered\n"), Exit(0)},
          [](const std::map<std::string, std::string>& env) {
            ::kill(std::stoi(env.at("ISOSCOPE_CANARY_PID")), SIGUSR1);
          });
  OneProbe("signal-canary");
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  ASSERT_EQ(session->findings.size(), 1u);
  EXPECT_EQ(session->findings[0].verdict, "ESCAPED");
  EXPECT_FALSE(session->findings[0].overridden);
  EXPECT_THAT(session->findings[0].detail,
              HasSubstr("confirmed: canary process signalled"));
}

TEST_F(ProbeRunnerTest, UntouchedCanariesLeaveTheVerdictAlone) {
  UseFake({Stdout("noise\nPROBE secret-file BLOCKED errno=EACCES\n"), Exit(0)});
  OneProbe("secret-file");
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  ASSERT_EQ(session->findings.size(), 1u);
  EXPECT_EQ(session->findings[0].verdict, "BLOCKED");
  EXPECT_EQ(session->findings[0].detail, "errno=EACCES");
  EXPECT_FALSE(session->findings[0].overridden);
}

TEST_F(ProbeRunnerTest, AHangingProbeTimesOutAndNoCanaryRemains) {
  std::map<std::string, std::string> env;
  UseFake({BlockUntilWoken{}},
          [&](const std::map<std::string, std::string>& e) { env = e; });
  OneProbe("loopback-connect");
  options_.per_probe_timeout = std::chrono::milliseconds(200);
  auto begin = std::chrono::steady_clock::now();
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
  ASSERT_EQ(session->findings.size(), 1u);
  EXPECT_EQ(session->findings[0].verdict, "NA");
  EXPECT_EQ(session->findings[0].detail, "timed out");
  EXPECT_EQ(session->findings[0].outcome, Outcome::kLimit);
  // Everything the runner planted is gone.
  ASSERT_FALSE(env.empty());
  const std::string pid = env["ISOSCOPE_CANARY_PID"];
  EXPECT_FALSE(std::filesystem::exists("/proc/" + pid)) << pid;
  errno = 0;
  EXPECT_EQ(::shmget(std::stoi(env["ISOSCOPE_CANARY_SHM_KEY"]), 0, 0), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_FALSE(std::filesystem::exists(
      std::filesystem::path(env["ISOSCOPE_CANARY_SECRET"]).parent_path()));
  EXPECT_FALSE(std::filesystem::exists(env["HOME"]));  // the workdir
}

TEST_F(ProbeRunnerTest, AProbeKilledByThePolicyIsBlockedByThatRule) {
  auto strict = LoadPreset("strict");
  ASSERT_TRUE(strict.has_value()) << strict.error().ToString();
  options_.policy = std::make_shared<const Policy>(*strict);
  SyscallEvent bpf;
  bpf.request.number = *SyscallNumber("bpf");
  UseFake({Event{bpf}});
  OneProbe("bpf");
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  ASSERT_EQ(session->findings.size(), 1u);
  EXPECT_EQ(session->findings[0].verdict, "BLOCKED");
  EXPECT_EQ(session->findings[0].detail, "killed by rule escape");
  EXPECT_EQ(session->findings[0].outcome, Outcome::kViolation);
}

TEST_F(ProbeRunnerTest, SilentExitIsAnError) {
  UseFake({Exit(3)});
  OneProbe("bpf");
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  EXPECT_EQ(session->findings[0].verdict, "ERROR");
  EXPECT_THAT(session->findings[0].detail, HasSubstr("status 3"));
}

TEST_F(ProbeRunnerTest, UnavailableBackendGivesNaWithTheReasonAndRunsNothing) {
  registry_.Register("fake", "scripted", [] {
    auto backend =
        std::make_unique<FakeBackend>(std::vector<FakeBackend::Step>{});
    backend->probe = {false, "no /dev/kvm"};
    return backend;
  });
  options_.probes = {ProbeSpec{"bpf", "/bin/true", {}},
                     ProbeSpec{"fault-map", "/bin/true", {"hlt", "cpuid"}}};
  auto session = Run();
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  ASSERT_EQ(session->findings.size(), 3u);
  for (const ProbeFinding& f : session->findings) {
    EXPECT_EQ(f.verdict, "NA");
    EXPECT_EQ(f.detail, "backend unavailable: no /dev/kvm");
    EXPECT_EQ(f.run_id, 0);
  }
  EXPECT_EQ(session->findings[2].probe_id, "fault-map.cpuid");
  EXPECT_EQ(store_->LatestId().error().code(), ErrorCode::kNotFound);
}

TEST_F(ProbeRunnerTest, UnknownBackendIsAnInvalidArgument) {
  UseFake({Exit(0)});
  options_.backends = {"fake", "bogus"};
  OneProbe("bpf");
  auto session = Run();
  ASSERT_FALSE(session.has_value());
  EXPECT_EQ(session.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ProbeRunnerTest, AnInterruptStopsBeforeTheNextProbe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  UseFake({Stdout("PROBE bpf REACHABLE x\n"), Exit(0)});
  OneProbe("bpf");
  options_.interrupt_fd = fds[0];
  auto session = Run();
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  EXPECT_TRUE(session->interrupted);
  EXPECT_TRUE(session->findings.empty());
  EXPECT_TRUE(store_->GetProbeSession(session->id)->interrupted);
}

TEST(JudgeHostnameTest, ComparesWithTheHostsName) {
  ProbeFinding same{
      .probe_id = "hostname", .verdict = "NA", .detail = "nodename=builder"};
  JudgeHostname(same, "builder");
  EXPECT_EQ(same.verdict, "REACHABLE");
  ProbeFinding isolated{
      .probe_id = "hostname", .verdict = "NA", .detail = "nodename=sandbox"};
  JudgeHostname(isolated, "builder");
  EXPECT_EQ(isolated.verdict, "BLOCKED");
  ProbeFinding other{
      .probe_id = "pid1", .verdict = "NA", .detail = "nodename=builder"};
  JudgeHostname(other, "builder");
  EXPECT_EQ(other.verdict, "NA");
}

TEST(FindingsFromRunTest, FaultMapGivesOneFindingPerCase) {
  RunResult run;
  run.output.stdout_bytes =
      "PROBE fault-map.hlt BLOCKED signal=11 (SIGSEGV) code=128\n"
      "PROBE fault-map.cpuid REACHABLE completed vendor=GenuineIntel\n"
      "PROBE fault-map.hltx NA decoy\n";
  run.termination.outcome = Outcome::kSignaled;
  run.termination.signal = 11;
  auto findings = FindingsFromRun(
      {"fault-map.hlt", "fault-map.cpuid", "fault-map.ud2"}, run);
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].verdict, "BLOCKED");
  EXPECT_EQ(findings[0].detail, "signal=11 (SIGSEGV) code=128");
  EXPECT_EQ(findings[1].verdict, "REACHABLE");
  EXPECT_EQ(findings[1].detail, "completed vendor=GenuineIntel");
  // No line for ud2: what the run's end says.
  EXPECT_EQ(findings[2].verdict, "ERROR");
  EXPECT_THAT(findings[2].detail, HasSubstr("SIGSEGV"));
}

TEST(FindingsFromRunTest, TheLastLineWinsAndBadVerdictsAreErrors) {
  RunResult run;
  run.output.stdout_bytes =
      "PROBE x NA first\nPROBE x REACHABLE second\nPROBE y MAYBE z\n";
  auto findings = FindingsFromRun({"x", "y"}, run);
  EXPECT_EQ(findings[0].detail, "second");
  EXPECT_EQ(findings[1].verdict, "ERROR");
}

// The runner's record of what isoscope intercepted is the last word of a
// sensitive-instruction finding, replacing any the workload printed.
TEST(RecordTrapsTest, AppendsWhatIsoscopeInterceptedAndDropsForgedRecords) {
  RunResult run;
  FaultEvent fault;
  fault.kind = FaultKind::kRdtsc;
  fault.mnemonic = "rdtscp";
  fault.verdict = Verdict{ActionSpec{Action::kEmulate}, "faults.rdtsc", ""};
  run.events.emplace_back(fault);
  run.events.emplace_back(fault);  // read twice: recorded once
  FaultEvent undecoded;
  undecoded.kind = FaultKind::kPrivilegedInstruction;
  run.events.emplace_back(undecoded);
  ProbeFinding f{.probe_id = "sensitive.rdtscp",
                 .verdict = "REACHABLE",
                 .detail = "value=0x0 trapped=none cpl=3"};
  RecordTraps(f, run);
  EXPECT_EQ(f.detail,
            "value=0x0 cpl=3 "
            "trapped=rdtscp:emulate,privileged_instruction:undecided");

  ProbeFinding quiet{.probe_id = "sensitive.cs",
                     .verdict = "REACHABLE",
                     .detail = "value=0x33 cpl=3 trapped=cs:emulate"};
  RecordTraps(quiet, RunResult{});
  EXPECT_EQ(quiet.detail, "value=0x33 cpl=3 trapped=none");
}

TEST(RecordTrapsTest, AnUnreportedFindingGetsTheRunsReasonOthersAreLeftAlone) {
  RunResult run;
  run.termination.outcome = Outcome::kSignaled;
  run.termination.signal = SIGILL;
  run.termination.reason = "the hypervisor cannot emulate verr";
  ProbeFinding ended{.probe_id = "sensitive.verr",
                     .verdict = "ERROR",
                     .detail = "killed by signal 4 (SIGILL) before reporting"};
  RecordTraps(ended, run);
  EXPECT_EQ(ended.detail,
            "killed by signal 4 (SIGILL) before reporting (the hypervisor "
            "cannot emulate verr) trapped=none");
  EXPECT_EQ(ended.verdict, "ERROR");  // nothing intercepted: the probe broke
  FaultEvent verr;
  verr.kind = FaultKind::kInvalidInstruction;
  verr.mnemonic = "verr";
  verr.verdict = Verdict{ActionSpec{Action::kDeliver}, "faults.x", ""};
  run.events.emplace_back(verr);
  ProbeFinding stopped{
      .probe_id = "sensitive.verr",
      .verdict = "ERROR",
      .detail = "killed by signal 4 (SIGILL) before reporting"};
  RecordTraps(stopped, run);
  EXPECT_EQ(stopped.verdict, "BLOCKED");  // isoscope intercepted and ended it
  EXPECT_THAT(stopped.detail, HasSubstr("trapped=verr:deliver"));

  ProbeFinding other{
      .probe_id = "fault-map.hlt", .verdict = "ERROR", .detail = "trapped=x"};
  RecordTraps(other, run);
  EXPECT_EQ(other.detail, "trapped=x");
}

}  // namespace
}  // namespace isoscope
