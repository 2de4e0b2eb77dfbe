#include "backends/process/namespaced_opener.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/process/fs_credentials.h"
#include "backends/seccomp/seccomp_program.h"

namespace isoscope {
namespace {

// The namespaces a helper enters, as /proc/<tid>/ns names them. Not the
// user namespace: the helper stays in isoscope's, where the workload holds
// no capability over it. Not the cgroup namespace: nothing under /proc/sys
// depends on it.
constexpr std::array<const char*, 5> kNamespaces = {"mnt", "net", "ipc", "uts",
                                                    "pid"};

// How long isoscope waits for a helper's answer: a lookup under /proc/sys
// never waits, so only a stopped helper (SIGSTOP from the workload) takes
// this long.
constexpr timeval kAnswerTimeout{2, 0};

// A request: the open_how and the path (NUL-terminated) after it.
struct Request {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
  char path[PATH_MAX];
};
// An answer: 0 and the fd as SCM_RIGHTS, or the errno.
struct Answer {
  int32_t error;
};

bool IsWithin(std::string_view path, std::string_view dir) {
  return path.size() >= dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

// The helper's seccomp filter: the calls of HelperLoop, nothing else; the
// process is killed for any other. Compiled once per isoscope process.
const std::vector<sock_filter>* HelperFilter() {
  static const std::optional<std::vector<sock_filter>> compiled =
      []() -> std::optional<std::vector<sock_filter>> {
    std::unique_ptr<void, void (*)(void*)> ctx(
        seccomp_init(SCMP_ACT_KILL_PROCESS),
        [](void* c) { seccomp_release(c); });
    if (!ctx) return std::nullopt;
    for (int number : {SYS_recvmsg, SYS_sendmsg, SYS_openat2, SYS_close,
                       SYS_exit, SYS_exit_group}) {
      if (seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, number, 0) < 0) {
        return std::nullopt;
      }
    }
    auto exported = ExportSeccompBpf(ctx.get());
    if (!exported) return std::nullopt;
    return *std::move(exported);
  }();
  return compiled ? &*compiled : nullptr;
}

int64_t Raw(int64_t number, int64_t a = 0, int64_t b = 0, int64_t c = 0,
            int64_t d = 0, int64_t e = 0) {
  return ::syscall(number, a, b, c, d, e);
}

// Sends `error` (0 with `fd`) on `socket`. Async-signal-safe.
bool SendAnswer(int socket, int32_t error, int fd) {
  Answer answer{error};
  iovec iov{&answer, sizeof answer};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  if (fd >= 0) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  }
  return Raw(SYS_sendmsg, socket, reinterpret_cast<int64_t>(&message),
             MSG_NOSIGNAL) == static_cast<int64_t>(sizeof answer);
}

// The helper, on fd 0 (its socket) and 1 (its root), confined: answers
// requests until isoscope closes the socket. Async-signal-safe.
[[noreturn]] void HelperLoop() {
  static Request request;  // the helper's own copy of this memory
  for (;;) {
    iovec iov{&request, sizeof request};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    const int64_t n =
        Raw(SYS_recvmsg, 0, reinterpret_cast<int64_t>(&message), 0);
    if (n <= 0) Raw(SYS_exit_group, 0);
    const auto size = static_cast<size_t>(n);
    int fd = -1;
    int32_t error = EINVAL;
    if (size > offsetof(Request, path) &&
        request.path[size - 1 - offsetof(Request, path)] == '\0') {
      open_how how{};
      how.flags = request.flags;
      how.mode = request.mode;
      how.resolve = request.resolve | RESOLVE_IN_ROOT;
      fd = static_cast<int>(Raw(SYS_openat2, 1,
                                reinterpret_cast<int64_t>(request.path),
                                reinterpret_cast<int64_t>(&how), sizeof how));
      error = fd < 0 ? errno : 0;
    }
    if (!SendAnswer(0, error, fd)) Raw(SYS_exit_group, 0);
    if (fd >= 0) Raw(SYS_close, fd);
  }
}

// The helper's start, after the fork from isoscope: steps that fail exit
// with the errno after reporting it on `socket`. Async-signal-safe.
struct HelperStart {
  const int* namespaces;  // kNamespaces.size() fds
  int socket;             // the helper's end of its socket
  int report;             // the keeper's end of its report channel
  uid_t uid;
  gid_t gid;
  uint64_t effective_caps;
  const std::vector<sock_filter>* filter;
};

[[noreturn]] void Refuse(int socket, int error) {
  SendAnswer(socket, error == 0 ? EIO : error, -1);
  Raw(SYS_exit_group, 1);
  __builtin_unreachable();
}

// In the helper: the workload's identity, confined, then its loop.
[[noreturn]] void BecomeHelper(const HelperStart& start, int root) {
  // Its socket as fd 0 and root as fd 1, nothing else of isoscope's.
  const int socket =
      static_cast<int>(Raw(SYS_fcntl, start.socket, F_DUPFD, 10));
  const int dir = static_cast<int>(Raw(SYS_fcntl, root, F_DUPFD, 10));
  if (socket < 0 || dir < 0 || Raw(SYS_dup2, socket, 0) < 0 ||
      Raw(SYS_dup2, dir, 1) < 0 || Raw(SYS_close_range, 2, ~0U, 0) < 0) {
    Refuse(start.socket, errno);
  }
  sigset_t all;
  sigfillset(&all);
  if (Raw(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<int64_t>(&all), 0,
          sizeof(uint64_t)) != 0) {
    Refuse(0, errno);
  }
  // The workload's effective and filesystem ids, and no capability it
  // lacks (nor one isoscope lacks). The real and saved ids stay isoscope's:
  // the kernel lets a process signal or ptrace only a process whose real
  // and saved ids are its own, so the workload can neither stop nor take
  // over the helper (and the helper, confined below, cannot change ids).
  const gid_t groups[1] = {start.gid};
  if (Raw(SYS_setgroups, 1, reinterpret_cast<int64_t>(groups)) != 0 ||
      Raw(SYS_setresgid, -1, start.gid, -1) != 0 ||
      Raw(SYS_setresuid, -1, start.uid, -1) != 0) {
    Refuse(0, errno);
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (Raw(SYS_capget, reinterpret_cast<int64_t>(&header),
          reinterpret_cast<int64_t>(data)) != 0) {
    Refuse(0, errno);
  }
  for (int i = 0; i < 2; ++i) {
    const auto kept = static_cast<uint32_t>(start.effective_caps >> (32 * i)) &
                      data[i].permitted;
    data[i] = {kept, kept, 0};
  }
  // A change of ids clears the parent-death signal: set once they are
  // final.
  if (Raw(SYS_capset, reinterpret_cast<int64_t>(&header),
          reinterpret_cast<int64_t>(data)) != 0 ||
      Raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) != 0 ||
      Raw(SYS_prctl, PR_SET_DUMPABLE, 0) != 0 ||
      Raw(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    Refuse(0, errno);
  }
  sock_fprog program{static_cast<uint16_t>(start.filter->size()),
                     const_cast<sock_filter*>(start.filter->data())};
  if (Raw(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
          reinterpret_cast<int64_t>(&program)) != 0) {
    Refuse(0, errno);
  }
  // Started: isoscope waits for this before its first request.
  if (!SendAnswer(0, 0, -1)) Raw(SYS_exit_group, 0);
  HelperLoop();
}

// The keeper, forked from isoscope: enters the namespaces, starts the
// helper as its own child, sends isoscope the helper's pidfd, and reaps the
// helper when it ends. Reaped at once, because the init of a pid namespace
// that exits waits until every process of the namespace has been reaped,
// those whose parent is outside it too: a helper left a zombie would hold
// the workload's end (and isoscope waiting for it) for ever. Its parent
// being isoscope, not a workload process: no workload's wait() sees it.
// When isoscope dies, the helper reads EOF on its socket and ends, and the
// keeper with it. Async-signal-safe.
[[noreturn]] void Keep(const HelperStart& start) {
  // isoscope's memory, copied by the fork, readable by nobody but root.
  Raw(SYS_prctl, PR_SET_DUMPABLE, 0);
  sigset_t all;
  sigfillset(&all);
  Raw(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<int64_t>(&all), 0,
      sizeof(uint64_t));
  // The forking thread may have had the workload's filesystem identity on
  // (fs_credentials.h): its permitted capabilities are isoscope's, the
  // effective ones are raised back for setns and the helper's set-up.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (Raw(SYS_capget, reinterpret_cast<int64_t>(&header),
          reinterpret_cast<int64_t>(data)) != 0) {
    Refuse(start.report, errno);
  }
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  if (Raw(SYS_capset, reinterpret_cast<int64_t>(&header),
          reinterpret_cast<int64_t>(data)) != 0) {
    Refuse(start.report, errno);
  }
  for (size_t i = 0; i < kNamespaces.size(); ++i) {
    if (Raw(SYS_setns, start.namespaces[i], 0) != 0) {
      Refuse(start.report, errno);
    }
  }
  // The mount namespace's root, as setns made it this process's.
  const int root = static_cast<int>(
      Raw(SYS_open, reinterpret_cast<int64_t>("/"), O_PATH | O_DIRECTORY));
  if (root < 0) Refuse(start.report, errno);
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  const int64_t pid =
      Raw(SYS_clone3, reinterpret_cast<int64_t>(&args), sizeof args);
  if (pid < 0) Refuse(start.report, errno);
  if (pid == 0) BecomeHelper(start, root);
  const bool sent = SendAnswer(start.report, 0, pidfd);
  // Nothing of isoscope's stays open here: isoscope's end of the helper's
  // socket must reach EOF in the helper when isoscope closes it.
  Raw(SYS_close_range, 0, ~0U, 0);
  if (!sent) Raw(SYS_kill, pid, SIGKILL);
  siginfo_t info;
  while (Raw(SYS_waitid, P_PID, pid, reinterpret_cast<int64_t>(&info),
             WEXITED) != 0 &&
         errno == EINTR) {
  }
  Raw(SYS_exit_group, 0);
  __builtin_unreachable();
}

