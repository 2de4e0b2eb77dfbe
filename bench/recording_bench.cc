// What recording an event costs, from its arrival in the supervisor's loop
// to its being in the results store when the run ends (issue 16: at most
// 2 us per event). Two variants run the same N inspected getppid calls and
// differ only in whether each call is recorded:
//   - `inspected`: a rule with an argument condition that always holds
//     allows getppid: every call reaches the supervisor, none is recorded;
//   - `logged`: a `log` rule: every call reaches the supervisor and is
//     recorded (N <= kEventsKeptPerKind, so every one is kept and stored).
// Per event = (logged - inspected) / N, paired within each repetition,
// median over the repetitions, measured twice, variants interleaved:
//   1. whole `isoscope run -q --backend ptrace` processes on
//      `syscall-storm N`, recording into one store (what a user waits for):
//      wall time, whose median is the RATIO line, and the CPU time of
//      isoscope and the workload, which the machine's other load does not
//      inflate;
//   2. in process: the supervisor's loop and the store, fed by a backend
//      that makes the calls without a kernel (tests/fake_backend.h), so the
//      figure is the loop's and the store's alone; 90,000 calls of ten
//      kinds per run, all kept, for a figure above the noise.
// Every run is checked: exit status, and the events the store kept.
// Usage: recording_bench [REPEAT] [N] [ISOSCOPE]  (ISOSCOPE: another
// isoscope binary to time the whole processes of, e.g. an older build)
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/stats.h"
#include "base/temp_dir.h"
#include "bench/bench_report.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "supervisor/recorded_run.h"
#include "supervisor/store.h"
#include "tests/fake_backend.h"
#include "tests/test_env.h"

namespace isoscope::bench {
namespace {

using Clock = std::chrono::steady_clock;

// getppid reaches the supervisor (a condition on an argument) and is
// allowed there, unrecorded; or it is logged. Both accept the holes of
// `default: allow`, which the CLI otherwise refuses (policies/holes.h).
constexpr std::string_view kInspectedPolicy = R"(version: 1
syscalls:
  default: allow
  rules:
    - id: inspect-getppid
      syscalls: [getppid]
      args: [{index: 0, op: ge, value: 0}]
      action: allow
accepted_holes:
  - syscalls: [ptrace, setns, process_vm_writev, io_uring_setup, pidfd_getfd]
    reason: a recording benchmark; nothing to contain
)";

// In process the calls take no time of their own, so the runs are longer:
// ten kinds of call, kInProcessPerKind each, all kept.
constexpr std::string_view kInProcessSyscalls[] = {
    "getppid", "getpid",  "gettid",  "getuid", "geteuid",
    "getgid",  "getegid", "getpgrp", "getsid", "sched_yield"};
constexpr uint64_t kInProcessPerKind = 9000;

constexpr std::string_view kInProcessInspectedPolicy = R"(version: 1
syscalls:
  default: allow
  rules:
    - id: inspect
      syscalls: [getppid, getpid, gettid, getuid, geteuid, getgid, getegid,
                 getpgrp, getsid, sched_yield]
      args: [{index: 0, op: ge, value: 0}]
      action: allow
)";

constexpr std::string_view kInProcessLoggedPolicy = R"(version: 1
syscalls:
  default: allow
  rules:
    - id: log
      syscalls: [getppid, getpid, gettid, getuid, geteuid, getgid, getegid,
                 getpgrp, getsid, sched_yield]
      action: log
)";

constexpr std::string_view kLoggedPolicy = R"(version: 1
syscalls:
  default: allow
  rules:
    - {id: log-getppid, syscalls: [getppid], action: log}
accepted_holes:
  - syscalls: [ptrace, setns, process_vm_writev, io_uring_setup, pidfd_getfd]
    reason: a recording benchmark; nothing to contain
)";

struct Variant {
  std::string name;
  bool logged = false;
  std::vector<double> samples;      // wall, us
  std::vector<double> cpu_samples;  // whole processes: CPU time, us
};

void Failed(const std::string& what) {
  fmt::print(stderr, "recording_bench: FAILED: {}\n", what);
}

// One whole `isoscope run` process: its wall time, and the CPU time it and
// its children (the workload) used, in us; nullopt (said why) unless it
// exited 0.
struct Timed {
  double wall = 0;
  double cpu = 0;
};

double CpuMicrosOfChildren() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  const auto micros = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return micros(usage.ru_utime) + micros(usage.ru_stime);
}

std::optional<Timed> WholeRun(const std::string& isoscope,
                              const std::string& db, const std::string& policy,
                              const std::string& storm, uint64_t n) {
  const double cpu_before = CpuMicrosOfChildren();
  testing::CommandResult run = testing::RunCommand(
      {isoscope, "--db", db, "run", "-q", "--backend", "ptrace", "--policy",
       policy, "--", storm, std::to_string(n)});
  if (run.exit_status != 0) {
    Failed(fmt::format("isoscope run --policy {}: status {}: {}", policy,
                       run.exit_status, run.err));
    return std::nullopt;
  }
  return Timed{run.seconds * 1e6, CpuMicrosOfChildren() - cpu_before};
}

