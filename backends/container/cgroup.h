// One cgroup per run for the container backend: limits (memory without swap,
// processes), the outcome (OOM kills, pids-limit hits, peak memory, CPU time),
// killing everything in it and removing it however the run ends. Works on
// pure cgroup v2, pure v1 and the hybrid layout, choosing per controller.
//
// All paths hang off a sysfs root given by the caller (normally
// /sys/fs/cgroup), so the code runs unchanged on a fake tree of regular files
// in a temporary directory. Control files are written the way the shell's `>`
// writes them (O_CREAT | O_TRUNC): cgroupfs never creates a file, while on a
// fake tree the write leaves a regular file the test can read back. On a
// fake tree rmdir of a run directory only succeeds once the test has removed
// the files it (or the writes) put there; on cgroupfs rmdir of a cgroup that
// holds only control files succeeds, which is all the production path needs.
#ifndef ISOSCOPE_BACKENDS_CONTAINER_CGROUP_H_
#define ISOSCOPE_BACKENDS_CONTAINER_CGROUP_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/process/post_mortem_write.h"
#include "base/error.h"
#include "base/leftover_mark.h"
#include "base/process_identity.h"
#include "base/unique_fd.h"
#include "supervisor/host_facts.h"

namespace isoscope {

// What a run's cgroup enforces; absent means unlimited.
struct CgroupLimits {
  // Memory, with swap held to zero where the kernel accounts it (v2:
  // memory.max and memory.swap.max = 0; v1: memory.limit_in_bytes and
  // memory.memsw.limit_in_bytes = the same value).
  std::optional<uint64_t> memory_bytes;
  // pids.max: tasks, i.e. processes and threads together.
  std::optional<uint64_t> processes;
  bool operator==(const CgroupLimits&) const = default;
};

// What happened inside a run's cgroup. Counts are 0 where the controller is
// not in use; the optionals are empty where the kernel offers no such file.
struct CgroupEvents {
  uint64_t oom_kills = 0;      // memory.events / memory.oom_control oom_kill
  uint64_t pids_max_hits = 0;  // pids.events max: forks refused by pids.max
  std::optional<uint64_t> peak_memory_bytes;  // memory.peak (5.19+) / v1
                                              // memory.max_usage_in_bytes
  std::optional<uint64_t> cpu_usage_us;       // cpu.stat usage_usec / v1
                                              // cpuacct.usage
  bool operator==(const CgroupEvents&) const = default;
};

enum class CgroupController { kMemory, kPids, kCpu };
std::string_view CgroupControllerName(CgroupController controller);

// Whether RunCgroup::Create would find `controller` below `sysfs_root`: on
// the v2 hierarchy, or mounted as v1 (kCpu: v2's cpu or v1's cpuacct).
bool CgroupControllerAvailable(const std::filesystem::path& sysfs_root,
                               const CgroupFacts& facts,
                               CgroupController controller);

// Who made a run's cgroup, encoded in its name
// `run-<pid>-<start time>-<counter>-<pid namespace>`: the supervisor's pid
// and its start time in clock ticks after boot (/proc/<pid>/stat field 22),
// which together name one process even after the pid is reused, a
// per-process counter, and the inode of the pid namespace the pid is a
// number of (an isoscope in a container that shares the host's cgroup tree
// makes its cgroups beside the host's, with pids that mean nothing there).
// Names made before the namespace was part of them have no last part:
// pid_namespace 0, taken to be the reader's.
struct RunCgroupOwner {
  pid_t pid = 0;
  uint64_t start_time = 0;
  uint64_t counter = 0;
  uint64_t pid_namespace = 0;  // 0: not named
  bool operator==(const RunCgroupOwner&) const = default;
};
std::string RunCgroupName(const RunCgroupOwner& owner);
// nullopt for any name not exactly of that form (only decimal digits, pid >
// 0, a namespace > 0 when named): names that are not ours are never
// touched.
std::optional<RunCgroupOwner> ParseRunCgroupName(std::string_view name);

// What a child needs to begin in a run's cgroup (RunCgroup::OpenEntrance).
struct CgroupEntrance {
  // The v2 directory (O_DIRECTORY), for clone3's CLONE_INTO_CGROUP
  // (SpawnOptions::cgroup_fd); invalid when no controller is on v2.
  UniqueFd v2_directory;
  // The `tasks` file of each v1 directory (O_WRONLY), to which the child
  // writes "0" before anything else (SpawnOptions::join_cgroup_tasks).
  std::vector<UniqueFd> v1_tasks;
};

// The cgroup directories of one run: one per hierarchy it uses, named
// <hierarchy>/isoscope/<RunCgroupName>. The `isoscope` parent is shared by
// concurrent runs; Remove takes it away too once no run uses it.
// Move-only; the destructor calls Remove() and ignores its result.
class RunCgroup {
 public:
  // How long KillAll and Remove keep trying by default: processes may fork
  // while they are being killed, and exiting ones take a moment to leave.
  static constexpr std::chrono::milliseconds kDefaultTimeout{2000};

