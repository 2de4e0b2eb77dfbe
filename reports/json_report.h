// The JSON report: the comparison, its probe session and the plain-words
// verdict, following the versioned schema in reports/schema.json.
#ifndef ISOSCOPE_REPORTS_JSON_REPORT_H_
#define ISOSCOPE_REPORTS_JSON_REPORT_H_

#include <string>

#include <nlohmann/json.hpp>

#include "reports/report.h"

namespace isoscope {

// Bump with every incompatible change to reports/schema.json.
inline constexpr int kReportSchemaVersion = 2;

nlohmann::json ReportJson(const ReportData& data);
// ReportJson, indented, with a final newline.
std::string RenderJsonReport(const ReportData& data);

}  // namespace isoscope

#endif  // ISOSCOPE_REPORTS_JSON_REPORT_H_
