#include "backends/process/checked_calls.h"

#include <fcntl.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>
#include <utime.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/process/tracee_memory.h"
#include "base/io.h"
#include "policies/decide.h"

// Linux 6.6; Debian 12's headers (6.1) lack it.
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

namespace isoscope {
namespace {

constexpr size_t kPathMax = PATH_MAX;

// The kernel's open flags as the x86-64 ABI numbers them (glibc defines
// O_LARGEFILE as 0 there, and O_TMPFILE includes O_DIRECTORY).
constexpr uint64_t kOLargefile = 0100000;
constexpr uint64_t kOTmpfile = 020000000;  // __O_TMPFILE
constexpr uint64_t kValidOpenFlags =
    O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
    O_SYNC | O_DSYNC | FASYNC | O_DIRECT | kOLargefile | O_DIRECTORY |
    O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | kOTmpfile;
constexpr uint64_t kOPathFlags = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
constexpr uint64_t kModeBits = 07777;  // S_IALLUGO

// Every path is looked up inside the workload's root. Paths were resolved
// before the decision (ResolveCheckedPaths), so a symlink met now was planted
// after it: refused (ELOOP), magic links included.
constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS;
// What the kernel follows at most in one lookup (MAXSYMLINKS).
constexpr int kMaxSymlinks = 40;
constexpr int64_t kProcSuperMagic = 0x9fa0;  // PROC_SUPER_MAGIC
constexpr uint64_t kKnownResolve = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS |
                                   RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH |
                                   RESOLVE_IN_ROOT | RESOLVE_CACHED;
// Relative to the workload's dirfd, which the decoded absolute path lost.
constexpr uint64_t kDirfdRelativeResolve =
    RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_NO_XDEV;

constexpr uint32_t kStatxReserved = 0x80000000U;  // STATX__RESERVED
// pidfd_open's flag for a thread (not thread-group) pidfd, Linux 6.9.
constexpr unsigned kPidfdThread = O_EXCL;

// A failure the workload sees as `error`, with the kernel's answer. The
// codebase's convention (syscall_paths.h): kInvalidArgument carries the
// workload's errno; PerformCheckedCall turns it into a kError outcome.
tl::unexpected<Error> WorkloadFails(int error) {
  return Fail(ErrorCode::kInvalidArgument, "the call fails", error);
}

tl::unexpected<Error> Internal(std::string message) {
  return Fail(ErrorCode::kInternal, std::move(message));
}

// A raw system call's result: errno on failure, retried on EINTR (these
// calls do nothing when interrupted; with O_NONBLOCK none of them waits).
template <typename... Args>
int64_t RawCall(int64_t number, Args... args) {
  int64_t rc;
  do {
    rc = ::syscall(number, args...);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

int Openat2(int dirfd, const char* path, uint64_t flags, uint64_t mode,
            uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  return static_cast<int>(RawCall(SYS_openat2, dirfd, path, &how, sizeof(how)));
}

// openat2 of `path` (absolute, normalised) from the workload's root, as
// thread `tid` would look it up: by the context's namespaced opener where
// the file depends on who looks. An fd, or -1 with errno set.
int LookUp(const CheckedCallContext& context, pid_t tid,
           const std::string& path, uint64_t flags, uint64_t mode,
           uint64_t resolve) {
  if (context.namespaced_opener != nullptr &&
      NamespacedOpener::DependsOnNamespaces(path)) {
    auto opened =
        context.namespaced_opener->Open(tid, path, flags, mode, resolve);
    if (!opened) {
      errno = opened.error();
      return -1;
    }
    return opened->Release();
  }
  return Openat2(context.root_fd, path.c_str(), flags, mode, resolve);
}

// Opens `path` (absolute, inside the root) for thread `tid`.
Result<UniqueFd> OpenInRoot(const CheckedCallContext& context, pid_t tid,
                            const std::string& path, uint64_t flags) {
  const int fd = LookUp(context, tid, path, flags | O_CLOEXEC, 0, kResolve);
  if (fd < 0) return WorkloadFails(errno);
  return UniqueFd(fd);
}

// --- the workload's side: memory, fds, umask --------------------------------

// Writes `length` bytes into the workload's buffer at `address`, as the
// kernel's copy_to_user would: page protection counts (a read-only buffer
// is EFAULT for the workload), which /proc/<pid>/mem would ignore.
Status WriteWorkloadBytes(pid_t tid, uint64_t address, const void* data,
                          size_t length) {
  if (address == 0 || address > UINT64_MAX - length) {
    return WorkloadFails(EFAULT);
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < length) {
    iovec local{const_cast<uint8_t*>(bytes + done), length - done};
    iovec remote{reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
                     static_cast<uintptr_t>(address + done)),
                 length - done};
    const ssize_t n = ::process_vm_writev(tid, &local, 1, &remote, 1, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EFAULT) return WorkloadFails(EFAULT);
      return FailErrno(fmt::format("process_vm_writev of thread {}", tid),
                       errno);
    }
    if (n == 0) return WorkloadFails(EFAULT);
    done += static_cast<size_t>(n);
  }
  return {};
}

// Thread `tid`'s umask (per fs_struct, so per thread without CLONE_FS).
Result<mode_t> WorkloadUmask(pid_t tid) {
  const std::string file = fmt::format("/proc/{}/status", tid);
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return FailErrno(fmt::format("open {}", file), errno);
  // "Umask:" is the second line, after a name of at most 64 escaped bytes.
  char buffer[1024];
  ssize_t n;
  do {
    n = ::read(fd.get(), buffer, sizeof(buffer) - 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return FailErrno(fmt::format("read {}", file), errno);
  buffer[n] = '\0';
  const char* line = std::strstr(buffer, "\nUmask:\t");
  if (line == nullptr) return Internal(fmt::format("no Umask: in {}", file));
  char* end = nullptr;
  const uint64_t value = std::strtoul(line + 8, &end, 8);
  if (end == line + 8 || value > 0777) {
    return Internal(fmt::format("bad Umask: in {}", file));
  }
  return static_cast<mode_t>(value);
}

// A pidfd of thread `tid`. A thread pidfd reaches the thread's own fd table
// (a thread made without CLONE_FILES has one) and makes pidfd_send_signal
// thread-directed; before Linux 6.9 only a leader's can be opened.
Result<UniqueFd> OpenThreadPidfd(pid_t tid) {
  UniqueFd pidfd(static_cast<int>(RawCall(SYS_pidfd_open, tid, kPidfdThread)));
  if (!pidfd && errno == EINVAL) {
    pidfd.Reset(static_cast<int>(RawCall(SYS_pidfd_open, tid, 0U)));
  }
  if (!pidfd) return FailErrno(fmt::format("pidfd_open {}", tid), errno);
  return pidfd;
}

// A duplicate of descriptor `fd` of thread `tid` (its `pidfd`).
Result<UniqueFd> DupThreadFd(const UniqueFd& pidfd, pid_t tid, int fd) {
  if (fd < 0) return WorkloadFails(EBADF);
  UniqueFd copy(
      static_cast<int>(RawCall(SYS_pidfd_getfd, pidfd.get(), fd, 0U)));
  if (!copy) {
    if (errno == EBADF) return WorkloadFails(EBADF);
    return FailErrno(fmt::format("pidfd_getfd {} of {}", fd, tid), errno);
  }
  return copy;
}

// A duplicate of what the workload's `dirfd` (its cwd for AT_FDCWD) names,
// for a call on "the fd itself"; `decided` is the path the policy saw, when
// it saw the fd's own path.
Result<UniqueFd> DupWorkloadFd(pid_t tid, int dirfd,
                               const std::optional<std::string>& decided) {
  UniqueFd fd;
  if (dirfd == AT_FDCWD) {
    const std::string cwd = fmt::format("/proc/{}/cwd", tid);
    fd.Reset(::open(cwd.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return FailErrno(fmt::format("open {}", cwd), errno);
  } else {
    if (dirfd < 0) return WorkloadFails(EBADF);
    auto pidfd = OpenThreadPidfd(tid);
    if (!pidfd) return tl::unexpected(std::move(pidfd).error());
    auto got = DupThreadFd(*pidfd, tid, dirfd);
    if (!got) return tl::unexpected(std::move(got).error());
    fd = std::move(*got);
  }
  if (!decided) return fd;
  // The fd table may have changed since the paths were decoded (a dup2 by
  // another thread): act only on the file the policy decided on.
  auto now = ReadLinkText(fmt::format("/proc/self/fd/{}", fd.get()));
  if (!now) return tl::unexpected(std::move(now).error());
  if (NormalizePath(*now) != *decided) return WorkloadFails(EBADF);
  return fd;
}

// --- the call being performed ---------------------------------------------

struct Call {
  const CheckedCallContext& context;
  pid_t tid;
  int number;
  const std::array<uint64_t, 6>& args;
  const DecodedPaths& paths;

  // The kernel takes int and unsigned arguments from the register's low half.
  int Int(size_t i) const {
    return static_cast<int32_t>(static_cast<uint32_t>(args[i]));
  }
  uint32_t U32(size_t i) const { return static_cast<uint32_t>(args[i]); }
  // umode_t is 16 bits.
  mode_t Mode(size_t i) const {
    return static_cast<mode_t>(static_cast<uint16_t>(args[i]));
  }
};

// A path argument, prepared before the workload's identity is taken on.
struct PathTarget {
  std::string path;  // the checked copy, when the argument is a name
  UniqueFd itself;   // the duplicated fd, when it names the fd itself
  bool names_fd = false;
  bool null = false;    // the fd itself given as a NULL pointer
  bool reopen = false;  // named through a magic link: opening reopens it
};

// A "NStgid:" or "NSpid:" line of /proc/<tid>/status: the ids from the
// outermost pid namespace (isoscope's) to the innermost (the workload's own).
// `innermost` picks the last one, otherwise the first.
Result<pid_t> ProcStatusId(pid_t tid, std::string_view key, bool innermost) {
  std::ifstream status(fmt::format("/proc/{}/status", tid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const std::string_view ids = std::string_view{line}.substr(key.size());
    const size_t first = ids.find_first_not_of(" \t");
    const size_t last_end = ids.find_last_not_of(" \t");
    if (first == std::string_view::npos) break;
    size_t begin = first;
    size_t end = ids.find_first_of(" \t", first);
    if (innermost) {
      begin = ids.find_last_of(" \t", last_end);
      begin = begin == std::string_view::npos ? first : begin + 1;
      end = last_end + 1;
    }
    if (end == std::string_view::npos) end = ids.size();
    pid_t id = 0;
    auto [ptr, ec] = std::from_chars(ids.data() + begin, ids.data() + end, id);
    if (ec != std::errc() || ptr != ids.data() + end || id <= 0) break;
    return id;
  }
  return Fail(ErrorCode::kSystem,
              fmt::format("no {} in /proc/{}/status", key, tid));
}

// The calling thread's process and thread directories as the workload's
// /proc names them ("/proc/<tgid>", "/proc/<tgid>/task/<tid>").
struct ProcSelf {
  std::string process;
  std::string thread;
};

// The caller's ProcSelf, read from /proc/<tid>/status only when a path
// needs it: most paths never touch /proc, and this is every checked call's
// path.
class LazyProcSelf {
 public:
  LazyProcSelf(pid_t tid, bool own_procfs) : tid_(tid), own_(own_procfs) {}
  Result<const ProcSelf*> Get();

 private:
  pid_t tid_;
  bool own_;
  std::optional<ProcSelf> value_;
};

Result<ProcSelf> ProcSelfOf(pid_t tid, bool own_procfs) {
  auto tgid = ProcStatusId(tid, "NStgid:", own_procfs);
  if (!tgid) return tl::unexpected(tgid.error());
  auto own = ProcStatusId(tid, "NSpid:", own_procfs);
  if (!own) return tl::unexpected(own.error());
  ProcSelf self;
  self.process = fmt::format("/proc/{}", *tgid);
  self.thread = fmt::format("{}/task/{}", self.process, *own);
  return self;
}

Result<const ProcSelf*> LazyProcSelf::Get() {
  if (!value_) {
    auto ids = ProcSelfOf(tid_, own_);
    if (!ids) return tl::unexpected(std::move(ids).error());
    value_ = *std::move(ids);
  }
  return &*value_;
}

// --- resolving a path before the decision -----------------------------------

std::vector<std::string> PathComponents(std::string_view path) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    if (end > begin) parts.emplace_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  return dir == "/" ? fmt::format("/{}", name)
                    : fmt::format("{}/{}", dir, name);
}

bool IsWithin(std::string_view path, std::string_view dir) {
  return path == dir || (path.size() > dir.size() && path.rfind(dir, 0) == 0 &&
                         path[dir.size()] == '/');
}

bool AllDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

// Walks one absolute, normalised path from the workload's root the way the
// kernel's lookup does, returning the path it reaches (see the header).
class PathWalk {
 public:
  PathWalk(const CheckedCallContext& context, pid_t tid, LazyProcSelf& self,
           uint64_t workload_resolve)
      : context_(context),
        tid_(tid),
        self_(self),
        workload_resolve_(workload_resolve) {}

  // `follow_final`: a symlink in the last component is followed.
  Result<std::string> Resolve(const std::string& path, bool follow_final) {
    // The common case in one lookup: nothing on the way is a symlink. Any
    // failure other than meeting one (ENOENT, ENOTDIR, ...) happens at the
    // same component for the call, before any symlink: the path is already
    // what it reaches.
    UniqueFd whole(LookUp(context_, tid_, path,
                          O_PATH | O_CLOEXEC | (follow_final ? 0 : O_NOFOLLOW),
                          0, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS));
    if (whole || errno != ELOOP) return path;
    return Walk(path, follow_final);
  }

  // Set when the path was a magic link to the calling process's descriptor
  // whose file has no path: its number.
  std::optional<int> reopened_fd() const { return reopened_fd_; }

 private:
  Result<std::string> Walk(const std::string& path, bool follow_final) {
    std::deque<std::string> pending;
    for (std::string& part : PathComponents(path)) {
      pending.push_back(std::move(part));
    }
    std::string current = "/";
    int links = 0;
    while (!pending.empty()) {
      std::string name = std::move(pending.front());
      pending.pop_front();
      if (name == ".") continue;
      if (name == "..") {
        // `current` holds no symlink, so its parent is its lexical parent.
        const size_t slash = current.rfind('/');
        current = slash == 0 ? "/" : current.substr(0, slash);
        continue;
      }
      const bool last = pending.empty();
      // /proc/self and /proc/thread-self are symlinks the kernel resolves
      // for the caller: the workload's thread, not isoscope.
      if (current == "/proc" && (name == "self" || name == "thread-self") &&
          (workload_resolve_ & RESOLVE_NO_SYMLINKS) == 0) {
        auto self = self_.Get();
        if (!self) return tl::unexpected(std::move(self).error());
        GoOnWith(pending, name == "self" ? (*self)->process : (*self)->thread);
        current = "/";
        continue;
      }
      const std::string here = JoinPath(current, name);
      UniqueFd fd(LookUp(context_, tid_, here, O_PATH | O_NOFOLLOW | O_CLOEXEC,
                         0, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS));
      struct stat st {};
      if (!fd ||
          RawCall(SYS_newfstatat, fd.get(), "", &st, AT_EMPTY_PATH) != 0 ||
          !S_ISLNK(st.st_mode) || (last && !follow_final)) {
        // Not a symlink, or where the lookup stops (missing, not a
        // directory): the rest is taken as named, as the call will.
        current = here;
        continue;
      }
      if (++links > kMaxSymlinks ||
          (workload_resolve_ & RESOLVE_NO_SYMLINKS) != 0) {
        return WorkloadFails(ELOOP);
      }
      auto target = LinkText(fd.get());
      if (!target) return tl::unexpected(std::move(target).error());
      struct statfs fs {};
      const bool on_proc = ::fstatfs(fd.get(), &fs) == 0 &&
                           static_cast<int64_t>(fs.f_type) == kProcSuperMagic;
      // procfs's own symlinks (self, thread-self, mounts, net) hold a
      // relative path; a magic link an absolute one or "type:[inode]".
      if (on_proc && (target->empty() || target->front() == '/' ||
                      target->find(':') != std::string::npos)) {
        auto next = MagicLink(current, name, *target, last);
        if (!next) return tl::unexpected(std::move(next).error());
        if (!*next) return here;  // the workload's own open file
        current = "/";
        GoOnWith(pending, **next);
        continue;
      }
      if (target->empty()) return WorkloadFails(ENOENT);
      if (target->front() == '/') current = "/";
      GoOnWith(pending, *target);
    }
    return current;
  }

  // Puts the components of `path` before what is left to walk.
  static void GoOnWith(std::deque<std::string>& pending,
                       std::string_view path) {
    std::vector<std::string> parts = PathComponents(path);
    pending.insert(pending.begin(), std::make_move_iterator(parts.begin()),
                   std::make_move_iterator(parts.end()));
  }

  // The link text of the symlink open as O_PATH fd `fd`.
  static Result<std::string> LinkText(int fd) {
    std::string text(kPathMax + 1, '\0');
    const int64_t n = RawCall(SYS_readlinkat, fd, "", text.data(), text.size());
    if (n < 0) return FailErrno("readlinkat of a symlink on the path", errno);
    text.resize(static_cast<size_t>(n));
    return text;
  }

  // Magic link `name` in directory `dir` with target text `target`: the path
  // to go on with, or nullopt for the workload's own open file (fd/N).
  Result<std::optional<std::string>> MagicLink(const std::string& dir,
                                               const std::string& name,
                                               const std::string& target,
                                               bool last) {
    if ((workload_resolve_ & RESOLVE_NO_MAGICLINKS) != 0) {
      return WorkloadFails(ELOOP);
    }
    auto self = self_.Get();
    if (!self) return tl::unexpected(std::move(self).error());
    if (!IsWithin(dir, (*self)->process)) return WorkloadFails(EACCES);
    constexpr std::string_view kDeleted = " (deleted)";
    const bool is_path = !target.empty() && target.front() == '/' &&
                         !(target.size() >= kDeleted.size() &&
                           target.compare(target.size() - kDeleted.size(),
                                          kDeleted.size(), kDeleted) == 0);
    if (context_.magic_links_are_paths && is_path) {
      return std::optional<std::string>(target);
    }
    const size_t slash = dir.rfind('/');
    if (last && dir.substr(slash + 1) == "fd" && AllDigits(name)) {
      int number = 0;
      auto [ptr, ec] =
          std::from_chars(name.data(), name.data() + name.size(), number);
      if (ec == std::errc() && ptr == name.data() + name.size()) {
        reopened_fd_ = number;
        return std::optional<std::string>();
      }
    }
    return WorkloadFails(ELOOP);
  }

  const CheckedCallContext& context_;
  pid_t tid_;
  LazyProcSelf& self_;
  uint64_t workload_resolve_;
  std::optional<int> reopened_fd_;
};

// The policy sees the calling process's own /proc directory as /proc/self.
std::string AsDecided(const std::string& path, const ProcSelf& self) {
  if (!IsWithin(path, self.process)) return path;
  return "/proc/self" + path.substr(self.process.size());
}

// Path argument `i` of the decoded call; `dirfd_index` -1 for calls without
// a dirfd.
Result<PathTarget> PrepareTarget(const Call& call, size_t i, int dirfd_index) {
  if (i >= call.paths.paths.size() || i >= call.paths.kernel_copies.size()) {
    return Internal(
        fmt::format("syscall {}: no decoded path {}", call.number, i));
  }
  PathTarget target;
  const std::optional<std::string>& copy = call.paths.kernel_copies[i];
  if (copy && !copy->empty()) {
    if (copy->front() != '/') {
      return Internal(fmt::format("syscall {}: decoded path '{}' is relative",
                                  call.number, *copy));
    }
    target.path = *copy;
    return target;
  }
  target.names_fd = true;
  target.null = !copy.has_value();
  const std::optional<int> reopened = i < call.paths.reopened_fds.size()
                                          ? call.paths.reopened_fds[i]
                                          : std::nullopt;
  if (reopened) {
    // A magic link to the workload's own descriptor: that open file, if fd
    // N still holds the one resolved (the policy decided on its /proc name).
    auto fd = DupWorkloadFd(call.tid, *reopened, std::nullopt);
    if (!fd) return tl::unexpected(std::move(fd).error());
    target.itself = *std::move(fd);
    target.reopen = true;
    return target;
  }
  const int dirfd =
      dirfd_index < 0 ? AT_FDCWD : call.Int(static_cast<size_t>(dirfd_index));
  auto fd = DupWorkloadFd(call.tid, dirfd, call.paths.paths[i].path);
  if (!fd) return tl::unexpected(std::move(fd).error());
  target.itself = *std::move(fd);
  return target;
}

// Under the workload's identity: an fd on the target (O_PATH for names).
Result<UniqueFd> OpenTarget(const Call& call, PathTarget& target, bool follow) {
  if (target.names_fd) return std::move(target.itself);
  return OpenInRoot(call.context, call.tid, target.path,
                    O_PATH | (follow ? 0 : O_NOFOLLOW));
}

// The directory holding a path's last component, and that component (with
// the path's trailing '/', which makes the kernel require a directory).
struct ParentAndName {
  UniqueFd dir;
  std::string name;
};

// `at_root_errno`: what the kernel answers when the path is "/" itself
// (its last component is the root: nothing to create, remove or rename).
Result<ParentAndName> OpenParent(const Call& call, const PathTarget& target,
                                 int at_root_errno) {
  if (target.names_fd) return WorkloadFails(ENOENT);  // decoder refuses ""
  const std::string& path = target.path;
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  if (end <= 1) return WorkloadFails(at_root_errno);
  const size_t slash = path.rfind('/', end - 1);
  const std::string dir = slash == 0 ? std::string("/") : path.substr(0, slash);
  std::string name = path.substr(slash + 1);
  // Decoded paths are normalised; a "." or ".." here would act on a
  // directory other than the named one (above the root, for "/..").
  const std::string_view bare =
      std::string_view{name}.substr(0, end - slash - 1);
  if (bare == "." || bare == "..") {
    return Internal(fmt::format("syscall {}: path '{}' is not normalised",
                                call.number, path));
  }
  auto fd = OpenInRoot(call.context, call.tid, dir, O_PATH | O_DIRECTORY);
  if (!fd) return tl::unexpected(std::move(fd).error());
  return ParentAndName{*std::move(fd), std::move(name)};
}

// Sets the process's umask for a scope. umask is per fs_struct, shared by
// the supervisor's threads: kept as short as the one call.
class ScopedUmask {
 public:
  explicit ScopedUmask(std::optional<mode_t> mask)
      : active_(mask.has_value()), saved_(active_ ? ::umask(*mask) : 0) {}
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;
  ~ScopedUmask() {
    if (active_) ::umask(saved_);
  }

 private:
  bool active_;
  mode_t saved_;
};

// Runs `body` with the workload's filesystem identity (and its umask when
// the call `creates` files), and puts isoscope's back whatever happened.
template <typename Body>
Result<CheckedCallOutcome> AsWorkload(const Call& call, bool creates,
                                      Body&& body) {
  std::optional<mode_t> mask;
  if (creates) {
    auto read = WorkloadUmask(call.tid);
    if (!read) return tl::unexpected(std::move(read).error());
    mask = *read;
  }
  ScopedFsCredentials credentials;
  if (Status entered = credentials.Enter(call.context.uid, call.context.gid,
                                         call.context.effective_caps);
      !entered) {
    return tl::unexpected(std::move(entered).error());
  }
  Result<CheckedCallOutcome> result = [&] {
    ScopedUmask umask(mask);
    return body();
  }();
  if (Status restored = credentials.Restore(); !restored) {
    return tl::unexpected(std::move(restored).error());
  }
  return result;
}

Result<CheckedCallOutcome> ZeroOrErrno(int64_t rc) {
  if (rc < 0) return WorkloadFails(errno);
  return CheckedCallOutcome::Value(0);
}

// --- open family -------------------------------------------------------------

Result<CheckedCallOutcome> Open(const Call& call, uint64_t flags, uint64_t mode,
                                uint64_t workload_resolve) {
  auto target = PrepareTarget(call, 0, -1);
  if (!target) return tl::unexpected(std::move(target).error());
  if (target->names_fd && !target->reopen) return WorkloadFails(ENOENT);
  const unsigned newfd_flags = (flags & O_CLOEXEC) != 0 ? O_CLOEXEC : 0;
  // O_NONBLOCK keeps the supervisor from waiting in open(2) on a FIFO or a
  // device; O_PATH allows no other flag.
  const bool add_nonblock = (flags & (O_PATH | O_NONBLOCK)) == 0;
  const uint64_t our_flags = (flags & ~uint64_t{O_CLOEXEC}) | O_CLOEXEC |
                             (add_nonblock ? O_NONBLOCK : 0);
  const bool creates = (flags & (O_CREAT | kOTmpfile)) != 0;
  return AsWorkload(call, creates, [&]() -> Result<CheckedCallOutcome> {
    UniqueFd fd;
    if (target->reopen) {
      // As the kernel reopens /proc/<pid>/fd/N: the same file, with the
      // permission checks of a new open (isoscope's own magic link to its
      // duplicate, never the workload's).
      const std::string self =
          fmt::format("/proc/self/fd/{}", target->itself.get());
      fd.Reset(
          Openat2(AT_FDCWD, self.c_str(), our_flags, mode, workload_resolve));
    } else {
      fd.Reset(LookUp(call.context, call.tid, target->path, our_flags, mode,
                      kResolve | workload_resolve));
    }
    if (!fd) return WorkloadFails(errno);
    if (add_nonblock) {
      const int status = ::fcntl(fd.get(), F_GETFL);
      if (status < 0 || ::fcntl(fd.get(), F_SETFL, status & ~O_NONBLOCK) != 0) {
        return FailErrno("clearing O_NONBLOCK", errno);
      }
    }
    return CheckedCallOutcome::InstallFd(std::move(fd), newfd_flags);
  });
}

// open, openat, creat: the kernel's build_open_how: unknown flags and mode
// bits are dropped, O_PATH keeps only its own flags, and a mode only counts
// for calls that create.
Result<CheckedCallOutcome> OpenLegacy(const Call& call, uint32_t raw_flags,
                                      mode_t raw_mode) {
  uint64_t flags = (raw_flags & kValidOpenFlags) | kOLargefile;
  if ((flags & O_PATH) != 0) flags &= kOPathFlags;
  const bool creates = (flags & (O_CREAT | kOTmpfile)) != 0;
  const uint64_t mode = creates ? (raw_mode & kModeBits) : 0;
  return Open(call, flags, mode, 0);
}

Result<CheckedCallOutcome> OpenAt2(const Call& call) {
  const std::vector<uint8_t>& how = call.paths.open_how;
  if (how.size() < 3 * sizeof(uint64_t)) {
    return Internal("openat2: open_how was not decoded");
  }
  uint64_t fields[3];
  std::memcpy(fields, how.data(), sizeof(fields));
  const uint64_t resolve = fields[2];
  if ((resolve & ~kKnownResolve) != 0 ||
      (resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) ==
          (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) {
    return WorkloadFails(EINVAL);
  }
  if ((resolve & kDirfdRelativeResolve) != 0) return WorkloadFails(ENOSYS);
  // Flags and mode go to the kernel as they are: openat2 validates them
  // strictly, and the workload must see its verdict.
  return Open(call, fields[0], fields[1], resolve);
}

// --- looking at an inode ---------------------------------------------------

Result<CheckedCallOutcome> Stat(const Call& call, int dirfd_index,
                                size_t buffer_index, bool follow) {
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  struct stat st {};
  auto outcome = AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, follow);
    if (!fd) return tl::unexpected(std::move(fd).error());
    return ZeroOrErrno(
        RawCall(SYS_newfstatat, fd->get(), "", &st, AT_EMPTY_PATH));
  });
  if (!outcome) return outcome;
  if (Status written = WriteWorkloadBytes(call.tid, call.args[buffer_index],
                                          &st, sizeof(st));
      !written) {
    return tl::unexpected(std::move(written).error());
  }
  return outcome;
}

Result<CheckedCallOutcome> NewFstatAt(const Call& call) {
  const int flags = call.Int(3);
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH |
                 AT_STATX_SYNC_TYPE)) != 0) {
    return WorkloadFails(EINVAL);
  }
  return Stat(call, 0, 2, (flags & AT_SYMLINK_NOFOLLOW) == 0);
}

Result<CheckedCallOutcome> Statx(const Call& call) {
  const int flags = call.Int(2);
  const uint32_t mask = call.U32(3);
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH |
                 AT_STATX_SYNC_TYPE)) != 0 ||
      (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
      (mask & kStatxReserved) != 0) {
    return WorkloadFails(EINVAL);
  }
  auto target = PrepareTarget(call, 0, 0);
  if (!target) return tl::unexpected(std::move(target).error());
  struct statx stx {};
  auto outcome = AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!fd) return tl::unexpected(std::move(fd).error());
    const int our_flags =
        (flags & (AT_STATX_SYNC_TYPE | AT_NO_AUTOMOUNT)) | AT_EMPTY_PATH;
    return ZeroOrErrno(
        RawCall(SYS_statx, fd->get(), "", our_flags, mask, &stx));
  });
  if (!outcome) return outcome;
  if (Status written =
          WriteWorkloadBytes(call.tid, call.args[4], &stx, sizeof(stx));
      !written) {
    return tl::unexpected(std::move(written).error());
  }
  return outcome;
}

