// The KVM guest's kernel, inside the VMM: decodes each syscall the guest
// makes (a VM exit) into the SyscallRequest the supervisor's policy decides
// on, and then performs the allowed ones, either emulated inside the VM's
// world (brk, mmap, arch_prctl, signals, clocks, identity) or proxied to the
// host through the VMM's own descriptor table and filesystem view.
//
// It decides nothing about policy: the backend asks the supervisor's loop
// (Decide) about every DecodedCall and calls Perform only for allowed ones.
// The process model (fork, vfork, clone, execve, execveat, wait4, kill,
// tgkill) is the backend's: Perform answers -ENOSYS (unimplemented) for it.
//
// The guest is hostile. Every pointer, length and number it passes is
// checked against guest RAM with overflow-safe arithmetic; guest data is
// copied once into VMM buffers and only the copy is checked and used. Path
// arguments are read once, by Decode, and Perform acts on exactly the
// strings the policy saw (no double fetch). The guest only ever sees its own
// descriptor numbers and guest addresses, never a host fd or host address.
//
// Filesystem view: the policy's readonly, writable and tmpfs roots are
// opened once at Create; a guest path resolves to the longest visible root
// that is a path-component prefix of it (a longer hidden entry hides it;
// /proc is always hidden); everything else is ENOENT. Host operations are
// relative to the root's directory fd with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS), so neither ".." nor a symlink inside a root can
// leave it: such a path fails with ENOENT (what lies outside the view is
// not visible), as an absolute symlink does. Under a root that has hidden
// entries, a tmpfs root or (being writable) a read-only root below it,
// symlinks are not followed at all (ELOOP): the kernel's resolution could
// otherwise reach a hidden name, what the tmpfs covers, or a read-only path
// for writing through one.
//
// With a root of its own (GuestKernelConfig::root: an OCI bundle's rootfs),
// that directory is the base of the view, the guest's "/", read-only unless
// the view lists "/" as writable; the view's paths are paths in it, resolved
// beneath it (an absolute symlink in it names a path of it), and they apply
// on top of it, as the container builds its root on a bundle's rootfs.
// Beneath that base root, an absolute symlink resolves inside it
// (RESOLVE_IN_ROOT); beneath the view's other roots, as everywhere else, it
// leads nowhere.
//
// Known differences from Linux, all deliberate:
//  - Memory protection is not enforced: the guest runs in ring 0 of one
//    identity map, so mprotect validates and answers 0.
//  - File mappings are private copies (pread into anonymous memory);
//    MAP_SHARED of a file with PROT_WRITE is ENODEV (unimplemented).
//  - The guest is one single-threaded process: futex waits and polls that
//    nothing could ever end (a deadlock natively) answer -EINTR instead of
//    hanging the VMM; host sleeps end early with -EINTR when the VMM thread
//    is signalled (the backend's wall-time kick).
//  - Host descriptors are always non-blocking (a FIFO in the view cannot
//    block the VMM): a read that would block answers -EAGAIN.
//  - Files are created and changed as the VMM's host user (permission
//    checks are the view's, not the guest uid's); setuid and setgid bits
//    are never set on host files.
//  - Ancestors of the roots ("/" when only /usr is visible) are not visible.
//  - x32 calls are decoded for the policy but not performed (-ENOSYS).
#ifndef ISOSCOPE_BACKENDS_KVM_GUEST_KERNEL_H_
#define ISOSCOPE_BACKENDS_KVM_GUEST_KERNEL_H_

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/kvm/guest_memory.h"
#include "backends/kvm/guest_signals.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "policies/decide.h"
#include "policies/policy.h"
#include "supervisor/event.h"

