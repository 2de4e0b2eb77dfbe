#include "backends/seccomp/seccomp_notifier.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

// Linux 6.6 added these; Debian 12's headers (6.1) lack them. The ioctl takes
// the flags by value, not through a pointer.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

// The kernel's structure sizes (SECCOMP_GET_NOTIF_SIZES), asked once per
// process: a newer kernel may use larger structures than our headers, and
// the receive buffer must hold the kernel's.
const Result<seccomp_notif_sizes>& NotifSizes() {
  static const Result<seccomp_notif_sizes> sizes =
      []() -> Result<seccomp_notif_sizes> {
    seccomp_notif_sizes sizes{};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
      int error = errno;
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("seccomp user notification is not available: "
                              "SECCOMP_GET_NOTIF_SIZES: {}",
                              std::strerror(error)),
                  error);
    }
    return sizes;
  }();
  return sizes;
}

// ioctl, retried when a signal interrupts it before it did anything (the
// seccomp ioctls take their locks interruptibly and undo nothing on EINTR).
int RetryIoctl(int fd, uint64_t request, void* argument) {
  int rc;
  do {
    rc = ::ioctl(fd, request, argument);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

}  // namespace

Result<SeccompNotifier> SeccompNotifier::CopyFromProcess(int pidfd,
                                                         int number) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, number, 0));
  if (fd < 0) return FailErrno("pidfd_getfd of the seccomp listener", errno);
  UniqueFd listener(fd);
  // The child predicted the number; make sure it is the listener.
  char link[64] = {};
  std::string self = fmt::format("/proc/self/fd/{}", fd);
  ssize_t n = ::readlink(self.c_str(), link, sizeof link - 1);
  if (n < 0 || std::string_view(link, static_cast<size_t>(n)) !=
                   "anon_inode:seccomp notify") {
    return Fail(
        ErrorCode::kInternal,
        fmt::format("fd {} of the child is not its seccomp listener", number));
  }
  SeccompNotifier notifier(std::move(listener));
  // Wakes the workload on the supervisor's CPU: the difference between a
  // user notification costing about 12 us and 3 us here. Older kernels
  // (before 6.6) just lack it.
  notifier.EnableSyncWakeUp();
  return notifier;
}

SeccompNotifier::SeccompNotifier(UniqueFd listener)
    : listener_(std::move(listener)) {}

bool SeccompNotifier::EnableSyncWakeUp() {
  // Older kernels answer an unknown seccomp ioctl with EINVAL (ENOTTY from
  // elsewhere); either way the notifier keeps working without it.
  return ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                 uint64_t{SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP}) == 0;
}

bool SeccompNotifier::ReadyNow() const {
  pollfd waiting{listener_.get(), POLLIN, 0};
  // POLLHUP (no task left under the filter) is for the loop's full poll.
  return ::poll(&waiting, 1, 0) == 1 && waiting.revents == POLLIN;
}

bool NotificationStreak::Next(const SeccompNotifier& notifier) {
  if (!armed_ || taken_ >= kMaxInARow || !notifier.ReadyNow()) return false;
  ++taken_;
  return true;
}

Result<std::optional<SeccompNotification>> SeccompNotifier::Receive() {
  const auto& sizes = NotifSizes();
  if (!sizes) return tl::unexpected(sizes.error());
  if (receive_buffer_.empty()) {
    receive_buffer_.resize(
        std::max<size_t>(sizes->seccomp_notif, sizeof(seccomp_notif)));
  }
  for (;;) {
    // The kernel refuses (EINVAL) a buffer that is not all zeroes.
    std::fill(receive_buffer_.begin(), receive_buffer_.end(), 0);
    if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV,
                receive_buffer_.data()) == 0) {
      break;
    }
    if (errno == EINTR) continue;
    if (errno == ENOENT) return std::nullopt;
    return FailErrno("SECCOMP_IOCTL_NOTIF_RECV", errno);
  }
  seccomp_notif raw{};
  std::memcpy(&raw, receive_buffer_.data(), sizeof raw);
  SeccompNotification notification;
  notification.id = raw.id;
  notification.pid = static_cast<pid_t>(raw.pid);
  notification.nr = raw.data.nr;
  notification.arch = raw.data.arch;
  notification.instruction_pointer = raw.data.instruction_pointer;
  std::copy(std::begin(raw.data.args), std::end(raw.data.args),
            notification.args.begin());
  return notification;
}

