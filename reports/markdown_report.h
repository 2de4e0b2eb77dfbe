// The Markdown report: the HTML report's tables in GitHub-flavoured
// Markdown (no charts), for pull requests and issues.
#ifndef ISOSCOPE_REPORTS_MARKDOWN_REPORT_H_
#define ISOSCOPE_REPORTS_MARKDOWN_REPORT_H_

#include <string>

#include "reports/report.h"

namespace isoscope {

std::string RenderMarkdownReport(const ReportData& data);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_MARKDOWN_REPORT_H_
