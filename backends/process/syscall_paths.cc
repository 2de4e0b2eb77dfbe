#include "backends/process/syscall_paths.h"

#include <fcntl.h>
#include <linux/limits.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/process/tracee_memory.h"
#include "policies/syscalls.h"

namespace isoscope {
namespace {

// getname() refuses a string that does not end within PATH_MAX bytes.
constexpr size_t kPathMax = PATH_MAX;
// struct open_how as Linux 5.6 defined it (flags, mode, resolve: three
// u64), the smallest size openat2 accepts (OPEN_HOW_SIZE_VER0).
constexpr uint64_t kOpenHowMinSize = 24;
// openat2 refuses sizes above a page (E2BIG), checked before any copy.
constexpr uint64_t kOpenHowMaxSize = 4096;

constexpr std::string_view kDeletedSuffix = " (deleted)";

// An error that is the workload's, with the errno the kernel would give it.
tl::unexpected<Error> WorkloadFails(int sys_errno, std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message), sys_errno);
}

// When an empty (or NULL) path argument names the dirfd's own file rather
// than a file under it.
enum class EmptyPath {
  kWithFlag,  // "" only with `empty_flag` set in args[flags_index]
  kAlways,    // "" always (readlinkat)
  kNever,     // "" is ENOENT; only NULL has a meaning
};
enum class NullPath {
  kFault,     // NULL is EFAULT like any unreadable address
  kWithFlag,  // NULL with the empty flag set (statx, newfstatat: Linux 6.11)
  kAlways,    // NULL always (utimensat, futimesat, fanotify_mark)
};

struct FdItselfRule {
  std::string_view syscall;
  int path_index;
  EmptyPath empty;
  int flags_index;
  uint64_t empty_flag;
  NullPath null = NullPath::kFault;
  // For a NULL path with AT_FDCWD: the errno the kernel answers (0: the cwd
  // itself). utimensat then copies the NULL "name" and faults; fanotify_mark
  // looks AT_FDCWD up as an fd and finds none.
  int null_at_cwd_errno = 0;
};

// Keyed by name like the PathArguments table in policies/syscalls.cc, from
// the kernel's sources (fs/stat.c, fs/open.c, fs/namei.c, fs/utimes.c,
// fs/namespace.c, fs/fsopen.c, fs/fhandle.c, fs/notify/fanotify).
const std::vector<FdItselfRule>& FdItselfRules() {
  static const auto* const kRules = new std::vector<FdItselfRule>{
      {"execveat", 1, EmptyPath::kWithFlag, 4, AT_EMPTY_PATH},
      {"newfstatat", 1, EmptyPath::kWithFlag, 3, AT_EMPTY_PATH,
       NullPath::kWithFlag},
      {"statx", 1, EmptyPath::kWithFlag, 2, AT_EMPTY_PATH, NullPath::kWithFlag},
      {"faccessat2", 1, EmptyPath::kWithFlag, 3, AT_EMPTY_PATH},
      {"fchownat", 1, EmptyPath::kWithFlag, 4, AT_EMPTY_PATH},
      {"fchmodat2", 1, EmptyPath::kWithFlag, 3, AT_EMPTY_PATH},
      // Only the old path: a new name cannot be empty.
      {"linkat", 1, EmptyPath::kWithFlag, 4, AT_EMPTY_PATH},
      {"name_to_handle_at", 1, EmptyPath::kWithFlag, 4, AT_EMPTY_PATH},
      {"open_tree", 1, EmptyPath::kWithFlag, 2, AT_EMPTY_PATH},
      {"mount_setattr", 1, EmptyPath::kWithFlag, 2, AT_EMPTY_PATH},
      {"move_mount", 1, EmptyPath::kWithFlag, 4, MOVE_MOUNT_F_EMPTY_PATH},
      {"move_mount", 3, EmptyPath::kWithFlag, 4, MOVE_MOUNT_T_EMPTY_PATH},
      {"fspick", 1, EmptyPath::kWithFlag, 2, FSPICK_EMPTY_PATH},
      // readlinkat always looks up with LOOKUP_EMPTY: "" reads the symlink
      // an O_PATH fd is open on.
      {"readlinkat", 1, EmptyPath::kAlways, -1, 0},
      // futimens(fd) is utimensat(fd, NULL, ...).
      {"utimensat", 1, EmptyPath::kWithFlag, 3, AT_EMPTY_PATH,
       NullPath::kAlways, EFAULT},
      {"futimesat", 1, EmptyPath::kNever, -1, 0, NullPath::kAlways, EFAULT},
      {"fanotify_mark", 4, EmptyPath::kNever, -1, 0, NullPath::kAlways, EBADF},
  };
  return *kRules;
}

