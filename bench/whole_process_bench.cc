// What a user waits for: start-to-exit of whole processes, each a fork,
// execve and wait from this process, interleaved (round-robin per
// repetition, the starting variant rotating) so that the machine's drift
// hits all of them alike. The workload is `startup`, a static program that
// returns at once, so each figure is the launcher's own cost:
//   - bare exec of it, and under its peers: `unshare -Urpf --mount-proc`,
//     `bwrap --unshare-all --die-with-parent` with the view the container
//     backend builds for a policy without a filesystem section (the program,
//     the workdir, /dev, /proc), `strace -f`, `firejail --noprofile`;
//   - the whole `isoscope run -q --backend B` process for native, ptrace and
//     container with an open policy file (loading isoscope, the policy, host
//     facts, the results store, the run and its recording), and
//     `isoscope run -q --backend container` on the `default` preset as a
//     user types it (the program is copied into a fresh workdir; a cgroup
//     for the preset's limits), beside bwrap with that preset's view.
// Targets (issue 16): container whole process / bwrap <= 1.0 (same view);
// native whole process - bare exec <= 3 ms. In-process figures (the
// backend's own start-up, without loading isoscope) are
// backend_overhead_bench's.
// Usage: whole_process_bench [REPEAT]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/temp_dir.h"
#include "bench/bench_process.h"
#include "bench/bench_report.h"

