#include "reports/verdict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reports/report_fixture.h"

namespace isoscope {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Verdict, NamesWhatEachBackendLeavesOpenThatTheOtherBlocks) {
  const ReportData data = report_fixture::TwoBackends();
  const auto pairs = ComparePairs(data.comparison, data.probes);
  ASSERT_EQ(pairs.size(), 1u);  // kvm did not run
  EXPECT_EQ(pairs[0].first, "native");
  EXPECT_EQ(pairs[0].second, "fake");
  EXPECT_THAT(pairs[0].open_in_first_blocked_in_second,
              ElementsAre(OpenProbe{"secret-file", "ESCAPED"},
                          OpenProbe{"userns", "REACHABLE"},
                          OpenProbe{"signal-canary", "ESCAPED"}));
  EXPECT_THAT(pairs[0].open_in_second_blocked_in_first,
              ElementsAre(OpenProbe{"tracer-pid", "REACHABLE"}));
  ASSERT_TRUE(pairs[0].wall_ratio.has_value());
  EXPECT_DOUBLE_EQ(*pairs[0].wall_ratio, 3.0);

  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  EXPECT_THAT(sentences,
              Contains("native leaves 3 probes open that fake blocks: "
                       "secret-file (ESCAPED), userns (REACHABLE), "
                       "signal-canary (ESCAPED)."));
  EXPECT_THAT(sentences, Contains("fake leaves 1 probe open that native "
                                  "blocks: tracer-pid (REACHABLE)."));
  EXPECT_THAT(sentences,
              Contains("The price of fake against native: start-up 3.00× "
                       "(3.30 ms vs 1.10 ms median), wall time 3.00× "
                       "(30.0 ms vs 10.0 ms median)."));
  // (30 ms - 10 ms) / 100000 trapped syscalls.
  EXPECT_THAT(sentences,
              Contains(HasSubstr("fake trapped 100000 syscalls per run "
                                 "(median); each cost about 200 ns")));
  // Fault-map cases are routing, not escapes; ERROR is not BLOCKED.
  for (const std::string& s : sentences) {
    EXPECT_THAT(s, Not(HasSubstr("fault-map")));
    EXPECT_THAT(s, Not(HasSubstr("mount-tmpfs")));
  }
}

TEST(Verdict, FollowsTheData) {
  // Same backends, verdicts swapped: the sentences swap with them.
  ReportData data = report_fixture::TwoBackends();
  for (ProbeFinding& f : data.probes->findings) {
    if (f.probe_id == "userns") {
      f.verdict = f.backend == "native" ? "BLOCKED" : "ESCAPED";
    }
  }
  data.comparison.backends[1].wall_ns.median = 5e6;
  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  EXPECT_THAT(sentences,
              Contains("fake leaves 2 probes open that native blocks: "
                       "userns (ESCAPED), tracer-pid (REACHABLE)."));
  EXPECT_THAT(sentences, Contains(HasSubstr("wall time 0.50× (5.00 ms vs "
                                            "10.0 ms median)")));
  EXPECT_THAT(sentences, Contains(HasSubstr("at no measurable cost")));
}

TEST(Verdict, NativeAloneSaysWhatItReachedAndThatThereIsNothingToCompare) {
  const ReportData data = report_fixture::NativeOnly();
  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  ASSERT_EQ(sentences.size(), 4u);
  EXPECT_EQ(sentences[0],
            "Unisolated (native), the workload reached 5 of 7 probes: 3 "
            "reachable and 2 escaped: secret-file (ESCAPED), userns "
            "(REACHABLE), bpf (REACHABLE), mount-tmpfs (REACHABLE), "
            "signal-canary (ESCAPED). There is nothing to compare with yet: "
            "no other backend ran in this comparison.");
  // Then the sensitive-instruction table, native's column alone.
  EXPECT_THAT(sentences[1], HasSubstr("Popek and Goldberg"));
  EXPECT_THAT(sentences[2], HasSubstr("a plain host process at CPL 3 ran 5"));
  EXPECT_THAT(sentences[3], HasSubstr("hypervisor bit is set on native"));
}

TEST(Verdict, NamesUnavailableBackendsWhenOnlyOneRan) {
  ReportData data = report_fixture::TwoBackends(/*probes=*/false);
  data.comparison.backends[1].error = "start failed: EPERM";
  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  ASSERT_EQ(sentences.size(), 2u);
  EXPECT_EQ(sentences[0],
            "fake failed after 3 measured runs: start failed: EPERM. Nothing "
            "is compared from it.");
  EXPECT_THAT(sentences[1], HasSubstr("was not probed"));
  EXPECT_THAT(sentences[1], HasSubstr("fake: failed to run; kvm: "
                                      "/dev/kvm is missing"));
}

// A backend whose runs failed is named with why, first, and priced nowhere:
// no price sentence, no per-syscall cost, no pair ratio; what it blocks is
// still compared (the probes are runs of their own).
TEST(Verdict, FailedRunsAreNamedAndLeftOutOfEveryCost) {
  const ReportData data = report_fixture::WithFailures();
  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  ASSERT_GE(sentences.size(), 2u);
  EXPECT_EQ(sentences[0],
            "fake's runs failed, so no cost is computed from them: killed by "
            "the policy (3 of 3 measured runs): syscall uname (63) killed by "
            "rule 'no-uname' (isoscope runs show 4).");
  EXPECT_EQ(sentences[1],
            "broken failed to run: starting /bin/x on backend broken: clone3: "
            "EPERM. Nothing is compared from it.");
  EXPECT_THAT(sentences, Not(Contains(HasSubstr("price"))));
  EXPECT_THAT(sentences, Not(Contains(HasSubstr("trapped"))));
  EXPECT_THAT(sentences, Contains(HasSubstr("native leaves 3 probes open "
                                            "that fake blocks")));
  const auto pairs = ComparePairs(data.comparison, data.probes);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].wall_ratio, std::nullopt);
  EXPECT_EQ(pairs[0].startup_ratio, std::nullopt);
  EXPECT_TRUE(pairs[0].have_probes);

  // The same data without the failure is priced: the test above can fail.
  ReportData ok = data;
  ok.comparison.backends[1].failure.reset();
  EXPECT_THAT(PlainWordsVerdict(ok.comparison, ok.probes),
              Contains(HasSubstr("The price of fake against native")));
}

