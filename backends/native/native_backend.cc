#include "backends/native/native_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/process/workload_output.h"

namespace isoscope {
namespace {

using Clock = std::chrono::steady_clock;

// How long output may keep flowing after the workload's main process exited
// (grandchildren that escaped the kill still holding the pipes).
constexpr auto kDrainLimit = std::chrono::seconds(2);
// How often orphans are looked for while draining.
constexpr int kOrphanScanMs = 50;

}  // namespace

NativeBackend::NativeBackend(std::filesystem::path sysfs_cgroup_root)
    : sysfs_cgroup_root_(std::move(sysfs_cgroup_root)) {}

NativeBackend::~NativeBackend() {
  child_.reset();  // kills the group and reaps
  KillOrphanedChildren(preexisting_children_);
  if (cgroup_) (void)cgroup_->Remove();
}

std::optional<UniqueFd> NativeBackend::MakeKillGroup() {
  const std::optional<std::filesystem::path> v2_root =
      FindCgroupV2Root(sysfs_cgroup_root_);
  if (!v2_root) return std::nullopt;
  // Below isoscope's own cgroup: the workload stays under the limits
  // isoscope runs under (a systemd unit's, say), as a plain child would.
  const std::optional<std::filesystem::path> own = OwnV2Cgroup(*v2_root);
  if (!own) return std::nullopt;
  auto cgroup = RunCgroup::CreateForKilling(*v2_root, *own);
  if (!cgroup || !cgroup->KillWhenIsoscopeEnds()) return std::nullopt;
  auto directory = cgroup->OpenV2Directory();
  if (!directory) return std::nullopt;
  cgroup_ = std::move(*cgroup);
  return std::move(*directory);
}

ProbeResult NativeBackend::Probe() const { return {true, ""}; }

Status NativeBackend::Start(const Workload& workload,
                            const CompiledPlan& /*plan*/) {
  if (child_) return Fail(ErrorCode::kInternal, "native backend reused");
  // Orphaned grandchildren of the workload re-parent to us, so none escapes
  // the end-of-run kill.
  if (auto st = BecomeChildSubreaper(); !st) return st;
  preexisting_children_ = ListChildren();
  // What is left after a SIGKILL of isoscope, when no code of its own runs
  // to kill orphans, goes with the kill group.
  const std::optional<UniqueFd> kill_group = MakeKillGroup();
  if (cgroup_) preexisting_children_.push_back(cgroup_->post_mortem_watcher());

  auto pipes = WorkloadPipes::Create();
  if (!pipes) return tl::unexpected(pipes.error());

  SpawnOptions options;
  options.stdio = pipes->stdio();
  options.count_syscalls = workload.count_syscalls;
  options.root = workload.root;  // chroot: the baseline adds no namespace
  if (kill_group) options.cgroup_fd = kill_group->get();
  auto child = ChildProcess::Spawn(workload, options);
  if (!child) return tl::unexpected(child.error());
  child_ = std::move(*child);
  stdout_ = std::move(pipes->stdout_read);
  stderr_ = std::move(pipes->stderr_read);
  return {};
}

Result<std::optional<Event>> NativeBackend::NextEvent(const WaitLimit& wait) {
  if (!child_ || done_) {
    return Fail(ErrorCode::kInternal, "NextEvent without a running workload");
  }
  if (exit_) return Drain(wait);

  // Poll: pidfd, stdout, stderr, interrupt. Output before exit, so nothing
  // the workload wrote is reported after its exit.
  while (true) {
    pollfd fds[4] = {
        {stdout_.get(), POLLIN, 0},
        {stderr_.get(), POLLIN, 0},
        {child_->pidfd(), POLLIN, 0},
        {wait.interrupt_fd, POLLIN, 0},
    };
    int ready = ::poll(fds, 4, PollTimeoutMs(wait.deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return FailErrno("poll", errno);
    }
    if (ready == 0) return std::optional<Event>();  // deadline
    if (auto event =
            ReadReadyOutput(fds[0].revents, fds[1].revents, stdout_, stderr_);
        !event || event->has_value()) {
      return event;
    }
    if (fds[2].revents != 0) {
      auto reaped = child_->TryReap();
      if (!reaped) return tl::unexpected(reaped.error());
      if (reaped->has_value()) {
        exit_ = **reaped;
        // The run ends with its main process; what it left behind goes.
        child_->KillGroup();
        KillOrphanedChildren(preexisting_children_);
        // Every process of the workload is gone (reaped, or killed and
        // reaped as orphans): their counts are in.
        exit_->usage.syscalls = child_->CountedSyscalls();
        drain_deadline_ = Clock::now() + kDrainLimit;
        return Drain(wait);
      }
    }
    if (fds[3].revents != 0) return std::optional<Event>();  // interrupted
  }
}

Result<std::optional<Event>> NativeBackend::Drain(const WaitLimit& wait) {
  // Idle pipes mean something still holds them: an orphan re-parented since.
  return DrainOutput(
      stdout_, stderr_, drain_deadline_, wait.interrupt_fd, kOrphanScanMs,
      [this] { KillOrphanedChildren(preexisting_children_); }, *exit_, &done_);
}

Status NativeBackend::Resolve(const Event& /*event*/,
                              const Verdict& /*verdict*/) {
  return Fail(ErrorCode::kInternal,
              "the native backend traps nothing, so it has nothing to resolve");
}

void NativeBackend::Kill() {
  if (child_) child_->KillGroup();
}

}  // namespace isoscope
