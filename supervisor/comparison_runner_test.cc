#include "supervisor/comparison_runner.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "tests/fake_backend.h"

namespace isoscope {
namespace {

using ::testing::ElementsAre;
using testing::FakeBackend;
using ::testing::HasSubstr;

// What a scripted backend does on its n-th run (0 is the warm-up).
using Script = std::function<std::vector<FakeBackend::Step>(int run)>;

// Counts its runs across instances, so a test can script each run and check
// that an unavailable backend was never started.
class CountingBackend : public FakeBackend {
 public:
  CountingBackend(std::vector<Step> script, std::shared_ptr<int> starts)
      : FakeBackend(std::move(script)), starts_(std::move(starts)) {}
  Status Start(const Workload& workload, const CompiledPlan& plan) override {
    ++*starts_;
    if (on_start) on_start();
    return FakeBackend::Start(workload, plan);
  }

  std::function<void()> on_start;  // set before the run

 private:
  std::shared_ptr<int> starts_;
};

Event Stdout(const std::string& text) {
  return OutputEvent{OutputStream::kStdout, text};
}
Event Exit(int code, std::optional<int64_t> max_rss_kib = std::nullopt,
           int64_t user_cpu_us = 0) {
  ExitEvent exit{.exit_code = code};
  exit.usage.max_rss_kib = max_rss_kib;
  exit.usage.user_cpu_us = user_cpu_us;
  return exit;
}

class ComparisonRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-compare-runner-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    auto store = Store::Open(dir_->path() / "runs.db");
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_.emplace(std::move(*store));
    auto policy = LoadPreset("default");
    ASSERT_TRUE(policy.has_value()) << policy.error().ToString();
    options_.policy = std::make_shared<const Policy>(*policy);
    options_.executable = "/bin/true";  // the fakes never run it
    options_.argv = {"/bin/true", "--flag"};
    options_.repeat = 3;
  }

  // Registers `name`; returns its start counter. `configure` adjusts each
  // instance (availability, start errors).
  std::shared_ptr<int> UseFake(
      const std::string& name, const Script& script,
      const std::function<void(CountingBackend&)>& configure = {}) {
    auto starts = std::make_shared<int>(0);
    registry_.Register(name, "scripted", [=] {
      auto backend = std::make_unique<CountingBackend>(script(*starts), starts);
      if (configure) configure(*backend);
      return backend;
    });
    options_.backends.push_back(name);
    return starts;
  }

  static Script Prints(const std::string& text, int code = 0) {
    return [=](int) {
      return std::vector<FakeBackend::Step>{Stdout(text), Exit(code)};
    };
  }

  Result<Comparison> Run() {
    ComparisonRunner runner(registry_, *store_, options_);
    return runner.Run();
  }

  std::optional<TempDir> dir_;
  std::optional<Store> store_;
  BackendRegistry registry_;
  CompareOptions options_;
};

TEST_F(ComparisonRunnerTest, WarmUpIsRecordedButNotMeasured) {
  // Run n peaks at 1000 + 10n KiB and uses n µs of user CPU: the warm-up
  // (run 0) would show as a 1000 KiB minimum if it were measured.
  auto starts = UseFake("native", [](int n) {
    return std::vector<FakeBackend::Step>{Stdout("same\n"),
                                          Exit(0, 1000 + 10 * n, n)};
  });
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_EQ(*starts, 4);  // one warm-up and three measured runs

  auto runs = store_->List(0);
  ASSERT_TRUE(runs.has_value());
  EXPECT_EQ(runs->size(), 4u);  // every run is recorded, the warm-up too

  ASSERT_EQ(comparison->backends.size(), 1u);
  const BackendComparison& b = comparison->backends[0];
  EXPECT_EQ(b.backend, "native");
  EXPECT_TRUE(b.available);
  EXPECT_EQ(b.error, "");
  ASSERT_EQ(b.run_ids.size(), 3u);
  for (int64_t id : b.run_ids) {
    auto run = store_->Get(id);
    ASSERT_TRUE(run.has_value()) << run.error().ToString();
    EXPECT_EQ(run->backend, "fake");
    EXPECT_EQ(run->argv, options_.argv);
  }
  EXPECT_EQ(b.startup_ns.count, 3u);
  EXPECT_EQ(b.wall_ns.count, 3u);
  EXPECT_EQ(b.user_cpu_us.count, 3u);
  EXPECT_EQ(b.system_cpu_us.count, 3u);
  EXPECT_EQ(b.max_rss_kib, (Spread{1020, 1010, 1030, 1015, 1025, 3}));
  EXPECT_EQ(b.user_cpu_us.median, 2);
  EXPECT_EQ(b.outcome, Outcome::kExited);
  EXPECT_EQ(b.exit_status, 0);
  EXPECT_TRUE(b.consistent);
  EXPECT_EQ(b.output_matches_native, true);
  EXPECT_EQ(b.wall_ratio, Ratio(b.wall_ns.median, b.wall_ns.median));
  // The fake's entry describes no routing: the plan describes it.
  EXPECT_THAT(b.traits.syscalls_handled_by, HasSubstr("fast path"));

  EXPECT_EQ(comparison->repeat, 3);
  EXPECT_EQ(comparison->argv, options_.argv);
  EXPECT_EQ(comparison->policy_name, options_.policy->name);
  EXPECT_FALSE(comparison->interrupted);
  // Recorded as returned.
  EXPECT_EQ(*store_->LatestComparisonId(), comparison->id);
  auto stored = store_->GetComparison(comparison->id);
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_EQ(*stored, *comparison);
}

