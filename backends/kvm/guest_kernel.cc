#include "backends/kvm/guest_kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "backends/kvm/guest_layout.h"
#include "backends/process/syscall_paths.h"
#include "base/temp_dir.h"
#include "policies/syscalls.h"
#include "supervisor/workload_env.h"

namespace isoscope::kvm {
namespace {

// Linux 6.6 added fchmodat2; Debian 12's headers (6.1) lack its number.
constexpr int64_t kSysFchmodat2 = 452;
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

constexpr uint64_t kX32Bit = 0x40000000;
// getname() refuses a string that does not end within PATH_MAX bytes.
constexpr size_t kPathMax = PATH_MAX;
// The largest copy one call makes between guest RAM and the VMM; a longer
// read or write is short, as Linux allows.
constexpr uint64_t kIoChunk = 1ULL << 20;
constexpr uint64_t kRandomChunk = 256ULL << 10;
constexpr uint64_t kDefaultOpenFiles = 1024;
constexpr uint64_t kMaxOpenFiles = 1ULL << 16;  // like fs.nr_open, smaller
constexpr uint64_t kMaxIovecs = 1024;           // UIO_MAXIOV
constexpr uint64_t kUserAddressLimit = 1ULL << 47;
constexpr uint64_t kNoLimit = ~0ULL;
constexpr int kSignals = 64;
constexpr uint64_t kUnblockable =
    (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1));
constexpr uint64_t kMinSigStackSize = 2048;  // MINSIGSTKSZ

// The open flags Linux knows (VALID_OPEN_FLAGS); open/openat drop others,
// openat2 refuses them.
constexpr uint64_t kValidOpenFlags =
    O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
    O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW |
    O_NOATIME | O_CLOEXEC | O_PATH | O_SYNC | O_TMPFILE;
constexpr uint64_t kValidResolve = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS |
                                   RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH |
                                   RESOLVE_IN_ROOT | RESOLVE_CACHED;
// The guest's own resolve restrictions that are kept (they only narrow).
constexpr uint64_t kGuestResolveKept =
    RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
constexpr uint64_t kOpenHowMinSize = 24;
constexpr uint64_t kOpenHowMaxSize = 4096;

// Permission bits the guest may set on host files. The VMM creates them as
// its own (host) user: a setuid or setgid bit would hand that user's
// rights to whoever runs the file on the host later.
constexpr uint64_t kGuestModeBits = 01777;

constexpr int64_t Err(int error) { return -static_cast<int64_t>(error); }

// The kernel takes fds, flags and similar arguments as 32-bit ints.
constexpr int32_t AsInt(uint64_t value) {
  return static_cast<int32_t>(static_cast<uint32_t>(value));
}

constexpr uint64_t PageDown(uint64_t value) { return value & ~(kPageSize - 1); }
// Rounds up; nullopt on overflow.
constexpr std::optional<uint64_t> PageUp(uint64_t value) {
  if (value > ~0ULL - (kPageSize - 1)) return std::nullopt;
  return (value + kPageSize - 1) & ~(kPageSize - 1);
}

struct GuestTimespec {
  int64_t sec = 0;
  int64_t nsec = 0;
};
bool ValidTimespec(const GuestTimespec& ts) {
  return ts.sec >= 0 && ts.nsec >= 0 && ts.nsec < 1000000000;
}
std::chrono::nanoseconds ToDuration(const GuestTimespec& ts) {
  // Saturates: a guest can ask for centuries.
  constexpr int64_t kMaxSeconds = INT64_MAX / 1000000000 - 1;
  if (ts.sec >= kMaxSeconds) return std::chrono::nanoseconds::max();
  return std::chrono::nanoseconds(ts.sec * 1000000000 + ts.nsec);
}

struct GuestSigaction {
  uint64_t handler = 0, flags = 0, restorer = 0, mask = 0;
};
struct GuestStack {
  uint64_t sp = 0;
  int32_t flags = 0;
  int32_t pad = 0;
  uint64_t size = 0;
};
struct GuestPollFd {
  int32_t fd = 0;
  int16_t events = 0;
  int16_t revents = 0;
};
struct GuestDirent {  // struct linux_dirent64 without its name
  uint64_t ino;
  int64_t off;
  uint16_t reclen;
  uint8_t type;
};

int Openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t mode,
            uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  const int64_t fd =
      ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
  if (fd >= 0) return static_cast<int>(fd);
  // RESOLVE_BENEATH refuses what would leave the root: outside the view,
  // nothing is visible.
  return errno == EXDEV ? -ENOENT : -errno;
}

int64_t HostResult(int64_t value) { return value < 0 ? Err(errno) : value; }

bool IsPrefixPath(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return true;
  return path.size() >= prefix.size() &&
         path.substr(0, prefix.size()) == prefix &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

bool NamesDirectory(std::string_view raw) {
  return raw.ends_with("/") || raw == "." || raw == ".." ||
         raw.ends_with("/.") || raw.ends_with("/..");
}

int HostClock(int32_t clock) {
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_TAI:
      return clock;
    // The guest's CPU time is the vCPU thread's (Perform runs on it).
    case CLOCK_PROCESS_CPUTIME_ID:
    case CLOCK_THREAD_CPUTIME_ID:
      return CLOCK_THREAD_CPUTIME_ID;
    case CLOCK_REALTIME_ALARM:
      return CLOCK_REALTIME;
    case CLOCK_BOOTTIME_ALARM:
      return CLOCK_BOOTTIME;
    default:
      return -1;
  }
}

// A synthesised stat for the standard streams: a pipe, as under a
// supervisor that captures output.
struct stat StreamStat(uint32_t uid, uint32_t gid) {
  struct stat st;
  std::memset(&st, 0, sizeof st);
  st.st_mode = S_IFIFO | 0600;
  st.st_nlink = 1;
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_blksize = 4096;
  return st;
}

}  // namespace

// ---------------------------------------------------------------------------
// The filesystem view: immutable after Create, shared by clones.

struct GuestKernel::View {
  struct Root {
    std::string path;  // guest path, normalised
    UniqueFd dir;      // O_PATH directory: the root, or a file root's parent
    std::string leaf;  // a file root: its name in `dir`
    bool writable = false;
    uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    bool may_reach_proc = false;  // "/" itself: check opened files' fs
    bool tmpfs = false;           // one of the view's tmpfs roots
  };
  struct Location {
    const Root* root = nullptr;
    std::string relative;  // below root->dir; "." is the root itself
    bool is_root = false;
  };

  GuestKernelConfig config;
  std::vector<Root> roots;
  std::vector<std::string> hidden;
  std::optional<TempDir> tmpfs;  // holds the tmpfs roots' directories
  struct utsname uts;

  // The longest visible root of `path`, or ENOENT.
  int Locate(const std::string& path, bool must_be_directory,
             Location& out) const {
    const Root* best = nullptr;
    for (const Root& root : roots) {
      if (IsPrefixPath(root.path, path) &&
          (best == nullptr || root.path.size() > best->path.size())) {
        best = &root;
      }
    }
    if (best == nullptr) return ENOENT;
    for (const std::string& entry : hidden) {
      if (entry.size() >= best->path.size() && IsPrefixPath(entry, path)) {
        return ENOENT;
      }
    }
    out.root = best;
    out.is_root = path.size() == best->path.size();
    std::string_view rest;
    if (!out.is_root) {
      rest = std::string_view{path}.substr(
          best->path == "/" ? 1 : best->path.size() + 1);
    }
    if (!best->leaf.empty()) {
      out.relative = best->leaf;
      if (!rest.empty()) out.relative.append("/").append(rest);
    } else {
      out.relative = rest.empty() ? std::string(".") : std::string(rest);
    }
    if (must_be_directory) out.relative.push_back('/');
    return 0;
  }

  // Opens a located path on the host (flags get O_CLOEXEC); -errno.
  static int Open(const Location& at, uint64_t flags, uint64_t mode,
                  uint64_t extra_resolve = 0) {
    const int fd = Openat2(at.root->dir.get(), at.relative, flags | O_CLOEXEC,
                           mode, at.root->resolve | extra_resolve);
    if (fd >= 0 && at.root->may_reach_proc) {
      struct statfs fs;
      if (::fstatfs(fd, &fs) != 0 || fs.f_type == PROC_SUPER_MAGIC) {
        ::close(fd);
        return -ENOENT;
      }
    }
    return fd;
  }

  // The parent directory of a located path (O_PATH) and the last name in
  // it. EBUSY for a root itself, which cannot be removed or renamed.
  static int Parent(const Location& at, UniqueFd& parent, std::string& leaf) {
    if (at.is_root && at.root->leaf.empty()) return EBUSY;
    std::string_view relative = at.relative;
    const bool slash = relative.ends_with("/");
    if (slash) relative.remove_suffix(1);
    const size_t cut = relative.rfind('/');
    const std::string dir = cut == std::string_view::npos
                                ? "."
                                : std::string(relative.substr(0, cut));
    leaf = std::string(
        cut == std::string_view::npos ? relative : relative.substr(cut + 1));
    if (slash) leaf.push_back('/');
    const int fd =
        Openat2(at.root->dir.get(), dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                at.root->resolve);
    if (fd < 0) return -fd;
    parent.Reset(fd);
    return 0;
  }

  // Whether a directory (guest path) holds a hidden entry directly.
  bool HasHiddenChild(const std::string& dir) const {
    for (const std::string& entry : hidden) {
      const size_t cut = entry.rfind('/');
      const std::string_view parent =
          cut == 0 ? std::string_view{"/"}
                   : std::string_view{entry}.substr(0, cut);
      if (parent == dir) return true;
    }
    return false;
  }
  bool IsHidden(const std::string& path) const {
    return std::find(hidden.begin(), hidden.end(), path) != hidden.end();
  }
};

// ---------------------------------------------------------------------------
// The descriptor table.

struct GuestKernel::FdEntry {
  enum class Kind : uint8_t { kFree, kStdin, kStdout, kStderr, kFile, kPipe };
  Kind kind = Kind::kFree;
  UniqueFd host;     // kFile, kPipe
  std::string path;  // the guest path it was opened by (or "pipe:[n]")
  bool directory = false;
  bool regular = false;
  bool writable_root = false;
  bool hidden_children = false;  // getdents64 filters hidden names
  bool cloexec = false;
  uint32_t status_flags = 0;  // the guest's F_GETFL view

  bool stream() const {
    return kind == Kind::kStdin || kind == Kind::kStdout ||
           kind == Kind::kStderr;
  }
  bool readable() const {
    const uint32_t mode = status_flags & O_ACCMODE;
    return (status_flags & O_PATH) == 0 && (mode == O_RDONLY || mode == O_RDWR);
  }
  bool writable() const {
    const uint32_t mode = status_flags & O_ACCMODE;
    return (status_flags & O_PATH) == 0 && (mode == O_WRONLY || mode == O_RDWR);
  }
};

GuestKernel::GuestKernel(GuestMemory& memory, std::shared_ptr<const View> view)
    : memory_(&memory), view_(std::move(view)), scratch_(new char[kIoChunk]) {}

GuestKernel::~GuestKernel() = default;

