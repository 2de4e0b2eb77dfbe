// The baseline: the workload as a plain host process. Nothing isolates it;
// it is what every other backend's cost and protection are measured against.
#ifndef ISOSCOPE_BACKENDS_NATIVE_NATIVE_BACKEND_H_
#define ISOSCOPE_BACKENDS_NATIVE_NATIVE_BACKEND_H_

#include <chrono>
#include <filesystem>
#include <optional>
#include <vector>

#include "backends/container/cgroup.h"
#include "backends/process/child_process.h"
#include "base/unique_fd.h"
#include "supervisor/backend.h"

namespace isoscope {

class NativeBackend : public Backend {
 public:
  // `sysfs_cgroup_root`: normally /sys/fs/cgroup (a parameter for tests).
  explicit NativeBackend(
      std::filesystem::path sysfs_cgroup_root = "/sys/fs/cgroup");
  ~NativeBackend() override;

  std::string_view name() const override { return "native"; }
  bool AppliesPolicy() const override { return false; }
  ProbeResult Probe() const override;
  Status Start(const Workload& workload, const CompiledPlan& plan) override;
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override;
  Status Resolve(const Event& event, const Verdict& verdict) override;
  void Kill() override;

 private:
  // After the workload's main process exits: kill what it left behind and
  // read its output pipes to EOF (bounded by kDrainLimit) before the exit is
  // reported.
  Result<std::optional<Event>> Drain(const WaitLimit& wait);

  // The cgroup every process of the workload is born in, killed by a
  // watcher once isoscope has ended however it ended (a SIGKILL included),
  // when the host allows one (a cgroup v2 hierarchy isoscope may write,
  // cgroup.kill); nullopt otherwise, and then only the main process has a
  // parent-death signal. Returns the open v2 directory for the spawn.
  std::optional<UniqueFd> MakeKillGroup();

  std::filesystem::path sysfs_cgroup_root_;
  std::optional<RunCgroup> cgroup_;
  // Children the supervisor had before the workload started (for example
  // the probe runner's canary process): never the workload's to leave behind.
  std::vector<pid_t> preexisting_children_;
  std::optional<ChildProcess> child_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  std::optional<ExitEvent> exit_;  // reaped, not yet reported
  std::chrono::steady_clock::time_point drain_deadline_;
  bool done_ = false;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_NATIVE_NATIVE_BACKEND_H_
