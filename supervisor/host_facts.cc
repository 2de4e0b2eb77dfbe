// Host-feature detection. Every check is a small function that reads one
// kernel interface and, when the feature is missing, says what to do about
// it. Nothing here throws: std::filesystem is used through its error_code
// overloads and a failed read simply means "not found".
#include "supervisor/host_facts.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/error.h"
#include "base/unique_fd.h"

namespace isoscope {

namespace fs = std::filesystem;

std::string_view CgroupLayoutName(CgroupLayout layout) {
  switch (layout) {
    case CgroupLayout::kNone:
      return "none";
    case CgroupLayout::kV1:
      return "v1";
    case CgroupLayout::kV2:
      return "v2";
    case CgroupLayout::kHybrid:
      return "hybrid";
  }
  return "unknown";
}

std::string_view VirtualizationKindName(VirtualizationKind kind) {
  switch (kind) {
    case VirtualizationKind::kNone:
      return "none";
    case VirtualizationKind::kVmx:
      return "vmx";
    case VirtualizationKind::kSvm:
      return "svm";
    case VirtualizationKind::kPvm:
      return "pvm";
  }
  return "unknown";
}

namespace {

// ---------------------------------------------------------------------------
// Small text helpers.

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  std::istringstream in{std::string(text)};
  for (std::string word; in >> word;) words.push_back(std::move(word));
  return words;
}

// The whole file, or nullopt if it cannot be opened. procfs and sysfs files
// report size 0, so read until EOF rather than by size.
std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// A file holding one integer (a sysctl), or nullopt if missing or garbled.
std::optional<int64_t> ReadIntFile(const fs::path& path) {
  const std::optional<std::string> text = ReadFile(path);
  if (!text) return std::nullopt;
  const std::string_view value = Trim(*text);
  int64_t result = 0;
  const auto [end, ec] =
      std::from_chars(value.data(), value.data() + value.size(), result);
  if (ec != std::errc() || end != value.data() + value.size()) {
    return std::nullopt;
  }
  return result;
}

// The value of the first "key<spaces/tabs>: value" line, as in /proc/cpuinfo
// and /proc/self/status; nullopt if no line has that key.
std::optional<std::string> FieldValue(std::string_view text,
                                      std::string_view key) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view()
                                         : text.substr(eol + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (Trim(line.substr(0, colon)) == key) {
      return std::string(Trim(line.substr(colon + 1)));
    }
  }
  return std::nullopt;
}

bool IsRegularFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool PathExists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// "6.18.44-fc-v669" -> {6, 18}; nullopt if the release does not start with
// "<major>.<minor>".
std::optional<std::pair<int, int>> KernelVersion(std::string_view release) {
  int major = 0;
  int minor = 0;
  const char* const end = release.data() + release.size();
  auto [p, ec] = std::from_chars(release.data(), end, major);
  if (ec != std::errc() || p == end || *p != '.') return std::nullopt;
  auto [q, ec2] = std::from_chars(p + 1, end, minor);
  if (ec2 != std::errc()) return std::nullopt;
  return std::pair{major, minor};
}

bool KernelAtLeast(std::string_view release, int major, int minor) {
  const auto version = KernelVersion(release);
  return version && *version >= std::pair{major, minor};
}

// "<what>: <strerror> (<ERRNO>)", the project's one wording for errno.
std::string ErrnoText(std::string_view what, int sys_errno) {
  return Error::FromErrno(what, sys_errno).message();
}

// ---------------------------------------------------------------------------
// cgroups.

// The kernel's fixed set of cgroup-v1 controller names. Filtering on it keeps
// named hierarchies that control nothing (systemd's "name=systemd" mount at
// <root>/systemd, elogind's) out of v1_controllers.
constexpr std::string_view kV1ControllerNames[] = {
    "blkio",   "cpu",      "cpuacct",    "cpuset", "debug",
    "devices", "freezer",  "hugetlb",    "memory", "misc",
    "net_cls", "net_prio", "perf_event", "pids",   "rdma",
};