// access checks with the ids given (AT_EACCESS): without it the kernel
// would use isoscope's real uid, root.
Result<CheckedCallOutcome> Access(const Call& call, int dirfd_index,
                                  size_t mode_index, int flags) {
  const int mode = call.Int(mode_index);
  if ((mode & ~S_IRWXO) != 0 ||
      (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH)) != 0) {
    return WorkloadFails(EINVAL);
  }
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!fd) return tl::unexpected(std::move(fd).error());
    return ZeroOrErrno(RawCall(SYS_faccessat2, fd->get(), "", mode,
                               AT_EMPTY_PATH | AT_EACCESS));
  });
}

Result<CheckedCallOutcome> ReadLink(const Call& call, int dirfd_index,
                                    size_t buffer_index, size_t size_index) {
  const int size = call.Int(size_index);
  if (size <= 0) return WorkloadFails(EINVAL);
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  std::string text(kPathMax, '\0');
  auto outcome = AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, /*follow=*/false);
    if (!fd) return tl::unexpected(std::move(fd).error());
    struct stat st {};
    if (RawCall(SYS_newfstatat, fd->get(), "", &st, AT_EMPTY_PATH) != 0) {
      return WorkloadFails(errno);
    }
    // readlinkat(fd, "") on something else says ENOENT, a name EINVAL.
    if (!S_ISLNK(st.st_mode)) {
      return WorkloadFails(target->names_fd ? ENOENT : EINVAL);
    }
    const int64_t n =
        RawCall(SYS_readlinkat, fd->get(), "", text.data(), text.size());
    if (n < 0) return WorkloadFails(errno);
    return CheckedCallOutcome::Value(std::min<int64_t>(n, size));
  });
  if (!outcome) return outcome;
  if (Status written =
          WriteWorkloadBytes(call.tid, call.args[buffer_index], text.data(),
                             static_cast<size_t>(outcome->value));
      !written) {
    return tl::unexpected(std::move(written).error());
  }
  return outcome;
}