namespace isoscope::kvm {

struct GuestKernelConfig {
  FilesystemView view;     // instantiated: {workdir} already replaced
  std::string workdir;     // absolute; the guest's initial cwd
  std::string executable;  // readlink("/proc/self/exe") answers it
  // The guest's root directory on the host (Workload::root), absolute with
  // symlinks resolved; empty: the host's root. With one, `workdir`,
  // `executable` and the view's paths are paths in it.
  std::string root;
  std::string hostname = "isoscope";  // empty: the host's (and its domain)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t brk_start = 0;  // page-aligned end of the loaded image
  // [mmap_low, mmap_high): where anonymous mmaps may go (high = the bottom
  // of the stack guard). The heap grows from brk_start up to the lowest
  // mapping; mappings never overlap the heap.
  uint64_t mmap_low = 0;
  uint64_t mmap_high = 0;
  std::optional<uint64_t> open_files;       // guest fds must be below this
  std::optional<uint64_t> file_size_bytes;  // like RLIMIT_FSIZE
  // Where the tmpfs roots' directories are created (a TempDir); empty:
  // the host's temp dir ($TMPDIR or /tmp).
  std::string tmpfs_parent;
  // Caps every host sleep (nanosleep, futex and poll timeouts). The run's
  // wall-time limit bounds sleeps anyway; tests and the fuzzer set it low.
  std::chrono::nanoseconds max_sleep = std::chrono::nanoseconds::max();
};

// openat2's struct open_how as Decode copied it.
struct OpenHow {
  uint64_t flags = 0;
  uint64_t mode = 0;
  uint64_t resolve = 0;
};

struct DecodedCall {
  // What the policy decides on: abi, number (-1 when the register does not
  // fit an int), args, absolute normalised paths, openat2's flags.
  SyscallRequest request;
  // A path argument (or openat2's struct) could not be decoded: EFAULT,
  // ENAMETOOLONG, ENOENT for "", EBADF or ENOTDIR for a bad dirfd, EINVAL or
  // E2BIG for openat2's size. The call, if allowed, fails with this errno
  // without running.
  int decode_errno = 0;
  // Bit i: request.paths[i] was written with a trailing '/' (or ended in
  // "." or ".."), so it must name a directory, as in the kernel.
  uint8_t must_be_directory = 0;
  // The (only) path argument was "" or NULL with AT_EMPTY_PATH (or "" for
  // readlinkat): the call acts on the dirfd's open file, whose guest path is
  // request.paths[0].
  bool names_fd = false;
  OpenHow open_how;  // openat2 only
};

struct CallEffect {
  int64_t result = 0;  // for rax: a negative errno on failure
  // exit / exit_group: the run ends with this status (already & 0xff).
  std::optional<int> exit_status;
  // Bytes written to the guest's stdout or stderr.
  std::optional<OutputStream> stream;
  std::string output;
  // arch_prctl(ARCH_SET_FS / ARCH_SET_GS): load into the vCPU.
  std::optional<uint64_t> set_fs_base;
  std::optional<uint64_t> set_gs_base;
  // -ENOSYS (or another refusal) because the VMM does not implement this
  // call or this use of it: to be recorded.
  bool unimplemented = false;
  // A resource limit was hit (kFileSize): the backend ends the run.
  std::optional<LimitKind> limit;
};

// Not thread-safe: one kernel is driven by one thread (the vCPU's).
class GuestKernel {
 public:
  // Opens the view's roots (and creates the tmpfs directories) now. Fails
  // when the config is inconsistent or a root cannot be opened for a reason
  // other than not existing (a missing root is skipped: not visible).
  static Result<std::unique_ptr<GuestKernel>> Create(GuestMemory& memory,
                                                     GuestKernelConfig config);

  GuestKernel(const GuestKernel&) = delete;
  GuestKernel& operator=(const GuestKernel&) = delete;
  ~GuestKernel();

  // For the backend's fork: a copy of this kernel's state acting on
  // `memory` (the child's RAM), every host descriptor dup'ed (so offsets
  // are shared with this kernel's, as after fork). The view (and its tmpfs
  // directories) is shared; it goes when the last kernel using it does.
  Result<std::unique_ptr<GuestKernel>> Clone(GuestMemory& memory) const;

  // Reads the call's path arguments once and decodes the request. Cheap for
  // calls without paths (no allocation).
  DecodedCall Decode(uint64_t number,
                     const std::array<uint64_t, 6>& args) const;

  // Performs an allowed call.
  CallEffect Perform(const DecodedCall& call);

  // For the backend's execve: opens a path of the view for reading, as an
  // exec (a regular file with an execute bit), and returns the host fd.
  // Errors: kNotFound (not visible, or missing), kNotExecutable, with the
  // errno the guest's execve answers in sys_errno().
  Result<UniqueFd> OpenExecutable(const std::string& absolute_path) const;

  // The backend's process model: this kernel now serves process `pid`
  // (getpid, gettid) whose parent is `ppid` (getppid). A fresh kernel is
  // pid 1 with parent 0.
  void SetProcess(int pid, int ppid);