// What a helper or keeper answered: the errno it sent (0: success, with
// `fd` when it passed one), or kLost.
struct Received {
  int error = 0;
  UniqueFd fd;
};
// Not an errno: the helper or keeper is gone, silent, or sent no answer of
// its kind.
constexpr int kLost = -1;

// Receives an answer on `socket`. Every descriptor that came is closed but
// one, which an answer of 0 may carry.
Received ReceiveAnswer(int socket) {
  Answer answer{};
  iovec iov{&answer, sizeof answer};
  // Room for more descriptors than an answer carries, so that extra ones
  // are received (and closed) rather than left to truncation.
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  std::vector<UniqueFd> fds;
  if (n >= 0) {
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS ||
          header->cmsg_len < CMSG_LEN(0)) {
        continue;
      }
      const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int received = -1;
        std::memcpy(&received, CMSG_DATA(header) + i * sizeof(int),
                    sizeof received);
        fds.emplace_back(received);
      }
    }
  }
  // Short, truncated or out of range: not an answer of the helper's.
  if (n != static_cast<ssize_t>(sizeof answer) ||
      (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || answer.error < 0 ||
      answer.error > 4095 || fds.size() > 1 ||
      (answer.error != 0 && !fds.empty())) {
    return Received{kLost, {}};
  }
  Received received{answer.error, {}};
  if (!fds.empty()) received.fd = std::move(fds.front());
  return received;
}

