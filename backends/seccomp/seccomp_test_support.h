// Helpers shared by the seccomp tests (not part of the library): plans from
// small policies, the classic-BPF evaluator (bpf_evaluator.h) as a test
// helper, and a harness that runs code in a forked child under a program
// while the parent answers its user notifications.
#ifndef ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_TEST_SUPPORT_H_
#define ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_TEST_SUPPORT_H_

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "backends/seccomp/seccomp_notifier.h"
#include "backends/seccomp/seccomp_program.h"
#include "base/unique_fd.h"
#include "policies/plan.h"

namespace isoscope::seccomp_testing {

// What this host lacks for the seccomp tests ("" when nothing).
std::string MissingSeccomp();

// Skips the current test (a statement; returns from the test body) when the
// host lacks seccomp filters or one of the actions the programs use.
#define ISOSCOPE_SKIP_WITHOUT_SECCOMP()                                      \
  do {                                                                       \
    if (std::string missing = ::isoscope::seccomp_testing::MissingSeccomp(); \
        !missing.empty()) {                                                  \
      GTEST_SKIP() << "this host lacks " << missing;                         \
    }                                                                        \
  } while (0)

// A plan from the `syscalls:` section's parts. Every policy starts with a
// rule allowing what the harness itself calls after the filter is in place
// (write, close, sendmsg, exit_group, rt_sigreturn; in an ASan build also
// sigaltstack, which the sanitizer runtime calls before _exit), so `rules`
// can neither decide those nor be matched first for them.
CompiledPlan PlanOf(std::string_view default_action, std::string_view rules,
                    std::string_view abi = "{i386: kill, x32: kill}");

// Runs `program` on `data` as the kernel would and returns the action
// (EvaluateSeccompBpf; a program it cannot run is a test failure).
uint32_t EvaluateBpf(const std::vector<sock_filter>& program,
                     const seccomp_data& data);

// seccomp_data for an x86-64 syscall (or `arch`).
seccomp_data SyscallData(int nr, std::vector<uint64_t> args = {},
                         uint32_t arch = 0xc000003e /* AUDIT_ARCH_X86_64 */);

// The default notification answer: an errno nothing else produces, so a
// test can tell "went to the listener" from "allowed", "denied" or "traced".
inline constexpr int kNotifiedErrno = EBADSLT;
// Exit status of a child whose SIGSYS handler ran (options.catch_sigsys).
inline constexpr int kTrappedExit = 77;
// Value recorded by that handler before si_syscall and si_arch.
inline constexpr int64_t kTrapMarker = 0x5157535953;  // "SIGSYS"
// Exit status of a child that could not install the program.
inline constexpr int kInstallFailedExit = 70;

// In the child: records a value for the parent (async-signal-safe).
void Record(int64_t value);
// In the child: the result of libc's syscall() in the kernel's form
// (-errno on failure).
int64_t Raw(int64_t result);

using NotificationHandler =
    std::function<void(SeccompNotifier&, const SeccompNotification&)>;

struct ChildOptions {
  bool listener = true;       // install with a listener, pass it up
  bool sync_wake_up = false;  // EnableSyncWakeUp() on it
  // A SIGSYS handler records kTrapMarker, si_syscall, si_arch and exits
  // with kTrappedExit (SECCOMP_RET_TRAP shows; KILL_PROCESS cannot be
  // caught).
  bool catch_sigsys = false;
  // Called for each notification; default: ReturnError(kNotifiedErrno).
  NotificationHandler on_notification;
};

// How a child ran.
struct ChildRun {
  pid_t pid = -1;
  std::vector<int64_t> values;  // what it recorded, in order
  std::vector<SeccompNotification> notifications;
  std::optional<int> exit_code;    // it exited
  std::optional<int> term_signal;  // a signal ended it
  bool sync_wake_up = false;       // EnableSyncWakeUp() succeeded
  std::string Describe() const;
};

// A started child: the parent's ends.
struct StartedChild {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd records;  // read end
  std::optional<SeccompNotifier> notifier;
  bool sync_wake_up = false;
  StartedChild() = default;
  StartedChild(StartedChild&& other) noexcept;
  StartedChild& operator=(StartedChild&&) = delete;
  ~StartedChild();  // kills and reaps the child if Finish did not
};

// Forks; the child installs `program` (with a listener if asked), sends the
// listener up, runs `body`, and exits 0.
StartedChild StartChild(const SeccompProgram& program,
                        const std::function<void()>& body,
                        const ChildOptions& options = {});
// Answers notifications until the child is gone (20 s at most), then reaps
// it and collects what it recorded.
ChildRun FinishChild(StartedChild& child, const ChildOptions& options = {});

inline ChildRun RunInChild(const SeccompProgram& program,
                           const std::function<void()>& body,
                           const ChildOptions& options = {}) {
  StartedChild child = StartChild(program, body, options);
  return FinishChild(child, options);
}

// Builds and requires success.
SeccompProgram MustBuild(const CompiledPlan& plan,
                         const SeccompRouting& routing);

}  // namespace isoscope::seccomp_testing

#endif  // ISOSCOPE_BACKENDS_SECCOMP_SECCOMP_TEST_SUPPORT_H_
