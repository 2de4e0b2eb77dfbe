#include "backends/container/root_filesystem.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace isoscope {
namespace {

// glibc 2.36's <sys/mount.h> has the new mount API; these came later or may
// be missing from older headers.
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef MOUNT_ATTR_NOEXEC
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

// The host directory the new root's tmpfs is first mounted on (in the
// child's mount namespace only), and where the host's root sits under the
// new root until it is detached. Neither is visible to the workload.
constexpr char kStagingDir[] = "/tmp";
constexpr char kOldRoot[] = "/.oldroot";
// With the host's root as the base of the view, that root is read-only, so
// the old root goes in the container's /dev tmpfs, mounted before the pivot.
constexpr char kOldRootInDev[] = "/dev/.oldroot";
// What the container provides itself over the host's root: its own /dev and
// /proc, and no /sys.
constexpr const char* kHostRootReplaced[] = {"/dev", "/proc", "/sys"};

constexpr uint64_t kReadonlyAttrs =
    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr uint64_t kWritableAttrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

// The devices bound from the host's /dev (mknod may be impossible in a user
// namespace; a bind works everywhere).
constexpr const char* kDevices[] = {"null", "zero", "full", "random",
                                    "urandom"};

// The container's devpts: its own instance, ptmx usable by everyone, new
// terminals private to their owner (and the tty group, when given).
constexpr char kDevptsOptions[] = "newinstance,ptmxmode=0666,mode=0620";

// OCI's default maskedPaths and readonlyPaths under /proc.
constexpr const char* kProcMasked[] = {
    "/proc/acpi",        "/proc/asound",        "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug",   "/proc/scsi"};
constexpr const char* kProcReadonly[] = {"/proc/bus", "/proc/fs", "/proc/irq",
                                         "/proc/sys", "/proc/sysrq-trigger"};

// ---- Paths --------------------------------------------------------------

// Whether `path` is `dir` or below it, by whole components.
bool IsWithin(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  if (path.size() < dir.size() || path.substr(0, dir.size()) != dir) {
    return false;
  }
  return path.size() == dir.size() || path[dir.size()] == '/';
}

bool IsStrictlyWithin(std::string_view path, std::string_view dir) {
  return path != dir && IsWithin(path, dir);
}

int Depth(std::string_view path) {
  return static_cast<int>(std::count(path.begin(), path.end(), '/'));
}

// `path` with `from` (a prefix of it by components) replaced by `to`.
std::string Rebase(std::string_view path, std::string_view from,
                   std::string_view to) {
  std::string rest(from == "/" ? path : path.substr(from.size()));
  if (to == "/") return rest.empty() ? std::string("/") : rest;
  return std::string(to) + rest;
}

// Lexical normalisation of an absolute path (no file system access).
std::string Normalise(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (std::string_view part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? "/" : out;
}

std::string Parent(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : std::string(path.substr(0, slash));
}

Status ValidatePath(std::string_view field, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' is not an absolute path", field, path));
  }
  if (path.find('\0') != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' contains a NUL byte", field, path));
  }
  if (path == "/") {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '/' itself can only be listed in "
                            "filesystem.readonly (the host's root, read-only, "
                            "as the base of the view)",
                            field));
  }
  if (Normalise(path) != path) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' is not normalised (expected '{}')", field,
                            path, Normalise(path)));
  }
  if (IsWithin(path, "/dev") || IsWithin(path, "/proc")) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' is inside /dev or /proc, which the "
                            "container provides itself",
                            field, path));
  }
  if (IsWithin(path, kOldRoot)) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: '{}' is reserved for building the root", field, path));
  }
  return {};
}

// The resolved path (no symlinks) of an existing path.
Result<std::string> RealPath(std::string_view field, const std::string& path) {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) {
    if (ec.value() == ENOENT || ec.value() == ENOTDIR) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("{}: '{}' does not exist (or is a symlink to "
                              "nothing)",
                              field, path));
    }
    return FailErrno(fmt::format("{}: resolving '{}'", field, path),
                     ec.value());
  }
  return real.string();
}

// ---- What the root shows ------------------------------------------------

enum class EntryKind {
  kReadonly,    // bind, read-only
  kWritable,    // bind, read-write
  kWorkdir,     // bind, read-write (or the idmapped tree)
  kExecutable,  // the workload's program alone, read-only
  kTmpfs,       // fresh tmpfs
  kSymlink,     // the host's symlink, recreated
  kMask,        // hides what a bind would show
};

struct Entry {
  EntryKind kind = EntryKind::kReadonly;
  std::string field;  // for messages: "filesystem.readonly"
  std::string path;   // in the container
  std::string real;   // binds, masks: the host's resolved path shown there
  std::string link;   // kSymlink: the link's text
  bool directory = true;
  bool host_symlink = false;  // the listed path itself is a symlink
};

bool IsBind(const Entry& e) {
  return e.kind == EntryKind::kReadonly || e.kind == EntryKind::kWritable ||
         e.kind == EntryKind::kWorkdir || e.kind == EntryKind::kExecutable;
}

// Mounts (or symlinks) whose contents we create: mount points below them are
// made with mkdir.
bool IsOurs(const Entry* e) {
  return e == nullptr || e->kind == EntryKind::kTmpfs ||
         (e->kind == EntryKind::kMask && e->directory);
}

class EntrySet {
 public:
  Status Add(Entry entry) {
    auto it = entries_.find(entry.path);
    if (it == entries_.end()) {
      entries_.emplace(entry.path, std::move(entry));
      return {};
    }
    Entry& old = it->second;
    if (old.kind == entry.kind) return {};
    // {workdir} is usually listed in `writable` too: one read-write bind.
    if (old.kind == EntryKind::kWorkdir && entry.kind == EntryKind::kWritable) {
      return {};
    }
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' is also listed in {}", entry.field,
                            entry.path, old.field));
  }

  std::map<std::string, Entry>& map() { return entries_; }

  // The deepest entry at `path` or above it (strictly above if `strict`).
  const Entry* Covering(std::string_view path, bool strict) const {
    const Entry* best = nullptr;
    for (const auto& [p, e] : entries_) {
      if (strict ? !IsStrictlyWithin(path, p) : !IsWithin(path, p)) continue;
      if (best == nullptr || p.size() > best->path.size()) best = &e;
    }
    return best;
  }

  // What the host shows at container path `path` through the deepest entry
  // covering it, when that entry is a bind ("" otherwise).
  std::string HostPathAt(std::string_view path) const {
    const Entry* e = Covering(path, /*strict=*/false);
    if (e == nullptr || !IsBind(*e)) return "";
    return Rebase(path, e->path, e->real);
  }

 private:
  std::map<std::string, Entry> entries_;
};