Result<std::unique_ptr<GuestKernel>> GuestKernel::Create(
    GuestMemory& memory, GuestKernelConfig config) {
  auto invalid = [](std::string message) {
    return Fail(ErrorCode::kInvalidArgument,
                "guest kernel: " + std::move(message));
  };
  if (config.brk_start % kPageSize != 0 || config.mmap_low % kPageSize != 0 ||
      config.mmap_high % kPageSize != 0 || config.mmap_low > config.mmap_high ||
      config.mmap_high > memory.size() || config.brk_start > config.mmap_high) {
    return invalid(fmt::format(
        "bad memory layout: brk {:#x}, mmap [{:#x}, {:#x}), RAM {:#x}",
        config.brk_start, config.mmap_low, config.mmap_high, memory.size()));
  }
  if (config.workdir.empty() || config.workdir.front() != '/') {
    return invalid("workdir '" + config.workdir + "' is not absolute");
  }
  auto view = std::make_shared<View>();
  std::memset(&view->uts, 0, sizeof view->uts);
  struct utsname host;
  if (::uname(&host) != 0) return FailErrno("uname", errno);
  auto copy_field = [](char(&to)[65], std::string_view from) {
    const size_t n = std::min(from.size(), sizeof to - 1);
    std::memcpy(to, from.data(), n);
  };
  copy_field(view->uts.sysname, "Linux");
  // No host name of the policy's: the host's names, as on the other
  // backends.
  const bool own_name = !config.hostname.empty();
  copy_field(view->uts.nodename, own_name ? config.hostname : host.nodename);
  copy_field(view->uts.release, host.release);
  copy_field(view->uts.version, host.version);
  copy_field(view->uts.machine, "x86_64");
  copy_field(view->uts.domainname, own_name ? "(none)" : host.domainname);

  auto normalise = [&](const std::string& path) -> Result<std::string> {
    if (path.empty() || path.front() != '/') {
      return invalid("view path '" + path + "' is not absolute");
    }
    return NormalizePath(path);
  };
  for (const std::string& path : config.view.hidden) {
    auto normal = normalise(path);
    if (!normal) return tl::unexpected(normal.error());
    view->hidden.push_back(*normal);
  }
  // What the VMM's own /proc would show is never the guest's.
  view->hidden.emplace_back("/proc");

  // A view path is a path of the workload's root (config.root: a bundle's
  // rootfs), resolved beneath it as the kernel resolves a chrooted
  // process's paths; a tmpfs root's directory is a host path.
  const bool own_root = !config.root.empty();
  if (own_root) {
    char real[PATH_MAX];
    if (config.root.front() != '/' ||
        ::realpath(config.root.c_str(), real) == nullptr) {
      return invalid("root '" + config.root +
                     "' is not an absolute path "
                     "that exists");
    }
    config.root = real;
  }
  auto add_root = [&](const std::string& guest_path, const std::string& path,
                      bool writable, bool in_root) -> Status {
    auto normal = normalise(guest_path);
    if (!normal) return tl::unexpected(normal.error());
    std::string resolved;  // on the host, without symlinks
    if (in_root) {
      auto canonical = CanonicalInRoot(config.root, path);
      if (!canonical) {
        const int error = canonical.error().sys_errno();
        if (error == ENOENT || error == ENOTDIR) return {};  // not visible
        return tl::unexpected(canonical.error().WithContext(
            "guest kernel: resolving view path " + path));
      }
      resolved = *canonical == "/" ? config.root : config.root + *canonical;
    } else {
      char real[PATH_MAX];
      if (::realpath(path.c_str(), real) == nullptr) {
        if (errno == ENOENT || errno == ENOTDIR) return {};  // not visible
        return FailErrno("guest kernel: resolving view path " + path, errno);
      }
      resolved = real;
    }
    View::Root root;
    root.path = *normal;
    root.writable = writable;
    if (in_root && root.path == "/") {
      // The workload's root itself: an absolute symlink in it names a path
      // of it, and ".." stops at it, as for a chrooted process.
      root.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    }
    // Opened without following any symlink: the path was resolved above,
    // and a symlink put in its way since leads nowhere (ELOOP).
    const int target =
        Openat2(AT_FDCWD, resolved, O_PATH | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS);
    if (target < 0) {
      return FailErrno("guest kernel: opening view root " + resolved, -target);
    }
    UniqueFd target_fd(target);
    struct stat st;
    if (::fstat(target, &st) != 0) {
      return FailErrno("guest kernel: stat " + resolved, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      root.dir = std::move(target_fd);
    } else {
      // A file root: its parent, with only this name reachable in it (no
      // symlink followed, so the name cannot lead elsewhere in the parent).
      const size_t cut = resolved.rfind('/');
      root.leaf = resolved.substr(cut + 1);
      const std::string dir = cut == 0 ? "/" : resolved.substr(0, cut);
      root.resolve |= RESOLVE_NO_SYMLINKS;
      const int parent =
          Openat2(AT_FDCWD, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                  RESOLVE_NO_SYMLINKS);
      if (parent < 0) {
        return FailErrno("guest kernel: opening view root " + dir, -parent);
      }
      root.dir.Reset(parent);
    }
    for (const std::string& entry : view->hidden) {
      if (entry == "/proc") continue;
      if (entry.size() > root.path.size() && IsPrefixPath(root.path, entry)) {
        // The kernel's walk could reach a hidden name through a symlink.
        root.resolve |= RESOLVE_NO_SYMLINKS;
      }
    }
    root.may_reach_proc = root.path == "/" && root.leaf.empty();
    view->roots.push_back(std::move(root));
    return {};
  };
  if (own_root) {
    // The workload's root is the base of the view, read-only unless the
    // view lists "/" as writable (as the container binds it); the view's
    // entries are paths in it, on top.
    if (Status added = add_root("/", "/", false, true); !added) {
      return tl::unexpected(added.error());
    }
  }
  for (const std::string& path : config.view.readonly) {
    if (Status added = add_root(path, path, false, own_root); !added) {
      return tl::unexpected(added.error());
    }
  }
  for (const std::string& path : config.view.writable) {
    if (Status added = add_root(path, path, true, own_root); !added) {
      return tl::unexpected(added.error());
    }
  }
  if (!own_root) {
    // The workdir is always visible and writable, as the container backend
    // binds it: the workload's cwd must exist whatever the view lists. (In
    // a root of its own, the workdir is a directory of it, shown as the
    // view shows it, as in the container.)
    const std::string workdir = NormalizePath(config.workdir);
    if (Status added = add_root(workdir, workdir, true, false); !added) {
      return tl::unexpected(added.error());
    }
  }
  if (!config.view.tmpfs.empty()) {
    auto dir = TempDir::Create("isoscope-guest-tmpfs-", config.tmpfs_parent);
    if (!dir) return tl::unexpected(dir.error().WithContext("guest kernel"));
    view->tmpfs.emplace(*std::move(dir));
    for (size_t i = 0; i < config.view.tmpfs.size(); ++i) {
      const std::string host =
          (view->tmpfs->path() / std::to_string(i)).string();
      if (::mkdir(host.c_str(), 01777) != 0) {
        return FailErrno("guest kernel: mkdir " + host, errno);
      }
      const size_t before = view->roots.size();
      if (Status added = add_root(config.view.tmpfs[i], host, true, false);
          !added) {
        return tl::unexpected(added.error());
      }
      if (view->roots.size() > before) view->roots.back().tmpfs = true;
    }
  }
  // On equal paths the later kind wins (tmpfs over writable over readonly),
  // as later mounts cover earlier ones: stable order, keep the last.
  std::stable_sort(view->roots.begin(), view->roots.end(),
                   [](const View::Root& a, const View::Root& b) {
                     return a.path.size() < b.path.size();
                   });
  std::reverse(view->roots.begin(), view->roots.end());
  for (size_t i = 0; i < view->roots.size(); ++i) {
    for (size_t j = i + 1; j < view->roots.size();) {
      if (view->roots[j].path == view->roots[i].path) {
        view->roots.erase(view->roots.begin() + static_cast<ptrdiff_t>(j));
      } else {
        ++j;
      }
    }
  }

  // A symlink could also lead around a root below another: from a writable
  // root into a read-only one (writing what the view shows read-only), or
  // into what a tmpfs root covers. Under such a root, symlinks are not
  // followed either.
  for (View::Root& root : view->roots) {
    for (const View::Root& below : view->roots) {
      if (below.path.size() > root.path.size() &&
          IsPrefixPath(root.path, below.path) &&
          (below.tmpfs || (root.writable && !below.writable))) {
        root.resolve |= RESOLVE_NO_SYMLINKS;
      }
    }
  }

  config.workdir = NormalizePath(config.workdir);
  view->config = std::move(config);
  const GuestKernelConfig& cfg = view->config;
  std::unique_ptr<GuestKernel> kernel(new GuestKernel(memory, view));
  kernel->cwd_ = cfg.workdir;
  kernel->image_ =
      Image{cfg.brk_start, cfg.mmap_low, cfg.mmap_high, cfg.executable};
  kernel->brk_ = cfg.brk_start;
  kernel->fds_.resize(3);
  kernel->fds_[0].kind = FdEntry::Kind::kStdin;
  kernel->fds_[0].path = "pipe:[stdin]";
  kernel->fds_[0].status_flags = O_RDONLY;
  kernel->fds_[1].kind = FdEntry::Kind::kStdout;
  kernel->fds_[1].path = "pipe:[stdout]";
  kernel->fds_[1].status_flags = O_WRONLY;
  kernel->fds_[2].kind = FdEntry::Kind::kStderr;
  kernel->fds_[2].path = "pipe:[stderr]";
  kernel->fds_[2].status_flags = O_WRONLY;
  for (Rlimit& limit : kernel->rlimits_) limit = {kNoLimit, kNoLimit};
  const uint64_t files =
      std::min(cfg.open_files.value_or(kDefaultOpenFiles), kMaxOpenFiles);
  kernel->rlimits_[RLIMIT_NOFILE] = {files, files};
  if (cfg.file_size_bytes) {
    kernel->rlimits_[RLIMIT_FSIZE] = {*cfg.file_size_bytes,
                                      *cfg.file_size_bytes};
  }
  const StackRegion stack = StackRegionFor(memory.size());
  kernel->rlimits_[RLIMIT_STACK] = {stack.top - stack.bottom, kNoLimit};
  return kernel;
}

Result<std::unique_ptr<GuestKernel>> GuestKernel::Clone(
    GuestMemory& memory) const {
  std::unique_ptr<GuestKernel> copy(new GuestKernel(memory, view_));
  copy->cwd_ = cwd_;
  copy->fds_.resize(fds_.size());
  for (size_t i = 0; i < fds_.size(); ++i) {
    const FdEntry& from = fds_[i];
    FdEntry& to = copy->fds_[i];
    if (from.host) {
      to.host.Reset(::fcntl(from.host.get(), F_DUPFD_CLOEXEC, 0));
      if (!to.host) return FailErrno("guest kernel: dup for clone", errno);
    }
    to.kind = from.kind;
    to.path = from.path;
    to.directory = from.directory;
    to.regular = from.regular;
    to.writable_root = from.writable_root;
    to.hidden_children = from.hidden_children;
    to.cloexec = from.cloexec;
    to.status_flags = from.status_flags;
  }
  copy->image_ = image_;
  copy->pid_ = pid_;
  copy->ppid_ = ppid_;
  copy->brk_ = brk_;
  copy->mappings_ = mappings_;
  copy->fs_base_ = fs_base_;
  copy->gs_base_ = gs_base_;
  copy->actions_ = actions_;
  copy->signal_mask_ = signal_mask_;
  copy->alt_stack_ = alt_stack_;
  copy->umask_ = umask_;
  copy->rlimits_ = rlimits_;
  return copy;
}

void GuestKernel::SetProcess(int pid, int ppid) {
  pid_ = pid;
  ppid_ = ppid;
}

void GuestKernel::Exec(Image image) {
  // What execve keeps: descriptors without close-on-exec, the cwd, umask,
  // limits, the signal mask and ignored signals. Everything of the old
  // image's memory goes (the backend has reset guest RAM).
  for (FdEntry& entry : fds_) {
    if (entry.kind != FdEntry::Kind::kFree && entry.cloexec) entry = FdEntry{};
  }
  image_ = std::move(image);
  brk_ = image_.brk_start;
  mappings_.clear();
  fs_base_ = 0;
  gs_base_ = 0;
  for (SignalAction& action : actions_) {
    if (action.handler != 1 /* SIG_IGN */) action = SignalAction{};
  }
  alt_stack_ = AltStack{};
}

// ---------------------------------------------------------------------------
// Decoding.

bool GuestKernel::GuestRange(uint64_t address, uint64_t length) const {
  // The first page is never mapped in the guest: NULL faults there, so it
  // does here too.
  if (length == 0) return true;
  return address >= kPageSize && memory_->Contains(address, length);
}

const GuestKernel::FdEntry* GuestKernel::Entry(int64_t fd) const {
  if (fd < 0 || static_cast<uint64_t>(fd) >= fds_.size()) return nullptr;
  const FdEntry& entry = fds_[static_cast<size_t>(fd)];
  return entry.kind == FdEntry::Kind::kFree ? nullptr : &entry;
}

GuestKernel::FdEntry* GuestKernel::Entry(int64_t fd) {
  return const_cast<FdEntry*>(std::as_const(*this).Entry(fd));
}

DecodedCall GuestKernel::Decode(uint64_t number,
                                const std::array<uint64_t, 6>& args) const {
  DecodedCall call;
  call.request.args = args;
  if ((number & kX32Bit) != 0) {
    call.request.abi = Abi::kX32;
    number &= ~kX32Bit;
  }
  if (number > static_cast<uint64_t>(INT_MAX)) {
    call.request.number = -1;
    return call;
  }
  call.request.number = static_cast<int>(number);
  if (!PathArguments(call.request.number).empty()) {
    call.decode_errno = DecodePaths(static_cast<int>(number), args, call);
  }
  return call;
}

int GuestKernel::DecodePaths(int number, const std::array<uint64_t, 6>& args,
                             DecodedCall& call) const {
  if (number == SYS_openat2) {
    // copy_struct_from_user's order: size bounds, the unknown tail must be
    // zero, then the struct.
    const uint64_t address = args[2];
    const uint64_t size = args[3];
    if (size < kOpenHowMinSize) return EINVAL;
    if (size > kOpenHowMaxSize) return E2BIG;
    if (!GuestRange(address, size)) return EFAULT;
    if (size > kOpenHowMinSize) {
      char tail[kOpenHowMaxSize];
      if (!memory_->Read(address + kOpenHowMinSize, tail,
                         size - kOpenHowMinSize)) {
        return EFAULT;
      }
      for (uint64_t i = 0; i < size - kOpenHowMinSize; ++i) {
        if (tail[i] != 0) return E2BIG;
      }
    }
    uint64_t how[3];
    if (!memory_->Read(address, how, sizeof how)) return EFAULT;
    call.open_how = OpenHow{how[0], how[1], how[2]};
    call.request.open_flags = how[0];
  }
  for (const PathArgSpec& spec : PathArguments(number)) {
    const uint64_t address = args[static_cast<size_t>(spec.path_index)];
    const int dirfd = spec.dirfd_index < 0
                          ? AT_FDCWD
                          : AsInt(args[static_cast<size_t>(spec.dirfd_index)]);
    std::string text;
    bool itself = false;
    if (address == 0 && NullPathNamesFd(number, spec.path_index, args)) {
      itself = true;
    } else {
      if (address < kPageSize) return EFAULT;
      auto read = memory_->ReadString(address, kPathMax - 1);
      if (!read) {
        return read.error() == GuestMemory::StringError::kTooLong ? ENAMETOOLONG
                                                                  : EFAULT;
      }
      text = *std::move(read);
      if (text.empty()) {
        if (!EmptyPathNamesFd(number, spec.path_index, args)) return ENOENT;
        itself = true;
      }
    }
    std::string path;
    if (itself) {
      if (dirfd == AT_FDCWD) {
        path = cwd_;
      } else {
        const FdEntry* entry = Entry(dirfd);
        if (entry == nullptr) return EBADF;
        path = entry->path;
      }
      call.names_fd = true;
    } else if (text.front() == '/') {
      path = NormalizePath(text);
    } else {
      std::string_view base = cwd_;
      if (dirfd != AT_FDCWD) {
        const FdEntry* entry = Entry(dirfd);
        if (entry == nullptr) return EBADF;
        if (!entry->directory) return ENOTDIR;
        base = entry->path;
      }
      std::string joined;
      joined.reserve(base.size() + 1 + text.size());
      joined.append(base).append("/").append(text);
      path = NormalizePath(joined);
    }
    if (!itself && NamesDirectory(text) && path != "/") {
      call.must_be_directory |=
          static_cast<uint8_t>(1u << call.request.paths.size());
    }
    if (path.size() >= kPathMax) return ENAMETOOLONG;
    call.request.paths.push_back(
        PathArgument{spec.path_index, std::move(path)});
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Dispatch.

CallEffect GuestKernel::Perform(const DecodedCall& call) {
  CallEffect effect;
  const std::array<uint64_t, 6>& a = call.request.args;
  const int number = call.request.number;
  if (number < 0 || call.request.abi != Abi::kX86_64) {
    effect.result = Err(ENOSYS);
    effect.unimplemented = true;
    return effect;
  }
  if (call.decode_errno != 0) {
    effect.result = Err(call.decode_errno);
    return effect;
  }
  int64_t& r = effect.result;
  const View& view = *view_;
  switch (number) {
    // Identity and process state.
    case SYS_getppid:
      r = ppid_;
      break;
    case SYS_getpid:
    case SYS_gettid:
      r = pid_;
      break;
    case SYS_getuid:
    case SYS_geteuid:
      r = view.config.uid;
      break;
    case SYS_getgid:
    case SYS_getegid:
      r = view.config.gid;
      break;
    case SYS_getresuid:
      r = WriteIds(a, view.config.uid);
      break;
    case SYS_getresgid:
      r = WriteIds(a, view.config.gid);
      break;
    case SYS_getgroups:
      r = AsInt(a[0]) < 0 ? Err(EINVAL) : 0;
      break;
    case SYS_getpgrp:
      r = 1;
      break;
    case SYS_getpgid:
    case SYS_getsid:
      r = (AsInt(a[0]) == 0 || AsInt(a[0]) == 1) ? 1 : Err(ESRCH);
      break;
    case SYS_exit:
    case SYS_exit_group:
      effect.exit_status = static_cast<int>(a[0] & 0xff);
      r = 0;
      break;
    case SYS_set_tid_address:
      r = 1;
      break;
    case SYS_set_robust_list:
      r = a[1] == 24 ? 0 : Err(EINVAL);
      break;
    case SYS_rseq:
      r = Err(ENOSYS);
      effect.unimplemented = true;
      break;
    case SYS_uname:
      r = Uname(a[0]);
      break;
    case SYS_arch_prctl:
      r = ArchPrctl(a[0], a[1], effect);
      break;
    case SYS_rt_sigaction:
      r = RtSigaction(a);
      break;
    case SYS_rt_sigprocmask:
      r = RtSigprocmask(a);
      break;
    case SYS_sigaltstack:
      r = Sigaltstack(a[0], a[1]);
      break;
    case SYS_prlimit64:
      r = Prlimit(a[0], a[1], a[2], a[3]);
      break;
    case SYS_getrlimit:
      r = Prlimit(0, a[0], 0, a[1]);
      break;
    case SYS_setrlimit:
      r = Prlimit(0, a[0], a[1], 0);
      break;
    case SYS_sysinfo:
      r = Sysinfo(a[0]);
      break;
    case SYS_umask: {
      const uint32_t old = umask_;
      umask_ = static_cast<uint32_t>(a[0]) & 0777;
      r = old;
      break;
    }
    case SYS_getcwd:
      r = Getcwd(a[0], a[1]);
      break;
    case SYS_chdir:
      r = Chdir(call);
      break;
    case SYS_fchdir:
      r = Fchdir(AsInt(a[0]));
      break;
    case SYS_sched_yield:
      r = 0;
      break;
    case SYS_sched_getaffinity:
      r = SchedGetaffinity(a[0], a[1], a[2]);
      break;

    // Memory.
    case SYS_brk:
      r = Brk(a[0]);
      break;
    case SYS_mmap:
      r = Mmap(a, effect);
      break;
    case SYS_munmap:
      r = Munmap(a[0], a[1]);
      break;
    case SYS_mremap:
      r = Mremap(a, effect);
      break;
    case SYS_mprotect: {
      // Not enforced: the guest runs in ring 0 of one identity map, where
      // page permissions cannot hold it. Validated like Linux.
      const auto length = PageUp(a[1]);
      if (a[0] % kPageSize != 0 ||
          (a[2] &
           ~uint64_t{PROT_READ | PROT_WRITE | PROT_EXEC | 0x8 /* PROT_SEM */ |
                     PROT_GROWSDOWN | PROT_GROWSUP}) != 0) {
        r = Err(EINVAL);
      } else if (!length || !memory_->Contains(a[0], *length)) {
        r = Err(ENOMEM);
      } else {
        r = 0;
      }
      break;
    }
    case SYS_madvise:
      r = Madvise(a[0], a[1], a[2]);
      break;

    // Time, randomness, waiting.
    case SYS_clock_gettime:
      r = ClockGettime(a[0], a[1], false);
      break;
    case SYS_clock_getres:
      r = ClockGettime(a[0], a[1], true);
      break;
    case SYS_gettimeofday:
      r = Gettimeofday(a[0], a[1]);
      break;
    case SYS_time:
      r = Time(a[0]);
      break;
    case SYS_nanosleep:
      r = Nanosleep(CLOCK_MONOTONIC, 0, a[0], a[1]);
      break;
    case SYS_clock_nanosleep:
      r = Nanosleep(a[0], a[1], a[2], a[3]);
      break;
    case SYS_getrandom:
      r = Getrandom(a[0], a[1], a[2]);
      break;
    case SYS_futex:
      r = Futex(a);
      if (r == Err(ENOSYS)) effect.unimplemented = true;
      break;
    case SYS_poll: {
      const int32_t timeout_ms = AsInt(a[2]);
      r = Poll(a[0], a[1],
               timeout_ms < 0
                   ? std::nullopt
                   : std::optional<int64_t>(int64_t{timeout_ms} * 1000000));
      break;
    }
    case SYS_ppoll:
      r = Ppoll(a);
      break;

    // Descriptors and files.
    case SYS_open:
      r = Open(call, a[1], a[2], 0, false);
      break;
    case SYS_openat:
      r = Open(call, a[2], a[3], 0, false);
      break;
    case SYS_creat:
      r = Open(call, O_CREAT | O_WRONLY | O_TRUNC, a[1], 0, false);
      break;
    case SYS_openat2:
      r = Open(call, call.open_how.flags, call.open_how.mode,
               call.open_how.resolve, true);
      break;
    case SYS_close:
      r = Close(AsInt(a[0]));
      break;
    case SYS_read:
      r = Read(AsInt(a[0]), a[1], a[2], std::nullopt);
      break;
    case SYS_pread64:
      r = Read(AsInt(a[0]), a[1], a[2], static_cast<int64_t>(a[3]));
      break;
    case SYS_readv:
      r = Readv(AsInt(a[0]), a[1], a[2]);
      break;
    case SYS_write:
      r = Write(AsInt(a[0]), a[1], a[2], std::nullopt, effect);
      break;
    case SYS_pwrite64:
      r = Write(AsInt(a[0]), a[1], a[2], static_cast<int64_t>(a[3]), effect);
      break;
    case SYS_writev:
      r = Writev(AsInt(a[0]), a[1], a[2], effect);
      break;
    case SYS_lseek:
      r = Lseek(AsInt(a[0]), a[1], a[2]);
      break;
    case SYS_fstat:
      r = Fstat(AsInt(a[0]), a[1]);
      break;
    case SYS_stat:
      r = Stat(call, a[1], 0, true);
      break;
    case SYS_lstat:
      r = Stat(call, a[1], AT_SYMLINK_NOFOLLOW, false);
      break;
    case SYS_newfstatat:
      r = Stat(call, a[2], a[3], (AsInt(a[3]) & AT_SYMLINK_NOFOLLOW) == 0);
      break;
    case SYS_statx:
      r = Statx(call);
      break;
    case SYS_getdents64:
      r = Getdents64(AsInt(a[0]), a[1], a[2]);
      break;
    case SYS_readlink:
      r = Readlink(call, a[1], a[2]);
      break;
    case SYS_readlinkat:
      r = Readlink(call, a[2], a[3]);
      break;
    case SYS_access:
      r = Access(call, a[1], 0);
      break;
    case SYS_faccessat:
      r = Access(call, a[2], 0);
      break;
    case SYS_faccessat2:
      r = Access(call, a[2], a[3]);
      break;
    case SYS_unlink:
      r = Unlink(call, 0);
      break;
    case SYS_unlinkat:
      r = Unlink(call, a[2]);
      break;
    case SYS_rmdir:
      r = Unlink(call, AT_REMOVEDIR);
      break;
    case SYS_mkdir:
      r = Mkdir(call, a[1]);
      break;
    case SYS_mkdirat:
      r = Mkdir(call, a[2]);
      break;
    case SYS_rename:
    case SYS_renameat:  // neither takes flags; only renameat2 does
      r = Rename(call, 0);
      break;
    case SYS_renameat2:
      r = Rename(call, a[4]);
      break;
    case SYS_link:
      r = Link(call, 0);
      break;
    case SYS_linkat:
      r = Link(call, a[4]);
      break;
    case SYS_symlink:
    case SYS_symlinkat:
      r = Symlink(call, a[0]);
      break;
    case SYS_chmod:
      r = Chmod(call, a[1], 0);
      break;
    case SYS_fchmodat:
      r = Chmod(call, a[2], 0);
      break;
    case kSysFchmodat2:
      r = Chmod(call, a[2], a[3]);
      break;
    case SYS_fchmod:
      r = Fchmod(AsInt(a[0]), a[1]);
      break;
    case SYS_truncate:
      r = Truncate(call, a[1], effect);
      break;
    case SYS_ftruncate:
      r = Ftruncate(AsInt(a[0]), a[1], effect);
      break;
    case SYS_fsync:
    case SYS_fdatasync:
      r = Fsync(AsInt(a[0]));
      break;
    case SYS_fcntl:
      r = Fcntl(AsInt(a[0]), a[1], a[2]);
      if (r == Err(EINVAL)) {
        const int32_t command = AsInt(a[1]);
        if (command == F_GETLK || command == F_SETLK || command == F_SETLKW ||
            command == F_OFD_GETLK || command == F_OFD_SETLK ||
            command == F_OFD_SETLKW) {
          effect.unimplemented = true;
        }
      }
      break;
    case SYS_dup:
      r = Dup(AsInt(a[0]), std::nullopt, 0, false);
      break;
    case SYS_dup2:
      r = Dup(AsInt(a[0]), AsInt(a[1]), 0, false);
      break;
    case SYS_dup3:
      r = Dup(AsInt(a[0]), AsInt(a[1]), a[2], true);
      break;
    case SYS_pipe:
      r = Pipe2(a[0], 0);
      break;
    case SYS_pipe2:
      r = Pipe2(a[0], a[1]);
      break;
    case SYS_ioctl:
      r = Ioctl(AsInt(a[0]), a[1]);
      break;

    // The process model is the backend's; anything else is not provided.
    default:
      r = Err(ENOSYS);
      effect.unimplemented = true;
      break;
  }
  return effect;
}

// ---------------------------------------------------------------------------
// Process state.

int64_t GuestKernel::WriteIds(const std::array<uint64_t, 6>& args,
                              uint32_t id) {
  for (int i = 0; i < 3; ++i) {
    if (!GuestRange(args[static_cast<size_t>(i)], sizeof id) ||
        !memory_->WriteValue(args[static_cast<size_t>(i)], id)) {
      return Err(EFAULT);
    }
  }
  return 0;
}

int64_t GuestKernel::Uname(uint64_t address) {
  if (!GuestRange(address, sizeof view_->uts) ||
      !memory_->WriteValue(address, view_->uts)) {
    return Err(EFAULT);
  }
  return 0;
}

int64_t GuestKernel::ArchPrctl(uint64_t code, uint64_t address,
                               CallEffect& effect) {
  switch (code) {
    case 0x1001:  // ARCH_SET_GS
    case 0x1002:  // ARCH_SET_FS
      // Linux refuses a base outside user space.
      if (address >= kUserAddressLimit) return Err(EPERM);
      if (code == 0x1002) {
        fs_base_ = address;
        effect.set_fs_base = address;
      } else {
        gs_base_ = address;
        effect.set_gs_base = address;
      }
      return 0;
    case 0x1003:  // ARCH_GET_FS
    case 0x1004:  // ARCH_GET_GS
    {
      const uint64_t value = code == 0x1003 ? fs_base_ : gs_base_;
      if (!GuestRange(address, sizeof value) ||
          !memory_->WriteValue(address, value)) {
        return Err(EFAULT);
      }
      return 0;
    }
    default:
      return Err(EINVAL);
  }
}

int64_t GuestKernel::RtSigaction(const std::array<uint64_t, 6>& args) {
  if (args[3] != sizeof(uint64_t)) return Err(EINVAL);
  std::optional<GuestSigaction> action;
  if (args[1] != 0) {
    if (!GuestRange(args[1], sizeof(GuestSigaction))) return Err(EFAULT);
    action = memory_->ReadValue<GuestSigaction>(args[1]);
    if (!action) return Err(EFAULT);
  }
  const int32_t signal = AsInt(args[0]);
  if (signal < 1 || signal > kSignals ||
      (action && (signal == SIGKILL || signal == SIGSTOP))) {
    return Err(EINVAL);
  }
  SignalAction& slot = actions_[static_cast<size_t>(signal - 1)];
  const GuestSigaction old{slot.handler, slot.flags, slot.restorer, slot.mask};
  if (action) {
    slot = SignalAction{action->handler, action->flags, action->restorer,
                        action->mask & ~kUnblockable};
  }
  if (args[2] != 0) {
    if (!GuestRange(args[2], sizeof old) ||
        !memory_->WriteValue(args[2], old)) {
      return Err(EFAULT);
    }
  }
  return 0;
}

int64_t GuestKernel::RtSigprocmask(const std::array<uint64_t, 6>& args) {
  if (args[3] != sizeof(uint64_t)) return Err(EINVAL);
  const uint64_t old = signal_mask_;
  if (args[1] != 0) {
    if (!GuestRange(args[1], sizeof(uint64_t))) return Err(EFAULT);
    auto set = memory_->ReadValue<uint64_t>(args[1]);
    if (!set) return Err(EFAULT);
    uint64_t mask = signal_mask_;
    switch (AsInt(args[0])) {
      case SIG_BLOCK:
        mask |= *set;
        break;
      case SIG_UNBLOCK:
        mask &= ~*set;
        break;
      case SIG_SETMASK:
        mask = *set;
        break;
      default:
        return Err(EINVAL);
    }
    signal_mask_ = mask & ~kUnblockable;
  }
  if (args[2] != 0) {
    if (!GuestRange(args[2], sizeof old) ||
        !memory_->WriteValue(args[2], old)) {
      return Err(EFAULT);
    }
  }
  return 0;
}

int64_t GuestKernel::Sigaltstack(uint64_t new_stack, uint64_t old_stack) {
  const GuestStack old{alt_stack_.sp, alt_stack_.flags, 0, alt_stack_.size};
  if (new_stack != 0) {
    if (!GuestRange(new_stack, sizeof(GuestStack))) return Err(EFAULT);
    auto stack = memory_->ReadValue<GuestStack>(new_stack);
    if (!stack) return Err(EFAULT);
    const int32_t mode = stack->flags & ~SS_AUTODISARM;
    if (mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK) {
      return Err(EINVAL);
    }
    if (mode == SS_DISABLE) {
      alt_stack_ = AltStack{};
    } else {
      if (stack->size < kMinSigStackSize) return Err(ENOMEM);
      alt_stack_ = AltStack{stack->sp,
                            static_cast<int32_t>(stack->flags & SS_AUTODISARM),
                            stack->size};
    }
  }
  if (old_stack != 0) {
    if (!GuestRange(old_stack, sizeof old) ||
        !memory_->WriteValue(old_stack, old)) {
      return Err(EFAULT);
    }
  }
  return 0;
}

int64_t GuestKernel::Prlimit(uint64_t pid, uint64_t resource,
                             uint64_t new_limit, uint64_t old_limit) {
  if (AsInt(pid) != 0 && AsInt(pid) != 1) return Err(ESRCH);
  if (resource >= rlimits_.size()) return Err(EINVAL);
  std::optional<Rlimit> wanted;
  if (new_limit != 0) {
    if (!GuestRange(new_limit, sizeof(Rlimit))) return Err(EFAULT);
    wanted = memory_->ReadValue<Rlimit>(new_limit);
    if (!wanted) return Err(EFAULT);
    if (wanted->cur > wanted->max) return Err(EINVAL);
  }
  Rlimit& slot = rlimits_[resource];
  const Rlimit old = slot;
  if (wanted) {
    // Only lowering: the VMM's own limits (config) are the ceiling.
    if (wanted->max > slot.max) return Err(EPERM);
    slot = *wanted;
  }
  if (old_limit != 0) {
    if (!GuestRange(old_limit, sizeof old) ||
        !memory_->WriteValue(old_limit, old)) {
      return Err(EFAULT);
    }
  }
  return 0;
}

int64_t GuestKernel::Sysinfo(uint64_t address) {
  struct sysinfo host;
  if (::sysinfo(&host) != 0) return Err(errno);
  struct sysinfo info;
  std::memset(&info, 0, sizeof info);
  info.uptime = host.uptime;
  std::copy(std::begin(host.loads), std::end(host.loads), info.loads);
  uint64_t used = HeapTop() - std::min(HeapTop(), image_.brk_start);
  for (const auto& [low, high] : mappings_) used += high - low;
  info.totalram = memory_->size();
  info.freeram = memory_->size() - std::min(used, memory_->size());
  info.procs = 1;
  info.mem_unit = 1;
  if (!GuestRange(address, sizeof info) ||
      !memory_->WriteValue(address, info)) {
    return Err(EFAULT);
  }
  return 0;
}

int64_t GuestKernel::Getcwd(uint64_t buffer, uint64_t size) {
  const uint64_t length = cwd_.size() + 1;
  if (size < length) return Err(ERANGE);
  if (!GuestRange(buffer, length) ||
      !memory_->Write(buffer, cwd_.c_str(), length)) {
    return Err(EFAULT);
  }
  return static_cast<int64_t>(length);
}

int64_t GuestKernel::Chdir(const DecodedCall& call) {
  const std::string& path = call.request.paths[0].path;
  View::Location at;
  if (int error = view_->Locate(path, false, at); error != 0) return Err(error);
  const int fd = View::Open(at, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) return fd;
  ::close(fd);
  cwd_ = path;
  return 0;
}

int64_t GuestKernel::Fchdir(int64_t fd) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr) return Err(EBADF);
  if (!entry->directory) return Err(ENOTDIR);
  cwd_ = entry->path;
  return 0;
}

int64_t GuestKernel::SchedGetaffinity(uint64_t pid, uint64_t size,
                                      uint64_t mask) {
  if (AsInt(pid) != 0 && AsInt(pid) != 1) return Err(ESRCH);
  // One CPU: the mask is one long.
  const uint32_t length = static_cast<uint32_t>(size);
  if (length == 0 || length % sizeof(uint64_t) != 0) return Err(EINVAL);
  const uint64_t one = 1;
  if (!GuestRange(mask, sizeof one) || !memory_->WriteValue(mask, one)) {
    return Err(EFAULT);
  }
  return sizeof one;
}

// ---------------------------------------------------------------------------
// Memory: the heap grows up from brk_start, mappings are placed top-down in
// [mmap_low, mmap_high); the two never overlap.

uint64_t GuestKernel::HeapTop() const {
  return *PageUp(brk_);  // brk_ <= mmap_high: cannot overflow
}

bool GuestKernel::Mapped(uint64_t low, uint64_t high) const {
  auto it = mappings_.upper_bound(low);
  if (it != mappings_.begin() && std::prev(it)->second > low) return true;
  return it != mappings_.end() && it->first < high;
}

bool GuestKernel::RangeFree(uint64_t low, uint64_t high) const {
  return low < high && low >= std::max(image_.mmap_low, HeapTop()) &&
         high <= image_.mmap_high && !Mapped(low, high);
}

std::optional<uint64_t> GuestKernel::FindFree(uint64_t length,
                                              uint64_t upper) const {
  const uint64_t lower = std::max(image_.mmap_low, HeapTop());
  uint64_t cursor = upper;
  for (auto it = mappings_.rbegin(); it != mappings_.rend(); ++it) {
    if (it->first >= cursor) continue;
    if (it->second < cursor) {
      const uint64_t gap_low = std::max(it->second, lower);
      if (cursor >= gap_low && cursor - gap_low >= length) {
        return cursor - length;
      }
    }
    cursor = it->first;
    if (cursor <= lower) return std::nullopt;
  }
  if (cursor > lower && cursor - lower >= length) return cursor - length;
  return std::nullopt;
}

void GuestKernel::AddMapping(uint64_t low, uint64_t high) {
  // Merged with touching neighbours, so mremap can grow across them.
  auto next = mappings_.find(high);
  if (next != mappings_.end()) {
    high = next->second;
    mappings_.erase(next);
  }
  auto it = mappings_.lower_bound(low);
  if (it != mappings_.begin() && std::prev(it)->second == low) {
    std::prev(it)->second = high;
    return;
  }
  mappings_[low] = high;
}

void GuestKernel::RemoveMappings(uint64_t low, uint64_t high) {
  auto it = mappings_.upper_bound(low);
  if (it != mappings_.begin()) --it;
  while (it != mappings_.end() && it->first < high) {
    const uint64_t start = it->first;
    const uint64_t end = it->second;
    if (end <= low) {
      ++it;
      continue;
    }
    const uint64_t cut_low = std::max(start, low);
    const uint64_t cut_high = std::min(end, high);
    (void)memory_->Discard(cut_low, cut_high - cut_low);
    it = mappings_.erase(it);
    if (start < cut_low) mappings_[start] = cut_low;
    if (cut_high < end) it = mappings_.emplace(cut_high, end).first;
  }
}

int64_t GuestKernel::Brk(uint64_t address) {
  // Linux answers the current break when it cannot move it.
  if (address < image_.brk_start || address > image_.mmap_high) return brk_;
  const uint64_t new_top = *PageUp(address);
  const uint64_t old_top = HeapTop();
  if (new_top > old_top) {
    if (Mapped(old_top, new_top)) return brk_;
    // Pages a shrink or munmap gave back read as zero again anyway; this
    // also covers memory the guest wrote beyond its break.
    (void)memory_->Discard(old_top, new_top - old_top);
  } else if (new_top < old_top) {
    (void)memory_->Discard(new_top, old_top - new_top);
  }
  brk_ = address;
  return static_cast<int64_t>(brk_);
}

bool GuestKernel::CopyGuest(uint64_t to, uint64_t from, uint64_t length) {
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min(kIoChunk, length - done);
    if (!memory_->Read(from + done, scratch_.get(), n) ||
        !memory_->Write(to + done, scratch_.get(), n)) {
      return false;
    }
    done += n;
  }
  return true;
}

