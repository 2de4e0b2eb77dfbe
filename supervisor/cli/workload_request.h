// What run, compare and learn check alike in a request for a workload,
// before anything runs: where the workload comes from, and --env entries.
#ifndef ISOSCOPE_SUPERVISOR_CLI_WORKLOAD_REQUEST_H_
#define ISOSCOPE_SUPERVISOR_CLI_WORKLOAD_REQUEST_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace isoscope::cli {

// The workload is a command after --, or an OCI bundle (--bundle) or image
// (--image) whose process.args it runs: never both. With
// `command_required`, never neither either: kInvalidArgument showing
// `isoscope <verb> -- ./my-program args` (run, whose empty command is the
// built-in `hello`, does not require one).
Status CheckWorkloadSource(std::string_view verb,
                           const std::vector<std::string>& command,
                           const std::string& bundle, const std::string& image,
                           bool command_required);

// Each --env entry is KEY=VALUE with a non-empty KEY.
Status CheckEnvEntries(const std::vector<std::string>& env);

}  // namespace isoscope::cli

#endif  // ISOSCOPE_SUPERVISOR_CLI_WORKLOAD_REQUEST_H_