// ---- noexec -------------------------------------------------------------

// The literal prefixes of the exec globs (up to the first wildcard, cut to
// whole components), with their host-resolved forms: exec of /bin/sh where
// /bin -> usr/bin happens on the mount at /usr.
std::vector<std::string> ExecPrefixes(const std::vector<std::string>& globs) {
  std::vector<std::string> prefixes;
  for (const std::string& glob : globs) {
    if (glob.empty() || glob[0] != '/') continue;
    size_t wild = glob.find_first_of("*?[{");
    std::string literal = glob.substr(0, wild);
    if (wild != std::string::npos) literal.resize(literal.rfind('/') + 1);
    literal = Normalise(literal);
    prefixes.push_back(literal);
    std::error_code ec;
    std::filesystem::path real = std::filesystem::canonical(literal, ec);
    if (!ec && real.string() != literal) prefixes.push_back(real.string());
  }
  return prefixes;
}

// Whether a program may be exec'd on the mount at `mount_path`: it lies in
// an exec prefix, or an exec prefix lies below it and no other mount of the
// view (`mounts`) covers that prefix in between: such a mount carries its
// own decision. (A workdir under /tmp makes its own bind executable, not
// the /tmp tmpfs around it.)
bool ExecReachable(std::string_view mount_path,
                   const std::vector<std::string>& prefixes,
                   const std::vector<std::string>& mounts) {
  return std::any_of(
      prefixes.begin(), prefixes.end(), [&](const std::string& prefix) {
        if (IsWithin(mount_path, prefix)) return true;
        if (!IsWithin(prefix, mount_path)) return false;
        return std::none_of(mounts.begin(), mounts.end(),
                            [&](const std::string& mount) {
                              return IsStrictlyWithin(mount, mount_path) &&
                                     IsWithin(prefix, mount);
                            });
      });
}

// ---- Idmapped workdir ---------------------------------------------------

std::string FilesystemName(int fd) {
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return "unknown";
  switch (static_cast<uint64_t>(fs.f_type)) {
    case EXT4_SUPER_MAGIC:
      return "ext4";
    case TMPFS_MAGIC:
      return "tmpfs";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlayfs";
    case NFS_SUPER_MAGIC:
      return "nfs";
    case 0x65735546:
      return "fuse";
    case 0x01021997:
      return "9p";
    default:
      return fmt::format("filesystem type {:#x}", fs.f_type);
  }
}

// The first file under `dir` (symlinks not followed, mounts crossed, as
// the idmapped tree holds them) that grants privileges to whoever runs it:
// a set-user-ID or set-group-ID bit, or file capabilities. Empty when none
// is there.
Result<std::string> FirstPrivilegedFile(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::recursive_directory_iterator it(
      dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_mode & (S_ISUID | S_ISGID)) != 0) return path;
    if (::lgetxattr(path.c_str(), "security.capability", nullptr, 0) >= 0) {
      return path;
    }
  }
  if (ec) {
    return Fail(ErrorCode::kSystem,
                fmt::format("workdir: listing '{}': {}", dir, ec.message()),
                ec.value());
  }
  return std::string();
}

// A detached copy of the workdir's mount tree, idmapped so that the owner's
// files appear as the workload's, with the bind's flags already set. The
// child moves it into place (this works from inside a new user namespace
// too, where creating the idmapped mount itself would not: that needs
// CAP_SYS_ADMIN in the file system's user namespace).
Result<UniqueFd> IdmappedWorkdirTree(const std::string& real_workdir,
                                     const struct stat& owner, uid_t uid,
                                     gid_t gid, uint64_t attrs) {
  Result<IdmapUserNamespace> ns =
      IdmapUserNamespace::Create(owner.st_uid, uid, owner.st_gid, gid);
  if (!ns) return tl::unexpected(ns.error().WithContext("idmapped workdir"));
  UniqueFd tree(
      ::open_tree(AT_FDCWD, real_workdir.c_str(),
                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  if (!tree) {
    int err = errno;
    if (err == ENOSYS) {
      return Fail(ErrorCode::kUnavailable,
                  "idmapped workdir: the kernel lacks open_tree (Linux 5.2+ "
                  "and 5.12+ for idmapped mounts); run the workload as the "
                  "workdir's owner",
                  err);
    }
    return FailErrno(
        fmt::format("idmapped workdir: open_tree('{}')", real_workdir), err);
  }
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP | attrs;
  attr.userns_fd = static_cast<uint64_t>(ns->fd());
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                      sizeof attr) != 0) {
    int err = errno;
    if (err == EINVAL || err == EOPNOTSUPP || err == ENOSYS) {
      return Fail(
          ErrorCode::kUnavailable,
          fmt::format(
              "idmapped workdir: '{}' is on {}, which cannot be idmapped "
              "here ({}); the workload's uid/gid {}:{} differ from the "
              "owner's {}:{}: put the workdir on ext4, xfs, btrfs or tmpfs "
              "(Linux 5.12+), or run the workload as the owner",
              real_workdir, FilesystemName(tree.get()), std::strerror(err), uid,
              gid, owner.st_uid, owner.st_gid),
          err);
    }
    return FailErrno(
        fmt::format("idmapped workdir: mount_setattr('{}')", real_workdir),
        err);
  }
  return tree;
}

// ---- Building the steps -------------------------------------------------

class StepList {
 public:
  // `entry_root`: where the view's paths are on the host (a bundle's
  // rootfs; empty: the host's root), prefixed to the sources of BindEntry.
  StepList(std::string old_root, std::string entry_root)
      : old_root_(std::move(old_root)), entry_root_(std::move(entry_root)) {}

  void Add(RootFilesystemStep step) { steps_.push_back(std::move(step)); }
  // Where the host's root is until it is detached.
  const std::string& old_root() const { return old_root_; }