int64_t GuestKernel::Mmap(const std::array<uint64_t, 6>& args,
                          CallEffect& effect) {
  const uint64_t hint = args[0];
  const uint64_t flags = static_cast<uint32_t>(args[3]);
  const uint64_t prot = args[2];
  const uint64_t offset = args[5];
  if (offset % kPageSize != 0) return Err(EINVAL);
  if (args[1] == 0) return Err(EINVAL);
  const auto length = PageUp(args[1]);
  if (!length) return Err(ENOMEM);
  if (offset > ~0ULL - *length) return Err(EOVERFLOW);
  const uint64_t type = flags & MAP_TYPE;
  if (type != MAP_SHARED && type != MAP_PRIVATE &&
      type != MAP_SHARED_VALIDATE) {
    return Err(EINVAL);
  }
  const bool fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0;
  if (fixed && hint % kPageSize != 0) return Err(EINVAL);
  const bool anonymous = (flags & MAP_ANONYMOUS) != 0;
  const FdEntry* file = nullptr;
  if (!anonymous) {
    file = Entry(AsInt(args[4]));
    if (file == nullptr || (file->status_flags & O_PATH) != 0) {
      return Err(EBADF);
    }
    if (file->kind != FdEntry::Kind::kFile || file->directory) {
      return Err(ENODEV);
    }
    if (!file->readable()) return Err(EACCES);
    if (type != MAP_PRIVATE && (prot & PROT_WRITE) != 0) {
      // A shared writable file mapping would need the host's page cache in
      // guest RAM; a private copy is all this VMM offers.
      effect.unimplemented = true;
      return Err(ENODEV);
    }
  }

  uint64_t upper = image_.mmap_high;
  if ((flags & MAP_32BIT) != 0) upper = std::min(upper, uint64_t{1} << 31);
  uint64_t address = 0;
  if (fixed) {
    if (hint > ~0ULL - *length) return Err(ENOMEM);
    const uint64_t end = hint + *length;
    // Only inside the mmap area: the image, heap and stack are not the
    // allocator's to replace.
    if (hint < std::max(image_.mmap_low, HeapTop()) || end > image_.mmap_high) {
      return Err(ENOMEM);
    }
    if ((flags & MAP_FIXED) == 0 && Mapped(hint, end)) return Err(EEXIST);
    RemoveMappings(hint, end);
    address = hint;
  } else if (hint != 0 && PageDown(hint) <= ~0ULL - *length &&
             RangeFree(PageDown(hint), PageDown(hint) + *length) &&
             PageDown(hint) + *length <= upper) {
    address = PageDown(hint);
  } else {
    auto found = FindFree(*length, upper);
    if (!found) return Err(ENOMEM);
    address = *found;
  }
  (void)memory_->Discard(address, *length);
  AddMapping(address, address + *length);

  if (file != nullptr) {
    // A private copy of the file's bytes; beyond its end, zeros.
    for (uint64_t done = 0; done < *length;) {
      const uint64_t n = std::min(kIoChunk, *length - done);
      const ssize_t got = ::pread(file->host.get(), scratch_.get(), n,
                                  static_cast<off_t>(offset + done));
      if (got < 0) {
        const int error = errno;
        RemoveMappings(address, address + *length);
        return Err(error == EISDIR ? ENODEV : error);
      }
      if (got == 0) break;
      (void)memory_->Write(address + done, scratch_.get(),
                           static_cast<uint64_t>(got));
      done += static_cast<uint64_t>(got);
    }
  }
  return static_cast<int64_t>(address);
}