// One run of the supervisor's loop into `store`, in process: n calls of
// the kinds of kInProcessSyscalls in turn.
std::optional<double> InProcessMicros(Store& store,
                                      const std::shared_ptr<const Policy>& p,
                                      uint64_t n, bool logged) {
  std::vector<int> numbers;
  for (std::string_view name : kInProcessSyscalls) {
    numbers.push_back(SyscallNumber(std::string(name)).value());
  }
  testing::SyscallFloodBackend backend(n, std::move(numbers));
  SupervisorOptions options;
  options.host_facts = HostFacts{};
  const auto start = Clock::now();
  RecordedRun recorded =
      RunRecorded(p, std::move(options), backend,
                  Workload{"/bin/true", {"true"}, {}, "/tmp"}, store);
  const double micros =
      std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  if (!recorded.run || !recorded.recorded) {
    Failed(recorded.run ? recorded.recorded.error().ToString()
                        : recorded.run.error().ToString());
    return std::nullopt;
  }
  const uint64_t expected = logged ? n + 1 : 1;  // the calls, the exit
  if (recorded.run->counters.syscalls_trapped != n ||
      EventsKept(*recorded.run) != expected) {
    Failed(fmt::format("in process: {} trapped, {} kept; expected {} and {}",
                       recorded.run->counters.syscalls_trapped,
                       EventsKept(*recorded.run), n, expected));
    return std::nullopt;
  }
  return micros;
}

// The newest run of `db` recorded the storm's n + 1 getppid calls, all
// kept when `logged`, none otherwise.
bool CheckLatestRun(const std::string& db, uint64_t n, bool logged) {
  auto store = Store::Open(db);
  if (!store) {
    Failed(store.error().ToString());
    return false;
  }
  auto id = store->LatestId();
  auto run = id ? store->Get(*id) : tl::unexpected(id.error());
  if (!run) {
    Failed(run.error().ToString());
    return false;
  }
  const uint64_t kept = logged ? n + 2 : 1;  // first call, n calls, exit
  if (run->counters.syscalls_trapped < n + 1 || run->events.size() != kept ||
      !AllEventsKept(*run)) {
    Failed(fmt::format(
        "whole process ({}): {} trapped, {} events kept; "
        "expected {} and {}",
        logged ? "logged" : "inspected", run->counters.syscalls_trapped,
        run->events.size(), n + 1, kept));
    return false;
  }
  return true;
}

std::shared_ptr<const Policy> Load(std::string_view yaml,
                                   std::string_view name) {
  auto parsed = ParsePolicy(yaml, name, {.refuse_holes = false});
  if (!parsed) {
    Failed(parsed.error().ToString());
    return nullptr;
  }
  return std::make_shared<const Policy>(WithWorkdir(*parsed, "/tmp"));
}

// Median over repetitions of (logged - inspected) / n, paired.
Spread PerEvent(const std::vector<double>& logged,
                const std::vector<double>& inspected, uint64_t n) {
  std::vector<double> per_event;
  for (size_t i = 0; i < logged.size() && i < inspected.size(); ++i) {
    per_event.push_back((logged[i] - inspected[i]) / static_cast<double>(n));
  }
  return Summarize(per_event);
}

