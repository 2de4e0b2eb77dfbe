// What the ptrace backend costs, measured in one run with every variant
// interleaved (round-robin per repetition, the starting variant rotating) so
// that the machine's drift hits all of them alike:
//   1. syscall-storm STORM_N natively (bare fork/exec/wait) and under the
//      ptrace backend with getppid statically allowed (`default: allow`):
//      the seccomp filter keeps it in the kernel. Target (issue 4):
//      ptrace / native <= 1.05.
//   2. the cost of one inspected getppid (a `log` rule: seccomp user
//      notification to the supervisor) against one getppid traced by
//      `strace -f -e trace=getppid`. Per-call cost = (inspected run - the
//      statically allowed ptrace run) / n, and (strace run - native run) / n,
//      paired within each repetition; n = max(10000, STORM_N / 10) so the
//      strace runs stay short. Target: inspected / strace <= 0.25.
//   3. start-to-exit of `startup`: native, ptrace backend, `strace -f`;
//      ratios reported without a target.
// Every run's exit status (and, under the supervisor, outcome, output and
// trap counters) is checked: a failed run aborts the benchmark.
// Usage: ptrace_overhead_bench [REPEAT] [STORM_N]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backends/ptrace/ptrace_backend.h"
#include "base/exec_args.h"
#include "base/temp_dir.h"
#include "bench/bench_report.h"
#include "policies/loader.h"
#include "supervisor/supervisor.h"

namespace isoscope::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kStaticPolicy = R"(version: 1
syscalls:
  default: allow
)";

constexpr std::string_view kInspectedPolicy = R"(version: 1
syscalls:
  default: allow
  rules:
    - {id: log-getppid, syscalls: [getppid], action: log}
)";

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
      .count();
}

void Fail(std::string_view variant, const std::string& what) {
  fmt::print(stderr, "ptrace_overhead_bench: FAILED: {}: {}\n", variant, what);
}

// fork + execve + waitpid; the child's output goes to /dev/null. nullopt
// (after saying why) unless the program exited with status 0.
std::optional<double> BareRunMicros(std::string_view variant,
                                    const std::vector<std::string>& argv) {
  std::vector<std::string> copy = argv;
  std::vector<char*> c_argv = ExecArgs(copy);
  char* envp[] = {nullptr};
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    Fail(variant, "fork failed");
    return std::nullopt;
  }
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1);
    ::execve(c_argv[0], c_argv.data(), envp);
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) {
    Fail(variant, "waitpid failed");
    return std::nullopt;
  }
  double micros = MicrosSince(start);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return micros;
  Fail(variant,
       fmt::format(
           "{} {}", argv[0],
           WIFEXITED(status)
               ? fmt::format("exited with status {}", WEXITSTATUS(status))
               : fmt::format("died of signal {}", WTERMSIG(status))));
  return std::nullopt;
}

// What a supervised run must show besides a clean exit.
struct Expect {
  bool storm_ok = false;  // stdout says ok=1 (syscall-storm)
  // getppid calls the supervisor must (at least) or may (at most) decide.
  std::optional<uint64_t> min_trapped;
  std::optional<uint64_t> max_trapped;
};

// The ptrace backend through the supervisor. The RunResult is a local: it is
// dropped before the next run.
std::optional<double> PtraceRunMicros(std::string_view variant,
                                      const std::shared_ptr<const Policy>& p,
                                      const HostFacts& facts,
                                      const std::vector<std::string>& argv,
                                      const std::string& workdir,
                                      const Expect& expect) {
  SupervisorOptions options;
  options.host_facts = facts;
  Supervisor supervisor(p, options);
  PtraceBackend backend;
  auto start = Clock::now();
  auto result = supervisor.Run(backend, Workload{argv[0], argv, {}, workdir});
  double micros = MicrosSince(start);
  if (!result) {
    Fail(variant, result.error().ToString());
    return std::nullopt;
  }
  const Termination& end = result->termination;
  if (end.outcome != Outcome::kExited || end.exit_code != 0) {
    Fail(variant,
         fmt::format("{}: outcome {}, exit status {}: {}", argv[0],
                     OutcomeName(end.outcome), end.ExitStatus(), end.reason));
    return std::nullopt;
  }
  if (expect.storm_ok &&
      result->output.stdout_bytes.find("ok=1") == std::string::npos) {
    Fail(variant, fmt::format("syscall-storm did not report ok=1: '{}'",
                              result->output.stdout_bytes));
    return std::nullopt;
  }
  uint64_t trapped = result->counters.syscalls_trapped;
  if (expect.min_trapped && trapped < *expect.min_trapped) {
    Fail(variant, fmt::format("only {} syscalls reached the supervisor, "
                              "expected at least {} (getppid not inspected?)",
                              trapped, *expect.min_trapped));
    return std::nullopt;
  }
  if (expect.max_trapped && trapped > *expect.max_trapped) {
    Fail(variant, fmt::format("{} syscalls reached the supervisor, expected "
                              "at most {} (getppid not kept in the kernel?)",
                              trapped, *expect.max_trapped));
    return std::nullopt;
  }
  return micros;
}

