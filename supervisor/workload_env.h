// The environment every workload starts with, whichever command runs it:
// fixed and clean so the same workload sees the same world on every backend
// and nothing of the supervisor's own environment leaks in.
#ifndef ISOSCOPE_SUPERVISOR_WORKLOAD_ENV_H_
#define ISOSCOPE_SUPERVISOR_WORKLOAD_ENV_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace isoscope {

// The PATH given to workloads (and used to find a command when isoscope's
// own PATH is unset).
inline constexpr std::string_view kWorkloadPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// PATH=kWorkloadPath, HOME=<workdir>, LANG=C, then `extra` ("KEY=VALUE").
std::vector<std::string> WorkloadEnvironment(
    const std::string& workdir, const std::vector<std::string>& extra = {});

// The command's program as an absolute path: as given if it contains a
// slash, else the first hit on isoscope's $PATH (kWorkloadPath when unset),
// like a shell. kNotFound or kNotExecutable otherwise.
Result<std::string> ResolveExecutable(const std::string& command);

// An OCI bundle's entrypoint (process.args[0]) as a path inside `root` (a
// host directory, absolute): as given when absolute, joined to `cwd` (a
// path in the root) when relative with a slash, else the first hit on the
// PATH of `env` (kWorkloadPath when it has none), as runc looks it up. Every
// candidate is looked up beneath `root` (symlinks resolved as if `root` were
// "/"), never on the host. Returns the path as the workload sees it,
// lexically normalised; kNotFound or kNotExecutable otherwise, naming the
// bundle's root.
Result<std::string> ResolveExecutableInRoot(
    const std::string& root, const std::string& command, const std::string& cwd,
    const std::vector<std::string>& env);

// `path` (absolute, as a workload whose root is `root` sees it) with every
// symlink resolved beneath `root`: what std::filesystem::canonical is for a
// workload that shares isoscope's root ("" or "/"). kNotFound when it
// reaches nothing.
Result<std::string> CanonicalInRoot(const std::string& root,
                                    const std::string& path);

// `path` (absolute, as a workload whose root is `root` sees it) opened
// O_PATH beneath `root` (a host directory): symlinks and ".." stay inside
// it, no magic link is followed. kNotFound when it reaches nothing.
Result<UniqueFd> OpenInRoot(const std::string& root, const std::string& path);

// Copies `program` into `workdir` (keeping its name and mode) and returns
// the copy's path. isoscope's built-in workloads and probes run from their
// workdir, where a user's own program would be: a policy decides their
// first exec like any other (the presets exec in {workdir}), and nothing
// depends on where isoscope was built.
Result<std::string> CopyProgramIntoWorkdir(const std::string& program,
                                           const std::string& workdir);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_WORKLOAD_ENV_H_
