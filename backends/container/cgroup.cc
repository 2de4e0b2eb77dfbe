#include "backends/container/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include <fmt/ranges.h>
#include "base/parse.h"

namespace isoscope {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kParentName = "isoscope";
constexpr std::string_view kRunPrefix = "run-";
// Control files are small; cgroup.procs of a large run is the biggest.
constexpr size_t kMaxControlFileSize = size_t{16} << 20;
// pidfds opened per round of KillAll, so a huge cgroup cannot exhaust our
// descriptor table; the rest are killed in the next round.
constexpr size_t kMaxPidfdsPerRound = 512;

// ---------------------------------------------------------------------------
// Control files.

// The whole file. Control files report size 0, so read until EOF.
Result<std::string> ReadControlFile(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return FailErrno("opening " + path.string(), errno);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("reading " + path.string(), errno);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxControlFileSize) {
      return Fail(ErrorCode::kSystem,
                  fmt::format("{} is larger than {} bytes", path.string(),
                              kMaxControlFileSize));
    }
  }
  return text;
}

// One write of the whole value, as cgroupfs wants it (it parses each write
// on its own). Opened like the shell's `>`: see the header comment.
Status WriteControlFile(const fs::path& path, std::string_view value) {
  UniqueFd fd(::open(path.c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                     0644));
  if (!fd) return FailErrno("opening " + path.string(), errno);
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return FailErrno(fmt::format("writing \"{}\" to {}", value, path.string()),
                     errno);
  }
  if (static_cast<size_t>(n) != value.size()) {
    return Fail(ErrorCode::kSystem, fmt::format("short write of \"{}\" to {}",
                                                value, path.string()));
  }
  return {};
}

bool Exists(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// ---------------------------------------------------------------------------
// Parsers. Kernel files are trusted to be well-formed, fake trees and
// future kernels are not: anything unexpected is an error, never a crash.

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

Error Malformed(const fs::path& path, std::string_view what) {
  return Error(ErrorCode::kSystem, fmt::format("{}: unexpected contents ({})",
                                               path.string(), what));
}

// A file holding one number.
Result<uint64_t> ReadNumber(const fs::path& path) {
  Result<std::string> text = ReadControlFile(path);
  if (!text) return tl::unexpected(text.error());
  const std::optional<uint64_t> value = ParseUint(Trim(*text));
  if (!value) return tl::unexpected(Malformed(path, "not a number"));
  return *value;
}

// The value of `key` in a flat-keyed file ("key value" lines: memory.events,
// pids.events, cpu.stat, memory.oom_control).
Result<uint64_t> ReadKeyedNumber(const fs::path& path, std::string_view key) {
  Result<std::string> text = ReadControlFile(path);
  if (!text) return tl::unexpected(text.error());
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const std::string_view line = Trim(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view()
                                             : rest.substr(newline + 1);
    const size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos || line.substr(0, space) != key) {
      continue;
    }
    const std::optional<uint64_t> value = ParseUint(Trim(line.substr(space)));
    if (!value) {
      return tl::unexpected(
          Malformed(path, fmt::format("\"{}\" is not a number", key)));
    }
    return *value;
  }
  return tl::unexpected(Malformed(path, fmt::format("no \"{}\" line", key)));
}

// The pids in a cgroup.procs; a missing file (the cgroup is gone) is an
// empty cgroup. Lines that are not pids are skipped: there is nothing to
// kill there.
Result<std::vector<pid_t>> ReadProcs(const fs::path& dir) {
  const fs::path path = dir / "cgroup.procs";
  Result<std::string> text = ReadControlFile(path);
  if (!text) {
    if (text.error().sys_errno() == ENOENT) return std::vector<pid_t>{};
    return tl::unexpected(text.error());
  }
  std::vector<pid_t> pids;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const std::optional<uint64_t> pid =
        ParseUint(Trim(rest.substr(0, newline)));
    rest = newline == std::string_view::npos ? std::string_view()
                                             : rest.substr(newline + 1);
    if (pid && *pid > 0 && *pid <= 0x3fffffff) {
      pids.push_back(static_cast<pid_t>(*pid));
    }
  }
  return pids;
}

// ---------------------------------------------------------------------------
// Killing and removing.

