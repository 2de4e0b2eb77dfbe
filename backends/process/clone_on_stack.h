// clone3 for a child that shares this address space (CLONE_VM) and so must
// run on a stack of its own. glibc's clone() does that for clone(2) but has
// no clone3 counterpart, and only clone3 can start a child inside a cgroup
// (CLONE_INTO_CGROUP), which spares the move into it: writing a pid to
// cgroup.procs waits for an RCU grace period (2.6 ms median on the
// development VMs), longer than the rest of a native run's start.
#ifndef ISOSCOPE_BACKENDS_PROCESS_CLONE_ON_STACK_H_
#define ISOSCOPE_BACKENDS_PROCESS_CLONE_ON_STACK_H_

#include <linux/sched.h>
#include <sys/types.h>

namespace isoscope {

// Calls clone3 with `args`, whose stack and stack_size must be set. The
// child runs `entry(argument)` on that stack and ends with SYS_exit of what
// it returns (its own thread only, as glibc's clone does), without touching
// the parent's stack or thread state. Returns the child's pid in the
// parent, or -1 with errno. `entry` must make only async-signal-safe calls
// (the child shares memory and the thread's TLS with this thread).
pid_t CloneOnStack(clone_args& args, int (*entry)(void*), void* argument);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_CLONE_ON_STACK_H_
