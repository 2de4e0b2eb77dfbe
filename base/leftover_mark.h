// Whether an isoscope was killed while it had something on disk to remove.
//
// A process that creates what it must remove itself (temporary directories,
// cgroups) holds a LeftoverMark while it does: a file in a per-user registry,
// flock'ed for as long as the process holds any mark and removed when it
// releases the last one; it names the directories the process makes
// temporary directories in. A process killed outright leaves its file with
// the lock free. A later isoscope reads the registry (the marks of live
// processes, a few entries) instead of listing all of /tmp at each start:
// only a dead mark means there is something to sweep, and where.
//
// The registry is /run/isoscope/leftovers for root (whatever its
// environment, so that a root with XDG_RUNTIME_DIR and one without, from
// cron, share it) and $XDG_RUNTIME_DIR/isoscope/leftovers for other users
// when XDG_RUNTIME_DIR is a directory of theirs that nobody else can write.
// It is trusted only after one whole sweep has run with it (a file
// `swept`): a registry that is new or was wiped (a reboot empties /run
// while /tmp may persist) says nothing, and the sweep runs. A process that
// cannot mark itself (or record a parent) removes `swept` and holds a
// shared lock on the registry for the rest of its life, so that no sweep
// trusts the registry again while it lives. Without a registry every start
// sweeps, as before marks existed.
#ifndef ISOSCOPE_BASE_LEFTOVER_MARK_H_
#define ISOSCOPE_BASE_LEFTOVER_MARK_H_

#include <sys/types.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <vector>

namespace isoscope {

class LeftoverMark {
 public:
  // Marks this process (the first mark makes the file; later ones count)
  // and records `parent` (absolute), when given, as a directory a sweep
  // must look in. When the mark cannot be made, the registry is made
  // untrusted, so that the next start sweeps; when that cannot be done
  // either, unrecorded_errno() says why.
  explicit LeftoverMark(const std::filesystem::path& parent = {});
  LeftoverMark(const LeftoverMark&) = delete;
  LeftoverMark& operator=(const LeftoverMark&) = delete;
  LeftoverMark(LeftoverMark&& other) noexcept;
  LeftoverMark& operator=(LeftoverMark&& other) noexcept;
  ~LeftoverMark();

  // 0 when a kill of this process while it holds the mark will be noticed
  // by a later start (it is marked, or it untrusted the registry, or there
  // is no registry anybody could use). Otherwise the errno that kept it
  // from the registry (EMFILE, ENFILE, ENOMEM): what it is about to make
  // would then be left, on a kill, where no later isoscope looks, so it
  // must not make it.
  int unrecorded_errno() const { return unrecorded_errno_; }

  // Leaves the mark held until this process exits, whatever else is
  // released: for what could not be removed (a directory, a cgroup), which
  // the next start after this process's end then sweeps.
  void Keep();

 private:
  // The process that took it; 0 once moved from. A forked child's copies
  // are its parent's and release nothing.
  pid_t owner_ = 0;
  int unrecorded_errno_ = 0;
};

// Whether `error` says that this process lacked something (descriptors,
// memory) rather than that what it tried cannot be done: only then is a
// sweep incomplete, or a process unable to record its mark. A failure that
// would repeat at every start (EACCES, EPERM, EBUSY, EROFS...) is neither.
inline bool IsShortage(int error) {
  return error == EMFILE || error == ENFILE || error == ENOMEM;
}

// What a sweep did: how many leftovers it removed, and whether it could
// look at and remove everything it was to (false when a listing, a lock or
// a removal failed for want of descriptors or memory: IsShortage).
struct SweepResult {
  int removed = 0;
  bool complete = true;
  SweepResult& operator+=(const SweepResult& other) {
    removed += other.removed;
    complete = complete && other.complete;
    return *this;
  }
};

// Runs `sweep` when a process died holding a mark, or when the registry
// cannot be trusted, with the parents the dead marks recorded (empty when
// nothing is known; the sweep then looks where it always does). When the
// sweep was complete, then removes the dead marks (only those it read, by
// inode) and marks the registry trusted; otherwise they stay, and the next
// start sweeps again. Returns whether `sweep` ran.
bool SweepIfAnOwnerDied(
    const std::function<SweepResult(const std::vector<std::filesystem::path>&)>&
        sweep);

// Tests: the registry this process (and its forked children) uses instead
// of the one above, made if missing; empty restores it.
void SetLeftoverRegistryForTesting(const std::filesystem::path& registry);

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_LEFTOVER_MARK_H_
