#include "reports/svg_chart.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "reports/report_common.h"
#include "reports/text.h"

namespace isoscope::svg {
namespace {

using report_common::Xml;

constexpr double kWidth = 760;
constexpr double kLabelWidth = 130;
constexpr double kValueWidth = 230;
constexpr double kRowHeight = 30;
constexpr double kTop = 34;
constexpr double kAxisHeight = 28;

// Coordinates with one decimal: enough for a screen, and stable text.
std::string N(double v) { return fmt::format("{:.1f}", v); }

std::string Open(std::string_view chart_id, std::string_view title,
                 double height) {
  return fmt::format(
      "<svg class=\"chart\" data-chart=\"{0}\" role=\"img\" "
      "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {1} {2}\" "
      "width=\"{1}\" height=\"{2}\" aria-label=\"{3}\"><title>{3}</title>"
      "<text class=\"chart-title\" x=\"0\" y=\"18\">{3}</text>",
      Xml(chart_id), N(kWidth), N(height), Xml(title));
}

// A scale that ends on a round number above `max`.
double NiceMax(double max) {
  if (!(max > 0) || !std::isfinite(max)) return 1;
  const double magnitude = std::pow(10, std::floor(std::log10(max)));
  for (double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (step * magnitude >= max) return step * magnitude;
  }
  return 10 * magnitude;
}

std::string CellText(std::string_view text, size_t columns) {
  return Xml(report_text::Truncate(report_text::Line(text), columns));
}

}  // namespace

std::string BarChart(std::string_view chart_id, std::string_view title,
                     const std::vector<Bar>& bars, const TickFormat& format,
                     bool whiskers) {
  const double height =
      kTop + kRowHeight * static_cast<double>(bars.size()) + kAxisHeight;
  const double plot = kWidth - kLabelWidth - kValueWidth;
  double max = 0;
  for (const Bar& b : bars) max = std::max({max, b.median, b.high});
  const double scale_max = NiceMax(max);
  const auto x = [&](double v) {
    return kLabelWidth + plot * std::clamp(v / scale_max, 0.0, 1.0);
  };

  std::string out = Open(chart_id, title, height);
  const double axis_y = kTop + kRowHeight * static_cast<double>(bars.size());
  out += fmt::format(
      "<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>",
      N(kLabelWidth), N(kTop - 4), N(axis_y));
  for (int i = 0; i <= 4; ++i) {
    const double v = scale_max * i / 4;
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" "
        "text-anchor=\"middle\">{4}</text>",
        N(x(v)), N(kTop - 4), N(axis_y), N(axis_y + 16), Xml(format(v)));
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = kTop + kRowHeight * static_cast<double>(i);
    const double mid = y + kRowHeight / 2;
    out += fmt::format("<g data-backend=\"{}\">", Xml(b.backend));
    out += fmt::format(
        "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" "
        "dominant-baseline=\"middle\">{}</text>",
        N(kLabelWidth - 8), N(mid), CellText(b.backend, 16));
    out += fmt::format(
        "<rect class=\"bar\" data-backend=\"{}\" x=\"{}\" y=\"{}\" "
        "width=\"{}\" height=\"{}\"><title>{}: {}</title></rect>",
        Xml(b.backend), N(kLabelWidth), N(y + 6),
        N(std::max(x(b.median) - kLabelWidth, 1.0)), N(kRowHeight - 12),
        Xml(b.backend), Xml(b.value_label));
    double end = x(b.median);
    if (whiskers) {
      const double lo = x(b.low);
      const double hi = x(b.high);
      end = std::max(end, hi);
      out += fmt::format(
          "<path class=\"whisker\" d=\"M{0} {1}H{2}M{0} {3}V{4}M{2} "
          "{3}V{4}\"/>",
          N(lo), N(mid), N(hi), N(mid - 6), N(mid + 6));
    }
    out += fmt::format(
        "<text class=\"value\" x=\"{}\" y=\"{}\" "
        "dominant-baseline=\"middle\">{}</text></g>",
        N(end + 8), N(mid), Xml(b.value_label));
  }
  out += "</svg>";
  return out;
}

