#include "reports/svg_chart.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace isoscope::svg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Plain(double v) { return fmt::format("{:g}", v); }

TEST(SvgChart, BarChartMarksEveryBackendAndEscapesText) {
  const std::string svg = BarChart("overhead", "Wall <time>",
                                   {{"native", 10, 9, 11, "10 ms"},
                                    {"a\"b<script>", 20, 15, 25, "20 & more"}},
                                   Plain, /*whiskers=*/true);
  EXPECT_THAT(svg, HasSubstr("data-chart=\"overhead\""));
  EXPECT_THAT(svg, HasSubstr("data-backend=\"native\""));
  EXPECT_THAT(svg, HasSubstr("data-backend=\"a&quot;b&lt;script&gt;\""));
  EXPECT_THAT(svg, HasSubstr("Wall &lt;time&gt;"));
  EXPECT_THAT(svg, HasSubstr("20 &amp; more"));
  EXPECT_THAT(svg, Not(HasSubstr("<script")));
  EXPECT_THAT(svg, HasSubstr("class=\"whisker\""));
  EXPECT_TRUE(svg.starts_with("<svg") && svg.ends_with("</svg>"));
}

TEST(SvgChart, NoWhiskersForExactCounts) {
  const std::string svg = BarChart("surface", "t", {{"native", 5, 5, 5, "5"}},
                                   Plain, /*whiskers=*/false);
  EXPECT_THAT(svg, Not(HasSubstr("whisker")));
}

TEST(SvgChart, ControlBytesAreEscaped) {
  const std::string svg =
      Scatter("spectrum", "t", "x", "y", {{"evil\x1b[31m", 1, 2}}, Plain, 4);
  EXPECT_THAT(svg, Not(HasSubstr("\x1b")));
  EXPECT_THAT(svg, HasSubstr("evil\\x1b[31m"));
  EXPECT_THAT(svg, HasSubstr("<circle"));
}

TEST(SvgChart, MatrixHasOneGroupPerColumnAndACellPerRow) {
  Grid grid;
  grid.rows = {"p1", "p2"};
  grid.columns = {"native", "fake"};
  grid.cells = {{{"BLOCKED", "v-blocked", "d"}, {"ESCAPED*", "v-escaped", ""}},
                {{"NA", "v-na", ""}, {"ERROR", "v-error", ""}}};
  const std::string svg = MatrixGrid("probes", "t", grid);
  EXPECT_THAT(svg, HasSubstr("<g data-backend=\"native\">"));
  EXPECT_THAT(svg, HasSubstr("<g data-backend=\"fake\">"));
  EXPECT_THAT(svg, HasSubstr("class=\"cell v-escaped\""));
  EXPECT_THAT(svg, HasSubstr(">ESCAPED*<"));
  // Missing cells are drawn as empty rather than read out of bounds.
  grid.cells.pop_back();
  EXPECT_THAT(MatrixGrid("probes", "t", grid), HasSubstr("v-none"));
}

}  // namespace
}  // namespace isoscope::svg
