// An OCI runtime bundle (`isoscope run|compare --bundle DIR`) as a workload:
// its process (args, env, cwd, user) run in its rootfs, on every backend.
#ifndef ISOSCOPE_SUPERVISOR_BUNDLE_WORKLOAD_H_
#define ISOSCOPE_SUPERVISOR_BUNDLE_WORKLOAD_H_

#include <string>
#include <vector>

#include "base/error.h"
#include "policies/oci_import.h"
#include "policies/policy.h"
#include "supervisor/backend.h"
#include "supervisor/workload_source.h"

namespace isoscope {

// A bundle named on the command line, loaded, with where it came from.
struct SourcedBundle {
  OciBundle bundle;
  WorkloadSource source;
};

// `--bundle DIR` or `--image LAYOUT:TAG` (one of the two given): the image
// unpacked into the image cache first (UnpackImage), then the bundle loaded
// (LoadOciBundle). What run, compare and learn start from.
Result<SourcedBundle> LoadBundleOrImage(const std::string& bundle_dir,
                                        const std::string& image);

// The workload: root = the rootfs; argv = process.args; executable =
// process.args[0] looked up inside the rootfs (ResolveExecutableInRoot:
// kNotFound, kNotExecutable); env = process.env, then `extra_env`; workdir
// (the cwd) = process.cwd, which must be a directory of the rootfs
// (kInvalidArgument). Nothing of isoscope's own workload environment is
// added: the bundle's is the workload's, as a runtime gives it. source =
// the bundle's.
Result<Workload> BundleWorkload(const SourcedBundle& sourced,
                                const std::vector<std::string>& extra_env);

// The policy the bundle's process runs under: `policy` with {workdir} =
// process.cwd (a path in the rootfs, as every path the policy names), and
// identity.uid/gid taken from process.user where the policy sets none (a
// policy's own ids always win: the bundle cannot widen them).
Policy PolicyForBundle(const Policy& policy, const OciBundle& bundle);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_BUNDLE_WORKLOAD_H_
