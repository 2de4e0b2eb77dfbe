// A run's events from the supervisor's loop to the results store: bounded
// in what is kept and in the supervisor's memory, exact in what is counted.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "base/sanitizers.h"
#include "base/temp_dir.h"
#include "policies/syscalls.h"
#include "supervisor/recorded_run.h"
#include "supervisor/store.h"
#include "tests/fake_backend.h"

namespace isoscope {
namespace {

using ::isoscope::testing::SyscallFloodBackend;
int Nr(const char* name) { return SyscallNumber(name).value(); }

// getppid is logged (inspected and recorded); everything else, when
// `log_everything`, falls to a default that logs it too.
std::shared_ptr<const Policy> LoggingPolicy(bool log_everything) {
  auto policy = std::make_shared<Policy>();
  policy->name = "logging";
  policy->syscalls.default_action = {log_everything ? Action::kLog
                                                    : Action::kAllow};
  policy->syscalls.rules = {Rule{.id = "log-getppid",
                                 .syscalls = {Nr("getppid")},
                                 .action = {Action::kLog}}};
  return policy;
}

class RecordingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("isoscope-recording-test-");
    ASSERT_TRUE(dir.has_value()) << dir.error().ToString();
    dir_.emplace(std::move(*dir));
    auto store = Store::Open(dir_->path() / "runs.db");
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_.emplace(std::move(*store));
  }

  // `calls` syscalls, numbers in turn from `numbers`, recorded as
  // `isoscope run` records them.
  RecordedRun Flood(uint64_t calls, std::vector<int> numbers,
                    bool log_everything = false) {
    SyscallFloodBackend backend(calls, std::move(numbers));
    SupervisorOptions options;
    options.host_facts = HostFacts{};
    return RunRecorded(LoggingPolicy(log_everything), std::move(options),
                       backend, Workload{"/bin/true", {"true"}, {}, "/tmp"},
                       *store_);
  }

  std::optional<TempDir> dir_;
  std::optional<Store> store_;
};

TEST_F(RecordingTest, ManyEventsAreKeptBoundedAndCountedExactly) {
  constexpr uint64_t kCalls = 200000;
  RecordedRun recorded = Flood(kCalls, {Nr("getppid")});
  ASSERT_TRUE(recorded.run.has_value()) << recorded.run.error().ToString();
  ASSERT_TRUE(recorded.recorded.has_value())
      << recorded.recorded.error().ToString();
  // Streamed to the store, not held.
  EXPECT_TRUE(recorded.run->events.empty());
  EXPECT_EQ(recorded.run->counters.syscalls_trapped, kCalls);

  auto run = store_->Get(recorded.run->id);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  ASSERT_TRUE(run->event_counts.has_value());
  ASSERT_EQ(run->event_counts->size(), 2u);
  EXPECT_EQ((*run->event_counts)[0],
            (EventCount{"syscall getppid", "log", "log-getppid", kCalls,
                        kEventsKeptPerKind}));
  EXPECT_EQ((*run->event_counts)[1], (EventCount{"exit", "", "", 1, 1}));
  EXPECT_EQ(run->counters.events_dropped, kCalls - kEventsKeptPerKind);
  EXPECT_FALSE(AllEventsKept(*run));
  EXPECT_EQ(EventsCounted(*run), kCalls + 1);
  // The first of the kind, in order, then the exit.
  ASSERT_EQ(run->events.size(), kEventsKeptPerKind + 1);
  for (uint64_t i = 0; i < kEventsKeptPerKind; ++i) {
    const auto* call = std::get_if<SyscallEvent>(&run->events[i]);
    ASSERT_NE(call, nullptr) << i;
    ASSERT_EQ(call->request.args[0], i);
    ASSERT_EQ(call->verdict->rule_id, "log-getppid");
  }
  EXPECT_TRUE(std::holds_alternative<ExitEvent>(run->events.back()));
  // What `isoscope run` prints from the run it got back, without its
  // events, is what the store says.
  EXPECT_EQ(EventsKept(*recorded.run), EventsKept(*run));
  EXPECT_EQ(*recorded.run->event_counts, *run->event_counts);
}

TEST_F(RecordingTest, ARunWithFewEventsKeepsThemAllAndSaysSo) {
  RecordedRun recorded = Flood(3, {Nr("getppid"), Nr("getpid")});
  ASSERT_TRUE(recorded.run.has_value()) << recorded.run.error().ToString();
  auto run = store_->Get(recorded.run->id);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  // getpid is allowed by the default: not recorded.
  ASSERT_EQ(run->events.size(), 3u);
  EXPECT_TRUE(AllEventsKept(*run));
  EXPECT_EQ(run->counters.events_dropped, 0u);
}