int64_t GuestKernel::Munmap(uint64_t address, uint64_t length) {
  if (address % kPageSize != 0 || length == 0) return Err(EINVAL);
  const auto rounded = PageUp(length);
  if (!rounded || address > ~0ULL - *rounded) return Err(EINVAL);
  // Ranges that are not mapped are fine, as in Linux; the image, heap and
  // stack cannot be unmapped from the identity map and are left alone.
  RemoveMappings(address, address + *rounded);
  return 0;
}

int64_t GuestKernel::Mremap(const std::array<uint64_t, 6>& args,
                            CallEffect& effect) {
  const uint64_t old_address = args[0];
  const uint64_t flags = args[3];
  if ((flags & ~uint64_t{MREMAP_MAYMOVE | MREMAP_FIXED | 4}) != 0 ||
      old_address % kPageSize != 0) {
    return Err(EINVAL);
  }
  if ((flags & (MREMAP_FIXED | 4)) != 0) {  // 4: MREMAP_DONTUNMAP
    effect.unimplemented = true;
    return Err(EINVAL);
  }
  const auto old_length = PageUp(args[1]);
  const auto new_length = PageUp(args[2]);
  if (!old_length || !new_length || *new_length == 0) return Err(EINVAL);
  if (*old_length == 0) {  // duplicating a shared mapping
    effect.unimplemented = true;
    return Err(EINVAL);
  }
  if (old_address > ~0ULL - *old_length) return Err(EFAULT);
  const uint64_t old_end = old_address + *old_length;
  // The old range must be one mapping (touching ones are merged).
  auto it = mappings_.upper_bound(old_address);
  if (it == mappings_.begin()) return Err(EFAULT);
  --it;
  if (it->first > old_address || it->second < old_end) return Err(EFAULT);
  if (*new_length <= *old_length) {
    RemoveMappings(old_address + *new_length, old_end);
    return static_cast<int64_t>(old_address);
  }
  const uint64_t grow = *new_length - *old_length;
  if (old_end <= ~0ULL - grow && RangeFree(old_end, old_end + grow)) {
    (void)memory_->Discard(old_end, grow);
    AddMapping(old_end, old_end + grow);
    return static_cast<int64_t>(old_address);
  }
  if ((flags & MREMAP_MAYMOVE) == 0) return Err(ENOMEM);
  auto found = FindFree(*new_length, image_.mmap_high);
  if (!found) return Err(ENOMEM);
  (void)memory_->Discard(*found, *new_length);
  if (!CopyGuest(*found, old_address, *old_length)) return Err(EFAULT);
  AddMapping(*found, *found + *new_length);
  RemoveMappings(old_address, old_end);
  return static_cast<int64_t>(*found);
}