// `top` and every cgroup below it (a workload may have made some), parents
// before children. Symlinks are not followed: cgroupfs has none, and on a
// fake tree they must not lead out of it.
std::vector<fs::path> CgroupTree(const fs::path& top) {
  std::vector<fs::path> dirs{top};
  for (size_t i = 0; i < dirs.size(); ++i) {
    std::error_code ec;
    fs::directory_iterator it(dirs[i], ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      // The type the listing gave (d_type), not a stat of each of a
      // cgroup's twenty-odd control files.
      std::error_code type_ec;
      if (!it->is_symlink(type_ec) && it->is_directory(type_ec)) {
        dirs.push_back(it->path());
      }
    }
  }
  return dirs;
}

int PidfdOpen(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(
      ::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

// SIGKILLs the processes `listed` in `dir`. A listed pid may exit and be
// reused by an unrelated process before we signal it, so each pid is pinned
// with a pidfd first and only signalled if, after pinning, it is still
// listed: a pinned process that is alive and listed is ours, and a dead one
// cannot be signalled through its pidfd. Never signals us or init.
Status KillListed(const fs::path& dir, const std::vector<pid_t>& listed) {
  const pid_t self = ::getpid();
  std::vector<std::pair<pid_t, UniqueFd>> pinned;
  bool have_pidfd = true;
  for (const pid_t pid : listed) {
    if (pid <= 1 || pid == self) continue;
    if (pinned.size() >= kMaxPidfdsPerRound) break;
    UniqueFd pidfd(PidfdOpen(pid));
    if (pidfd) {
      pinned.emplace_back(pid, std::move(pidfd));
    } else if (errno == ENOSYS) {
      have_pidfd = false;
      break;
    }
    // ESRCH: it is gone already.
  }
  if (!have_pidfd) {
    // Before Linux 5.3: plain kill, with the pid-reuse window that implies.
    for (const pid_t pid : listed) {
      if (pid > 1 && pid != self) ::kill(pid, SIGKILL);
    }
    return {};
  }
  Result<std::vector<pid_t>> relisted = ReadProcs(dir);
  if (!relisted) return tl::unexpected(relisted.error());
  const std::set<pid_t> still(relisted->begin(), relisted->end());
  for (const auto& [pid, pidfd] : pinned) {
    if (still.count(pid) != 0) PidfdSendSignal(pidfd.get(), SIGKILL);
  }
  return {};
}

void Pause(int round) {
  // Short at first (most runs die at once), then gentler.
  std::this_thread::sleep_for(std::chrono::milliseconds(round < 10 ? 1 : 10));
}

// Kills everything in the cgroup trees below `tops` until they are empty or
// the deadline passes.
Status KillTrees(const std::vector<fs::path>& tops,
                 Clock::time_point deadline) {
  for (const fs::path& top : tops) {
    // v2's cgroup.kill (5.14+) kills the whole subtree at once, forks
    // included; absent on v1 and older kernels. Checked for rather than
    // written blindly: an O_CREAT write would make one on a fake tree.
    const fs::path kill_file = top / "cgroup.kill";
    if (Exists(kill_file)) (void)WriteControlFile(kill_file, "1");
  }
  for (int round = 0;; ++round) {
    size_t remaining = 0;
    fs::path example;
    for (const fs::path& top : tops) {
      for (const fs::path& dir : CgroupTree(top)) {
        Result<std::vector<pid_t>> pids = ReadProcs(dir);
        if (!pids) return tl::unexpected(pids.error());
        if (pids->empty()) continue;
        remaining += pids->size();
        example = dir;
        Status killed = KillListed(dir, *pids);
        if (!killed) return killed;
      }
    }
    if (remaining == 0) return {};
    if (Clock::now() >= deadline) {
      return Fail(ErrorCode::kSystem,
                  fmt::format("{} process(es) still in {} after killing them",
                              remaining, example.string()));
    }
    Pause(round);
  }
}

// rmdir of `top` and the cgroups below it, deepest first. The kernel may
// report a just-emptied cgroup busy for a moment (tasks still exiting), so
// EBUSY is retried until the deadline; a directory already gone is fine.
Status RemoveTree(const fs::path& top, Clock::time_point deadline) {
  std::vector<fs::path> dirs = CgroupTree(top);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    for (int round = 0;; ++round) {
      if (::rmdir(it->c_str()) == 0 || errno == ENOENT) break;
      const int err = errno;
      if (err != EBUSY || Clock::now() >= deadline) {
        return FailErrno("removing cgroup " + it->string(), err);
      }
      Pause(round);
    }
  }
  return {};
}

// ---------------------------------------------------------------------------
// Finding hierarchies.

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool IsV1Hierarchy(const fs::path& dir) {
  return (Exists(dir / "tasks") || Exists(dir / "cgroup.procs")) &&
         !Exists(dir / "cgroup.controllers");
}

bool NameListsController(std::string_view dir_name, std::string_view name) {
  while (!dir_name.empty()) {
    const size_t comma = dir_name.find(',');
    if (dir_name.substr(0, comma) == name) return true;
    dir_name = comma == std::string_view::npos ? std::string_view()
                                               : dir_name.substr(comma + 1);
  }
  return false;
}

// Where v1 controller `name` is mounted below `root`: <root>/<name> (a
// directory, or the symlink systemd makes to a co-mount such as
// "cpu,cpuacct"), else the co-mounted directory whose name lists it. The
// path is resolved so co-mounted controllers share one directory.
std::optional<fs::path> FindV1Hierarchy(const fs::path& root,
                                        std::string_view name) {
  std::error_code ec;
  const fs::path direct = root / name;
  if (fs::is_directory(direct, ec) && IsV1Hierarchy(direct)) {
    fs::path real = fs::canonical(direct, ec);
    return ec ? direct : real;
  }
  fs::directory_iterator it(root, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() == fs::file_type::directory &&
        NameListsController(it->path().filename().string(), name) &&
        IsV1Hierarchy(it->path())) {
      return it->path();
    }
  }
  return std::nullopt;
}