// --- changing an inode -----------------------------------------------------

Result<CheckedCallOutcome> Chmod(const Call& call, int dirfd_index,
                                 size_t mode_index, int flags) {
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) {
    return WorkloadFails(EINVAL);
  }
  const mode_t mode = call.Mode(mode_index);
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!fd) return tl::unexpected(std::move(fd).error());
    int64_t rc = RawCall(SYS_fchmodat2, fd->get(), "", mode, AT_EMPTY_PATH);
    if (rc < 0 && errno == ENOSYS) {
      const std::string self = fmt::format("/proc/self/fd/{}", fd->get());
      rc = RawCall(SYS_chmod, self.c_str(), mode);
    }
    return ZeroOrErrno(rc);
  });
}

Result<CheckedCallOutcome> Chown(const Call& call, int dirfd_index,
                                 size_t owner_index, int flags) {
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) {
    return WorkloadFails(EINVAL);
  }
  const uint32_t owner = call.U32(owner_index);
  const uint32_t group = call.U32(owner_index + 1);
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!fd) return tl::unexpected(std::move(fd).error());
    return ZeroOrErrno(
        RawCall(SYS_fchownat, fd->get(), "", owner, group, AT_EMPTY_PATH));
  });
}

Result<CheckedCallOutcome> Truncate(const Call& call) {
  const auto length = static_cast<int64_t>(call.args[1]);
  if (length < 0) return WorkloadFails(EINVAL);
  auto target = PrepareTarget(call, 0, -1);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, /*follow=*/true);
    if (!fd) return tl::unexpected(std::move(fd).error());
    // An O_PATH fd cannot be ftruncate'd; truncate(2) through our own fd's
    // magic link acts on the same inode with truncate's own checks.
    const std::string self = fmt::format("/proc/self/fd/{}", fd->get());
    return ZeroOrErrno(RawCall(SYS_truncate, self.c_str(), length));
  });
}

