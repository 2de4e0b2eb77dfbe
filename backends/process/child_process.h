// Spawning a workload process and owning it until it is reaped. Shared by the
// backends that run the workload as a host process.
#ifndef ISOSCOPE_BACKENDS_PROCESS_CHILD_PROCESS_H_
#define ISOSCOPE_BACKENDS_PROCESS_CHILD_PROCESS_H_

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "supervisor/backend.h"
#include "supervisor/event.h"
#include "supervisor/syscall_counter.h"

namespace isoscope {

// The descriptors the workload gets as 0, 1 and 2.
struct ChildStdio {
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

struct ResourceLimit {
  int resource = 0;  // RLIMIT_*
  rlim_t value = 0;  // soft and hard
};

// What a backend adds to the child between its release and its limits (the
// container backend: root filesystem, identity, capabilities). Run runs in
// the child, so it must be async-signal-safe: no allocation, no locks, only
// what the object prepared before the spawn.
class ChildSetup {
 public:
  // What failed, for the parent's error message (cut to fit).
  struct Failure {
    char what[240] = {};
    // Async-signal-safe: appends `text` (NUL-terminated, cut to fit).
    void Append(const char* text) {
      size_t used = 0;
      while (used + 1 < sizeof what && what[used] != '\0') ++used;
      while (*text != '\0' && used + 1 < sizeof what) what[used++] = *text++;
      what[used] = '\0';
    }
    // Appends `step` and returns -error (-EPERM for 0): the value Run
    // returns for a failed step.
    int Failed(const char* step, int error) {
      Append(step);
      return -(error != 0 ? error : EPERM);
    }
  };
  virtual ~ChildSetup() = default;
  // 0, or -errno with `failure` saying what failed.
  virtual int Run(Failure* failure) const = 0;
};

// What the child sets up between fork and exec beyond stdio and cwd (the
// root before the cwd), in this order: its cgroups (before all else), the
// wait for Release() (if asked), `setup`, rlimits, RDTSC trapping,
// no_new_privs + seccomp filter, then execve.
struct SpawnOptions {
  ChildStdio stdio;
  std::vector<ResourceLimit> limits;
  bool trap_rdtsc = false;  // prctl(PR_SET_TSC, PR_TSC_SIGSEGV)
  // Installed last, so it also sees the execve of the workload. Must outlive
  // Spawn (and Release, for a child waiting for its release).
  const sock_fprog* seccomp_filter = nullptr;
  bool seccomp_listener = false;  // pass back a user-notification listener
  // The child waits before the steps above until Release(): the parent
  // attaches a tracer first, so nothing the workload does goes unseen, or
  // writes a user namespace's id maps.
  bool wait_for_release = false;
  // CLONE_NEW* flags: the child is created with clone3 in these new
  // namespaces instead of with fork. With CLONE_NEWPID it is PID 1 there,
  // unless separate_init.
  uint64_t namespaces = 0;
  // With CLONE_NEWPID: PID 1 of the new namespace is a minimal init of
  // isoscope's (a fork that only reaps orphans, all signals blocked, no
  // descriptor but its lifeline) and the workload is PID 2. PID 1 drops
  // every signal it has no handler for, even a fault's when it is traced
  // (the kernel keeps a traced init unkillable), so a workload that is
  // PID 1 under a tracer would spin on its own SIGSEGV; as PID 2 it keeps
  // ordinary signal semantics. Killing the init kills the namespace.
  bool separate_init = false;
  // Must outlive Spawn (and Release). Needs wait_for_release when it depends
  // on what the parent does to the child (id maps).
  const ChildSetup* setup = nullptr;
  // Count the workload's syscalls in the kernel from its execve on
  // (syscall_counter.h), where this host can: the counter is opened before
  // the child may go on (a child that does not wait for its release waits
  // for the counter).
  bool count_syscalls = false;
  // A cgroup v2 directory (an O_DIRECTORY descriptor) the child is born in
  // (clone3's CLONE_INTO_CGROUP, Linux 5.7+), so every process it starts is
  // there from the first; -1: the parent's cgroup. Must stay open during
  // Spawn.
  int cgroup_fd = -1;
  // cgroup v1 `tasks` files (O_WRONLY descriptors) the child writes "0" to
  // before anything else, moving its one thread into each. A move that
  // names a pid (the parent writing the child's) takes the kernel's global
  // threadgroup lock, whose write side waits for an RCU grace period
  // (about 10 ms on these hosts); a thread that moves itself skips it. The
  // kernel checks the opener's credentials (the writer's before Linux
  // 5.16: the same uid). With separate_init only the workload moves, not
  // the init. Must stay open during Spawn.
  std::vector<int> join_cgroup_tasks;
  // The workload's root (Workload::root; empty: the host's), entered
  // before the chdir to the workdir, which is then a path in it: with
  // CLONE_NEWNS by binding it on itself and pivot_root (the host's tree is
  // detached, so /proc/<pid>/cwd and fd links read from outside show the
  // paths the workload sees); without, by chroot. The container backend
  // builds its root in its set-up instead and leaves this empty.
  std::string root;
};

// A spawned process in its own process group. The destructor kills the
// whole group and reaps the process, so a ChildProcess never leaks one.
class ChildProcess {
 public:
  // Starts a child and in it: new process group, parent-death signal
  // SIGKILL, default signal dispositions and an empty mask, stdio, cwd =
  // workdir, then execve. When the parent has nothing to do before the
  // exec (no release, set-up, namespaces or listener) the child shares this
  // address space until its execve, as posix_spawn does, instead of a
  // copy-on-write copy of it; otherwise it is forked (or cloned into its
  // namespaces). The child only makes async-signal-safe calls; a failure is
  // reported as (step, errno) over a CLOEXEC pipe and returned here as an
  // error: kNotFound / kNotExecutable for execve's ENOENT / EACCES, ENOEXEC.
  static Result<ChildProcess> Spawn(const Workload& workload,
                                    const ChildStdio& stdio);
  // As above with more set-up. Without wait_for_release, returns once the
  // workload was exec'd (the listener, if asked for, in listener()). With it,
  // returns at once with the child waiting: the caller attaches or prepares,
  // calls Release() and then reads the outcome with ReadSpawnReport() while
  // it lets the child's stops (or notifications) through.
  static Result<ChildProcess> Spawn(const Workload& workload,
                                    const SpawnOptions& options);