bool IsV1ControllerName(std::string_view name) {
  return std::find(std::begin(kV1ControllerNames), std::end(kV1ControllerNames),
                   name) != std::end(kV1ControllerNames);
}

// A mounted v1 hierarchy has `tasks` (or at least `cgroup.procs`) in its root;
// a cgroup2 mount has `cgroup.controllers` instead, which rules out
// <root>/unified and any v2 child cgroup.
bool IsV1Hierarchy(const fs::path& dir) {
  return (PathExists(dir / "tasks") || PathExists(dir / "cgroup.procs")) &&
         !PathExists(dir / "cgroup.controllers");
}

// Controller names of the v1 hierarchies directly below `root`, sorted and
// deduplicated. Co-mounted controllers live in one directory named after all
// of them ("cpu,cpuacct") with per-controller symlinks ("cpu" ->
// "cpu,cpuacct"), so each entry is resolved to its real directory name and
// that name is split on ','.
std::vector<std::string> ListV1Controllers(const fs::path& root) {
  std::set<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    std::error_code entry_ec;
    if (!entry.is_directory(entry_ec) || !IsV1Hierarchy(entry.path())) {
      continue;
    }
    fs::path real = fs::canonical(entry.path(), entry_ec);
    if (entry_ec) real = entry.path();
    const std::string dir_name = real.filename().string();
    std::string_view rest = dir_name;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view name = rest.substr(0, comma);
      if (IsV1ControllerName(name)) names.emplace(name);
      rest = comma == std::string_view::npos ? std::string_view()
                                             : rest.substr(comma + 1);
    }
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> ReadV2Controllers(const fs::path& v2_root) {
  const std::optional<std::string> text =
      ReadFile(v2_root / "cgroup.controllers");
  return text ? SplitWords(*text) : std::vector<std::string>{};
}

// ---------------------------------------------------------------------------
// CPU and virtualization.

std::string CpuModel(std::string_view cpuinfo) {
  return FieldValue(cpuinfo, "model name").value_or("");
}

bool HasCpuFlag(std::string_view cpuinfo, std::string_view flag) {
  const std::optional<std::string> flags = FieldValue(cpuinfo, "flags");
  if (!flags) return false;
  const std::vector<std::string> words = SplitWords(*flags);
  return std::find(words.begin(), words.end(), flag) != words.end();
}

bool KvmPvmLoaded() {
  if (PathExists("/sys/module/kvm_pvm")) return true;
  const std::optional<std::string> modules = ReadFile("/proc/modules");
  if (!modules) return false;
  std::istringstream in(*modules);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("kvm_pvm ")) return true;
  }
  return false;
}

VirtualizationKind DetectVirtualization(std::string_view cpuinfo) {
  if (HasCpuFlag(cpuinfo, "vmx")) return VirtualizationKind::kVmx;
  if (HasCpuFlag(cpuinfo, "svm")) return VirtualizationKind::kSvm;
  // PVM: KVM without hardware virtualization (shadow paging in software).
  if (KvmPvmLoaded()) return VirtualizationKind::kPvm;
  return VirtualizationKind::kNone;
}

// ---------------------------------------------------------------------------
// seccomp.

Feature CheckSeccomp(std::string_view proc_self_status) {
  if (!FieldValue(proc_self_status, "Seccomp")) {
    return {false,
            "/proc/self/status has no Seccomp: line: the kernel lacks "
            "CONFIG_SECCOMP; use a kernel built with CONFIG_SECCOMP and "
            "CONFIG_SECCOMP_FILTER"};
  }
  if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
    return {false, ErrnoText("prctl(PR_GET_SECCOMP)", errno) +
                       "; use a kernel built with CONFIG_SECCOMP"};
  }
  // The usual filter-mode probe: with a null program the kernel fails with
  // EFAULT while copying it in, before installing anything; a kernel without
  // CONFIG_SECCOMP_FILTER fails with EINVAL instead.
  const int64_t rc =
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, nullptr);
  const int err = rc == -1 ? errno : 0;
  if (err != EFAULT) {
    return {false, ErrnoText("seccomp(SECCOMP_SET_MODE_FILTER) probe", err) +
                       "; use a kernel built with CONFIG_SECCOMP_FILTER"};
  }
  return {true, "filter mode available"};
}

