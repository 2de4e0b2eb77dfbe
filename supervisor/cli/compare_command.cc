// `isoscope compare`: one workload on several backends, measured, recorded
// and shown as a table (and, with --report, rendered as a report).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "policies/loader.h"
#include "reports/comparison_table.h"
#include "reports/report.h"
#include "supervisor/bundle_workload.h"
#include "supervisor/cli/commands.h"
#include "supervisor/cli/exit_status.h"
#include "supervisor/cli/interrupt.h"
#include "supervisor/cli/terminal_output.h"
#include "supervisor/cli/workload_request.h"
#include "supervisor/comparison_runner.h"
#include "supervisor/workload_env.h"
#include "workloads/catalog.h"

namespace isoscope::cli {

int CompareCommand(const Context& context, const CompareOptionsCli& options) {
  // Everything that can be wrong with the request is checked before any
  // workload starts.
  if (options.repeat < 1) {
    return ReportError(
        Error(ErrorCode::kInvalidArgument,
              fmt::format("--repeat {}: expected at least 1", options.repeat)));
  }
  if (Status source =
          CheckWorkloadSource("compare", options.command, options.bundle,
                              options.image, /*command_required=*/true);
      !source) {
    return ReportError(source.error());
  }
  const bool from_bundle = !options.bundle.empty() || !options.image.empty();
  auto backends = context.backends->Select(options.backends);
  if (!backends) return ReportError(backends.error());
  auto loaded = LoadPolicyForThisHost(options.policy);
  if (!loaded) return ReportError(loaded.error());
  std::optional<SourcedBundle> bundle;
  std::vector<std::string> argv = options.command;
  Result<std::string> executable;
  if (from_bundle) {
    auto loaded_bundle = LoadBundleOrImage(options.bundle, options.image);
    if (!loaded_bundle) return ReportError(loaded_bundle.error());
    // The entrypoint and cwd are checked before anything runs.
    auto workload = BundleWorkload(*loaded_bundle, {});
    if (!workload) return ReportError(workload.error());
    executable = workload->executable;
    argv = workload->argv;
    bundle = std::move(*loaded_bundle);
  } else {
    executable = ResolveExecutable(options.command.front());
  }
  if (!executable) return ReportError(executable.error());
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());

  auto interrupts = InterruptSignals::Install();
  if (!interrupts) return ReportError(interrupts.error());

  ProgressLine progress;
  CompareOptions compare;
  compare.backends = std::move(*backends);
  compare.policy = std::make_shared<const Policy>(std::move(*loaded));
  compare.copy_into_workdir = !bundle && IsBuiltinWorkloadProgram(*executable);
  compare.executable = std::move(*executable);
  compare.argv = std::move(argv);
  compare.bundle = std::move(bundle);
  compare.repeat = options.repeat;
  compare.probes = options.probes;
  compare.interrupt_fd = interrupts->fd();
  compare.on_progress = [&progress](const CompareProgress& p) {
    progress.Show(p.repetition == 0
                      ? fmt::format("compare: {} warm-up", p.backend)
                      : fmt::format("compare: {} {}/{}", p.backend,
                                    p.repetition, p.repeat));
  };
  ComparisonRunner runner(*context.backends, *store, std::move(compare));
  auto comparison = runner.Run();
  progress.Clear();
  if (!comparison) return ReportError(comparison.error());

  const std::string table = RenderComparisonTable(*comparison);
  if (std::fwrite(table.data(), 1, table.size(), stdout) != table.size() ||
      std::fflush(stdout) != 0) {
    return ReportError(Error::FromErrno("writing the table", errno));
  }
  if (comparison->interrupted) return kExitInterrupted;
  if (!options.report_path.empty()) {
    // Rendered from the store, like `isoscope report`, so this file and a
    // later re-rendering are the same.
    if (auto written =
            RenderReportFile(*store, comparison->id, options.report_path);
        !written) {
      return ReportError(written.error());
    }
    fmt::print(stderr, "isoscope: report written to {}\n", options.report_path);
  }
  return 0;
}

}  // namespace isoscope::cli