int64_t GuestKernel::Madvise(uint64_t address, uint64_t length,
                             uint64_t advice) {
  if (address % kPageSize != 0) return Err(EINVAL);
  const auto rounded = PageUp(length);
  if (!rounded || address > ~0ULL - *rounded) return Err(EINVAL);
  const int32_t value = AsInt(advice);
  if (value == 100 || value == 101) return Err(EPERM);  // hwpoison
  if (value < 0 || value > 25 || (value >= 5 && value <= 7)) {
    return Err(EINVAL);
  }
  if (*rounded == 0) return 0;
  const uint64_t end = address + *rounded;
  if (!memory_->Contains(address, *rounded)) return Err(ENOMEM);
  if (value == MADV_DONTNEED || value == MADV_FREE || value == MADV_REMOVE ||
      value == 24 /* MADV_DONTNEED_LOCKED */) {
    // Zero what is the guest's anonymous memory: the heap and mappings.
    const uint64_t heap_low = std::max(address, image_.brk_start);
    const uint64_t heap_high = std::min(end, HeapTop());
    if (heap_low < heap_high) {
      (void)memory_->Discard(heap_low, heap_high - heap_low);
    }
    for (auto it = mappings_.begin(); it != mappings_.end(); ++it) {
      const uint64_t low = std::max(address, it->first);
      const uint64_t high = std::min(end, it->second);
      if (low < high) (void)memory_->Discard(low, high - low);
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Time, randomness, waiting.

int64_t GuestKernel::ClockGettime(uint64_t clock, uint64_t address,
                                  bool resolution) {
  const int host_clock = HostClock(AsInt(clock));
  if (host_clock < 0) return Err(EINVAL);
  if (resolution && address == 0) return 0;
  struct timespec ts;
  if ((resolution ? ::clock_getres(host_clock, &ts)
                  : ::clock_gettime(host_clock, &ts)) != 0) {
    return Err(errno);
  }
  const GuestTimespec out{ts.tv_sec, ts.tv_nsec};
  if (!GuestRange(address, sizeof out) || !memory_->WriteValue(address, out)) {
    return Err(EFAULT);
  }
  return 0;
}

int64_t GuestKernel::Gettimeofday(uint64_t tv, uint64_t tz) {
  if (tv != 0) {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    const int64_t out[2] = {ts.tv_sec, ts.tv_nsec / 1000};
    if (!GuestRange(tv, sizeof out) || !memory_->Write(tv, out, sizeof out)) {
      return Err(EFAULT);
    }
  }
  if (tz != 0) {
    const int32_t zone[2] = {0, 0};
    if (!GuestRange(tz, sizeof zone) ||
        !memory_->Write(tz, zone, sizeof zone)) {
      return Err(EFAULT);
    }
  }
  return 0;
}

int64_t GuestKernel::Time(uint64_t address) {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const int64_t seconds = ts.tv_sec;
  if (address != 0 && (!GuestRange(address, sizeof seconds) ||
                       !memory_->WriteValue(address, seconds))) {
    return Err(EFAULT);
  }
  return seconds;
}

int64_t GuestKernel::SleepFor(std::chrono::nanoseconds duration) {
  duration = std::min(duration, view_->config.max_sleep);
  if (duration.count() <= 0) return 0;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(duration.count() / 1000000000);
  ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>(duration.count() % 1000000000);
  // Interrupted: the backend kicked the vCPU thread (wall-time limit).
  return ::nanosleep(&ts, nullptr) == 0 ? 0 : Err(errno);
}

int64_t GuestKernel::Nanosleep(uint64_t clock, uint64_t flags, uint64_t request,
                               uint64_t remain) {
  const int32_t id = AsInt(clock);
  if (id != CLOCK_REALTIME && id != CLOCK_MONOTONIC && id != CLOCK_BOOTTIME &&
      id != CLOCK_TAI) {
    return Err(EINVAL);
  }
  if ((AsInt(flags) & ~TIMER_ABSTIME) != 0) return Err(EINVAL);
  if (!GuestRange(request, sizeof(GuestTimespec))) return Err(EFAULT);
  auto ts = memory_->ReadValue<GuestTimespec>(request);
  if (!ts) return Err(EFAULT);
  if (!ValidTimespec(*ts)) return Err(EINVAL);
  std::chrono::nanoseconds duration = ToDuration(*ts);
  const bool absolute = (AsInt(flags) & TIMER_ABSTIME) != 0;
  if (absolute) {
    struct timespec now;
    ::clock_gettime(id, &now);
    const auto now_ns = std::chrono::nanoseconds(
        static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec);
    duration =
        duration > now_ns ? duration - now_ns : std::chrono::nanoseconds(0);
  }
  const int64_t slept = SleepFor(duration);
  if (slept == Err(EINTR) && !absolute && remain != 0) {
    const GuestTimespec zero{};
    if (!GuestRange(remain, sizeof zero) ||
        !memory_->WriteValue(remain, zero)) {
      return Err(EFAULT);
    }
  }
  return slept;
}

int64_t GuestKernel::Getrandom(uint64_t buffer, uint64_t length,
                               uint64_t flags) {
  const uint64_t known = GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE;
  if ((flags & ~known) != 0 || (flags & (GRND_INSECURE | GRND_RANDOM)) ==
                                   (GRND_INSECURE | GRND_RANDOM)) {
    return Err(EINVAL);
  }
  if (length == 0) return 0;
  if (!GuestRange(buffer, length)) return Err(EFAULT);
  const uint64_t n = std::min(length, kRandomChunk);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t got = ::getrandom(scratch_.get() + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR && done > 0) break;
      return Err(errno);
    }
    done += static_cast<uint64_t>(got);
  }
  if (!memory_->Write(buffer, scratch_.get(), done)) return Err(EFAULT);
  return static_cast<int64_t>(done);
}

int64_t GuestKernel::Futex(const std::array<uint64_t, 6>& args) {
  const uint64_t address = args[0];
  const int32_t op = AsInt(args[1]);
  const int32_t command = op & FUTEX_CMD_MASK;
  switch (command) {
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
      if (address % 4 != 0) return Err(EINVAL);
      if (command == FUTEX_WAKE_BITSET && static_cast<uint32_t>(args[5]) == 0) {
        return Err(EINVAL);
      }
      return 0;  // single-threaded: nobody waits
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      if (address % 4 != 0) return Err(EINVAL);
      if (command == FUTEX_WAIT_BITSET && static_cast<uint32_t>(args[5]) == 0) {
        return Err(EINVAL);
      }
      if (!GuestRange(address, sizeof(uint32_t))) return Err(EFAULT);
      auto value = memory_->ReadValue<uint32_t>(address);
      if (!value) return Err(EFAULT);
      std::optional<std::chrono::nanoseconds> timeout;
      if (args[3] != 0) {
        if (!GuestRange(args[3], sizeof(GuestTimespec))) return Err(EFAULT);
        auto ts = memory_->ReadValue<GuestTimespec>(args[3]);
        if (!ts) return Err(EFAULT);
        if (!ValidTimespec(*ts)) return Err(EINVAL);
        timeout = ToDuration(*ts);
        if (command == FUTEX_WAIT_BITSET) {  // absolute
          struct timespec now;
          ::clock_gettime((op & FUTEX_CLOCK_REALTIME) != 0 ? CLOCK_REALTIME
                                                           : CLOCK_MONOTONIC,
                          &now);
          const auto now_ns = std::chrono::nanoseconds(
              static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec);
          *timeout = *timeout > now_ns ? *timeout - now_ns
                                       : std::chrono::nanoseconds(0);
        }
      }
      if (*value != static_cast<uint32_t>(args[2])) return Err(EAGAIN);
      // Nothing else in a single-threaded guest can wake it.
      if (!timeout) return Err(EINTR);
      const int64_t slept = SleepFor(*timeout);
      return slept == 0 ? Err(ETIMEDOUT) : slept;
    }
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
      if (address % 4 != 0) return Err(EINVAL);
      if (command == FUTEX_CMP_REQUEUE) {
        if (!GuestRange(address, sizeof(uint32_t))) return Err(EFAULT);
        auto value = memory_->ReadValue<uint32_t>(address);
        if (!value) return Err(EFAULT);
        if (*value != static_cast<uint32_t>(args[5])) return Err(EAGAIN);
      }
      return 0;
    }
    default:
      return Err(ENOSYS);
  }
}