int Main(int argc, char** argv) {
  const int repeat = argc > 1 ? std::atoi(argv[1]) : 15;
  const long long n_arg = argc > 2 ? std::atoll(argv[2]) : 9000;
  const std::string isoscope =
      argc > 3 ? argv[3] : testing::IsoscopeBinary().string();
  if (repeat < 1 || n_arg < 1 ||
      static_cast<uint64_t>(n_arg) + 1 > kEventsKeptPerKind) {
    fmt::print(stderr,
               "usage: recording_bench [REPEAT>=1] [N<{}] [ISOSCOPE]: every "
               "call (syscall-storm makes N + 1) must be kept for the cost of "
               "storing it to show\n",
               kEventsKeptPerKind);
    return 2;
  }
  const auto n = static_cast<uint64_t>(n_arg);
  const std::string storm =
      testing::BuiltWorkload("bench/syscall-storm").string();
  if (::access(storm.c_str(), X_OK) != 0 ||
      ::access(isoscope.c_str(), X_OK) != 0) {
    fmt::print(stderr, "recording_bench: {} or {} not built\n", isoscope,
               storm);
    return 1;
  }
  const std::string why = testing::BackendUnavailable("ptrace");
  auto scratch = TempDir::Create("isoscope-recording-bench-");
  if (!scratch) {
    fmt::print(stderr, "{}\n", scratch.error().ToString());
    return 1;
  }
  const std::filesystem::path dir = scratch->path();
  const std::string whole_db = (dir / "whole.db").string();
  const std::string inspected_file = (dir / "inspected.yaml").string();
  const std::string logged_file = (dir / "logged.yaml").string();
  std::ofstream(inspected_file) << kInspectedPolicy;
  std::ofstream(logged_file) << kLoggedPolicy;
  auto inspected_policy =
      Load(kInProcessInspectedPolicy, "in-process-inspected.yaml");
  auto logged_policy = Load(kInProcessLoggedPolicy, "in-process-logged.yaml");
  const uint64_t in_n = std::size(kInProcessSyscalls) * kInProcessPerKind;
  if (!inspected_policy || !logged_policy) return 1;
  auto store = Store::Open(dir / "in-process.db");
  if (!store) {
    fmt::print(stderr, "{}\n", store.error().ToString());
    return 1;
  }
  if (!why.empty()) {
    fmt::print("SKIP recording.whole_process: ptrace backend unavailable: {}\n",
               why);
  }

  // Whole processes (when ptrace can run), then in process; each pair
  // interleaved, the starting variant alternating.
  Variant whole_inspected{"recording.whole_process.inspected", false, {}};
  Variant whole_logged{"recording.whole_process.logged", true, {}};
  Variant in_inspected{"recording.in_process.inspected", false, {}};
  Variant in_logged{"recording.in_process.logged", true, {}};
  auto whole = [&](Variant& v) {
    return WholeRun(isoscope, whole_db, v.logged ? logged_file : inspected_file,
                    storm, n);
  };
  auto in_process = [&](Variant& v) {
    return InProcessMicros(*store, v.logged ? logged_policy : inspected_policy,
                           in_n, v.logged);
  };
  fmt::print(
      "# recording_bench: {} repetitions, inspected and logged interleaved; "
      "whole processes: {} (syscall-storm {}, getppid on ptrace); in "
      "process: {} calls of {} kinds\n",
      repeat, isoscope, n, in_n, std::size(kInProcessSyscalls));
  // One unrecorded round first (page cache, lazy binding), whose runs are
  // checked in the store (not another isoscope's: opening its store here
  // would migrate it).
  const bool check = argc <= 3;
  if (why.empty()) {
    if (!whole(whole_inspected) ||
        (check && !CheckLatestRun(whole_db, n, false)) ||
        !whole(whole_logged) || (check && !CheckLatestRun(whole_db, n, true))) {
      return 1;
    }
  }
  if (!in_process(in_inspected) || !in_process(in_logged)) return 1;
  for (int i = 0; i < repeat; ++i) {
    for (auto* pair : {&whole_inspected, &in_inspected}) {
      const bool whole_pair = pair == &whole_inspected;
      if (whole_pair && !why.empty()) continue;
      Variant& logged = whole_pair ? whole_logged : in_logged;
      Variant* order[2] = {pair, &logged};
      if (i % 2 == 1) std::swap(order[0], order[1]);
      for (Variant* v : order) {
        if (whole_pair) {
          std::optional<Timed> timed = whole(*v);
          if (!timed) return 1;
          v->samples.push_back(timed->wall);
          v->cpu_samples.push_back(timed->cpu);
        } else {
          std::optional<double> micros = in_process(*v);
          if (!micros) return 1;
          v->samples.push_back(*micros);
        }
      }
    }
  }

  for (const Variant* v :
       {&whole_inspected, &whole_logged, &in_inspected, &in_logged}) {
    if (!v->samples.empty())
      PrintBenchSpread(v->name, Summarize(v->samples), "us");
  }
  const Spread in_per_event =
      PerEvent(in_logged.samples, in_inspected.samples, in_n);
  PrintBenchSpread("recording.in_process_us_per_event", in_per_event, "us");
  if (whole_logged.samples.empty()) return 0;
  const Spread whole_per_event =
      PerEvent(whole_logged.samples, whole_inspected.samples, n);
  PrintBenchSpread("recording.whole_process_us_per_event", whole_per_event,
                   "us");
  // The CPU isoscope and the workload used: what recording adds to it is
  // its cost without the machine's other load (the wall-clock difference
  // is about 1% of a run, within the noise of a shared machine).
  PrintBenchSpread(
      "recording.whole_process_cpu_us_per_event",
      PerEvent(whole_logged.cpu_samples, whole_inspected.cpu_samples, n), "us");
  constexpr double kTarget = 2.0;
  PrintRatio("recording_us_per_event", whole_per_event.median, kTarget);
  fmt::print("# recording_us_per_event: {:.3f}, target <= {:.3f}: {}\n",
             whole_per_event.median, kTarget,
             whole_per_event.median <= kTarget ? "met" : "MISSED");
  return 0;
}

}  // namespace
}  // namespace isoscope::bench

int main(int argc, char** argv) { return isoscope::bench::Main(argc, argv); }
