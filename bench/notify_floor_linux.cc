#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "base/exec_args.h"
#include "base/unique_fd.h"
#include "bench/bench_process.h"
#include "bench/notify_floor.h"

// Linux 6.6 added these; Debian 12's headers (6.1) lack them.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace isoscope::bench {
namespace {

using Clock = std::chrono::steady_clock;

// getppid to the listener, everything else allowed.
constexpr sock_filter kFilter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

// Wakes the listening thread out of a blocking SECCOMP_IOCTL_NOTIF_RECV
// (EINTR): the kernel does not end it when the workload exits.
void OnWake(int /*signal*/) {}

// In the child: install the filter with a listener, pass the listener up
// the socket, exec. Async-signal-safe calls only.
[[noreturn]] void ChildMain(int socket_fd, const char* path, char* const* argv,
                            char* const* envp) {
  const int null_fd = ::open("/dev/null", O_WRONLY);
  ::dup2(null_fd, 1);
  sock_fprog program{static_cast<decltype(sock_fprog::len)>(std::size(kFilter)),
                     const_cast<sock_filter*>(kFilter)};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(126);
  const int listener =
      static_cast<int>(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                 SECCOMP_FILTER_FLAG_NEW_LISTENER, &program));
  if (listener < 0) ::_exit(125);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  char byte = 0;
  iovec iov{&byte, 1};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &listener, sizeof listener);
  if (::sendmsg(socket_fd, &message, 0) != 1) ::_exit(124);
  ::close(listener);
  ::execve(path, argv, envp);
  ::_exit(127);
}

UniqueFd ReceiveListener(int socket_fd) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  char byte = 0;
  iovec iov{&byte, 1};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  if (::recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC) != 1) return UniqueFd();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace

std::string MissingSyncWakeUp() {
  // A listener of a filter this process never installs: only the ioctl's
  // answer matters. Made in a child, since installing a filter is for good.
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    return fmt::format("socketpair: {}", std::strerror(errno));
  }
  UniqueFd parent_end(sockets[0]);
  UniqueFd child_end(sockets[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return fmt::format("fork: {}", std::strerror(errno));
  if (pid == 0) {
    char true_path[] = "/bin/true";
    char* argv[] = {true_path, nullptr};
    char* envp[] = {nullptr};
    ChildMain(child_end.get(), true_path, argv, envp);
  }
  child_end.Reset();
  UniqueFd listener = ReceiveListener(parent_end.get());
  std::string missing;
  if (!listener) {
    missing = "seccomp user notification (no listener)";
  } else if (::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                     uint64_t{SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP}) != 0) {
    missing = fmt::format("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+): {}",
                          std::strerror(errno));
  }
  ::waitpid(pid, nullptr, 0);
  return missing;
}

std::optional<double> BareListenerRunMicros(
    std::string_view variant, const std::vector<std::string>& argv,
    ListenerWait wait) {
  static const bool handler_installed = [] {
    struct sigaction action {};
    action.sa_handler = OnWake;  // no SA_RESTART: RECV ends with EINTR
    return ::sigaction(SIGUSR1, &action, nullptr) == 0;
  }();
  if (!handler_installed) {
    Fail(variant, "installing the SIGUSR1 handler");
    return std::nullopt;
  }
  std::vector<std::string> copy = argv;
  std::vector<char*> c_argv = ExecArgs(copy);
  char* envp[] = {nullptr};
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    Fail(variant, "socketpair failed");
    return std::nullopt;
  }
  UniqueFd parent_end(sockets[0]);
  UniqueFd child_end(sockets[1]);

  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    Fail(variant, "fork failed");
    return std::nullopt;
  }
  if (pid == 0) ChildMain(child_end.get(), c_argv[0], c_argv.data(), envp);
  child_end.Reset();
  UniqueFd listener = ReceiveListener(parent_end.get());
  if (listener) {
    ::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            uint64_t{SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP});
  }
  // The waiter reaps the workload, then wakes this thread until it stops.
  std::atomic<bool> exited = false;
  std::atomic<bool> stopped = false;
  int status = 0;
  const pthread_t listening = ::pthread_self();
  std::thread waiter([&] {
    ::waitpid(pid, &status, 0);
    exited = true;
    while (!stopped) {
      ::pthread_kill(listening, SIGUSR1);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  seccomp_notif request;
  seccomp_notif_resp response;
  int receive_error = 0;
  while (listener) {
    if (wait == ListenerWait::kPollThenReceive) {
      pollfd ready{listener.get(), POLLIN, 0};
      if (::poll(&ready, 1, -1) < 0 && errno != EINTR) {
        receive_error = errno;
        break;
      }
      if (exited) break;
    }
    std::memset(&request, 0, sizeof request);
    if (::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
      if (exited) break;
      if (errno == EINTR || errno == ENOENT) continue;
      receive_error = errno;
      break;
    }
    response = {request.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    ::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SEND, &response);
  }
  // Nothing answers any more: a workload still running would wait in its
  // next getppid for ever.
  if (!exited) ::kill(pid, SIGKILL);
  stopped = true;
  waiter.join();
  const double micros =
      std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  if (!listener) {
    Fail(variant, "the child passed no seccomp listener");
    return std::nullopt;
  }
  if (receive_error != 0) {
    Fail(variant, fmt::format("SECCOMP_IOCTL_NOTIF_RECV: {}",
                              std::strerror(receive_error)));
    return std::nullopt;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return micros;
  Fail(variant,
       fmt::format("{} ended with wait status {:#x}", argv[0], status));
  return std::nullopt;
}

}  // namespace isoscope::bench