TEST_F(ComparisonRunnerTest, BackendThatFailsToStartIsListedAndOthersRun) {
  UseFake("native", Prints("hi\n"));
  UseFake("broken", Prints("hi\n"), [](CountingBackend& backend) {
    backend.start_error = Error(ErrorCode::kSystem, "clone3: no luck");
  });
  UseFake("other", Prints("hi\n"));
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  ASSERT_EQ(comparison->backends.size(), 3u);
  const BackendComparison& broken = comparison->backends[1];
  EXPECT_EQ(broken.backend, "broken");
  EXPECT_TRUE(broken.available);
  EXPECT_THAT(broken.error, HasSubstr("clone3: no luck"));
  EXPECT_TRUE(broken.run_ids.empty());
  EXPECT_EQ(broken.wall_ns.count, 0u);
  EXPECT_EQ(broken.output_matches_native, std::nullopt);
  // The backend after it still ran.
  EXPECT_EQ(comparison->backends[2].run_ids.size(), 3u);
  EXPECT_EQ(comparison->backends[2].output_matches_native, true);
  // The failed run is kept, as an error with its message.
  int errors = 0;
  auto runs = store_->List(0);
  ASSERT_TRUE(runs.has_value()) << runs.error().ToString();
  for (const RunSummary& run : *runs) {
    EXPECT_NE(run.outcome, Outcome::kRunning) << run.id;
    if (run.outcome != Outcome::kError) continue;
    ++errors;
    EXPECT_THAT(store_->Get(run.id)->termination.reason,
                HasSubstr("clone3: no luck"));
  }
  EXPECT_EQ(errors, 1);
}

TEST_F(ComparisonRunnerTest, UnavailableBackendIsListedWithItsReason) {
  UseFake("native", Prints("hi\n"));
  auto starts = UseFake("kvm", Prints("hi\n"), [](CountingBackend& backend) {
    backend.probe = ProbeResult{false, "/dev/kvm is missing"};
  });
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_EQ(*starts, 0);
  const BackendComparison& kvm = comparison->backends[1];
  EXPECT_FALSE(kvm.available);
  EXPECT_EQ(kvm.unavailable_reason, "/dev/kvm is missing");
  EXPECT_EQ(kvm.error, "");
  EXPECT_TRUE(kvm.run_ids.empty());
  EXPECT_EQ(kvm.output_matches_native, std::nullopt);
  EXPECT_EQ(kvm.wall_ratio, std::nullopt);
}

