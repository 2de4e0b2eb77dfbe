// Counting every syscall a workload makes, in the kernel: a perf counter on
// the raw_syscalls:sys_enter tracepoint, bound to the workload's first
// process with `inherit` (its threads and descendants are counted too, and
// a descendant's count joins the first process's counter when it exits)
// and `enable_on_exec` (counting starts at the workload's exec, so nothing
// isoscope's child does before it is counted).
//
// The tracepoint fires after seccomp: a call the filter or isoscope answers
// without letting the kernel run it (denied, emulated, performed by
// isoscope, a skipped ptrace stop) is not counted by it. A backend adds
// those it answered (see SeccompNotifier::answered()).
#ifndef ISOSCOPE_SUPERVISOR_SYSCALL_COUNTER_H_
#define ISOSCOPE_SUPERVISOR_SYSCALL_COUNTER_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"
#include "supervisor/host_facts.h"

namespace isoscope {

// Whether this host can count syscalls, and with which tracepoint.
struct SyscallCounterSupport {
  Feature feature;          // for doctor and the run's host facts
  uint64_t tracepoint = 0;  // the tracepoint's id; valid when available
  bool operator==(const SyscallCounterSupport&) const = default;
};

// The tracepoint's id from a tracefs `events/raw_syscalls/sys_enter/id`
// file's text; nullopt for anything but a positive decimal number.
std::optional<uint64_t> ParseTracepointId(std::string_view text);

// Finds the tracepoint's id (tracefs at /sys/kernel/tracing, debugfs at
// /sys/kernel/debug/tracing, else a detached tracefs mount that only this
// process sees, which needs CAP_SYS_ADMIN) and asks perf_event_open, with
// a malformed attribute that registers nothing, whether it may be called
// at all (a seccomp sandbox without perf), then whether this process may
// count kernel events (perf_event_paranoid, CAP_PERFMON). Uncached. The
// detached mount's unmount waits for an RCU grace period (20-45 ms on this
// project's PVM guests): only code that counts probes.
SyscallCounterSupport ProbeSyscallCounter();

// ProbeSyscallCounter, once per process.
const SyscallCounterSupport& HostSyscallCounter();

class SyscallCounter {
 public:
  // A disabled counter on process `pid` (of this process's pid namespace)
  // that starts counting at its next execve. Open it before the process
  // can reach that execve, or it never counts.
  static Result<SyscallCounter> OpenBeforeExec(pid_t pid, uint64_t tracepoint);

  // What it counted: the process, its threads, and its descendants that
  // have exited. Read it after every process of the workload is gone.
  Result<uint64_t> Read() const;

 private:
  explicit SyscallCounter(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_SYSCALL_COUNTER_H_