// utimensat and the older forms converted to it. `times` nullopt: now.
Result<CheckedCallOutcome> SetTimes(
    const Call& call, int dirfd_index,
    std::optional<std::array<timespec, 2>> times, int flags) {
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) {
    return WorkloadFails(EINVAL);
  }
  // "Nothing to do, we must not even check the path" (fs/utimes.c).
  if (times && (*times)[0].tv_nsec == UTIME_OMIT &&
      (*times)[1].tv_nsec == UTIME_OMIT) {
    return CheckedCallOutcome::Value(0);
  }
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  const timespec* ts = times ? times->data() : nullptr;
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    const bool null = target->null;
    auto fd = OpenTarget(call, *target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!fd) return tl::unexpected(std::move(fd).error());
    // A NULL path acts on the open file (flags must then be 0, and an
    // O_PATH fd is EBADF), exactly as the workload's call would.
    if (null) {
      return ZeroOrErrno(RawCall(SYS_utimensat, fd->get(), nullptr, ts, flags));
    }
    return ZeroOrErrno(
        RawCall(SYS_utimensat, fd->get(), "", ts, AT_EMPTY_PATH));
  });
}

Result<CheckedCallOutcome> UtimensAt(const Call& call) {
  std::optional<std::array<timespec, 2>> times;
  if (call.args[2] != 0) {
    auto bytes = ReadTraceeBytes(call.tid, call.args[2], 2 * sizeof(timespec));
    if (!bytes) return tl::unexpected(std::move(bytes).error());
    times.emplace();
    std::memcpy(times->data(), bytes->data(), bytes->size());
  }
  return SetTimes(call, 0, times, call.Int(3));
}

// utimes, futimesat: struct timeval[2], microseconds checked before lookup.
Result<CheckedCallOutcome> Utimes(const Call& call, int dirfd_index,
                                  size_t times_index) {
  std::optional<std::array<timespec, 2>> times;
  if (call.args[times_index] != 0) {
    auto bytes =
        ReadTraceeBytes(call.tid, call.args[times_index], 2 * sizeof(timeval));
    if (!bytes) return tl::unexpected(std::move(bytes).error());
    timeval tv[2];
    std::memcpy(tv, bytes->data(), sizeof(tv));
    times.emplace();
    for (size_t i = 0; i < 2; ++i) {
      if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000) {
        return WorkloadFails(EINVAL);
      }
      (*times)[i] = timespec{tv[i].tv_sec, tv[i].tv_usec * 1000};
    }
  }
  return SetTimes(call, dirfd_index, times, 0);
}

Result<CheckedCallOutcome> Utime(const Call& call) {
  std::optional<std::array<timespec, 2>> times;
  if (call.args[1] != 0) {
    auto bytes = ReadTraceeBytes(call.tid, call.args[1], sizeof(utimbuf));
    if (!bytes) return tl::unexpected(std::move(bytes).error());
    utimbuf buf{};
    std::memcpy(&buf, bytes->data(), sizeof(buf));
    times = std::array<timespec, 2>{timespec{buf.actime, 0},
                                    timespec{buf.modtime, 0}};
  }
  return SetTimes(call, -1, times, 0);
}