const FdItselfRule* FindFdItselfRule(int number, int path_index) {
  // (number, path index) -> rule; names unknown to libseccomp are skipped.
  static const auto* const kByNumber = [] {
    auto* by_number = new std::map<std::pair<int, int>, const FdItselfRule*>;
    for (const FdItselfRule& rule : FdItselfRules()) {
      if (auto resolved = SyscallNumber(rule.syscall)) {
        (*by_number)[{*resolved, rule.path_index}] = &rule;
      }
    }
    return by_number;
  }();
  auto it = kByNumber->find({number, path_index});
  return it == kByNumber->end() ? nullptr : it->second;
}

bool FlagSet(const FdItselfRule& rule, const std::array<uint64_t, 6>& args) {
  if (rule.flags_index < 0) return false;
  // The kernel takes these flags as a 32-bit int: the upper half of the
  // register is not looked at.
  const uint64_t flags =
      static_cast<uint32_t>(args[static_cast<size_t>(rule.flags_index)]);
  return (flags & rule.empty_flag) != 0;
}

bool EmptyNamesFd(const FdItselfRule* rule,
                  const std::array<uint64_t, 6>& args) {
  if (rule == nullptr) return false;
  switch (rule->empty) {
    case EmptyPath::kWithFlag:
      return FlagSet(*rule, args);
    case EmptyPath::kAlways:
      return true;
    case EmptyPath::kNever:
      return false;
  }
  return false;
}

bool NullNamesFd(const FdItselfRule* rule,
                 const std::array<uint64_t, 6>& args) {
  if (rule == nullptr) return false;
  switch (rule->null) {
    case NullPath::kFault:
      return false;
    case NullPath::kWithFlag:
      return FlagSet(*rule, args);
    case NullPath::kAlways:
      return true;
  }
  return false;
}

// The dirfd argument as the kernel reads it: an int, the register's low
// half. A spec without a dirfd resolves against the cwd, like AT_FDCWD.
int DirFd(const PathArgSpec& spec, const std::array<uint64_t, 6>& args) {
  if (spec.dirfd_index < 0) return AT_FDCWD;
  return static_cast<int32_t>(
      static_cast<uint32_t>(args[static_cast<size_t>(spec.dirfd_index)]));
}

std::string DirFdName(int dirfd) {
  return dirfd == AT_FDCWD ? std::string("the cwd")
                           : fmt::format("dirfd {}", dirfd);
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

// The /proc link of thread `tid` that stands for `dirfd`: its cwd, or the fd.
// EBADF for a negative fd other than AT_FDCWD, as fdget would answer.
Result<std::string> ProcLink(pid_t tid, int dirfd) {
  if (dirfd == AT_FDCWD) return fmt::format("/proc/{}/cwd", tid);
  if (dirfd < 0) {
    return WorkloadFails(EBADF, fmt::format("dirfd {} is not an fd", dirfd));
  }
  return fmt::format("/proc/{}/fd/{}", tid, dirfd);
}

// Turns a failure to look at the /proc link into the workload's EBADF (its
// fd is not open) or isoscope's own error (the thread is gone, or /proc is
// not ours to read).
Error LinkError(pid_t tid, int dirfd, const std::string& link, int error) {
  if (error == ENOENT && dirfd != AT_FDCWD) {
    // /proc/<tid>/fd/<n> is missing both for a closed fd and for a thread
    // that no longer exists; only the first is the workload's.
    const std::string fd_dir = fmt::format("/proc/{}/fd", tid);
    if (::access(fd_dir.c_str(), F_OK) == 0) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("dirfd {} is not open", dirfd), EBADF);
    }
    return Error::FromErrno(fmt::format("thread {}: access {}", tid, fd_dir),
                            errno);
  }
  return Error::FromErrno(fmt::format("readlink {}", link), error);
}

// What `dirfd` (or the cwd) names now, as /proc shows it.
Result<std::string> ReadTarget(pid_t tid, int dirfd, const std::string& link) {
  // d_path() gives at most a page; one more byte tells truncation apart.
  std::string target(kPathMax + 1, '\0');
  const ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  if (n < 0) {
    if (errno == ENAMETOOLONG) {
      return WorkloadFails(ENAMETOOLONG,
                           fmt::format("the path of {} is longer than {} bytes",
                                       DirFdName(dirfd), kPathMax - 1));
    }
    return tl::unexpected(LinkError(tid, dirfd, link, errno));
  }
  if (static_cast<size_t>(n) >= target.size()) {
    return WorkloadFails(ENAMETOOLONG,
                         fmt::format("the path of {} is longer than {} bytes",
                                     DirFdName(dirfd), kPathMax - 1));
  }
  target.resize(static_cast<size_t>(n));
  return target;
}

