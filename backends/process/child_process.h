// Spawning a workload process and owning it until it is reaped. Shared by the
// backends that run the workload as a host process.
#ifndef ISOSCOPE_BACKENDS_PROCESS_CHILD_PROCESS_H_
#define ISOSCOPE_BACKENDS_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "supervisor/backend.h"
#include "supervisor/event.h"

namespace isoscope {

// The descriptors the workload gets as 0, 1 and 2.
struct ChildStdio {
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// A spawned process in its own process group. The destructor kills the
// whole group and reaps the process, so a ChildProcess never leaks one.
class ChildProcess {
 public:
  // Forks, and in the child: new process group, parent-death signal SIGKILL,
  // default signal dispositions and an empty mask, stdio, cwd = workdir,
  // then execve. The child only makes async-signal-safe calls; a failure is
  // reported as (step, errno) over a CLOEXEC pipe and returned here as an
  // error: kNotFound / kNotExecutable for execve's ENOENT / EACCES, ENOEXEC.
  static Result<ChildProcess> Spawn(const Workload& workload,
                                    const ChildStdio& stdio);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Readable when the process has exited (poll it with POLLIN).
  int pidfd() const { return pidfd_.get(); }
  bool reaped() const { return reaped_; }

  // SIGKILL to the process group (what is left of it after the leader died
  // too). Idempotent and safe after the leader was reaped.
  void KillGroup();

  // Reaps the leader if it has exited: nullopt while it runs.
  Result<std::optional<ExitEvent>> TryReap();

 private:
  ChildProcess(pid_t pid, UniqueFd pidfd)
      : pid_(pid), pidfd_(std::move(pidfd)) {}
  void KillAndReap();

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

// Makes this process the subreaper of its descendants, so a workload's
// orphaned (re-parented) grandchildren become ours to find and kill.
Status BecomeChildSubreaper();

// Whether this process has any child, running or not yet reaped.
bool HasChildren();

// The children of this process, running or not yet reaped (a /proc scan,
// skipped when HasChildren() says there are none).
std::vector<pid_t> ListChildren();

// Kills and reaps every child of this process not in `keep` (for a
// subreaper: the orphans a workload left behind, keeping the children the
// supervisor had before it started the workload). Returns how many.
int KillOrphanedChildren(const std::vector<pid_t>& keep);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_CHILD_PROCESS_H_