// --- calls with no form that takes an O_PATH descriptor ---------------------

// A name in isoscope's own namespace for exactly the inode a path target
// reached, for calls that take only a path (the xattr family,
// inotify_add_watch): "/proc/self/fd/N" of the O_PATH fd, whose magic link
// the call follows to that inode; for a final symlink the call must not
// follow, "/proc/self/fd/D/name" of its parent (the name looked up again
// in the directory the policy decided on). Made as the workload.
struct InodeName {
  UniqueFd fd;
  std::string path;
  bool follow = true;  // the call must follow `path`'s last component
};

Result<InodeName> NameInode(const Call& call, PathTarget& target, bool follow) {
  auto fd = OpenTarget(call, target, follow);
  if (!fd) return tl::unexpected(std::move(fd).error());
  struct stat st {};
  if (!follow &&
      RawCall(SYS_newfstatat, fd->get(), "", &st, AT_EMPTY_PATH) != 0) {
    return WorkloadFails(errno);
  }
  if (follow || !S_ISLNK(st.st_mode)) {
    std::string path = fmt::format("/proc/self/fd/{}", fd->get());
    return InodeName{*std::move(fd), std::move(path), true};
  }
  auto parent = OpenParent(call, target, EINVAL);
  if (!parent) return tl::unexpected(std::move(parent).error());
  std::string path =
      fmt::format("/proc/self/fd/{}/{}", parent->dir.get(), parent->name);
  return InodeName{std::move(parent->dir), std::move(path), false};
}

// getxattr, lgetxattr (`follow` false), listxattr, llistxattr (no
// `name_index`): the value or list read as the workload, at most the
// kernel's limit (XATTR_SIZE_MAX, XATTR_LIST_MAX: a larger size is taken as
// the limit, as the kernel does), written into its buffer.
Result<CheckedCallOutcome> ReadXattr(const Call& call,
                                     std::optional<size_t> name_index,
                                     bool follow) {
  std::string name;
  if (name_index) {
    // strncpy_from_user of at most XATTR_NAME_MAX + 1 bytes: an empty name
    // or one without a NUL in them is ERANGE.
    auto read =
        ReadTraceeString(call.tid, call.args[*name_index], XATTR_NAME_MAX + 1);
    if (!read) {
      if (read.error().sys_errno() == ENAMETOOLONG) {
        return WorkloadFails(ERANGE);
      }
      return tl::unexpected(std::move(read).error());
    }
    if (read->empty()) return WorkloadFails(ERANGE);
    name = *std::move(read);
  }
  const size_t buffer_index = name_index ? 2 : 1;
  const size_t size_index = buffer_index + 1;
  // The kernel's limit for a value (XATTR_SIZE_MAX) and for a list
  // (XATTR_LIST_MAX) is the same 64 KiB.
  static_assert(XATTR_SIZE_MAX == XATTR_LIST_MAX);
  const size_t size = std::min<uint64_t>(call.args[size_index], XATTR_SIZE_MAX);
  std::vector<char> buffer(size);
  auto target = PrepareTarget(call, 0, -1);
  if (!target) return tl::unexpected(std::move(target).error());
  auto outcome = AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto inode = NameInode(call, *target, follow);
    if (!inode) return tl::unexpected(std::move(inode).error());
    char* data = size == 0 ? nullptr : buffer.data();
    const int64_t rc =
        name_index ? RawCall(inode->follow ? SYS_getxattr : SYS_lgetxattr,
                             inode->path.c_str(), name.c_str(), data, size)
                   : RawCall(inode->follow ? SYS_listxattr : SYS_llistxattr,
                             inode->path.c_str(), data, size);
    if (rc < 0) return WorkloadFails(errno);
    return CheckedCallOutcome::Value(rc);
  });
  if (!outcome || size == 0 ||
      outcome->kind != CheckedCallOutcome::Kind::kValue) {
    return outcome;
  }
  const auto length = static_cast<size_t>(outcome->value);
  if (length > size) return Internal("an xattr call returned more than asked");
  if (length > 0) {
    if (Status written = WriteWorkloadBytes(call.tid, call.args[buffer_index],
                                            buffer.data(), length);
        !written) {
      return tl::unexpected(std::move(written).error());
    }
  }
  return outcome;
}

Result<CheckedCallOutcome> Statfs(const Call& call) {
  auto target = PrepareTarget(call, 0, -1);
  if (!target) return tl::unexpected(std::move(target).error());
  struct statfs fs {};
  auto outcome = AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto fd = OpenTarget(call, *target, /*follow=*/true);
    if (!fd) return tl::unexpected(std::move(fd).error());
    return ZeroOrErrno(RawCall(SYS_fstatfs, fd->get(), &fs));
  });
  if (!outcome) return outcome;
  if (Status written =
          WriteWorkloadBytes(call.tid, call.args[1], &fs, sizeof(fs));
      !written) {
    return tl::unexpected(std::move(written).error());
  }
  return outcome;
}

// inotify_add_watch on a duplicate of the workload's inotify descriptor
// (the same open file, so the watch and its number are the workload's),
// as the workload: the kernel checks its read permission on the inode.
Result<CheckedCallOutcome> InotifyAddWatch(const Call& call) {
  const uint32_t mask = call.U32(2);
  auto inotify = DupWorkloadFd(call.tid, call.Int(0), std::nullopt);
  if (!inotify) return tl::unexpected(std::move(inotify).error());
  auto target = PrepareTarget(call, 0, -1);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto inode = NameInode(call, *target, (mask & IN_DONT_FOLLOW) == 0);
    if (!inode) return tl::unexpected(std::move(inode).error());
    // Through our fd's magic link the call must follow it; a symlink
    // watched itself is named in its directory, not followed.
    const uint32_t our_mask =
        inode->follow ? (mask & ~uint32_t{IN_DONT_FOLLOW}) : mask;
    const int64_t rc = RawCall(SYS_inotify_add_watch, inotify->get(),
                               inode->path.c_str(), our_mask);
    if (rc < 0) return WorkloadFails(errno);
    return CheckedCallOutcome::Value(rc);
  });
}

// --- changing a directory's names --------------------------------------------

Result<CheckedCallOutcome> Mkdir(const Call& call, int dirfd_index,
                                 size_t mode_index) {
  const mode_t mode = call.Mode(mode_index);
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, true, [&]() -> Result<CheckedCallOutcome> {
    auto parent = OpenParent(call, *target, EEXIST);
    if (!parent) return tl::unexpected(std::move(parent).error());
    return ZeroOrErrno(
        RawCall(SYS_mkdirat, parent->dir.get(), parent->name.c_str(), mode));
  });
}

Result<CheckedCallOutcome> Mknod(const Call& call, int dirfd_index,
                                 size_t mode_index) {
  const mode_t mode = call.Mode(mode_index);
  switch (mode & S_IFMT) {
    case 0:
    case S_IFREG:
    case S_IFIFO:
    case S_IFSOCK:
    case S_IFCHR:
    case S_IFBLK:
      break;
    case S_IFDIR:
      return WorkloadFails(EPERM);
    default:
      return WorkloadFails(EINVAL);
  }
  const bool device = S_ISCHR(mode) || S_ISBLK(mode);
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, true, [&]() -> Result<CheckedCallOutcome> {
    auto parent = OpenParent(call, *target, EEXIST);
    if (!parent) return tl::unexpected(std::move(parent).error());
    // No device nodes, whatever the workload holds: a container's devices
    // are the ones isoscope puts in its /dev.
    if (device) return WorkloadFails(EPERM);
    return ZeroOrErrno(RawCall(SYS_mknodat, parent->dir.get(),
                               parent->name.c_str(), mode, 0U));
  });
}

Result<CheckedCallOutcome> Unlink(const Call& call, int dirfd_index,
                                  int flags) {
  if ((flags & ~AT_REMOVEDIR) != 0) return WorkloadFails(EINVAL);
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto parent =
        OpenParent(call, *target, (flags & AT_REMOVEDIR) != 0 ? EBUSY : EISDIR);
    if (!parent) return tl::unexpected(std::move(parent).error());
    return ZeroOrErrno(
        RawCall(SYS_unlinkat, parent->dir.get(), parent->name.c_str(), flags));
  });
}

Result<CheckedCallOutcome> Rename(const Call& call, int old_dirfd_index,
                                  int new_dirfd_index, unsigned flags) {
  constexpr unsigned kKnown =
      RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT;
  if ((flags & ~kKnown) != 0 ||
      ((flags & RENAME_EXCHANGE) != 0 &&
       (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) != 0)) {
    return WorkloadFails(EINVAL);
  }
  auto old_target = PrepareTarget(call, 0, old_dirfd_index);
  if (!old_target) return tl::unexpected(std::move(old_target).error());
  auto new_target = PrepareTarget(call, 1, new_dirfd_index);
  if (!new_target) return tl::unexpected(std::move(new_target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto from = OpenParent(call, *old_target, EBUSY);
    if (!from) return tl::unexpected(std::move(from).error());
    auto to = OpenParent(call, *new_target, EBUSY);
    if (!to) return tl::unexpected(std::move(to).error());
    return ZeroOrErrno(RawCall(SYS_renameat2, from->dir.get(),
                               from->name.c_str(), to->dir.get(),
                               to->name.c_str(), flags));
  });
}