struct Hierarchy {
  fs::path mount;  // the hierarchy's root below the sysfs root
  bool v2 = false;
  bool operator==(const Hierarchy&) const = default;
};

std::string Describe(const CgroupFacts& facts) {
  return fmt::format("layout {}, v2 controllers [{}], v1 controllers [{}]",
                     CgroupLayoutName(facts.layout),
                     fmt::join(facts.v2_controllers, " "),
                     fmt::join(facts.v1_controllers, " "));
}

// Where a controller goes: v2 when the v2 hierarchy offers it, else its v1
// mount, else nowhere.
std::optional<Hierarchy> Place(const fs::path& root, const CgroupFacts& facts,
                               std::string_view v2_name,
                               std::string_view v1_name) {
  if (!facts.v2_root.empty() && Contains(facts.v2_controllers, v2_name)) {
    return Hierarchy{facts.v2_root, true};
  }
  if (Contains(facts.v1_controllers, v1_name)) {
    if (std::optional<fs::path> mount = FindV1Hierarchy(root, v1_name)) {
      return Hierarchy{*mount, false};
    }
  }
  return std::nullopt;
}

// Enables controllers for the children of v2 cgroup `dir`. All of
// `wanted` in one write if possible (the kernel applies a write all or
// nothing), else only `required`: a best-effort controller the kernel
// refuses (cpu, with realtime tasks about) must not fail the run.
Status EnableControllers(const fs::path& dir,
                         const std::vector<std::string>& required,
                         const std::vector<std::string>& wanted) {
  if (wanted.empty()) return {};  // a cgroup only for holding processes
  const fs::path path = dir / "cgroup.subtree_control";
  std::set<std::string> enabled;
  if (Result<std::string> text = ReadControlFile(path)) {
    std::string_view rest = *text;
    while (!rest.empty()) {
      const size_t start = rest.find_first_not_of(" \t\n");
      if (start == std::string_view::npos) break;
      rest = rest.substr(start);
      const size_t end = rest.find_first_of(" \t\n");
      std::string_view word = rest.substr(0, end);
      if (word.starts_with('+')) word.remove_prefix(1);  // fake trees
      enabled.emplace(word);
      rest =
          end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
  }
  auto missing = [&](const std::vector<std::string>& names) {
    std::string change;
    for (const std::string& name : names) {
      if (enabled.count(name) != 0) continue;
      if (!change.empty()) change += ' ';
      change += '+' + name;
    }
    return change;
  };
  const std::string all = missing(wanted);
  if (all.empty() || WriteControlFile(path, all)) return {};
  const std::string needed = missing(required);
  if (needed.empty()) return {};
  Status status = WriteControlFile(path, needed);
  if (!status && status.error().sys_errno() == EBUSY) {
    return tl::unexpected(status.error().WithContext(
        "enabling cgroup controllers (cgroup v2 enables them only in a "
        "cgroup that holds no processes itself)"));
  }
  if (!status) {
    return tl::unexpected(
        status.error().WithContext("enabling cgroup controllers"));
  }
  return {};
}

// <mount>/isoscope/<name>, the parent made (and on v2 given the controllers
// for its children) first.
Status MakeRunDirectory(const Hierarchy& hierarchy, const fs::path& dir,
                        const std::vector<std::string>& v2_required,
                        const std::vector<std::string>& v2_wanted) {
  const fs::path parent = dir.parent_path();
  if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
    return FailErrno("creating cgroup " + parent.string(), errno);
  }
  if (hierarchy.v2) {
    for (const fs::path& level : {hierarchy.mount, parent}) {
      Status enabled = EnableControllers(level, v2_required, v2_wanted);
      if (!enabled) return enabled;
    }
  }
  if (::mkdir(dir.c_str(), 0755) != 0) {
    return FailErrno("creating cgroup " + dir.string(), errno);
  }
  return {};
}