TEST(Verdict, WithoutProbesComparesThePriceOnly) {
  const ReportData data = report_fixture::TwoBackends(/*probes=*/false);
  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  EXPECT_THAT(sentences, Contains(HasSubstr("No probe session")));
  EXPECT_THAT(sentences, Contains(HasSubstr("The price of fake against")));
  EXPECT_THAT(sentences, Not(Contains(HasSubstr("leaves"))));
}

TEST(Verdict, WithoutProbesAndWithOneMeasuredBackendNothingIsCompared) {
  ReportData data = report_fixture::WithFailures();
  data.probes.reset();
  data.comparison.probe_session_id.reset();
  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  EXPECT_THAT(sentences, Contains(HasSubstr("neither a price nor what each "
                                            "stops is compared")));
  EXPECT_THAT(sentences, Not(Contains(HasSubstr("only the price"))));
  EXPECT_THAT(sentences, Not(Contains(HasSubstr("The price of"))));
}

// The sensitive-instruction table in plain words, last: what the host
// process ran untrapped and what each backend did with them.
TEST(Verdict, ExplainsTheSensitiveInstructionTableLast) {
  const ReportData data = report_fixture::TwoBackends();
  const auto sentences = PlainWordsVerdict(data.comparison, data.probes);
  ASSERT_GE(sentences.size(), 4u);
  EXPECT_THAT(sentences[sentences.size() - 4],
              HasSubstr("Popek and Goldberg showed"));
  EXPECT_THAT(sentences[sentences.size() - 3],
              HasSubstr("a plain host process at CPL 3 ran 5 of these 5 "
                        "instructions without a signal"));
  EXPECT_THAT(sentences[sentences.size() - 2],
              HasSubstr("CPUID's hypervisor bit is set on native too"));
  EXPECT_THAT(sentences.back(),
              HasSubstr("On fake the workload runs at CPL 0: isoscope "
                        "intercepted 1 of 5 (rdtscp)"));
  // Without a probe session there is nothing to explain.
  const ReportData unprobed = report_fixture::TwoBackends(false);
  for (const std::string& s :
       PlainWordsVerdict(unprobed.comparison, unprobed.probes)) {
    EXPECT_THAT(s, Not(HasSubstr("Popek")));
  }
}

TEST(Verdict, NoBackendRan) {
  ReportData data = report_fixture::TwoBackends(/*probes=*/false);
  data.comparison.backends = {data.comparison.backends[2]};
  EXPECT_THAT(PlainWordsVerdict(data.comparison, std::nullopt),
              ElementsAre(HasSubstr("No backend ran")));
}

// One sentence per backend, in the comparison's order, each with what it
// blocks beyond the baseline and at what price, or why it has no figures.
TEST(BackendHeadlines, OneSentencePerBackendAgainstTheBaseline) {
  const ReportData data = report_fixture::TwoBackends();
  EXPECT_THAT(
      BackendHeadlines(data.comparison, data.probes),
      ElementsAre("native is the baseline: 10.0 ms wall time, 1.10 ms "
                  "start-up (medians); it leaves 5 of 7 probes open.",
                  "fake blocks 3 probes that native leaves open (and leaves "
                  "1 probe open that native blocks), at 3.00× the wall time "
                  "and 3.00× the start-up of native.",
                  "kvm did not run: /dev/kvm is missing: load kvm_intel."));

  // The counts and ratios follow the data.
  ReportData swapped = data;
  for (ProbeFinding& f : swapped.probes->findings) {
    if (f.probe_id == "tracer-pid") f.verdict = "BLOCKED";
  }
  swapped.comparison.backends[1].wall_ns.median = 5e6;
  EXPECT_THAT(BackendHeadlines(swapped.comparison, swapped.probes),
              Contains("fake blocks 3 probes that native leaves open, at "
                       "0.50× the wall time and 3.00× the start-up of "
                       "native."));
}

TEST(BackendHeadlines, FailuresAndMissingProbesAreSaid) {
  const ReportData failures = report_fixture::WithFailures();
  const auto sentences = BackendHeadlines(failures.comparison, failures.probes);
  ASSERT_EQ(sentences.size(), 4u);
  EXPECT_EQ(sentences[1],
            "fake's runs failed, so it has no figures: killed by the policy "
            "(3 of 3 measured runs): syscall uname (63) killed by rule "
            "'no-uname' (isoscope runs show 4).");
  EXPECT_EQ(sentences[3],
            "broken failed to run: starting /bin/x on backend broken: "
            "clone3: EPERM, so it has no figures.");

  const ReportData unprobed = report_fixture::TwoBackends(/*probes=*/false);
  EXPECT_THAT(BackendHeadlines(unprobed.comparison, unprobed.probes),
              ElementsAre("native is the baseline: 10.0 ms wall time, "
                          "1.10 ms start-up (medians).",
                          "fake was not probed, at 3.00× the wall time and "
                          "3.00× the start-up of native.",
                          HasSubstr("kvm did not run")));
}

}  // namespace
}  // namespace isoscope
