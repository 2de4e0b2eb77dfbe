#include "backends/container/container_setup.h"

#include <sched.h>

#include <cerrno>

namespace isoscope {

int ContainerSetup::Run(Failure* failure) const {
  failure->what[0] = '\0';
  // After this process entered the run's cgroup (SpawnOptions'
  // cgroup_fd and join_cgroup_tasks), so the namespace's root is that
  // cgroup: the workload sees no other.
  if (::unshare(CLONE_NEWCGROUP) != 0) {
    return failure->Failed("unshare(CLONE_NEWCGROUP)", errno);
  }
  if (user_namespace_) {
    if (int result = SetProcessIds(who_, failure); result < 0) return result;
  }
  RootFilesystemFailure root_failure;
  if (int result = ApplyRootFilesystem(root_, &root_failure); result < 0) {
    failure->Append("root filesystem: ");
    failure->Append(root_failure.step_name != nullptr ? root_failure.step_name
                                                      : "?");
    if (root_failure.path != nullptr) {
      failure->Append(" ");
      failure->Append(root_failure.path);
    }
    return result;
  }
  return identity_.Run(failure);
}

}  // namespace isoscope