Feature CheckSeccompUserNotif(std::string_view kernel_release) {
  if (KernelVersion(kernel_release) && !KernelAtLeast(kernel_release, 5, 0)) {
    return {false, fmt::format("kernel {} predates 5.0, which added "
                               "SECCOMP_RET_USER_NOTIF; upgrade the kernel or "
                               "use a ptrace-based backend",
                               kernel_release)};
  }
  seccomp_notif_sizes sizes{};
  if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
    return {false, ErrnoText("seccomp(SECCOMP_GET_NOTIF_SIZES)", errno) +
                       "; use a kernel (5.0 or newer) built with "
                       "CONFIG_SECCOMP_FILTER, or a ptrace-based backend"};
  }
  // The listener's synchronous wake-up flag (6.6) cuts a notification round
  // trip several-fold; say whether a listener can use it.
  return {true, KernelAtLeast(kernel_release, 6, 6)
                    ? "SECCOMP_RET_USER_NOTIF available, with "
                      "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (kernel 6.6+)"
                    : "SECCOMP_RET_USER_NOTIF available, without "
                      "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (needs kernel 6.6)"};
}

// ---------------------------------------------------------------------------
// ptrace and user namespaces: both gated by sysctls.

Feature CheckPtrace(bool is_root) {
  const std::optional<int64_t> scope =
      ReadIntFile("/proc/sys/kernel/yama/ptrace_scope");
  if (!scope) return {true, "Yama absent: ptrace is not restricted"};
  switch (*scope) {
    case 0:
      return {true, "kernel.yama.ptrace_scope=0: ptrace is not restricted"};
    case 1:
      // The supervisor only traces its own children, which scope 1 allows.
      return {true,
              "kernel.yama.ptrace_scope=1: a process may trace its "
              "descendants, which is all the supervisor needs"};
    case 2:
      // Scope 2 requires CAP_SYS_PTRACE even for PTRACE_TRACEME and for
      // attaching to one's own children.
      if (is_root) {
        return {true,
                "kernel.yama.ptrace_scope=2: only CAP_SYS_PTRACE may trace; "
                "running as root"};
      }
      return {false,
              "kernel.yama.ptrace_scope=2: tracing needs CAP_SYS_PTRACE; run "
              "as root or set sysctl kernel.yama.ptrace_scope=1"};
    default:
      return {false,
              fmt::format("kernel.yama.ptrace_scope={}: ptrace is disabled and "
                          "the setting cannot be lowered until reboot; set "
                          "kernel.yama.ptrace_scope=1 in /etc/sysctl.d and "
                          "reboot",
                          *scope)};
  }
}

Feature CheckUserNamespaces(bool is_root) {
  const std::optional<int64_t> max =
      ReadIntFile("/proc/sys/user/max_user_namespaces");
  if (!max) {
    return {false,
            "/proc/sys/user/max_user_namespaces is missing: the kernel lacks "
            "CONFIG_USER_NS; use a kernel built with user namespaces"};
  }
  if (*max <= 0) {
    return {false,
            "user.max_user_namespaces is 0; set sysctl "
            "user.max_user_namespaces to a positive value (e.g. 15000)"};
  }
  if (!is_root) {
    // Debian's and older Ubuntu's switch for unprivileged user namespaces.
    const std::optional<int64_t> unprivileged =
        ReadIntFile("/proc/sys/kernel/unprivileged_userns_clone");
    if (unprivileged && *unprivileged == 0) {
      return {false,
              "kernel.unprivileged_userns_clone is 0; set sysctl "
              "kernel.unprivileged_userns_clone=1 or run as root"};
    }
    // Ubuntu 23.10+ restricts them to processes with an AppArmor profile.
    const std::optional<int64_t> apparmor =
        ReadIntFile("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    if (apparmor && *apparmor == 1) {
      return {false,
              "kernel.apparmor_restrict_unprivileged_userns is 1; set it to 0, "
              "give isoscope an AppArmor profile that allows userns, or run "
              "as root"};
    }
  }
  return {true, fmt::format("user.max_user_namespaces={}", *max)};
}

