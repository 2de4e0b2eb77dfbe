#include "reports/report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

#include "base/io.h"
#include "base/unique_fd.h"
#include "reports/html_report.h"
#include "reports/json_report.h"
#include "reports/markdown_report.h"

namespace isoscope {

Result<ReportFormat> ParseReportFormat(std::string_view name) {
  if (name == "html") return ReportFormat::kHtml;
  if (name == "md" || name == "markdown") return ReportFormat::kMarkdown;
  if (name == "json") return ReportFormat::kJson;
  return Fail(
      ErrorCode::kInvalidArgument,
      fmt::format("report format '{}': expected html, md or json", name));
}

ReportFormat ReportFormatForPath(std::string_view path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".md" || ext == ".markdown") return ReportFormat::kMarkdown;
  if (ext == ".json") return ReportFormat::kJson;
  return ReportFormat::kHtml;
}

Result<ReportData> LoadReportData(const Store& store, int64_t comparison_id) {
  ReportData data;
  auto comparison = store.GetComparison(comparison_id);
  if (!comparison) return tl::unexpected(comparison.error());
  data.comparison = std::move(*comparison);
  if (data.comparison.probe_session_id.has_value()) {
    auto session = store.GetProbeSession(*data.comparison.probe_session_id);
    if (!session) {
      return tl::unexpected(session.error().WithContext(
          fmt::format("comparison {}'s probe session", comparison_id)));
    }
    data.probes = std::move(*session);
  }
  for (const BackendComparison& b : data.comparison.backends) {
    for (int64_t run_id : b.run_ids) {
      auto run = store.Get(run_id);
      if (!run) {
        return tl::unexpected(run.error().WithContext(
            fmt::format("comparison {}'s run", comparison_id)));
      }
      data.runs.push_back(std::move(*run));
    }
  }
  return data;
}

Result<std::string> RenderReport(const ReportData& data, ReportFormat format) {
  switch (format) {
    case ReportFormat::kHtml:
      return RenderHtmlReport(data);
    case ReportFormat::kMarkdown:
      return RenderMarkdownReport(data);
    case ReportFormat::kJson:
      return RenderJsonReport(data);
  }
  return Fail(ErrorCode::kInternal, "unknown report format");
}

Status RenderReportFile(const Store& store, int64_t comparison_id,
                        const std::string& path) {
  auto data = LoadReportData(store, comparison_id);
  if (!data) return tl::unexpected(data.error());
  auto text = RenderReport(*data, ReportFormatForPath(path));
  if (!text) return tl::unexpected(text.error());
  return WriteFileReplacing(path, *text);
}

}  // namespace isoscope