TEST_F(ComparisonRunnerTest, OutputDifferentFromNativeIsFlagged) {
  UseFake("native", Prints("result=42\n"));
  UseFake("same", Prints("result=42\n"));
  UseFake("differs", Prints("result=41\n"));
  UseFake("other-status", Prints("result=42\n", 3));
  // Different only in its last run: "every run" must hold.
  UseFake("last-run-differs", [](int n) {
    return std::vector<FakeBackend::Step>{
        Stdout(n == 3 ? "result=43\n" : "result=42\n"), Exit(0)};
  });
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  ASSERT_EQ(comparison->backends.size(), 5u);
  EXPECT_EQ(comparison->backends[0].output_matches_native, true);
  EXPECT_EQ(comparison->backends[1].output_matches_native, true);
  EXPECT_EQ(comparison->backends[2].output_matches_native, false);
  EXPECT_EQ(comparison->backends[3].output_matches_native, false);
  EXPECT_EQ(comparison->backends[4].output_matches_native, false);
  for (const BackendComparison& b : comparison->backends) {
    if (b.backend == "other-status") {
      // Another exit status than native's: a failure, so no cost.
      ASSERT_TRUE(b.failure.has_value());
      EXPECT_EQ(b.failure->what,
                "exited with status 3 where native exited with status 0");
      EXPECT_FALSE(b.wall_ratio.has_value());
      EXPECT_FALSE(b.startup_ratio.has_value());
      continue;
    }
    // Other output is no failure: the run did the work.
    EXPECT_FALSE(b.failure.has_value()) << b.backend;
    EXPECT_TRUE(b.wall_ratio.has_value()) << b.backend;
    EXPECT_TRUE(b.startup_ratio.has_value()) << b.backend;
  }
}

// A policy that kills uname and denies getppid: what the failing fakes
// below run into.
constexpr std::string_view kKillsAndDenies = R"(version: 1
syscalls:
  default: allow
  abi:
    i386: {action: deny, errno: ENOSYS}
    x32: {action: deny, errno: ENOSYS}
  rules:
    - id: no-uname
      syscalls: [uname]
      action: kill
    - id: no-getppid
      syscalls: [getppid]
      action: deny
      errno: EPERM
network: host
)";

Event Call(std::string_view name) {
  SyscallEvent call;
  call.pid = 1;
  call.request.number = SyscallNumber(name).value();
  return call;
}

TEST_F(ComparisonRunnerTest, FailedRunsSayWhyAndCarryNoCost) {
  auto policy = ParsePolicy(kKillsAndDenies, "kills-and-denies");
  ASSERT_TRUE(policy.has_value()) << policy.error().ToString();
  options_.policy = std::make_shared<const Policy>(*policy);
  UseFake("native", Prints("name\n"));
  UseFake("killed", [](int) {
    return std::vector<FakeBackend::Step>{Call("uname"), Exit(0)};
  });
  UseFake("denied", [](int) {
    return std::vector<FakeBackend::Step>{
        Call("getppid"), Call("getppid"),
        Event{OutputEvent{OutputStream::kStderr,
                          "prog: cannot get parent\nprog: giving up\n"}},
        Exit(1)};
  });
  UseFake("crashed", [](int) {
    return std::vector<FakeBackend::Step>{
        ExitEvent{.signaled = true, .signal = SIGSEGV}};
  });
  UseFake("limited", [](int) {
    return std::vector<FakeBackend::Step>{
        Event{LimitEvent{LimitKind::kMemory, "memory limit of 1 MiB hit"}}};
  });
  UseFake("fine", Prints("name\n"));
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  ASSERT_EQ(comparison->backends.size(), 6u);
  const auto column = [&](size_t i) -> const BackendComparison& {
    return comparison->backends[i];
  };

  EXPECT_FALSE(column(0).failure.has_value());
  EXPECT_FALSE(column(5).failure.has_value());
  EXPECT_TRUE(column(5).wall_ratio.has_value());

  ASSERT_TRUE(column(1).failure.has_value());
  EXPECT_EQ(column(1).failure->what, "killed by the policy");
  EXPECT_EQ(column(1).failure->rule_id, "no-uname");
  EXPECT_THAT(column(1).failure->reason, HasSubstr("killed by rule"));
  EXPECT_EQ(column(1).failure->failed_runs, 3);
  EXPECT_EQ(column(1).failure->run_id, column(1).run_ids.front());

  ASSERT_TRUE(column(2).failure.has_value());
  EXPECT_EQ(column(2).failure->what,
            "exited with status 1 where native exited with status 0");
  EXPECT_EQ(column(2).failure->reason, "denied: getppid x2 [no-getppid]");
  EXPECT_EQ(column(2).failure->rule_id, "no-getppid");

  ASSERT_TRUE(column(3).failure.has_value());
  EXPECT_EQ(column(3).failure->what,
            "was killed by SIGSEGV where native exited with status 0");

  ASSERT_TRUE(column(4).failure.has_value());
  EXPECT_EQ(column(4).failure->what, "stopped at a resource limit");
  EXPECT_EQ(column(4).failure->reason, "memory limit of 1 MiB hit");

  for (size_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(column(i).run_ids.size(), 3u) << column(i).backend;
    EXPECT_FALSE(column(i).wall_ratio.has_value()) << column(i).backend;
    EXPECT_FALSE(column(i).startup_ratio.has_value()) << column(i).backend;
  }
  // What the store keeps is what reports read.
  auto stored = store_->GetComparison(comparison->id);
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_EQ(*stored, *comparison);
}

