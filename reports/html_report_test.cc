#include "reports/html_report.h"

#include <chrono>
#include <clocale>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <thread>

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

TEST(HtmlReport, FailedRunsSayWhyAndAreNotDrawnAsCosts) {
  const std::string html = RenderHtmlReport(report_fixture::WithFailures());
  EXPECT_THAT(html, HasSubstr("violation 137 <strong>failed</strong></td>"
                              "<td class=\"num\" data-label=\"start-up "
                              "median\">3.30&nbsp;ms (n/a)</td>"));
  EXPECT_THAT(html, HasSubstr("<li data-backend=\"fake\"><strong>fake"
                              "</strong> killed by the policy (3 of 3 "
                              "measured runs): syscall uname (63) killed by "
                              "rule &#39;no-uname&#39; (isoscope runs show "
                              "4)</li>"));
  EXPECT_THAT(html, HasSubstr("<li data-backend=\"broken\"><strong>broken"
                              "</strong> failed to run: starting /bin/x on "
                              "backend broken: clone3: EPERM</li>"));
  EXPECT_THAT(html, HasSubstr("<li>fake&#39;s runs failed, so no cost is "
                              "computed from them"));
  EXPECT_THAT(html, Not(HasSubstr("The price of")));
  // The cost charts leave it out and say so; the probe matrix keeps it.
  for (const char* id : {"overhead", "startup", "spectrum"}) {
    EXPECT_THAT(Chart(html, id), HasSubstr("data-backend=\"native\"")) << id;
    EXPECT_THAT(Chart(html, id), Not(HasSubstr("data-backend=\"fake\""))) << id;
  }
  EXPECT_THAT(html, HasSubstr("Not drawn, because their runs failed: fake."));
  EXPECT_THAT(Chart(html, "probes"), HasSubstr("data-backend=\"fake\""));
}

TEST(HtmlReport, SaysWhatEachBackendStandsForAndEnforces) {
  const std::string html = RenderHtmlReport(report_fixture::TwoBackends());
  EXPECT_THAT(html, HasSubstr("<dt data-backend=\"fake\">fake</dt><dd>a "
                              "syscall-forwarding fake: an upper bound for "
                              "the real thing</dd>"));
  EXPECT_THAT(html, HasSubstr("<dt data-backend=\"kvm\">kvm</dt><dd>a VM"
                              "</dd>"));
  EXPECT_THAT(html, HasSubstr("<tr data-section=\"syscalls\"><th>syscalls"
                              "</th><td>yes</td><td data-backend=\"native\">"
                              "<strong>NOT enforced</strong><br><small>the "
                              "baseline enforces nothing</small></td><td "
                              "data-backend=\"fake\">enforced<br><small>"
                              "seccomp filter &lt;in kernel&gt;</small></td>"
                              "</tr>"));
  EXPECT_THAT(html, HasSubstr("<tr data-section=\"paths\"><th>paths</th>"
                              "<td>no</td><td>not described</td><td>not "
                              "described</td></tr>"));
}

// A pure function of the data: the reviewed rendering, byte for byte, even
// in another time zone and locale, and again after time has passed.
TEST(HtmlReport, HasTheSensitiveInstructionTableEscaped) {
  const std::string html = RenderHtmlReport(report_fixture::TwoBackends());
  EXPECT_THAT(html, HasSubstr("<section id=\"sensitive\"><h2>Sensitive "
                              "instructions (Popek and Goldberg, measured)"));
  EXPECT_THAT(html, HasSubstr("<td><span class=\"v-blocked\">&nbsp;&nbsp;"
                              "</span> trap <code>0x0</code> (trapped "
                              "rdtscp:emulate)</td>"));
  // Workload-controlled detail only ever appears escaped.
  EXPECT_THAT(html, Not(HasSubstr("<b>&amp;")));
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;&amp;amp;"));
  EXPECT_THAT(RenderHtmlReport(report_fixture::TwoBackends(false)),
              HasSubstr("No sensitive-instruction findings: run <code>isoscope "
                        "compare --probes</code>."));
}

TEST(HtmlReport, IsAPureFunctionOfTheData) {
  const char* zone = std::getenv("TZ");
  const std::string saved_zone = zone != nullptr ? zone : "";
  ASSERT_EQ(::setenv("TZ", "Pacific/Chatham", 1), 0);
  ::tzset();
  const char* saved_locale = std::setlocale(LC_ALL, nullptr);
  const std::string locale = saved_locale != nullptr ? saved_locale : "C";
  // Where C.UTF-8 is missing, only the zone and the clock vary.
  (void)std::setlocale(LC_ALL, "C.UTF-8");
  const std::string first = RenderHtmlReport(report_fixture::TwoBackends());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string second = RenderHtmlReport(report_fixture::TwoBackends());
  if (zone != nullptr) {
    ::setenv("TZ", saved_zone.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
  EXPECT_NE(std::setlocale(LC_ALL, locale.c_str()), nullptr);
  EXPECT_EQ(first, report_fixture::Golden("two_backends.html", first));
  EXPECT_EQ(second, first);
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
