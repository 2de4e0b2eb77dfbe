// The seam every backend plugs into. A backend starts the workload, turns
// what happens into events and carries out verdicts; it decides nothing.
#ifndef ISOSCOPE_SUPERVISOR_BACKEND_H_
#define ISOSCOPE_SUPERVISOR_BACKEND_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "policies/decide.h"
#include "policies/plan.h"
#include "supervisor/event.h"
#include "supervisor/workload_source.h"

namespace isoscope {

// What to run. The supervisor resolves `executable` to an absolute path that
// exists and is executable before any backend sees it.
struct Workload {
  std::string executable;
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "KEY=VALUE"
  std::string workdir;            // absolute; the workload's cwd
  // isoscope made `workdir` for this run and removes it afterwards, so a
  // backend may hand it to the workload's uid and gid.
  bool scratch_workdir = false;
  // Count every syscall the workload makes, in the kernel, where the backend
  // can (supervisor/syscall_counter.h); otherwise a process backend leaves
  // the total unknown. Off unless asked: on some hosts the first counter in
  // an isoscope process and the last one closed cost tens of ms each (the
  // kernel registers and unregisters its tracepoint), which a single run
  // should not pay unless its user wants the figure.
  bool count_syscalls = false;
  // The workload's root directory on the host, absolute with symlinks
  // resolved (an OCI bundle's rootfs: `--bundle`); empty: the host's root.
  // With a root, `executable` and `workdir` are paths as the workload sees
  // them inside it, and so are the paths the policy decides on.
  std::string root;
  // Where it came from, recorded with the run (RunResult::source); nullopt:
  // a program of the host.
  std::optional<WorkloadSource> source;
};

// Can this host run a backend, and if not, why (in words a user can act on).
struct ProbeResult {
  bool available = false;
  std::string reason;  // empty when available
};

// When NextEvent must return even without an event.
struct WaitLimit {
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::time_point::max();
  int interrupt_fd = -1;  // readable => return without an event; -1: none
};

class Backend {
 public:
  virtual ~Backend() = default;  // implementations kill and reap

  virtual std::string_view name() const = 0;
  virtual ProbeResult Probe() const = 0;
  // Whether the backend applies the policy at all. The native baseline does
  // not: the supervisor then does not decide even the workload's first exec.
  virtual bool AppliesPolicy() const { return true; }

  // Starts the workload under the plan. On error nothing is left running.
  virtual Status Start(const Workload& workload, const CompiledPlan& plan) = 0;

  // Blocks until the next event, the deadline, or the interrupt fd. Returns
  // nullopt when it woke without an event. After an ExitEvent the run is
  // over and NextEvent must not be called again.
  virtual Result<std::optional<Event>> NextEvent(const WaitLimit& wait) = 0;

  // Carries out the verdict for a SyscallEvent or FaultEvent that the loop
  // decided. Events that need no verdict are never resolved.
  virtual Status Resolve(const Event& event, const Verdict& verdict) = 0;

  // Kills the workload (every process or the VM). Idempotent; the run still
  // ends with an ExitEvent from NextEvent.
  virtual void Kill() = 0;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_BACKEND_H_