TEST_F(RecordingTest, KindsAndTheRunAreCappedWhateverTheWorkloadTries) {
  // 2000 kinds (every number, most without a name) logged by the default,
  // 100 calls each: the table stops at kMaxEventKinds and one "other" row,
  // and the run keeps kMaxRecordedEvents.
  std::vector<int> numbers;
  for (int n = 0; n < 2000; ++n) numbers.push_back(n);
  const uint64_t calls = uint64_t{2000} * 100;
  RecordedRun recorded = Flood(calls, numbers, /*log_everything=*/true);
  ASSERT_TRUE(recorded.run.has_value()) << recorded.run.error().ToString();
  const RunResult& run = *recorded.run;
  ASSERT_TRUE(run.event_counts.has_value());
  EXPECT_EQ(run.event_counts->size(), kMaxEventKinds + 2);  // + other, exit
  EXPECT_EQ(EventsCounted(run), calls + 1);
  EXPECT_EQ(EventsKept(run), kMaxRecordedEvents);
  const EventCount& other = (*run.event_counts)[kMaxEventKinds];
  EXPECT_EQ(other.kind, "syscall other");
  EXPECT_EQ(other.count, (2000 - kMaxEventKinds) * 100);
  auto stored = store_->Get(run.id);
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_EQ(stored->events.size(), kMaxRecordedEvents);
}

// The peak resident set of a child that records `calls` syscalls of 64
// logged kinds into a fresh store, in KiB.
int64_t PeakKibRecording(const std::filesystem::path& db, uint64_t calls) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto store = Store::Open(db);
    if (!store) ::_exit(2);
    std::vector<int> numbers;
    for (int n = 0; n < 64; ++n) numbers.push_back(n);
    SyscallFloodBackend backend(calls, numbers);
    SupervisorOptions options;
    options.host_facts = HostFacts{};
    RecordedRun recorded =
        RunRecorded(LoggingPolicy(true), std::move(options), backend,
                    Workload{"/bin/true", {"true"}, {}, "/tmp"}, *store);
    if (!recorded.run || !recorded.recorded ||
        EventsCounted(*recorded.run) != calls + 1) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  rusage usage{};
  if (pid < 0 || ::wait4(pid, &status, 0, &usage) != pid ||
      !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "recording child failed, status " << status;
    return -1;
  }
  return usage.ru_maxrss;
}

// Whether ASAN_OPTIONS turns AddressSanitizer's quarantine off (the last
// quarantine_size_mb it sets is 0).
bool AsanQuarantineOff() {
  const char* options = std::getenv("ASAN_OPTIONS");
  if (options == nullptr) return false;
  constexpr std::string_view kKey = "quarantine_size_mb=";
  const std::string_view text(options);
  const size_t at = text.rfind(kKey);
  if (at == std::string_view::npos) return false;
  const std::string_view value = text.substr(at + kKey.size());
  return value.substr(0, value.find_first_of(":, ")) == "0";
}

TEST_F(RecordingTest, SupervisorMemoryDoesNotGrowWithTheNumberOfEvents) {
  // AddressSanitizer keeps freed memory in a quarantine (256 MiB by
  // default) before reusing it: the peak would grow with the memory
  // allocated, not the memory kept. CTest runs this test with the
  // quarantine off (supervisor/CMakeLists.txt).
  if (kAddressSanitizer && !AsanQuarantineOff()) {
    GTEST_SKIP() << "AddressSanitizer's quarantine holds freed memory: run "
                    "with ASAN_OPTIONS=quarantine_size_mb=0 (ctest does)";
  }
  // 20,000 events, all kept, against 1,000,000 (100,000 kept, the rest
  // counted). Held in memory, 100,000 events would take about 30 MiB.
  const int64_t few = PeakKibRecording(dir_->path() / "few.db", 20000);
  const int64_t many = PeakKibRecording(dir_->path() / "many.db", 1000000);
  ASSERT_GT(few, 0);
  ASSERT_GT(many, 0);
  EXPECT_LT(many - few, 6 * 1024) << "peak " << few << " KiB with 20,000 "
                                  << "events, " << many << " KiB with 1M";
}

}  // namespace
}  // namespace isoscope
