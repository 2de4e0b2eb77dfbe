// The one decision loop: starts a workload on a backend, asks the policy
// engine about every event that needs a decision, enforces the loop-level
// limits (wall time, output) and turns what happened into a RunResult.
#ifndef ISOSCOPE_SUPERVISOR_SUPERVISOR_H_
#define ISOSCOPE_SUPERVISOR_SUPERVISOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "base/error.h"
#include "policies/policy.h"
#include "supervisor/backend.h"
#include "supervisor/backend_registry.h"
#include "supervisor/event_sink.h"
#include "supervisor/host_facts.h"
#include "supervisor/run_result.h"

namespace isoscope {

// Receives the workload's output as it arrives (pass-through to the user).
using OutputSink = std::function<void(OutputStream, std::string_view)>;

struct SupervisorOptions {
  OutputSink output_sink;  // may be empty
  int interrupt_fd = -1;   // readable: stop the workload, outcome kInterrupted
  // Recorded with the run; read from the host when absent.
  std::optional<HostFacts> host_facts;
  // Called once the run is described (backend, command, policy, start time,
  // host) and before the workload starts: where the caller records the run
  // as started (Store::Begin, which sets its id). An error stops the run
  // before anything starts.
  std::function<Status(RunResult&)> on_started;
  // The backend's routing on this host (its registry entry's RoutingOn):
  // the run warns about each fault the policy decides that the backend
  // cannot trap here.
  std::optional<BackendRouting> routing;
  // When set, the events the run keeps go here as they happen and the
  // RunResult's `events` stays empty; its `event_counts` still count them.
  EventSink* event_sink = nullptr;
  // When set, sees every event the backend reports, as reported and before
  // the loop decides it (a syscall's workload still waits for its answer),
  // whatever the caps on kept events: what `isoscope learn` observes. The
  // workload's first exec, which the loop decides before the backend starts
  // it, comes first (pid 0); events the loop makes itself (a limit it
  // enforces) do not come here.
  EventSink* observer = nullptr;
};

class Supervisor {
 public:
  // `policy` must already be instantiated for the workload's workdir.
  Supervisor(std::shared_ptr<const Policy> policy, SupervisorOptions options);

  // Runs `workload` on `backend` to its end. Violations, limits and signals
  // are outcomes in the RunResult; an error means the supervisor could not do
  // its job (and the backend has been killed). Then `failed`, when given,
  // receives the run as far as it got (its id, the events so far), its
  // outcome kError with the error's message, so that it can be recorded.
  Result<RunResult> Run(Backend& backend, const Workload& workload,
                        RunResult* failed = nullptr);

 private:
  std::shared_ptr<const Policy> policy_;
  SupervisorOptions options_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_SUPERVISOR_H_
