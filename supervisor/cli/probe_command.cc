// `isoscope probe`: every built-in probe on every requested backend, canaries
// planted outside, the matrix printed and the session recorded.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <memory>

#include <fmt/format.h>

#include "base/io.h"
#include "policies/loader.h"
#include "reports/probe_matrix.h"
#include "supervisor/cli/commands.h"
#include "supervisor/cli/exit_status.h"
#include "supervisor/cli/interrupt.h"
#include "supervisor/cli/terminal_output.h"
#include "supervisor/probe_runner.h"

namespace isoscope::cli {
namespace {

Status WriteJson(const std::string& path, const ProbeSession& session) {
  return WriteFileReplacing(path, ToJson(session).dump(2) + '\n');
}

}  // namespace

int ProbeCommand(const Context& context, const ProbeOptionsCli& options) {
  auto backends = context.backends->Select(options.backends);
  if (!backends) return ReportError(backends.error());
  auto loaded = LoadPolicyForThisHost(options.policy);
  if (!loaded) return ReportError(loaded.error());
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());

  std::vector<ProbeSpec> probes;
  if (!options.probes.empty()) {
    auto selected = SelectBuiltinProbes(options.probes);
    if (!selected) return ReportError(selected.error());
    probes = std::move(*selected);
  } else {
    probes = BuiltinProbes(options.noisy);
  }

  auto interrupts = InterruptSignals::Install();
  if (!interrupts) return ReportError(interrupts.error());

  // Progress counts findings: one per run of a probe (a probe with cases
  // has one spec per case), on each backend.
  const size_t total = probes.size() * backends->size();
  size_t done = 0;
  ProgressLine progress;

  ProbeOptions probe_options;
  probe_options.on_finding = [&](const ProbeFinding& finding) {
    ++done;
    progress.Show(fmt::format("probe: {}/{} {} {}", done, total,
                              finding.backend, finding.probe_id));
  };
  probe_options.backends = std::move(*backends);
  probe_options.policy = std::make_shared<const Policy>(std::move(*loaded));
  probe_options.probes = std::move(probes);
  probe_options.noisy = options.noisy;
  probe_options.interrupt_fd = interrupts->fd();
  ProbeRunner runner(*context.backends, *store, std::move(probe_options));
  auto session = runner.Run();
  progress.Clear();
  if (!session) return ReportError(session.error());

  const std::string matrix = RenderProbeMatrix(*session);
  if (std::fwrite(matrix.data(), 1, matrix.size(), stdout) != matrix.size() ||
      std::fflush(stdout) != 0) {
    return ReportError(Error::FromErrno("writing the matrix", errno));
  }
  if (!options.json_path.empty()) {
    if (auto written = WriteJson(options.json_path, *session); !written) {
      return ReportError(written.error());
    }
  }
  // An interrupted session is recorded and shown, but it is not a matrix.
  return session->interrupted ? kExitInterrupted : 0;
}

}  // namespace isoscope::cli