TEST_F(ComparisonRunnerTest, WithoutDenialsTheLastStderrLineSaysWhy) {
  UseFake("native", Prints("x\n"));
  UseFake("gives-up", [](int) {
    return std::vector<FakeBackend::Step>{
        Event{OutputEvent{OutputStream::kStderr,
                          "first line\nprog: Operation not permitted\n\n"}},
        Exit(2)};
  });
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  const BackendComparison& b = comparison->backends[1];
  ASSERT_TRUE(b.failure.has_value());
  EXPECT_EQ(b.failure->reason, "stderr: prog: Operation not permitted");
  EXPECT_EQ(b.failure->rule_id, "");
}

TEST_F(ComparisonRunnerTest, WhenNativeFailsNoRatioIsComputed) {
  UseFake("native", [](int) {
    return std::vector<FakeBackend::Step>{
        Event{LimitEvent{LimitKind::kWallTime, "wall time limit hit"}}};
  });
  UseFake("other", Prints("x\n"));
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_TRUE(comparison->backends[0].failure.has_value());
  // Against native's limit run, an exit is no failure of `other`'s own,
  // but there is no baseline to price it against.
  for (const BackendComparison& b : comparison->backends) {
    EXPECT_FALSE(b.wall_ratio.has_value()) << b.backend;
  }
}

TEST_F(ComparisonRunnerTest, WithoutNativeOnlyIsoscopesEndsAndSignalsFail) {
  UseFake("exits-3", Prints("x\n", 3));
  UseFake("crashes", [](int) {
    return std::vector<FakeBackend::Step>{
        ExitEvent{.signaled = true, .signal = SIGSEGV}};
  });
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_FALSE(comparison->backends[0].failure.has_value());
  ASSERT_TRUE(comparison->backends[1].failure.has_value());
  EXPECT_EQ(comparison->backends[1].failure->what, "was killed by SIGSEGV");
}

// The runs of a backend that takes three times native's time are priced at
// about 3x, not at 1x: wall time is measured per backend, and the ratio is
// to native's median. The fakes sleep before their exit.
class PacedBackend : public FakeBackend {
 public:
  PacedBackend(std::vector<Step> script, std::chrono::milliseconds pause)
      : FakeBackend(std::move(script)), pause_(pause) {}
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override {
    std::this_thread::sleep_for(pause_);
    return FakeBackend::NextEvent(wait);
  }

 private:
  std::chrono::milliseconds pause_;
};

TEST_F(ComparisonRunnerTest, ASlowerBackendsRatioIsItsWallTimeOverNatives) {
  options_.repeat = 2;
  for (const auto& paced :
       {std::pair{"native", std::chrono::milliseconds(40)},
        std::pair{"slow", std::chrono::milliseconds(120)}}) {
    const std::chrono::milliseconds pause = paced.second;
    registry_.Register(paced.first, "paced", [pause] {
      return std::make_unique<PacedBackend>(
          std::vector<FakeBackend::Step>{Stdout("x\n"), Exit(0)}, pause);
    });
    options_.backends.emplace_back(paced.first);
  }
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  const BackendComparison& slow = comparison->backends[1];
  ASSERT_TRUE(slow.wall_ratio.has_value());
  // Two events, each after the pause: 80 ms against 240 ms, plus the
  // loop's own time and sleeps overshooting on a shared machine (the exact
  // quotient is pinned by CompareWithNativeTest below).
  EXPECT_GT(*slow.wall_ratio, 2.0);
  EXPECT_LT(*slow.wall_ratio, 3.6);
  EXPECT_EQ(comparison->backends[0].wall_ratio, 1.0);
}

