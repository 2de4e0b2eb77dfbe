// A write this process leaves to be made once it has ended, however it
// ended: an exit, a crash or a SIGKILL, after which no code of its own runs.
// The native backend arms one with `1` to its run cgroup's cgroup.kill, so
// nothing a workload started outlives a killed isoscope.
//
// The write is made by a watcher process of its own that shares this
// address space (clone3 with CLONE_VM: nothing is copied but the descriptor
// table, tens of microseconds where a fork of isoscope costs milliseconds)
// and keeps only two descriptors of its copy of the table. It is born with
// every signal blocked, outside isoscope's process group (a SIGKILL to the
// group, as a shell's `kill -9 %1` sends, does not reach it), and waits on a
// pidfd of this process; once the whole process has exited it writes and
// exits. It raises no signal when it ends (exit_signal 0), so waits for
// ordinary children never see it.
//
// What it cannot outlive: the kernel's OOM killer kills every process that
// shares the victim's memory, and so does a core dump before Linux 5.16;
// a kill of isoscope's whole cgroup takes it too. Then the next isoscope
// start's sweep (a leftover mark) is what removes what was left.
#ifndef ISOSCOPE_BACKENDS_PROCESS_POST_MORTEM_WRITE_H_
#define ISOSCOPE_BACKENDS_PROCESS_POST_MORTEM_WRITE_H_

#include <sys/types.h>

#include "base/error.h"
#include "base/unique_fd.h"

namespace isoscope {

class PostMortemWrite {
 public:
  // Starts the watcher, which will write `byte` to (its copy of) `fd`.
  static Result<PostMortemWrite> Arm(int fd, char byte);

  PostMortemWrite(PostMortemWrite&& other) noexcept;
  PostMortemWrite& operator=(PostMortemWrite&& other) noexcept;
  PostMortemWrite(const PostMortemWrite&) = delete;
  PostMortemWrite& operator=(const PostMortemWrite&) = delete;
  // Kills and reaps the watcher: the write is then never made.
  ~PostMortemWrite();

  // The watcher's pid (for tests, and to keep it off lists of orphans).
  pid_t watcher_pid() const { return pid_; }

 private:
  PostMortemWrite() = default;
  void Disarm();

  pid_t pid_ = -1;
  UniqueFd watcher_;       // pidfd of the watcher
  UniqueFd supervisor_;    // pidfd of this process, which the watcher polls
  void* stack_ = nullptr;  // the watcher's stack, with its arguments on top
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_POST_MORTEM_WRITE_H_
