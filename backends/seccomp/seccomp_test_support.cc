#include "backends/seccomp/seccomp_test_support.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "backends/seccomp/bpf_evaluator.h"
#include "base/sanitizers.h"
#include "policies/loader.h"

namespace isoscope::seccomp_testing {
namespace {

// The child's end of the record pipe (set in the child only).
int g_record_fd = -1;

void WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void SigsysHandler(int, siginfo_t* info, void*) {
  Record(kTrapMarker);
  Record(info->si_syscall);
  Record(static_cast<int64_t>(info->si_arch));
  ::_exit(kTrappedExit);
}

// In the child: passes `fd` over the socket (SCM_RIGHTS).
bool SendFd(int socket, int fd) {
  char byte = 'L';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  return ::sendmsg(socket, &message, MSG_NOSIGNAL) == 1;
}

UniqueFd ReceiveFd(int socket) {
  pollfd wait{socket, POLLIN, 0};
  if (::poll(&wait, 1, 10000) != 1) return UniqueFd();
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  if (::recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1) return UniqueFd();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return UniqueFd(fd);
}

// What the harness itself calls after the filter is in place. An ASan
// build adds sigaltstack: instrumented code calls __asan_handle_no_return
// before every noreturn call (the harness's and the bodies' _exit), and the
// runtime asks the kernel for the alternate signal stack there
// (sigaltstack(NULL, &old)). Allowing it keeps each test's filter deciding
// only the calls the test makes.
constexpr std::string_view kHarnessSyscalls =
    kAddressSanitizer
        ? "write, close, sendmsg, exit_group, rt_sigreturn, sigaltstack"
        : "write, close, sendmsg, exit_group, rt_sigreturn";

bool KernelHasAction(uint32_t action) {
  return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

}  // namespace

std::string MissingSeccomp() {
  if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
    return "seccomp (prctl(PR_GET_SECCOMP) fails: CONFIG_SECCOMP is off)";
  }
  struct Needed {
    uint32_t action;
    const char* name;
  };
  for (Needed needed :
       {Needed{SECCOMP_RET_TRACE, "SECCOMP_RET_TRACE"},
        Needed{SECCOMP_RET_TRAP, "SECCOMP_RET_TRAP"},
        Needed{SECCOMP_RET_KILL_PROCESS,
               "SECCOMP_RET_KILL_PROCESS (Linux 4.14)"},
        Needed{SECCOMP_RET_USER_NOTIF, "SECCOMP_RET_USER_NOTIF (Linux 5.0)"}}) {
    if (!KernelHasAction(needed.action)) {
      return fmt::format("the seccomp filter action {} ({})", needed.name,
                         std::strerror(errno));
    }
  }
  return "";
}

CompiledPlan PlanOf(std::string_view default_action, std::string_view rules,
                    std::string_view abi) {
  std::string yaml = fmt::format(R"yaml(
version: 1
syscalls:
  default: {}
  abi: {}
  rules:
    - id: harness
      syscalls: [{}]
      action: allow
{}
)yaml",
                                 default_action, abi, kHarnessSyscalls, rules);
  // The compiler is tested on small, deliberately open policies.
  auto policy = ParsePolicy(yaml, "seccomp_test.yaml", {.refuse_holes = false});
  EXPECT_TRUE(policy.has_value())
      << (policy ? "" : policy.error().message()) << "\n"
      << yaml;
  return CompiledPlan::Compile(
      std::make_shared<const Policy>(policy ? *policy : Policy{}));
}

uint32_t EvaluateBpf(const std::vector<sock_filter>& program,
                     const seccomp_data& data) {
  auto action = EvaluateSeccompBpf(program, data);
  if (!action) {
    ADD_FAILURE() << action.error().message();
    return 0xffffffff;
  }
  return *action;
}

seccomp_data SyscallData(int nr, std::vector<uint64_t> args, uint32_t arch) {
  seccomp_data data{};
  data.nr = nr;
  data.arch = arch;
  data.instruction_pointer = 0x401000;
  for (size_t i = 0; i < args.size() && i < 6; ++i) data.args[i] = args[i];
  return data;
}

void Record(int64_t value) { WriteAll(g_record_fd, &value, sizeof value); }

int64_t Raw(int64_t result) { return result == -1 ? -errno : result; }

