// Host-feature detection. Every check is a small function that reads one
// kernel interface and, when the feature is missing, says what to do about
// it. Nothing here throws: std::filesystem is used through its error_code
// overloads and a failed read simply means "not found".
#include "supervisor/host_facts.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/io.h"
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
  // Far above any file read here (/proc/cpuinfo of 512 CPUs is about 1 MiB).
  constexpr size_t kLimit = size_t{16} << 20;
  Result<std::string> text = ReadFileUpTo(path.string(), kLimit);
  if (!text || text->size() > kLimit) return std::nullopt;
  return std::move(*text);
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
    // A joined hierarchy's other names are links to it (cpu ->
    // cpu,cpuacct): its own name lists its controllers. One readlink, not
    // canonical()'s one per component of every entry.
    std::string dir_name = entry.path().filename().string();
    if (entry.is_symlink(entry_ec)) {
      const fs::path target = fs::read_symlink(entry.path(), entry_ec);
      if (!entry_ec && target.has_filename()) {
        dir_name = target.filename().string();
      }
    }
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
  // Word by word without copying them: the line has a few hundred.
  std::string_view rest = *flags;
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find_first_of(" \t"), rest.size());
    if (rest.substr(0, end) == flag) return true;
    rest.remove_prefix(end);
  }
  return false;
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
// Probe children. Each runs in a child forked from a possibly multithreaded
// process: only raw system calls and _exit there (no allocation, no stdio,
// no exit handlers), and a result reported through its exit status.

#if defined(__x86_64__)
// From <asm/prctl.h>, spelt out to keep the probe's contract in one place.
constexpr int kArchGetCpuid = 0x1011;
constexpr int kArchSetCpuid = 0x1012;
#endif
constexpr int kMaxReportedErrno = 200;  // keeps the exit status below 256

int ErrnoExit(int err) {
  return kProbeExitErrnoBase + (err > 0 && err <= kMaxReportedErrno ? err : 0);
}

// Async-signal-safe. A probe that may die of a signal must not dump core
// (core_pattern may pipe it to a collector).
void PrepareProbeChild() { ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

int CpuidProbeChild() {
#if defined(__x86_64__)
  PrepareProbeChild();
  if (::syscall(SYS_arch_prctl, kArchGetCpuid, 0) < 0) {
    return kProbeExitUnsupported;
  }
  if (::syscall(SYS_arch_prctl, kArchSetCpuid, 0) != 0) return ErrnoExit(errno);
  return kProbeExitOk;
#else
  return kProbeExitUnsupported;
#endif
}

int RdtscProbeChild() {
#if defined(__x86_64__)
  PrepareProbeChild();
  // The trap must end the child visibly: a SIGSEGV handler inherited from
  // this process (a sanitizer's) would otherwise catch it.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  ::sigaction(SIGSEGV, &default_action, nullptr);
  sigset_t segv;
  ::sigemptyset(&segv);
  ::sigaddset(&segv, SIGSEGV);
  ::sigprocmask(SIG_UNBLOCK, &segv, nullptr);
  if (::prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) != 0) {
    return ErrnoExit(errno);
  }
  uint32_t low = 0;
  uint32_t high = 0;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return kProbeExitOk;
#else
  return kProbeExitUnsupported;
#endif
}

// Forks, runs `body` in the child and waits for it.
Result<ProbeChildEnd> RunProbeChild(int (*body)()) {
  const pid_t pid = ::fork();
  if (pid < 0) return FailErrno("fork", errno);
  if (pid == 0) _exit(body());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return FailErrno("waitpid", errno);
  }
  return ProbeChildEndFrom(status);
}

// A probe whose child could not be run: not a fact about the host.
ProbedFeature ChildFailed(std::string_view probe, const Error& error) {
  return {{false, fmt::format("the {} probe could not run: {}; retry when the "
                              "process or memory limit allows a fork, and do "
                              "not ignore SIGCHLD in the supervisor",
                              probe, error.ToString())},
          false};
}

// ---------------------------------------------------------------------------
// The per-boot cache.

constexpr int kProbeCacheVersion = 1;
constexpr int64_t kMaxProbeCacheBytes = int64_t{64} * 1024;

std::optional<Feature> CachedFeature(const nlohmann::json& cache,
                                     std::string_view name) {
  const auto it = cache.find(name);
  if (it == cache.end() || !it->is_object()) return std::nullopt;
  const auto available = it->find("available");
  const auto detail = it->find("detail");
  if (available == it->end() || !available->is_boolean() ||
      detail == it->end() || !detail->is_string() ||
      detail->get_ref<const std::string&>().empty()) {
    return std::nullopt;
  }
  return Feature{available->get<bool>(), detail->get<std::string>()};
}