// The inodes of thread `tid`'s namespaces (kNamespaces), which identify
// them, or the errno.
tl::expected<std::array<uint64_t, kNamespaces.size()>, int> NamespacesOf(
    pid_t tid) {
  std::array<uint64_t, kNamespaces.size()> key{};
  // Following these links takes ptrace access to the thread, which the
  // calling thread may lack while it acts as the workload.
  ScopedOwnFsCredentials own;
  for (size_t i = 0; i < kNamespaces.size(); ++i) {
    struct stat st {};
    if (::stat(fmt::format("/proc/{}/ns/{}", tid, kNamespaces[i]).c_str(),
               &st) != 0) {
      return tl::unexpected(errno);
    }
    key[i] = st.st_ino;
  }
  return key;
}

}  // namespace

NamespacedOpener::NamespacedOpener(uid_t uid, gid_t gid,
                                   uint64_t effective_caps)
    : uid_(uid), gid_(gid), effective_caps_(effective_caps) {}

NamespacedOpener::~NamespacedOpener() {
  for (Helper& helper : helpers_) Stop(helper);
}

bool NamespacedOpener::DependsOnNamespaces(std::string_view path) {
  return IsWithin(path, "/proc/sys") || IsWithin(path, "/proc/sysvipc");
}

size_t NamespacedOpener::helpers() const {
  std::lock_guard lock(mutex_);
  return helpers_.size();
}

tl::expected<UniqueFd, int> NamespacedOpener::Open(pid_t tid,
                                                   const std::string& path,
                                                   uint64_t flags,
                                                   uint64_t mode,
                                                   uint64_t resolve) {
  if (path.size() >= PATH_MAX) return tl::unexpected(ENAMETOOLONG);
  std::lock_guard lock(mutex_);
  // A helper that died or stopped answering is replaced, and a thread that
  // changed namespaces while its helper started is looked at again: once
  // each, then the call fails with EIO.
  for (int attempt = 0; attempt < 3; ++attempt) {
    // The thread's namespaces now (it may have unshared since its last
    // call).
    auto key = NamespacesOf(tid);
    if (!key) return tl::unexpected(key.error());
    auto found = std::find_if(helpers_.begin(), helpers_.end(),
                              [&](const Helper& h) { return h.key == *key; });
    if (found == helpers_.end()) {
      auto started = Start(tid);
      if (!started) {
        // The thread is gone (its call fails anyway), or the helper could
        // not start: an I/O error for the workload, never isoscope's.
        return tl::unexpected(started.error() == ENOENT ||
                                      started.error() == ESRCH
                                  ? started.error()
                                  : EIO);
      }
      if (started->key != *key) {
        Stop(*started);
        continue;
      }
      if (helpers_.size() >= kMaxHelpers) {
        Stop(helpers_.front());
        helpers_.erase(helpers_.begin());
      }
      helpers_.push_back(*std::move(started));
      found = helpers_.end() - 1;
    }
    auto opened = Ask(*found, path, flags, mode, resolve);
    if (opened || opened.error() != kLost) return opened;
    Stop(*found);
    helpers_.erase(found);
  }
  return tl::unexpected(EIO);
}