int64_t GuestKernel::Poll(uint64_t fds, uint64_t count,
                          std::optional<int64_t> timeout_ns) {
  if (count > FdLimit()) return Err(EINVAL);
  const uint64_t bytes = count * sizeof(GuestPollFd);  // <= 512 KiB
  if (!GuestRange(fds, bytes) || !memory_->Read(fds, scratch_.get(), bytes)) {
    return Err(EFAULT);
  }
  // What a regular file or /dev/null answers: always ready.
  constexpr int16_t kAlwaysReady = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
  int64_t ready = 0;
  for (uint64_t i = 0; i < count; ++i) {
    GuestPollFd poll;
    std::memcpy(&poll, scratch_.get() + i * sizeof poll, sizeof poll);
    int16_t revents = 0;
    if (poll.fd >= 0) {
      const FdEntry* entry = Entry(poll.fd);
      if (entry == nullptr) {
        revents = POLLNVAL;
      } else if (entry->kind == FdEntry::Kind::kPipe) {
        pollfd host{entry->host.get(), poll.events, 0};
        if (::poll(&host, 1, 0) > 0) revents = host.revents;
      } else {
        revents = static_cast<int16_t>(poll.events & kAlwaysReady);
      }
    }
    if (revents != 0) ++ready;
    // Only revents is written back, as the kernel does.
    if (!memory_->WriteValue(
            fds + i * sizeof poll + offsetof(GuestPollFd, revents), revents)) {
      return Err(EFAULT);
    }
  }
  if (ready > 0 || (timeout_ns && *timeout_ns == 0)) return ready;
  // Nothing can become ready in a single-threaded guest without a timeout.
  if (!timeout_ns) return Err(EINTR);
  const int64_t slept = SleepFor(std::chrono::nanoseconds(*timeout_ns));
  return slept == 0 ? 0 : slept;
}

int64_t GuestKernel::Ppoll(const std::array<uint64_t, 6>& args) {
  std::optional<int64_t> timeout;
  if (args[2] != 0) {
    if (!GuestRange(args[2], sizeof(GuestTimespec))) return Err(EFAULT);
    auto ts = memory_->ReadValue<GuestTimespec>(args[2]);
    if (!ts) return Err(EFAULT);
    if (!ValidTimespec(*ts)) return Err(EINVAL);
    timeout = ToDuration(*ts).count();
  }
  if (args[3] != 0) {
    if (args[4] != sizeof(uint64_t)) return Err(EINVAL);
    if (!GuestRange(args[3], sizeof(uint64_t))) return Err(EFAULT);
  }
  return Poll(args[0], args[1], timeout);
}

// ---------------------------------------------------------------------------
// Descriptors.

uint64_t GuestKernel::FdLimit() const {
  return std::min(rlimits_[RLIMIT_NOFILE].cur, kMaxOpenFiles);
}

int64_t GuestKernel::LowestFreeFd(uint64_t from) const {
  const uint64_t limit = FdLimit();
  for (uint64_t fd = from; fd < limit; ++fd) {
    if (fd >= fds_.size() || fds_[fd].kind == FdEntry::Kind::kFree) {
      return static_cast<int64_t>(fd);
    }
  }
  return -1;
}

int64_t GuestKernel::Install(FdEntry entry, uint64_t from) {
  const int64_t fd = LowestFreeFd(from);
  if (fd < 0) return Err(EMFILE);
  if (static_cast<uint64_t>(fd) >= fds_.size()) {
    fds_.resize(static_cast<size_t>(fd) + 1);
  }
  fds_[static_cast<size_t>(fd)] = std::move(entry);
  return fd;
}

int64_t GuestKernel::Open(const DecodedCall& call, uint64_t flags,
                          uint64_t mode, uint64_t resolve, bool strict_flags) {
  if (strict_flags) {  // openat2 refuses what open ignores
    if ((flags & ~kValidOpenFlags) != 0 || (resolve & ~kValidResolve) != 0 ||
        ((resolve & RESOLVE_BENEATH) != 0 &&
         (resolve & RESOLVE_IN_ROOT) != 0)) {
      return Err(EINVAL);
    }
    const bool creates =
        (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
    if ((mode & ~uint64_t{07777}) != 0 || (!creates && mode != 0)) {
      return Err(EINVAL);
    }
  } else {
    flags = static_cast<uint32_t>(flags) & kValidOpenFlags;
    mode &= 07777;
    resolve = 0;
  }
  if ((flags & O_PATH) != 0) {
    flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  }
  if ((flags & O_ACCMODE) == O_ACCMODE) return Err(EINVAL);
  if ((flags & O_TMPFILE) == O_TMPFILE && (flags & O_ACCMODE) == O_RDONLY) {
    return Err(EINVAL);
  }
  const bool write_intent =
      (flags & O_PATH) == 0 &&
      ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT) != 0 ||
       (flags & O_TRUNC) != 0 || (flags & O_TMPFILE) == O_TMPFILE);
  if (LowestFreeFd(0) < 0) return Err(EMFILE);

  const std::string& path = call.request.paths[0].path;
  View::Location at;
  if (int error = view_->Locate(path, (call.must_be_directory & 1) != 0, at);
      error != 0) {
    return Err(error);
  }
  // The VMM's description is always non-blocking (nothing in the view can
  // block the VMM), never a controlling tty, never async (SIGIO to us).
  uint64_t host_flags =
      (flags & ~uint64_t{O_CLOEXEC | O_ASYNC}) | O_NONBLOCK | O_NOCTTY;
  if ((flags & O_PATH) != 0) host_flags = flags & ~uint64_t{O_CLOEXEC};
  const uint64_t host_mode =
      ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE)
          ? (mode & ~uint64_t{umask_} & kGuestModeBits)
          : 0;
  int fd = -1;
  if (write_intent && !at.root->writable) {
    // O_CREAT of an existing file, only read, does not write: Linux opens
    // it on a read-only mount too.
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0 ||
        (flags & O_TMPFILE) == O_TMPFILE || (flags & O_EXCL) != 0) {
      return Err(EROFS);
    }
    fd = View::Open(at, host_flags & ~uint64_t{O_CREAT}, 0,
                    resolve & kGuestResolveKept);
    if (fd == -ENOENT) return Err(EROFS);
  } else {
    fd = View::Open(at, host_flags, host_mode, resolve & kGuestResolveKept);
  }
  if (fd < 0) return fd;
  FdEntry entry;
  entry.kind = FdEntry::Kind::kFile;
  entry.host.Reset(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Err(errno);
  entry.path = path;
  entry.directory = S_ISDIR(st.st_mode);
  entry.regular = S_ISREG(st.st_mode);
  entry.writable_root = at.root->writable;
  entry.hidden_children = entry.directory && view_->HasHiddenChild(path);
  entry.cloexec = (flags & O_CLOEXEC) != 0;
  entry.status_flags = static_cast<uint32_t>(
      flags & ~uint64_t{O_CLOEXEC | O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY |
                        O_NOFOLLOW | O_DIRECTORY | O_TMPFILE});
  if ((flags & O_TMPFILE) == O_TMPFILE) {
    entry.status_flags |= static_cast<uint32_t>(flags & O_ACCMODE);
  }
  return Install(std::move(entry), 0);
}

int64_t GuestKernel::Close(int64_t fd) {
  FdEntry* entry = Entry(fd);
  if (entry == nullptr) return Err(EBADF);
  *entry = FdEntry{};
  while (!fds_.empty() && fds_.back().kind == FdEntry::Kind::kFree &&
         fds_.size() > 3) {
    fds_.pop_back();
  }
  return 0;
}

int64_t GuestKernel::Read(int64_t fd, uint64_t buffer, uint64_t count,
                          std::optional<int64_t> offset) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr || !entry->readable()) return Err(EBADF);
  if (offset && *offset < 0) return Err(EINVAL);
  if (!GuestRange(buffer, count)) return Err(EFAULT);
  if (entry->kind == FdEntry::Kind::kStdin) {
    return offset ? Err(ESPIPE) : 0;  // EOF
  }
  const uint64_t n = std::min(count, kIoChunk);
  const ssize_t got =
      offset ? ::pread(entry->host.get(), scratch_.get(), n, *offset)
             : ::read(entry->host.get(), scratch_.get(), n);
  if (got < 0) return Err(errno);
  if (got > 0 &&
      !memory_->Write(buffer, scratch_.get(), static_cast<uint64_t>(got))) {
    return Err(EFAULT);
  }
  return got;
}

void GuestKernel::FileSizeExceeded(CallEffect& effect) const {
  // The policy's limit ends the run; a lower one the guest set itself only
  // fails the call (as with SIGXFSZ ignored).
  const std::optional<uint64_t>& configured = view_->config.file_size_bytes;
  if (configured && rlimits_[RLIMIT_FSIZE].cur >= *configured) {
    effect.limit = LimitKind::kFileSize;
  }
}

int64_t GuestKernel::WriteBytes(FdEntry& entry, const char* bytes,
                                uint64_t count, std::optional<int64_t> offset,
                                CallEffect& effect) {
  if (entry.kind == FdEntry::Kind::kStdout ||
      entry.kind == FdEntry::Kind::kStderr) {
    if (offset) return Err(ESPIPE);
    if (count > 0) {
      effect.stream = entry.kind == FdEntry::Kind::kStdout
                          ? OutputStream::kStdout
                          : OutputStream::kStderr;
      effect.output.assign(bytes, count);
    }
    return static_cast<int64_t>(count);
  }
  const uint64_t limit = rlimits_[RLIMIT_FSIZE].cur;
  if (entry.regular && limit != kNoLimit && count > 0) {
    int64_t position = 0;
    if (offset) {
      position = *offset;
    } else if ((entry.status_flags & O_APPEND) != 0) {
      struct stat st;
      if (::fstat(entry.host.get(), &st) != 0) return Err(errno);
      position = st.st_size;
    } else {
      position = ::lseek(entry.host.get(), 0, SEEK_CUR);
      if (position < 0) return Err(errno);
    }
    if (static_cast<uint64_t>(position) >= limit) {
      FileSizeExceeded(effect);
      return Err(EFBIG);
    }
    // Linux writes up to the limit; the next write fails.
    count = std::min(count, limit - static_cast<uint64_t>(position));
  }
  const ssize_t wrote = offset
                            ? ::pwrite(entry.host.get(), bytes, count, *offset)
                            : ::write(entry.host.get(), bytes, count);
  return wrote < 0 ? Err(errno) : wrote;
}

int64_t GuestKernel::Write(int64_t fd, uint64_t buffer, uint64_t count,
                           std::optional<int64_t> offset, CallEffect& effect) {
  FdEntry* entry = Entry(fd);
  if (entry == nullptr || !entry->writable()) return Err(EBADF);
  if (offset && *offset < 0) return Err(EINVAL);
  if (!GuestRange(buffer, count)) return Err(EFAULT);
  const uint64_t n = std::min(count, kIoChunk);
  if (!memory_->Read(buffer, scratch_.get(), n)) return Err(EFAULT);
  return WriteBytes(*entry, scratch_.get(), n, offset, effect);
}

namespace {
// A guest iovec array, copied once and checked; `total` is what the
// segments hold together (a call uses at most kIoChunk of it). Made with
// make_unique_for_overwrite: ReadSegments fills the `count` pairs used, so
// the 16 KiB array is not zeroed on every readv/writev (a hot path).
struct Segments {
  uint64_t raw[kMaxIovecs * 2];  // base, length pairs: guest addresses
  uint64_t count = 0;
  uint64_t total = 0;
  uint64_t base(uint64_t i) const { return raw[2 * i]; }
  uint64_t length(uint64_t i) const { return raw[2 * i + 1]; }
};
bool InGuest(const GuestMemory& memory, uint64_t address, uint64_t length) {
  return length == 0 ||
         (address >= kPageSize && memory.Contains(address, length));
}
int ReadSegments(const GuestMemory& memory, uint64_t address, uint64_t count,
                 Segments& out) {
  if (count > kMaxIovecs) return EINVAL;
  const uint64_t bytes = count * 2 * sizeof(uint64_t);
  if (!InGuest(memory, address, bytes) ||
      !memory.Read(address, out.raw, bytes)) {
    return EFAULT;
  }
  out.count = count;
  out.total = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (out.length(i) > static_cast<uint64_t>(SSIZE_MAX) - out.total) {
      return EINVAL;
    }
    if (!InGuest(memory, out.base(i), out.length(i))) return EFAULT;
    out.total += out.length(i);
  }
  return 0;
}
}  // namespace