// A cache file is trusted only when it is a regular file (not a symlink)
// that only root or this user could have written.
std::optional<std::string> ReadTrustedFile(const fs::path& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      (st.st_uid != 0 && st.st_uid != ::geteuid()) ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || st.st_size < 0 ||
      st.st_size > kMaxProbeCacheBytes) {
    return std::nullopt;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    done += static_cast<size_t>(n);
  }
  return text;
}

// Creates the cache's directory (only root may create one in /run) and
// replaces the file through a temporary file and rename, so a reader never
// sees half a file. Failure only means the next process probes again.
void WriteCacheFile(const fs::path& path, std::string_view text) {
  const fs::path dir = path.parent_path();
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      (st.st_uid != 0 && st.st_uid != ::geteuid()) ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return;
  }
  std::string temp = (dir / (path.filename().string() + ".XXXXXX")).string();
  const UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (done != text.size() || ::fchmod(fd.get(), 0644) != 0 ||
      ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
  }
}

}  // namespace

ProbeChildEnd ProbeChildEndFrom(int wait_status) {
  if (WIFSIGNALED(wait_status)) return {true, WTERMSIG(wait_status)};
  return {false, WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1};
}

ProbedFeature DecideCpuidFaulting(const ProbeChildEnd& end) {
  if (end.signaled) {
    return {{false, fmt::format("the CPUID-faulting probe died of signal {}; "
                                "check that no seccomp filter or security "
                                "module blocks arch_prctl",
                                end.code)},
            false};
  }
  if (end.code == kProbeExitOk) {
    return {{true,
             "arch_prctl(ARCH_SET_CPUID, 0) works: CPUID can be made "
             "to trap"},
            true};
  }
  if (end.code == kProbeExitUnsupported) {
    return {{false,
             "arch_prctl(ARCH_GET_CPUID) is not supported: the kernel "
             "predates 4.12 or is not x86-64; upgrade the kernel to trap "
             "CPUID"},
            true};
  }
  const int err = end.code - kProbeExitErrnoBase;
  if (err == ENODEV) {
    return {{false,
             "the CPU does not offer CPUID faulting (ARCH_SET_CPUID: ENODEV, "
             "no cpuid_fault in /proc/cpuinfo flags); run on a CPU, or under "
             "a hypervisor, that provides it"},
            true};
  }
  return {{false, ErrnoText("arch_prctl(ARCH_SET_CPUID, 0)", err) +
                      "; check that no seccomp filter or security module "
                      "blocks arch_prctl"},
          false};
}

ProbedFeature DecideRdtscTrapping(const ProbeChildEnd& end) {
  if (end.signaled && end.code == SIGSEGV) {
    return {{true,
             "prctl(PR_SET_TSC, PR_TSC_SIGSEGV) makes RDTSC fault: it can "
             "be trapped and emulated"},
            true};
  }
  if (end.signaled) {
    return {{false, fmt::format("the RDTSC probe died of signal {}, not "
                                "SIGSEGV; check that no seccomp filter or "
                                "security module blocks prctl",
                                end.code)},
            false};
  }
  if (end.code == kProbeExitOk) {
    return {{false,
             "prctl(PR_SET_TSC, PR_TSC_SIGSEGV) succeeds but RDTSC still "
             "runs: the CPU or hypervisor ignores CR4.TSD (seen in PVM "
             "guests), so a policy's rdtsc emulate, kill or deliver cannot "
             "be applied; run on bare metal or under a hypervisor that "
             "honours CR4.TSD"},
            true};
  }
  if (end.code == kProbeExitUnsupported) {
    return {{false, "RDTSC exists only on x86-64"}, true};
  }
  const int err = end.code - kProbeExitErrnoBase;
  if (err == EINVAL) {
    return {{false,
             "prctl(PR_SET_TSC) is not supported (EINVAL): the kernel lacks "
             "it; use an x86-64 kernel that has it to trap RDTSC"},
            true};
  }
  return {{false, ErrnoText("prctl(PR_SET_TSC, PR_TSC_SIGSEGV)", err) +
                      "; check that no seccomp filter or security module "
                      "blocks prctl"},
          false};
}

ProbedFeature ProbeCpuidFaulting() {
  auto end = RunProbeChild(CpuidProbeChild);
  if (!end) return ChildFailed("CPUID-faulting", end.error());
  return DecideCpuidFaulting(*end);
}

ProbedFeature ProbeRdtscTrapping() {
  auto end = RunProbeChild(RdtscProbeChild);
  if (!end) return ChildFailed("RDTSC", end.error());
  return DecideRdtscTrapping(*end);
}