std::string ChildRun::Describe() const {
  std::string how = exit_code ? fmt::format("exited {}", *exit_code)
                    : term_signal
                        ? fmt::format("killed by signal {} ({})", *term_signal,
                                      strsignal(*term_signal))
                        : "did not end";
  return fmt::format("child {} {}; recorded [{}]; {} notification(s)", pid, how,
                     fmt::join(values, ", "), notifications.size());
}

StartedChild::StartedChild(StartedChild&& other) noexcept
    : pid(std::exchange(other.pid, -1)),
      pidfd(std::move(other.pidfd)),
      records(std::move(other.records)),
      notifier(std::move(other.notifier)),
      sync_wake_up(other.sync_wake_up) {}

StartedChild::~StartedChild() {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

StartedChild StartChild(const SeccompProgram& program,
                        const std::function<void()>& body,
                        const ChildOptions& options) {
  StartedChild started;
  int sockets[2];
  int records[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0 ||
      ::pipe2(records, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "socketpair/pipe2: " << std::strerror(errno);
    return started;
  }
  UniqueFd parent_socket(sockets[0]), child_socket(sockets[1]);
  UniqueFd record_read(records[0]), record_write(records[1]);
  const sock_fprog* fprog = program.fprog();
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return started;
  }
  if (pid == 0) {
    // The child: async-signal-safe calls only, and after the filter only
    // what the harness rule allows (plus what the test's body needs).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    g_record_fd = record_write.get();
    if (options.catch_sigsys) {
      struct sigaction action {};
      action.sa_sigaction = SigsysHandler;
      action.sa_flags = SA_SIGINFO;
      ::sigaction(SIGSYS, &action, nullptr);
    }
    int listener = InstallSeccompProgram(*fprog, options.listener);
    if (listener < 0) {
      Record(listener);
      ::_exit(kInstallFailedExit);
    }
    if (options.listener) {
      if (!SendFd(child_socket.get(), listener)) ::_exit(kInstallFailedExit);
      ::close(listener);
    }
    body();
    ::_exit(0);
  }
  started.pid = pid;
  started.pidfd.Reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  EXPECT_TRUE(started.pidfd.valid()) << "pidfd_open: " << std::strerror(errno);
  child_socket.Reset();
  record_write.Reset();
  started.records = std::move(record_read);
  if (options.listener) {
    UniqueFd listener = ReceiveFd(parent_socket.get());
    if (listener) {
      started.notifier.emplace(std::move(listener));
      if (options.sync_wake_up) {
        started.sync_wake_up = started.notifier->EnableSyncWakeUp();
      }
    }
  }
  return started;
}

ChildRun FinishChild(StartedChild& child, const ChildOptions& options) {
  ChildRun run;
  run.pid = child.pid;
  run.sync_wake_up = child.sync_wake_up;
  if (child.pid <= 0) return run;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    pollfd fds[2] = {{child.pidfd.get(), POLLIN, 0},
                     {child.notifier ? child.notifier->fd() : -1, POLLIN, 0}};
    int ready = ::poll(fds, 2, 1000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      ADD_FAILURE() << "poll: " << std::strerror(errno);
      break;
    }
    if (fds[1].revents & POLLIN) {
      auto notification = child.notifier->Receive();
      if (!notification) {
        ADD_FAILURE() << notification.error().ToDebugString();
        break;
      }
      if (*notification) {
        run.notifications.push_back(**notification);
        if (options.on_notification) {
          options.on_notification(*child.notifier, **notification);
        } else {
          Status answered =
              child.notifier->ReturnError((*notification)->id, kNotifiedErrno);
          EXPECT_TRUE(answered.has_value()) << answered.error().ToDebugString();
        }
      }
      continue;
    }
    if (fds[0].revents & POLLIN) break;  // the child has ended
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the child did not end within 20 s";
      ::kill(child.pid, SIGKILL);
      break;
    }
  }
  int status = 0;
  if (::waitpid(child.pid, &status, 0) == child.pid) {
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) run.term_signal = WTERMSIG(status);
  }
  child.pid = -1;
  int64_t value;
  while (::read(child.records.get(), &value, sizeof value) ==
         static_cast<ssize_t>(sizeof value)) {
    run.values.push_back(value);
  }
  return run;
}

SeccompProgram MustBuild(const CompiledPlan& plan,
                         const SeccompRouting& routing) {
  auto program = BuildSeccompProgram(plan, routing);
  EXPECT_TRUE(program.has_value())
      << (program ? "" : program.error().ToDebugString());
  return program ? std::move(*program) : SeccompProgram({});
}

}  // namespace isoscope::seccomp_testing
