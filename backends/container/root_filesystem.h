// The container's root filesystem. The parent plans it from the policy's
// filesystem view (validating every path, deciding mount points, flags and
// the order of the mounts, and preparing the idmapped workdir); the cloned
// child, PID 1 of new mount and pid namespaces, applies the plan with
// async-signal-safe calls only, before it drops capabilities and execs.
//
// The root the child ends up in (what OCI runtimes and bubblewrap build):
// - a fresh tmpfs, read-only, nosuid, nodev, noexec, holding only the mount
//   points of what the view lists; or, when `readonly` lists "/", the
//   host's root bound read-only (recursively, its own /dev, /proc and /sys
//   mounts detached where the kernel allows, covered otherwise), the other
//   entries on top, /sys masked by an empty read-only tmpfs;
// - `readonly` paths bound read-only (recursively), `writable` paths and the
//   workdir bound read-write, all nosuid and nodev; `tmpfs` paths as fresh
//   tmpfs (mode 1777, nosuid, nodev); `hidden` paths that a bind would show
//   masked (an empty read-only tmpfs over a directory, /dev/null over a file);
//   every bind and tmpfs that no exec glob can reach is noexec (/dev/shm
//   too; the caller passes "/**" when the policy lets exec reach any path);
// - a minimal /dev (null, zero, full, random, urandom, optionally tty, bound
//   from the host; fd, stdin, stdout, stderr symlinks; /dev/shm; a private
//   devpts at /dev/pts with /dev/ptmx -> pts/ptmx);
// - a new /proc with OCI's masked and read-only paths; no /sys;
// - the host's root detached, nothing propagating back to the host, and the
//   workdir as the current directory.
//
// Paths are container paths equal to host paths (a bind shows host path P at
// P). A listed symlink whose target is shown at the same path by another
// bind is recreated as the same symlink (/lib -> usr/lib beside /usr);
// otherwise what it points to is bound at its path. A path listed more
// deeply than a hidden one is shown (the more specific entry wins).
#ifndef ISOSCOPE_BACKENDS_CONTAINER_ROOT_FILESYSTEM_H_
#define ISOSCOPE_BACKENDS_CONTAINER_ROOT_FILESYSTEM_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "policies/policy.h"

namespace isoscope {

// A user namespace that exists only to be the id mapping of an idmapped
// mount: it maps the one uid `uid_from` to `uid_to` and the one gid
// `gid_from` to `gid_to` (on-disk owner -> owner seen through the mount).
// The helper process that owned it is gone by the time Create returns; the
// namespace lives as long as fd() (and any mount idmapped with it).
class IdmapUserNamespace {
 public:
  static Result<IdmapUserNamespace> Create(uid_t uid_from, uid_t uid_to,
                                           gid_t gid_from, gid_t gid_to);
  // An open /proc/<pid>/ns/user (O_CLOEXEC).
  int fd() const { return fd_.get(); }

