// Opening the files whose meaning depends on the namespaces of the process
// that opens them, from inside the workload's namespaces (checked_calls.h).
//
// Why: isoscope's supervisor performs a workload's checked path calls itself.
// For most files it does not matter who opens them, but under /proc/sys and
// /proc/sysvipc the kernel picks the file by the namespaces of the process
// looking it up: net.* belongs to the opener's network namespace (its
// interfaces are the directories of net/ipv4/conf), kernel.pid_max to its
// pid namespace, kernel.shm*, msg*, sem, fs.mqueue.* and /proc/sysvipc to
// its IPC namespace. Looked up by the supervisor, a workload with `network:
// none` lists the host's interfaces, and reads the host's pid_max while its
// own pid namespace hands out pids beyond it (trinity, which checks every
// pid against the pid_max it read, stops with "shm corruption").
//
// How: a helper process that entered the calling thread's mount, network,
// IPC, UTS and pid namespaces (pid: it was forked after entering, so its own
// pid namespace is the workload's) looks such paths up from its root with
// openat2 (RESOLVE_IN_ROOT and the caller's resolve flags) and passes the fd
// back over a socket. It takes the workload's effective and filesystem ids
// and supplementary group, and only the effective capabilities the workload
// holds; its real and saved ids stay isoscope's, so the workload can
// neither signal nor ptrace it (unless it runs as isoscope's uid, root
// under ptrace: then stopping it only slows the workload's own lookups). It is
// not dumpable, blocks every signal but SIGKILL and SIGSTOP, holds no
// descriptor but its socket and root, and its seccomp filter allows only
// receiving a request, openat2, sending the answer, close and exit. Its parent
// is a keeper, isoscope's child in isoscope's pid namespace, which reaps it at
// once: the init of a pid namespace ends only after every process of it was
// reaped, those whose parent is outside it too, so an unreaped helper would
// hold the workload's end. No workload process is its parent, so none waits for
// it. It ends when isoscope closes its socket (or dies), with its keeper,
// and with the pid namespace's init.
//
// One helper per set of namespaces (a workload that unshares gets its own),
// at most kMaxHelpers; each started on the first such path its threads name.
// Known differences: the helper is a process of the workload's pid
// namespace, which `ps` there lists; it is not in the workload's cgroup;
// the keeper and helper hold a copy-on-write image of isoscope's memory;
// /proc/sysvipc shows owners as isoscope's user namespace sees them (the
// opener's); and a call isoscope makes on a name inside a directory the
// helper opened (mkdirat, unlinkat, ...) is looked up in isoscope's sysctl
// sets, which only changes the errno of a call that fails either way. A
// container workload whose policy keeps CAP_SYS_PTRACE (the ptrace backend
// refuses it) can trace the helper despite its being not dumpable: its
// seccomp filter leaves an injected program only openat2, so it could hand
// back a file its creds reach but the policy's path rules refuse, and
// isoscope does not yet check what an answer's descriptor is.
#ifndef ISOSCOPE_BACKENDS_PROCESS_NAMESPACED_OPENER_H_
#define ISOSCOPE_BACKENDS_PROCESS_NAMESPACED_OPENER_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "base/unique_fd.h"

namespace isoscope {

class NamespacedOpener {
 public:
  // The workload's identity as isoscope's user namespace sees it, and the
  // capabilities it holds in its effective set (bit 1 << CAP_x each).
  NamespacedOpener(uid_t uid, gid_t gid, uint64_t effective_caps);
  NamespacedOpener(const NamespacedOpener&) = delete;
  NamespacedOpener& operator=(const NamespacedOpener&) = delete;
  // Closes every helper's socket, kills and reaps it.
  ~NamespacedOpener();

  // Whether the file `path` (absolute and resolved, in the workload's root)
  // names depends on the namespaces of who looks it up: /proc/sys and
  // /proc/sysvipc and everything under them.
  static bool DependsOnNamespaces(std::string_view path);

  // openat2(root, path, {flags, mode, resolve | RESOLVE_IN_ROOT}) as thread
  // `tid` of the workload would, in its namespaces: the fd, or the errno
  // the call fails with. Works whatever identity the calling thread acts
  // with (ScopedFsCredentials). A helper that dies or does not answer
  // within 2 s is replaced; one that cannot start or answer at all is EIO
  // for the workload's call (ENOENT or ESRCH when the thread is gone), never
  // an error of isoscope's. Thread-safe.
  tl::expected<UniqueFd, int> Open(pid_t tid, const std::string& path,
                                   uint64_t flags, uint64_t mode,
                                   uint64_t resolve);

  // How many helpers run now.
  size_t helpers() const;

  static constexpr size_t kMaxHelpers = 4;

 private:
  // Identifies a set of namespaces: the inode of each of kNamespaces.
  using Key = std::array<uint64_t, 5>;
  struct Helper {
    Key key{};
    UniqueFd socket;
    UniqueFd pidfd;    // the helper's
    pid_t keeper = 0;  // isoscope's child that reaps the helper
  };

  tl::expected<Helper, int> Start(pid_t tid) const;
  static void Stop(Helper& helper);
  static tl::expected<UniqueFd, int> Ask(const Helper& helper,
                                         const std::string& path,
                                         uint64_t flags, uint64_t mode,
                                         uint64_t resolve);

  uid_t uid_;
  gid_t gid_;
  uint64_t effective_caps_;
  mutable std::mutex mutex_;
  std::vector<Helper> helpers_;  // least recently started first
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_NAMESPACED_OPENER_H_