// ---------------------------------------------------------------------------
// CPUID faulting.

#if defined(__x86_64__)
// From <asm/prctl.h>, spelt out to keep the probe's contract in one place.
constexpr int kArchGetCpuid = 0x1011;
constexpr int kArchSetCpuid = 0x1012;

// Exit status of the probe child: 0 when CPUID faulting could be enabled,
// kGetFailed when the kernel lacks ARCH_GET_CPUID, kSetFailedBase + errno
// when ARCH_SET_CPUID failed.
constexpr int kGetFailed = 1;
constexpr int kSetFailedBase = 2;
constexpr int kMaxReportedErrno = 200;  // keeps the status below 256
#endif

Feature CheckCpuidFaulting() {
#if !defined(__x86_64__)
  return {false, "CPUID faulting exists only on x86-64"};
#else
  // Enabling faulting is per thread and cannot be observed without using it,
  // so it is tried in a throw-away child: this process's CPUID stays intact.
  const pid_t pid = ::fork();
  if (pid < 0) {
    return {false,
            ErrnoText("fork for the CPUID-faulting probe", errno) +
                "; retry when the process or memory limit allows a fork"};
  }
  if (pid == 0) {
    // A child of a possibly multithreaded process: only raw system calls and
    // _exit from here on (no allocation, no stdio, no exit handlers).
    if (::syscall(SYS_arch_prctl, kArchGetCpuid, 0) < 0) _exit(kGetFailed);
    if (::syscall(SYS_arch_prctl, kArchSetCpuid, 0) != 0) {
      const int err = errno;
      _exit(kSetFailedBase + (err > 0 && err <= kMaxReportedErrno ? err : 0));
    }
    _exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return {false, ErrnoText("waitpid for the CPUID-faulting probe", errno) +
                         "; do not ignore SIGCHLD in the supervisor"};
    }
  }
  if (!WIFEXITED(status)) {
    return {false, fmt::format("the CPUID-faulting probe died (wait status "
                               "{:#x}); check that no seccomp filter or "
                               "security module blocks arch_prctl",
                               status)};
  }
  const int code = WEXITSTATUS(status);
  if (code == 0) {
    return {true,
            "arch_prctl(ARCH_SET_CPUID, 0) works: CPUID can be made "
            "to trap"};
  }
  if (code == kGetFailed) {
    return {false,
            "arch_prctl(ARCH_GET_CPUID) is not supported: the kernel predates "
            "4.12; upgrade the kernel to trap CPUID"};
  }
  const int err = code - kSetFailedBase;
  if (err == ENODEV) {
    return {false,
            "the CPU does not offer CPUID faulting (ARCH_SET_CPUID: ENODEV, "
            "no cpuid_fault in /proc/cpuinfo flags); run on a CPU, or under a "
            "hypervisor, that provides it"};
  }
  return {false, ErrnoText("arch_prctl(ARCH_SET_CPUID, 0)", err) +
                     "; check that no seccomp filter or security module "
                     "blocks arch_prctl"};
#endif
}

}  // namespace

// ---------------------------------------------------------------------------
// KVM.