  // Where an image lives in guest RAM (see GuestKernelConfig).
  struct Image {
    uint64_t brk_start = 0;
    uint64_t mmap_low = 0;
    uint64_t mmap_high = 0;
    std::string executable;
  };
  // An execve succeeded and the backend loaded `image` into fresh RAM:
  // close-on-exec descriptors close, handled signals reset to default, the
  // heap and mappings start over.
  void Exec(Image image);

  // Signal state for the backend, which delivers faults to the guest's
  // handlers (guest_signals.h). `signal` is 1..64.
  GuestSignalAction SignalActionFor(int signal) const {
    const SignalAction& a = actions_[static_cast<size_t>(signal - 1)];
    return GuestSignalAction{a.handler, a.flags, a.restorer, a.mask};
  }
  // SA_RESETHAND: back to the default action once delivered.
  void ResetSignalAction(int signal) {
    actions_[static_cast<size_t>(signal - 1)] = SignalAction{};
  }
  uint64_t signal_mask() const { return signal_mask_; }
  // SIGKILL and SIGSTOP cannot be blocked.
  void set_signal_mask(uint64_t mask) {
    signal_mask_ = mask & ~((uint64_t{1} << (SIGKILL - 1)) |
                            (uint64_t{1} << (SIGSTOP - 1)));
  }
  GuestAltStack alt_stack() const {
    return GuestAltStack{alt_stack_.sp, alt_stack_.flags, alt_stack_.size};
  }
  void set_alt_stack(const GuestAltStack& stack) {
    alt_stack_ = AltStack{stack.sp, stack.flags, stack.size};
  }

  // The guest's current directory and fs/gs bases (for the backend).
  const std::string& cwd() const { return cwd_; }
  uint64_t fs_base() const { return fs_base_; }
  uint64_t gs_base() const { return gs_base_; }

  // Implementation types (defined in guest_kernel.cc).
  struct View;
  struct FdEntry;

 private:
  GuestKernel(GuestMemory& memory, std::shared_ptr<const View> view);

  // Shared by Decode and Perform.
  int DecodePaths(int number, const std::array<uint64_t, 6>& args,
                  DecodedCall& call) const;
  bool GuestRange(uint64_t address, uint64_t length) const;
  const FdEntry* Entry(int64_t fd) const;
  FdEntry* Entry(int64_t fd);
  int64_t LowestFreeFd(uint64_t from) const;
  uint64_t FdLimit() const;
  int64_t Install(FdEntry entry, uint64_t from);

  // Memory.
  int64_t Brk(uint64_t address);
  int64_t Mmap(const std::array<uint64_t, 6>& args, CallEffect& effect);
  int64_t Munmap(uint64_t address, uint64_t length);
  int64_t Mremap(const std::array<uint64_t, 6>& args, CallEffect& effect);
  int64_t Madvise(uint64_t address, uint64_t length, uint64_t advice);
  bool RangeFree(uint64_t low, uint64_t high) const;
  std::optional<uint64_t> FindFree(uint64_t length, uint64_t upper) const;
  void AddMapping(uint64_t low, uint64_t high);
  void RemoveMappings(uint64_t low, uint64_t high);
  bool Mapped(uint64_t low, uint64_t high) const;
  uint64_t HeapTop() const;
  bool CopyGuest(uint64_t to, uint64_t from, uint64_t length);

  // Process state.
  int64_t ArchPrctl(uint64_t code, uint64_t address, CallEffect& effect);
  int64_t RtSigaction(const std::array<uint64_t, 6>& args);
  int64_t RtSigprocmask(const std::array<uint64_t, 6>& args);
  int64_t Sigaltstack(uint64_t new_stack, uint64_t old_stack);
  int64_t Uname(uint64_t address);
  int64_t Prlimit(uint64_t pid, uint64_t resource, uint64_t new_limit,
                  uint64_t old_limit);
  int64_t Sysinfo(uint64_t address);
  int64_t Getcwd(uint64_t buffer, uint64_t size);
  int64_t Chdir(const DecodedCall& call);
  int64_t Fchdir(int64_t fd);
  int64_t WriteIds(const std::array<uint64_t, 6>& args, uint32_t id);