int64_t GuestKernel::Readv(int64_t fd, uint64_t iov, uint64_t count) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr || !entry->readable()) return Err(EBADF);
  auto segments = std::make_unique_for_overwrite<Segments>();
  if (int error = ReadSegments(*memory_, iov, count, *segments); error != 0) {
    return Err(error);
  }
  if (entry->kind == FdEntry::Kind::kStdin) return 0;
  const uint64_t n = std::min(segments->total, kIoChunk);
  const ssize_t got = ::read(entry->host.get(), scratch_.get(), n);
  if (got < 0) return Err(errno);
  uint64_t left = static_cast<uint64_t>(got);
  const char* from = scratch_.get();
  for (uint64_t i = 0; i < segments->count && left > 0; ++i) {
    const uint64_t part = std::min(left, segments->length(i));
    if (!memory_->Write(segments->base(i), from, part)) {
      return Err(EFAULT);
    }
    from += part;
    left -= part;
  }
  return got;
}

int64_t GuestKernel::Writev(int64_t fd, uint64_t iov, uint64_t count,
                            CallEffect& effect) {
  FdEntry* entry = Entry(fd);
  if (entry == nullptr || !entry->writable()) return Err(EBADF);
  auto segments = std::make_unique_for_overwrite<Segments>();
  if (int error = ReadSegments(*memory_, iov, count, *segments); error != 0) {
    return Err(error);
  }
  uint64_t gathered = 0;
  for (uint64_t i = 0; i < segments->count && gathered < kIoChunk; ++i) {
    const uint64_t part = std::min(kIoChunk - gathered, segments->length(i));
    if (!memory_->Read(segments->base(i), scratch_.get() + gathered, part)) {
      return Err(EFAULT);
    }
    gathered += part;
  }
  if (gathered == 0 && entry->stream()) return 0;
  return WriteBytes(*entry, scratch_.get(), gathered, std::nullopt, effect);
}

int64_t GuestKernel::Lseek(int64_t fd, uint64_t offset, uint64_t whence) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr) return Err(EBADF);
  if (entry->kind != FdEntry::Kind::kFile) return Err(ESPIPE);
  if ((entry->status_flags & O_PATH) != 0) return Err(EBADF);
  return HostResult(
      ::lseek(entry->host.get(), static_cast<off_t>(offset), AsInt(whence)));
}

int64_t GuestKernel::Fstat(int64_t fd, uint64_t address) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr) return Err(EBADF);
  struct stat st;
  if (entry->stream()) {
    st = StreamStat(view_->config.uid, view_->config.gid);
  } else {
    std::memset(&st, 0, sizeof st);
    if (::fstat(entry->host.get(), &st) != 0) return Err(errno);
  }
  if (!GuestRange(address, sizeof st) || !memory_->WriteValue(address, st)) {
    return Err(EFAULT);
  }
  return 0;
}

int64_t GuestKernel::Stat(const DecodedCall& call, uint64_t address,
                          uint64_t flags, bool follow) {
  const int32_t known = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT;
  if ((AsInt(flags) & ~known) != 0) return Err(EINVAL);
  if (call.names_fd) {
    const int32_t dirfd = AsInt(call.request.args[0]);
    if (dirfd != AT_FDCWD) return Fstat(dirfd, address);
  }
  View::Location at;
  if (int error = view_->Locate(call.request.paths[0].path,
                                (call.must_be_directory & 1) != 0, at);
      error != 0) {
    return Err(error);
  }
  const int fd = View::Open(at, O_PATH | (follow ? 0 : O_NOFOLLOW), 0);
  if (fd < 0) return fd;
  UniqueFd owned(fd);
  struct stat st;
  std::memset(&st, 0, sizeof st);
  if (::fstatat(fd, "", &st, AT_EMPTY_PATH) != 0) return Err(errno);
  if (!GuestRange(address, sizeof st) || !memory_->WriteValue(address, st)) {
    return Err(EFAULT);
  }
  return 0;
}

int64_t GuestKernel::Statx(const DecodedCall& call) {
  const std::array<uint64_t, 6>& a = call.request.args;
  const int32_t flags = AsInt(a[2]);
  const uint32_t mask = static_cast<uint32_t>(a[3]);
  const int32_t known = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH |
                        AT_STATX_SYNC_TYPE;
  if ((flags & ~known) != 0 ||
      (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
      (mask & STATX__RESERVED) != 0) {
    return Err(EINVAL);
  }
  struct statx out;
  std::memset(&out, 0, sizeof out);
  UniqueFd owned;
  int fd = -1;
  const FdEntry* entry = nullptr;
  if (call.names_fd && AsInt(a[0]) != AT_FDCWD) {
    entry = Entry(AsInt(a[0]));
    if (entry == nullptr) return Err(EBADF);
    fd = entry->host.get();
  } else {
    View::Location at;
    if (int error = view_->Locate(call.request.paths[0].path,
                                  (call.must_be_directory & 1) != 0, at);
        error != 0) {
      return Err(error);
    }
    fd = View::Open(
        at, O_PATH | ((flags & AT_SYMLINK_NOFOLLOW) != 0 ? O_NOFOLLOW : 0), 0);
    if (fd < 0) return fd;
    owned.Reset(fd);
  }
  if (entry != nullptr && entry->stream()) {
    const struct stat st = StreamStat(view_->config.uid, view_->config.gid);
    out.stx_mask = STATX_BASIC_STATS;
    out.stx_mode = static_cast<uint16_t>(st.st_mode);
    out.stx_nlink = 1;
    out.stx_uid = st.st_uid;
    out.stx_gid = st.st_gid;
    out.stx_blksize = 4096;
  } else if (::statx(fd, "", AT_EMPTY_PATH | (flags & AT_STATX_SYNC_TYPE), mask,
                     &out) != 0) {
    return Err(errno);
  }
  if (!GuestRange(a[4], sizeof out) || !memory_->WriteValue(a[4], out)) {
    return Err(EFAULT);
  }
  return 0;
}

int64_t GuestKernel::Getdents64(int64_t fd, uint64_t buffer, uint64_t count) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr || (entry->status_flags & O_PATH) != 0) {
    return Err(EBADF);
  }
  if (!entry->directory) return Err(ENOTDIR);
  const uint64_t length = static_cast<uint32_t>(count);
  if (!GuestRange(buffer, length)) return Err(EFAULT);
  const uint64_t n = std::min(length, kIoChunk);
  for (;;) {
    const int64_t got =
        ::syscall(SYS_getdents64, entry->host.get(), scratch_.get(), n);
    if (got < 0) return Err(errno);
    uint64_t kept = static_cast<uint64_t>(got);
    if (entry->hidden_children) {
      // Hidden names are not listed either (records are moved down).
      kept = 0;
      for (uint64_t at = 0; at < static_cast<uint64_t>(got);) {
        GuestDirent head;
        std::memcpy(&head, scratch_.get() + at, sizeof head);
        if (head.reclen < 20 || head.reclen > static_cast<uint64_t>(got) - at) {
          return Err(EIO);
        }
        const char* name =
            scratch_.get() + at + offsetof(GuestDirent, type) + 1;
        std::string path = entry->path == "/" ? "/" : entry->path + "/";
        path.append(name, strnlen(name, head.reclen - 19));
        if (!view_->IsHidden(path)) {
          std::memmove(scratch_.get() + kept, scratch_.get() + at, head.reclen);
          kept += head.reclen;
        }
        at += head.reclen;
      }
      if (kept == 0 && got > 0) continue;  // only hidden names: read on
    }
    if (kept > 0 && !memory_->Write(buffer, scratch_.get(), kept)) {
      return Err(EFAULT);
    }
    return static_cast<int64_t>(kept);
  }
}

int64_t GuestKernel::Readlink(const DecodedCall& call, uint64_t buffer,
                              uint64_t size) {
  if (AsInt(size) <= 0) return Err(EINVAL);
  const uint64_t limit = static_cast<uint32_t>(AsInt(size));
  const std::string& path = call.request.paths[0].path;
  std::string target;
  if (!call.names_fd && (path == "/proc/self/exe" || path == "/proc/1/exe" ||
                         path == "/proc/thread-self/exe")) {
    target = image_.executable;
  } else {
    UniqueFd owned;
    int fd = -1;
    if (call.names_fd) {
      const FdEntry* entry = AsInt(call.request.args[0]) == AT_FDCWD
                                 ? nullptr
                                 : Entry(AsInt(call.request.args[0]));
      if (entry == nullptr || entry->stream()) return Err(EINVAL);
      fd = entry->host.get();
    } else {
      View::Location at;
      if (int error =
              view_->Locate(path, (call.must_be_directory & 1) != 0, at);
          error != 0) {
        return Err(error);
      }
      fd = View::Open(at, O_PATH | O_NOFOLLOW, 0);
      if (fd < 0) return fd;
      owned.Reset(fd);
    }
    char text[PATH_MAX];
    const ssize_t got = ::readlinkat(fd, "", text, sizeof text);
    if (got < 0) return Err(errno == ENOENT ? EINVAL : errno);
    target.assign(text, static_cast<size_t>(got));
  }
  const uint64_t n = std::min<uint64_t>(target.size(), limit);
  if (!GuestRange(buffer, n) || !memory_->Write(buffer, target.data(), n)) {
    return Err(EFAULT);
  }
  return static_cast<int64_t>(n);
}

int64_t GuestKernel::Access(const DecodedCall& call, uint64_t mode,
                            uint64_t flags) {
  const int32_t how = AsInt(mode);
  const int32_t options = AsInt(flags);
  if ((how & ~(R_OK | W_OK | X_OK)) != 0 ||
      (options & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) {
    return Err(EINVAL);
  }
  UniqueFd owned;
  int fd = -1;
  bool writable_root = true;
  if (call.names_fd && AsInt(call.request.args[0]) != AT_FDCWD) {
    const FdEntry* entry = Entry(AsInt(call.request.args[0]));
    if (entry == nullptr) return Err(EBADF);
    if (entry->stream()) return 0;
    fd = entry->host.get();
    writable_root = entry->writable_root;
  } else {
    View::Location at;
    if (int error = view_->Locate(call.request.paths[0].path,
                                  (call.must_be_directory & 1) != 0, at);
        error != 0) {
      return Err(error);
    }
    fd = View::Open(
        at, O_PATH | ((options & AT_SYMLINK_NOFOLLOW) != 0 ? O_NOFOLLOW : 0),
        0);
    if (fd < 0) return fd;
    owned.Reset(fd);
    writable_root = at.root->writable;
  }
  if ((how & W_OK) != 0 && !writable_root) {
    struct stat st;
    if (::fstatat(fd, "", &st, AT_EMPTY_PATH) != 0) return Err(errno);
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) {
      return Err(EROFS);
    }
  }
  return HostResult(::syscall(SYS_faccessat2, fd, "", how,
                              AT_EMPTY_PATH | (options & AT_EACCESS)));
}

namespace {
// Locates a path argument for a change of the namespace: a writable root,
// the parent directory and the last name.
int LocateParent(const GuestKernel::View& view, const DecodedCall& call,
                 size_t index, UniqueFd& parent, std::string& leaf,
                 const GuestKernel::View::Root** root = nullptr) {
  GuestKernel::View::Location at;
  if (int error = view.Locate(call.request.paths[index].path,
                              (call.must_be_directory >> index) & 1, at);
      error != 0) {
    return error;
  }
  if (!at.root->writable) return EROFS;
  if (root != nullptr) *root = at.root;
  return GuestKernel::View::Parent(at, parent, leaf);
}
}  // namespace

int64_t GuestKernel::Unlink(const DecodedCall& call, uint64_t flags) {
  if ((AsInt(flags) & ~AT_REMOVEDIR) != 0) return Err(EINVAL);
  UniqueFd parent;
  std::string leaf;
  if (int error = LocateParent(*view_, call, 0, parent, leaf); error != 0) {
    return Err(error);
  }
  return HostResult(::unlinkat(parent.get(), leaf.c_str(), AsInt(flags)));
}

int64_t GuestKernel::Mkdir(const DecodedCall& call, uint64_t mode) {
  UniqueFd parent;
  std::string leaf;
  if (int error = LocateParent(*view_, call, 0, parent, leaf); error != 0) {
    return Err(error == EBUSY ? EEXIST : error);
  }
  return HostResult(::mkdirat(
      parent.get(), leaf.c_str(),
      static_cast<mode_t>(mode & kGuestModeBits & ~uint64_t{umask_})));
}

int64_t GuestKernel::Rename(const DecodedCall& call, uint64_t flags) {
  const uint32_t known = RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT;
  if ((static_cast<uint32_t>(flags) & ~known) != 0) return Err(EINVAL);
  UniqueFd from_dir, to_dir;
  std::string from_leaf, to_leaf;
  if (int error = LocateParent(*view_, call, 0, from_dir, from_leaf);
      error != 0) {
    return Err(error);
  }
  if (int error = LocateParent(*view_, call, 1, to_dir, to_leaf); error != 0) {
    return Err(error);
  }
  return HostResult(::renameat2(from_dir.get(), from_leaf.c_str(), to_dir.get(),
                                to_leaf.c_str(), static_cast<uint32_t>(flags)));
}

