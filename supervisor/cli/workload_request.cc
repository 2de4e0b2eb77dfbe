#include "supervisor/cli/workload_request.h"

#include <fmt/format.h>

namespace isoscope::cli {

Status CheckWorkloadSource(std::string_view verb,
                           const std::vector<std::string>& command,
                           const std::string& bundle, const std::string& image,
                           bool command_required) {
  const bool from_bundle = !bundle.empty() || !image.empty();
  if (from_bundle && !command.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "--bundle and --image run the bundle's process.args: give no "
                "command after --");
  }
  if (command_required && command.empty() && !from_bundle) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("no workload: give it after --, as in isoscope {} "
                            "-- ./my-program args, or --bundle DIR, or "
                            "--image LAYOUT:TAG",
                            verb));
  }
  return {};
}

Status CheckEnvEntries(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    if (entry.find('=') == std::string::npos || entry.front() == '=') {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("--env '{}': expected KEY=VALUE", entry));
    }
  }
  return {};
}

}  // namespace isoscope::cli
