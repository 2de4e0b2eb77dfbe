#include "reports/comparison_table.h"

#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reports/text.h"

namespace isoscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

BackendComparison Measured(const std::string& name, double wall_ns) {
  BackendComparison b;
  b.backend = name;
  b.run_ids = {1, 2, 3};
  b.startup_ns = {812'000, 800'000, 900'000, 806'000, 850'000, 3};
  b.wall_ns = {wall_ns, wall_ns * 0.9, wall_ns * 1.1, wall_ns, wall_ns, 3};
  b.user_cpu_us = {1500, 1400, 1600, 1450, 1550, 3};
  b.system_cpu_us = {250, 200, 300, 225, 275, 3};
  b.max_rss_kib = {2048, 2048, 2048, 2048, 2048, 3};
  b.syscalls_total = 100015;
  b.syscalls_in_kernel = 100003;
  b.syscalls_trapped = 12;
  b.syscalls_denied = 3;
  b.faults = 4;
  b.violations = 0;
  return b;
}

Comparison Sample() {
  Comparison c;
  c.id = 17;
  c.argv = {"/build/workloads/bench/syscall-storm", "100000"};
  c.policy_name = "default";
  c.repeat = 3;
  BackendComparison native = Measured("native", 12'500'000);
  native.output_matches_native = true;
  native.wall_ratio = 1.0;
  BackendComparison ptrace = Measured("ptrace", 250'000'000);
  ptrace.output_matches_native = false;
  ptrace.wall_ratio = 20.0;
  ptrace.consistent = false;
  ptrace.max_rss_kib = Spread{};
  ptrace.syscalls_total.reset();
  ptrace.syscalls_denied.reset();
  BackendComparison kvm;
  kvm.backend = "kvm";
  kvm.available = false;
  kvm.unavailable_reason = "/dev/kvm is missing: load kvm_intel";
  BackendComparison container;
  container.backend = "container";
  container.error = "clone3: Operation not permitted (EPERM)";
  c.backends = {native, ptrace, kvm, container};
  return c;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The line that starts with `prefix`, or "".
std::string LineStarting(const std::string& text, const std::string& prefix) {
  for (const std::string& line : Lines(text)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

TEST(ComparisonTableTest, OneRowPerBackendWithHumanUnits) {
  const std::string table = RenderComparisonTable(Sample());
  EXPECT_THAT(table, HasSubstr("syscall-storm 100000"));
  EXPECT_THAT(table, HasSubstr("policy default"));
  const std::string header = LineStarting(table, "backend");
  for (const char* column :
       {"outcome", "exit", "start-up", "wall", "×native", "user", "sys",
        "peak mem", "syscalls tot/trap/deny", "faults", "viol", "same"}) {
    EXPECT_THAT(header, HasSubstr(column));
  }
  const std::string native = LineStarting(table, "native ");
  EXPECT_THAT(native, HasSubstr("exited"));
  EXPECT_THAT(native, HasSubstr("812 µs ±6%"));  // start-up median, spread
  EXPECT_THAT(native, HasSubstr("12.5 ms ±10%"));
  EXPECT_THAT(native, HasSubstr("1.00×"));
  EXPECT_THAT(native, HasSubstr("1.50 ms"));  // user CPU
  EXPECT_THAT(native, HasSubstr("250 µs"));   // system CPU
  EXPECT_THAT(native, HasSubstr("2.00 MiB"));
  EXPECT_THAT(native, HasSubstr("100015/12/3"));
  EXPECT_THAT(native, HasSubstr("yes"));
  const std::string ptrace = LineStarting(table, "ptrace ");
  EXPECT_THAT(ptrace, HasSubstr("exited*"));  // inconsistent runs
  EXPECT_THAT(ptrace, HasSubstr("250 ms"));
  EXPECT_THAT(ptrace, HasSubstr("20.00×"));
  EXPECT_THAT(ptrace, HasSubstr(" no"));
  EXPECT_THAT(ptrace, HasSubstr(" n/a "));         // peak memory not known
  EXPECT_THAT(ptrace, HasSubstr(" n/a/12/n/a "));  // neither total nor denied
  EXPECT_THAT(table, HasSubstr("differently"));    // the * explained
}

TEST(ComparisonTableTest, UnavailableAndFailedBackendsSayWhy) {
  const std::string table = RenderComparisonTable(Sample());
  EXPECT_THAT(LineStarting(table, "kvm "),
              HasSubstr("unavailable: /dev/kvm is missing: load kvm_intel"));
  EXPECT_THAT(LineStarting(table, "container "),
              HasSubstr("failed to run (below)"));
  EXPECT_THAT(table,
              HasSubstr("\ncontainer: failed to run: clone3: Operation not "
                        "permitted (EPERM)\n"));
}

TEST(ComparisonTableTest, RunsThatFailedSayWhyAndHaveNoRatio) {
  Comparison c = Sample();
  BackendComparison& ptrace = c.backends[1];
  ptrace.outcome = Outcome::kViolation;
  ptrace.exit_status = 137;
  ptrace.wall_ratio.reset();
  ptrace.failure = RunFailure{"killed by the policy",
                              "syscall uname (63) killed by rule 'no-uname'",
                              "no-uname", 2, 3};
  const std::string table = RenderComparisonTable(c);
  const std::string row = LineStarting(table, "ptrace ");
  EXPECT_THAT(row, HasSubstr("violation"));
  EXPECT_THAT(row, HasSubstr("n/a"));
  EXPECT_THAT(row, Not(HasSubstr("×")));
  EXPECT_THAT(table, HasSubstr("Failed runs (no ratio is computed from "
                               "them):\nptrace: killed by the policy (3 of 3 "
                               "measured runs): syscall uname (63) killed by "
                               "rule 'no-uname' (isoscope runs show 2)\n"));
  // A rule the reason does not name is named.
  ptrace.failure->reason = "exited with status 1";
  EXPECT_THAT(RenderComparisonTable(c),
              HasSubstr("(rule no-uname; isoscope runs show 2)"));
}

TEST(ComparisonTableTest, SaysWhatEachRowStandsForAndWhatItEnforces) {
  Comparison c = Sample();
  c.policy_sections_used = {"syscalls", "network"};
  c.backends[0].traits.measures = "the baseline";
  c.backends[0].traits.enforcement = {
      {"syscalls", false, "the baseline enforces nothing"},
      {"network", false, "the baseline enforces nothing"},
      {"faults", false, "the baseline enforces nothing"}};
  c.backends[1].traits.measures =
      std::string(30, 'w') + " " + std::string(100, 'x') + " upper bound";
  c.backends[1].traits.enforcement = {{"syscalls", true, "seccomp"},
                                      {"network", false, "no namespace"}};
  const std::string table = RenderComparisonTable(c);
  EXPECT_THAT(table, HasSubstr("What each row stands for:\nnative: the "
                               "baseline\nptrace: " +
                               std::string(30, 'w') + "\n"));
  // Wrapped, not cut: every word is there.
  EXPECT_THAT(table, HasSubstr("upper bound\n"));
  EXPECT_THAT(table, HasSubstr("kvm: not described by this backend\n"));
  const std::string head = LineStarting(table, "section ");
  EXPECT_THAT(head, HasSubstr("native"));
  EXPECT_THAT(head, HasSubstr("ptrace"));
  EXPECT_THAT(head, Not(HasSubstr("kvm")));  // it describes nothing
  EXPECT_EQ(LineStarting(table, "syscalls "),
            "syscalls      yes   NOT           enforced");
  EXPECT_EQ(LineStarting(table, "network "),
            "network       yes   NOT           NOT");
  EXPECT_EQ(LineStarting(table, "faults "),
            "faults        no    not           ?");
  EXPECT_EQ(LineStarting(table, "paths "),
            "paths         no    ?             ?");
  EXPECT_THAT(table, HasSubstr("\nnative: does not enforce syscalls, network "
                               "(the baseline enforces nothing)\n"));
  EXPECT_THAT(table, HasSubstr("\nptrace: does not enforce network (no "
                               "namespace)\n"));
  for (const std::string& line : Lines(table)) {
    EXPECT_LE(report_text::Columns(line), kComparisonTableWidth) << line;
  }
}

TEST(ComparisonTableTest, FitsInTheWidthEvenWithLongReasons) {
  Comparison c = Sample();
  c.argv.emplace_back(300, 'a');
  c.backends[2].unavailable_reason = std::string(400, 'r');
  c.backends[0].syscalls_in_kernel = 123'456'789'012;
  c.backends[0].syscalls_trapped = 123'456'789'012;
  for (const std::string& line : Lines(RenderComparisonTable(c))) {
    EXPECT_LE(report_text::Columns(line), kComparisonTableWidth) << line;
  }
}

TEST(ComparisonTableTest, WithoutNativeFidelityIsADash) {
  Comparison c = Sample();
  c.backends[1].output_matches_native.reset();
  c.backends[1].wall_ratio.reset();
  const std::string ptrace = LineStarting(RenderComparisonTable(c), "ptrace ");
  EXPECT_THAT(ptrace, HasSubstr("—"));
  EXPECT_THAT(ptrace, HasSubstr("n/a"));
}

TEST(ComparisonTableTest, SaysWhereItIsStoredAndWhenInterrupted) {
  Comparison c = Sample();
  EXPECT_THAT(RenderComparisonTable(c),
              HasSubstr("`isoscope report 17` re-renders it"));
  EXPECT_THAT(RenderComparisonTable(c), Not(HasSubstr("Interrupted")));
  c.interrupted = true;
  c.probe_session_id = 5;
  EXPECT_THAT(RenderComparisonTable(c), HasSubstr("Interrupted"));
  EXPECT_THAT(RenderComparisonTable(c), HasSubstr("session 5"));
}

TEST(ComparisonTableTest, WorkloadBytesCannotDriveTheTerminal) {
  Comparison c = Sample();
  c.argv = {"/bin/evil\x1b[2J"};
  c.backends[3].error = "boom\x1b]0;title\x07";
  const std::string table = RenderComparisonTable(c);
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_EQ(table.find('\x07'), std::string::npos);
}

}  // namespace
}  // namespace isoscope
