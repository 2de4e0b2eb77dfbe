// `isoscope workloads`: the built-in workloads and where they are.
#include <fmt/format.h>

#include "supervisor/cli/commands.h"
#include "workloads/catalog.h"

namespace isoscope::cli {

int WorkloadsCommand() {
  auto workloads = ListBuiltinWorkloads();
  if (workloads.empty()) {
    return ReportError(
        Error(ErrorCode::kNotFound,
              "no built-in workloads found next to isoscope; build the "
              "project or set ISOSCOPE_WORKLOADS_DIR"));
  }
  for (const auto& workload : workloads) {
    fmt::print("{:<28} {}\n  {}\n", workload.name, workload.description,
               workload.path.string());
  }
  return 0;
}

}  // namespace isoscope::cli
