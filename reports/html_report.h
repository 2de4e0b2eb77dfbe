// The self-contained HTML report: inline CSS (light and dark), inline SVG
// charts, no script and no external asset, so it can be mailed or archived
// as one file and opened anywhere.
#ifndef ISOSCOPE_REPORTS_HTML_REPORT_H_
#define ISOSCOPE_REPORTS_HTML_REPORT_H_

#include <string>

#include "reports/report.h"

namespace isoscope {

std::string RenderHtmlReport(const ReportData& data);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_HTML_REPORT_H_