int64_t GuestKernel::Link(const DecodedCall& call, uint64_t flags) {
  const int32_t options = AsInt(flags);
  if ((options & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) != 0) {
    return Err(EINVAL);
  }
  // The existing file must be writable too: a new name under a writable
  // root would make a read-only file writable.
  UniqueFd to_dir;
  std::string to_leaf;
  if (call.names_fd) {
    const FdEntry* entry = Entry(AsInt(call.request.args[0]));
    if (entry == nullptr) return Err(EBADF);
    if (entry->kind != FdEntry::Kind::kFile) return Err(ENOENT);
    if (!entry->writable_root) return Err(EROFS);
    if (int error = LocateParent(*view_, call, 1, to_dir, to_leaf);
        error != 0) {
      return Err(error);
    }
    return HostResult(::linkat(entry->host.get(), "", to_dir.get(),
                               to_leaf.c_str(), AT_EMPTY_PATH));
  }
  if ((options & AT_SYMLINK_FOLLOW) != 0) {
    View::Location at;
    if (int error = view_->Locate(call.request.paths[0].path,
                                  (call.must_be_directory & 1) != 0, at);
        error != 0) {
      return Err(error);
    }
    if (!at.root->writable) return Err(EROFS);
    const int fd = View::Open(at, O_PATH, 0);
    if (fd < 0) return fd;
    UniqueFd owned(fd);
    if (int error = LocateParent(*view_, call, 1, to_dir, to_leaf);
        error != 0) {
      return Err(error);
    }
    return HostResult(
        ::linkat(fd, "", to_dir.get(), to_leaf.c_str(), AT_EMPTY_PATH));
  }
  UniqueFd from_dir;
  std::string from_leaf;
  if (int error = LocateParent(*view_, call, 0, from_dir, from_leaf);
      error != 0) {
    return Err(error);
  }
  if (int error = LocateParent(*view_, call, 1, to_dir, to_leaf); error != 0) {
    return Err(error);
  }
  return HostResult(::linkat(from_dir.get(), from_leaf.c_str(), to_dir.get(),
                             to_leaf.c_str(), 0));
}

int64_t GuestKernel::Symlink(const DecodedCall& call, uint64_t target) {
  // The target is text stored in the link, not a path the policy decides
  // on: read here, once.
  if (target < kPageSize) return Err(EFAULT);
  auto text = memory_->ReadString(target, kPathMax - 1);
  if (!text) {
    return Err(text.error() == GuestMemory::StringError::kTooLong ? ENAMETOOLONG
                                                                  : EFAULT);
  }
  if (text->empty()) return Err(ENOENT);
  UniqueFd parent;
  std::string leaf;
  if (int error = LocateParent(*view_, call, 0, parent, leaf); error != 0) {
    return Err(error == EBUSY ? EEXIST : error);
  }
  return HostResult(::symlinkat(text->c_str(), parent.get(), leaf.c_str()));
}

int64_t GuestKernel::Chmod(const DecodedCall& call, uint64_t mode,
                           uint64_t flags) {
  const int32_t options = AsInt(flags);
  if ((options & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) {
    return Err(EINVAL);
  }
  if (call.names_fd && AsInt(call.request.args[0]) != AT_FDCWD) {
    return Fchmod(AsInt(call.request.args[0]), mode);
  }
  View::Location at;
  if (int error = view_->Locate(call.request.paths[0].path,
                                (call.must_be_directory & 1) != 0, at);
      error != 0) {
    return Err(error);
  }
  const int fd = View::Open(
      at, O_PATH | ((options & AT_SYMLINK_NOFOLLOW) != 0 ? O_NOFOLLOW : 0), 0);
  if (fd < 0) return fd;
  UniqueFd owned(fd);
  if (!at.root->writable) return Err(EROFS);
  const mode_t bits = static_cast<mode_t>(mode & kGuestModeBits);
  if (::syscall(kSysFchmodat2, fd, "", bits, AT_EMPTY_PATH) == 0) return 0;
  if (errno != ENOSYS) return Err(errno);
  // Before Linux 6.6: chmod through a read-only descriptor of the file.
  const int file = View::Open(at, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
  if (file < 0) return file;
  UniqueFd owned_file(file);
  return HostResult(::fchmod(file, bits));
}

int64_t GuestKernel::Fchmod(int64_t fd, uint64_t mode) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr) return Err(EBADF);
  if (entry->stream()) return 0;
  if ((entry->status_flags & O_PATH) != 0) return Err(EBADF);
  if (entry->kind == FdEntry::Kind::kFile && !entry->writable_root) {
    return Err(EROFS);
  }
  return HostResult(
      ::fchmod(entry->host.get(), static_cast<mode_t>(mode & kGuestModeBits)));
}

int64_t GuestKernel::Truncate(const DecodedCall& call, uint64_t length,
                              CallEffect& effect) {
  if (static_cast<int64_t>(length) < 0) return Err(EINVAL);
  View::Location at;
  if (int error = view_->Locate(call.request.paths[0].path,
                                (call.must_be_directory & 1) != 0, at);
      error != 0) {
    return Err(error);
  }
  if (!at.root->writable) return Err(EROFS);
  if (length > rlimits_[RLIMIT_FSIZE].cur) {
    FileSizeExceeded(effect);
    return Err(EFBIG);
  }
  const int fd = View::Open(at, O_WRONLY | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0) return fd;
  UniqueFd owned(fd);
  return HostResult(::ftruncate(fd, static_cast<off_t>(length)));
}

int64_t GuestKernel::Ftruncate(int64_t fd, uint64_t length,
                               CallEffect& effect) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr || (entry->status_flags & O_PATH) != 0) {
    return Err(EBADF);
  }
  if (static_cast<int64_t>(length) < 0 || !entry->regular ||
      !entry->writable()) {
    return Err(EINVAL);
  }
  if (length > rlimits_[RLIMIT_FSIZE].cur) {
    FileSizeExceeded(effect);
    return Err(EFBIG);
  }
  return HostResult(::ftruncate(entry->host.get(), static_cast<off_t>(length)));
}

int64_t GuestKernel::Fsync(int64_t fd) {
  const FdEntry* entry = Entry(fd);
  if (entry == nullptr || (entry->status_flags & O_PATH) != 0) {
    return Err(EBADF);
  }
  if (entry->kind != FdEntry::Kind::kFile) return Err(EINVAL);
  return HostResult(::fsync(entry->host.get()));
}

int64_t GuestKernel::Fcntl(int64_t fd, uint64_t command, uint64_t argument) {
  FdEntry* entry = Entry(fd);
  if (entry == nullptr) return Err(EBADF);
  switch (AsInt(command)) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const int32_t from = AsInt(argument);
      if (from < 0 || static_cast<uint64_t>(from) >= FdLimit()) {
        return Err(EINVAL);
      }
      const int64_t target = LowestFreeFd(static_cast<uint64_t>(from));
      if (target < 0) return Err(EMFILE);
      const int64_t result = Dup(fd, target, 0, false);
      if (result >= 0 && AsInt(command) == F_DUPFD_CLOEXEC) {
        fds_[static_cast<size_t>(result)].cloexec = true;
      }
      return result;
    }
    case F_GETFD:
      return entry->cloexec ? FD_CLOEXEC : 0;
    case F_SETFD:
      entry->cloexec = (AsInt(argument) & FD_CLOEXEC) != 0;
      return 0;
    case F_GETFL:
      return entry->status_flags;
    case F_SETFL: {
      const uint32_t settable = O_APPEND | O_NONBLOCK | O_NOATIME;
      const uint32_t wanted = static_cast<uint32_t>(argument) & settable;
      if (entry->host && entry->kind == FdEntry::Kind::kFile &&
          (entry->status_flags & O_PATH) == 0) {
        if (::fcntl(entry->host.get(), F_SETFL,
                    (wanted & ~uint32_t{O_NONBLOCK}) | O_NONBLOCK) != 0) {
          return Err(errno);
        }
      }
      entry->status_flags = (entry->status_flags & ~settable) | wanted;
      return 0;
    }
    default:
      return Err(EINVAL);
  }
}

int64_t GuestKernel::Dup(int64_t fd, std::optional<int64_t> target,
                         uint64_t flags, bool dup3) {
  if (dup3 && (AsInt(flags) & ~O_CLOEXEC) != 0) return Err(EINVAL);
  const FdEntry* entry = Entry(fd);
  if (target && (*target < 0 || static_cast<uint64_t>(*target) >= FdLimit())) {
    return Err(EBADF);
  }
  if (entry == nullptr) return Err(EBADF);
  if (target && *target == fd) return dup3 ? Err(EINVAL) : fd;
  if (!target) {
    const int64_t lowest = LowestFreeFd(0);
    if (lowest < 0) return Err(EMFILE);
    target = lowest;
  }
  FdEntry copy;
  if (entry->host) {
    copy.host.Reset(::fcntl(entry->host.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy.host) return Err(errno);
  }
  copy.kind = entry->kind;
  copy.path = entry->path;
  copy.directory = entry->directory;
  copy.regular = entry->regular;
  copy.writable_root = entry->writable_root;
  copy.hidden_children = entry->hidden_children;
  copy.status_flags = entry->status_flags;
  copy.cloexec = dup3 && (AsInt(flags) & O_CLOEXEC) != 0;
  const size_t index = static_cast<size_t>(*target);
  if (index >= fds_.size()) fds_.resize(index + 1);
  fds_[index] = std::move(copy);  // closes what was there, as dup2 does
  return *target;
}

int64_t GuestKernel::Pipe2(uint64_t address, uint64_t flags) {
  const int32_t options = AsInt(flags);
  if ((options & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) != 0) {
    return Err(EINVAL);
  }
  if (!GuestRange(address, 2 * sizeof(int32_t))) return Err(EFAULT);
  const int64_t read_fd = LowestFreeFd(0);
  const int64_t write_fd =
      read_fd < 0 ? -1 : LowestFreeFd(static_cast<uint64_t>(read_fd) + 1);
  if (write_fd < 0) return Err(EMFILE);
  int host[2];
  // Non-blocking on the host: the guest is alone with both ends, so a read
  // of an empty pipe or a write to a full one answers EAGAIN instead of
  // hanging the VMM.
  if (::pipe2(host, O_CLOEXEC | O_NONBLOCK) != 0) return Err(errno);
  FdEntry ends[2];
  for (int i = 0; i < 2; ++i) {
    ends[i].kind = FdEntry::Kind::kPipe;
    ends[i].host.Reset(host[i]);
    ends[i].path = fmt::format("pipe:[{}]", i == 0 ? read_fd : write_fd);
    ends[i].cloexec = (options & O_CLOEXEC) != 0;
    ends[i].status_flags = static_cast<uint32_t>(
        (i == 0 ? O_RDONLY : O_WRONLY) | (options & (O_NONBLOCK | O_DIRECT)));
  }
  const int32_t numbers[2] = {static_cast<int32_t>(read_fd),
                              static_cast<int32_t>(write_fd)};
  if (!memory_->Write(address, numbers, sizeof numbers)) return Err(EFAULT);
  Install(std::move(ends[0]), 0);
  Install(std::move(ends[1]), static_cast<uint64_t>(read_fd) + 1);
  return 0;
}

int64_t GuestKernel::Ioctl(int64_t fd, uint64_t request) {
  FdEntry* entry = Entry(fd);
  if (entry == nullptr) return Err(EBADF);
  switch (static_cast<uint32_t>(request)) {
    case FIOCLEX:
      entry->cloexec = true;
      return 0;
    case FIONCLEX:
      entry->cloexec = false;
      return 0;
    default:
      // No terminal in the guest (TCGETS, TIOCGWINSZ) and no device ioctls
      // proxied to the host.
      return Err(ENOTTY);
  }
}

Result<UniqueFd> GuestKernel::OpenExecutable(
    const std::string& absolute_path) const {
  const std::string path = NormalizePath(absolute_path);
  auto fail = [&](ErrorCode code, int error) {
    return Fail(code,
                fmt::format("guest kernel: executing {}: {}", path,
                            std::strerror(error)),
                error);
  };
  if (path.empty() || path.front() != '/') {
    return fail(ErrorCode::kNotFound, ENOENT);
  }
  View::Location at;
  if (int error = view_->Locate(path, false, at); error != 0) {
    return fail(ErrorCode::kNotFound, error);
  }
  const int fd = View::Open(at, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0) {
    return fail(-fd == ENOENT || -fd == ENOTDIR ? ErrorCode::kNotFound
                                                : ErrorCode::kNotExecutable,
                -fd);
  }
  UniqueFd file(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(ErrorCode::kSystem, errno);
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
    return fail(ErrorCode::kNotExecutable, EACCES);
  }
  return file;
}

}  // namespace isoscope::kvm
