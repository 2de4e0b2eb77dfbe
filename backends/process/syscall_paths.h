// Decoding the path arguments of a stopped system call, once, from the
// (hostile) workload's memory, into the absolute paths the policy decides on
// and the strings the tracer hands the kernel instead of the workload's.
//
// Why each path is read exactly once and then copied: another thread of the
// workload can rewrite the string between our read and the kernel's, so the
// tracer copies what was checked into the read-only scratch region and
// points the argument register there. Relative paths are made absolute here
// (against the thread's cwd or the dirfd's current path) so the copy means
// the same thing whatever the workload later does to its cwd or fds.
//
// Errors. When the workload's arguments are such that the kernel would fail
// the call before doing anything, the error has ErrorCode kInvalidArgument
// and sys_errno() is the errno the kernel would return; the tracer fails the
// call with -sys_errno() without running it:
//   EFAULT        a path or struct open_how is not readable (NULL included,
//                 except where the kernel gives NULL a meaning, below)
//   ENAMETOOLONG  no NUL within PATH_MAX (4096) bytes; or the absolute form
//                 does not fit in PATH_MAX, so no checked copy can be passed
//   ENOENT        an empty path where the call does not take one as "the fd
//                 itself"; a path relative to a deleted directory
//   EBADF         a relative path (or one naming the fd itself) whose dirfd
//                 is not open, or negative and not AT_FDCWD
//   ENOTDIR       a relative path whose dirfd is not a directory (a file, a
//                 pipe, a socket, an anon inode)
//   EINVAL, E2BIG openat2's size argument is below 24 or above 4096, or the
//                 bytes beyond the struct the kernel knows are not zero
// Any other error (kSystem) means isoscope could not look (the thread is
// gone, /proc is unreadable): the tracer must not run the call.
//
// "The fd itself": AT_EMPTY_PATH with "" (execveat, newfstatat, statx,
// faccessat2, fchownat, fchmodat2, linkat's old path, name_to_handle_at,
// open_tree, utimensat, mount_setattr; move_mount's and fspick's own
// *_EMPTY_PATH flags), "" for readlinkat (always), and NULL where the kernel
// accepts it (utimensat and futimesat with a real fd, fanotify_mark, and
// newfstatat/statx with AT_EMPTY_PATH on Linux >= 6.11) name the dirfd's
// open file (the cwd for AT_FDCWD). Its path is the fd's /proc/<tid>/fd
// target as the kernel shows it, which need not be an absolute path
// ("pipe:[42]", "anon_inode:[eventfd]", "/memfd:x (deleted)"): no absolute
// glob matches those, so a rule on them fails closed unless it names them.
//
// Known differences from the kernel's own resolution, all from rewriting to
// a lexically normalised absolute path: ".." is taken lexically (a symlink
// before it is not followed), the dirfd's or cwd's path is re-walked by name
// (search permission, renames and mounts along it count at the time of the
// call), and a workload in another root or mount namespace than isoscope
// would be resolved in isoscope's.
#ifndef ISOSCOPE_BACKENDS_PROCESS_SYSCALL_PATHS_H_
#define ISOSCOPE_BACKENDS_PROCESS_SYSCALL_PATHS_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "policies/decide.h"

namespace isoscope {

struct DecodedPaths {
  // One per path argument of the call, in PathArguments(number) order:
  // absolute and lexically normalised (NormalizePath), except a path naming
  // the fd itself, which is the fd's target as described above.
  std::vector<PathArgument> paths;
  // Parallel to `paths`: the NUL-free string the tracer copies into the
  // scratch region (adding the NUL) and points that argument at, so the
  // kernel uses what was checked. It is paths[i].path, with a trailing '/'
  // when the workload's path ended in '/', "." or ".." (the kernel then still
  // requires a directory, as it would have); "" for an empty path naming the
  // fd itself (copied too: the workload could otherwise turn "" into a name
  // after the check); nullopt for a NULL pointer naming the fd itself: a
  // register value the workload cannot change, left as it is.
  std::vector<std::optional<std::string>> kernel_copies;
  // Parallel to `paths`: the path as the workload gave it, made absolute
  // but not normalised ("dir/link/../x" keeps its "link/.."), which is what
  // the kernel looks up when a call is continued (CONTINUE) rather than
  // handed a copy: `..` after a symlink goes up from the symlink's target
  // there, not from "dir". For a path naming the fd itself, as `paths`.
  std::vector<std::string> given;
  // Parallel to `paths`, set by ResolveCheckedPaths (checked_calls.h): the
  // path was a magic link to the workload's own descriptor N whose file has
  // no path (a pipe, a socket, a deleted file), so the call acts on that
  // open file itself; kernel_copies[i] is then "". Empty before resolution.
  std::vector<std::optional<int>> reopened_fds;
  // openat2's how.flags (the struct's first u64); nullopt for other calls.
  std::optional<uint64_t> open_flags;
  // openat2's struct open_how exactly as read (size argument bytes), to be
  // copied to the scratch region and pointed at in turn; empty otherwise.
  std::vector<uint8_t> open_how;
};

// Decodes the path arguments (and openat2's struct open_how) of system call
// `number` (x86-64) with arguments `args`, stopped in thread `tid`. A call
// without path arguments decodes to an empty DecodedPaths. Relative paths
// are joined to thread `tid`'s own cwd (threads created without CLONE_FS
// have their own) or to what its dirfd names now. Path arguments are taken
// in order, each read and then resolved, so the first one that fails decides
// the errno, as in the kernel. Only the path arguments are checked: when
// another argument is also invalid (unknown flags, a bad fanotify fd), the
// kernel may report that one first, which the tracer learns by running the
// call on the checked copies.
Result<DecodedPaths> DecodeSyscallPaths(pid_t tid, int number,
                                        const std::array<uint64_t, 6>& args);

// Whether an empty ("") or a NULL path argument `path_index` of call
// `number` with `args` names the dirfd's own file ("The fd itself" above),
// for a decoder that reads the path itself (the kvm guest kernel reads
// guest RAM, not a tracee). A NULL with AT_FDCWD that the kernel refuses
// (utimensat, fanotify_mark) is not told apart here.
bool EmptyPathNamesFd(int number, int path_index,
                      const std::array<uint64_t, 6>& args);
bool NullPathNamesFd(int number, int path_index,
                     const std::array<uint64_t, 6>& args);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_SYSCALL_PATHS_H_
