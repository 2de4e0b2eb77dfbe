// The floor of any design that inspects a syscall in user space with seccomp
// user notification: a bare listener, built here from raw seccomp calls and
// nothing of isoscope's, that answers each notified getppid with
// SECCOMP_USER_NOTIF_FLAG_CONTINUE as fast as the kernel lets it, with
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP set (Linux 6.6+). Two ways of waiting
// are measured; the floor is the faster.
#ifndef ISOSCOPE_BENCH_NOTIFY_FLOOR_H_
#define ISOSCOPE_BENCH_NOTIFY_FLOOR_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isoscope::bench {

// Whether this kernel takes SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP; when not,
// why ("" when it does).
std::string MissingSyncWakeUp();

// How the bare listener waits for the next notification.
enum class ListenerWait {
  // SECCOMP_IOCTL_NOTIF_RECV blocks: the fewest syscalls (the kernel's own
  // perf bench, sched-seccomp-notify, does this).
  kReceive,
  // poll() on the listener, then RECV: one more syscall, but SYNC_WAKE_UP
  // wakes a poll waiter on the notifying CPU (a blocked RECV is woken like
  // any sleeper), which wins when the machine is busy.
  kPollThenReceive,
};

// Runs `argv` (argv[0] a path; stdout to /dev/null, empty environment) under
// a seccomp filter that sends every getppid to a listener this process
// answers in a loop of `wait`, SECCOMP_IOCTL_NOTIF_RECV and
// SECCOMP_IOCTL_NOTIF_SEND, nothing else: microseconds from before the fork
// to after the wait. nullopt (after saying why) unless the program exited
// with status 0.
std::optional<double> BareListenerRunMicros(
    std::string_view variant, const std::vector<std::string>& argv,
    ListenerWait wait);

}  // namespace isoscope::bench

#endif  // ISOSCOPE_BENCH_NOTIFY_FLOOR_H_
