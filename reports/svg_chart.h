// Small inline-SVG primitives for the HTML report: a horizontal bar chart
// with spread whiskers, a labelled scatter plot and a matrix grid. Every
// mark of a backend sits in a group carrying data-backend="<name>", every
// chart carries data-chart="<id>", so tests (and readers of the DOM) can
// tell which data a shape stands for. Colours come from the page's CSS
// classes (light and dark), so the SVG holds no colour of its own. All text
// is escaped; no scripts.
#ifndef ISOSCOPE_REPORTS_SVG_CHART_H_
#define ISOSCOPE_REPORTS_SVG_CHART_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace isoscope::svg {

// One bar: the median, with whiskers from `low` to `high` (p25..p75).
struct Bar {
  std::string backend;
  double median = 0;
  double low = 0;
  double high = 0;
  std::string value_label;  // printed after the bar
};

// Formats an axis tick value ("1.2 ms").
using TickFormat = std::function<std::string(double)>;

// One row per bar; `whiskers` false for exact counts (no spread to draw).
std::string BarChart(std::string_view chart_id, std::string_view title,
                     const std::vector<Bar>& bars, const TickFormat& format,
                     bool whiskers);

struct Point {
  std::string backend;
  double x = 0;
  double y = 0;
};

std::string Scatter(std::string_view chart_id, std::string_view title,
                    std::string_view x_label, std::string_view y_label,
                    const std::vector<Point>& points,
                    const TickFormat& x_format, double y_max);

struct Cell {
  std::string text;
  std::string css_class;  // e.g. "v-blocked"
  std::string tooltip;    // shown on hover (<title>)
};

// rows x columns; columns are backends (each column a data-backend group).
struct Grid {
  std::vector<std::string> rows;
  std::vector<std::string> columns;
  std::vector<std::string> column_notes;  // a second header line, or empty
  std::vector<std::vector<Cell>> cells;   // [row][column]
};

std::string MatrixGrid(std::string_view chart_id, std::string_view title,
                       const Grid& grid);

}  // namespace isoscope::svg

#endif  // ISOSCOPE_REPORTS_SVG_CHART_H_