  void MakeDir(const std::string& path, mode_t mode = 0755) {
    if (!made_.insert(path).second) return;
    Add({.op = RootStepOp::kMakeDir,
         .name = "mkdir",
         .path = path,
         .mode = mode});
  }
  void MakeFile(const std::string& path) {
    if (!made_.insert(path).second) return;
    Add({.op = RootStepOp::kMakeFile,
         .name = "create mount point",
         .path = path});
  }
  void Bind(const char* name, const std::string& host_path,
            const std::string& path, bool recursive) {
    Add({.op = RootStepOp::kBind,
         .name = name,
         .path = path,
         .source = old_root_ + host_path,
         .recursive = recursive});
  }
  // A bind of what the view shows: `real` is resolved in the workload's
  // root, which may be a directory of the host's.
  void BindEntry(const char* name, const std::string& real,
                 const std::string& path, bool recursive) {
    Bind(name, real == "/" ? entry_root_ : entry_root_ + real, path, recursive);
  }
  void SetAttr(const char* name, const std::string& path, uint64_t attrs,
               bool recursive) {
    Add({.op = RootStepOp::kSetAttr,
         .name = name,
         .path = path,
         .attr_set = attrs,
         .recursive = recursive});
  }
  void Tmpfs(const char* name, const std::string& path,
             unsigned long flags,  // NOLINT(google-runtime-int): mount(2)'s
             const char* data) {
    Add({.op = RootStepOp::kMountTmpfs,
         .name = name,
         .path = path,
         .source = data,
         .mount_flags = flags});
  }

  std::vector<RootFilesystemStep> Take() { return std::move(steps_); }

 private:
  std::string old_root_;
  std::string entry_root_;
  std::vector<RootFilesystemStep> steps_;
  std::set<std::string> made_;
};

// Makes sure `entry`'s mount point can exist: directories (and the leaf)
// created in what we mount ourselves, or checked on the host where a bind
// shows them (nothing can be created there).
Status PlanMountPoint(const EntrySet& entries, const Entry& entry,
                      StepList& steps) {
  const Entry* above = entries.Covering(entry.path, /*strict=*/true);
  std::string base = above == nullptr ? "/" : above->path;
  std::vector<std::string> chain;  // the directories between, top down
  for (std::string p = Parent(entry.path); IsStrictlyWithin(p, base);
       p = Parent(p)) {
    chain.insert(chain.begin(), p);
  }
  if (IsOurs(above)) {
    for (const std::string& dir : chain) steps.MakeDir(dir);
    if (entry.kind == EntryKind::kSymlink) return {};
    if (entry.directory) {
      steps.MakeDir(entry.path);
    } else {
      steps.MakeFile(entry.path);
    }
    return {};
  }
  if (!IsBind(*above) || !above->directory) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' lies inside '{}', which is not a "
                            "directory",
                            entry.field, entry.path, above->path));
  }
  chain.push_back(entry.path);
  for (const std::string& p : chain) {
    std::string host = Rebase(p, above->path, above->real);
    struct stat st {};
    bool leaf = p == entry.path;
    bool want_dir = !leaf || entry.directory;
    bool ok = ::lstat(host.c_str(), &st) == 0 && !S_ISLNK(st.st_mode) &&
              S_ISDIR(st.st_mode) == want_dir;
    if (!ok) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("{}: '{}' lies inside {} '{}', where '{}' is "
                      "not {} on the host (a mount point cannot be "
                      "created inside a bind mount; list the real "
                      "path instead)",
                      entry.field, entry.path, above->field, above->path, host,
                      want_dir ? "a directory" : "a file"));
    }
  }
  return {};
}