// The `isoscope` parent goes with its last run. rmdir fails (EBUSY,
// ENOTEMPTY) while another run uses it, which is fine.
void RemoveParentIfUnused(const fs::path& parent) { ::rmdir(parent.c_str()); }

}  // namespace

std::string_view CgroupControllerName(CgroupController controller) {
  switch (controller) {
    case CgroupController::kMemory:
      return "memory";
    case CgroupController::kPids:
      return "pids";
    case CgroupController::kCpu:
      return "cpu";
  }
  return "unknown";
}

std::string RunCgroupName(const RunCgroupOwner& owner) {
  std::string name = fmt::format("{}{}-{}-{}", kRunPrefix, owner.pid,
                                 owner.start_time, owner.counter);
  if (owner.pid_namespace != 0) name += fmt::format("-{}", owner.pid_namespace);
  return name;
}

std::optional<RunCgroupOwner> ParseRunCgroupName(std::string_view name) {
  if (!name.starts_with(kRunPrefix)) return std::nullopt;
  name.remove_prefix(kRunPrefix.size());
  // Three numbers (an older isoscope's name) or four, dash-separated.
  std::array<uint64_t, 4> parts{};
  size_t count = 0;
  for (;;) {
    const size_t dash = name.find('-');
    const std::optional<uint64_t> value = ParseUint(name.substr(0, dash));
    if (!value || count == parts.size()) return std::nullopt;
    parts[count++] = *value;
    if (dash == std::string_view::npos) break;
    name.remove_prefix(dash + 1);
  }
  if (count < 3) return std::nullopt;
  if (parts[0] == 0 || parts[0] > 0x3fffffff) return std::nullopt;
  RunCgroupOwner owner{static_cast<pid_t>(parts[0]), parts[1], parts[2]};
  if (count == 4) {
    if (parts[3] == 0) return std::nullopt;
    owner.pid_namespace = parts[3];
  }
  return owner;
}

// ---------------------------------------------------------------------------
// RunCgroup.

bool CgroupControllerAvailable(const fs::path& sysfs_root,
                               const CgroupFacts& facts,
                               CgroupController controller) {
  switch (controller) {
    case CgroupController::kMemory:
      return Place(sysfs_root, facts, "memory", "memory").has_value();
    case CgroupController::kPids:
      return Place(sysfs_root, facts, "pids", "pids").has_value();
    case CgroupController::kCpu:
      return Place(sysfs_root, facts, "cpu", "cpuacct").has_value();
  }
  return false;
}