// The directory a relative path is looked up in: `dirfd`'s (or the cwd's)
// current absolute path, with the errno the kernel's lookup would give when
// it cannot be one.
Result<std::string> BaseDirectory(pid_t tid, int dirfd) {
  auto link = ProcLink(tid, dirfd);
  if (!link) return tl::unexpected(std::move(link).error());
  // stat follows the magic link to the open file itself, whatever its name
  // now; AT_NO_AUTOMOUNT keeps looking from triggering a mount.
  struct stat st {};
  if (::fstatat(AT_FDCWD, link->c_str(), &st, AT_NO_AUTOMOUNT) != 0) {
    return tl::unexpected(LinkError(tid, dirfd, *link, errno));
  }
  auto target = ReadTarget(tid, dirfd, *link);
  if (!target) return tl::unexpected(std::move(target).error());
  if (!S_ISDIR(st.st_mode) || target->empty() || target->front() != '/') {
    // A file, or an fd with no name in the tree (pipe:[..], socket:[..],
    // anon_inode:[..]): nothing can be looked up under it.
    return WorkloadFails(ENOTDIR, fmt::format("{} ('{}') is not a directory",
                                              DirFdName(dirfd), *target));
  }
  // A removed directory keeps its fd (and its link count drops to 0); the
  // kernel finds nothing in it any more. The link count tells it apart from
  // a directory really named "... (deleted)".
  if (EndsWith(*target, kDeletedSuffix) && st.st_nlink == 0) {
    return WorkloadFails(ENOENT, fmt::format("{} ('{}') was removed",
                                             DirFdName(dirfd), *target));
  }
  return target;
}

// The path a call reports for the dirfd's open file itself.
Result<std::string> FdItselfPath(pid_t tid, int dirfd) {
  auto link = ProcLink(tid, dirfd);
  if (!link) return tl::unexpected(std::move(link).error());
  auto target = ReadTarget(tid, dirfd, *link);
  if (!target) return tl::unexpected(std::move(target).error());
  // Reported as /proc shows it: the kernel acts on the open file, so a pipe
  // or a deleted file is as valid here as any other.
  return NormalizePath(*target);
}

// Whether the kernel would require the last component to be a directory: the
// path ends in '/', or in "." or ".." (which normalisation removes).
bool NamesDirectory(std::string_view raw) {
  return EndsWith(raw, "/") || raw == "." || raw == ".." ||
         EndsWith(raw, "/.") || EndsWith(raw, "/..");
}

// A path argument as read, before it is resolved.
struct ReadPath {
  const PathArgSpec* spec = nullptr;
  std::string text;        // as the workload wrote it
  bool fd_itself = false;  // names the dirfd's open file itself
  bool null = false;       // was a NULL pointer (then fd_itself)
};

Result<ReadPath> ReadPathArgument(pid_t tid, int number,
                                  const PathArgSpec& spec,
                                  const std::array<uint64_t, 6>& args) {
  ReadPath out{.spec = &spec};
  const FdItselfRule* rule = FindFdItselfRule(number, spec.path_index);
  const uint64_t address = args[static_cast<size_t>(spec.path_index)];
  if (address == 0 && NullNamesFd(rule, args)) {
    if (DirFd(spec, args) == AT_FDCWD && rule->null_at_cwd_errno != 0) {
      return WorkloadFails(rule->null_at_cwd_errno, "NULL path with AT_FDCWD");
    }
    out.fd_itself = true;
    out.null = true;
    return out;
  }
  auto text = ReadTraceeString(tid, address, kPathMax);
  if (!text) return tl::unexpected(std::move(text).error());
  out.text = *std::move(text);
  if (out.text.empty()) {
    if (!EmptyNamesFd(rule, args)) {
      return WorkloadFails(ENOENT, "empty path");
    }
    out.fd_itself = true;
  }
  return out;
}