Status PlanEntry(const EntrySet& entries, const Entry& e, int tree_fd,
                 const std::vector<std::string>& exec_prefixes,
                 const std::vector<std::string>& mounts, StepList& steps,
                 std::vector<std::string>& late_readonly) {
  if (auto ok = PlanMountPoint(entries, e, steps); !ok) return ok;
  uint64_t noexec =
      ExecReachable(e.path, exec_prefixes, mounts) ? 0 : MOUNT_ATTR_NOEXEC;
  switch (e.kind) {
    case EntryKind::kReadonly:
      steps.BindEntry("bind readonly", e.real, e.path, true);
      steps.SetAttr("make readonly", e.path, kReadonlyAttrs | noexec, true);
      return {};
    case EntryKind::kWritable:
      steps.BindEntry("bind writable", e.real, e.path, true);
      steps.SetAttr("set writable flags", e.path, kWritableAttrs | noexec,
                    true);
      return {};
    case EntryKind::kWorkdir:
      if (tree_fd >= 0) {
        steps.Add({.op = RootStepOp::kMoveMount,
                   .name = "move idmapped workdir",
                   .path = e.path});
        return {};
      }
      steps.BindEntry("bind workdir", e.real, e.path, true);
      steps.SetAttr("set workdir flags", e.path, kWritableAttrs | noexec, true);
      return {};
    case EntryKind::kExecutable:
      steps.BindEntry("bind executable", e.real, e.path, false);
      steps.SetAttr("make executable readonly", e.path, kReadonlyAttrs, false);
      return {};
    case EntryKind::kTmpfs:
      steps.Tmpfs("mount tmpfs", e.path,
                  MS_NOSUID | MS_NODEV | (noexec ? MS_NOEXEC : 0), "mode=1777");
      return {};
    case EntryKind::kSymlink:
      steps.Add({.op = RootStepOp::kSymlink,
                 .name = "symlink",
                 .path = e.path,
                 .source = e.link});
      return {};
    case EntryKind::kMask:
      if (e.directory) {
        // Read-only at the very end: deeper entries may need mount points.
        steps.Tmpfs("mask hidden directory", e.path,
                    MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755");
        late_readonly.push_back(e.path);
      } else {
        steps.Bind("mask hidden file", "/dev/null", e.path, false);
        steps.SetAttr("make mask readonly", e.path,
                      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                      false);
      }
      return {};
  }
  return {};
}

// The container's /dev tmpfs.
void MountDev(const std::string& path, StepList& steps) {
  steps.Tmpfs("mount /dev", path, MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0755");
}

// `dev_mounted`: the /dev tmpfs is already there (see kOldRootInDev).
void PlanDev(bool dev_mounted, bool tty, std::optional<gid_t> devpts_gid,
             uint64_t shm_noexec, StepList& steps) {
  if (!dev_mounted) {
    steps.MakeDir("/dev");
    MountDev("/dev", steps);
  }
  std::vector<std::string> devices(std::begin(kDevices), std::end(kDevices));
  if (tty) devices.emplace_back("tty");
  for (const std::string& name : devices) {
    std::string path = "/dev/" + name;
    steps.MakeFile(path);
    steps.Bind("bind device", path, path, false);
    steps.SetAttr("set device flags", path,
                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false);
  }
  const std::pair<const char*, const char*> links[] = {
      {"/dev/fd", "/proc/self/fd"},
      {"/dev/stdin", "/proc/self/fd/0"},
      {"/dev/stdout", "/proc/self/fd/1"},
      {"/dev/stderr", "/proc/self/fd/2"}};
  for (const auto& [path, target] : links) {
    steps.Add({.op = RootStepOp::kSymlink,
               .name = "symlink in /dev",
               .path = path,
               .source = target});
  }
  // A devpts of the container's own (newinstance: no host terminal in it),
  // so openpty works; /dev/ptmx opens its multiplexer.
  steps.MakeDir("/dev/pts");
  steps.Add({.op = RootStepOp::kMountDevpts,
             .name = "mount /dev/pts",
             .path = "/dev/pts",
             .source = devpts_gid ? fmt::format("{},gid={}", kDevptsOptions,
                                                *devpts_gid)
                                  : std::string(kDevptsOptions),
             .mount_flags = MS_NOSUID | MS_NOEXEC});
  steps.Add({.op = RootStepOp::kSymlink,
             .name = "symlink in /dev",
             .path = "/dev/ptmx",
             .source = "pts/ptmx"});
  steps.MakeDir("/dev/shm");
  steps.Tmpfs("mount /dev/shm", "/dev/shm",
              MS_NOSUID | MS_NODEV | (shm_noexec != 0 ? MS_NOEXEC : 0),
              "mode=1777");
}

void PlanProc(StepList& steps) {
  steps.MakeDir("/proc", 0555);
  steps.Add({.op = RootStepOp::kMountProc,
             .name = "mount /proc",
             .path = "/proc",
             .mount_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC});
  for (const char* path : kProcMasked) {
    steps.Add({.op = RootStepOp::kMask,
               .name = "mask in /proc",
               .path = path,
               .source = steps.old_root() + "/dev/null",
               .optional = true});
  }
  for (const char* path : kProcReadonly) {
    steps.Add({.op = RootStepOp::kBind,
               .name = "bind /proc path",
               .path = path,
               .source = path,
               .recursive = true,
               .optional = true});
    steps.Add({.op = RootStepOp::kSetAttr,
               .name = "make /proc path readonly",
               .path = path,
               .attr_set = kReadonlyAttrs | MOUNT_ATTR_NOEXEC,
               .recursive = true,
               .optional = true});
  }
}

// The host's root, read-only, as the new root (before the pivot, at the
// staging directory): its own /dev, /proc and /sys mounts detached where
// the kernel lets them go (in a user namespace they are locked to the
// root's bind and stay, covered), and the container's /dev tmpfs mounted,
// which holds the old root until it is detached.
// With a workload root of its own (a bundle's rootfs), that directory is
// bound instead, read-write when `writable`.
void PlanHostRoot(uint64_t noexec, const std::string& root, bool writable,
                  StepList& steps) {
  steps.Add({.op = RootStepOp::kBind,
             .name = root.empty() ? "bind the host's root"
                                  : "bind the workload's root",
             .path = kStagingDir,
             .source = root.empty() ? std::string("/") : root,
             .recursive = true});
  for (const char* dir : kHostRootReplaced) {
    steps.Add({.op = RootStepOp::kUnmount,
               .name = "detach the host's mount",
               .path = std::string(kStagingDir) + dir,
               .optional = true});
  }
  steps.SetAttr(writable ? "set the root's flags" : "make the root readonly",
                kStagingDir,
                (writable ? kWritableAttrs : kReadonlyAttrs) | noexec, true);
  MountDev(std::string(kStagingDir) + "/dev", steps);
}

// ---- Collecting the entries ---------------------------------------------

Status AddHostEntries(const std::vector<std::string>& paths, EntryKind kind,
                      std::string_view field, EntrySet& entries) {
  for (const std::string& path : paths) {
    if (auto ok = ValidatePath(field, path); !ok) return ok;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return Fail(ErrorCode::kNotFound,
                    fmt::format("{}: '{}' does not exist", field, path));
      }
      return FailErrno(fmt::format("{}: lstat('{}')", field, path), errno);
    }
    Result<std::string> real = RealPath(field, path);
    if (!real) return tl::unexpected(real.error());
    Entry entry{.kind = kind,
                .field = std::string(field),
                .path = path,
                .real = *real,
                .host_symlink = S_ISLNK(st.st_mode)};
    if (entry.host_symlink) {
      std::error_code ec;
      entry.link = std::filesystem::read_symlink(path, ec).string();
      if (ec) {
        return FailErrno(fmt::format("{}: readlink('{}')", field, path),
                         ec.value());
      }
    }
    if (IsWithin(entry.real, "/dev") || IsWithin(entry.real, "/proc")) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: '{}' resolves to '{}', inside /dev or "
                              "/proc, which the container provides itself",
                              field, path, entry.real));
    }
    struct stat target {};
    if (::stat(entry.real.c_str(), &target) != 0) {
      return FailErrno(fmt::format("{}: stat('{}')", field, entry.real), errno);
    }
    entry.directory = S_ISDIR(target.st_mode);
    if (auto ok = entries.Add(std::move(entry)); !ok) return ok;
  }
  return {};
}

// A listed symlink is recreated when what it names is shown at the same
// path by a bind (and nothing is listed below it); otherwise its target is
// bound at its path.
void ResolveSymlinks(EntrySet& entries) {
  auto& map = entries.map();
  for (auto& [path, e] : map) {
    if (!e.host_symlink) continue;
    // Explicit captures: a lambda may not name a structured binding
    // implicitly before C++20 (and clang 14 still rejects it).
    bool has_children =
        std::any_of(map.begin(), map.end(), [&path = path](auto& other) {
          return IsStrictlyWithin(other.first, path);
        });
    if (has_children) continue;
    std::string named = Normalise(
        e.link.starts_with("/") ? e.link : Parent(path) + "/" + e.link);
    if (named != e.real) continue;  // a chain of links: bind instead
    bool shown = std::any_of(map.begin(), map.end(), [&e = e](auto& other) {
      const Entry& b = other.second;
      return IsBind(b) && !b.host_symlink && b.path == b.real &&
             IsWithin(e.real, b.path);
    });
    if (shown) e.kind = EntryKind::kSymlink;
  }
}

