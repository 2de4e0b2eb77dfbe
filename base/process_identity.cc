#include "base/process_identity.h"
#include "base/parse.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "base/unique_fd.h"

namespace isoscope {
namespace {

// /proc/<pid>/stat is a few hundred bytes; a comm of 15 bytes and 52
// numbers fit easily.
constexpr size_t kMaxProcFileSize = 4096;

// A small /proc file, whole.
Result<std::string> ReadProcFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return FailErrno("opening " + path.string(), errno);
  std::string text(kMaxProcFileSize, '\0');
  size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + size, text.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("reading " + path.string(), errno);
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  text.resize(size);
  return text;
}

Error Malformed(const std::filesystem::path& path, std::string_view what) {
  return Error(ErrorCode::kSystem, fmt::format("{}: unexpected contents ({})",
                                               path.string(), what));
}

// The fields of /proc/<pid>/stat that say which process it is and whether
// it still runs.
struct StatFields {
  char state = 0;            // field 3: R, S, D, T, t, Z (zombie), X (dead)...
  uint64_t num_threads = 0;  // field 20
  uint64_t start_time = 0;   // field 22
};

Result<StatFields> ParseStat(std::string_view stat,
                             const std::filesystem::path& path) {
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so fields
  // are counted from the last ')'. Field 22 is the 20th after it.
  const size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) {
    return tl::unexpected(Malformed(path, "no ')'"));
  }
  StatFields fields;
  std::string_view rest = stat.substr(paren + 1);
  for (int field = 3; field <= 22; ++field) {
    const size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest = rest.substr(start);
    const size_t end = rest.find_first_of(" \n");
    const std::string_view value = rest.substr(0, end);
    if (field == 3) {
      if (value.size() != 1) {
        return tl::unexpected(Malformed(path, "bad state"));
      }
      fields.state = value.front();
    }
    if (field == 20) {
      const std::optional<uint64_t> threads = ParseUint(value);
      if (!threads) return tl::unexpected(Malformed(path, "bad thread count"));
      fields.num_threads = *threads;
    }
    if (field == 22) {
      const std::optional<uint64_t> start_time = ParseUint(value);
      if (!start_time) return tl::unexpected(Malformed(path, "bad start time"));
      fields.start_time = *start_time;
      return fields;
    }
    if (end == std::string_view::npos) break;
    rest = rest.substr(end);
  }
  return tl::unexpected(Malformed(path, "fewer than 22 fields"));
}

Result<StatFields> ReadStat(pid_t pid, const std::filesystem::path& proc_root) {
  if (pid <= 0) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("bad pid {}", pid));
  }
  const std::filesystem::path path = proc_root / std::to_string(pid) / "stat";
  Result<std::string> text = ReadProcFile(path);
  if (!text) {
    const int err = text.error().sys_errno();
    if (err == ENOENT || err == ESRCH) {
      return Fail(ErrorCode::kNotFound, fmt::format("no process {}", pid), err);
    }
    return tl::unexpected(text.error());
  }
  return ParseStat(*text, path);
}

Result<std::string> BootId() {
  // Read once: it cannot change while this process runs.
  static const Result<std::string> boot_id = []() -> Result<std::string> {
    auto text = ReadProcFile("/proc/sys/kernel/random/boot_id");
    if (!text) return text;
    while (!text->empty() && text->back() == '\n') text->pop_back();
    return text;
  }();
  return boot_id;
}

}  // namespace

Result<uint64_t> OwnPidNamespace() {
  struct stat st {};
  if (::stat("/proc/self/ns/pid", &st) != 0) {
    return FailErrno("stat /proc/self/ns/pid", errno);
  }
  return static_cast<uint64_t>(st.st_ino);
}

Result<uint64_t> ProcessStartTime(pid_t pid,
                                  const std::filesystem::path& proc_root) {
  Result<StatFields> stat = ReadStat(pid, proc_root);
  if (!stat) return tl::unexpected(stat.error());
  return stat->start_time;
}

Liveness LivenessOfPid(pid_t pid, uint64_t start_time,
                       const std::filesystem::path& proc_root) {
  Result<StatFields> stat = ReadStat(pid, proc_root);
  if (!stat) {
    return stat.error().code() == ErrorCode::kNotFound ? Liveness::kGone
                                                       : Liveness::kUnknown;
  }
  if (stat->start_time != start_time) return Liveness::kGone;  // reused pid
  const bool zombie =
      stat->state == 'Z' || stat->state == 'X' || stat->state == 'x';
  if (!zombie) return Liveness::kAlive;
  // Ended, not yet reaped: a zombie runs nothing and holds no descriptor.
  // A zombie leader with other threads still counted may be a process
  // whose leader left by pthread_exit and that runs on, or one whose other
  // threads have ended but wait for a tracer to reap them: cannot tell.
  return stat->num_threads <= 1 ? Liveness::kGone : Liveness::kUnknown;
}

Result<ProcessIdentity> ProcessIdentity::Self() {
  ProcessIdentity self;
  self.pid = ::getpid();
  auto start = ProcessStartTime(self.pid);
  if (!start) return tl::unexpected(start.error());
  self.start_time = *start;
  auto boot = BootId();
  if (!boot) return tl::unexpected(boot.error());
  self.boot_id = *boot;
  auto pid_namespace = OwnPidNamespace();
  if (!pid_namespace) return tl::unexpected(pid_namespace.error());
  self.pid_namespace = *pid_namespace;
  return self;
}

Liveness LivenessOf(const ProcessIdentity& process) {
  auto boot = BootId();
  // Another boot: nothing of that one runs any more.
  if (boot && *boot != process.boot_id) return Liveness::kGone;
  auto pid_namespace = OwnPidNamespace();
  if (!boot || !pid_namespace || *pid_namespace != process.pid_namespace) {
    return Liveness::kUnknown;
  }
  return LivenessOfPid(process.pid, process.start_time);
}

}  // namespace isoscope
