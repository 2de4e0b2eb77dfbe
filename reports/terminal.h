// Plain-text renderings of stored runs for a terminal: the summary printed
// after a run, `isoscope runs list` and `isoscope runs show`. No colour, no
// terminal queries: the same text goes to a pipe or a file. Bytes the
// workload controls (output, paths, argv) are escaped so they cannot drive
// the terminal.
#ifndef ISOSCOPE_REPORTS_TERMINAL_H_
#define ISOSCOPE_REPORTS_TERMINAL_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/run_result.h"
#include "supervisor/store.h"

namespace isoscope {

// The width RenderRunList fits by default.
inline constexpr size_t kRunListWidth = 100;

// The one-screen summary (at most ~15 lines) isoscope prints on stderr
// after a run: what ran where, how it ended and why, time, memory, counters.
std::string RenderRunSummary(const RunResult& result);

// `isoscope runs list`: an aligned table, newest first as given; a friendly
// line when there are no runs. With a `width`, each line fits it where it
// can: a command too long keeps its start and end around "..." (at least 12
// columns of it are shown), a long policy name is cut. Without one, every
// command and name is shown whole.
std::string RenderRunList(const std::vector<RunSummary>& runs,
                          std::optional<size_t> width = kRunListWidth);

// `isoscope runs show ID`: the summary, the host's facts, the tables of
// denied and killed syscalls and of signals, every recorded event one per
// line, then the captured output.
std::string RenderRunDetail(const RunResult& result);

// The one line isoscope prints on stderr, even with -q, after a run whose
// workload failed (exited non-zero, died of a signal, or was stopped by
// isoscope): why isoscope stopped it, if it did, and the denied syscalls,
// most frequent first, then where to read more:
//   isoscope: denied: setresuid x2 [syscalls.default], openat x1
//   [files.else] +1 more (isoscope runs show 7)
// With its newline; empty when the workload succeeded or there is nothing
// to name.
std::string RenderFailureLine(const RunResult& result);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_TERMINAL_H_
