// `isoscope policy import config.json`: what an OCI runtime configuration
// promises, as an isoscope policy, so a user can compare "what my runtime
// config says" with a preset on every backend.
//
// The runtime spec's sections map onto the policy's: linux.seccomp onto
// syscalls (actions, errnos, argument comparisons), linux.resources and
// process.rlimits onto resources, process.capabilities onto capabilities,
// process.user, hostname and the namespaces onto identity and network,
// root.readonly, mounts, maskedPaths and readonlyPaths onto the filesystem
// view. What has no isoscope equivalent is named, never dropped silently:
// in a comment in the YAML and in the notes returned.
#ifndef ISOSCOPE_POLICIES_OCI_IMPORT_H_
#define ISOSCOPE_POLICIES_OCI_IMPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace isoscope {

// The largest config.json read (Docker's whole default seccomp profile,
// resolved into a config, is about 30 KiB).
inline constexpr size_t kMaxOciConfigBytes = size_t{4} * 1024 * 1024;

struct ImportedPolicy {
  std::string yaml;                // a version-1 policy with comments
  std::vector<std::string> notes;  // what was not carried over, and why
};

// `config_json` is the text of an OCI runtime config.json; `source_name`
// names it in errors and in the policy's header comment. Errors (code
// kPolicy) say where: malformed JSON with its byte offset, a field of the
// wrong type with its JSON path.
Result<ImportedPolicy> ImportOciConfig(std::string_view config_json,
                                       std::string_view source_name);

// Reads `path` (at most kMaxOciConfigBytes) and imports it; a directory is
// taken as an OCI bundle and its config.json is read.
Result<ImportedPolicy> ImportOciConfigFile(const std::string& path);

// An OCI runtime bundle as a workload (`isoscope run|compare --bundle DIR`):
// what its config.json's `process` and `root` say. The rest of the config
// (seccomp, limits, mounts, namespaces) is the policy's business: `isoscope
// policy import` turns it into one.
struct OciBundle {
  std::string dir;     // the bundle directory, absolute, symlinks resolved
  std::string rootfs;  // root.path (default "rootfs") resolved against dir,
                       // symlinks resolved; an existing directory
  std::vector<std::string> args;  // process.args: never empty
  std::vector<std::string> env;   // process.env, each KEY=VALUE
  std::string cwd = "/";          // process.cwd: absolute, inside the rootfs
  std::optional<uint32_t> uid;    // process.user.uid
  std::optional<uint32_t> gid;    // process.user.gid
};

// The `process` and `root` of a config.json's text (`dir` and `rootfs` are
// left for LoadOciBundle: `rootfs` holds root.path as written). Errors are
// kInvalidArgument (a bundle is a command-line input), naming
// `source_name` and the field: malformed JSON, a field of the wrong type, no
// `process`, process.args empty, process.cwd not absolute, an env entry
// without '='.
Result<OciBundle> ParseOciBundleConfig(std::string_view config_json,
                                       std::string_view source_name);

// Reads DIR/config.json (at most kMaxOciConfigBytes) and checks the rootfs:
// kInvalidArgument when DIR is not a directory, has no readable
// config.json, its config is malformed (above) or its root.path is not a
// directory. The entrypoint (process.args[0]) is looked up by the caller,
// inside the rootfs (ResolveExecutableInRoot).
Result<OciBundle> LoadOciBundle(const std::string& dir);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_OCI_IMPORT_H_