Result<RunCgroup> RunCgroup::Create(const fs::path& sysfs_root,
                                    const CgroupFacts& facts,
                                    const CgroupLimits& limits) {
  if (limits.memory_bytes == uint64_t{0}) {
    return Fail(ErrorCode::kInvalidArgument, "a memory limit of 0 bytes");
  }
  if (limits.processes == uint64_t{0}) {
    return Fail(ErrorCode::kInvalidArgument, "a process limit of 0");
  }
  const std::optional<Hierarchy> memory =
      Place(sysfs_root, facts, "memory", "memory");
  const std::optional<Hierarchy> pids =
      Place(sysfs_root, facts, "pids", "pids");
  std::optional<Hierarchy> cpu = Place(sysfs_root, facts, "cpu", "cpuacct");
  auto unavailable = [&](std::string_view controller, std::string_view why) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("cgroup controller '{}' is not available on this "
                            "host ({}); it is needed for {}",
                            controller, Describe(facts), why));
  };
  if (limits.memory_bytes && !memory) {
    return unavailable("memory", "the memory limit");
  }
  if (limits.processes && !pids) {
    return unavailable("pids", "the process limit");
  }
  const bool any_v2 = (memory && memory->v2) || (pids && pids->v2);
  if (!cpu && any_v2) {
    // Every v2 cgroup has cpu.stat's usage_usec, controller or not.
    cpu = Hierarchy{facts.v2_root, true};
  }

  Result<RunCgroup> named = Named();
  if (!named) return named;
  RunCgroup cgroup = std::move(*named);

  std::vector<Hierarchy> hierarchies;
  for (const std::optional<Hierarchy>& h : {memory, pids, cpu}) {
    if (h && std::find(hierarchies.begin(), hierarchies.end(), *h) ==
                 hierarchies.end()) {
      hierarchies.push_back(*h);
    }
  }
  std::vector<std::string> v2_required;
  if (memory && memory->v2) v2_required.emplace_back("memory");
  if (pids && pids->v2) v2_required.emplace_back("pids");
  std::vector<std::string> v2_wanted = v2_required;
  if (Contains(facts.v2_controllers, "cpu")) v2_wanted.emplace_back("cpu");

  for (const Hierarchy& hierarchy : hierarchies) {
    const fs::path dir = hierarchy.mount / kParentName / cgroup.name_;
    // A concurrent Remove may take away an empty parent between our steps
    // (ENOENT): then start again.
    for (int attempt = 0;; ++attempt) {
      Status made = MakeRunDirectory(hierarchy, dir, v2_required, v2_wanted);
      if (made) break;
      if (made.error().sys_errno() != ENOENT || attempt >= 4) {
        return tl::unexpected(made.error());
      }
    }
    // From here the destructor of `cgroup` removes it on any failure.
    cgroup.directories_.push_back(dir);
    if (hierarchy.v2) cgroup.v2_directory_ = dir;
    const Placement placement{dir, hierarchy.v2};
    if (memory && *memory == hierarchy) cgroup.memory_ = placement;
    if (pids && *pids == hierarchy) cgroup.pids_ = placement;
    if (cpu && *cpu == hierarchy) cgroup.cpu_ = placement;
  }

  if (limits.memory_bytes) {
    const std::string value = std::to_string(*limits.memory_bytes);
    const fs::path& dir = cgroup.memory_->directory;
    // Whether the kernel accounts swap shows in the parent, which has the
    // same control files as the run's directory.
    const fs::path parent = dir.parent_path();
    Status status;
    if (cgroup.memory_->v2) {
      status = WriteControlFile(dir / "memory.max", value);
      if (status && Exists(parent / "memory.swap.max")) {
        status = WriteControlFile(dir / "memory.swap.max", "0");
      }
    } else {
      // memsw (memory + swap) may never be below the memory limit, so the
      // memory limit goes first.
      status = WriteControlFile(dir / "memory.limit_in_bytes", value);
      if (status && Exists(parent / "memory.memsw.limit_in_bytes")) {
        status = WriteControlFile(dir / "memory.memsw.limit_in_bytes", value);
      }
    }
    if (!status) {
      return tl::unexpected(status.error().WithContext("setting memory limit"));
    }
  }
  if (limits.processes) {
    Status status = WriteControlFile(cgroup.pids_->directory / "pids.max",
                                     std::to_string(*limits.processes));
    if (!status) {
      return tl::unexpected(
          status.error().WithContext("setting process limit"));
    }
  }
  return cgroup;
}

Result<RunCgroup> RunCgroup::CreateForKilling(const fs::path& v2_root,
                                              const fs::path& below) {
  Result<RunCgroup> named =
      Named(below == v2_root ? fs::path() : below / kParentName);
  if (!named) return named;
  RunCgroup cgroup = std::move(*named);
  const Hierarchy hierarchy{below, true};
  const fs::path dir = below / kParentName / cgroup.name_;
  // As in Create: a concurrent Remove may take away an empty parent.
  for (int attempt = 0;; ++attempt) {
    Status made = MakeRunDirectory(hierarchy, dir, {}, {});
    if (made) break;
    if (made.error().sys_errno() != ENOENT || attempt >= 4) {
      return tl::unexpected(made.error());
    }
  }
  cgroup.directories_.push_back(dir);
  cgroup.v2_directory_ = dir;
  return cgroup;
}