  // Lets a child spawned with wait_for_release go on.
  Status Release();
  // The spawn report channel (readable when the child reports or exec'd);
  // -1 once the report is complete.
  int spawn_channel() const { return channel_.get(); }
  // Reads one report: the listener's fd number arrived (true, keep
  // reading), the workload was exec'd (false: the channel is closed), or the
  // step that failed, as an error. Blocks until the child says something.
  Result<bool> ReadSpawnReport();
  // The fd number the seccomp listener has in the child (-1: none yet). It is
  // close-on-exec and the child may make no syscall the policy forbids after
  // installing its filter, so it cannot send the listener itself: the
  // parent copies it with pidfd_getfd while the child is stopped at its
  // execve (a ptrace stop, or a user notification the filter always makes
  // of execve, which then waits for the copied listener's answer).
  int listener_fd_in_child() const { return listener_fd_in_child_; }

  // What the kernel counted of the workload's syscalls (count_syscalls):
  // its processes' that have exited, so read it once they are all gone.
  // nullopt when it was not counted (the host cannot, or the read failed).
  std::optional<uint64_t> CountedSyscalls() const;

  // The workload's own peak resident set from wait4's ru_maxrss, which is
  // the largest of the workload's processes' peaks and of the image the
  // child had before its execve (a copy of isoscope's: the kernel keeps the
  // replaced image's peak). The child reports that image's peak (VmHWM)
  // just before its execve; a ru_maxrss above it is the workload's own.
  // nullopt when it is not (the workload's peak is hidden below the image)
  // or the image's peak is not known.
  std::optional<int64_t> OwnPeakKib(int64_t ru_maxrss_kib) const;

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

  // For a tracer that reaped the process itself (wait4 on all its tracees).
  void MarkReaped() { reaped_ = true; }

  // Reaps the leader if it has exited: nullopt while it runs.
  Result<std::optional<ExitEvent>> TryReap();

 private:
  ChildProcess(pid_t pid, UniqueFd pidfd, UniqueFd channel,
               std::string executable)
      : pid_(pid),
        pidfd_(std::move(pidfd)),
        channel_(std::move(channel)),
        executable_(std::move(executable)) {}
  void KillAndReap();

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd channel_;  // socketpair end: reports from the child, Release()
  int listener_fd_in_child_ = -1;
  std::optional<int64_t> image_peak_kib_;  // reported before the execve
  std::optional<SyscallCounter> syscall_counter_;
  // separate_init: the namespace's init, and the write end of its
  // lifeline (the init exits when it reads EOF: isoscope is gone).
  pid_t init_pid_ = -1;
  UniqueFd init_pidfd_;
  UniqueFd init_lifeline_;
  std::string executable_;  // for error messages
  bool reaped_ = false;
};

// The exit of a reaped process from wait4's status and CPU times; its peak
// memory is left unknown (see ChildProcess::OwnPeakKib).
ExitEvent ExitFromWaitStatus(int status, const rusage& usage);

// The peak resident set (VmHWM) of a live process's address space; nullopt
// when it is gone or has none (an exited one, a kernel thread).
std::optional<int64_t> ProcessPeakKib(pid_t pid);

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
