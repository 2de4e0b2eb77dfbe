#include "backends/container/container_backend.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "backends/container/notification_workers.h"
#include "backends/process/checked_calls.h"
#include "backends/process/network.h"
#include "backends/process/workload_output.h"
#include "policies/decide.h"
#include "policies/syscalls.h"
#include "supervisor/host_facts.h"

namespace isoscope {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kDrainLimit = std::chrono::seconds(2);
constexpr auto kStartLimit = std::chrono::seconds(10);
// How often the cgroup's events and CPU time are read while the workload
// runs (a few small reads).
constexpr auto kCgroupInterval = std::chrono::milliseconds(50);

// The rule id of a decision the backend makes itself, never the policy's:
// a path call the policy allows but isoscope cannot perform safely.
constexpr std::string_view kUnperformableRule = "container.unperformable";
// A path argument that cannot be read or resolved (a bad pointer, too
// long, a refused magic link): failed with the errno the kernel would give.
constexpr std::string_view kArgumentRule = "container.bad-argument";

// Per-process limits the kernel keeps; memory and processes are the
// cgroup's (for the whole container, threads included).
std::vector<ResourceLimit> LimitsFor(const Resources& resources) {
  std::vector<ResourceLimit> limits;
  if (resources.cpu_time_ms) {
    limits.push_back({RLIMIT_CPU, (*resources.cpu_time_ms + 999) / 1000});
  }
  if (resources.open_files) {
    limits.push_back({RLIMIT_NOFILE, *resources.open_files});
  }
  if (resources.file_size_bytes) {
    limits.push_back({RLIMIT_FSIZE, *resources.file_size_bytes});
  }
  return limits;
}

// What the root's noexec flags follow: the policy's exec globs, or "/**"
// when the policy lets execve run whatever path it names (`default:
// allow`, a rule without path globs, an `else: allow`): decided by the
// policy engine on a path no glob names, so the mounts never forbid an
// exec the policy allows.
std::vector<std::string> ExecGlobs(const Policy& policy) {
  SyscallRequest anywhere;
  anywhere.number = SYS_execve;
  anywhere.paths = {PathArgument{0, "/\x01isoscope-no-glob-names-this"}};
  const Action action = Decide(policy, anywhere).action.action;
  if (action == Action::kAllow || action == Action::kLog) return {"/**"};
  std::vector<std::string> globs;
  for (const Rule& rule : policy.syscalls.rules) {
    if (!rule.paths) continue;
    globs.insert(globs.end(), rule.paths->exec.begin(), rule.paths->exec.end());
  }
  return globs;
}

// Whether a rule of the policy that names syscall `number` has path
// globs: only then can its verdict depend on the path the workload names.
bool PolicyChecksPathsOf(const Policy& policy, int number) {
  return std::any_of(policy.syscalls.rules.begin(), policy.syscalls.rules.end(),
                     [number](const Rule& rule) {
                       return rule.paths.has_value() &&
                              std::find(rule.syscalls.begin(),
                                        rule.syscalls.end(),
                                        number) != rule.syscalls.end();
                     });
}

Status WriteFile(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return FailErrno(fmt::format("open {}", path), errno);
  if (::write(fd.get(), text.data(), text.size()) !=
      static_cast<ssize_t>(text.size())) {
    return FailErrno(fmt::format("write {}", path), errno);
  }
  return {};
}

// The host's "tty" group, which owns terminals (devpts's gid= option).
std::optional<gid_t> TtyGroup() {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getgrnam_r("tty", &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

// How many threads perform socket calls at once (NotificationWorkers):
// enough for a workload's concurrent blocking connects and sends, few
// enough that a workload parking calls on a black hole cannot make isoscope
// start many threads; further calls wait their turn.
constexpr size_t kMaxSocketWorkers = 16;

// `event`, which the policy allowed, as answered with `error` of the
// backend's making instead of its result, under `rule`.
SyscallEvent BackendAnswer(const SyscallEvent& event, int error,
                           std::string_view rule, std::string reason) {
  SyscallEvent answered = event;
  answered.verdict = Verdict{ActionSpec{Action::kDeny, error},
                             std::string(rule), std::move(reason)};
  answered.decided_by = DecidedBy::kKernelFilter;
  return answered;
}

std::string Mebibytes(uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

ContainerBackend::ContainerBackend(std::filesystem::path sysfs_cgroup_root)
    : sysfs_cgroup_root_(std::move(sysfs_cgroup_root)) {}

ContainerBackend::~ContainerBackend() {
  KillAll();
  notifier_.reset();  // a thread still waiting on it gets ENOSYS and dies
  child_.reset();     // kills and reaps PID 1, and so the namespace
  if (cgroup_) cgroup_->Remove();
}

ProbeResult ContainerBackend::Probe() const {
  if (::geteuid() != 0) {
    return {false,
            "the container backend needs root (namespaces, mounts and "
            "cgroups); run isoscope as root"};
  }
  if (::prctl(PR_GET_SECCOMP) < 0) {
    return {false, "this kernel has no seccomp (CONFIG_SECCOMP_FILTER)"};
  }
  for (const char* ns : {"pid", "mnt", "uts", "ipc", "net", "cgroup"}) {
    if (::access(fmt::format("/proc/self/ns/{}", ns).c_str(), F_OK) != 0) {
      return {false, fmt::format("this kernel lacks {} namespaces", ns)};
    }
  }
  CgroupFacts facts = ReadCgroupFacts(sysfs_cgroup_root_);
  if (facts.layout == CgroupLayout::kNone) {
    return {false, fmt::format("no cgroup hierarchy is mounted under {}",
                               sysfs_cgroup_root_.string())};
  }
  for (CgroupController controller :
       {CgroupController::kMemory, CgroupController::kPids}) {
    if (!CgroupControllerAvailable(sysfs_cgroup_root_, facts, controller)) {
      return {false,
              fmt::format("the {} cgroup controller is not available (layout "
                          "{}); mount it or enable it in the root's "
                          "cgroup.subtree_control",
                          CgroupControllerName(controller),
                          CgroupLayoutName(facts.layout))};
    }
  }
  return {true, ""};
}

Status ContainerBackend::Start(const Workload& workload,
                               const CompiledPlan& plan) {
  if (child_) return Fail(ErrorCode::kInternal, "container backend reused");
  if (!plan.compiled()) {
    return Fail(ErrorCode::kInternal,
                "container backend given an uncompiled plan");
  }
  plan_ = plan;
  const Policy& policy = plan.policy();

  // Who the workload is, inside and on the host.
  const Identity& id = policy.identity;
  // No `identity.hostname`: the new UTS namespace keeps the copy of the
  // host's names it starts with.
  identity_.hostname = id.hostname.value_or("");
  identity_.loopback_up = LoopbackUp(policy.network);
  identity_.uid = id.uid;
  identity_.gid = id.gid;
  const HostIds host = HostIdsFor(id);
  if (id.user_namespace) {
    // Inside: the policy's ids, or 0. Outside: the same numbers, or nobody,
    // never root.
    identity_.uid = id.uid.value_or(0);
    identity_.gid = id.gid.value_or(0);
  }
  host_uid_ = host.uid.value_or(0);
  host_gid_ = host.gid.value_or(0);

  // A cgroup when the policy limits memory, processes or CPU time. Without
  // one, PID 1's death still takes every process of the namespace with it,
  // and a short run spares the directories' creation and removal.
  const Resources& resources = policy.resources;
  if (resources.memory_bytes || resources.processes || resources.cpu_time_ms) {
    CgroupFacts facts = ReadCgroupFacts(sysfs_cgroup_root_);
    auto cgroup = RunCgroup::Create(
        sysfs_cgroup_root_, facts,
        CgroupLimits{resources.memory_bytes, resources.processes});
    if (!cgroup) return tl::unexpected(cgroup.error());
    cgroup_ = std::move(*cgroup);
  }

  RootFilesystemInputs inputs;
  inputs.workdir = workload.workdir;
  inputs.executable = workload.executable;
  inputs.root = workload.root;
  inputs.exec_globs = ExecGlobs(policy);
  inputs.workload_uid = host.uid;
  inputs.workload_gid = host.gid;
  // A user namespace maps only the workload's group: its terminals get that.
  if (!id.user_namespace) inputs.devpts_gid = TtyGroup();
  auto root = PlanRootFilesystem(policy.filesystem, inputs);
  if (!root) return tl::unexpected(root.error());
  root_ = std::move(*root);

  auto capabilities = CapabilityDrop::Create(policy.capabilities);
  if (!capabilities) return tl::unexpected(capabilities.error());
  capabilities_ = std::move(*capabilities);
  if (Status setid = RefuseSetidCapabilities(workload.workdir); !setid) {
    return setid;
  }
  setup_.emplace(*root_, identity_, *capabilities_, id.user_namespace);

  SeccompRouting routing;
  routing.user_notif = true;
  // isoscope's own execve of the workload must get through whatever the
  // policy says about exec; the child waits in it until the listener was
  // copied. Kills come here too, so a violation names its syscall.
  routing.notify_always = {SYS_execve, SYS_execveat};
  routing.kills = KillRoute::kNotify;
  // Denials too, so each is recorded with its rule (the listener answers
  // with the plan's errno).
  routing.notify_denials = true;
  // isoscope reads the workload's memory for checked calls: a userfaultfd
  // that handles kernel-mode faults could stall those reads for ever.
  routing.forbid_kernel_userfaults = true;
  // The workload's new files in an idmapped workdir are its owner's on the
  // host: a set-id bit, an ACL or a file capability on one would hand the
  // owner's privileges to anyone who runs it there.
  routing.forbid_privileged_files = root_->idmapped_workdir();
  auto program = BuildSeccompProgram(plan, routing);
  if (!program) return tl::unexpected(program.error());
  program_ = std::move(*program);

  auto pipes = WorkloadPipes::Create();
  if (!pipes) return tl::unexpected(pipes.error());

  SpawnOptions options;
  options.stdio = pipes->stdio();
  options.limits = LimitsFor(policy.resources);
  options.seccomp_filter = program_->fprog();
  options.seccomp_listener = true;
  options.wait_for_release = true;
  // The cgroup namespace is unshared by the set-up, once the child is in
  // the run's cgroup.
  options.namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  options.namespaces |= NetworkNamespaceFlags(policy.network);
  if (id.user_namespace) options.namespaces |= CLONE_NEWUSER;
  options.setup = &*setup_;
  options.count_syscalls = workload.count_syscalls;
  // The child starts in the run's cgroup: the limits hold from its first
  // instruction on, its set-up included.
  CgroupEntrance entrance;
  if (cgroup_) {
    auto opened = cgroup_->OpenEntrance();
    if (!opened) return tl::unexpected(opened.error());
    entrance = std::move(*opened);
    if (entrance.v2_directory) options.cgroup_fd = entrance.v2_directory.get();
    for (const UniqueFd& tasks : entrance.v1_tasks) {
      options.join_cgroup_tasks.push_back(tasks.get());
    }
  }
  Workload inside = workload;
  inside.executable = root_->executable();
  auto child = ChildProcess::Spawn(inside, options);
  entrance = CgroupEntrance{};  // the child has its own copies
  if (!child) return tl::unexpected(child.error());
  child_ = std::move(*child);
  stdout_ = std::move(pipes->stdout_read);
  stderr_ = std::move(pipes->stderr_read);

  if (id.user_namespace) {
    if (auto mapped = WriteIdMaps(child_->pid()); !mapped) return mapped;
  }
  if (auto released = child_->Release(); !released) return released;
  return WaitForExec();
}

Status ContainerBackend::RefuseSetidCapabilities(
    const std::string& workdir) const {
  // With these the kernel keeps set-id bits where it would clear them
  // (CAP_FSETID: a write to a set-id file, a chmod of one) or writes file
  // capabilities (CAP_SETFCAP): the filter's set-id refusal would not be
  // the whole of it.
  constexpr uint64_t kSetidCapabilities =
      (uint64_t{1} << CAP_FSETID) | (uint64_t{1} << CAP_SETFCAP);
  if (!root_->idmapped_workdir() ||
      (capabilities_->kept_mask() & kSetidCapabilities) == 0) {
    return {};
  }
  return Fail(ErrorCode::kPolicy,
              fmt::format("capabilities: CAP_FSETID and CAP_SETFCAP cannot be "
                          "kept when the workdir '{}' belongs to another user "
                          "than the workload: the workload's files there are "
                          "the owner's on the host, and with these it could "
                          "leave set-id or file-capability programs running "
                          "as the owner; run the workload as the workdir's "
                          "owner (identity.uid and identity.gid), use a "
                          "workdir it owns, or drop both capabilities",
                          workdir));
}

Status ContainerBackend::WriteIdMaps(pid_t pid) const {
  // One id each way: inside identity_ <-> outside host_*; nothing else of
  // the host is mapped.
  const std::string base = fmt::format("/proc/{}/", pid);
  if (auto uid = WriteFile(base + "uid_map",
                           fmt::format("{} {} 1\n", *identity_.uid, host_uid_));
      !uid) {
    return uid;
  }
  return WriteFile(base + "gid_map",
                   fmt::format("{} {} 1\n", *identity_.gid, host_gid_));
}

Status ContainerBackend::WaitForExec() {
  const Clock::time_point deadline = Clock::now() + kStartLimit;
  // The listener's fd number, or the set-up step that failed.
  auto announced = child_->ReadSpawnReport();
  if (!announced) return tl::unexpected(announced.error());
  if (!*announced) {
    return Fail(ErrorCode::kInternal,
                "the workload was exec'd without passing its seccomp "
                "listener");
  }
  // The listener exists once the child installed its filter; it then waits
  // in its execve, which the filter always notifies, until answered. The
  // child announces the number just before installing it (after, its
  // report would be the policy's to allow), so the first copy usually
  // comes too early: the waits between tries start at 20 us and double up
  // to 1 ms. A fixed 1 ms wait cost three runs in four a whole millisecond
  // here, for a filter installed within about 0.1 ms.
  timespec retry{0, 20'000};
  constexpr decltype(timespec::tv_nsec) kLongestRetryNs = 1'000'000;
  while (!notifier_) {
    auto copied = SeccompNotifier::CopyFromProcess(
        child_->pidfd(), child_->listener_fd_in_child());
    if (copied) {
      notifier_.emplace(std::move(*copied));
      break;
    }
    if (copied.error().sys_errno() != EBADF) {
      return tl::unexpected(copied.error());
    }
    pollfd channel{child_->spawn_channel(), POLLIN, 0};
    const int reported = ::ppoll(&channel, 1, &retry, nullptr);
    retry.tv_nsec = std::min(retry.tv_nsec * 2, kLongestRetryNs);
    if (reported > 0) {
      // The child reported instead: installing its filter failed.
      auto report = child_->ReadSpawnReport();
      if (!report) return tl::unexpected(report.error());
      return Fail(ErrorCode::kInternal,
                  "the workload was exec'd without passing its seccomp "
                  "listener");
    }
    if (Clock::now() >= deadline) {
      return Fail(ErrorCode::kSystem,
                  "the container's first process did not install its "
                  "seccomp filter in time");
    }
  }
  // Its first notification is isoscope's own execve of the workload.
  pollfd listener{notifier_->fd(), POLLIN, 0};
  if (::poll(&listener, 1, PollTimeoutMs(deadline)) <= 0 ||
      (listener.revents & POLLIN) == 0) {
    return Fail(ErrorCode::kSystem,
                "the container's first process did not reach its execve");
  }
  auto received = notifier_->Receive();
  if (!received) return tl::unexpected(received.error());
  if (!received->has_value() || (*received)->pid != child_->pid() ||
      ((*received)->nr != SYS_execve && (*received)->nr != SYS_execveat)) {
    return Fail(ErrorCode::kInternal,
                "the container's first notification was not its execve");
  }
  // The container's root, for the calls isoscope performs in it: opened
  // while the child waits, so a workload that exits at once is no race.
  container_root_.Reset(
      ::open(fmt::format("/proc/{}/root", child_->pid()).c_str(),
             O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!container_root_) {
    return FailErrno("opening the container's root", errno);
  }
  namespaced_opener_ = std::make_unique<NamespacedOpener>(
      host_uid_, host_gid_, capabilities_->kept_mask());
  if (auto continued = notifier_->Continue((*received)->id); !continued) {
    return continued;
  }
  auto execed = child_->ReadSpawnReport();
  if (!execed) return tl::unexpected(execed.error());
  next_cgroup_check_ = Clock::now() + kCgroupInterval;
  return {};
}

void ContainerBackend::Kill() { KillAll(); }

void ContainerBackend::KillAll() {
  if (!child_) return;
  // PID 1 of the namespace: when it dies the kernel kills every other
  // process in it. The cgroup catches anything that got out.
  child_->KillGroup();
  if (!child_->reaped()) {
    ::syscall(SYS_pidfd_send_signal, child_->pidfd(), SIGKILL, nullptr, 0);
  }
  if (cgroup_) cgroup_->KillAll(std::chrono::milliseconds(0));
  // After the kill: no workload thread waits for a worker's answer.
  StopWorkers();
}

Result<std::optional<Event>> ContainerBackend::NextEvent(
    const WaitLimit& wait) {
  if (!child_ || done_) {
    return Fail(ErrorCode::kInternal, "NextEvent without a running workload");
  }
  if (awaiting_) return Fail(ErrorCode::kInternal, "NextEvent before Resolve");
  while (true) {
    if (worker_error_) return tl::unexpected(*worker_error_);
    if (!pending_.empty()) {
      Pending next = std::move(pending_.front());
      pending_.pop_front();
      awaiting_ = std::move(next.await);
      return std::optional<Event>(std::move(next.event));
    }
    if (exit_) return Drain(wait);

    if (notifier_ && streak_.Next(*notifier_)) {
      if (auto got = OnNotification(); !got) return tl::unexpected(got.error());
      continue;
    }
    streak_.End();
    const int notify_fd = notifier_ ? notifier_->fd() : -1;
    pollfd fds[6] = {
        {stdout_.get(), POLLIN, 0},
        {stderr_.get(), POLLIN, 0},
        {child_->pidfd(), POLLIN, 0},
        {notify_fd, POLLIN, 0},
        {wait.interrupt_fd, POLLIN, 0},
        {workers_ ? workers_->ready_fd() : -1, POLLIN, 0},
    };
    Clock::time_point wake =
        cgroup_ ? std::min(wait.deadline, next_cgroup_check_) : wait.deadline;
    const bool watching = workers_ && workers_->busy();
    if (watching) wake = std::min(wake, next_watch_);
    int ready = ::poll(fds, 6, PollTimeoutMs(wake));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return FailErrno("poll", errno);
    }
    if (auto event =
            ReadReadyOutput(fds[0].revents, fds[1].revents, stdout_, stderr_);
        !event || event->has_value()) {
      return event;
    }
    if (fds[3].revents & (POLLERR | POLLHUP)) {
      answered_ += notifier_->answered();
      notifier_.reset();  // no process left under the filter
    } else if (fds[3].revents != 0) {
      if (auto got = OnNotification(); !got) return tl::unexpected(got.error());
      streak_.Arm();
      if (!pending_.empty()) continue;
    }
    if (fds[5].revents != 0) {
      auto answered = workers_->Take();
      if (!answered) return tl::unexpected(std::move(answered).error());
      for (SyscallEvent& event : *answered) {
        pending_.push_back(Pending{std::move(event), std::nullopt});
      }
    }
    if (watching && Clock::now() >= next_watch_) {
      // A worker's call whose thread was interrupted or died is abandoned.
      workers_->Watch();
      next_watch_ = Clock::now() + NotificationWorkers::kWatchInterval;
    }
    if (fds[2].revents != 0) {
      auto reaped = child_->TryReap();
      if (!reaped) return tl::unexpected(reaped.error());
      if (reaped->has_value()) {
        exit_ = **reaped;
        if (cgroup_) CheckCgroup();  // what the kernel did (an OOM kill)
        StopWorkers();               // every workload thread is gone
        continue;
      }
    }
    if (!pending_.empty()) continue;
    if (cgroup_ && Clock::now() >= next_cgroup_check_) {
      CheckCgroup();
      next_cgroup_check_ = Clock::now() + kCgroupInterval;
      if (!pending_.empty()) continue;
    }
    if (fds[4].revents != 0) return std::optional<Event>();  // interrupted
    if (wait.deadline != Clock::time_point::max() &&
        Clock::now() >= wait.deadline) {
      return std::optional<Event>();
    }
  }
}

Result<std::optional<Event>> ContainerBackend::Drain(const WaitLimit& wait) {
  if (!draining_) {
    draining_ = true;
    drain_deadline_ = Clock::now() + kDrainLimit;
    Kill();  // what is left in the cgroup
    // PID 1 is reaped, so every process of its namespace has exited: their
    // counts are in. Calls answered here never reached the kernel's count.
    if (const auto counted = child_->CountedSyscalls()) {
      exit_->usage.syscalls =
          *counted + answered_ + (notifier_ ? notifier_->answered() : 0);
    }
  }
  return DrainOutput(stdout_, stderr_, drain_deadline_, wait.interrupt_fd, 100,
                     {}, *exit_, &done_);
}

void ContainerBackend::CheckCgroup() {
  auto events = cgroup_->Events();
  if (!events) return;  // the next check (or the exit) reads again
  const Resources& limits = plan_->policy().resources;
  if (events->oom_kills > 0 && !memory_reported_ && limits.memory_bytes) {
    memory_reported_ = true;
    pending_.push_back(Pending{
        LimitEvent{
            LimitKind::kMemory,
            fmt::format("memory limit of {} reached: the kernel's OOM "
                        "killer killed {} process{}{}",
                        Mebibytes(*limits.memory_bytes), events->oom_kills,
                        events->oom_kills == 1 ? "" : "es",
                        events->peak_memory_bytes
                            ? fmt::format(" (peak {})",
                                          Mebibytes(*events->peak_memory_bytes))
                            : "")},
        std::nullopt});
  }
  if (events->pids_max_hits > 0 && !processes_reported_ && limits.processes) {
    processes_reported_ = true;
    pending_.push_back(
        Pending{LimitEvent{LimitKind::kProcesses,
                           fmt::format("process limit of {} reached: the pids "
                                       "controller refused {} fork{}",
                                       *limits.processes, events->pids_max_hits,
                                       events->pids_max_hits == 1 ? "" : "s")},
                std::nullopt});
  }
  if (events->cpu_usage_us && limits.cpu_time_ms && !cpu_reported_ &&
      *events->cpu_usage_us >= *limits.cpu_time_ms * 1000) {
    cpu_reported_ = true;
    pending_.push_back(
        Pending{LimitEvent{LimitKind::kCpuTime,
                           fmt::format("cpu-time limit of {} ms reached by the "
                                       "container's processes together",
                                       *limits.cpu_time_ms)},
                std::nullopt});
  }
}

Status ContainerBackend::OnNotification() {
  auto received = notifier_->Receive();
  if (!received) return tl::unexpected(received.error());
  if (!received->has_value()) return {};  // the caller is already gone
  const SeccompNotification& n = **received;
  FilteredCall call = ClassifyFilteredCall(*plan_, n.arch, n.nr, n.args);
  const SyscallPlan& syscall_plan = *call.plan;
  if (syscall_plan.disposition == Disposition::kErrno) {
    return OnRoutedDenial(n, std::move(call.request), syscall_plan);
  }
  // Another ABI is never inspected: only its kill or denial comes here.
  if (call.request.abi != Abi::kX86_64 ||
      syscall_plan.disposition == Disposition::kKill) {
    // Left waiting: the loop kills the workload.
    pending_.push_back(Pending{
        FilterKillEvent(*plan_, n.pid, n.arch, n.nr, n.args), std::nullopt});
    return {};
  }
  if (syscall_plan.disposition == Disposition::kAllow) {
    // Notified only because every exec is (see Start); nothing to check.
    return notifier_->Continue(n.id);
  }
  SyscallEvent event;
  event.pid = n.pid;
  event.request.number = n.nr;
  event.request.args = n.args;
  Await await{n.id, n.pid, std::nullopt};
  if (!PathArguments(n.nr).empty()) {
    auto decoded = DecodeSyscallPaths(n.pid, n.nr, n.args);
    if (!notifier_->IdValid(n.id)) return {};  // gone; its pid may be reused
    Status resolved = decoded ? ResolveCheckedPaths(CheckedContext(), n.pid,
                                                    n.nr, n.args, *decoded)
                              : Status(tl::unexpected(decoded.error()));
    if (!resolved) {
      // The kernel would have failed the call the same way (EFAULT,
      // ENAMETOOLONG, EBADF, ELOOP...) before looking at any file.
      int error = resolved.error().sys_errno();
      if (error <= 0 || error > 4095) error = EFAULT;
      RecordBackendAnswer(
          event, error, kArgumentRule,
          fmt::format("the path arguments of {} could not be resolved: {}",
                      SyscallName(n.nr), resolved.error().message()));
      return notifier_->ReturnError(n.id, error);
    }
    event.request.paths = decoded->paths;
    event.request.open_flags = decoded->open_flags;
    await.paths = std::move(*decoded);
  }
  if (NamesSocketAddress(n.nr) && n.nr != SYS_sendmmsg &&
      EndpointListsApply(plan_->policy(), n.nr)) {
    auto decoded = DecodeSocketAddress(n.pid, n.nr, n.args);
    if (!notifier_->IdValid(n.id)) return {};  // gone; its pid may be reused
    if (!decoded) {
      // The kernel would have failed the call the same way (EFAULT,
      // EINVAL) before reaching any endpoint.
      int error = decoded.error().sys_errno();
      if (error <= 0 || error > 4095) error = EFAULT;
      RecordBackendAnswer(
          event, error, kArgumentRule,
          fmt::format("the socket address of {} could not be read: {}",
                      SyscallName(n.nr), decoded.error().message()));
      return notifier_->ReturnError(n.id, error);
    }
    event.request.address = decoded->address;
    event.request.control_messages = decoded->control_messages;
    await.address = std::move(*decoded);
  }
  pending_.push_back(Pending{std::move(event), std::move(await)});
  return {};
}

Status ContainerBackend::OnRoutedDenial(const SeccompNotification& n,
                                        SyscallRequest request,
                                        const SyscallPlan& plan) {
  SyscallEvent event;
  event.pid = n.pid;
  event.request = std::move(request);
  if (event.request.abi == Abi::kX86_64 &&
      !PathArguments(event.request.number).empty()) {
    // For the record only: the answer is the plan's whatever the paths.
    auto decoded = DecodeSyscallPaths(n.pid, n.nr, n.args);
    if (!notifier_->IdValid(n.id)) return {};  // gone; its pid may be reused
    if (decoded) {
      event.request.paths = std::move(decoded->paths);
      event.request.open_flags = decoded->open_flags;
    }
  }
  Await await{n.id, n.pid, std::nullopt};
  await.routed_denial = &plan;
  pending_.push_back(Pending{std::move(event), std::move(await)});
  return {};
}

Status ContainerBackend::Resolve(const Event& event, const Verdict& verdict) {
  std::optional<Await> await = std::exchange(awaiting_, std::nullopt);
  const auto* syscall = std::get_if<SyscallEvent>(&event);
  if (!await || syscall == nullptr) {
    return Fail(ErrorCode::kInternal,
                fmt::format("no event of the container backend awaits a "
                            "verdict (event index {})",
                            event.index()));
  }
  if (await->routed_denial != nullptr) {
    return AnswerRoutedDenial(*notifier_, await->id, *await->routed_denial,
                              verdict);
  }
  const ActionSpec& action = verdict.action;
  switch (action.action) {
    case Action::kAllow:
    case Action::kLog:
      if (await->paths) return AnswerChecked(*await, *syscall);
      if (await->address) return AnswerSocketCall(*await, *syscall);
      // No pointer argument was checked: the kernel may run it as made.
      return notifier_->Continue(await->id);
    case Action::kDeny:
      return notifier_->ReturnError(await->id, action.errno_value);
    case Action::kEmulate:
      return notifier_->ReturnValue(await->id, action.emulate_value);
    default:
      return {};  // kill: the loop kills the workload
  }
}

CheckedCallContext ContainerBackend::CheckedContext() const {
  CheckedCallContext context;
  context.root_fd = container_root_.get();
  context.own_procfs = true;
  context.magic_links_are_paths = false;  // another mount namespace's
  context.uid = host_uid_;
  context.gid = host_gid_;
  context.effective_caps = capabilities_->kept_mask();
  context.namespaced_opener = namespaced_opener_.get();
  return context;
}

Status ContainerBackend::AnswerChecked(const Await& await,
                                       const SyscallEvent& event) {
  const int number = event.request.number;
  if (ContinueIsSafe(number)) {
    if (!ReachesTheDecidedFile(CheckedContext(), *await.paths, 0)) {
      RecordBackendAnswer(
          event, EACCES, kArgumentRule,
          fmt::format("{} of '{}': the kernel would reach another file than "
                      "the policy decided on ('{}'): `..` after a symlink",
                      SyscallName(number), await.paths->given[0],
                      await.paths->paths[0].path));
      return notifier_->ReturnError(await.id, EACCES);
    }
    return notifier_->Continue(await.id);
  }
  if (!CanPerform(number) && !PolicyChecksPathsOf(plan_->policy(), number)) {
    // Inspected for another reason (`log`, a condition on another
    // argument): the verdict is the same whatever path the workload names
    // by the time the kernel reads it, so nothing checked can be swapped.
    return notifier_->Continue(await.id);
  }
  if (!CanPerform(number)) {
    // Letting it run would let the workload swap the checked path; refuse
    // and say so.
    RecordBackendAnswer(
        event, EPERM, kUnperformableRule,
        fmt::format("{} is allowed by the policy, but the container backend "
                    "cannot perform it on the workload's behalf, and "
                    "letting the kernel run it would not be safe",
                    SyscallName(number)));
    return notifier_->ReturnError(await.id, EPERM);
  }
  const CheckedCallContext context = CheckedContext();
  CheckedCallNote note;
  Status answered =
      AnswerNotification(*notifier_, await.id,
                         PerformCheckedCall(context, await.tid, number,
                                            event.request.args, *await.paths),
                         context, &note);
  if (!note.kind.empty()) {
    RecordBackendAnswer(event, note.error,
                        fmt::format("{}.{}", name(), note.kind),
                        fmt::format("{} is allowed by the policy, but {}",
                                    SyscallName(number), note.reason));
  }
  return answered;
}

Status ContainerBackend::AnswerSocketCall(const Await& await,
                                          const SyscallEvent& event) {
  const int number = event.request.number;
  if (number == SYS_sendto &&
      (event.request.args[4] == 0 ||
       static_cast<int32_t>(event.request.args[5]) == 0)) {
    // No address: the kernel reads none (the registers cannot change).
    return notifier_->Continue(await.id);
  }
  if (workers_stopped_) {
    // Killed: the workload's threads are going, none waits for a result.
    return notifier_->ReturnError(await.id, EINTR);
  }
  if (!workers_) {
    auto workers =
        NotificationWorkers::Create(notifier_->fd(), kMaxSocketWorkers);
    if (!workers) return tl::unexpected(std::move(workers).error());
    workers_ = std::move(*workers);
  }
  // The call may block as long as the workload's socket lets it (a peer
  // that never reads, a connect nobody answers): a worker performs and
  // answers it, and hands back what the loop records.
  const uint64_t id = await.id;
  return workers_->Submit(
      id,
      [context = CheckedContext(), id, tid = await.tid,
       address = *await.address, event, backend = std::string(name())](
          SeccompNotifier& notifier) -> Result<std::optional<SyscallEvent>> {
        const int number = event.request.number;
        std::string refused;
        CheckedCallNote note;
        Result<CheckedCallOutcome> outcome =
            PerformSocketCall(context, notifier, id, tid, number,
                              event.request.args, address, &refused);
        const int error =
            outcome && outcome->kind == CheckedCallOutcome::Kind::kError
                ? outcome->error
                : EPERM;
        Status answered = AnswerNotification(notifier, id, std::move(outcome),
                                             context, &note);
        if (!answered) return tl::unexpected(std::move(answered).error());
        if (!refused.empty()) {
          return BackendAnswer(
              event, error, kUnperformableRule,
              fmt::format("{} is allowed by the policy, but {}",
                          SyscallName(number), refused));
        }
        if (!note.kind.empty()) {
          return BackendAnswer(
              event, note.error, fmt::format("{}.{}", backend, note.kind),
              fmt::format("{} is allowed by the policy, but {}",
                          SyscallName(number), note.reason));
        }
        return std::nullopt;
      });
}

void ContainerBackend::StopWorkers() {
  if (!workers_) return;
  workers_->Stop();
  answered_ += workers_->answered();
  auto events = workers_->Take();
  if (events) {
    for (SyscallEvent& event : *events) {
      pending_.push_back(Pending{std::move(event), std::nullopt});
    }
  } else if (!worker_error_) {
    worker_error_ = std::move(events).error();
  }
  workers_.reset();
  workers_stopped_ = true;
}

void ContainerBackend::RecordBackendAnswer(const SyscallEvent& event, int error,
                                           std::string_view rule,
                                           std::string reason) {
  pending_.push_back(Pending{
      BackendAnswer(event, error, rule, std::move(reason)), std::nullopt});
}

}  // namespace isoscope
