#include "reports/markdown_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reports/report_fixture.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MarkdownReport, HasTheSameTablesAsTheHtml) {
  const std::string md = RenderMarkdownReport(report_fixture::TwoBackends());
  EXPECT_TRUE(md.starts_with("# isoscope comparison #7\n"));
  for (const char* heading :
       {"## Verdict in plain words", "## Summary", "## Probe matrix",
        "## Fault routing map", "## Host attack surface",
        "## Backends that did not run", "## Host platform",
        "## Policy: default"}) {
    EXPECT_THAT(md, HasSubstr(heading));
  }
  EXPECT_THAT(md, HasSubstr("| probe | native | fake |\n| --- | --- | --- |"));
  EXPECT_THAT(md, HasSubstr("| signal-canary | ESCAPED\\* | BLOCKED |"));
  EXPECT_THAT(md, HasSubstr("| hlt | fake | isoscope | BLOCKED signal=11 "
                            "(SIGSEGV) code=128 |"));
  EXPECT_THAT(md, HasSubstr("30.0 ms (27.0 ms–31.5 ms)"));
  EXPECT_THAT(md, HasSubstr("```yaml\n# the default preset\n"));
  EXPECT_THAT(md, Not(HasSubstr("<svg")));
}

TEST(MarkdownReport, PipesAndFencesInDataCannotBreakTheLayout) {
  ReportData data = report_fixture::TwoBackends();
  data.comparison.backends[2].unavailable_reason = "a | b <b>";
  data.comparison.policy_text = "x: \"```\"\n";
  const std::string md = RenderMarkdownReport(data);
  EXPECT_THAT(md, HasSubstr("a \\| b \\<b\\>"));
  EXPECT_THAT(md, HasSubstr("````yaml\nx: \"```\"\n````\n"));
}

}  // namespace
}  // namespace isoscope