// The ratio is exactly the medians' quotient (pure function, no clock).
TEST(CompareWithNativeTest, PinsEachColumnsRatiosToNativesMedians) {
  const auto runs_of = [](const std::vector<int64_t>& walls, int64_t startup) {
    std::vector<RunResult> runs;
    for (int64_t wall : walls) {
      RunResult run;
      run.timings.wall_ns = wall;
      run.timings.startup_ns = startup;
      runs.push_back(run);
    }
    return runs;
  };
  std::vector<std::vector<RunResult>> runs = {
      runs_of({10'000, 12'000, 11'000}, 1'000),  // native: median 11 us
      runs_of({27'500, 30'000, 26'000}, 4'000),  // median 27.5 us: 2.5x
      runs_of({5'500, 6'000, 5'000}, 500)};      // median 5.5 us: 0.5x
  std::vector<BackendComparison> columns(3);
  columns[0].backend = "native";
  columns[1].backend = "slower";
  columns[2].backend = "faster";
  for (size_t i = 0; i < columns.size(); ++i) {
    SummarizeRuns(runs[i], columns[i]);
  }
  FindFailures(runs, columns);
  CompareWithNative(runs, columns);
  EXPECT_EQ(columns[0].wall_ratio, 1.0);
  EXPECT_EQ(columns[1].wall_ratio, 2.5);
  EXPECT_EQ(columns[1].startup_ratio, 4.0);
  EXPECT_EQ(columns[2].wall_ratio, 0.5);
  EXPECT_EQ(columns[2].startup_ratio, 0.5);

  // A failed run in one column takes its ratios away, and only its.
  runs[1][1].termination.outcome = Outcome::kViolation;
  columns[1].wall_ratio.reset();
  columns[1].startup_ratio.reset();
  FindFailures(runs, columns);
  CompareWithNative(runs, columns);
  ASSERT_TRUE(columns[1].failure.has_value());
  EXPECT_EQ(columns[1].failure->failed_runs, 1);
  EXPECT_EQ(columns[1].wall_ratio, std::nullopt);
  EXPECT_EQ(columns[2].wall_ratio, 0.5);
}

TEST_F(ComparisonRunnerTest, WithoutNativeThereIsNothingToCompareWith) {
  UseFake("ptrace-like", Prints("x\n"));
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  const BackendComparison& b = comparison->backends[0];
  EXPECT_EQ(b.run_ids.size(), 3u);
  EXPECT_EQ(b.output_matches_native, std::nullopt);
  EXPECT_EQ(b.wall_ratio, std::nullopt);
  EXPECT_EQ(b.startup_ratio, std::nullopt);
}

TEST_F(ComparisonRunnerTest, DifferingOutcomesAreNotConsistent) {
  UseFake("native", Prints("x\n"));
  // Exits 0, then 1, then 0: the first measured run's status is reported.
  UseFake("flaky", [](int n) {
    return std::vector<FakeBackend::Step>{Exit(n == 2 ? 1 : 0)};
  });
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_TRUE(comparison->backends[0].consistent);
  const BackendComparison& flaky = comparison->backends[1];
  EXPECT_FALSE(flaky.consistent);
  EXPECT_EQ(flaky.exit_status, 0);
  EXPECT_EQ(flaky.outcome, Outcome::kExited);
}

TEST_F(ComparisonRunnerTest, InterruptStopsAndRecordsWhatWasMeasured) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  // The second backend's first run sees the interrupt arrive.
  UseFake("native", Prints("x\n"));
  auto starts = UseFake(
      "late",
      [](int) {
        return std::vector<FakeBackend::Step>{testing::BlockUntilWoken{}};
      },
      [&](CountingBackend& backend) {
        backend.on_start = [&] {
          EXPECT_EQ(::write(write_end.get(), "x", 1), 1);
        };
      });
  UseFake("never", Prints("x\n"));
  options_.interrupt_fd = read_end.get();
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  EXPECT_TRUE(comparison->interrupted);
  EXPECT_EQ(*starts, 1);
  EXPECT_EQ(comparison->backends[0].run_ids.size(), 3u);
  EXPECT_TRUE(comparison->backends[1].run_ids.empty());
  EXPECT_THAT(comparison->backends[2].error, HasSubstr("interrupted"));
  auto stored = store_->GetComparison(comparison->id);
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_TRUE(stored->interrupted);
}

TEST_F(ComparisonRunnerTest, ProbesRunOnTheSameBackendsAndAreLinked) {
  UseFake("native", [](int) {
    return std::vector<FakeBackend::Step>{
        Stdout("PROBE hostname NA nodename=elsewhere\n"), Exit(0)};
  });
  options_.probes = true;
  options_.probe_specs = {ProbeSpec{"hostname", "/bin/true", {}}};
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  ASSERT_TRUE(comparison->probe_session_id.has_value());
  auto session = store_->GetProbeSession(*comparison->probe_session_id);
  ASSERT_TRUE(session.has_value()) << session.error().ToString();
  EXPECT_EQ(session->backends, options_.backends);
  ASSERT_EQ(session->findings.size(), 1u);
  EXPECT_EQ(session->findings[0].verdict, "BLOCKED");
}

TEST_F(ComparisonRunnerTest, RepeatBelowOneIsRefused) {
  UseFake("native", Prints("x\n"));
  options_.repeat = 0;
  auto comparison = Run();
  ASSERT_FALSE(comparison.has_value());
  EXPECT_EQ(comparison.error().code(), ErrorCode::kInvalidArgument);
}

// A comparison's failures, figures' meaning, enforcement matrix and the
// policy's sections survive its JSON (the store's form); one recorded
// before they were kept still reads, as not described.
TEST(ComparisonJsonTest, KeepsFailuresAndMatricesAndReadsOlderComparisons) {
  Comparison c;
  c.argv = {"/bin/uname"};
  c.policy_name = "kill-uname";
  c.policy_sections_used = {"syscalls", "filesystem"};
  c.repeat = 1;
  BackendComparison b;
  b.backend = "ptrace";
  b.run_ids = {12};
  b.traits.measures = "a host process under a tracer";
  b.traits.enforcement = {{"syscalls", true, "seccomp"},
                          {"filesystem", false, "no mount view"}};
  b.failure =
      RunFailure{"killed by the policy", "uname killed", "no-uname", 12, 1};
  c.backends = {b};
  const nlohmann::json json = ToJson(c);
  auto parsed = ComparisonFromJson(json);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, c);

  nlohmann::json older = json;
  older.erase("policy_sections_used");
  older["backends"][0].erase("failure");
  older["backends"][0]["traits"].erase("measures");
  older["backends"][0]["traits"].erase("enforcement");
  auto old_parsed = ComparisonFromJson(older);
  ASSERT_TRUE(old_parsed.has_value()) << old_parsed.error().ToString();
  EXPECT_TRUE(old_parsed->policy_sections_used.empty());
  EXPECT_FALSE(old_parsed->backends[0].failure.has_value());
  EXPECT_TRUE(old_parsed->backends[0].traits.measures.empty());
  EXPECT_TRUE(old_parsed->backends[0].traits.enforcement.empty());

  nlohmann::json broken = json;
  broken["backends"][0]["failure"].erase("what");
  auto refused = ComparisonFromJson(broken);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().ToString(),
              HasSubstr("backends[0].failure.what: missing"));
}

TEST(TraitsTest, NativeReachesEverySyscallAndFiltersReachWhatThePlanLets) {
  auto policy = LoadPreset("default");
  ASSERT_TRUE(policy.has_value()) << policy.error().ToString();
  const CompiledPlan plan = CompiledPlan::Compile(
      std::make_shared<const Policy>(WithWorkdir(*policy, "/w")));
  const size_t allowed = plan.NumbersWith(Disposition::kAllow).size();
  const size_t inspected = plan.NumbersWith(Disposition::kInspect).size();
  const size_t denied = plan.NumbersWith(Disposition::kErrno).size() +
                        plan.NumbersWith(Disposition::kKill).size();
  ASSERT_GT(denied, 0u);  // else the two counts below could not differ

  const BackendRouting unfiltered{"host kernel", "host kernel", false, {}};
  const BackendTraits native = TraitsFor(unfiltered, plan);
  EXPECT_EQ(native.syscalls_handled_by, "host kernel");
  EXPECT_EQ(native.faults_handled_by, "host kernel");
  EXPECT_EQ(native.reachable_host_syscalls,
            static_cast<int>(allowed + inspected + denied));

  const BackendRouting filtered{
      "seccomp filter", "isoscope's tracer", true, {}};
  const BackendTraits ptrace = TraitsFor(filtered, plan);
  EXPECT_EQ(ptrace.reachable_host_syscalls,
            static_cast<int>(allowed + inspected));
  EXPECT_EQ(ptrace.syscalls_handled_by, "seccomp filter");
  EXPECT_EQ(ptrace.faults_handled_by, "isoscope's tracer");

  // A backend that confines itself reports its own surface instead.
  const std::vector<std::string> surface = {"ioctl", "read", "write"};
  const BackendTraits kvm = TraitsFor(
      BackendRouting{"the VMM", "guest stubs", true, {}}, plan, surface);
  EXPECT_EQ(kvm.reachable_host_syscalls, 3);
  EXPECT_EQ(kvm.vmm_allowed_syscalls, surface);
  EXPECT_EQ(kvm.syscalls_handled_by, "the VMM");
  EXPECT_TRUE(ptrace.vmm_allowed_syscalls.empty());

  // A backend that does not describe itself is described from the plan.
  const BackendTraits other = TraitsFor(std::nullopt, plan);
  EXPECT_EQ(other.reachable_host_syscalls,
            static_cast<int>(allowed + inspected));
  EXPECT_THAT(other.syscalls_handled_by, HasSubstr("fast path"));
}

// A registry entry's routing, computed on the comparison's host, is its
// column's; a section or fault the policy asks for that the backend cannot
// enforce there is a warning on every run.
TEST_F(ComparisonRunnerTest, RoutingComesFromTheEntryOnThisHost) {
  auto strict = LoadPreset("strict");  // rdtsc: emulate
  ASSERT_TRUE(strict.has_value()) << strict.error().ToString();
  options_.policy = std::make_shared<const Policy>(*strict);
  options_.backends = {"described"};
  registry_.Register(
      "described", "scripted",
      [] {
        return std::make_unique<CountingBackend>(
            std::vector<FakeBackend::Step>{Stdout("out\n"), Exit(0)},
            std::make_shared<int>(0));
      },
      {},
      [](const HostFacts& host) {
        return BackendRouting{"by the test",
                              "on " + host.kernel_release,
                              true,
                              {{FaultKind::kRdtsc, "not trappable here"}},
                              {{"syscalls", true, "by the script"},
                               {"network", false, "no sockets to hold"}},
                              "what the test's figures stand for"};
      });
  auto comparison = Run();
  ASSERT_TRUE(comparison.has_value()) << comparison.error().ToString();
  ASSERT_EQ(comparison->backends.size(), 1u);
  const BackendComparison& column = comparison->backends[0];
  EXPECT_EQ(column.traits.syscalls_handled_by, "by the test");
  EXPECT_EQ(column.traits.faults_handled_by,
            "on " + comparison->host.kernel_release);
  // What reports say the figures stand for, and the enforcement matrix,
  // are the entry's own words.
  EXPECT_EQ(column.traits.measures, "what the test's figures stand for");
  EXPECT_EQ(column.traits.enforcement,
            (std::vector<SectionEnforcement>{
                {"syscalls", true, "by the script"},
                {"network", false, "no sockets to hold"}}));
  // The sections strict asks anything of, as PolicyUses says (network:
  // none among them).
  std::vector<std::string> used;
  for (std::string_view section : kPolicySections) {
    if (PolicyUses(*strict, section)) used.emplace_back(section);
  }
  EXPECT_EQ(comparison->policy_sections_used, used);
  EXPECT_THAT(used, ::testing::Contains("network"));
  ASSERT_EQ(column.run_ids.size(), 3u);
  for (int64_t id : column.run_ids) {
    auto run = store_->Get(id);
    ASSERT_TRUE(run.has_value()) << run.error().ToString();
    EXPECT_THAT(run->warnings,
                ElementsAre("network: not enforced by this backend (no "
                            "sockets to hold)",
                            "rdtsc: not trappable here; the policy's "
                            "`rdtsc: emulate` is not applied"));
  }
}

}  // namespace
}  // namespace isoscope
