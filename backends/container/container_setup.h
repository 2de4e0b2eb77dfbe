// What the container's first process does between clone and exec, after the
// parent wrote its id maps and put it in its cgroup: the cgroup namespace,
// the root filesystem, hostname, loopback, identity and capabilities.
#ifndef ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_SETUP_H_
#define ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_SETUP_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "backends/container/capabilities.h"
#include "backends/container/root_filesystem.h"
#include "backends/process/child_process.h"

namespace isoscope {

struct ContainerIdentity {
  std::string hostname;      // empty: keep the new UTS namespace's
  std::optional<uid_t> uid;  // as seen inside; absent: unchanged
  std::optional<gid_t> gid;
  bool loopback_up = false;  // bring lo up in the new network namespace
  // In a new user namespace that maps only the workload's ids, the ids are
  // set first: files the set-up creates need an owner the namespace maps.
  // Elsewhere they are set after the mounts, which need uid 0.
  bool user_namespace = false;
};

// Borrows everything: it must outlive the spawn.
class ContainerSetup : public ChildSetup {
 public:
  ContainerSetup(const RootFilesystemPlan& root, const ContainerIdentity& who,
                 const CapabilityDrop& capabilities)
      : root_(root), who_(who), capabilities_(capabilities) {}

  int Run(Failure* failure) const override;

 private:
  int SetIds(Failure* failure) const;

  const RootFilesystemPlan& root_;
  const ContainerIdentity& who_;
  const CapabilityDrop& capabilities_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_CONTAINER_CONTAINER_SETUP_H_
