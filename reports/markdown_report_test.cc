#include "reports/markdown_report.h"

#include <utility>

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
        "## Backends that did not run or whose runs failed",
        "## What each backend's figures stand for",
        "## What each backend enforces of policy default", "## Host platform",
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

TEST(MarkdownReport, HasTheSensitiveInstructionTable) {
  const std::string md = RenderMarkdownReport(report_fixture::TwoBackends());
  EXPECT_THAT(md, HasSubstr("## Sensitive instructions (Popek and Goldberg, "
                            "measured)\n\n| instruction | why it is "
                            "sensitive | native | fake | can the workload "
                            "tell it is not a host process? |\n"));
  EXPECT_THAT(md, HasSubstr("| **ignored** ignored | **virtual** changed | "
                            "yes: fake sees changed; a host process sees "
                            "ignored |\n"));
  EXPECT_THAT(md, HasSubstr("| **host** cpunode | **trap** 0x0 (trapped "
                            "rdtscp:emulate) |"));
  EXPECT_THAT(md, HasSubstr("- **kernel**: faults into the host kernel"));
  // The verdict explains it.
  EXPECT_THAT(md, HasSubstr("not classically virtualizable"));
}

TEST(MarkdownReport, FailedRunsSayWhyAndHaveNoRatio) {
  const std::string md = RenderMarkdownReport(report_fixture::WithFailures());
  EXPECT_THAT(md, HasSubstr("| fake | violation 137 (**failed**) | 3.30 ms "
                            "(3.15 ms–3.45 ms) | n/a | 30.0 ms (27.0 ms–31.5 "
                            "ms) | 24.0 ms–33.0 ms | n/a |"));
  EXPECT_THAT(md, HasSubstr("## Backends that did not run or whose runs "
                            "failed\n\n- **fake** killed by the policy (3 of "
                            "3 measured runs): syscall uname (63) killed by "
                            "rule 'no-uname' (isoscope runs show 4)\n"));
  EXPECT_THAT(md, HasSubstr("- **broken** failed to run: starting /bin/x on "
                            "backend broken: clone3: EPERM\n"));
  EXPECT_THAT(md, HasSubstr("- **kvm** is unavailable: /dev/kvm is missing: "
                            "load kvm\\_intel\n"));
  EXPECT_THAT(md, HasSubstr("- fake's runs failed, so no cost is computed"));
  EXPECT_THAT(md, Not(HasSubstr("The price of")));
}

TEST(MarkdownReport, SaysWhatEachBackendStandsForAndEnforces) {
  const std::string md = RenderMarkdownReport(report_fixture::TwoBackends());
  EXPECT_THAT(md, HasSubstr("## What each backend's figures stand for\n\n"
                            "- **native**: the baseline: a plain host "
                            "process\n- **fake**: a syscall-forwarding fake: "
                            "an upper bound for the real thing\n- **kvm**: a "
                            "VM\n"));
  EXPECT_THAT(md,
              HasSubstr("## What each backend enforces of policy default\n"
                        "\n| section | used by the policy | native | fake "
                        "|\n| --- | --- | --- | --- |\n| syscalls | yes | "
                        "**NOT enforced**: the baseline enforces nothing | "
                        "enforced: seccomp filter \\<in kernel\\> |\n"
                        "| paths | no | not described | not described |\n"));
  EXPECT_THAT(md, HasSubstr("| network | yes | **NOT enforced**: the baseline "
                            "enforces nothing | **NOT enforced**: no network "
                            "namespace |\n"));
  EXPECT_THAT(md, HasSubstr("| faults | no | not enforced: the baseline "
                            "enforces nothing | enforced |\n"));
}

TEST(MarkdownReport, MatchesTheReviewedRendering) {
  for (const auto& [name, data] :
       {std::pair{"two_backends.md", report_fixture::TwoBackends()},
        std::pair{"with_failures.md", report_fixture::WithFailures()}}) {
    const std::string md = RenderMarkdownReport(data);
    EXPECT_EQ(md, report_fixture::Golden(name, md)) << name;
  }
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