// Masks where a bind would show a hidden path.
Status AddMasks(const std::vector<std::string>& hidden, EntrySet& entries) {
  struct Candidate {
    std::string path;  // in the container
    std::string real;  // the hidden host path shown there
    bool directory;
  };
  std::vector<Candidate> candidates;
  for (const std::string& path : hidden) {
    if (auto ok = ValidatePath("filesystem.hidden", path); !ok) return ok;
    std::error_code ec;
    std::filesystem::path real_path = std::filesystem::canonical(path, ec);
    if (ec) continue;  // missing: nothing to hide
    std::string real = real_path.string();
    struct stat st {};
    if (::stat(real.c_str(), &st) != 0) continue;
    for (const auto& [p, b] : entries.map()) {
      if (!IsBind(b)) continue;
      if (b.real == real) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("filesystem.hidden: '{}' is also listed in "
                                "{} (as '{}')",
                                path, b.field, b.path));
      }
      if (IsStrictlyWithin(real, b.real)) {
        candidates.push_back(
            {Rebase(real, b.real, b.path), real, S_ISDIR(st.st_mode)});
      }
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) {
              return Depth(a.path) < Depth(b.path) ||
                     (Depth(a.path) == Depth(b.path) && a.path < b.path);
            });
  for (const Candidate& c : candidates) {
    // Only where the hidden path really shows (not under another mask, a
    // tmpfs or a deeper bind of something else).
    if (entries.HostPathAt(c.path) != c.real) continue;
    if (auto ok = entries.Add({.kind = EntryKind::kMask,
                               .field = "filesystem.hidden",
                               .path = c.path,
                               .real = c.real,
                               .directory = c.directory});
        !ok) {
      return ok;
    }
  }
  return {};
}

// Where the executable shows in the root, adding a bind of it alone when no
// bind shows it. Returns the path to exec.
Result<std::string> PlaceExecutable(const std::string& executable,
                                    EntrySet& entries) {
  if (executable.empty() || executable[0] != '/') {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("executable: '{}' is not an absolute path", executable));
  }
  Result<std::string> real = RealPath("executable", executable);
  if (!real) return tl::unexpected(real.error());
  struct stat st {};
  if (::stat(real->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(
        ErrorCode::kNotExecutable,
        fmt::format("executable: '{}' is not a regular file", executable));
  }
  if (executable == Normalise(executable) &&
      entries.HostPathAt(executable) == *real) {
    return executable;
  }
  for (const auto& [p, b] : entries.map()) {
    if (!IsBind(b) || !IsWithin(*real, b.real)) continue;
    std::string there = Rebase(*real, b.real, b.path);
    if (entries.HostPathAt(there) == *real) return there;
  }
  if (auto ok = ValidatePath("executable", *real); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = entries.Add({.kind = EntryKind::kExecutable,
                             .field = "executable",
                             .path = *real,
                             .real = *real,
                             .directory = false});
      !ok) {
    return tl::unexpected(ok.error());
  }
  return *real;
}

// ---- Interpreters ---------------------------------------------------------

// What the kernel loads to run the program at host path `path`: a script's
// "#!" interpreter, or an ELF file's PT_INTERP (its dynamic loader); ""
// for a static program, or anything isoscope cannot read (the exec then
// says what is wrong).
std::string InterpreterOf(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return "";
  char head[256] = {};
  const ssize_t n = ::pread(fd.get(), head, sizeof(head) - 1, 0);
  if (n < 4) return "";
  if (head[0] == '#' && head[1] == '!') {
    std::string_view line(head + 2, static_cast<size_t>(n) - 2);
    line = line.substr(0, line.find('\n'));
    const size_t begin = line.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return "";
    line = line.substr(begin);
    return std::string(line.substr(0, line.find_first_of(" \t")));
  }
  Elf64_Ehdr header{};
  if (static_cast<size_t>(n) < sizeof(header)) return "";
  std::memcpy(&header, head, sizeof(header));
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
      header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum > 256) {
    return "";
  }
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph{};
    const off_t at = static_cast<off_t>(header.e_phoff + i * sizeof(ph));
    if (::pread(fd.get(), &ph, sizeof(ph), at) !=
        static_cast<ssize_t>(sizeof(ph))) {
      return "";
    }
    if (ph.p_type != PT_INTERP) continue;
    if (ph.p_filesz < 2 || ph.p_filesz > PATH_MAX) return "";
    std::string interpreter(ph.p_filesz, '\0');
    if (::pread(fd.get(), interpreter.data(), interpreter.size(),
                static_cast<off_t>(ph.p_offset)) !=
        static_cast<ssize_t>(interpreter.size())) {
      return "";
    }
    interpreter.resize(std::strlen(interpreter.c_str()));
    return interpreter;
  }
  return "";
}

// Whether host path `path` shows in the root at the same path, through a
// bind of it or of where its symlinks lead (a recreated /lib64 -> usr/lib64
// beside /usr). Generous: a wrong "missing" would stop a run that works.
bool Shows(const EntrySet& entries, const std::string& path) {
  if (!entries.HostPathAt(path).empty()) return true;
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  return !ec && !entries.HostPathAt(real.string()).empty();
}

// The program's interpreters (a script's, then that program's loader...)
// must show in the root, or its exec fails with a bare ENOENT: said here,
// with the policy field to change.
Status CheckInterpreters(const std::string& executable,
                         const EntrySet& entries) {
  std::string program = executable;
  for (int depth = 0; depth < 4; ++depth) {
    const std::string interpreter = InterpreterOf(program);
    if (interpreter.empty() || interpreter[0] != '/') return {};
    if (!Shows(entries, interpreter)) {
      const size_t slash = interpreter.find('/', 1);
      const std::string top = interpreter.substr(0, slash);
      return Fail(
          ErrorCode::kNotFound,
          fmt::format("{} (the interpreter of {}) is not in the container's "
                      "filesystem view (policy 'filesystem.readonly' does not "
                      "include {}); add it, or use filesystem.readonly: "
                      "[\"/\"]{}",
                      interpreter, program, top,
                      program == executable
                          ? ""
                          : fmt::format(" (the workload is {})", executable)));
    }
    program = interpreter;
  }
  return {};
}

// ---- The child's side ---------------------------------------------------