  // Makes the run's directories below `sysfs_root` (where `facts` was read
  // from) and writes `limits`. Each controller goes to v2 when the v2
  // hierarchy offers it, else to its v1 mount; on v2, +memory +pids (and
  // +cpu when offered, best-effort) are enabled in the subtree_control of
  // <v2_root> and <v2_root>/isoscope. A controller a limit needs that is
  // available nowhere is a kUnavailable error naming it (memory for
  // memory_bytes, pids for processes); without a limit they are used when
  // available, for the outcome. CPU usage is best-effort. kInvalidArgument
  // for a limit of 0. A failure part-way removes what was made. With no
  // limits and no controller available anywhere, the result has no
  // directories: AddProcess does nothing and Events reports nothing.
  static Result<RunCgroup> Create(const std::filesystem::path& sysfs_root,
                                  const CgroupFacts& facts,
                                  const CgroupLimits& limits);

  // A run cgroup that only holds processes, to kill them all: one directory,
  // <below>/isoscope/<name>, on the cgroup v2 hierarchy mounted at `v2_root`
  // (FindCgroupV2Root), no controller enabled for it, so it costs a mkdir.
  // `below` is isoscope's own cgroup (OwnV2Cgroup), so what runs there stays
  // under whatever limits and accounting isoscope itself is under; when it
  // is not the hierarchy's root, the leftover mark records
  // <below>/isoscope for the sweep. For clone3's CLONE_INTO_CGROUP
  // (OpenV2Directory), KillAll and KillWhenIsoscopeEnds.
  static Result<RunCgroup> CreateForKilling(
      const std::filesystem::path& v2_root, const std::filesystem::path& below);

  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;
  RunCgroup(RunCgroup&& other) noexcept;
  RunCgroup& operator=(RunCgroup&& other) noexcept;
  ~RunCgroup();

  const std::string& name() const { return name_; }
  // The run's directory in each hierarchy it uses, in creation order; empty
  // once removed.
  const std::vector<std::filesystem::path>& directories() const {
    return directories_;
  }
  // The directory holding `controller`'s files, or nullopt if it is not in
  // use (or the cgroup was removed).
  std::optional<std::filesystem::path> DirectoryFor(
      CgroupController controller) const;

  // Moves `pid` (its whole thread group) into the run's cgroup in every
  // hierarchy. Do it before the workload runs: a child that waits on a
  // handshake before exec. Each write of a pid to cgroup.procs takes the
  // kernel's global threadgroup lock for writing, which waits for an RCU
  // grace period (about 10 ms on these hosts): a child about to be started
  // enters through OpenEntrance instead.
  Status AddProcess(pid_t pid) const;

  // The descriptors with which a child starts in the run's cgroup in every
  // hierarchy without that wait: it is born in the v2 directory
  // (CLONE_INTO_CGROUP) and moves its own thread into each v1 directory,
  // which the kernel does without the global lock. Open until the child is
  // spawned; it holds its own copies, close-on-exec.
  Result<CgroupEntrance> OpenEntrance() const;

  // An O_RDONLY | O_DIRECTORY | O_CLOEXEC fd of the run's v2 directory, for
  // clone3's CLONE_INTO_CGROUP. kUnavailable when no controller is on v2.
  // The child must still be added to the v1 directories when directories()
  // holds more than the v2 one (OpenEntrance gives both).
  Result<UniqueFd> OpenV2Directory() const;

