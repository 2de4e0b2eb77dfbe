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

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_OCI_IMPORT_H_
