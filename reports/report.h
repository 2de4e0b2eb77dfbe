// Reports of a comparison (`isoscope compare`, `isoscope report`): one
// self-contained HTML page with SVG charts, GitHub-flavoured Markdown with
// the same tables, or JSON following reports/schema.json. Rendering is a
// pure function of the stored data, so re-rendering a past comparison from
// the store gives the same bytes.
#ifndef ISOSCOPE_REPORTS_REPORT_H_
#define ISOSCOPE_REPORTS_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "supervisor/comparison.h"
#include "supervisor/probe_session.h"
#include "supervisor/run_result.h"
#include "supervisor/store.h"

namespace isoscope {

// Everything a report shows, read from the store.
struct ReportData {
  Comparison comparison;
  std::optional<ProbeSession> probes;  // with compare --probes
  std::vector<RunResult> runs;         // the measured runs, for details
};

enum class ReportFormat { kHtml, kMarkdown, kJson };

// "html", "md" (or "markdown"), "json"; kInvalidArgument otherwise.
Result<ReportFormat> ParseReportFormat(std::string_view name);
// From a file name's extension: .md/.markdown, .json, anything else HTML.
ReportFormat ReportFormatForPath(std::string_view path);

// Reads the comparison, its probe session and its measured runs.
// kNotFound when there is no such comparison.
Result<ReportData> LoadReportData(const Store& store, int64_t comparison_id);

Result<std::string> RenderReport(const ReportData& data, ReportFormat format);

// Loads, renders (format from the path's extension) and writes `path`.
Status RenderReportFile(const Store& store, int64_t comparison_id,
                        const std::string& path);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_REPORT_H_
