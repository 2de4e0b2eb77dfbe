// What isoscope's supervision costs on the native path, measured in one run:
//   - start-to-exit of the `startup` workload by a bare fork/exec/wait;
//   - the same through the supervisor's loop with the native backend;
//   - the same through the whole `isoscope run` command (policy load, store);
//   - syscall-storm N natively vs through the supervisor (no trapping: the
//     ratio shows the loop adds nothing per syscall).
// Usage: native_overhead_bench [REPEAT] [STORM_N]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backends/native/native_backend.h"
#include "base/exec_args.h"
#include "base/temp_dir.h"
#include "bench/bench_report.h"
#include "policies/loader.h"
#include "supervisor/supervisor.h"

namespace isoscope::bench {
namespace {

using Clock = std::chrono::steady_clock;

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
      .count();
}

// fork + execve + waitpid; the child's output goes to /dev/null.
double BareRunMicros(const std::vector<std::string>& argv) {
  std::vector<std::string> copy = argv;
  std::vector<char*> c_argv = ExecArgs(copy);
  char* envp[] = {nullptr};
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1);
    ::execve(c_argv[0], c_argv.data(), envp);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return MicrosSince(start);
}

double SupervisedRunMicros(const std::shared_ptr<const Policy>& policy,
                           const HostFacts& facts,
                           const std::vector<std::string>& argv,
                           const std::string& workdir) {
  SupervisorOptions options;
  options.host_facts = facts;
  Supervisor supervisor(policy, options);
  NativeBackend backend;
  auto start = Clock::now();
  auto result = supervisor.Run(backend, Workload{argv[0], argv, {}, workdir});
  double micros = MicrosSince(start);
  if (!result || result->termination.ExitStatus() != 0) {
    fmt::print(stderr, "supervised run failed\n");
    std::exit(1);
  }
  return micros;
}

double CliRunMicros(const std::string& isoscope, const std::string& db,
                    const std::string& workload) {
  return BareRunMicros({isoscope, "--db", db, "run", "-q", "--policy",
                        "permissive", "--", workload});
}

int Main(int argc, char** argv) {
  int repeat = argc > 1 ? std::atoi(argv[1]) : 30;
  std::string storm_n = argc > 2 ? argv[2] : "1000000";
  std::string build = ISOSCOPE_BENCH_BUILD_DIR;
  std::string startup = build + "/workloads/bench/startup";
  std::string storm = build + "/workloads/bench/syscall-storm";
  std::string isoscope = build + "/isoscope";

  auto scratch = TempDir::Create("isoscope-bench-");
  if (!scratch) {
    fmt::print(stderr, "{}\n", scratch.error().ToString());
    return 1;
  }
  std::string workdir = scratch->path().string();
  std::string db = workdir + "/runs.db";
  auto loaded = LoadPreset("permissive");
  if (!loaded) {
    fmt::print(stderr, "{}\n", loaded.error().ToString());
    return 1;
  }
  auto policy = std::make_shared<const Policy>(*loaded);
  HostFacts facts = ReadHostFacts();

  std::vector<double> bare, supervised, cli;
  for (int i = 0; i < repeat; ++i) {
    bare.push_back(BareRunMicros({startup}));
    supervised.push_back(
        SupervisedRunMicros(policy, facts, {startup}, workdir));
    cli.push_back(CliRunMicros(isoscope, db, startup));
  }
  Spread bare_s = Summarize(bare);
  Spread supervised_s = Summarize(supervised);
  PrintBenchSpread("native.startup.bare", bare_s, "us");
  PrintBenchSpread("native.startup.supervised", supervised_s, "us");
  PrintBenchSpread("native.startup.isoscope_run", Summarize(cli), "us");
  PrintBench("native.startup.supervised_over_bare",
             supervised_s.median / bare_s.median, "x");

  std::vector<double> storm_bare, storm_supervised;
  for (int i = 0; i < std::max(3, repeat / 6); ++i) {
    storm_bare.push_back(BareRunMicros({storm, storm_n}));
    storm_supervised.push_back(
        SupervisedRunMicros(policy, facts, {storm, storm_n}, workdir));
  }
  Spread storm_bare_s = Summarize(storm_bare);
  Spread storm_supervised_s = Summarize(storm_supervised);
  PrintBenchSpread("native.syscall_storm.bare", storm_bare_s, "us");
  PrintBenchSpread("native.syscall_storm.supervised", storm_supervised_s, "us");
  PrintBench("native.syscall_storm.supervised_over_bare",
             storm_supervised_s.median / storm_bare_s.median, "x");
  return 0;
}

}  // namespace
}  // namespace isoscope::bench

int main(int argc, char** argv) { return isoscope::bench::Main(argc, argv); }