Feature CheckKvm() {
  // The only KVM API version there has ever been (KVM_API_VERSION).
  constexpr int kKvmApiVersion = 12;
  const UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) {
    const int err = errno;
    switch (err) {
      case ENOENT:
        return {false,
                "/dev/kvm does not exist: load kvm_intel/kvm_amd (or "
                "kvm_pvm) and check /dev/kvm"};
      case ENXIO:
      case ENODEV:
        return {false, ErrnoText("open /dev/kvm", err) +
                           ": no driver behind the device; load "
                           "kvm_intel/kvm_amd (or kvm_pvm) and check /dev/kvm"};
      case EACCES:
      case EPERM:
        return {false, ErrnoText("open /dev/kvm", err) +
                           "; run as root or add the user to group kvm"};
      default:
        return {false, ErrnoText("open /dev/kvm", err) + "; check /dev/kvm"};
    }
  }
  const int version = ::ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (version < 0) {
    return {false, ErrnoText("ioctl(/dev/kvm, KVM_GET_API_VERSION)", errno) +
                       "; check that /dev/kvm is the KVM device"};
  }
  if (version != kKvmApiVersion) {
    return {false, fmt::format("/dev/kvm reports KVM API version {}, isoscope "
                               "needs {}; use a mainline KVM module",
                               version, kKvmApiVersion)};
  }
  return {true, fmt::format("/dev/kvm usable (KVM API {})", version)};
}

CgroupFacts ReadCgroupFacts(const fs::path& sysfs_cgroup_root) {
  CgroupFacts facts;
  // Pure v2: cgroup2 is mounted on the root itself. Its child cgroups carry
  // cgroup.procs too, so the v1 scan below must not run.
  if (IsRegularFile(sysfs_cgroup_root / "cgroup.controllers")) {
    facts.layout = CgroupLayout::kV2;
    facts.v2_root = sysfs_cgroup_root;
    facts.v2_controllers = ReadV2Controllers(sysfs_cgroup_root);
    return facts;
  }
  facts.v1_controllers = ListV1Controllers(sysfs_cgroup_root);
  const fs::path unified = sysfs_cgroup_root / "unified";
  const bool has_unified = IsRegularFile(unified / "cgroup.controllers");
  if (has_unified) {
    facts.v2_root = unified;
    facts.v2_controllers = ReadV2Controllers(unified);
  }
  const bool has_v1 = !facts.v1_controllers.empty();
  if (has_v1) {
    facts.layout = has_unified ? CgroupLayout::kHybrid : CgroupLayout::kV1;
  } else if (has_unified) {
    // systemd's hybrid mode with no v1 controller mounted: every controller
    // is in the cgroup2 tree, which is v2 in all but its path.
    facts.layout = CgroupLayout::kV2;
  }
  return facts;
}

HostFacts ReadHostFacts() {
  HostFacts facts;
  utsname uts{};
  if (::uname(&uts) == 0) {
    facts.kernel_release = uts.release;
    facts.machine = uts.machine;
  }
  const std::string cpuinfo = ReadFile("/proc/cpuinfo").value_or("");
  facts.cpu_model = CpuModel(cpuinfo);
  const int64_t cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  facts.cpus = cpus > 0 ? static_cast<int>(cpus) : 0;
  facts.is_root = ::geteuid() == 0;

  facts.seccomp = CheckSeccomp(ReadFile("/proc/self/status").value_or(""));
  facts.seccomp_user_notif = CheckSeccompUserNotif(facts.kernel_release);
  facts.ptrace = CheckPtrace(facts.is_root);
  facts.user_namespaces = CheckUserNamespaces(facts.is_root);
  facts.cpuid_faulting = CheckCpuidFaulting();
  facts.kvm = CheckKvm();
  facts.virtualization = DetectVirtualization(cpuinfo);
  facts.cgroups = ReadCgroupFacts("/sys/fs/cgroup");
  return facts;
}

}  // namespace isoscope