// Resolves one read path argument into `out`.
Status ResolvePathArgument(pid_t tid, const ReadPath& read,
                           const std::array<uint64_t, 6>& args,
                           DecodedPaths& out) {
  const PathArgSpec& spec = *read.spec;
  const int dirfd = DirFd(spec, args);
  std::string path;
  std::string given;
  std::optional<std::string> copy;
  if (read.fd_itself) {
    auto itself = FdItselfPath(tid, dirfd);
    if (!itself) return tl::unexpected(std::move(itself).error());
    path = *std::move(itself);
    given = path;
    if (!read.null) copy = "";
  } else {
    // An absolute path ignores the dirfd entirely, even a bad one, as in
    // the kernel.
    if (read.text.front() == '/') {
      given = read.text;
    } else {
      auto base = BaseDirectory(tid, dirfd);
      if (!base) return tl::unexpected(std::move(base).error());
      given = *base + "/" + read.text;
    }
    path = NormalizePath(given);
    copy = path;
    if (NamesDirectory(read.text) && path != "/") copy->push_back('/');
    // The checked copy must itself pass getname(); a relative path the
    // kernel would have accepted can outgrow PATH_MAX once absolute.
    if (copy->size() >= kPathMax) {
      return WorkloadFails(ENAMETOOLONG,
                           fmt::format("absolute path is {} bytes, over {}",
                                       copy->size(), kPathMax - 1));
    }
  }
  out.paths.push_back(PathArgument{spec.path_index, std::move(path)});
  out.kernel_copies.push_back(std::move(copy));
  out.given.push_back(std::move(given));
  return {};
}

// openat2's struct open_how (arg2, size arg3), checked in the kernel's order
// (copy_struct_from_user): size bounds, then the tail beyond the struct the
// kernel knows must be zero, then the struct itself.
Status DecodeOpenHow(pid_t tid, const std::array<uint64_t, 6>& args,
                     DecodedPaths& out) {
  const uint64_t address = args[2];
  const uint64_t size = args[3];
  if (size < kOpenHowMinSize) {
    return WorkloadFails(EINVAL, fmt::format("open_how size {} is below {}",
                                             size, kOpenHowMinSize));
  }
  if (size > kOpenHowMaxSize) {
    return WorkloadFails(E2BIG, fmt::format("open_how size {} is above {}",
                                            size, kOpenHowMaxSize));
  }
  if (size > kOpenHowMinSize) {
    // A struct wrapping past 2^64 is unreadable as a whole (access_ok).
    if (address > UINT64_MAX - kOpenHowMinSize) {
      return WorkloadFails(EFAULT, "open_how wraps around");
    }
    auto tail = ReadTraceeBytes(tid, address + kOpenHowMinSize,
                                static_cast<size_t>(size - kOpenHowMinSize));
    if (!tail) {
      return tl::unexpected(std::move(tail).error().WithContext("open_how"));
    }
    for (uint8_t byte : *tail) {
      if (byte != 0) {
        return WorkloadFails(
            E2BIG, "open_how has non-zero bytes beyond the fields Linux knows");
      }
    }
  }
  auto how = ReadTraceeBytes(tid, address, static_cast<size_t>(size));
  if (!how) {
    return tl::unexpected(std::move(how).error().WithContext("open_how"));
  }
  uint64_t flags = 0;
  std::memcpy(&flags, how->data(), sizeof(flags));
  out.open_flags = flags;
  out.open_how = *std::move(how);
  return {};
}

}  // namespace

Result<DecodedPaths> DecodeSyscallPaths(pid_t tid, int number,
                                        const std::array<uint64_t, 6>& args) {
  DecodedPaths out;
  const std::span<const PathArgSpec> specs = PathArguments(number);
  if (specs.empty()) return out;
  static const std::optional<int> kOpenat2 = SyscallNumber("openat2");
  const std::string name = SyscallName(number);
  // openat2 copies its struct before the path.
  if (kOpenat2 && number == *kOpenat2) {
    if (Status how = DecodeOpenHow(tid, args, out); !how) {
      return tl::unexpected(std::move(how).error().WithContext(name));
    }
  }
  // One argument after the other, each read and then resolved: the kernel
  // copies every string at entry but reports a string's error only when it
  // looks that path up, after the previous path's lookup (rename's second
  // path is not looked at when the first one fails).
  for (const PathArgSpec& spec : specs) {
    auto read = ReadPathArgument(tid, number, spec, args);
    if (!read) {
      return tl::unexpected(std::move(read).error().WithContext(
          fmt::format("{} arg{}", name, spec.path_index)));
    }
    if (Status resolved = ResolvePathArgument(tid, *read, args, out);
        !resolved) {
      return tl::unexpected(std::move(resolved).error().WithContext(
          fmt::format("{} arg{} '{}'", name, spec.path_index, read->text)));
    }
  }
  return out;
}

bool EmptyPathNamesFd(int number, int path_index,
                      const std::array<uint64_t, 6>& args) {
  return EmptyNamesFd(FindFdItselfRule(number, path_index), args);
}

bool NullPathNamesFd(int number, int path_index,
                     const std::array<uint64_t, 6>& args) {
  return NullNamesFd(FindFdItselfRule(number, path_index), args);
}

}  // namespace isoscope
