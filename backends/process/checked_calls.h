// The path system calls isoscope's supervisor performs itself on the
// workload's behalf (the container and ptrace backends), and the resolution
// of every path such a call names before the policy decides on it.
//
// Why: the seccomp filter sends inspected calls to isoscope as
// SECCOMP_RET_USER_NOTIF notifications. Answering one with
// SECCOMP_USER_NOTIF_FLAG_CONTINUE lets the kernel read the workload's
// pointer arguments again, after the policy decided on what isoscope read: a
// second workload thread can rewrite the path in between (TOCTOU; the
// kernel's seccomp_unotify(2) says CONTINUE must not be used for policy on
// pointers). So the backend decodes the paths once (DecodeSyscallPaths),
// resolves them (ResolveCheckedPaths), the supervisor's loop decides on them,
// and for an allowed call this module does the call on exactly those strings
// and reports what the backend answers the notification with.
//
// Why resolve before deciding: a path names what the kernel reaches after
// following symlinks and /proc's magic links, not what it spells. A policy
// that allows "{workdir}/**" must not let "{workdir}/link" reach /etc/shadow
// through a symlink the workload made, nor "/proc/self/root/etc/shadow" or
// "/proc/self/fd/7/shadow" (7 a directory fd) reach it through a magic link.
// ResolveCheckedPaths walks each path one component at a time from the
// workload's root, as the kernel would (symlinks followed where the call
// follows them, at most 40), and replaces it with the path it reaches, which
// has no symlink left in it: the policy decides on that, and every lookup
// PerformCheckedCall makes afterwards refuses symlinks (RESOLVE_NO_SYMLINKS),
// so a symlink the workload plants after the decision fails the call with
// ELOOP instead of redirecting it. Magic links:
// - /proc/self and /proc/thread-self are spelled with the calling thread's
//   ids as the workload's /proc numbers them; the policy sees the calling
//   process's own /proc/<tgid>/... as /proc/self/..., whichever way it was
//   named.
// - A magic link of the calling process (cwd, root, exe, fd/N, map_files/*)
//   whose target is a path is followed as that path when the workload shares
//   isoscope's root and mount namespace (`magic_links_are_paths`, the ptrace
//   backend); fd/N whose file has no path (a pipe, a socket, an anonymous or
//   deleted file), and any fd/N inside a container, is the workload's own
//   open file: the policy decides on "/proc/self/fd/N" and the call acts on
//   that file (an open reopens it, as the kernel does). Any other magic link
//   is ELOOP, and one of another process EACCES (the kernel would check the
//   workload's ptrace access to it, which isoscope does not emulate).
//
// How each call is done:
// - Every path is resolved with openat2(root_fd, path, RESOLVE_IN_ROOT |
//   RESOLVE_NO_SYMLINKS): resolved paths have no symlinks and stay inside
//   the root. Paths under /proc/sys and /proc/sysvipc, whose files the
//   kernel picks by the namespaces of who looks them up, are looked up the
//   same way by a helper in the calling thread's namespaces
//   (namespaced_opener.h), so the workload sees its own network's
//   interfaces and its own pid namespace's pid_max, not isoscope's.
// - open, openat, creat, openat2 open the file so; the backend installs the
//   fd with SECCOMP_IOCTL_NOTIF_ADDFD (kInstallFd). The open is made with
//   O_NONBLOCK (cleared afterwards unless the workload asked for it) so that
//   a FIFO or a device can never block the supervisor: the workload sees
//   ENXIO for a FIFO without a reader where open(2) would wait, a FIFO
//   opened for reading before any writer reads EOF instead of waiting, and
//   a file under a lease gives EWOULDBLOCK instead of waiting for its break.
// - Calls that look at or change an inode (stat family, access family,
//   readlink, chmod, chown, truncate, utimes family) resolve the whole path
//   to an O_PATH fd (O_NOFOLLOW where the call does not follow a final
//   symlink) and act on that fd (AT_EMPTY_PATH, or /proc/self/fd/N for
//   truncate and a following linkat).
// - Calls that take only a path (getxattr, lgetxattr, listxattr,
//   llistxattr, inotify_add_watch) name the O_PATH fd's inode through
//   isoscope's own /proc/self/fd/N (followed), or, for a final symlink the
//   call does not follow, its last component in the O_PATH fd of its
//   parent (/proc/self/fd/D/name). inotify_add_watch adds the watch through
//   a duplicate of the workload's inotify descriptor (pidfd_getfd): the
//   same open file, so the watch descriptor is the workload's. xattr values
//   and lists are read into a buffer of at most the kernel's limits
//   (XATTR_SIZE_MAX, XATTR_LIST_MAX; a larger size argument is taken as the
//   limit, as the kernel does) and names of at most XATTR_NAME_MAX bytes
//   (ERANGE otherwise). statfs acts on the O_PATH fd (fstatfs).
// - Calls that change a directory's names (mkdir, mknod, unlink, rmdir,
//   rename, link, symlink) resolve the parent to an O_PATH|O_DIRECTORY fd and
//   call the *at form with the last component (with its trailing '/', which
//   the kernel checks). None of these follows a final symlink.
// - Every call runs with the workload's filesystem identity on the calling
//   thread only (ScopedFsCredentials): fsuid, fsgid, supplementary groups
//   {gid}, and only the effective capabilities the workload holds. Files it
//   creates get the workload's umask (the supervisor's umask is set to the
//   workload's around the call, so default ACLs work as for the workload).
//   The supervisor's umask is process-wide: another supervisor thread
//   creating files during that window gets the workload's umask.
// - Results (struct stat, struct statx, link text) are written into the
//   workload's buffers with process_vm_writev, which honours page protection
//   as the kernel's copy_to_user does (EFAULT for a read-only buffer).
//
// Paths naming "the fd itself" (AT_EMPTY_PATH with "", readlinkat's "",
// utimensat/futimesat with NULL; see syscall_paths.h) are performed too, on
// a duplicate of the workload's fd taken with pidfd_getfd (its cwd: an O_PATH
// open of /proc/<tid>/cwd). Continuing those would be unsafe for "": the
// workload could turn "" into a name after the check. If the fd no longer
// names the path the policy decided on (another thread dup2'ed over it in
// the meantime), the call fails with EBADF, as if the fd had been closed.
//
// Not performed, answered otherwise:
// - execve, execveat cannot be done by another process: kContinue. The
//   backend must say so (the checked path and the executed one can differ
//   when the workload races).
// - openat2 with RESOLVE_BENEATH, RESOLVE_IN_ROOT or RESOLVE_NO_XDEV: those
//   are relative to the workload's dirfd, which the absolute decoded path no
//   longer carries; answered ENOSYS (what a kernel without openat2 says, so
//   callers fall back to openat).
// - Any other call: CanPerform() is false.
//
// Known differences from the kernel doing the call for the workload:
// - access/faccessat check with `uid`/`gid` (AT_EACCESS), not the
//   workload's real ids.
// - Decoded paths are lexically normalised: "dir/." is "dir/" (rmdir of it
//   succeeds where the kernel says EINVAL).
// - With a user namespace, `uid`/`gid` must be the ids as isoscope sees
//   them, and capabilities held only inside that namespace must not be
//   passed in `effective_caps` (they would apply in isoscope's).
#ifndef ISOSCOPE_BACKENDS_PROCESS_CHECKED_CALLS_H_
#define ISOSCOPE_BACKENDS_PROCESS_CHECKED_CALLS_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/process/fs_credentials.h"
#include "backends/process/namespaced_opener.h"
#include "backends/process/socket_address.h"
#include "backends/process/syscall_paths.h"
#include "backends/seccomp/seccomp_notifier.h"
#include "base/error.h"
#include "base/unique_fd.h"

