// `isoscope probe`: every built-in probe on every requested backend, under
// one policy, with canaries planted outside. Each probe run goes through the
// Supervisor's loop exactly like `isoscope run` and is recorded as a run;
// the runner then turns the probe's PROBE line (or, without one, how the run
// ended) into a finding, and a touched canary into ESCAPED whatever the
// probe said.
#ifndef ISOSCOPE_SUPERVISOR_PROBE_RUNNER_H_
#define ISOSCOPE_SUPERVISOR_PROBE_RUNNER_H_

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "policies/policy.h"
#include "supervisor/backend_registry.h"
#include "supervisor/probe_session.h"
#include "supervisor/run_result.h"
#include "supervisor/store.h"

namespace isoscope {

class Canaries;
struct HostFacts;

// One probe program to run: `probe_id` as in the catalog without
// "probes/", its program, its arguments (the one case of a probe with
// cases).
struct ProbeSpec {
  std::string probe_id;
  std::filesystem::path program;
  std::vector<std::string> args;
};

// The cases of a probe that takes one CASE argument per run (fault-map,
// magic-links, checked-arg, identity, network, pathless-open, ns-flags,
// checked-call), one finding each ("<probe>.<case>"); empty for a probe
// without cases. One run per case: where the sandbox kills the workload at
// a refused call, the cases after it would otherwise never run.
const std::vector<std::string>& ProbeCases(std::string_view probe_id);

// The bounded resource probes, run only with --noisy.
bool IsNoisyProbe(std::string_view probe_id);

// The built-in probes found by the workload catalog, in catalog order,
// without the noisy ones unless `noisy`.
std::vector<ProbeSpec> BuiltinProbes(bool noisy);

// The built-in probes named in `list` (comma-separated names as in the
// catalog without "probes/", such as "magic-links,secret-file"), each with
// all its cases, in catalog order; a resource probe runs when named. An
// empty name or one that names no built-in probe is kInvalidArgument.
Result<std::vector<ProbeSpec>> SelectBuiltinProbes(std::string_view list);

struct ProbeOptions {
  std::vector<std::string> backends;     // registry names, the matrix columns
  std::shared_ptr<const Policy> policy;  // not yet instantiated for a workdir
  // Which probes to run; empty: BuiltinProbes(noisy).
  std::vector<ProbeSpec> probes;
  bool noisy = false;
  int interrupt_fd = -1;  // readable: stop after the current probe
  // Caps the policy's wall time for each probe run.
  std::chrono::milliseconds per_probe_timeout{10000};
  // Called after each finding (progress for the CLI); may be empty.
  std::function<void(const ProbeFinding&)> on_finding;
};

class ProbeRunner {
 public:
  ProbeRunner(const BackendRegistry& registry, Store& store,
              ProbeOptions options);

  // Runs everything and returns the session (recorded in the store, with
  // its id). An interrupt ends it early with `interrupted` set and the
  // findings so far. Canaries and workloads are gone when this returns.
  Result<ProbeSession> Run();

 private:
  // One probe on one backend: its findings, canaries checked.
  Result<std::vector<ProbeFinding>> RunOne(const std::string& backend_name,
                                           const ProbeSpec& probe,
                                           Canaries& canaries,
                                           const HostFacts& host);

  const BackendRegistry& registry_;
  Store& store_;
  ProbeOptions options_;
};

// How a probe's stdout and its run's end become findings, without the
// canaries (exposed for tests). `ids` are the PROBE ids expected: the probe
// id, or "<probe>.<case>" for a probe with cases.
std::vector<ProbeFinding> FindingsFromRun(const std::vector<std::string>& ids,
                                          const RunResult& run);

// The `hostname` probe only reports the name it sees (`nodename=<name>`);
// the runner knows the host's: the same name means the host's identity is
// reachable (REACHABLE), another means UTS isolation (BLOCKED). Other
// findings are left alone.
void JudgeHostname(ProbeFinding& finding, std::string_view host_name);

// The `identity.ids` probe only reports who it runs as (`uid=R/E gid=R/E
// capeff=0x…`); the runner knows whom the policy asked for: another uid or
// gid than the policy's `identity` (where it names one), or effective
// capabilities when the policy grants none, is REACHABLE (the workload has
// an identity the policy did not give it); as the policy says, BLOCKED.
// Other findings are left alone.
void JudgeIdentity(ProbeFinding& finding, const Policy& policy);

// A sensitive-instruction finding ("sensitive.<case>") is told what
// isoscope itself intercepted during its run, as the last word of its
// detail: `trapped=<instruction>:<action>[,...]`, each distinct entry once
// for the faults the supervisor decided (the decoded mnemonic, else the
// fault kind), or `trapped=none`. Any `trapped=` word the workload printed is
// dropped first: only the runner's record counts. A finding the probe did not
// report (the run ended first) also gets the run's own reason, and is
// BLOCKED rather than ERROR when isoscope intercepted something in that run
// (the sandbox ended it there). Other findings are left alone.
void RecordTraps(ProbeFinding& finding, const RunResult& run);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_PROBE_RUNNER_H_
