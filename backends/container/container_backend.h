// The OS-level point of the isolation spectrum, built by isoscope itself
// from kernel primitives (no container runtime): the workload runs as PID 1
// of new pid, mount, UTS, IPC, cgroup and (unless the policy says `host`)
// network namespaces, optionally a user namespace; in a fresh root on tmpfs
// assembled from the policy's filesystem view; in a cgroup of its own with
// the policy's memory and process limits; with every capability dropped
// except those the policy grants, no_new_privs and locked securebits; and
// under the compiled plan's seccomp filter.
//
// Inspected syscalls come to the supervisor as seccomp user notifications.
// A call whose path the policy checks is never let through with
// SECCOMP_USER_NOTIF_FLAG_CONTINUE (the workload could change the string
// after the check): isoscope performs the checked call itself in the
// container's root (openat2 with RESOLVE_IN_ROOT, as the workload's ids)
// and installs the result (SECCOMP_IOCTL_NOTIF_ADDFD for descriptors).
// execve is the exception, as no one can exec on another's behalf; see
// README ("container backend") for what bounds it. chdir is continued too
// (ContinueIsSafe says why), and so is a path call no rule of the policy
// reads the path of (inspected only to be logged, say): its verdict cannot
// change with what the workload swaps in.
//
// With the policy's network endpoint lists, connect, bind, sendto and
// sendmsg are performed by isoscope too (PerformSocketCall), on threads of
// their own (NotificationWorkers): such a call may block as long as the
// workload's socket lets it, and the loop never waits for it.
//
// Faults are not intercepted: the host kernel handles them and the run
// reports how the workload ended (signal, core).
#ifndef ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_BACKEND_H_
#define ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_BACKEND_H_

#include <chrono>
#include <deque>
#include <memory>
#include <optional>

#include "backends/container/cgroup.h"
#include "backends/container/container_setup.h"
#include "backends/container/notification_workers.h"
#include "backends/container/root_filesystem.h"
#include "backends/process/capabilities.h"
#include "backends/process/checked_calls.h"
#include "backends/process/child_process.h"
#include "backends/process/identity.h"
#include "backends/process/socket_address.h"
#include "backends/process/syscall_paths.h"
#include "backends/seccomp/seccomp_notifier.h"
#include "backends/seccomp/seccomp_program.h"
#include "base/unique_fd.h"
#include "supervisor/backend.h"

namespace isoscope {

class ContainerBackend : public Backend {
 public:
  // `sysfs_cgroup_root`: normally /sys/fs/cgroup (a parameter for tests).
  explicit ContainerBackend(
      std::filesystem::path sysfs_cgroup_root = "/sys/fs/cgroup");
  ~ContainerBackend() override;

  std::string_view name() const override { return "container"; }
  ProbeResult Probe() const override;
  Status Start(const Workload& workload, const CompiledPlan& plan) override;
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override;
  Status Resolve(const Event& event, const Verdict& verdict) override;
  void Kill() override;

 private:
  // A notification handed to the supervisor, waiting for its verdict.
  struct Await {
    uint64_t id = 0;
    pid_t tid = 0;
    std::optional<DecodedPaths> paths;  // when the policy checks paths
    // When the policy's endpoint lists decide the call: isoscope performs
    // it with this copy (PerformSocketCall).
    std::optional<DecodedSocketAddress> address;
    // The plan that denies the call, when it came only to be recorded
    // (SeccompRouting::notify_denials); it points into plan_.
    const SyscallPlan* routed_denial = nullptr;
  };
  struct Pending {
    Event event;
    std::optional<Await> await;
  };

  void KillAll();  // Kill(), also from the destructor
  // kPolicy when the policy keeps a capability that makes set-id files
  // while the workdir is idmapped to its owner.
  Status RefuseSetidCapabilities(const std::string& workdir) const;
  Status WriteIdMaps(pid_t pid) const;
  // Copies the child's listener (pidfd_getfd) once it exists, lets its
  // first execve (isoscope's own exec of the workload) through and waits
  // until the workload runs.
  Status WaitForExec();
  Status OnNotification();
  // A call the plan denies: reported for the record (paths decoded when
  // they can be), answered with the plan's errno once the supervisor agrees.
  Status OnRoutedDenial(const SeccompNotification& n, SyscallRequest request,
                        const SyscallPlan& plan);
  // Where and as whom checked calls resolve and run.
  CheckedCallContext CheckedContext() const;
  Status AnswerChecked(const Await& await, const SyscallEvent& event);
  Status AnswerSocketCall(const Await& await, const SyscallEvent& event);
  // Stops the socket workers (after the kill), keeping what they recorded
  // and answered.
  void StopWorkers();
  // Records that `event`, which the policy allowed, got `error` of the
  // backend's making instead of its result, under `rule`.
  void RecordBackendAnswer(const SyscallEvent& event, int error,
                           std::string_view rule, std::string reason);
  // Cgroup events (OOM kills, pids limit hits) and the CPU time as limit
  // events, once each.
  void CheckCgroup();
  Result<std::optional<Event>> Drain(const WaitLimit& wait);

  std::filesystem::path sysfs_cgroup_root_;
  std::optional<CompiledPlan> plan_;
  std::optional<SeccompProgram> program_;
  std::optional<RunCgroup> cgroup_;
  std::optional<RootFilesystemPlan> root_;
  std::optional<CapabilityDrop> capabilities_;
  WorkloadIdentity identity_;
  std::optional<ContainerSetup> setup_;
  // The workload's ids on the host (for checked calls and the idmap).
  uid_t host_uid_ = 0;
  gid_t host_gid_ = 0;
  std::optional<ChildProcess> child_;
  std::optional<SeccompNotifier> notifier_;
  NotificationStreak streak_;
  // Calls answered without the kernel running them by listeners since
  // closed (the open one counts its own: SeccompNotifier::answered).
  uint64_t answered_ = 0;
  UniqueFd container_root_;  // O_PATH of /proc/<pid>/root, after exec
  // Looks up /proc/sys and /proc/sysvipc in the workload's namespaces.
  std::unique_ptr<NamespacedOpener> namespaced_opener_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  // Perform the socket calls the endpoint lists decide (they may block),
  // started at the first one.
  std::unique_ptr<NotificationWorkers> workers_;
  bool workers_stopped_ = false;
  std::optional<Error> worker_error_;
  std::chrono::steady_clock::time_point next_watch_;
  std::deque<Pending> pending_;
  std::optional<Await> awaiting_;
  bool memory_reported_ = false;
  bool processes_reported_ = false;
  bool cpu_reported_ = false;
  std::chrono::steady_clock::time_point next_cgroup_check_;
  std::optional<ExitEvent> exit_;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool draining_ = false;
  bool done_ = false;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_BACKEND_H_