Result<CheckedCallOutcome> Link(const Call& call, int old_dirfd_index,
                                int new_dirfd_index, int flags) {
  if ((flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) != 0) {
    return WorkloadFails(EINVAL);
  }
  auto old_target = PrepareTarget(call, 0, old_dirfd_index);
  if (!old_target) return tl::unexpected(std::move(old_target).error());
  auto new_target = PrepareTarget(call, 1, new_dirfd_index);
  if (!new_target) return tl::unexpected(std::move(new_target).error());
  const bool old_is_fd = old_target->names_fd;
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    // The old path is looked up first, whole, following a final symlink
    // only with AT_SYMLINK_FOLLOW.
    auto from = OpenTarget(call, *old_target, (flags & AT_SYMLINK_FOLLOW) != 0);
    if (!from) return tl::unexpected(std::move(from).error());
    auto to = OpenParent(call, *new_target, EEXIST);
    if (!to) return tl::unexpected(std::move(to).error());
    if (old_is_fd) {
      // AT_EMPTY_PATH as the workload asked: the kernel applies its own
      // rule for it (CAP_DAC_READ_SEARCH) to the workload's capabilities.
      return ZeroOrErrno(RawCall(SYS_linkat, from->get(), "", to->dir.get(),
                                 to->name.c_str(), AT_EMPTY_PATH));
    }
    // Our fd's magic link names exactly the inode looked up (a symlink
    // itself when not followed).
    const std::string self = fmt::format("/proc/self/fd/{}", from->get());
    return ZeroOrErrno(RawCall(SYS_linkat, AT_FDCWD, self.c_str(),
                               to->dir.get(), to->name.c_str(),
                               AT_SYMLINK_FOLLOW));
  });
}

Result<CheckedCallOutcome> Symlink(const Call& call, int dirfd_index) {
  // The target is only text stored in the link: read once, never resolved.
  auto text = ReadTraceeString(call.tid, call.args[0], kPathMax);
  if (!text) return tl::unexpected(std::move(text).error());
  if (text->empty()) return WorkloadFails(ENOENT);
  auto target = PrepareTarget(call, 0, dirfd_index);
  if (!target) return tl::unexpected(std::move(target).error());
  return AsWorkload(call, false, [&]() -> Result<CheckedCallOutcome> {
    auto parent = OpenParent(call, *target, EEXIST);
    if (!parent) return tl::unexpected(std::move(parent).error());
    return ZeroOrErrno(RawCall(SYS_symlinkat, text->c_str(), parent->dir.get(),
                               parent->name.c_str()));
  });
}

Result<CheckedCallOutcome> Dispatch(const Call& call) {
  switch (call.number) {
    case SYS_open:
      return OpenLegacy(call, call.U32(1), call.Mode(2));
    case SYS_openat:
      return OpenLegacy(call, call.U32(2), call.Mode(3));
    case SYS_creat:
      return OpenLegacy(call, O_CREAT | O_WRONLY | O_TRUNC, call.Mode(1));
    case SYS_openat2:
      return OpenAt2(call);
    case SYS_stat:
      return Stat(call, -1, 1, true);
    case SYS_lstat:
      return Stat(call, -1, 1, false);
    case SYS_newfstatat:
      return NewFstatAt(call);
    case SYS_statx:
      return Statx(call);
    case SYS_access:
      return Access(call, -1, 1, 0);
    case SYS_faccessat:
      return Access(call, 0, 2, 0);
    case SYS_faccessat2:
      return Access(call, 0, 2, call.Int(3));
    case SYS_readlink:
      return ReadLink(call, -1, 1, 2);
    case SYS_readlinkat:
      return ReadLink(call, 0, 2, 3);
    case SYS_chmod:
      return Chmod(call, -1, 1, 0);
    case SYS_fchmodat:
      return Chmod(call, 0, 2, 0);
    case SYS_fchmodat2:
      return Chmod(call, 0, 2, call.Int(3));
    case SYS_chown:
      return Chown(call, -1, 1, 0);
    case SYS_lchown:
      return Chown(call, -1, 1, AT_SYMLINK_NOFOLLOW);
    case SYS_fchownat:
      return Chown(call, 0, 2, call.Int(4));
    case SYS_truncate:
      return Truncate(call);
    case SYS_utimensat:
      return UtimensAt(call);
    case SYS_utimes:
      return Utimes(call, -1, 1);
    case SYS_futimesat:
      return Utimes(call, 0, 2);
    case SYS_utime:
      return Utime(call);
    case SYS_getxattr:
      return ReadXattr(call, 1, true);
    case SYS_lgetxattr:
      return ReadXattr(call, 1, false);
    case SYS_listxattr:
      return ReadXattr(call, std::nullopt, true);
    case SYS_llistxattr:
      return ReadXattr(call, std::nullopt, false);
    case SYS_statfs:
      return Statfs(call);
    case SYS_inotify_add_watch:
      return InotifyAddWatch(call);
    case SYS_mkdir:
      return Mkdir(call, -1, 1);
    case SYS_mkdirat:
      return Mkdir(call, 0, 2);
    case SYS_mknod:
      return Mknod(call, -1, 1);
    case SYS_mknodat:
      return Mknod(call, 0, 2);
    case SYS_unlink:
      return Unlink(call, -1, 0);
    case SYS_rmdir:
      return Unlink(call, -1, AT_REMOVEDIR);
    case SYS_unlinkat:
      return Unlink(call, 0, call.Int(2));
    case SYS_rename:
      return Rename(call, -1, -1, 0);
    case SYS_renameat:
      return Rename(call, 0, 2, 0);
    case SYS_renameat2:
      return Rename(call, 0, 2, call.U32(4));
    case SYS_link:
      return Link(call, -1, -1, 0);
    case SYS_linkat:
      return Link(call, 0, 2, call.Int(4));
    case SYS_symlink:
      return Symlink(call, -1);
    case SYS_symlinkat:
      return Symlink(call, 1);
    case SYS_execve:
    case SYS_execveat:
      // Only the kernel can replace the workload's image; see the header.
      // It looks the path up again as given: refused when that reaches
      // another file than the one the policy decided on.
      if (!ReachesTheDecidedFile(call.context, call.paths, 0)) {
        return CheckedCallOutcome::Errno(EACCES);
      }
      return CheckedCallOutcome::Continue();
    default:
      return Internal(
          fmt::format("syscall {} is not performed here", call.number));
  }
}

}  // namespace

CheckedCallOutcome CheckedCallOutcome::Value(int64_t value) {
  CheckedCallOutcome outcome;
  outcome.kind = Kind::kValue;
  outcome.value = value;
  return outcome;
}

CheckedCallOutcome CheckedCallOutcome::Errno(int error) {
  CheckedCallOutcome outcome;
  outcome.kind = Kind::kError;
  outcome.error = error;
  return outcome;
}

CheckedCallOutcome CheckedCallOutcome::InstallFd(UniqueFd fd,
                                                 unsigned newfd_flags) {
  CheckedCallOutcome outcome;
  outcome.kind = Kind::kInstallFd;
  outcome.fd = std::move(fd);
  outcome.newfd_flags = newfd_flags;
  return outcome;
}

CheckedCallOutcome CheckedCallOutcome::Continue() {
  CheckedCallOutcome outcome;
  outcome.kind = Kind::kContinue;
  return outcome;
}

bool CanPerform(int number) {
  switch (number) {
    case SYS_open:
    case SYS_openat:
    case SYS_creat:
    case SYS_openat2:
    case SYS_stat:
    case SYS_lstat:
    case SYS_newfstatat:
    case SYS_statx:
    case SYS_access:
    case SYS_faccessat:
    case SYS_faccessat2:
    case SYS_readlink:
    case SYS_readlinkat:
    case SYS_chmod:
    case SYS_fchmodat:
    case SYS_fchmodat2:
    case SYS_chown:
    case SYS_lchown:
    case SYS_fchownat:
    case SYS_truncate:
    case SYS_utimensat:
    case SYS_utimes:
    case SYS_futimesat:
    case SYS_utime:
    case SYS_getxattr:
    case SYS_lgetxattr:
    case SYS_listxattr:
    case SYS_llistxattr:
    case SYS_statfs:
    case SYS_inotify_add_watch:
    case SYS_mkdir:
    case SYS_mkdirat:
    case SYS_mknod:
    case SYS_mknodat:
    case SYS_unlink:
    case SYS_rmdir:
    case SYS_unlinkat:
    case SYS_rename:
    case SYS_renameat:
    case SYS_renameat2:
    case SYS_link:
    case SYS_linkat:
    case SYS_symlink:
    case SYS_symlinkat:
    case SYS_execve:
    case SYS_execveat:
      return true;
    default:
      return false;
  }
}

bool ContinueIsSafe(int number) { return number == SYS_chdir; }