// An executable `strace` on $PATH (or /usr/bin), if any.
std::optional<std::string> FindStrace() {
  const char* path_env = std::getenv("PATH");
  std::string path = path_env ? path_env : "/usr/bin:/bin";
  path += ":/usr/bin";
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(begin, end - begin);
    if (!dir.empty() && dir[0] == '/') {
      std::string candidate = dir + "/strace";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    begin = end + 1;
  }
  return std::nullopt;
}

struct Variant {
  std::string name;
  std::function<std::optional<double>()> run;
  std::vector<double> samples;
};

std::optional<uint64_t> ParseCount(const char* text) {
  char* end = nullptr;
  uint64_t value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || value == 0 || text[0] == '-') {
    return std::nullopt;
  }
  return value;
}

// Medians of per-repetition paired differences, divided by `n`: the cost of
// one call in microseconds.
Spread PerCall(const std::vector<double>& with, const std::vector<double>& base,
               uint64_t n) {
  std::vector<double> per_call;
  for (size_t i = 0; i < with.size() && i < base.size(); ++i) {
    per_call.push_back((with[i] - base[i]) / static_cast<double>(n));
  }
  return Summarize(per_call);
}

void PrintTarget(std::string_view name, double measured, double target) {
  PrintRatio(name, measured, target);
  fmt::print("# {}: {:.3f}, target <= {:.3f}: {}\n", name, measured, target,
             measured <= target ? "met" : "MISSED");
}