std::optional<BootKey> ReadBootKey() {
  const std::optional<std::string> boot_id =
      ReadFile("/proc/sys/kernel/random/boot_id");
  utsname uts{};
  if (!boot_id || Trim(*boot_id).empty() || ::uname(&uts) != 0) {
    return std::nullopt;
  }
  return BootKey{std::string(Trim(*boot_id)), uts.release};
}

std::string EncodeProbeCache(const BootKey& key, const CachedFacts& facts) {
  nlohmann::json out = {{"version", kProbeCacheVersion},
                        {"boot_id", key.boot_id},
                        {"kernel_release", key.kernel_release}};
  for (const auto& [name, feature] :
       {std::pair{"cpuid_faulting", &facts.cpuid_faulting},
        std::pair{"rdtsc_trapping", &facts.rdtsc_trapping}}) {
    if (*feature) {
      out[name] = {{"available", (*feature)->available},
                   {"detail", (*feature)->detail}};
    }
  }
  // Invalid UTF-8 is replaced, not thrown: the details are isoscope's text.
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

CachedFacts DecodeProbeCache(std::string_view text, const BootKey& key) {
  const nlohmann::json cache = nlohmann::json::parse(text, nullptr, false);
  const auto matches = [&](const char* field, const auto& want) {
    const auto it = cache.find(field);
    return it != cache.end() && *it == want;
  };
  if (cache.is_discarded() || !cache.is_object() ||
      !matches("version", kProbeCacheVersion) ||
      !matches("boot_id", key.boot_id) ||
      !matches("kernel_release", key.kernel_release)) {
    return {};
  }
  return {CachedFeature(cache, "cpuid_faulting"),
          CachedFeature(cache, "rdtsc_trapping")};
}

ProbedFacts LoadOrProbeFacts(const fs::path& cache_file,
                             const std::optional<BootKey>& key,
                             const FactProbes& probes) {
  CachedFacts cached;
  if (key) {
    if (auto text = ReadTrustedFile(cache_file)) {
      cached = DecodeProbeCache(*text, *key);
    }
  }
  CachedFacts learned = cached;
  ProbedFacts facts;
  for (const auto& [from_cache, into_cache, fact, probe] :
       {std::tuple{&cached.cpuid_faulting, &learned.cpuid_faulting,
                   &facts.cpuid_faulting, &probes.cpuid_faulting},
        std::tuple{&cached.rdtsc_trapping, &learned.rdtsc_trapping,
                   &facts.rdtsc_trapping, &probes.rdtsc_trapping}}) {
    if (*from_cache) {
      *fact = **from_cache;
      continue;
    }
    const ProbedFeature probed = (*probe)();
    *fact = probed.feature;
    if (probed.conclusive) *into_cache = probed.feature;
  }
  if (key && learned != cached) {
    WriteCacheFile(cache_file, EncodeProbeCache(*key, learned));
  }
  return facts;
}

const ProbedFacts& ProbedHostFacts() {
  static const ProbedFacts facts =
      LoadOrProbeFacts(fs::path(kProbeCacheFile), ReadBootKey(),
                       FactProbes{ProbeCpuidFaulting, ProbeRdtscTrapping});
  return facts;
}

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

std::optional<fs::path> FindCgroupV2Root(const fs::path& sysfs_cgroup_root) {
  for (fs::path root : {sysfs_cgroup_root, sysfs_cgroup_root / "unified"}) {
    if (IsRegularFile(root / "cgroup.controllers")) return root;
  }
  return std::nullopt;
}

CgroupFacts ReadCgroupFacts(const fs::path& sysfs_cgroup_root) {
  CgroupFacts facts;
  const std::optional<fs::path> v2_root = FindCgroupV2Root(sysfs_cgroup_root);
  // Pure v2: cgroup2 is mounted on the root itself. Its child cgroups carry
  // cgroup.procs too, so the v1 scan below must not run.
  if (v2_root == sysfs_cgroup_root) {
    facts.layout = CgroupLayout::kV2;
    facts.v2_root = *v2_root;
    facts.v2_controllers = ReadV2Controllers(*v2_root);
    return facts;
  }
  facts.v1_controllers = ListV1Controllers(sysfs_cgroup_root);
  const bool has_unified = v2_root.has_value();
  if (has_unified) {
    facts.v2_root = *v2_root;
    facts.v2_controllers = ReadV2Controllers(*v2_root);
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
  const ProbedFacts& probed = ProbedHostFacts();
  facts.cpuid_faulting = probed.cpuid_faulting;
  facts.rdtsc_trapping = probed.rdtsc_trapping;
  facts.kvm = CheckKvm();
  facts.virtualization = DetectVirtualization(cpuinfo);
  facts.cgroups = ReadCgroupFacts("/sys/fs/cgroup");
  return facts;
}

}  // namespace isoscope
