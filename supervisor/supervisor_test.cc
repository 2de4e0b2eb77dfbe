// The decision loop, driven by a scripted fake backend.
#include "supervisor/supervisor.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "policies/syscalls.h"
#include "tests/fake_backend.h"

namespace isoscope {
namespace {

using ::isoscope::testing::BlockUntilWoken;
using ::isoscope::testing::FailNextEvent;
using ::isoscope::testing::FakeBackend;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

int Nr(const char* name) { return SyscallNumber(name).value(); }

// A policy with a few rules of each kind; default deny ENOSYS.
std::shared_ptr<const Policy> TestPolicy(Resources resources = {}) {
  auto policy = std::make_shared<Policy>();
  policy->name = "test";
  policy->syscalls.default_action = {Action::kDeny, ENOSYS, 0};
  policy->syscalls.rules = {
      Rule{.id = "ids", .syscalls = {Nr("getpid")}, .action = {Action::kAllow}},
      Rule{.id = "no-ptrace",
           .syscalls = {Nr("ptrace")},
           .action = {Action::kDeny, EPERM, 0}},
      Rule{.id = "no-reboot",
           .syscalls = {Nr("reboot")},
           .action = {Action::kKill}},
      Rule{
          .id = "watch", .syscalls = {Nr("getppid")}, .action = {Action::kLog}},
  };
  policy->faults.cpuid = Action::kEmulate;
  policy->faults.privileged_instruction = Action::kKill;
  policy->resources = resources;
  return policy;
}

SyscallEvent Syscall(const char* name) {
  SyscallEvent event;
  event.pid = 42;
  event.request.number = Nr(name);
  return event;
}

Workload TestWorkload() { return Workload{"/bin/true", {"true"}, {}, "/tmp"}; }

struct Captured {
  std::string out, err;
};

SupervisorOptions CapturingOptions(Captured& captured) {
  SupervisorOptions options;
  options.host_facts = HostFacts{};  // keep the unit test off the host
  options.output_sink = [&captured](OutputStream stream, std::string_view b) {
    (stream == OutputStream::kStdout ? captured.out : captured.err).append(b);
  };
  return options;
}

TEST(SupervisorTest, ExitStatusAndOutputPassThrough) {
  Captured captured;
  FakeBackend backend({Event{OutputEvent{OutputStream::kStdout, "hi\n"}},
                       Event{OutputEvent{OutputStream::kStderr, "warn\n"}},
                       Event{ExitEvent{.exit_code = 3}}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited);
  EXPECT_EQ(result->termination.ExitStatus(), 3);
  EXPECT_EQ(result->output.stdout_bytes, "hi\n");
  EXPECT_EQ(result->output.stderr_bytes, "warn\n");
  EXPECT_EQ(result->output.total_bytes, 8u);
  EXPECT_EQ(captured.out, "hi\n");
  EXPECT_EQ(captured.err, "warn\n");
  EXPECT_EQ(result->backend, "fake");
  EXPECT_EQ(result->policy_name, "test");
  EXPECT_EQ(backend.kill_calls, 0);
  ASSERT_TRUE(backend.started_workload.has_value());
  EXPECT_EQ(backend.started_workload->executable, "/bin/true");
  // A backend that does not apply the policy gets it uncompiled: every
  // number answers syscalls.default, although a rule allows getpid.
  EXPECT_THAT(backend.plan_for_getpid, ElementsAre(Disposition::kErrno));
}

TEST(SupervisorTest, DeniedSyscallIsResolvedWithItsErrnoAndRule) {
  Captured captured;
  FakeBackend backend({Event{Syscall("ptrace")}, Event{ExitEvent{}}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_EQ(backend.resolved.size(), 1u);
  EXPECT_EQ(backend.resolved[0].second.action.action, Action::kDeny);
  EXPECT_EQ(backend.resolved[0].second.action.errno_value, EPERM);
  EXPECT_EQ(backend.resolved[0].second.rule_id, "no-ptrace");
  EXPECT_EQ(result->counters.syscalls_trapped, 1u);
  EXPECT_EQ(result->counters.syscalls_denied, 1u);
  ASSERT_EQ(result->events.size(), 2u);  // the denial and the exit
  const auto& recorded = std::get<SyscallEvent>(result->events[0]);
  EXPECT_EQ(recorded.decided_by, DecidedBy::kSupervisor);
  ASSERT_TRUE(recorded.verdict.has_value());
  EXPECT_EQ(recorded.verdict->rule_id, "no-ptrace");
  EXPECT_EQ(result->termination.outcome, Outcome::kExited);
}

// A file the kernel ran for an exec (ptrace's exec images) is decided and
// recorded like a syscall, with a reason saying what it was, but it is not
// a call the workload made: the syscall counts leave it out.
TEST(SupervisorTest, ExecImageIsDecidedButNotCountedAsASyscall) {
  Captured captured;
  SyscallEvent image = Syscall("ptrace");
  image.exec_image = true;
  FakeBackend backend({Event{image}, Event{ExitEvent{}}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_EQ(backend.resolved.size(), 1u);
  EXPECT_EQ(backend.resolved[0].second.rule_id, "no-ptrace");
  EXPECT_EQ(result->counters.syscalls_trapped, 0u);
  EXPECT_EQ(result->counters.syscalls_denied, 1u);
  ASSERT_EQ(result->events.size(), 2u);  // the denial and the exit
  const auto& recorded = std::get<SyscallEvent>(result->events[0]);
  ASSERT_TRUE(recorded.verdict.has_value());
  EXPECT_THAT(recorded.verdict->reason,
              ::testing::StartsWith("a file the kernel ran for an execve"));
}

TEST(SupervisorTest, UnmatchedSyscallGetsTheDefault) {
  Captured captured;
  FakeBackend backend({Event{Syscall("mount")}, Event{ExitEvent{}}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(backend.resolved.size(), 1u);
  EXPECT_EQ(backend.resolved[0].second.rule_id, "syscalls.default");
  EXPECT_EQ(backend.resolved[0].second.action.errno_value, ENOSYS);
}

TEST(SupervisorTest, AllowedTrappedSyscallIsCountedButNotRecorded) {
  Captured captured;
  FakeBackend backend({Event{Syscall("getpid")}, Event{Syscall("getppid")},
                       Event{ExitEvent{}}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->counters.syscalls_trapped, 2u);
  // getpid (allow) is not kept; getppid (log) is; then the exit.
  ASSERT_EQ(result->events.size(), 2u);
  EXPECT_EQ(std::get<SyscallEvent>(result->events[0]).request.number,
            Nr("getppid"));
}

TEST(SupervisorTest, KilledSyscallEndsTheRunAsAViolation) {
  Captured captured;
  FakeBackend backend({Event{Syscall("reboot")}, BlockUntilWoken{}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_GE(backend.kill_calls, 1);
  EXPECT_EQ(result->termination.outcome, Outcome::kViolation);
  EXPECT_EQ(result->termination.rule_id, "no-reboot");
  EXPECT_THAT(result->termination.reason, HasSubstr("reboot"));
  EXPECT_EQ(result->termination.ExitStatus(), 128 + SIGKILL);
  EXPECT_EQ(result->counters.violations, 1u);
}

TEST(SupervisorTest, FastPathDecisionsAreCountedNotResolved) {
  Captured captured;
  SyscallEvent decided = Syscall("reboot");
  decided.decided_by = DecidedBy::kKernelFilter;
  decided.verdict = Verdict{{Action::kKill}, "no-reboot", "static"};
  FakeBackend backend({Event{decided}, BlockUntilWoken{}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(backend.resolved.empty());
  EXPECT_EQ(result->counters.syscalls_in_kernel, 1u);
  EXPECT_EQ(result->counters.syscalls_trapped, 0u);
  EXPECT_EQ(result->termination.outcome, Outcome::kViolation);
  EXPECT_EQ(std::get<SyscallEvent>(result->events[0]).decided_by,
            DecidedBy::kKernelFilter);
}

TEST(SupervisorTest, FaultsAreDecidedByTheFaultsSection) {
  Captured captured;
  FaultEvent cpuid{.pid = 1,
                   .kind = FaultKind::kCpuid,
                   .rip = 0x401000,
                   .mnemonic = "cpuid"};
  FaultEvent hlt{.pid = 1,
                 .kind = FaultKind::kPrivilegedInstruction,
                 .rip = 0x401010,
                 .mnemonic = "hlt"};
  FakeBackend backend({Event{cpuid}, Event{hlt}, BlockUntilWoken{}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(backend.resolved.size(), 2u);
  EXPECT_EQ(backend.resolved[0].second.action.action, Action::kEmulate);
  EXPECT_EQ(backend.resolved[0].second.rule_id, "faults.cpuid");
  EXPECT_EQ(backend.resolved[1].second.action.action, Action::kKill);
  EXPECT_EQ(result->counters.faults, 2u);
  EXPECT_EQ(result->termination.outcome, Outcome::kViolation);
  EXPECT_EQ(result->termination.rule_id, "faults.privileged_instruction");
  EXPECT_THAT(result->termination.reason, HasSubstr("hlt"));
}

TEST(SupervisorTest, WallTimeLimitKillsAtTheDeadline) {
  Captured captured;
  FakeBackend backend({BlockUntilWoken{}});
  Supervisor supervisor(TestPolicy(Resources{.wall_time_ms = 100}),
                        CapturingOptions(captured));
  auto start = std::chrono::steady_clock::now();
  auto result = supervisor.Run(backend, TestWorkload());
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kWallTime);
  EXPECT_EQ(result->termination.ExitStatus(), 137);
  EXPECT_GE(elapsed, std::chrono::milliseconds(100));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_EQ(backend.kill_calls, 1);
}

TEST(SupervisorTest, InterruptKillsTheWorkload) {
  Captured captured;
  UniqueFd interrupt(::eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(interrupt.valid());
  uint64_t one = 1;
  ASSERT_EQ(::write(interrupt.get(), &one, sizeof one), 8);
  SupervisorOptions options = CapturingOptions(captured);
  options.interrupt_fd = interrupt.get();
  FakeBackend backend({BlockUntilWoken{}});
  Supervisor supervisor(TestPolicy(), options);
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->termination.outcome, Outcome::kInterrupted);
  EXPECT_EQ(backend.kill_calls, 1);
}

TEST(SupervisorTest, OutputBeyondTheCapIsCutAndEndsTheRun) {
  Captured captured;
  FakeBackend backend({Event{OutputEvent{OutputStream::kStdout, "hel"}},
                       Event{OutputEvent{OutputStream::kStdout, "lo world"}},
                       Event{OutputEvent{OutputStream::kStdout, "more"}}});
  Supervisor supervisor(TestPolicy(Resources{.output_bytes = 5}),
                        CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->output.stdout_bytes, "hello");
  EXPECT_EQ(captured.out, "hello");
  EXPECT_TRUE(result->output.truncated);
  EXPECT_EQ(result->output.total_bytes, 11u);
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kOutput);
}

TEST(SupervisorTest, CpuLimitSignalIsReportedAsALimit) {
  Captured captured;
  FakeBackend backend({Event{ExitEvent{.signaled = true, .signal = SIGXCPU}}});
  Supervisor supervisor(TestPolicy(Resources{.cpu_time_ms = 1000}),
                        CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kCpuTime);
}

TEST(SupervisorTest, SignalDeathWithoutAReasonIsSignaled) {
  Captured captured;
  FakeBackend backend({Event{SignalEvent{.pid = 7, .signal = SIGTERM}},
                       Event{ExitEvent{.signaled = true, .signal = SIGTERM}}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->termination.outcome, Outcome::kSignaled);
  EXPECT_EQ(result->termination.ExitStatus(), 128 + SIGTERM);
  EXPECT_THAT(result->termination.reason, HasSubstr("SIGTERM"));
  EXPECT_EQ(result->counters.signals, 1u);
}

TEST(SupervisorTest, BackendLimitEventIsTheOutcome) {
  Captured captured;
  FakeBackend backend(
      {Event{LimitEvent{LimitKind::kMemory, "oom"}}, BlockUntilWoken{}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit);
  EXPECT_EQ(result->termination.limit, LimitKind::kMemory);
}

TEST(SupervisorTest, StartFailureIsAnErrorWithContext) {
  Captured captured;
  FakeBackend backend({});
  backend.start_error = Error(ErrorCode::kUnavailable, "no such thing");
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(result.error().ToString(), HasSubstr("backend fake"));
  EXPECT_THAT(result.error().ToString(), HasSubstr("no such thing"));
  EXPECT_EQ(backend.kill_calls, 1);
}

// A backend that applies the policy never starts a program the policy would
// not let the workload exec; the refusal names the rule and the run is
// handed back as an error.
TEST(SupervisorTest, FirstExecIsDecidedLikeAnyOther) {
  Captured captured;
  FakeBackend refused({Event{ExitEvent{}}});
  refused.applies_policy = true;
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  RunResult failed;
  auto result = supervisor.Run(refused, TestWorkload(), &failed);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kNotExecutable);
  EXPECT_THAT(result.error().ToString(), HasSubstr("syscalls.default"));
  EXPECT_FALSE(refused.started_workload.has_value());
  EXPECT_EQ(failed.termination.outcome, Outcome::kError);

  auto allows_exec = std::make_shared<Policy>(*TestPolicy());
  allows_exec->syscalls.rules.push_back(Rule{
      .id = "exec", .syscalls = {Nr("execve")}, .action = {Action::kAllow}});
  FakeBackend started({Event{ExitEvent{}}});
  started.applies_policy = true;
  Supervisor allowing(allows_exec, CapturingOptions(captured));
  ASSERT_TRUE(allowing.Run(started, TestWorkload()).has_value());
  EXPECT_TRUE(started.started_workload.has_value());
  // The plan handed to a backend that applies the policy is compiled from
  // it.
  EXPECT_THAT(started.plan_for_getpid, ElementsAre(Disposition::kAllow));
}

TEST(SupervisorTest, NextEventFailureKillsAndReports) {
  Captured captured;
  FakeBackend backend(
      {FailNextEvent{Error(ErrorCode::kSystem, "waitid failed")}});
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().ToString(), HasSubstr("waitid failed"));
  EXPECT_EQ(backend.kill_calls, 1);
}

TEST(SupervisorTest, ResolveFailureKillsAndReports) {
  Captured captured;
  FakeBackend backend({Event{Syscall("ptrace")}});
  backend.resolve_error = Error(ErrorCode::kSystem, "tracee vanished");
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().ToString(), HasSubstr("tracee vanished"));
  EXPECT_GE(backend.kill_calls, 1);
}

// The run is described to on_started before the workload starts, and a
// failure afterwards still hands back the run as far as it got.
TEST(SupervisorTest, AFailedRunIsHandedBackAsAnError) {
  Captured captured;
  FakeBackend backend(
      {Event{Syscall("ptrace")},
       FailNextEvent{Error(ErrorCode::kSystem, "waitid failed")}});
  SupervisorOptions options = CapturingOptions(captured);
  std::optional<RunResult> started;
  options.on_started = [&](RunResult& run) -> Status {
    EXPECT_EQ(backend.kill_calls, 0);
    run.id = 77;
    started = run;
    return {};
  };
  Supervisor supervisor(TestPolicy(), options);
  RunResult failed;
  auto result = supervisor.Run(backend, TestWorkload(), &failed);
  ASSERT_FALSE(result.has_value());
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->termination.outcome, Outcome::kRunning);
  EXPECT_EQ(started->argv, TestWorkload().argv);
  EXPECT_EQ(started->backend, "fake");
  EXPECT_EQ(failed.id, 77);
  EXPECT_EQ(failed.argv, TestWorkload().argv);
  EXPECT_EQ(failed.termination.outcome, Outcome::kError);
  EXPECT_THAT(failed.termination.reason, HasSubstr("waitid failed"));
  ASSERT_EQ(failed.events.size(), 1u);  // the denied ptrace, decided
  EXPECT_EQ(failed.counters.syscalls_denied, 1u);
}

TEST(SupervisorTest, AStartThatCannotBeRecordedRunsNothing) {
  Captured captured;
  FakeBackend backend({Event{ExitEvent{}}});
  SupervisorOptions options = CapturingOptions(captured);
  options.on_started = [](RunResult&) -> Status {
    return Fail(ErrorCode::kStore, "results store: disk full");
  };
  Supervisor supervisor(TestPolicy(), options);
  RunResult failed;
  auto result = supervisor.Run(backend, TestWorkload(), &failed);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kStore);
  EXPECT_EQ(failed.id, 0);
  EXPECT_EQ(backend.kill_calls, 0);
  EXPECT_FALSE(backend.started_workload.has_value());
}

TEST(SupervisorTest, RecordedEventsAreCappedPerKindAndCounted) {
  Captured captured;
  std::vector<FakeBackend::Step> script;
  for (size_t i = 0; i < kEventsKeptPerKind + 5; ++i) {
    script.push_back(Event{Syscall("getppid")});  // logged: recorded
  }
  script.push_back(Event{ExitEvent{}});
  FakeBackend backend(std::move(script));
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  // The first of the kind, and the exit, of another kind.
  ASSERT_EQ(result->events.size(), kEventsKeptPerKind + 1);
  EXPECT_TRUE(std::holds_alternative<ExitEvent>(result->events.back()));
  EXPECT_EQ(result->counters.events_dropped, 5u);
  EXPECT_EQ(result->counters.syscalls_trapped, kEventsKeptPerKind + 5);
  EXPECT_THAT(
      *result->event_counts,
      ElementsAre(EventCount{"syscall getppid", "log", "watch",
                             kEventsKeptPerKind + 5, kEventsKeptPerKind},
                  EventCount{"exit", "", "", 1, 1}));
}

// With a sink the events go there as they happen, none stays in the result.
TEST(SupervisorTest, EventsGoToTheSinkWhenThereIsOne) {
  struct Sink : EventSink {
    void Append(const Event& event) override { events.push_back(event); }
    std::vector<Event> events;
  } sink;
  Captured captured;
  FakeBackend backend({Event{Syscall("getppid")}, Event{Syscall("getpid")},
                       Event{ExitEvent{}}});
  SupervisorOptions options = CapturingOptions(captured);
  options.event_sink = &sink;
  Supervisor supervisor(TestPolicy(), options);
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->events.empty());
  ASSERT_EQ(sink.events.size(), 2u);  // getpid is allowed: not recorded
  EXPECT_TRUE(std::holds_alternative<SyscallEvent>(sink.events[0]));
  EXPECT_TRUE(std::holds_alternative<ExitEvent>(sink.events[1]));
  EXPECT_EQ(result->event_counts->size(), 2u);
}

// Every denied or killed call is counted per (syscall, rule, action,
// errno), whoever decided it; only the first of each kind is kept as an
// event, so a denial loop can neither flood the events nor be dropped.
TEST(SupervisorTest, DenialsAreCountedPerKindAndOnlyTheFirstIsKept) {
  Captured captured;
  SyscallEvent refused = Syscall("openat");  // a backend's own refusal
  refused.decided_by = DecidedBy::kKernelFilter;
  refused.verdict =
      Verdict{{Action::kDeny, EPERM, 0}, "container.unperformable", "why"};
  std::vector<FakeBackend::Step> script;
  for (int i = 0; i < 5; ++i) script.push_back(Event{Syscall("ptrace")});
  for (int i = 0; i < 3; ++i) script.push_back(Event{Syscall("mount")});
  for (int i = 0; i < 2; ++i) script.push_back(Event{refused});
  script.push_back(Event{Syscall("reboot")});
  script.emplace_back(BlockUntilWoken{});
  FakeBackend backend(std::move(script));
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_TRUE(result->denials.has_value());
  EXPECT_THAT(
      *result->denials,
      ElementsAre(
          DenialCount{Abi::kX86_64, Nr("ptrace"), "no-ptrace", Action::kDeny,
                      EPERM, 5},
          DenialCount{Abi::kX86_64, Nr("mount"), "syscalls.default",
                      Action::kDeny, ENOSYS, 3},
          DenialCount{Abi::kX86_64, Nr("openat"), "container.unperformable",
                      Action::kDeny, EPERM, 2},
          DenialCount{Abi::kX86_64, Nr("reboot"), "no-reboot", Action::kKill, 0,
                      1}));
  EXPECT_EQ(result->counters.syscalls_denied, 10u);
  // Not kept as events, but counted, here and in the event kinds.
  EXPECT_EQ(result->counters.events_dropped, 7u);
  EXPECT_EQ((*result->event_counts)[0],
            (EventCount{"syscall ptrace", "deny", "no-ptrace", 5, 1}));
  // Each kind's first call, with its arguments, then the exit.
  std::vector<int> recorded;
  for (const Event& event : result->events) {
    if (const auto* call = std::get_if<SyscallEvent>(&event)) {
      recorded.push_back(call->request.number);
    }
  }
  EXPECT_THAT(recorded, ElementsAre(Nr("ptrace"), Nr("mount"), Nr("openat"),
                                    Nr("reboot")));
  EXPECT_EQ(result->events.size(), 5u);
}

// A workload cannot grow the denial table by trying one unnamed syscall
// number after another: they share one row per rule and answer.
TEST(SupervisorTest, DenialTableIsBounded) {
  Captured captured;
  std::vector<FakeBackend::Step> script;
  const int tries = static_cast<int>(kMaxDenialKinds) + 10;
  for (int i = 0; i < tries; ++i) {
    SyscallEvent unnamed;
    unnamed.request.number = 100000 + i;  // the default: deny ENOSYS
    script.push_back(Event{unnamed});
  }
  script.push_back(Event{Syscall("mount")});
  script.push_back(Event{Syscall("mount")});
  script.push_back(Event{ExitEvent{}});
  FakeBackend backend(std::move(script));
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_TRUE(result->denials.has_value());
  EXPECT_THAT(
      *result->denials,
      ElementsAre(
          DenialCount{Abi::kX86_64, kUnnamedSyscalls, "syscalls.default",
                      Action::kDeny, ENOSYS, static_cast<uint64_t>(tries)},
          DenialCount{Abi::kX86_64, Nr("mount"), "syscalls.default",
                      Action::kDeny, ENOSYS, 2}));
  EXPECT_EQ(result->counters.syscalls_denied, static_cast<uint64_t>(tries) + 2);
  // The first of the unnamed row and of mount are kept.
  EXPECT_EQ(result->counters.events_dropped, static_cast<uint64_t>(tries));
}

// One harmless denied open must not hide the file a later one tried: the
// first call of each distinct path is kept, up to kDenialEventsKept a kind.
TEST(SupervisorTest, DeniedCallsOfDistinctPathsAreKept) {
  Captured captured;
  std::vector<FakeBackend::Step> script;
  auto open_of = [](const std::string& path) {
    SyscallEvent call = Syscall("openat");
    call.request.paths = {PathArgument{1, path}};
    return call;
  };
  for (int i = 0; i < 3; ++i) script.push_back(Event{open_of("/boot/a")});
  script.push_back(Event{open_of("/srv/secret")});
  for (uint64_t i = 0; i < kDenialEventsKept + 4; ++i) {
    script.push_back(Event{open_of("/x/" + std::to_string(i))});
  }
  script.push_back(Event{ExitEvent{}});
  FakeBackend backend(std::move(script));
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  std::vector<std::string> kept;
  for (const Event& event : result->events) {
    if (const auto* call = std::get_if<SyscallEvent>(&event)) {
      kept.push_back(call->request.paths.at(0).path);
    }
  }
  ASSERT_EQ(kept.size(), kDenialEventsKept);
  EXPECT_EQ(kept[0], "/boot/a");
  EXPECT_EQ(kept[1], "/srv/secret");
  ASSERT_TRUE(result->denials.has_value());
  ASSERT_EQ(result->denials->size(), 1u);
  EXPECT_EQ(result->denials->front().count, kDenialEventsKept + 8);
}

// The same for calls without a path, by their reason: a refused harmless
// socket option does not hide a later one that routes around a list.
TEST(SupervisorTest, DeniedCallsOfDistinctReasonsAreKept) {
  Captured captured;
  std::vector<FakeBackend::Step> script;
  for (int i = 0; i < 3; ++i) {
    SyscallEvent call = Syscall("setsockopt");
    call.request.args = {3, 1, 2, 0, 0, 0};
    script.push_back(Event{call});
  }
  SyscallEvent other = Syscall("setsockopt");
  other.request.args = {3, 0, 4, 0, 0, 0};
  script.push_back(Event{other});
  script.push_back(Event{ExitEvent{}});
  FakeBackend backend(std::move(script));
  auto policy = std::make_shared<Policy>(*TestPolicy());
  // Refused with one rule and errno, for reasons that name the argument.
  policy->syscalls.rules.push_back(Rule{
      .id = "options",
      .syscalls = {Nr("setsockopt")},
      .args = {ArgCondition{.index = 1, .op = CompareOp::kEq, .value = 99}},
      .action = {Action::kAllow},
      .otherwise = ActionSpec{Action::kDeny, EPERM, 0}});
  Supervisor supervisor(policy, CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  std::vector<uint64_t> kept;
  for (const Event& event : result->events) {
    if (const auto* call = std::get_if<SyscallEvent>(&event)) {
      kept.push_back(call->request.args[1]);
    }
  }
  EXPECT_EQ(kept, (std::vector<uint64_t>{1, 0}));
}

// Signals and faults are counted per (signal, action), the first few kept
// as events: however many arrive, none is dropped uncounted and the event
// cap stays for what cannot be counted.
TEST(SupervisorTest, SignalsAreAggregatedInsteadOfDropped) {
  Captured captured;
  std::vector<FakeBackend::Step> script;
  const uint64_t storm = kMaxRecordedEvents + 100;
  for (uint64_t i = 0; i < storm; ++i) {
    script.push_back(Event{SignalEvent{.pid = 7, .signal = SIGCHLD}});
  }
  script.push_back(Event{SignalEvent{.pid = 7, .signal = SIGUSR1}});
  for (int i = 0; i < 5; ++i) {
    script.push_back(Event{FaultEvent{.pid = 7,
                                      .kind = FaultKind::kCpuid,
                                      .signal = SIGSEGV,
                                      .mnemonic = "cpuid"}});
  }
  script.push_back(Event{ExitEvent{}});
  FakeBackend backend(std::move(script));
  Supervisor supervisor(TestPolicy(), CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ASSERT_TRUE(result->signal_counts.has_value());
  EXPECT_THAT(*result->signal_counts,
              ElementsAre(SignalCount{SIGCHLD, Action::kDeliver, storm},
                          SignalCount{SIGUSR1, Action::kDeliver, 1},
                          SignalCount{SIGSEGV, Action::kEmulate, 5}));
  EXPECT_EQ(result->counters.signals, storm + 1);
  EXPECT_EQ(result->counters.faults, 5u);
  // Not kept as events, but counted, here and in the event kinds.
  EXPECT_EQ(result->counters.events_dropped, storm + 5 - 2 * kSignalEventsKept);
  EXPECT_EQ((*result->event_counts)[0],
            (EventCount{"signal SIGCHLD", "", "", storm, kSignalEventsKept}));
  // 3 SIGCHLD, the SIGUSR1, 3 faults and the exit.
  EXPECT_EQ(result->events.size(), 2 * kSignalEventsKept + 2);
  EXPECT_TRUE(std::holds_alternative<ExitEvent>(result->events.back()));
}

TEST(SupervisorTest, BackendThatNeverReportsExitAfterKillIsAnError) {
  Captured captured;
  FakeBackend backend({BlockUntilWoken{}, BlockUntilWoken{}});
  backend.ignore_kill = true;
  Supervisor supervisor(TestPolicy(Resources{.wall_time_ms = 10}),
                        CapturingOptions(captured));
  auto result = supervisor.Run(backend, TestWorkload());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kInternal);
  EXPECT_THAT(result.error().ToString(), HasSubstr("did not report"));
}

}  // namespace
}  // namespace isoscope
