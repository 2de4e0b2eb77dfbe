#include "reports/html_report.h"

#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reports/report_fixture.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The text of the <svg data-chart="id"> element.
std::string Chart(const std::string& html, const std::string& id) {
  const size_t start = html.find("<svg class=\"chart\" data-chart=\"" + id);
  if (start == std::string::npos) return "";
  return html.substr(start, html.find("</svg>", start) - start);
}

TEST(HtmlReport, EveryChartHasDataForEveryBackendThatRan) {
  const std::string html = RenderHtmlReport(report_fixture::TwoBackends());
  for (const char* id :
       {"overhead", "startup", "spectrum", "probes", "faults", "surface"}) {
    const std::string chart = Chart(html, id);
    ASSERT_FALSE(chart.empty()) << id;
    EXPECT_THAT(chart, HasSubstr("data-backend=\"native\"")) << id;
    EXPECT_THAT(chart, HasSubstr("data-backend=\"fake\"")) << id;
    EXPECT_THAT(chart, Not(HasSubstr("data-backend=\"kvm\""))) << id;
  }
}

TEST(HtmlReport, SelfContainedWithoutScriptsOrExternalAssets) {
  const std::string html = RenderHtmlReport(report_fixture::TwoBackends());
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, HasSubstr("prefers-color-scheme:dark"));
  // A probe detail holding markup is shown, not obeyed.
  EXPECT_THAT(html, HasSubstr("ENOENT &lt;script&gt;&amp;"));
}

TEST(HtmlReport, ShowsSpreadPlatformPolicyAndUnavailableBackends) {
  const std::string html = RenderHtmlReport(report_fixture::TwoBackends());
  EXPECT_THAT(html, HasSubstr("whiskers: p25–p75"));
  EXPECT_THAT(html, HasSubstr("Measured on kernel 6.1.0-test (x86_64)"));
  EXPECT_THAT(html, HasSubstr("guest code is emulated"));  // pvm host
  EXPECT_THAT(html, HasSubstr("<pre># the default preset\nsyscalls:\n"));
  EXPECT_THAT(html, HasSubstr("<strong>kvm</strong> is unavailable: "
                              "/dev/kvm is missing: load kvm_intel"));
  EXPECT_THAT(html, HasSubstr("ESCAPED*"));
  EXPECT_THAT(html, HasSubstr("by isoscope"));  // fault routing column note
  EXPECT_THAT(html, HasSubstr("SIGSEGV"));
  EXPECT_THAT(html, HasSubstr("the VMM's own allowed syscalls (4)"));
  EXPECT_THAT(html, HasSubstr("native leaves 3 probes open that fake blocks"));
  // The ratio label of the overhead chart.
  EXPECT_THAT(Chart(html, "overhead"), HasSubstr("30.0 ms · 3.00× native"));
}

// RDTSC trapping is a host fact: missing with why, or n/a for comparisons
// recorded before it was probed.
TEST(HtmlReport, ShowsRdtscTrappingOrNa) {
  ReportData data = report_fixture::TwoBackends();
  EXPECT_THAT(RenderHtmlReport(data),
              HasSubstr("<tr><th>RDTSC trapping</th><td>missing: RDTSC still "
                        "runs after PR_SET_TSC</td></tr>"));
  data.comparison.host.rdtsc_trapping.reset();
  EXPECT_THAT(RenderHtmlReport(data),
              HasSubstr("<tr><th>RDTSC trapping</th><td>n/a</td></tr>"));
}

TEST(HtmlReport, WithoutProbesSaysSoInsteadOfDrawing) {
  const std::string html =
      RenderHtmlReport(report_fixture::TwoBackends(/*probes=*/false));
  EXPECT_TRUE(Chart(html, "spectrum").empty());
  EXPECT_TRUE(Chart(html, "probes").empty());
  EXPECT_THAT(html, HasSubstr("No probe session was recorded"));
  EXPECT_FALSE(Chart(html, "overhead").empty());
}

TEST(HtmlReport, IsAPureFunctionOfTheData) {
  EXPECT_EQ(RenderHtmlReport(report_fixture::TwoBackends()),
            RenderHtmlReport(report_fixture::TwoBackends()));
}

TEST(HtmlReport, WellNestedSvg) {
  const std::string html = RenderHtmlReport(report_fixture::TwoBackends());
  const auto count = [&](std::string_view needle) {
    int n = 0;
    for (size_t at = html.find(needle); at != std::string::npos;
         at = html.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("<svg "), count("</svg>"));
  EXPECT_EQ(count("<g "), count("</g>"));
  EXPECT_EQ(count("<section "), count("</section>"));
}

}  // namespace
}  // namespace isoscope