bool ReachesTheDecidedFile(const CheckedCallContext& context,
                           const DecodedPaths& paths, size_t index) {
  if (index >= paths.paths.size() || index >= paths.given.size()) return true;
  const std::string& given = paths.given[index];
  const std::string& decided = paths.paths[index].path;
  if (given == decided) return true;
  // RESOLVE_IN_ROOT alone: symlinks and ".." as the kernel's own lookup
  // for the workload takes them, inside its root.
  UniqueFd kernels(Openat2(context.root_fd, given.c_str(), O_PATH | O_CLOEXEC,
                           0, RESOLVE_IN_ROOT));
  if (!kernels) return true;
  UniqueFd checked(Openat2(context.root_fd, decided.c_str(), O_PATH | O_CLOEXEC,
                           0, RESOLVE_IN_ROOT));
  struct stat a {};
  struct stat b {};
  return checked && ::fstat(kernels.get(), &a) == 0 &&
         ::fstat(checked.get(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

bool FollowsFinalSymlink(int number, size_t index,
                         const std::array<uint64_t, 6>& args,
                         std::optional<uint64_t> open_flags) {
  auto flag_clear = [&](size_t i, uint64_t flag) {
    return (static_cast<uint32_t>(args[i]) & flag) == 0;
  };
  auto opens_following = [](uint64_t flags) {
    return (flags & O_NOFOLLOW) == 0 &&
           (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
  };
  switch (number) {
    case SYS_open:
      return opens_following(static_cast<uint32_t>(args[1]));
    case SYS_openat:
      return opens_following(static_cast<uint32_t>(args[2]));
    case SYS_openat2:
      return opens_following(open_flags.value_or(0));
    case SYS_newfstatat:
    case SYS_faccessat2:
    case SYS_fchmodat2:
    case SYS_utimensat:
      return flag_clear(3, AT_SYMLINK_NOFOLLOW);
    case SYS_statx:
      return flag_clear(2, AT_SYMLINK_NOFOLLOW);
    case SYS_fchownat:
    case SYS_execveat:
      return flag_clear(4, AT_SYMLINK_NOFOLLOW);
    case SYS_linkat:
      return index == 0 && !flag_clear(4, AT_SYMLINK_FOLLOW);
    case SYS_name_to_handle_at:
      return !flag_clear(4, AT_SYMLINK_FOLLOW);
    case SYS_inotify_add_watch:
      return flag_clear(2, IN_DONT_FOLLOW);
    // These act on the last component itself, or on a name in its parent.
    case SYS_lstat:
    case SYS_readlink:
    case SYS_readlinkat:
    case SYS_lchown:
    case SYS_lgetxattr:
    case SYS_lsetxattr:
    case SYS_llistxattr:
    case SYS_lremovexattr:
    case SYS_mkdir:
    case SYS_mkdirat:
    case SYS_mknod:
    case SYS_mknodat:
    case SYS_unlink:
    case SYS_unlinkat:
    case SYS_rmdir:
    case SYS_rename:
    case SYS_renameat:
    case SYS_renameat2:
    case SYS_link:
    case SYS_symlink:
    case SYS_symlinkat:
      return false;
    default:
      return true;
  }
}

Status ResolveCheckedPaths(const CheckedCallContext& context, pid_t tid,
                           int number, const std::array<uint64_t, 6>& args,
                           DecodedPaths& decoded) {
  decoded.reopened_fds.assign(decoded.paths.size(), std::nullopt);
  if (decoded.kernel_copies.size() != decoded.paths.size()) {
    return Internal(fmt::format("syscall {}: {} paths, {} copies", number,
                                decoded.paths.size(),
                                decoded.kernel_copies.size()));
  }
  // openat2's own lookup restrictions apply to the resolution too.
  uint64_t workload_resolve = 0;
  if (number == SYS_openat2 &&
      decoded.open_how.size() >= 3 * sizeof(uint64_t)) {
    std::memcpy(&workload_resolve, decoded.open_how.data() + 16,
                sizeof(workload_resolve));
  }
  LazyProcSelf self(tid, context.own_procfs);
  for (size_t i = 0; i < decoded.paths.size(); ++i) {
    std::optional<std::string>& copy = decoded.kernel_copies[i];
    if (!copy || copy->empty()) continue;  // names the fd itself
    // A trailing '/' makes the kernel follow and require a directory.
    const bool trailing_slash = copy->size() > 1 && copy->back() == '/';
    std::string named =
        trailing_slash ? copy->substr(0, copy->size() - 1) : *copy;
    const bool follow =
        trailing_slash ||
        FollowsFinalSymlink(number, i, args, decoded.open_flags);
    PathWalk walk(context, tid, self, workload_resolve);
    auto reached = walk.Resolve(named, follow);
    if (!reached) return tl::unexpected(std::move(reached).error());
    decoded.paths[i].path = *reached;
    if (IsWithin(*reached, "/proc")) {
      auto ids = self.Get();
      if (!ids) return tl::unexpected(std::move(ids).error());
      decoded.paths[i].path = AsDecided(*reached, **ids);
    }
    if (walk.reopened_fd()) {
      decoded.reopened_fds[i] = walk.reopened_fd();
      copy = "";
      continue;
    }
    if (reached->size() + (trailing_slash ? 1 : 0) >= kPathMax) {
      return WorkloadFails(ENAMETOOLONG);
    }
    *copy = *reached;
    if (trailing_slash && *reached != "/") copy->push_back('/');
  }
  return {};
}

Result<CheckedCallOutcome> PerformCheckedCall(
    const CheckedCallContext& context, pid_t tid, int number,
    const std::array<uint64_t, 6>& args, const DecodedPaths& paths) {
  if (!CanPerform(number)) {
    return Internal(fmt::format("syscall {} is not performed here", number));
  }
  const Call call{context, tid, number, args, paths};
  Result<CheckedCallOutcome> outcome = Dispatch(call);
  if (!outcome && outcome.error().code() == ErrorCode::kInvalidArgument &&
      outcome.error().sys_errno() > 0) {
    return CheckedCallOutcome::Errno(outcome.error().sys_errno());
  }
  return outcome;
}

namespace {

// What ADDFD installs for an O_PATH open (see AnswerNotification): a
// read-only descriptor on the inode `opened` names, opened through its link
// with the workload's identity, so its permission to read counts.
Result<UniqueFd> ReopenReadOnly(const CheckedCallContext& context,
                                const UniqueFd& opened) {
  struct stat st {};
  if (::fstat(opened.get(), &st) != 0) {
    return FailErrno("fstat of an O_PATH open", errno);
  }
  // Opening anything else has effects of its own (a device's driver, a
  // FIFO's peer) or is impossible (a symlink, a socket).
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kSystem,
                "only a directory or a regular file can be given read-only "
                "instead",
                EPERM);
  }
  // O_NONBLOCK so a lease never makes isoscope wait.
  const std::string self = fmt::format("/proc/self/fd/{}", opened.get());
  const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
  ScopedFsCredentials credentials;
  if (Status entered =
          credentials.Enter(context.uid, context.gid, context.effective_caps);
      !entered) {
    return tl::unexpected(std::move(entered).error());
  }
  UniqueFd readable(::open(self.c_str(), flags));
  const int open_error = errno;
  if (Status restored = credentials.Restore(); !restored) {
    return tl::unexpected(std::move(restored).error());
  }
  if (!readable) {
    return FailErrno("opening it read-only as the workload", open_error);
  }
  const int status = ::fcntl(readable.get(), F_GETFL);
  if (status < 0 ||
      ::fcntl(readable.get(), F_SETFL, status & ~O_NONBLOCK) != 0) {
    return FailErrno("clearing O_NONBLOCK", errno);
  }
  return readable;
}

// --- socket calls ---------------------------------------------------------

// Copies the `count` iovecs at `pointer` and their data (together at most
// kMaxPerformedSendBytes) from the workload into `storage`, pointing `out`
// at the copies.
Status CopyIovecs(pid_t tid, uint64_t pointer, uint64_t count,
                  std::vector<std::vector<uint8_t>>& storage,
                  std::vector<iovec>& out) {
  constexpr uint64_t kMaxIovecs = 1024;  // UIO_MAXIOV
  if (count > kMaxIovecs) return WorkloadFails(EMSGSIZE);
  auto raw = ReadTraceeBytes(tid, pointer, count * sizeof(iovec));
  if (!raw) return tl::unexpected(std::move(raw).error());
  size_t budget = kMaxPerformedSendBytes;
  for (uint64_t i = 0; i < count; ++i) {
    iovec vector{};
    std::memcpy(&vector, raw->data() + i * sizeof(iovec), sizeof(iovec));
    const size_t length = std::min(vector.iov_len, budget);
    auto data = ReadTraceeBytes(
        tid, reinterpret_cast<uint64_t>(vector.iov_base), length);
    if (!data) return tl::unexpected(std::move(data).error());
    budget -= length;
    storage.push_back(std::move(*data));
    out.push_back(iovec{storage.back().data(), length});
  }
  return {};
}

}  // namespace

Result<CheckedCallOutcome> PerformSocketCall(
    const CheckedCallContext& context, SeccompNotifier& notifier, uint64_t id,
    pid_t tid, int number, const std::array<uint64_t, 6>& args,
    const DecodedSocketAddress& address, std::string* refused) {
  if (number != SYS_connect && number != SYS_bind && number != SYS_sendto &&
      number != SYS_sendmsg) {
    return Fail(
        ErrorCode::kInternal,
        fmt::format("syscall {} is no socket call isoscope performs", number));
  }
  auto pidfd = OpenThreadPidfd(tid);
  if (!pidfd) return tl::unexpected(std::move(pidfd).error());
  // The thread still waits in its call, so `tid` was not reused: the pidfd
  // names that thread for as long as it is held (the socket is taken from
  // its table, SIGPIPE sent to it).
  if (!notifier.IdValid(id)) {
    return Fail(ErrorCode::kSystem,
                fmt::format("thread {} no longer waits for its call", tid));
  }
  auto socket = DupThreadFd(*pidfd, tid, static_cast<int>(args[0]));
  if (!socket) return tl::unexpected(std::move(socket).error());
  int domain = 0;
  socklen_t size = sizeof(domain);
  if (::getsockopt(socket->get(), SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0) {
    return CheckedCallOutcome::Errno(errno == ENOTSOCK ? ENOTSOCK : EBADF);
  }
  if (domain != AF_INET && domain != AF_INET6) {
    *refused = fmt::format(
        "the socket is of family {}, on which isoscope cannot perform the "
        "call as the workload (the peer would see isoscope as the sender)",
        domain);
    return CheckedCallOutcome::Errno(EPERM);
  }
  const auto* name = reinterpret_cast<const sockaddr*>(
      address.bytes.empty() ? nullptr : address.bytes.data());
  const auto name_length = static_cast<socklen_t>(address.bytes.size());
  // What is sent is copied as isoscope (reading another process's memory
  // takes isoscope's own access to it), before acting as the workload.
  std::vector<std::vector<uint8_t>> storage;
  std::vector<iovec> vectors;
  std::vector<uint8_t> control;
  int flags = 0;
  if (number == SYS_sendto) {
    auto data = ReadTraceeBytes(
        tid, args[1], std::min<uint64_t>(args[2], kMaxPerformedSendBytes));
    if (!data) return tl::unexpected(std::move(data).error());
    storage.push_back(std::move(*data));
    vectors.push_back(iovec{storage.back().data(), storage.back().size()});
    flags = static_cast<int>(args[3]);
  } else if (number == SYS_sendmsg) {
    if (!address.header) {
      return Fail(ErrorCode::kInternal, "sendmsg without its msghdr");
    }
    const msghdr& given = *address.header;
    if (Status copied =
            CopyIovecs(tid, reinterpret_cast<uint64_t>(given.msg_iov),
                       given.msg_iovlen, storage, vectors);
        !copied) {
      return tl::unexpected(std::move(copied).error());
    }
    // The control decided on (DecodeSocketAddress), never read again.
    control = address.control;
    flags = static_cast<int>(args[2]);
  }
  // The workload's send flags act on its socket and on this call as they
  // would on its own: MSG_DONTWAIT, MSG_MORE, MSG_EOR, MSG_OOB,
  // MSG_DONTROUTE, MSG_CONFIRM, MSG_PROBE, MSG_FASTOPEN (a blocking connect
  // and send in one call, to the decided address) pass; the kernel strips
  // its internal ones (MSG_SPLICE_PAGES...) and refuses MSG_CMSG_COMPAT from
  // isoscope as from the workload. MSG_NOSIGNAL is added (SIGPIPE is
  // raised below, in the workload's thread). MSG_ZEROCOPY alone refers to
  // isoscope's memory after the call:
  if ((flags & MSG_ZEROCOPY) != 0) {
    // With SO_ZEROCOPY on, the kernel would send from isoscope's copy after
    // the call returned and isoscope reused the memory: refused with the
    // errno a zerocopy send gives when it cannot pin the pages (callers
    // then send without the flag). Off, the kernel ignores the flag; it is
    // dropped so that SO_ZEROCOPY turned on meanwhile cannot take effect.
    int zerocopy = 0;
    socklen_t length = sizeof(zerocopy);
    if (::getsockopt(socket->get(), SOL_SOCKET, SO_ZEROCOPY, &zerocopy,
                     &length) == 0 &&
        zerocopy != 0) {
      *refused =
          "MSG_ZEROCOPY on a socket with SO_ZEROCOPY would send from "
          "isoscope's copy of the data after the call returned";
      return CheckedCallOutcome::Errno(ENOBUFS);
    }
    flags &= ~MSG_ZEROCOPY;
  }
  ScopedFsCredentials credentials;
  if (Status entered =
          credentials.Enter(context.uid, context.gid, context.effective_caps);
      !entered) {
    return tl::unexpected(std::move(entered).error());
  }
  int64_t rc = 0;
  switch (number) {
    case SYS_connect:
      // Blocking as the workload's socket is: a worker thread waits, never
      // the supervisor's loop (NotificationWorkers).
      rc = ::connect(socket->get(), name, name_length) == 0 ? 0 : -errno;
      break;
    case SYS_bind:
      rc = ::bind(socket->get(), name, name_length) == 0 ? 0 : -errno;
      break;
    case SYS_sendto:
    case SYS_sendmsg: {
      msghdr message{};
      message.msg_name = const_cast<sockaddr*>(name);
      message.msg_namelen = name_length;
      message.msg_iov = vectors.data();
      message.msg_iovlen = vectors.size();
      message.msg_control = control.empty() ? nullptr : control.data();
      message.msg_controllen = control.size();
      const ssize_t sent =
          ::sendmsg(socket->get(), &message, flags | MSG_NOSIGNAL);
      rc = sent < 0 ? -errno : sent;
      break;
    }
    default:  // checked above
      break;
  }
  if (Status restored = credentials.Restore(); !restored) {
    return tl::unexpected(std::move(restored).error());
  }
  if (rc == -EPIPE && (number == SYS_sendto || number == SYS_sendmsg) &&
      (flags & MSG_NOSIGNAL) == 0 && notifier.IdValid(id)) {
    // The kernel raises SIGPIPE in the sending thread; isoscope sent with
    // MSG_NOSIGNAL, so the workload gets it from here (not when its call
    // was interrupted meanwhile: that call's result is dropped).
    RawCall(SYS_pidfd_send_signal, pidfd->get(), SIGPIPE, nullptr, 0U);
  }
  if (rc < 0) return CheckedCallOutcome::Errno(static_cast<int>(-rc));
  return CheckedCallOutcome::Value(rc);
}

Status AnswerNotification(SeccompNotifier& notifier, uint64_t id,
                          Result<CheckedCallOutcome> outcome,
                          const CheckedCallContext& context,
                          CheckedCallNote* note) {
  // The call fails with `error` instead of its result; said in `note`.
  const auto refuse = [&](std::string_view kind, int error,
                          std::string reason) -> Status {
    if (error <= 0 || error > 4095) error = EPERM;
    if (note != nullptr) *note = {std::string(kind), error, std::move(reason)};
    return notifier.ReturnError(id, error);
  };
  if (!outcome) {
    // The thread died meanwhile (its /proc files gone with it): nobody
    // waits for an answer.
    if (!notifier.IdValid(id)) return {};
    if (outcome.error().code() == ErrorCode::kInternal) {
      return tl::unexpected(std::move(outcome).error());
    }
    return refuse("checked-call-failed", outcome.error().sys_errno(),
                  fmt::format("isoscope could not perform it: {}",
                              outcome.error().ToString()));
  }
  switch (outcome->kind) {
    case CheckedCallOutcome::Kind::kValue:
      return notifier.ReturnValue(id, outcome->value);
    case CheckedCallOutcome::Kind::kError:
      return notifier.ReturnError(id, outcome->error);
    case CheckedCallOutcome::Kind::kInstallFd: {
      UniqueFd fd = std::move(outcome->fd);
      const int status = ::fcntl(fd.get(), F_GETFL);
      if (status < 0) return FailErrno("F_GETFL of a checked open", errno);
      if ((status & O_PATH) != 0) {
        auto reopened = ReopenReadOnly(context, fd);
        if (!reopened && reopened.error().code() == ErrorCode::kInternal) {
          return tl::unexpected(std::move(reopened).error());
        }
        if (!reopened) {
          return refuse(
              "o-path", reopened.error().sys_errno(),
              fmt::format("the kernel cannot install an O_PATH descriptor in "
                          "the workload (SECCOMP_IOCTL_NOTIF_ADDFD), and a "
                          "read-only one could not be given instead: {}",
                          reopened.error().message()));
        }
        fd = std::move(*reopened);
      }
      auto installed = notifier.AddFd(id, fd.get(), outcome->newfd_flags,
                                      /*send_as_response=*/true);
      if (installed) return {};
      const int error = installed.error().sys_errno();
      // ENOENT: the thread is gone, nothing was installed, nobody waits.
      if (error == ENOENT) return {};
      // EMFILE (its table is full, RLIMIT_NOFILE) or another refusal: the
      // notification still waits, and the call fails as the kernel's own
      // open would.
      return refuse("install-failed", error,
                    fmt::format("isoscope opened the file, but installing "
                                "the descriptor in the workload failed: {}",
                                std::strerror(error)));
    }
    case CheckedCallOutcome::Kind::kContinue:
      return notifier.Continue(id);
  }
  return {};
}

}  // namespace isoscope
