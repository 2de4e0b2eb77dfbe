// `isoscope report ID|latest`: a stored comparison rendered as HTML,
// Markdown or JSON, from the store only.
#include <cerrno>
#include <charconv>
#include <cstdio>

#include <fmt/format.h>

#include "base/io.h"
#include "reports/report.h"
#include "supervisor/cli/commands.h"

namespace isoscope::cli {

int ReportCommand(const Context& context, const ReportOptions& options) {
  // An explicit --format wins; otherwise -o's extension decides, else HTML.
  ReportFormat format = ReportFormat::kHtml;
  if (!options.format.empty()) {
    auto parsed = ParseReportFormat(options.format);
    if (!parsed) return ReportError(parsed.error());
    format = *parsed;
  } else if (!options.output.empty()) {
    format = ReportFormatForPath(options.output);
  }

  int64_t id = 0;
  if (options.id != "latest") {
    auto [ptr, ec] = std::from_chars(options.id.data(),
                                     options.id.data() + options.id.size(), id);
    if (ec != std::errc() || ptr != options.id.data() + options.id.size() ||
        id <= 0) {
      return ReportError(
          Error(ErrorCode::kInvalidArgument,
                fmt::format("comparison id '{}': expected a number or 'latest'",
                            options.id)));
    }
  }
  auto store = OpenStore(context);
  if (!store) return ReportError(store.error());
  if (options.id == "latest") {
    auto latest = store->LatestComparisonId();
    if (!latest) return ReportError(latest.error());
    id = *latest;
  }
  auto data = LoadReportData(*store, id);
  if (!data) return ReportError(data.error());
  auto text = RenderReport(*data, format);
  if (!text) return ReportError(text.error());

  if (options.output.empty()) {
    const std::string& bytes = *text;
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
        std::fflush(stdout) != 0) {
      return ReportError(Error::FromErrno("write report to stdout", errno));
    }
    return 0;
  }
  auto written = WriteFileReplacing(options.output, *text);
  if (!written) return ReportError(written.error());
  fmt::print(stderr, "isoscope: comparison {} written to {}\n", id,
             options.output);
  return 0;
}

}  // namespace isoscope::cli
