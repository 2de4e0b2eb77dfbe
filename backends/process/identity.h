// Who the workload is, set between clone and exec by the backends that run
// it as a host process (container, ptrace): its host name (in a new UTS
// namespace), its network (in a new network namespace), its uid, gid and
// supplementary groups, and its capabilities, securebits included. One
// implementation, so one policy means the same identity on both.
#ifndef ISOSCOPE_BACKENDS_PROCESS_IDENTITY_H_
#define ISOSCOPE_BACKENDS_PROCESS_IDENTITY_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "backends/process/capabilities.h"
#include "backends/process/child_process.h"
#include "base/error.h"
#include "policies/policy.h"
#include "supervisor/backend.h"

namespace isoscope {

struct WorkloadIdentity {
  std::string hostname;      // empty: keep the UTS namespace's
  std::optional<uid_t> uid;  // absent: unchanged
  std::optional<gid_t> gid;  // absent: unchanged
  bool loopback_up = false;  // bring lo up (in a new network namespace)
  // Cover /proc with a procfs of the workload's own pid namespace (in a new
  // mount namespace, made private first so nothing propagates back to the
  // host's): a process in a pid namespace that reads the host's /proc
  // finds other processes under its own pid (/proc/<getpid()>). A root
  // without a /proc directory gets none.
  bool own_proc = false;
};

// The ids the workload has on the host under the policy's `identity`: the
// policy's; with `user_namespace`, an absent one is nobody (65534), never
// root. Otherwise absent: isoscope's own, unchanged.
struct HostIds {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};
HostIds HostIdsFor(const Identity& identity);

// Gives a scratch workdir (Workload::scratch_workdir: isoscope made it for
// this run) to the workload's host ids (isoscope's own where the policy
// sets none), so a workload that is not root can use its own working
// directory, as the container's idmapped workdir lets it. Only the
// directory itself: what isoscope put in it stays isoscope's. Any other
// workdir is left as it is: isoscope never changes the owner of a
// directory it did not make.
Status GiveScratchWorkdir(const Workload& workload, const HostIds& ids);

// Child side (async-signal-safe, 0 or -errno with `failure` saying what
// failed). The supplementary groups become {gid} (none when only the uid
// is the policy's: root's would be group 0), then the gid, then the uid,
// each real, effective and saved.
int SetProcessIds(const WorkloadIdentity& who, ChildSetup::Failure* failure);

// Everything of the identity after the process's other set-up (mounts,
// which need uid 0): host name, loopback, the bounding set and locked
// securebits, the ids (unless `ids_already_set`: a user namespace sets
// them first), then the capability sets. Borrows everything: it must
// outlive the spawn. no_new_privs comes with the seccomp filter, which
// ChildProcess installs after the set-up.
class IdentitySetup : public ChildSetup {
 public:
  IdentitySetup(const WorkloadIdentity& who, const CapabilityDrop& capabilities,
                bool ids_already_set = false)
      : who_(who),
        capabilities_(capabilities),
        ids_already_set_(ids_already_set) {}

  int Run(Failure* failure) const override;

 private:
  const WorkloadIdentity& who_;
  const CapabilityDrop& capabilities_;
  bool ids_already_set_;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_IDENTITY_H_