int RunStep(const RootFilesystemStep& s, int tree_fd) {
  const char* path = s.path.c_str();
  int rc = 0;
  switch (s.op) {
    case RootStepOp::kMakePrivate:
      rc = ::mount(nullptr, path, nullptr, MS_REC | MS_PRIVATE, nullptr);
      break;
    case RootStepOp::kMountTmpfs:
      rc = ::mount("tmpfs", path, "tmpfs", s.mount_flags, s.source.c_str());
      break;
    case RootStepOp::kMakeDir:
      rc = ::mkdir(path, s.mode);
      if (rc != 0 && errno == EEXIST) {
        struct stat st {};
        rc = ::lstat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
        if (rc != 0) errno = EEXIST;
      }
      break;
    case RootStepOp::kMakeFile: {
      int fd = ::open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
      if (fd < 0) {
        rc = -1;
      } else {
        ::close(fd);
      }
      break;
    }
    case RootStepOp::kPivotRoot:
      rc = static_cast<int>(::syscall(SYS_pivot_root, path, s.source.c_str()));
      if (rc == 0) rc = ::chdir("/");
      break;
    case RootStepOp::kBind:
      rc = ::mount(s.source.c_str(), path, nullptr,
                   MS_BIND | (s.recursive ? MS_REC : 0), nullptr);
      break;
    case RootStepOp::kMoveMount:
      rc = ::move_mount(tree_fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH);
      break;
    case RootStepOp::kSetAttr: {
      mount_attr attr{};
      attr.attr_set = s.attr_set;
      rc = ::mount_setattr(
          AT_FDCWD, path,
          AT_SYMLINK_NOFOLLOW | (s.recursive ? AT_RECURSIVE : 0), &attr,
          sizeof attr);
      break;
    }
    case RootStepOp::kMountProc:
      rc = ::mount("proc", path, "proc", s.mount_flags, nullptr);
      break;
    case RootStepOp::kMountDevpts:
      rc = ::mount("devpts", path, "devpts", s.mount_flags, s.source.c_str());
      break;
    case RootStepOp::kMask: {
      struct stat st {};
      rc = ::stat(path, &st);
      if (rc != 0) break;
      if (S_ISDIR(st.st_mode)) {
        rc = ::mount("tmpfs", path, "tmpfs",
                     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555");
      } else {
        rc = ::mount(s.source.c_str(), path, nullptr, MS_BIND, nullptr);
      }
      break;
    }
    case RootStepOp::kSymlink:
      rc = ::symlink(s.source.c_str(), path);
      break;
    case RootStepOp::kUnmount:
      rc = ::umount2(path, MNT_DETACH);
      break;
    case RootStepOp::kRemoveDir:
      rc = ::rmdir(path);
      break;
    case RootStepOp::kChdir:
      rc = ::chdir(path);
      break;
  }
  return rc == 0 ? 0 : -errno;
}

}  // namespace

// ---- IdmapUserNamespace -------------------------------------------------

namespace {

// The idmap helper's whole life. The user namespace exists once clone
// returns, and outlives the task: until the task is reaped its credentials,
// and so its /proc/<pid>/uid_map, gid_map and ns/user, stay (which takes
// SIGCHLD not ignored: main() resets it). Not instrumented: it runs on a
// stack the sanitizer runtime does not know.
[[gnu::no_sanitize_address]] int ExitAtOnce(void* /*unused*/) { return 0; }

}  // namespace

Result<IdmapUserNamespace> IdmapUserNamespace::Create(uid_t uid_from,
                                                      uid_t uid_to,
                                                      gid_t gid_from,
                                                      gid_t gid_to) {
  // Made as posix_spawn makes a child (CLONE_VM | CLONE_VFORK), this thread
  // waiting until it has exited: nothing of isoscope's address space is
  // copied or marked copy-on-write (a fork of it cost a container start
  // about 1 ms on the PVM development VMs, most of it in the faults that
  // followed). The child only returns, on a stack of its own; signals are
  // blocked around the clone so no handler of isoscope's runs in it.
  alignas(16) char stack[4096];
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  const int pid =
      ::clone(ExitAtOnce, stack + sizeof stack,
              CLONE_NEWUSER | CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
  const int clone_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    if (clone_error == EINVAL || clone_error == EPERM ||
        clone_error == ENOSPC) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("cannot create a user namespace for an "
                              "idmapped mount: {}",
                              std::strerror(clone_error)),
                  clone_error);
    }
    return FailErrno("clone(CLONE_NEWUSER)", clone_error);
  }
  // Reaps the helper however this function returns; the namespace then
  // lives on through the descriptor opened below.
  struct Helper {
    pid_t pid;
    ~Helper() {
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  } helper{pid};

  auto write_file = [&](const std::string& name,
                        const std::string& text) -> Status {
    std::string path = fmt::format("/proc/{}/{}", pid, name);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return FailErrno(fmt::format("open({})", path), errno);
    if (::write(fd.get(), text.data(), text.size()) !=
        static_cast<ssize_t>(text.size())) {
      return FailErrno(fmt::format("writing '{}' to {}", text, path), errno);
    }
    return {};
  };
  if (auto ok =
          write_file("uid_map", fmt::format("{} {} 1\n", uid_from, uid_to));
      !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok =
          write_file("gid_map", fmt::format("{} {} 1\n", gid_from, gid_to));
      !ok) {
    return tl::unexpected(ok.error());
  }
  std::string ns_path = fmt::format("/proc/{}/ns/user", pid);
  UniqueFd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return FailErrno(fmt::format("open({})", ns_path), errno);
  return IdmapUserNamespace(std::move(ns));
}

// ---- RootFilesystemPlan -------------------------------------------------

Error RootFilesystemPlan::FailureError(
    const RootFilesystemFailure& failure) const {
  if (failure.step < 0 || static_cast<size_t>(failure.step) >= steps_.size()) {
    return Error(ErrorCode::kInternal,
                 fmt::format("building the container's root: step {} "
                             "failed (not in the plan)",
                             failure.step),
                 failure.error);
  }
  const RootFilesystemStep& step = steps_[failure.step];
  return Error::FromErrno(fmt::format("building the container's root: {} '{}'",
                                      step.name, step.path),
                          failure.error);
}