int Main(int argc, char** argv) {
  int repeat = argc > 1 ? std::atoi(argv[1]) : 15;
  std::optional<uint64_t> storm_n =
      argc > 2 ? ParseCount(argv[2]) : std::optional<uint64_t>(1000000);
  if (repeat < 1 || !storm_n) {
    fmt::print(stderr,
               "usage: ptrace_overhead_bench [REPEAT>=1] [STORM_N>=1]\n");
    return 2;
  }
  uint64_t small_n = std::max<uint64_t>(10000, *storm_n / 10);
  std::string build = ISOSCOPE_BENCH_BUILD_DIR;
  std::string startup = build + "/workloads/bench/startup";
  std::string storm = build + "/workloads/bench/syscall-storm";
  for (const std::string& program : {startup, storm}) {
    if (::access(program.c_str(), X_OK) != 0) {
      fmt::print(stderr, "ptrace_overhead_bench: {} not built\n", program);
      return 1;
    }
  }

  if (auto probe = PtraceBackend().Probe(); !probe.available) {
    fmt::print("SKIP ptrace_overhead_bench: ptrace backend unavailable: {}\n",
               probe.reason);
    return 0;
  }
  std::optional<std::string> strace = FindStrace();
  if (!strace) {
    fmt::print(
        "SKIP ptrace.getppid.strace, ptrace.startup.strace: strace not "
        "found (Debian package strace; scripts/install-deps.sh installs it)\n");
  }

  auto scratch = TempDir::Create("isoscope-bench-");
  if (!scratch) {
    fmt::print(stderr, "{}\n", scratch.error().ToString());
    return 1;
  }
  std::string workdir = scratch->path().string();
  auto load = [&](std::string_view yaml,
                  std::string_view name) -> std::shared_ptr<const Policy> {
    auto parsed = ParsePolicy(yaml, name);
    if (!parsed) {
      fmt::print(stderr, "{}\n", parsed.error().ToString());
      return nullptr;
    }
    return std::make_shared<const Policy>(WithWorkdir(*parsed, workdir));
  };
  auto static_policy = load(kStaticPolicy, "bench-static.yaml");
  auto inspected_policy = load(kInspectedPolicy, "bench-inspected.yaml");
  if (!static_policy || !inspected_policy) return 1;
  HostFacts facts = ReadHostFacts();

  std::string big = std::to_string(*storm_n);
  std::string small = std::to_string(small_n);
  // The statically allowed runs may trap a few other syscalls, never the
  // storm's getppid calls; the inspected run traps every one of them (n + 1).
  Expect kept_in_kernel{.storm_ok = true, .max_trapped = small_n / 2};
  Expect inspected{.storm_ok = true, .min_trapped = small_n};

  std::vector<Variant> variants;
  auto add = [&](std::string name, std::function<std::optional<double>()> f) {
    variants.push_back({std::move(name), std::move(f), {}});
  };
  add("ptrace.syscall_storm.native", [&] {
    return BareRunMicros("ptrace.syscall_storm.native", {storm, big});
  });
  add("ptrace.syscall_storm.ptrace_static", [&] {
    return PtraceRunMicros("ptrace.syscall_storm.ptrace_static", static_policy,
                           facts, {storm, big}, workdir, kept_in_kernel);
  });
  add("ptrace.getppid.native", [&] {
    return BareRunMicros("ptrace.getppid.native", {storm, small});
  });
  add("ptrace.getppid.ptrace_static", [&] {
    return PtraceRunMicros("ptrace.getppid.ptrace_static", static_policy, facts,
                           {storm, small}, workdir, kept_in_kernel);
  });
  add("ptrace.getppid.ptrace_inspected", [&] {
    return PtraceRunMicros("ptrace.getppid.ptrace_inspected", inspected_policy,
                           facts, {storm, small}, workdir, inspected);
  });
  if (strace) {
    add("ptrace.getppid.strace", [&] {
      return BareRunMicros("ptrace.getppid.strace",
                           {*strace, "-f", "-e", "trace=getppid", "-o",
                            "/dev/null", storm, small});
    });
  }
  add("ptrace.startup.native",
      [&] { return BareRunMicros("ptrace.startup.native", {startup}); });
  add("ptrace.startup.ptrace", [&] {
    return PtraceRunMicros("ptrace.startup.ptrace", static_policy, facts,
                           {startup}, workdir, Expect{});
  });
  if (strace) {
    add("ptrace.startup.strace", [&] {
      return BareRunMicros("ptrace.startup.strace",
                           {*strace, "-f", "-o", "/dev/null", startup});
    });
  }

  fmt::print(
      "# ptrace_overhead_bench: {} repetitions, variants interleaved; "
      "syscall_storm n={}, getppid per-call runs n={} (smaller so the strace "
      "runs stay short){}\n",
      repeat, *storm_n, small_n,
      strace ? fmt::format("; strace: {}", *strace) : std::string());
  // One unrecorded round first: page cache, lazy binding, CPU frequency.
  for (Variant& variant : variants) {
    if (!variant.run()) return 1;
  }
  for (int i = 0; i < repeat; ++i) {
    for (size_t k = 0; k < variants.size(); ++k) {
      Variant& variant =
          variants[(static_cast<size_t>(i) + k) % variants.size()];
      std::optional<double> micros = variant.run();
      if (!micros) return 1;
      variant.samples.push_back(*micros);
    }
  }

  auto samples = [&](std::string_view name) -> const std::vector<double>& {
    static const std::vector<double> kNone;
    for (const Variant& variant : variants) {
      if (variant.name == name) return variant.samples;
    }
    return kNone;
  };
  for (const Variant& variant : variants) {
    PrintBenchSpread(variant.name, Summarize(variant.samples), "us");
  }
  Spread inspected_call =
      PerCall(samples("ptrace.getppid.ptrace_inspected"),
              samples("ptrace.getppid.ptrace_static"), small_n);
  PrintBenchSpread("ptrace.getppid.inspected_per_call", inspected_call, "us");
  std::optional<Spread> strace_call;
  if (strace) {
    strace_call = PerCall(samples("ptrace.getppid.strace"),
                          samples("ptrace.getppid.native"), small_n);
    PrintBenchSpread("ptrace.getppid.strace_per_call", *strace_call, "us");
  }

  double storm_native =
      Summarize(samples("ptrace.syscall_storm.native")).median;
  double storm_ptrace =
      Summarize(samples("ptrace.syscall_storm.ptrace_static")).median;
  PrintTarget("ptrace.syscall_storm.static_over_native",
              storm_ptrace / storm_native, 1.05);
  if (strace_call) {
    PrintTarget("ptrace.getppid.inspected_over_strace",
                inspected_call.median / strace_call->median, 0.25);
  } else {
    fmt::print("SKIP ptrace.getppid.inspected_over_strace: no strace\n");
  }
  double startup_native = Summarize(samples("ptrace.startup.native")).median;
  double startup_ptrace = Summarize(samples("ptrace.startup.ptrace")).median;
  PrintBench("ptrace.startup.ptrace_over_native",
             startup_ptrace / startup_native, "x");
  if (strace) {
    PrintBench(
        "ptrace.startup.ptrace_over_strace",
        startup_ptrace / Summarize(samples("ptrace.startup.strace")).median,
        "x");
  } else {
    fmt::print("SKIP ptrace.startup.ptrace_over_strace: no strace\n");
  }
  return 0;
}

}  // namespace
}  // namespace isoscope::bench

int main(int argc, char** argv) { return isoscope::bench::Main(argc, argv); }
