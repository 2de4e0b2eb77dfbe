// What the container's first process does between clone and exec, after it
// entered its cgroup and the parent wrote its id maps: the cgroup namespace,
// the root filesystem, then the identity shared with the ptrace backend
// (hostname, loopback, ids and capabilities: backends/process/identity.h).
#ifndef ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_SETUP_H_
#define ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_SETUP_H_

#include "backends/container/root_filesystem.h"
#include "backends/process/capabilities.h"
#include "backends/process/child_process.h"
#include "backends/process/identity.h"

namespace isoscope {

// Borrows everything: it must outlive the spawn.
class ContainerSetup : public ChildSetup {
 public:
  // `user_namespace`: the process is in a new user namespace that maps only
  // the workload's ids, so the ids are set first (files the set-up creates
  // need an owner the namespace maps). Elsewhere they are set after the
  // mounts, which need uid 0.
  ContainerSetup(const RootFilesystemPlan& root, const WorkloadIdentity& who,
                 const CapabilityDrop& capabilities, bool user_namespace)
      : root_(root),
        who_(who),
        identity_(who, capabilities, user_namespace),
        user_namespace_(user_namespace) {}

  int Run(Failure* failure) const override;

 private:
  const RootFilesystemPlan& root_;
  const WorkloadIdentity& who_;
  IdentitySetup identity_;
  bool user_namespace_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_SETUP_H_
