#include "supervisor/syscall_counter.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

constexpr std::string_view kIdFile = "events/raw_syscalls/sys_enter/id";
constexpr std::array<std::string_view, 2> kTracingDirs = {
    "/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

// The id file's text read at `dir_fd` (AT_FDCWD for an absolute path).
std::optional<std::string> ReadSmallFile(int dir_fd, const std::string& path) {
  UniqueFd fd(::openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::array<char, 32> buffer{};
  ssize_t n;
  do {
    n = ::read(fd.get(), buffer.data(), buffer.size() - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  return std::string(buffer.data(), static_cast<size_t>(n));
}

// A tracefs mount attached nowhere: visible to this process only, and gone
// when its fd closes.
std::optional<std::string> ReadFromDetachedTracefs(int* error) {
  UniqueFd context(static_cast<int>(
      ::syscall(SYS_fsopen, "tracefs", static_cast<unsigned>(FSOPEN_CLOEXEC))));
  if (!context) {
    *error = errno;
    return std::nullopt;
  }
  if (::syscall(SYS_fsconfig, context.get(), FSCONFIG_CMD_CREATE, nullptr,
                nullptr, 0) != 0) {
    *error = errno;
    return std::nullopt;
  }
  UniqueFd mount(static_cast<int>(::syscall(
      SYS_fsmount, context.get(), static_cast<unsigned>(FSMOUNT_CLOEXEC), 0)));
  if (!mount) {
    *error = errno;
    return std::nullopt;
  }
  auto text = ReadSmallFile(mount.get(), std::string(kIdFile));
  if (!text) *error = errno;
  return text;
}

perf_event_attr CounterAttributes(uint64_t tracepoint) {
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof attr;
  attr.config = tracepoint;
  attr.disabled = 1;
  attr.inherit = 1;
  attr.enable_on_exec = 1;
  // The tracepoint fires in the kernel: excluding the kernel counts nothing.
  return attr;
}

int PerfEventOpen(perf_event_attr* attr, pid_t pid) {
  return static_cast<int>(
      ::syscall(SYS_perf_event_open, attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

std::string WhyNoCounter(int error) {
  if (error == EACCES || error == EPERM) {
    std::string paranoid = "?";
    if (auto text =
            ReadSmallFile(AT_FDCWD, "/proc/sys/kernel/perf_event_paranoid")) {
      paranoid = *text;
      while (!paranoid.empty() && paranoid.back() == '\n') paranoid.pop_back();
    }
    return fmt::format(
        "perf_event_open of the tracepoint refused ({}; "
        "kernel.perf_event_paranoid is {}): run isoscope as root or with "
        "CAP_PERFMON, or set kernel.perf_event_paranoid to 1 or less",
        std::strerror(error), paranoid);
  }
  if (error == ENOSYS) {
    return "perf_event_open is not available (a kernel without "
           "CONFIG_PERF_EVENTS, or a sandbox that forbids it)";
  }
  return fmt::format("perf_event_open of the tracepoint failed: {}",
                     std::strerror(error));
}

// perf_event_paranoid <= 1, or CAP_PERFMON (38) or CAP_SYS_ADMIN effective.
bool MayCountKernelEvents() {
  const std::optional<std::string> text =
      ReadSmallFile(AT_FDCWD, "/proc/sys/kernel/perf_event_paranoid");
  if (text) {
    const std::string_view value = *text;
    int level = 2;  // unreadable: as the kernel's default
    std::from_chars(value.data(), value.data() + value.size(), level);
    if (level <= 1) return true;
  }
  constexpr int kCapPerfmon = 38;
  constexpr int kCapSysAdmin = 21;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  if (::syscall(SYS_capget, &header, data.data()) != 0) return false;
  const auto has = [&data](int cap) {
    return (data[static_cast<size_t>(cap / 32)].effective &
            (1U << (cap % 32))) != 0;
  };
  return has(kCapPerfmon) || has(kCapSysAdmin);
}

// Registering the tracepoint with perf (the first counter on it) and
// unregistering it (the last one closed) each take 25-40 ms on this
// project's PVM guests: text patching and RCU grace periods. One disabled
// counter on this thread, opened once and held until the process exits,
// keeps it registered, so each run's counter opens in about 10 us.
void RegisterTracepointOnce(uint64_t tracepoint) {
  static const int anchor = [tracepoint] {
    perf_event_attr attr = CounterAttributes(tracepoint);
    attr.inherit = 0;
    attr.enable_on_exec = 0;
    return PerfEventOpen(&attr, 0);
  }();
  (void)anchor;
}

}  // namespace

std::optional<uint64_t> ParseTracepointId(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id == 0) {
    return std::nullopt;
  }
  return id;
}

SyscallCounterSupport ProbeSyscallCounter() {
  SyscallCounterSupport support;
  std::optional<uint64_t> id;
  std::string where;
  for (std::string_view dir : kTracingDirs) {
    if (auto text = ReadSmallFile(AT_FDCWD, fmt::format("{}/{}", dir, kIdFile));
        text) {
      id = ParseTracepointId(*text);
      where = std::string(dir);
      if (id) break;
    }
  }
  if (!id) {
    int error = 0;
    if (auto text = ReadFromDetachedTracefs(&error); text) {
      id = ParseTracepointId(*text);
      where = "a private tracefs mount";
    }
    if (!id) {
      support.feature = Feature{
          false,
          fmt::format("the raw_syscalls:sys_enter tracepoint's id is not "
                      "readable: tracefs is not mounted at {} and mounting a "
                      "private one failed ({}); mount tracefs (mount -t "
                      "tracefs nodev /sys/kernel/tracing) or run isoscope as "
                      "root; a kernel without CONFIG_FTRACE_SYSCALLS has no "
                      "such tracepoint",
                      kTracingDirs[0],
                      error != 0 ? std::strerror(error) : "no id in it")};
      return support;
    }
  }
  // Whether perf allows it, without registering the tracepoint (which
  // takes tens of ms on a PVM guest, see RegisterTracepointOnce): a
  // tracepoint counter needs perf_event_paranoid <= 1 or CAP_PERFMON, and
  // a sandbox may refuse the call altogether. A malformed attribute is
  // refused with EINVAL or E2BIG before anything else is checked.
  perf_event_attr malformed = CounterAttributes(*id);
  malformed.size = 1;
  if (PerfEventOpen(&malformed, 0) >= 0 ||
      (errno != EINVAL && errno != E2BIG)) {
    support.feature = Feature{false, WhyNoCounter(errno)};
    return support;
  }
  if (!MayCountKernelEvents()) {
    support.feature = Feature{false, WhyNoCounter(EACCES)};
    return support;
  }
  support.tracepoint = *id;
  support.feature = Feature{
      true, fmt::format("raw_syscalls:sys_enter (id {}, from {}) counted with "
                        "perf_event_open",
                        *id, where)};
  return support;
}

const SyscallCounterSupport& HostSyscallCounter() {
  static const SyscallCounterSupport support = ProbeSyscallCounter();
  return support;
}

Result<SyscallCounter> SyscallCounter::OpenBeforeExec(pid_t pid,
                                                      uint64_t tracepoint) {
  RegisterTracepointOnce(tracepoint);
  perf_event_attr attr = CounterAttributes(tracepoint);
  UniqueFd fd(PerfEventOpen(&attr, pid));
  if (!fd) {
    return FailErrno(fmt::format("perf_event_open of raw_syscalls:sys_enter "
                                 "on process {}",
                                 pid),
                     errno);
  }
  return SyscallCounter(std::move(fd));
}

Result<uint64_t> SyscallCounter::Read() const {
  uint64_t count = 0;
  ssize_t n;
  do {
    n = ::read(fd_.get(), &count, sizeof count);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof count)) {
    return FailErrno("reading the syscall counter", n < 0 ? errno : EIO);
  }
  return count;
}

}  // namespace isoscope