  // Also kills every process in the run's v2 directory once this isoscope
  // process has ended, whatever ended it (a SIGKILL included): a watcher
  // process writes its cgroup.kill then (PostMortemWrite). Lasts until the
  // directories are removed. kUnavailable without a v2 directory or where
  // the kernel has no cgroup.kill (before 5.14).
  Status KillWhenIsoscopeEnds();
  // The pid of that watcher, a child of this process (-1: none).
  pid_t post_mortem_watcher() const {
    return post_mortem_kill_ ? post_mortem_kill_->watcher_pid() : -1;
  }

  // Reads the outcome. Call it before Remove(). An error when a file that
  // must be there is missing or unparseable.
  Result<CgroupEvents> Events() const;

  // SIGKILLs every process in the run's cgroups (and any cgroups the
  // workload made below them): cgroup.kill where the kernel has it (v2,
  // 5.14+), then cgroup.procs read and killed again until every one is
  // empty. Error if processes remain after `timeout`.
  Status KillAll(std::chrono::milliseconds timeout = kDefaultTimeout) const;

  // KillAll, then rmdir of the run's directories (deepest first), retrying
  // while the kernel still reports them busy, within `timeout` in all.
  // Idempotent: directories already gone count as removed, and a failure
  // leaves the rest for another call (or the destructor).
  Status Remove(std::chrono::milliseconds timeout = kDefaultTimeout);

 private:
  struct Placement {
    std::filesystem::path directory;
    bool v2 = false;
  };

  RunCgroup() = default;
  // A cgroup with its leftover mark (recording `sweep_parent`, if given)
  // and name, no directory yet.
  static Result<RunCgroup> Named(
      const std::filesystem::path& sweep_parent = {});
  // Once no directory is left: the post-mortem kill and the leftover mark
  // have nothing left to guard.
  void ForgetDirectories();
  const Placement* PlacementFor(CgroupController controller) const;

  std::string name_;
  std::vector<std::filesystem::path> directories_;
  std::optional<Placement> memory_;
  std::optional<Placement> pids_;
  std::optional<Placement> cpu_;
  std::optional<std::filesystem::path> v2_directory_;
  // Held while a directory may exist: a kill leaves a dead mark, which
  // makes the next isoscope look for abandoned cgroups.
  std::optional<LeftoverMark> mark_;
  // KillWhenIsoscopeEnds: the v2 directory's cgroup.kill, and the watcher
  // that writes to it (declared after it: it goes first).
  UniqueFd kill_file_;
  std::optional<PostMortemWrite> post_mortem_kill_;
};

// The cgroup v2 directory this process is in: `v2_root` joined with the
// path of its "0::" line in `proc_self_cgroup`; nullopt without one (or
// with a path that is not plainly below the root).
std::optional<std::filesystem::path> OwnV2Cgroup(
    const std::filesystem::path& v2_root,
    const std::filesystem::path& proc_self_cgroup = "/proc/self/cgroup");

// Finds run directories (`isoscope/run-...`, RunCgroupName) in every hierarchy
// of `facts` below `sysfs_root`, and in those of `recorded_parents` that
// are `isoscope` directories below its v2 root (where dead leftover marks
// say kill groups were made: CreateForKilling), whose owner is gone
// (LivenessOfPid by <proc_root>: no such process, a reused pid, or a zombie),
// kills what runs in them and removes them (and an `isoscope` parent left
// empty). Says how many run directories were removed, and whether the sweep
// was complete: not when a listing failed for want of descriptors or memory,
// an owner could not be checked, or a gone owner's run could not be removed
// (what ran in it outlived the kill).
// Never touches a directory whose owner is alive (or cannot be checked), lives
// in another pid namespace, belongs to another user, or whose name is not
// ours.
SweepResult RemoveAbandonedCgroups(
    const std::filesystem::path& sysfs_root, const CgroupFacts& facts,
    const std::filesystem::path& proc_root = "/proc",
    const std::vector<std::filesystem::path>& recorded_parents = {});

// Whether any hierarchy below `sysfs_root` (the root itself, for pure v2, or
// a directory just below it) has an `isoscope` parent, which exists only
// while a run cgroup does: without one there is nothing for
// RemoveAbandonedCgroups to do, and this costs one directory listing
// instead of reading the layout.
bool MayHaveAbandonedCgroups(const std::filesystem::path& sysfs_root);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_CONTAINER_CGROUP_H_