 private:
  explicit IdmapUserNamespace(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

struct RootFilesystemInputs {
  // Absolute and normalised. Always bound read-write at the same path; the
  // child's current directory at the end.
  std::string workdir;
  // The absolute path of the program to exec. When no bind shows it, the
  // file alone is bound read-only (RootFilesystemPlan::executable() says
  // where to exec it in the root).
  std::string executable;
  // PathGlobs::exec of the policy ({workdir} substituted): a mount that none
  // of them can reach is noexec.
  std::vector<std::string> exec_globs;
  bool dev_tty = false;  // add /dev/tty
  // The group of the container's terminals (/dev/pts/N), usually the host's
  // "tty" group; absent: the creating process's (a user namespace maps no
  // other group).
  std::optional<gid_t> devpts_gid;
  // The ids the workload runs as. When either differs from the workdir's
  // owner, the workdir is an idmapped mount showing the owner's files as the
  // workload's (and storing the workload's new files as the owner's).
  // Absent: the owner's.
  std::optional<uid_t> workload_uid;
  std::optional<gid_t> workload_gid;
  // The workload's root on the host (Workload::root: an OCI bundle's
  // rootfs, absolute, symlinks resolved); empty: the host's. With one, the
  // root is its base as "/" in `readonly` makes the host's root the base:
  // bound read-only (read-write when `writable` lists "/"), the view's
  // entries on top. `workdir`, `executable` and every path of the view are
  // then paths inside it, resolved there (an absolute symlink in it points
  // into it); what the view lists that the root lacks is left out; the
  // workdir is a directory of the root, not bound on its own (nor
  // idmapped).
  std::string root;
};

// What one step of the plan does; see ApplyRootFilesystem.
enum class RootStepOp : uint8_t {
  kMakePrivate,  // mount(NULL, "/", MS_REC | MS_PRIVATE)
  kMountTmpfs,   // tmpfs at path, flags, data (mode=...)
  kMakeDir,      // mkdir(path, mode); an existing directory is fine
  kMakeFile,     // an empty file at path (a bind mount point); may exist
  kPivotRoot,    // pivot_root(path, source), then chdir("/")
  kBind,         // bind source at path (MS_REC if recursive)
  kMoveMount,    // move the plan's detached tree (the idmapped workdir)
  kSetAttr,      // mount_setattr(path, attr_set[, AT_RECURSIVE])
  kMountProc,    // proc at path, flags
  kMountDevpts,  // devpts at path, flags, data (source)
  kMask,         // mask path: /dev/null (source) over a file, an empty
                 // read-only tmpfs over a directory
  kSymlink,      // symlink(source, path)
  kUnmount,      // umount2(path, MNT_DETACH)
  kRemoveDir,    // rmdir(path)
  kChdir,        // chdir(path)
};

struct RootFilesystemStep {
  RootStepOp op = RootStepOp::kMakeDir;
  const char* name = "";          // static, short: "bind-mount readonly"
  std::string path;               // what the step acts on
  std::string source;             // bind source, pivot put_old, symlink target,
                                  // tmpfs data
  unsigned long mount_flags = 0;  // NOLINT(google-runtime-int): mount(2)'s
                                  // type; MS_* for kMountTmpfs, kMountProc
  uint64_t attr_set = 0;          // MOUNT_ATTR_* for kSetAttr
  mode_t mode = 0755;             // kMakeDir
  bool recursive = false;         // kBind, kSetAttr
  bool optional = false;          // a missing path (ENOENT) is skipped
};

// Which step failed in the child. `step` indexes plan.steps() and means the
// same in the parent; the pointers are valid in the child only (they point
// into its copy of the plan, or at static strings).
struct RootFilesystemFailure {
  int step = -1;
  int error = 0;  // errno
  const char* step_name = nullptr;
  const char* path = nullptr;
};

// The steps, with every string they need. Holds the detached idmapped
// workdir tree when there is one: a plan with idmapped_workdir() can be
// applied by one child only (the move takes the tree).
class RootFilesystemPlan {
 public:
  RootFilesystemPlan(std::vector<RootFilesystemStep> steps,
                     std::string executable, UniqueFd workdir_tree)
      : steps_(std::move(steps)),
        executable_(std::move(executable)),
        workdir_tree_(std::move(workdir_tree)) {}

  const std::vector<RootFilesystemStep>& steps() const { return steps_; }
  // Where the workload's program is inside the root (what to execve).
  const std::string& executable() const { return executable_; }
  bool idmapped_workdir() const { return workdir_tree_.valid(); }
  int workdir_tree_fd() const { return workdir_tree_.get(); }

  // The error for a failure the child reported (parent side).
  Error FailureError(const RootFilesystemFailure& failure) const;
  // One line per step, for logs and tests.
  std::string Describe() const;

 private:
  std::vector<RootFilesystemStep> steps_;
  std::string executable_;
  UniqueFd workdir_tree_;  // O_CLOEXEC; inherited by the cloned child
};

// Validates the view and plans the root. Errors: kInvalidArgument for a
// path that is relative, not normalised, '/' (outside `readonly`), inside
// /dev or /proc (the
// container provides them), listed twice in conflicting fields, or that
// cannot get a mount point; kNotFound for a readonly/writable path, the
// workdir or the executable that does not exist (a missing hidden path is
// fine); kUnavailable when an idmapped workdir is needed and its filesystem
// or the kernel cannot do it; kNotFound last for a program whose
// interpreter (a script's "#!" line, an ELF file's PT_INTERP, in turn) the
// root would not show, naming it and the field to change. Each error names
// the field and the path.
Result<RootFilesystemPlan> PlanRootFilesystem(const FilesystemView& view,
                                              const RootFilesystemInputs& in);

// Runs the plan in the child: async-signal-safe, no allocation. The caller
// is in new mount and pid namespaces (PID 1), with CAP_SYS_ADMIN there.
// Returns 0, or -errno with `failure` filled.
int ApplyRootFilesystem(const RootFilesystemPlan& plan,
                        RootFilesystemFailure* failure);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_CONTAINER_ROOT_FILESYSTEM_H_