namespace isoscope::bench {
namespace {

// An open policy for start-up only: the CLI refuses a policy with
// unaccepted holes (policies/holes.h).
constexpr std::string_view kOpenPolicy = R"(version: 1
syscalls:
  default: allow
accepted_holes:
  - syscalls: [ptrace, setns, process_vm_writev, io_uring_setup, pidfd_getfd]
    reason: a start-up benchmark; nothing to contain
)";

int Main(int argc, char** argv) {
  const int repeat = argc > 1 ? std::atoi(argv[1]) : 20;
  if (repeat < 1) {
    fmt::print(stderr, "usage: whole_process_bench [REPEAT>=1]\n");
    return 2;
  }
  const std::string build = ISOSCOPE_BENCH_BUILD_DIR;
  const std::string isoscope = build + "/isoscope";
  const std::string startup = build + "/workloads/bench/startup";
  for (const std::string& program : {isoscope, startup}) {
    if (::access(program.c_str(), X_OK) != 0) {
      fmt::print(stderr, "whole_process_bench: {} not built\n", program);
      return 1;
    }
  }
  auto scratch = TempDir::Create("isoscope-bench-");
  if (!scratch) {
    fmt::print(stderr, "{}\n", scratch.error().ToString());
    return 1;
  }
  const std::string workdir = scratch->path().string();
  const std::string store = workdir + "/bench-runs.db";
  const std::string policy_file = workdir + "/bench-open.yaml";
  FILE* file = std::fopen(policy_file.c_str(), "w");
  const bool written = file != nullptr &&
                       std::fputs(std::string(kOpenPolicy).c_str(), file) >= 0;
  if (file == nullptr || std::fclose(file) != 0 || !written) {
    fmt::print(stderr, "whole_process_bench: cannot write {}\n", policy_file);
    return 1;
  }

  std::vector<Variant> variants;
  // CPU time per variant, one per run: the warm-up's first.
  std::map<std::string, std::vector<double>> cpu;
  auto add = [&](const std::string& name,
                 const std::vector<std::string>& args) {
    variants.push_back({name,
                        [name, args, &cpu] {
                          double cpu_micros = 0;
                          std::optional<double> wall =
                              BareRunMicros(name, args, &cpu_micros);
                          if (wall) cpu[name].push_back(cpu_micros);
                          return wall;
                        },
                        {}});
  };
  auto peer = [&](std::string_view program) {
    std::optional<std::string> found = FindProgram(program);
    if (!found) {
      fmt::print(
          "SKIP whole_process.{0}: {0} not found (scripts/install-deps.sh "
          "installs it)\n",
          program);
    }
    return found;
  };
  add("whole_process.bare", {startup});
  if (auto unshare = peer("unshare")) {
    add("whole_process.unshare", {*unshare, "-Urpf", "--mount-proc", startup});
  }
  std::optional<std::string> bwrap = peer("bwrap");
  if (bwrap) {
    add("whole_process.bwrap",
        {*bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", startup,
         startup, "--bind", workdir, workdir, "--dev", "/dev", "--proc",
         "/proc", "--chdir", workdir, startup});
    // The default preset's filesystem view (policies/presets/default.yaml;
    // a path this host lacks is skipped);
    // bwrap's new network namespace has only loopback, as the preset's.
    std::vector<std::string> view = {*bwrap, "--unshare-all",
                                     "--die-with-parent"};
    for (const char* path :
         {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"}) {
      view.insert(view.end(), {"--ro-bind-try", path, path});
    }
    view.insert(view.end(), {"--tmpfs", "/tmp", "--bind", workdir, workdir,
                             "--ro-bind", startup, startup, "--dev", "/dev",
                             "--proc", "/proc", "--chdir", workdir, startup});
    add("whole_process.bwrap_default_view", view);
  }
  if (auto strace = peer("strace")) {
    add("whole_process.strace", {*strace, "-f", "-o", "/dev/null", startup});
  }
  if (auto firejail = peer("firejail")) {
    add("whole_process.firejail",
        {*firejail, "--noprofile", "--quiet", startup});
  }
  for (const char* backend : {"native", "ptrace", "container"}) {
    add(fmt::format("whole_process.isoscope_{}", backend),
        {isoscope, "--db", store, "run", "-q", "--backend", backend, "--policy",
         policy_file, "--workdir", workdir, "--", startup});
  }
  // As a user types it: the default preset, a fresh workdir.
  add("whole_process.isoscope_container_default",
      {isoscope, "--db", store, "run", "-q", "--backend", "container", "--",
       startup});

  fmt::print(
      "# whole_process_bench: {} repetitions, variants interleaved; whole "
      "processes started and reaped by this benchmark; workload {}\n",
      repeat, startup);
  if (!RunInterleaved(variants, repeat)) return 1;
  for (auto& [name, samples] : cpu) samples.erase(samples.begin());
  for (const Variant& variant : variants) {
    PrintBenchSpread(variant.name, Summarize(variant.samples), "us");
    PrintBenchSpread(variant.name + ".cpu", Summarize(cpu[variant.name]), "us");
  }
  auto median = [&](std::string_view name) {
    return Summarize(SamplesOf(variants, name)).median;
  };
  const double bare = median("whole_process.bare");
  for (const Variant& variant : variants) {
    if (variant.name == "whole_process.bare") continue;
    PrintBench(variant.name + "_over_bare", median(variant.name) / bare, "x");
  }
  if (bwrap) {
    PrintTarget("whole_process.container_over_bwrap",
                median("whole_process.isoscope_container") /
                    median("whole_process.bwrap"),
                1.0);
    // Not a target yet: the preset adds a cgroup for its limits and
    // copies the program into the workdir.
    PrintBench("whole_process.container_default_over_bwrap_default_view",
               median("whole_process.isoscope_container_default") /
                   median("whole_process.bwrap_default_view"),
               "x");
  } else {
    fmt::print("SKIP whole_process.container_over_bwrap: no bwrap\n");
  }
  // isoscope's own fixed cost: a whole `run --backend native` against a
  // bare exec of the same program, paired per repetition.
  const Spread native_extra =
      PerCall(SamplesOf(variants, "whole_process.isoscope_native"),
              SamplesOf(variants, "whole_process.bare"), 1000);
  PrintBenchSpread("whole_process.native_minus_bare_ms", native_extra, "ms");
  PrintBenchSpread("whole_process.native_minus_bare_cpu_ms",
                   PerCall(cpu["whole_process.isoscope_native"],
                           cpu["whole_process.bare"], 1000),
                   "ms");
  if (bwrap) {
    PrintBench("whole_process.container_over_bwrap_cpu",
               Summarize(cpu["whole_process.isoscope_container"]).median /
                   Summarize(cpu["whole_process.bwrap"]).median,
               "x");
  }
  PrintTarget("whole_process.native_minus_bare_ms", native_extra.median, 3.0);
  return 0;
}

}  // namespace
}  // namespace isoscope::bench

int main(int argc, char** argv) { return isoscope::bench::Main(argc, argv); }