namespace isoscope {

struct CheckedCallContext {
  // O_PATH directory fd of the workload's root (the container backend opens
  // /proc/<pid>/root; the ptrace backend "/"); borrowed, not closed here.
  int root_fd = -1;
  // The workload's /proc belongs to its own pid namespace (the container's):
  // /proc/self is spelled with the thread's innermost ids. Otherwise with
  // the ids isoscope sees.
  bool own_procfs = true;
  // The workload shares isoscope's root and mount namespace, so the target
  // of one of its magic links, as isoscope reads it, is a path in the
  // workload's root too (the ptrace backend).
  bool magic_links_are_paths = false;
  // The workload's filesystem identity, as isoscope's user namespace sees
  // it.
  uid_t uid = 0;
  gid_t gid = 0;
  // The capabilities the workload holds in its effective set (bit 1 << CAP_x
  // for each), usually none: the calls run with exactly these effective (as
  // far as isoscope's permitted set has them).
  uint64_t effective_caps = 0;
  // Looks up the paths whose file depends on the namespaces of who looks
  // (NamespacedOpener::DependsOnNamespaces: /proc/sys, /proc/sysvipc) in the
  // calling thread's namespaces; borrowed. Null: isoscope looks them up in
  // its own, which is right only for a workload that shares them.
  NamespacedOpener* namespaced_opener = nullptr;
};

// What the backend answers the notification with.
struct CheckedCallOutcome {
  enum class Kind {
    kValue,      // the call returns `value`
    kError,      // the call fails with `error` (1..4095)
    kInstallFd,  // install `fd` with `newfd_flags`, answering with its number
                 // (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND)
    kContinue,   // let the kernel run the call (execve only)
  };
  Kind kind = Kind::kContinue;
  int64_t value = 0;
  int error = 0;
  UniqueFd fd;
  unsigned newfd_flags = 0;  // O_CLOEXEC or 0