Status SeccompNotifier::Respond(uint64_t id, int64_t value, int32_t error,
                                uint32_t flags) {
  const auto& sizes = NotifSizes();
  if (!sizes) return tl::unexpected(sizes.error());
  if (response_buffer_.empty()) {
    response_buffer_.resize(std::max<size_t>(sizes->seccomp_notif_resp,
                                             sizeof(seccomp_notif_resp)));
  }
  std::fill(response_buffer_.begin(), response_buffer_.end(), 0);
  seccomp_notif_resp response{};
  response.id = id;
  response.val = value;
  response.error = error;
  response.flags = flags;
  std::memcpy(response_buffer_.data(), &response, sizeof response);
  if (RetryIoctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND,
                 response_buffer_.data()) == 0) {
    if ((flags & SECCOMP_USER_NOTIF_FLAG_CONTINUE) == 0) ++answered_;
    return {};
  }
  // The thread died or a signal interrupted its syscall: nobody waits for
  // this answer any more.
  if (errno == ENOENT) return {};
  return FailErrno(fmt::format("SECCOMP_IOCTL_NOTIF_SEND (id {:#x})", id),
                   errno);
}

Status SeccompNotifier::Continue(uint64_t id) {
  // The kernel requires val and error to be 0 with FLAG_CONTINUE.
  return Respond(id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

Status SeccompNotifier::ReturnError(uint64_t id, int errno_value) {
  if (errno_value < 1 || errno_value > 4095) {
    return Fail(ErrorCode::kInternal,
                fmt::format("{} is not an errno value", errno_value));
  }
  return Respond(id, 0, -errno_value, 0);
}

Status SeccompNotifier::ReturnValue(uint64_t id, int64_t value) {
  // Passed through as the syscall's raw result: a value in -4095..-1 reads
  // as an errno in the workload, as a policy's `emulate` may intend.
  return Respond(id, value, 0, 0);
}

bool SeccompNotifier::IdValid(uint64_t id) {
  return RetryIoctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

Result<int> SeccompNotifier::AddFd(uint64_t id, int fd, unsigned newfd_flags,
                                   bool send_as_response) {
  seccomp_notif_addfd addfd{};
  addfd.id = id;
  addfd.flags = send_as_response ? SECCOMP_ADDFD_FLAG_SEND : 0;
  addfd.srcfd = static_cast<uint32_t>(fd);
  addfd.newfd = 0;  // without SECCOMP_ADDFD_FLAG_SETFD: the lowest free
  addfd.newfd_flags = newfd_flags;
  int remote = RetryIoctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  if (remote < 0) {
    return FailErrno(fmt::format("SECCOMP_IOCTL_NOTIF_ADDFD (id {:#x})", id),
                     errno);
  }
  if (send_as_response) ++answered_;
  return remote;
}

Status AnswerRoutedDenial(SeccompNotifier& notifier, uint64_t id,
                          const SyscallPlan& plan, const Verdict& verdict) {
  Status answered = notifier.ReturnError(id, plan.errno_value);
  if (verdict.action.action != Action::kDeny ||
      verdict.action.errno_value != plan.errno_value ||
      verdict.rule_id != plan.rule_id) {
    return Fail(
        ErrorCode::kInternal,
        fmt::format("the compiled plan denies this call with errno {} "
                    "(rule '{}'), but the policy engine decided {} "
                    "(rule '{}')",
                    plan.errno_value, plan.rule_id,
                    ActionName(verdict.action.action), verdict.rule_id));
  }
  return answered;
}

}  // namespace isoscope