Result<RunCgroup> RunCgroup::Named(const fs::path& sweep_parent) {
  const pid_t self = ::getpid();
  Result<uint64_t> start_time = ProcessStartTime(self);
  if (!start_time) {
    return tl::unexpected(
        start_time.error().WithContext("naming the run's cgroup"));
  }
  Result<uint64_t> pid_namespace = OwnPidNamespace();
  if (!pid_namespace) {
    return tl::unexpected(
        pid_namespace.error().WithContext("naming the run's cgroup"));
  }
  static std::atomic<uint64_t> counter{0};
  RunCgroup cgroup;
  cgroup.mark_.emplace(sweep_parent);  // before the first directory is made
  if (const int error = cgroup.mark_->unrecorded_errno(); error != 0) {
    return FailErrno(
        "making the run's cgroup: no leftover mark could be recorded for "
        "it, so a kill of this process would leave it where no later "
        "isoscope looks",
        error);
  }
  cgroup.name_ = RunCgroupName({self, *start_time, counter++, *pid_namespace});
  return cgroup;
}

Status RunCgroup::KillWhenIsoscopeEnds() {
  if (!v2_directory_ || directories_.empty()) {
    return Fail(ErrorCode::kUnavailable,
                "the run's cgroup has no cgroup v2 directory");
  }
  if (post_mortem_kill_) return {};
  const fs::path kill_path = *v2_directory_ / "cgroup.kill";
  UniqueFd kill_file(::open(kill_path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!kill_file) {
    return errno == ENOENT
               ? Fail(ErrorCode::kUnavailable,
                      "this kernel has no cgroup.kill (Linux 5.14+)")
               : FailErrno("opening " + kill_path.string(), errno);
  }
  Result<PostMortemWrite> armed = PostMortemWrite::Arm(kill_file.get(), '1');
  if (!armed) return tl::unexpected(armed.error());
  kill_file_ = std::move(kill_file);
  post_mortem_kill_.emplace(std::move(*armed));
  return {};
}

RunCgroup::RunCgroup(RunCgroup&& other) noexcept
    : name_(std::exchange(other.name_, {})),
      directories_(std::exchange(other.directories_, {})),
      memory_(std::exchange(other.memory_, std::nullopt)),
      pids_(std::exchange(other.pids_, std::nullopt)),
      cpu_(std::exchange(other.cpu_, std::nullopt)),
      v2_directory_(std::exchange(other.v2_directory_, std::nullopt)),
      mark_(std::exchange(other.mark_, std::nullopt)),
      kill_file_(std::move(other.kill_file_)),
      post_mortem_kill_(std::exchange(other.post_mortem_kill_, std::nullopt)) {}

RunCgroup& RunCgroup::operator=(RunCgroup&& other) noexcept {
  if (this != &other) {
    (void)Remove();
    name_ = std::exchange(other.name_, {});
    directories_ = std::exchange(other.directories_, {});
    memory_ = std::exchange(other.memory_, std::nullopt);
    pids_ = std::exchange(other.pids_, std::nullopt);
    cpu_ = std::exchange(other.cpu_, std::nullopt);
    v2_directory_ = std::exchange(other.v2_directory_, std::nullopt);
    mark_ = std::exchange(other.mark_, std::nullopt);
    post_mortem_kill_ = std::exchange(other.post_mortem_kill_, std::nullopt);
    kill_file_ = std::move(other.kill_file_);
  }
  return *this;
}

RunCgroup::~RunCgroup() { (void)Remove(); }

const RunCgroup::Placement* RunCgroup::PlacementFor(
    CgroupController controller) const {
  if (directories_.empty()) return nullptr;
  const std::optional<Placement>* placement = nullptr;
  switch (controller) {
    case CgroupController::kMemory:
      placement = &memory_;
      break;
    case CgroupController::kPids:
      placement = &pids_;
      break;
    case CgroupController::kCpu:
      placement = &cpu_;
      break;
  }
  return placement != nullptr && placement->has_value() ? &**placement
                                                        : nullptr;
}

std::optional<fs::path> RunCgroup::DirectoryFor(
    CgroupController controller) const {
  const Placement* placement = PlacementFor(controller);
  if (placement == nullptr) return std::nullopt;
  return placement->directory;
}

Status RunCgroup::AddProcess(pid_t pid) const {
  if (pid <= 0) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("bad pid {}", pid));
  }
  for (const fs::path& dir : directories_) {
    Status status = WriteControlFile(dir / "cgroup.procs", std::to_string(pid));
    if (!status) {
      return tl::unexpected(status.error().WithContext(
          fmt::format("adding process {} to cgroup", pid)));
    }
  }
  return {};
}