std::string Scatter(std::string_view chart_id, std::string_view title,
                    std::string_view x_label, std::string_view y_label,
                    const std::vector<Point>& points,
                    const TickFormat& x_format, double y_max) {
  constexpr double kHeight = 380;
  constexpr double kLeft = 70;
  constexpr double kRight = 150;  // room for the last point's label
  constexpr double kBottom = 60;
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  double x_max = 0;
  for (const Point& p : points) x_max = std::max(x_max, p.x);
  x_max = NiceMax(x_max);
  const double ys = NiceMax(std::max(y_max, 1.0));
  const auto px = [&](double v) {
    return kLeft + plot_w * std::clamp(v / x_max, 0.0, 1.0);
  };
  const auto py = [&](double v) {
    return kTop + plot_h * (1 - std::clamp(v / ys, 0.0, 1.0));
  };

  std::string out = Open(chart_id, title, kHeight);
  for (int i = 0; i <= 4; ++i) {
    const double xv = x_max * i / 4;
    const double yv = ys * i / 4;
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" "
        "text-anchor=\"middle\">{4}</text>",
        N(px(xv)), N(kTop), N(kTop + plot_h), N(kTop + plot_h + 16),
        Xml(x_format(xv)));
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
        "<text class=\"tick\" x=\"{3}\" y=\"{1}\" text-anchor=\"end\" "
        "dominant-baseline=\"middle\">{4:g}</text>",
        N(kLeft), N(py(yv)), N(kLeft + plot_w), N(kLeft - 6), yv);
  }
  out += fmt::format(
      "<path class=\"axis\" d=\"M{0} {1}V{2}H{3}\"/>"
      "<text class=\"axis-label\" x=\"{4}\" y=\"{5}\" "
      "text-anchor=\"middle\">{6}</text>"
      "<text class=\"axis-label\" transform=\"translate(16 {7}) rotate(-90)\" "
      "text-anchor=\"middle\">{8}</text>",
      N(kLeft), N(kTop), N(kTop + plot_h), N(kLeft + plot_w),
      N(kLeft + plot_w / 2), N(kHeight - 12), Xml(x_label),
      N(kTop + plot_h / 2), Xml(y_label));
  for (const Point& p : points) {
    out += fmt::format(
        "<g data-backend=\"{0}\"><circle class=\"point\" data-backend=\"{0}\" "
        "cx=\"{1}\" cy=\"{2}\" r=\"7\"><title>{0}: {3}, {4:g}</title></circle>"
        "<text class=\"label\" x=\"{5}\" y=\"{2}\" "
        "dominant-baseline=\"middle\">{6}</text></g>",
        Xml(p.backend), N(px(p.x)), N(py(p.y)), Xml(x_format(p.x)), p.y,
        N(px(p.x) + 11), CellText(p.backend, 16));
  }
  out += "</svg>";
  return out;
}

std::string MatrixGrid(std::string_view chart_id, std::string_view title,
                       const Grid& grid) {
  constexpr double kCellWidth = 112;
  constexpr double kCellHeight = 20;
  size_t longest = 8;
  for (const std::string& row : grid.rows) {
    longest = std::max(longest, report_text::Columns(row));
  }
  const double label_width = std::min(
      7.5 * static_cast<double>(std::min<size_t>(longest, 30)) + 12, 240.0);
  const bool notes = !grid.column_notes.empty();
  const double header = kTop + (notes ? 36 : 20);
  const double width = std::max(
      kWidth,
      label_width + kCellWidth * static_cast<double>(grid.columns.size()) + 4);
  const double height =
      header + kCellHeight * static_cast<double>(grid.rows.size()) + 8;

  std::string out = fmt::format(
      "<svg class=\"chart\" data-chart=\"{0}\" role=\"img\" "
      "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {1} {2}\" "
      "width=\"{1}\" height=\"{2}\" aria-label=\"{3}\"><title>{3}</title>"
      "<text class=\"chart-title\" x=\"0\" y=\"18\">{3}</text>",
      Xml(chart_id), N(width), N(height), Xml(title));
  for (size_t r = 0; r < grid.rows.size(); ++r) {
    out += fmt::format(
        "<text class=\"label\" x=\"{}\" y=\"{}\" "
        "dominant-baseline=\"middle\">{}</text>",
        N(0),
        N(header + kCellHeight * static_cast<double>(r) + kCellHeight / 2),
        CellText(grid.rows[r], 30));
  }
  for (size_t c = 0; c < grid.columns.size(); ++c) {
    const double x = label_width + kCellWidth * static_cast<double>(c);
    out += fmt::format(
        "<g data-backend=\"{}\"><text class=\"label head\" x=\"{}\" y=\"{}\" "
        "text-anchor=\"middle\">{}</text>",
        Xml(grid.columns[c]), N(x + kCellWidth / 2), N(kTop + 12),
        CellText(grid.columns[c], 15));
    if (notes && c < grid.column_notes.size()) {
      out += fmt::format(
          "<text class=\"note\" x=\"{}\" y=\"{}\" "
          "text-anchor=\"middle\">{}</text>",
          N(x + kCellWidth / 2), N(kTop + 28),
          CellText(grid.column_notes[c], 17));
    }
    for (size_t r = 0; r < grid.rows.size(); ++r) {
      const Cell empty{"", "v-none", ""};
      const Cell& cell = r < grid.cells.size() && c < grid.cells[r].size()
                             ? grid.cells[r][c]
                             : empty;
      const double y = header + kCellHeight * static_cast<double>(r);
      out += fmt::format(
          "<rect class=\"cell {}\" data-backend=\"{}\" x=\"{}\" y=\"{}\" "
          "width=\"{}\" height=\"{}\" rx=\"2\"><title>{}</title></rect>"
          "<text class=\"cell-text\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" "
          "dominant-baseline=\"middle\">{}</text>",
          Xml(cell.css_class), Xml(grid.columns[c]), N(x + 1), N(y + 1),
          N(kCellWidth - 2), N(kCellHeight - 2), Xml(cell.tooltip),
          N(x + kCellWidth / 2), N(y + kCellHeight / 2),
          CellText(cell.text, 15));
    }
    out += "</g>";
  }
  out += "</svg>";
  return out;
}

}  // namespace isoscope::svg
