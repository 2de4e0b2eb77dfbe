// `isoscope compare`: one workload under one policy on several backends,
// one warm-up and N measured runs each, every run through the Supervisor's
// loop exactly like `isoscope run` and recorded as a run; the runner turns
// the measured runs into a Comparison (spreads, medians, ratios to native,
// output fidelity) and records it.
#ifndef ISOSCOPE_SUPERVISOR_COMPARISON_RUNNER_H_
#define ISOSCOPE_SUPERVISOR_COMPARISON_RUNNER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "supervisor/backend_registry.h"
#include "supervisor/bundle_workload.h"
#include "supervisor/comparison.h"
#include "supervisor/probe_runner.h"
#include "supervisor/run_result.h"
#include "supervisor/store.h"

namespace isoscope {

// Where the runner is, for a progress display. `repetition` is 0 for the
// warm-up, then 1..repeat.
struct CompareProgress {
  std::string backend;
  int repetition = 0;
  int repeat = 0;
};

struct CompareOptions {
  std::vector<std::string> backends;     // registry names, in table order
  std::shared_ptr<const Policy> policy;  // not yet instantiated for a workdir
  std::string executable;                // absolute (ResolveExecutable)
  std::vector<std::string> argv;         // argv[0] included
  // Run a copy of `executable` from each run's workdir (isoscope's built-in
  // workloads: CopyProgramIntoWorkdir says why).
  bool copy_into_workdir = false;
  // An OCI bundle (`--bundle`, `--image`): each run is its process in its
  // rootfs (bundle_workload.h), `executable` and `argv` as BundleWorkload
  // gives them; the comparison and its runs record where it came from.
  std::optional<SourcedBundle> bundle;
  int repeat = 5;       // measured runs after one warm-up
  bool probes = false;  // also run the probe suite
  // With `probes`: which probes (empty: the built-in ones).
  std::vector<ProbeSpec> probe_specs;
  int interrupt_fd = -1;  // readable: stop, record what was measured
  // Called before each run; may be empty.
  std::function<void(const CompareProgress&)> on_progress;
};

class ComparisonRunner {
 public:
  ComparisonRunner(const BackendRegistry& registry, Store& store,
                   CompareOptions options);

  // Runs everything and returns the comparison, recorded in the store with
  // its id. An interrupt ends it early with `interrupted` set and what was
  // measured so far. A backend that cannot run or fails is a column that
  // says so, not an error; errors are for the store and bad options.
  Result<Comparison> Run();

 private:
  const BackendRegistry& registry_;
  Store& store_;
  CompareOptions options_;
};

// Who handles the workload's syscalls and faults (the backend's `routing`
// on this host, from its registry entry; described from the plan when
// absent), and how many host syscalls it can reach under `plan`, or through
// the backend's own confinement when it has one (`host_syscall_surface`,
// from the registry). Exposed for tests.
BackendTraits TraitsFor(
    const std::optional<BackendRouting>& routing, const CompiledPlan& plan,
    const std::vector<std::string>& host_syscall_surface = {});

// The statistics of one backend's measured runs: spreads, counter medians,
// outcome and consistency (exposed for tests; `column` keeps its name,
// availability, traits and run ids).
void SummarizeRuns(const std::vector<RunResult>& runs,
                   BackendComparison& column);

// Sets each column's `failure` from its measured runs (`runs[i]` are those
// of `columns[i]`): a run failed when isoscope ended it (a policy kill, a
// limit, an error) or when it ended otherwise than native's first measured
// run (without native: when it did not exit by itself).
void FindFailures(const std::vector<std::vector<RunResult>>& runs,
                  std::vector<BackendComparison>& columns);

// Ratios to native's medians and output fidelity against native's runs, for
// every column; nothing when there is no native column with measured runs,
// and no ratio for a column whose runs failed (or when native's did): call
// FindFailures first. `runs[i]` are the measured runs of `columns[i]`.
void CompareWithNative(const std::vector<std::vector<RunResult>>& runs,
                       std::vector<BackendComparison>& columns);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_COMPARISON_RUNNER_H_
