// Whether this host can apply a policy's resource limits as written: a
// limit the kernel will refuse is the policy's error (exit 2, naming the
// field and the host's limit) when it is loaded, not a failure of the run
// after the workload was set up.
#ifndef ISOSCOPE_SUPERVISOR_HOST_LIMITS_H_
#define ISOSCOPE_SUPERVISOR_HOST_LIMITS_H_

#include <cstdint>
#include <optional>

#include "base/error.h"
#include "policies/policy.h"

namespace isoscope {

// The largest RLIMIT_NOFILE this process can give a child: fs.nr_open with
// CAP_SYS_RESOURCE, its own hard limit without. nullopt when unknown.
struct HostLimits {
  std::optional<uint64_t> max_open_files;
  bool from_nr_open = false;  // max_open_files is fs.nr_open
};
HostLimits ReadHostLimits();

// kPolicy naming `policy.name` and the field when a limit exceeds `limits`.
Status CheckPolicyFitsHost(const Policy& policy, const HostLimits& limits);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_HOST_LIMITS_H_