  static CheckedCallOutcome Value(int64_t value);
  static CheckedCallOutcome Errno(int error);
  static CheckedCallOutcome InstallFd(UniqueFd fd, unsigned newfd_flags);
  static CheckedCallOutcome Continue();
};

// Whether PerformCheckedCall handles system call `number` (x86-64): the path
// calls listed above, execve and execveat (kContinue) included. For any other
// call the backend must answer without this module (conservatively: the
// decoded path may not be handed to the kernel by CONTINUE).
bool CanPerform(int number);

// Whether call `number` may be answered with CONTINUE after the policy
// decided on its resolved path, although the workload can change the path
// in between: chdir only. No process can change another's working
// directory, and continuing it is safe because a cwd grants nothing by
// itself: every later call with a relative path (or AT_FDCWD and "") is
// decoded afresh against the thread's cwd as the kernel then has it
// (DecodeSyscallPaths reads /proc/<tid>/cwd at each call, and
// ResolveCheckedPaths resolves that absolute path), so the policy decides
// on where the workload really is, not on where it asked to go. All a
// raced chdir can learn is whether a directory outside its read globs
// exists and is searchable by it (the kernel checks that as the workload,
// inside the container's view). A backend that can hand the kernel a
// checked copy (ptrace's scratch region) should do that instead.
bool ContinueIsSafe(int number);

// For a call about to be continued (execve, execveat, chdir): whether the
// path as the workload gave it (DecodedPaths::given[index]), looked up as
// the kernel will (symlinks followed, `..` physical), reaches the file the
// policy decided on (paths[index], resolved). They differ without any race
// when `..` follows a symlink ("link/../x": the policy decided on "x" beside
// "link", the kernel goes up from the link's target), and the decision
// would not hold; true when the kernel's lookup finds nothing (it fails
// then too) or the path names the fd itself.
bool ReachesTheDecidedFile(const CheckedCallContext& context,
                           const DecodedPaths& paths, size_t index);

// Whether call `number` follows a symlink in the last component of its path
// argument `index` (with `args`, and openat2's decoded `open_flags`), as the
// kernel's lookup does; calls that act on a name in its parent directory
// (mkdir, unlink, rename, ...) do not.
bool FollowsFinalSymlink(int number, size_t index,
                         const std::array<uint64_t, 6>& args,
                         std::optional<uint64_t> open_flags);

// Replaces each named path of `decoded` (decoded from thread `tid`'s call
// `number` with `args`) by the path the kernel would reach, as described
// above, and fills decoded.reopened_fds. Paths naming the fd itself are left
// as they are. Errors as DecodeSyscallPaths: kInvalidArgument with the errno
// the workload gets (ELOOP, EACCES); anything else means isoscope could not
// look (the thread is gone), and the call must not run.
Status ResolveCheckedPaths(const CheckedCallContext& context, pid_t tid,
                           int number, const std::array<uint64_t, 6>& args,
                           DecodedPaths& decoded);

// Performs call `number` with arguments `args`, notified from thread `tid`,
// on the paths decoded from it (DecodeSyscallPaths, then ResolveCheckedPaths,
// on the same arguments, both of which succeeded). The call's own failures are
// outcomes (kError with the errno the kernel would give the workload, EFAULT
// for an output buffer that cannot be written). An Error means isoscope could
// not do its job: the thread is gone (check IdValid), `paths` does not fit the
// call, a /proc file is unreadable, or the thread's credentials could not be
// restored (kInternal: the supervisor must stop).
Result<CheckedCallOutcome> PerformCheckedCall(
    const CheckedCallContext& context, pid_t tid, int number,
    const std::array<uint64_t, 6>& args, const DecodedPaths& paths);

// Performs connect, bind, sendto or sendmsg (call `number` with `args`,
// notified from thread `tid` as notification `id` of `notifier`) on the
// workload's socket (a pidfd_getfd duplicate of args[0]: the same open
// socket) with `address`, the socket address decoded once
// (DecodeSocketAddress) and decided on: the kernel never reads the
// workload's copy, which another thread can rewrite. sendmsg's control
// messages are the ones decoded with the address (and decided on);
// sendto's data and sendmsg's iovecs are copied from the workload (at
// most kMaxPerformedSendBytes of data: a stream socket sends fewer bytes, as
// a short send; a larger datagram fails EMSGSIZE as it would anyway). Runs
// as the workload (its fsuid, fsgid, groups and effective capabilities:
// bind below port 1024 needs its own CAP_NET_BIND_SERVICE).
//
// Only on IPv4 and IPv6 sockets: on any other (AF_UNIX, AF_NETLINK, ...) the
// peer would take isoscope's pid and uid as the sender's (SO_PEERCRED,
// SCM_CREDENTIALS) and a control message's descriptors would be
// isoscope's, so the call fails with EPERM and `*refused` says why.
//
// The call blocks as the workload's would (its socket's O_NONBLOCK, its
// SO_SNDTIMEO, MSG_DONTWAIT), so the caller must not be the supervisor's
// loop (NotificationWorkers runs it); a signal to the calling thread
// interrupts it (EINTR), which is how a call whose notification is no
// longer pending is abandoned. The send flags are the workload's, with
// MSG_NOSIGNAL added (SIGPIPE is then sent to thread `tid` if its call still
// waits) and MSG_ZEROCOPY dropped (the kernel ignores it without
// SO_ZEROCOPY) or, with SO_ZEROCOPY on, refused with ENOBUFS (`*refused`
// says why): the kernel would send from isoscope's copy after the call
// returned.
inline constexpr size_t kMaxPerformedSendBytes = size_t{1} << 20;
Result<CheckedCallOutcome> PerformSocketCall(
    const CheckedCallContext& context, SeccompNotifier& notifier, uint64_t id,
    pid_t tid, int number, const std::array<uint64_t, 6>& args,
    const DecodedSocketAddress& address, std::string* refused);

// Why a call the policy allowed got an errno of isoscope's making instead of
// its own result: the backend records it (a SyscallEvent denied with
// `error`, under the rule "<backend>.<kind>").
struct CheckedCallNote {
  std::string kind;  // "checked-call-failed", "o-path", "install-failed"
  int error = 0;
  std::string reason;
};

// Answers user notification `id` with `outcome` (PerformCheckedCall's, made
// with `context`): the value or errno, the installed fd, or CONTINUE
// (execve). What the workload can provoke is its call's result, never
// isoscope's error, and is described in `*note` when given:
// - isoscope could not perform the call (/proc unreadable, the workload's
//   memory gone): the call fails (EPERM, or the errno the failure carries)
//   rather than runs unchecked ("checked-call-failed");
// - ADDFD cannot install an O_PATH file (the kernel takes its source with
//   fget(), which skips O_PATH files): a directory or regular file is
//   installed as a read-only descriptor on the same inode, reopened with
//   the workload's identity, which serves what O_PATH descriptors are for
//   (a base for *at calls, fstat, fchdir) but also reads; anything else
//   fails with EPERM, and an unreadable file with EACCES ("o-path");
// - installing fails in the workload (EMFILE: its table is full or its
//   RLIMIT_NOFILE reached): the call fails with that errno
//   ("install-failed").
// A thread gone meanwhile needs no answer. An error means isoscope's own
// state is broken (kInternal: credentials not restored) or the notifier
// failed: the supervisor must stop.
Status AnswerNotification(SeccompNotifier& notifier, uint64_t id,
                          Result<CheckedCallOutcome> outcome,
                          const CheckedCallContext& context,
                          CheckedCallNote* note = nullptr);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_CHECKED_CALLS_H_