std::string RootFilesystemPlan::Describe() const {
  std::string out;
  for (const RootFilesystemStep& s : steps_) {
    out += fmt::format("{} {}", s.name, s.path);
    if (!s.source.empty()) out += fmt::format(" <- {}", s.source);
    if (s.mount_flags != 0) out += fmt::format(" flags={:#x}", s.mount_flags);
    if (s.attr_set != 0) out += fmt::format(" attrs={:#x}", s.attr_set);
    if (s.recursive) out += " recursive";
    if (s.optional) out += " optional";
    out += '\n';
  }
  return out;
}

// ---- Planning -----------------------------------------------------------

namespace {

// Where the workload's root is, for Plan: the host's, or a directory of it
// (RootFilesystemInputs::root) that the planning thread is chrooted into.
struct PlanRoot {
  std::string host_path;  // empty: the host's root
  bool writable = false;  // the view's `writable` lists "/"
};

Result<RootFilesystemPlan> Plan(const FilesystemView& view,
                                const RootFilesystemInputs& in,
                                const PlanRoot& workload_root) {
  const bool own_root = !workload_root.host_path.empty();
  // A workdir in a root of its own is not bound: it may be that root.
  if (auto ok = own_root && in.workdir == "/"
                    ? Status{}
                    : ValidatePath("workdir", in.workdir);
      !ok) {
    return tl::unexpected(ok.error());
  }
  EntrySet entries;
  struct stat owner {};
  std::string workdir_real;  // on the host; empty with a root of its own
  if (own_root) {
    // The workdir (the bundle's process.cwd) is a directory of the root,
    // shown as the root shows it: no bind of its own.
    if (::stat(in.workdir.c_str(), &owner) != 0 || !S_ISDIR(owner.st_mode)) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("workdir: '{}' is not a directory in the "
                              "workload's root {}",
                              in.workdir, workload_root.host_path));
    }
  } else {
    Result<std::string> real = RealPath("workdir", in.workdir);
    if (!real) return tl::unexpected(real.error());
    workdir_real = std::move(*real);
    if (::stat(workdir_real.c_str(), &owner) != 0) {
      return FailErrno(fmt::format("workdir: stat('{}')", workdir_real), errno);
    }
    if (!S_ISDIR(owner.st_mode)) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("workdir: '{}' is not a directory", in.workdir));
    }
    if (auto ok = entries.Add({.kind = EntryKind::kWorkdir,
                               .field = "workdir",
                               .path = in.workdir,
                               .real = workdir_real});
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  // The host's root (or the workload's) as the base: one bind of "/" that
  // every other entry lies in.
  const bool host_root =
      own_root || std::find(view.readonly.begin(), view.readonly.end(), "/") !=
                      view.readonly.end();
  if (host_root) {
    if (auto ok = entries.Add({.kind = EntryKind::kReadonly,
                               .field = "filesystem.readonly",
                               .path = "/",
                               .real = "/"});
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  // Under the host's root, a read-only path shows already, as it is, unless
  // the workdir, a writable path or a tmpfs covers it (or it is listed there
  // too: an error below).
  std::vector<std::string> readonly;
  for (const std::string& path : view.readonly) {
    if (path == "/") continue;
    const auto covers = [&](const std::string& other) {
      return IsWithin(path, other) || IsWithin(other, path);
    };
    if (host_root && !workload_root.writable &&
        (own_root || !covers(in.workdir)) &&
        std::none_of(view.writable.begin(), view.writable.end(), covers) &&
        std::none_of(view.tmpfs.begin(), view.tmpfs.end(), covers)) {
      continue;
    }
    readonly.push_back(path);
  }
  if (auto ok = AddHostEntries(readonly, EntryKind::kReadonly,
                               "filesystem.readonly", entries);
      !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = AddHostEntries(view.writable, EntryKind::kWritable,
                               "filesystem.writable", entries);
      !ok) {
    return tl::unexpected(ok.error());
  }
  for (const std::string& path : view.tmpfs) {
    if (auto ok = ValidatePath("filesystem.tmpfs", path); !ok) {
      return tl::unexpected(ok.error());
    }
    if (auto ok = entries.Add({.kind = EntryKind::kTmpfs,
                               .field = "filesystem.tmpfs",
                               .path = path});
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  ResolveSymlinks(entries);
  if (auto ok = AddMasks(view.hidden, entries); !ok) {
    return tl::unexpected(ok.error());
  }
  Result<std::string> executable = PlaceExecutable(in.executable, entries);
  if (!executable) return tl::unexpected(executable.error());

  // The workload's own program stays executable whatever the globs say.
  std::vector<std::string> exec_prefixes = ExecPrefixes(in.exec_globs);
  exec_prefixes.push_back(*executable);
  std::vector<std::string> mounts;
  for (const auto& [path, e] : entries.map()) mounts.push_back(path);

  UniqueFd tree;
  uid_t uid = in.workload_uid.value_or(owner.st_uid);
  gid_t gid = in.workload_gid.value_or(owner.st_gid);
  if (!own_root && (uid != owner.st_uid || gid != owner.st_gid)) {
    // The workload becomes the owner of every file there. The filter keeps
    // it from making a privileged file (SeccompRouting::
    // forbid_privileged_files), but a write through a shared mapping
    // changes a file's content and keeps its set-id bit and capabilities.
    Result<std::string> privileged = FirstPrivilegedFile(workdir_real);
    if (!privileged) return tl::unexpected(privileged.error());
    if (!privileged->empty()) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format(
              "workdir: '{}' belongs to {}:{} and the workload runs as "
              "{}:{}, so the workload would own its files, among them "
              "'{}', a set-id or file-capability program it could rewrite "
              "keeping its privileges; run the workload as the workdir's "
              "owner (identity.uid and identity.gid), or give it a workdir "
              "without such files",
              in.workdir, owner.st_uid, owner.st_gid, uid, gid, *privileged));
    }
    uint64_t noexec = ExecReachable(in.workdir, exec_prefixes, mounts)
                          ? 0
                          : MOUNT_ATTR_NOEXEC;
    Result<UniqueFd> idmapped = IdmappedWorkdirTree(
        workdir_real, owner, uid, gid, kWritableAttrs | noexec);
    if (!idmapped) return tl::unexpected(idmapped.error());
    tree = std::move(*idmapped);
  }

  const std::string old_root = host_root ? kOldRootInDev : kOldRoot;
  StepList steps(old_root, workload_root.host_path);
  const std::string staging_old_root = std::string(kStagingDir) + old_root;
  steps.Add({.op = RootStepOp::kMakePrivate,
             .name = "make mounts private",
             .path = "/"});
  if (host_root) {
    PlanHostRoot(
        ExecReachable("/", exec_prefixes, mounts) ? 0 : MOUNT_ATTR_NOEXEC,
        workload_root.host_path, workload_root.writable, steps);
  } else {
    steps.Tmpfs("mount the root tmpfs", kStagingDir,
                MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755");
  }
  steps.Add({.op = RootStepOp::kMakeDir,
             .name = "mkdir old root",
             .path = staging_old_root,
             .mode = 0700});
  steps.Add({.op = RootStepOp::kPivotRoot,
             .name = "pivot_root",
             .path = kStagingDir,
             .source = staging_old_root});

  std::vector<const Entry*> order;
  for (const auto& [path, e] : entries.map()) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](const Entry* a, const Entry* b) {
                     return Depth(a->path) < Depth(b->path);
                   });
  std::vector<std::string> late_readonly;
  for (const Entry* e : order) {
    if (e->path == "/") continue;  // the base, bound before the pivot
    if (auto ok = PlanEntry(entries, *e, tree.get(), exec_prefixes, mounts,
                            steps, late_readonly);
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  PlanDev(
      host_root, in.dev_tty, in.devpts_gid,
      ExecReachable("/dev/shm", exec_prefixes, mounts) ? 0 : MOUNT_ATTR_NOEXEC,
      steps);
  PlanProc(steps);
  if (host_root) {
    steps.Add({.op = RootStepOp::kMask,
               .name = "mask /sys",
               .path = "/sys",
               .source = old_root + "/dev/null",
               .optional = true});
  }

  steps.Add({.op = RootStepOp::kUnmount,
             .name = "detach the host's root",
             .path = old_root});
  steps.Add({.op = RootStepOp::kRemoveDir,
             .name = "rmdir old root",
             .path = old_root});
  for (const std::string& path : late_readonly) {
    steps.SetAttr("make mask readonly", path, MOUNT_ATTR_RDONLY, false);
  }
  steps.SetAttr("make /dev readonly", "/dev", MOUNT_ATTR_RDONLY, false);
  if (!workload_root.writable) {
    steps.SetAttr("make the root readonly", "/", MOUNT_ATTR_RDONLY, false);
  }
  steps.Add({.op = RootStepOp::kChdir,
             .name = "chdir to the workdir",
             .path = in.workdir});
  // Last: a view that is wrong in itself says so first.
  if (auto ok = CheckInterpreters(in.executable, entries); !ok) {
    return tl::unexpected(ok.error());
  }
  return RootFilesystemPlan(steps.Take(), *executable, std::move(tree));
}

// Whether `path` (absolute, in the current root) exists.
bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Plan, run in a thread of its own chrooted into `root` (unshare(CLONE_FS)
// gives the thread its own root, so the rest of isoscope keeps the host's):
// every path the planning resolves, reads or checks (symlinks, the
// executable's interpreter, mount points) is then the workload's, resolved
// as the kernel will resolve it once the root is pivoted into.
Result<RootFilesystemPlan> PlanInRoot(const FilesystemView& view,
                                      const RootFilesystemInputs& in) {
  std::optional<Result<RootFilesystemPlan>> planned;
  std::thread thread([&] {
    if (::unshare(CLONE_FS) != 0 || ::chroot(in.root.c_str()) != 0 ||
        ::chdir("/") != 0) {
      planned.emplace(FailErrno(
          fmt::format("entering the workload's root {} to plan it", in.root),
          errno));
      return;
    }
    // The container mounts its own /dev and /proc there, and writes
    // nothing into the root to make them.
    for (const char* dir : {"/dev", "/proc"}) {
      struct stat st {};
      if (::stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        planned.emplace(Fail(
            ErrorCode::kInvalidArgument,
            fmt::format("the workload's root {} has no {} directory, where "
                        "the container mounts its own (container images "
                        "have one)",
                        in.root, dir)));
        return;
      }
    }
    // The view applies on top of the root: what it lists that the root
    // lacks is left out (a bundle need not have /lib64 or /tmp), "/" in
    // `writable` makes the root itself writable.
    PlanRoot root{.host_path = in.root};
    FilesystemView inside;
    for (const std::string& path : view.readonly) {
      if (path != "/" && Exists(path)) inside.readonly.push_back(path);
    }
    for (const std::string& path : view.writable) {
      if (path == "/") {
        root.writable = true;
      } else if (Exists(path)) {
        inside.writable.push_back(path);
      }
    }
    for (const std::string& path : view.tmpfs) {
      if (Exists(path)) inside.tmpfs.push_back(path);
    }
    inside.hidden = view.hidden;
    planned.emplace(Plan(inside, in, root));
  });
  thread.join();
  return std::move(*planned);
}

}  // namespace

Result<RootFilesystemPlan> PlanRootFilesystem(const FilesystemView& view,
                                              const RootFilesystemInputs& in) {
  struct stat staging {};
  if (::lstat(kStagingDir, &staging) != 0 || !S_ISDIR(staging.st_mode)) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("building the container's root needs the host "
                            "directory {} (it is covered in the container's "
                            "mount namespace only)",
                            kStagingDir));
  }
  if (in.root.empty()) return Plan(view, in, PlanRoot{});
  if (in.root.front() != '/') {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("root: '{}' is not an absolute path", in.root));
  }
  return PlanInRoot(view, in);
}

int ApplyRootFilesystem(const RootFilesystemPlan& plan,
                        RootFilesystemFailure* failure) {
  const std::vector<RootFilesystemStep>& steps = plan.steps();
  for (size_t i = 0; i < steps.size(); ++i) {
    const RootFilesystemStep& step = steps[i];
    int rc = RunStep(step, plan.workdir_tree_fd());
    if (rc == 0 || (rc == -ENOENT && step.optional)) continue;
    // An optional unmount of what is not a mount point (or is locked to
    // its parent in a user namespace) leaves it covered instead.
    if (rc == -EINVAL && step.optional && step.op == RootStepOp::kUnmount) {
      continue;
    }
    if (failure != nullptr) {
      failure->step = static_cast<int>(i);
      failure->error = -rc;
      failure->step_name = step.name;
      failure->path = step.path.c_str();
    }
    return rc;
  }
  return 0;
}

}  // namespace isoscope
