// The result of `isoscope compare`: one workload, one policy, N measured
// repetitions on each backend, with spreads and ratios to native. Plain
// data: the store records it, reports render it (from the store only).
#ifndef ISOSCOPE_SUPERVISOR_COMPARISON_H_
#define ISOSCOPE_SUPERVISOR_COMPARISON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/stats.h"
#include "supervisor/backend_registry.h"
#include "supervisor/host_facts.h"
#include "supervisor/run_result.h"

namespace isoscope {

// Who handles what, per backend: what the fault routing map and the attack
// surface of a report are drawn from. Filled by the compare command from the
// backend and the compiled plan, never guessed by a renderer.
struct BackendTraits {
  std::string
      syscalls_handled_by;  // "host kernel", "seccomp filter + isoscope", ...
  std::string faults_handled_by;  // "host kernel", "isoscope", "guest stub"
  // Host syscalls the workload can reach: allowed or inspected by the plan
  // (native: every syscall), and for kvm the VMM's own allowed list.
  int reachable_host_syscalls = 0;
  std::vector<std::string> vmm_allowed_syscalls;
  // What the backend's figures stand for, in plain words (its registry
  // entry's BackendRouting::measures); empty when it does not say.
  std::string measures;
  // What it enforces of each policy section on the comparison's host (its
  // registry entry's enforcement matrix); empty when it does not say.
  std::vector<SectionEnforcement> enforcement;
  bool operator==(const BackendTraits&) const = default;
};

// Why a backend's measured runs do not measure the workload as native ran
// it: isoscope ended them (a policy kill, a resource limit, its own error),
// or they ended otherwise than native's (another exit status, a signal).
// Their figures are kept as recorded, but no cost is computed from them.
struct RunFailure {
  std::string what;     // "killed by the policy", "exited with status 1
                        // where native exited 0", ...
  std::string reason;   // the run's own words: its recorded reason, the
                        // denials it recorded, or its last stderr line
  std::string rule_id;  // the deciding rule, when a policy decision did it
  int64_t run_id = 0;   // the first measured run that failed
  int failed_runs = 0;  // how many of the measured runs failed
  bool operator==(const RunFailure&) const = default;
};

// One backend's column of a comparison.
struct BackendComparison {
  std::string backend;
  bool available = true;
  std::string unavailable_reason;  // from Backend::Probe, when !available
  std::string error;               // when it was available but failed to run
  // When its measured runs ran but failed (see RunFailure).
  std::optional<RunFailure> failure;
  BackendTraits traits;
  std::vector<int64_t> run_ids;  // the measured runs (warm-up excluded)
  // How the measured runs ended; `consistent` is false if they differed.
  Outcome outcome = Outcome::kExited;
  int exit_status = 0;
  bool consistent = true;
  // Spreads over the measured runs.
  Spread startup_ns;
  Spread wall_ns;
  Spread user_cpu_us;
  Spread system_cpu_us;
  // Over the runs that know their workload's peak (count 0: none did).
  Spread max_rss_kib;
  // Medians over the measured runs. The total is nullopt when a run did not
  // count its syscalls; the denied, in comparisons recorded before it was
  // kept.
  std::optional<uint64_t> syscalls_total;
  uint64_t syscalls_trapped = 0;
  uint64_t syscalls_in_kernel = 0;
  std::optional<uint64_t> syscalls_denied = 0;
  uint64_t faults = 0;
  uint64_t violations = 0;
  // Output fidelity: stdout and exit status identical to native's in every
  // run (nullopt when there is no native column to compare with).
  std::optional<bool> output_matches_native;
  // Median ratios to native (nullopt without native, with a zero median, or
  // when this column's or native's runs failed).
  std::optional<double> wall_ratio;
  std::optional<double> startup_ratio;
  bool operator==(const BackendComparison&) const = default;
};

struct Comparison {
  int64_t id = 0;  // assigned by the store
  int64_t started_at_unix_ms = 0;
  std::vector<std::string> argv;
  // Where the workload came from (RunResult::source); nullopt: a program of
  // the host, or a comparison recorded before comparisons said.
  std::optional<WorkloadSource> source;
  std::string policy_name;
  std::string policy_text;
  // The kPolicySections the policy asks anything of (PolicyUses), in that
  // order: the rows of the enforcement matrix that matter.
  std::vector<std::string> policy_sections_used;
  int repeat = 0;  // measured repetitions per backend (after one warm-up)
  std::vector<BackendComparison> backends;  // in the order requested
  std::optional<int64_t> probe_session_id;  // with --probes
  bool interrupted = false;
  HostFacts host;
  bool operator==(const Comparison&) const = default;
};

nlohmann::json ToJson(const Comparison& comparison);
Result<Comparison> ComparisonFromJson(const nlohmann::json& json);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_COMPARISON_H_
