// The supervisor's end of SECCOMP_RET_USER_NOTIF: receives the syscalls a
// seccomp program sent to user space and answers them. One thread drives a
// notifier (it keeps its receive buffer).
#ifndef ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_NOTIFIER_H_
#define ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_NOTIFIER_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "policies/decide.h"
#include "policies/plan.h"

namespace isoscope {

// One notified syscall, copied out of the kernel's struct seccomp_notif.
struct SeccompNotification {
  uint64_t id = 0;  // answer with this id
  pid_t pid = 0;    // the thread that made the call (in our pid namespace;
                    // 0 if it is not visible there)
  int nr = 0;
  uint32_t arch = 0;  // AUDIT_ARCH_*
  uint64_t instruction_pointer = 0;
  std::array<uint64_t, 6> args{};
  bool operator==(const SeccompNotification&) const = default;
};

class SeccompNotifier {
 public:
  // `listener` from InstallSeccompProgram(..., /*new_listener=*/true), passed
  // to the supervisor (SCM_RIGHTS, pidfd_getfd).
  explicit SeccompNotifier(UniqueFd listener);
  // Copies the listener the child announced as fd `number` out of the
  // process `pidfd` (pidfd_getfd), checks that it is a seccomp listener and
  // enables sync wake-up. sys_errno() EBADF: nothing is at `number` yet
  // (the child has not installed its filter).
  static Result<SeccompNotifier> CopyFromProcess(int pidfd, int number);

  // For poll(): POLLIN when a notification is pending, POLLHUP once every
  // task using the filter has exited. Receive() blocks until a notification
  // arrives, so poll first when the workload may be gone.
  int fd() const { return listener_.get(); }

  // Whether a notification is waiting now (a poll that does not wait).
  bool ReadyNow() const;

  // Asks the kernel (6.6+) to wake the notifying thread on the CPU that
  // answers, which makes a round trip about 3-4 times faster. false when
  // the kernel does not support it (EINVAL, ENOTTY); nothing else changes.
  bool EnableSyncWakeUp();

  // The next notification; blocks. nullopt when it vanished before it could
  // be received (the notifying thread died or was interrupted: ENOENT).
  Result<std::optional<SeccompNotification>> Receive();

  // Lets the kernel run the syscall as the workload made it. Only for
  // syscalls whose pointer arguments are not policy-checked: the kernel
  // reads the workload's memory after this answer, when another of its
  // threads may have changed what a checked pointer points to (TOCTOU).
  Status Continue(uint64_t id);
  // The syscall does not run and returns -errno_value (1..4095).
  Status ReturnError(uint64_t id, int errno_value);
  // The syscall does not run and returns `value`, raw (so -1..-4095 reads
  // as an errno in the workload).
  Status ReturnValue(uint64_t id, int64_t value);
  // The responses above succeed when the notifying thread has gone away in
  // the meantime (ENOENT): there is nobody left to answer.

  // Whether notification `id` is still pending (its thread still waits).
  // Check it after reading the workload's memory for the notification: a
  // pid can be reused once the thread is gone.
  bool IdValid(uint64_t id);

  // Installs a duplicate of our `fd` in the notifying process and returns
  // its number there; `newfd_flags` may hold O_CLOEXEC. With
  // `send_as_response`, this also answers the notification, with that
  // number as the syscall's result (atomically). Fails with sys_errno()
  // ENOENT when the thread has gone away (no fd was installed).
  Result<int> AddFd(uint64_t id, int fd, unsigned newfd_flags,
                    bool send_as_response);

  // How many notifications were answered without the kernel running the
  // call (every answer but Continue, that reached a waiting thread): calls
  // the kernel's syscall counter does not see (syscall_counter.h).
  uint64_t answered() const { return answered_; }

 private:
  Status Respond(uint64_t id, int64_t value, int32_t error, uint32_t flags);

  UniqueFd listener_;
  uint64_t answered_ = 0;
  std::vector<unsigned char> receive_buffer_;
  std::vector<unsigned char> response_buffer_;
};

// How a backend's event loop receives notifications that are already
// waiting without polling all its descriptors. Right after an answer the
// workload's next notified call is usually there: with sync wake-up the
// answer runs the workload on the answering CPU until that call wakes the
// supervisor again. Taking it at once saves a poll of every descriptor
// (about 0.7 us of a 15 us inspected call on a PVM host). The listener is
// looked at only after a notification was handled (Armed), and at most
// kMaxInARow are taken between two full polls, so that output, exits, an
// interrupt and deadlines are still seen within a few calls.
class NotificationStreak {
 public:
  static constexpr int kMaxInARow = 16;
  // Whether to receive the next notification at once: the loop handled a
  // notification since its last full poll, fewer than kMaxInARow were taken
  // since, and `notifier` has one waiting.
  bool Next(const SeccompNotifier& notifier);
  // The loop's full poll found a notification, which it handled.
  void Arm() { armed_ = true; }
  // The loop is about to poll all its descriptors.
  void End() {
    armed_ = false;
    taken_ = 0;
  }

 private:
  bool armed_ = false;
  int taken_ = 0;
};

// Answers notification `id`, a call the filter sent to the listener only
// because `plan` denies it (SeccompRouting::notify_denials), with the plan's
// errno. The supervisor's `verdict` must say the same (Decide agrees with
// every static plan: PlanTest.StaticPlansAgreeWithDecide); when it does
// not, the call is refused all the same and the disagreement is an
// internal error, which ends the run.
Status AnswerRoutedDenial(SeccompNotifier& notifier, uint64_t id,
                          const SyscallPlan& plan, const Verdict& verdict);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_NOTIFIER_H_