tl::expected<NamespacedOpener::Helper, int> NamespacedOpener::Start(
    pid_t tid) const {
  const std::vector<sock_filter>* filter = HelperFilter();
  if (filter == nullptr) return tl::unexpected(ENOSYS);
  Helper helper;
  std::array<UniqueFd, kNamespaces.size()> namespaces;
  std::array<int, kNamespaces.size()> raw{};
  {
    ScopedOwnFsCredentials own;  // as in NamespacesOf
    for (size_t i = 0; i < kNamespaces.size(); ++i) {
      namespaces[i].Reset(
          ::open(fmt::format("/proc/{}/ns/{}", tid, kNamespaces[i]).c_str(),
                 O_RDONLY | O_CLOEXEC));
      struct stat st {};
      if (!namespaces[i] || ::fstat(namespaces[i].get(), &st) != 0) {
        return tl::unexpected(errno);
      }
      helper.key[i] = st.st_ino;
      raw[i] = namespaces[i].get();
    }
  }
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return tl::unexpected(errno);
  }
  helper.socket.Reset(ends[0]);
  UniqueFd helper_end(ends[1]);
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return tl::unexpected(errno);
  }
  UniqueFd report(ends[0]);
  UniqueFd report_end(ends[1]);
  for (int fd : {helper.socket.get(), report.get()}) {
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &kAnswerTimeout,
                     sizeof kAnswerTimeout) != 0) {
      return tl::unexpected(errno);
    }
  }
  const HelperStart start{raw.data(),
                          helper_end.get(),
                          report_end.get(),
                          uid_,
                          gid_,
                          effective_caps_,
                          filter};
  helper.keeper = ::fork();
  if (helper.keeper < 0) return tl::unexpected(errno);
  if (helper.keeper == 0) Keep(start);
  helper_end.Reset();
  report_end.Reset();
  // The keeper's answer: the helper's pidfd, or why it failed. Closing the
  // report channel then makes a keeper that had not answered yet kill its
  // helper and end.
  Received pidfd = ReceiveAnswer(report.get());
  report.Reset();
  if (pidfd.error != 0 || !pidfd.fd) {
    Stop(helper);
    return tl::unexpected(pidfd.error > 0 ? pidfd.error : EIO);
  }
  helper.pidfd = std::move(pidfd.fd);
  // The helper's own answer: confined and listening, or why not.
  if (Received ready = ReceiveAnswer(helper.socket.get()); ready.error != 0) {
    Stop(helper);
    return tl::unexpected(ready.error > 0 ? ready.error : EIO);
  }
  return helper;
}

void NamespacedOpener::Stop(Helper& helper) {
  // The helper reads EOF and ends; SIGKILL for one that does not read.
  helper.socket.Reset();
  if (helper.pidfd) {
    ::syscall(SYS_pidfd_send_signal, helper.pidfd.get(), SIGKILL, nullptr, 0);
    helper.pidfd.Reset();
  }
  // The keeper reaps its helper and ends. Never killed: a helper that
  // outlived its keeper would be adopted outside the workload's pid
  // namespace and hold that namespace's end until someone reaped it.
  if (helper.keeper > 0) {
    while (::waitpid(helper.keeper, nullptr, 0) < 0 && errno == EINTR) {
    }
    helper.keeper = 0;
  }
}

tl::expected<UniqueFd, int> NamespacedOpener::Ask(const Helper& helper,
                                                  const std::string& path,
                                                  uint64_t flags, uint64_t mode,
                                                  uint64_t resolve) {
  static thread_local Request request;
  request.flags = flags;
  request.mode = mode;
  request.resolve = resolve;
  std::memcpy(request.path, path.c_str(), path.size() + 1);
  const size_t size = offsetof(Request, path) + path.size() + 1;
  ssize_t sent;
  do {
    sent = ::send(helper.socket.get(), &request, size, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(size)) return tl::unexpected(kLost);
  Received answer = ReceiveAnswer(helper.socket.get());
  if (answer.error != 0) return tl::unexpected(answer.error);
  if (!answer.fd) return tl::unexpected(kLost);  // success without an fd
  return std::move(answer.fd);
}

}  // namespace isoscope