Result<CgroupEntrance> RunCgroup::OpenEntrance() const {
  CgroupEntrance entrance;
  for (const fs::path& dir : directories_) {
    if (dir == v2_directory_) {
      auto directory = OpenV2Directory();
      if (!directory) return tl::unexpected(directory.error());
      entrance.v2_directory = std::move(*directory);
      continue;
    }
    // Not created where it is missing: a directory without one is no
    // cgroup, and a write to a file made there would join nothing.
    const fs::path tasks = dir / "tasks";
    UniqueFd fd(::open(tasks.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return FailErrno("opening " + tasks.string(), errno);
    entrance.v1_tasks.push_back(std::move(fd));
  }
  return entrance;
}

Result<UniqueFd> RunCgroup::OpenV2Directory() const {
  if (!v2_directory_ || directories_.empty()) {
    return Fail(ErrorCode::kUnavailable,
                "the run's cgroup has no cgroup v2 directory");
  }
  UniqueFd fd(
      ::open(v2_directory_->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return FailErrno("opening " + v2_directory_->string(), errno);
  return fd;
}

Result<CgroupEvents> RunCgroup::Events() const {
  CgroupEvents events;
  if (const Placement* memory = PlacementFor(CgroupController::kMemory)) {
    const fs::path& dir = memory->directory;
    Result<uint64_t> oom_kills =
        memory->v2 ? ReadKeyedNumber(dir / "memory.events", "oom_kill")
                   : ReadKeyedNumber(dir / "memory.oom_control", "oom_kill");
    if (!oom_kills) return tl::unexpected(oom_kills.error());
    events.oom_kills = *oom_kills;
    // memory.peak is 5.19+; without it there is no peak to report.
    const fs::path peak_file =
        dir / (memory->v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    if (!memory->v2 || Exists(peak_file)) {
      Result<uint64_t> peak = ReadNumber(peak_file);
      if (!peak) return tl::unexpected(peak.error());
      events.peak_memory_bytes = *peak;
    }
  }
  if (const Placement* pids = PlacementFor(CgroupController::kPids)) {
    Result<uint64_t> hits =
        ReadKeyedNumber(pids->directory / "pids.events", "max");
    if (!hits) return tl::unexpected(hits.error());
    events.pids_max_hits = *hits;
  }
  if (const Placement* cpu = PlacementFor(CgroupController::kCpu)) {
    if (cpu->v2) {
      Result<uint64_t> usec =
          ReadKeyedNumber(cpu->directory / "cpu.stat", "usage_usec");
      if (!usec) return tl::unexpected(usec.error());
      events.cpu_usage_us = *usec;
    } else {
      Result<uint64_t> nsec = ReadNumber(cpu->directory / "cpuacct.usage");
      if (!nsec) return tl::unexpected(nsec.error());
      events.cpu_usage_us = *nsec / 1000;
    }
  }
  return events;
}

Status RunCgroup::KillAll(std::chrono::milliseconds timeout) const {
  if (directories_.empty()) return {};
  Status status = KillTrees(directories_, Clock::now() + timeout);
  if (!status) {
    return tl::unexpected(status.error().WithContext(
        fmt::format("killing the processes of cgroup {}", name_)));
  }
  return {};
}

void RunCgroup::ForgetDirectories() {
  post_mortem_kill_.reset();  // before the descriptor it writes to
  kill_file_.Reset();
  mark_.reset();
}

Status RunCgroup::Remove(std::chrono::milliseconds timeout) {
  if (directories_.empty()) {
    ForgetDirectories();
    return {};
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  std::optional<Error> first_error;
  if (Status killed = KillTrees(directories_, deadline); !killed) {
    first_error = killed.error();
  }
  std::vector<fs::path> remaining;
  for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
    Status removed = RemoveTree(*it, deadline);
    if (removed) {
      RemoveParentIfUnused(it->parent_path());
      continue;
    }
    remaining.insert(remaining.begin(), *it);
    if (!first_error) first_error = removed.error();
  }
  directories_ = std::move(remaining);
  if (directories_.empty()) {
    ForgetDirectories();
    return {};
  }
  // Left: the mark stays held until this process exits, so that the next
  // start after it sweeps (the destructor would release it otherwise).
  if (mark_) mark_->Keep();
  return tl::unexpected(
      first_error->WithContext(fmt::format("removing cgroup {}", name_)));
}

// ---------------------------------------------------------------------------
// Abandoned runs.

std::optional<fs::path> OwnV2Cgroup(const fs::path& v2_root,
                                    const fs::path& proc_self_cgroup) {
  Result<std::string> text = ReadControlFile(proc_self_cgroup);
  if (!text) return std::nullopt;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view()
                                         : rest.substr(end + 1);
    if (!line.starts_with("0::/")) continue;
    const fs::path relative =
        fs::path(line.substr(4)).lexically_normal().relative_path();
    for (const fs::path& part : relative) {
      if (part == "..") return std::nullopt;
    }
    return relative.empty() ? v2_root : v2_root / relative;
  }
  return std::nullopt;
}

SweepResult RemoveAbandonedCgroups(
    const fs::path& sysfs_root, const CgroupFacts& facts,
    const fs::path& proc_root, const std::vector<fs::path>& recorded_parents) {
  // The `isoscope` directories to look in.
  std::vector<fs::path> parents;
  auto add = [&](const fs::path& parent) {
    if (std::find(parents.begin(), parents.end(), parent) == parents.end()) {
      parents.push_back(parent);
    }
  };
  if (!facts.v2_root.empty()) add(facts.v2_root / kParentName);
  for (const std::string& controller : facts.v1_controllers) {
    if (std::optional<fs::path> mount =
            FindV1Hierarchy(sysfs_root, controller)) {
      add(*mount / kParentName);
    }
  }
  // A recorded parent is only trusted as far as its name: an `isoscope`
  // directory plainly below the v2 root (the registry is the user's own,
  // but a cgroup sweep must never be pointed elsewhere).
  for (const fs::path& recorded : recorded_parents) {
    if (facts.v2_root.empty() || recorded.filename() != kParentName) continue;
    const fs::path below = recorded.lexically_relative(facts.v2_root);
    bool plainly_below = !below.empty() && below != ".";
    for (const fs::path& part : below) plainly_below &= part != "..";
    if (plainly_below) add(facts.v2_root / below);
  }
  SweepResult result;
  // A run of an isoscope in another pid namespace is not this one's to
  // judge: its pid means nothing in this one's /proc.
  const Result<uint64_t> own_namespace = OwnPidNamespace();
  for (const fs::path& parent : parents) {
    // Listed first, removed after: no removal while iterating.
    std::vector<std::pair<fs::path, RunCgroupOwner>> runs;
    std::error_code ec;
    fs::directory_iterator it(parent, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::optional<RunCgroupOwner> owner =
          ParseRunCgroupName(it->path().filename().string());
      // Only this user's: another's run (whose pid /proc may hide from
      // us, hidepid) is not ours to judge.
      struct stat st {};
      if (owner && ::lstat(it->path().c_str(), &st) == 0 &&
          S_ISDIR(st.st_mode) && st.st_uid == ::geteuid()) {
        runs.emplace_back(it->path(), *owner);
      }
    }
    // No `isoscope` parent in this hierarchy (ENOENT): nothing to sweep.
    if (ec && IsShortage(ec.value())) result.complete = false;
    for (const auto& [dir, owner] : runs) {
      if (owner.pid_namespace != 0 &&
          (!own_namespace || owner.pid_namespace != *own_namespace)) {
        if (!own_namespace) result.complete = false;
        continue;
      }
      const Liveness liveness =
          LivenessOfPid(owner.pid, owner.start_time, proc_root);
      if (liveness != Liveness::kGone) {
        // An owner that could not be checked (for want of a descriptor,
        // say) may be gone: look again at the next start.
        if (liveness == Liveness::kUnknown) result.complete = false;
        continue;
      }
      const Clock::time_point deadline =
          Clock::now() + RunCgroup::kDefaultTimeout;
      (void)KillTrees({dir}, deadline);
      if (RemoveTree(dir, deadline)) {
        ++result.removed;
      } else {
        result.complete = false;
      }
    }
    if (!runs.empty()) RemoveParentIfUnused(parent);
  }
  return result;
}

bool MayHaveAbandonedCgroups(const fs::path& sysfs_root) {
  std::error_code ec;
  if (fs::is_directory(sysfs_root / kParentName, ec)) return true;
  fs::directory_iterator it(sysfs_root, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code parent_ec;
    if (fs::is_directory(it->path() / kParentName, parent_ec)) return true;
  }
  return false;
}

}  // namespace isoscope