  // Time.
  int64_t ClockGettime(uint64_t clock, uint64_t address, bool resolution);
  int64_t Gettimeofday(uint64_t tv, uint64_t tz);
  int64_t Time(uint64_t address);
  int64_t Nanosleep(uint64_t clock, uint64_t flags, uint64_t request,
                    uint64_t remain);
  int64_t SleepFor(std::chrono::nanoseconds duration);
  int64_t Getrandom(uint64_t buffer, uint64_t length, uint64_t flags);
  int64_t SchedGetaffinity(uint64_t pid, uint64_t size, uint64_t mask);
  int64_t Futex(const std::array<uint64_t, 6>& args);
  int64_t Poll(uint64_t fds, uint64_t count, std::optional<int64_t> timeout_ns);
  int64_t Ppoll(const std::array<uint64_t, 6>& args);

  // Descriptors.
  int64_t Open(const DecodedCall& call, uint64_t flags, uint64_t mode,
               uint64_t resolve, bool strict_flags);
  int64_t Close(int64_t fd);
  int64_t Read(int64_t fd, uint64_t buffer, uint64_t count,
               std::optional<int64_t> offset);
  int64_t Write(int64_t fd, uint64_t buffer, uint64_t count,
                std::optional<int64_t> offset, CallEffect& effect);
  int64_t WriteBytes(FdEntry& entry, const char* bytes, uint64_t count,
                     std::optional<int64_t> offset, CallEffect& effect);
  void FileSizeExceeded(CallEffect& effect) const;
  int64_t Readv(int64_t fd, uint64_t iov, uint64_t count);
  int64_t Writev(int64_t fd, uint64_t iov, uint64_t count, CallEffect& effect);
  int64_t Lseek(int64_t fd, uint64_t offset, uint64_t whence);
  int64_t Fstat(int64_t fd, uint64_t address);
  int64_t Stat(const DecodedCall& call, uint64_t address, uint64_t flags,
               bool follow);
  int64_t Statx(const DecodedCall& call);
  int64_t Getdents64(int64_t fd, uint64_t buffer, uint64_t count);
  int64_t Readlink(const DecodedCall& call, uint64_t buffer, uint64_t size);
  int64_t Access(const DecodedCall& call, uint64_t mode, uint64_t flags);
  int64_t Unlink(const DecodedCall& call, uint64_t flags);
  int64_t Mkdir(const DecodedCall& call, uint64_t mode);
  int64_t Rename(const DecodedCall& call, uint64_t flags);
  int64_t Link(const DecodedCall& call, uint64_t flags);
  int64_t Symlink(const DecodedCall& call, uint64_t target);
  int64_t Chmod(const DecodedCall& call, uint64_t mode, uint64_t flags);
  int64_t Fchmod(int64_t fd, uint64_t mode);
  int64_t Truncate(const DecodedCall& call, uint64_t length,
                   CallEffect& effect);
  int64_t Ftruncate(int64_t fd, uint64_t length, CallEffect& effect);
  int64_t Fsync(int64_t fd);
  int64_t Fcntl(int64_t fd, uint64_t command, uint64_t argument);
  int64_t Dup(int64_t fd, std::optional<int64_t> target, uint64_t flags,
              bool dup3);
  int64_t Pipe2(uint64_t address, uint64_t flags);
  int64_t Ioctl(int64_t fd, uint64_t request);

  GuestMemory* memory_;
  std::shared_ptr<const View> view_;
  std::string cwd_;
  std::vector<FdEntry> fds_;

  Image image_;
  int pid_ = 1;
  int ppid_ = 0;
  uint64_t brk_ = 0;
  std::map<uint64_t, uint64_t> mappings_;  // start -> end, disjoint

  uint64_t fs_base_ = 0;
  uint64_t gs_base_ = 0;
  struct SignalAction {
    uint64_t handler = 0, flags = 0, restorer = 0, mask = 0;
  };
  std::array<SignalAction, 64> actions_{};
  uint64_t signal_mask_ = 0;
  struct AltStack {
    uint64_t sp = 0;
    int32_t flags = 2;  // SS_DISABLE
    uint64_t size = 0;
  } alt_stack_;
  uint32_t umask_ = 022;
  struct Rlimit {
    uint64_t cur = 0, max = 0;
  };
  std::array<Rlimit, 16> rlimits_{};

  // VMM-side copy of guest data: allocated once, never on the hot path.
  std::unique_ptr<char[]> scratch_;
};

}  // namespace isoscope::kvm

#endif  // ISOSCOPE_BACKENDS_KVM_GUEST_KERNEL_H_
