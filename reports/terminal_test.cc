#include "reports/terminal.h"

#include <errno.h>
#include <signal.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reports/text.h"

namespace isoscope {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t Columns(const std::string& line) {
  return static_cast<size_t>(std::count_if(
      line.begin(), line.end(),
      [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

RunResult ViolationRun() {
  RunResult r;
  r.id = 42;
  r.backend = "ptrace";
  r.argv = {"/usr/bin/curl", "http://example.com"};
  r.workdir = "/home/user/work";
  r.policy_name = "strict";
  r.started_at_unix_ms = 1700000000123;  // 2023-11-14 22:13:20 UTC
  r.termination.outcome = Outcome::kViolation;
  r.termination.signal = SIGSYS;
  r.termination.rule_id = "net.deny";
  r.termination.reason = "connect is not allowed";
  r.output.stdout_bytes = "hello\n";
  r.output.stderr_bytes = "warn \x1b[31mred\n";
  r.output.total_bytes = uint64_t{3} * 1024 * 1024;
  r.output.truncated = true;
  r.timings = {.startup_ns = 1'500'000,
               .wall_ns = 2'340'000'000,
               .user_cpu_us = 1500,
               .system_cpu_us = 250,
               .decision_ns = 45'000};
  r.counters = {.syscalls_trapped = 11,
                .syscalls_in_kernel = 2222,
                .syscalls_denied = 3,
                .faults = 1,
                .signals = 2,
                .violations = 1,
                .events_dropped = 0,
                .max_rss_kib = 2048};

  SyscallEvent open;
  open.pid = 7;
  open.request.number = 257;  // openat
  open.request.args = {0xffffff9c, 0x7ffd0000, 0x241, 0644, 0, 0};
  open.request.paths = {{.arg_index = 1, .path = "/etc/shadow"}};
  open.verdict =
      Verdict{.action = {.action = Action::kDeny, .errno_value = EACCES},
              .rule_id = "files.read.else",
              .reason = "not readable"};
  FaultEvent cpuid;
  cpuid.pid = 7;
  cpuid.kind = FaultKind::kCpuid;
  cpuid.rip = 0x401000;
  cpuid.mnemonic = "cpuid";
  cpuid.bytes = {0x0f, 0xa2};
  cpuid.verdict = Verdict{.action = {.action = Action::kEmulate},
                          .rule_id = "faults.cpuid",
                          .reason = "emulated"};
  ExitEvent exit;
  exit.signaled = true;
  exit.signal = SIGSYS;
  r.events = {open, cpuid, SignalEvent{.pid = 7, .signal = SIGUSR1},
              LimitEvent{.kind = LimitKind::kMemory, .detail = "peak 64 MiB"},
              exit};

  r.host.kernel_release = "6.1.0-18-amd64";
  r.host.machine = "x86_64";
  r.host.cpus = 2;
  r.host.seccomp = {.available = true, .detail = "mode 2"};
  r.host.kvm = {.available = false, .detail = "no /dev/kvm"};
  r.host.virtualization = VirtualizationKind::kVmx;
  r.host.cgroups.layout = CgroupLayout::kV2;
  r.host.cgroups.v2_root = "/sys/fs/cgroup";
  return r;
}

TEST(RenderRunSummaryTest, SaysWhatRanAndHowItEnded) {
  const std::string text = RenderRunSummary(ViolationRun());
  EXPECT_THAT(text, HasSubstr("Run 42"));
  EXPECT_THAT(text, HasSubstr("ptrace"));
  EXPECT_THAT(text, HasSubstr("/usr/bin/curl http://example.com"));
  EXPECT_THAT(text, HasSubstr("strict"));
  EXPECT_THAT(text, HasSubstr("violation: connect is not allowed"));
  EXPECT_THAT(text, HasSubstr("rule net.deny"));
  EXPECT_THAT(text, HasSubstr("status 159"));
  EXPECT_THAT(text, HasSubstr("SIGSYS"));
  EXPECT_THAT(text, HasSubstr("wall 2.34 s"));
  EXPECT_THAT(text, HasSubstr("start-up 1.50 ms"));
  EXPECT_THAT(text, HasSubstr("user 1.50 ms"));
  EXPECT_THAT(text, HasSubstr("sys 250 µs"));
  EXPECT_THAT(text, HasSubstr("peak 2.00 MiB"));
  EXPECT_THAT(text, HasSubstr("11 decided by isoscope, 3 denied"));
  EXPECT_THAT(text, HasSubstr("1 fault, 2 signals, 1 violation"));
  EXPECT_THAT(text, HasSubstr("truncated"));
  EXPECT_THAT(text, HasSubstr("events    5 recorded"));
  EXPECT_LE(Lines(text).size(), 15u);
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));  // no colour
}

// The total the kernel counted; n/a with the way to get it when the run
// did not count, or with where to look when the host cannot.
TEST(RenderRunSummaryTest, SyscallTotalOrWhyItIsNotKnown) {
  RunResult r = ViolationRun();
  EXPECT_THAT(RenderRunSummary(r),
              HasSubstr("syscalls  made: n/a (isoscope run --count-syscalls "
                        "counts them); 11 decided by isoscope, 3 denied\n"));
  r.host.syscall_counter = Feature{false, "tracefs is not mounted"};
  EXPECT_THAT(RenderRunSummary(r),
              HasSubstr("made: n/a (this host cannot count them: isoscope "
                        "doctor says why); 11 decided"));
  r.host.syscall_counter = Feature{true, "raw_syscalls:sys_enter"};
  r.counters.syscalls_total = 100003;
  EXPECT_THAT(RenderRunSummary(r),
              HasSubstr("syscalls  100003 made, 11 decided by isoscope, 3 "
                        "denied\n"));
}

TEST(RenderRunSummaryTest, LimitShowsItsKindAndUnrecordedRunHasNoId) {
  RunResult r;
  r.backend = "native";
  r.argv = {"./spin"};
  r.termination.outcome = Outcome::kLimit;
  r.termination.limit = LimitKind::kWallTime;
  r.termination.signal = SIGKILL;
  r.termination.reason = "ran past 1 s";
  r.timings.wall_ns = 1'000'400'000;
  r.output.total_bytes = 10;
  r.output.stdout_bytes = "0123456789";
  const std::string text = RenderRunSummary(r);
  EXPECT_THAT(text, HasSubstr("limit (wall_time): ran past 1 s"));
  EXPECT_THAT(text, HasSubstr("status 137"));
  EXPECT_THAT(text, Not(HasSubstr("Run 0")));
  EXPECT_THAT(text, HasSubstr("10 B captured"));
  EXPECT_THAT(text, Not(HasSubstr("truncated")));
  EXPECT_THAT(text, HasSubstr("peak n/a"));
}

TEST(RenderRunListTest, EmptyListIsFriendly) {
  const std::string text = RenderRunList({});
  EXPECT_THAT(text, HasSubstr("No runs recorded yet"));
  EXPECT_EQ(Lines(text).size(), 1u);
}

TEST(RenderRunListTest, AlignedTableWithinOneHundredColumns) {
  std::vector<RunSummary> runs = {
      {.id = 12,
       .started_at_unix_ms = 1700000000123,
       .backend = "container",
       .command = "/usr/bin/python3 -c 'print(1)' " + std::string(200, 'x'),
       .policy_name = "default",
       .outcome = Outcome::kExited,
       .exit_status = 0,
       .wall_ns = 12'300'000},
      {.id = 3,
       .started_at_unix_ms = 0,
       .backend = "kvm",
       .command = "./hello",
       .policy_name = "strict",
       .outcome = Outcome::kViolation,
       .exit_status = 159,
       .wall_ns = 950},
  };
  const std::string text = RenderRunList(runs);
  const auto lines = Lines(text);
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& line : lines) EXPECT_LE(Columns(line), 100u) << line;
  EXPECT_THAT(lines[0], HasSubstr("ID"));
  EXPECT_THAT(lines[0], HasSubstr("WHEN"));
  EXPECT_THAT(lines[0], HasSubstr("BACKEND"));
  EXPECT_THAT(lines[0], HasSubstr("OUTCOME"));
  EXPECT_THAT(lines[0], HasSubstr("STATUS"));
  EXPECT_THAT(lines[0], HasSubstr("WALL"));
  EXPECT_THAT(lines[0], HasSubstr("POLICY"));
  EXPECT_THAT(lines[0], HasSubstr("COMMAND"));
  EXPECT_THAT(lines[1], HasSubstr("2023-11-14 22:13:20"));
  EXPECT_THAT(lines[1], HasSubstr("container"));
  EXPECT_THAT(lines[1], HasSubstr("12.3 ms"));
  // The long command is cut in the middle.
  EXPECT_THAT(lines[1], HasSubstr("/usr/bin/python3...xxx"));
  EXPECT_THAT(lines[2], HasSubstr("1970-01-01 00:00:00"));
  EXPECT_THAT(lines[2], HasSubstr("violation"));
  EXPECT_THAT(lines[2], HasSubstr("159"));
  EXPECT_THAT(lines[2], HasSubstr("950 ns"));
  // Columns line up: every column starts at the same offset on each line.
  for (const char* header : {"BACKEND", "OUTCOME", "POLICY", "COMMAND"}) {
    const size_t column = lines[0].find(header);
    ASSERT_NE(column, std::string::npos);
    EXPECT_NE(lines[1][column], ' ') << header;
    EXPECT_EQ(lines[1][column - 1], ' ') << header;
    EXPECT_NE(lines[2][column], ' ') << header;
    EXPECT_EQ(lines[2][column - 1], ' ') << header;
  }
}

// The issue this answers: commands cut to their first characters could not
// be told apart. A narrow table keeps each command's start and end.
TEST(RenderRunListTest, NarrowTableKeepsCommandStartAndEnd) {
  const std::string long_policy(40, 'p');
  std::vector<RunSummary> runs = {
      {.id = 1,
       .backend = "ptrace",
       .command = "/usr/bin/python3 -c " + std::string(100, 'x') + " case-a",
       .policy_name = long_policy},
      {.id = 2,
       .backend = "ptrace",
       .command = "/usr/bin/python3 -c " + std::string(100, 'x') + " case-b",
       .policy_name = "default"},
  };
  for (const size_t width : {size_t{120}, size_t{140}}) {
    const auto lines = Lines(RenderRunList(runs, width));
    ASSERT_EQ(lines.size(), 3u);
    for (const auto& line : lines) EXPECT_LE(Columns(line), width) << line;
    EXPECT_THAT(lines[1], HasSubstr("/usr/bin/python3 -c"));
    EXPECT_THAT(lines[1], ContainsRegex("\\.\\.\\.x+ case-a$"));
    EXPECT_THAT(lines[2], ContainsRegex("\\.\\.\\.x+ case-b$"));
    EXPECT_THAT(lines[1], Not(HasSubstr(long_policy)));
  }
  // Without a width (--wide, or output that is not a terminal): whole.
  const auto wide = Lines(RenderRunList(runs, std::nullopt));
  EXPECT_THAT(wide[1], HasSubstr(runs[0].command));
  EXPECT_THAT(wide[1], HasSubstr(long_policy));
  EXPECT_THAT(wide[2], HasSubstr(runs[1].command));
}

TEST(TruncateMiddleTest, KeepsBothEndsOnCodePointBoundaries) {
  using report_text::TruncateMiddle;
  EXPECT_EQ(TruncateMiddle("short", 5), "short");
  EXPECT_EQ(TruncateMiddle("abcdefghij", 9), "abcd...ij");
  EXPECT_EQ(TruncateMiddle("abcdefghij", 4), "a...");
  EXPECT_EQ(TruncateMiddle("abcdefghij", 3), "...");
  EXPECT_EQ(TruncateMiddle("abcdefghij", 0), "");
  // Multi-byte code points count as one column and are never split.
  const std::string cut = TruncateMiddle("ééééééééé", 7);
  EXPECT_EQ(cut, "ééé...é");
  EXPECT_EQ(Columns(cut), 7u);
}

TEST(RenderRunDetailTest, ShowsHostEventsAndOutput) {
  const std::string text = RenderRunDetail(ViolationRun());
  // The summary comes first.
  EXPECT_THAT(text, HasSubstr("violation: connect is not allowed"));
  // Host facts.
  EXPECT_THAT(text, HasSubstr("6.1.0-18-amd64"));
  EXPECT_THAT(text, HasSubstr("vmx"));
  EXPECT_THAT(text, HasSubstr("/sys/fs/cgroup"));
  EXPECT_THAT(text, HasSubstr("missing         kvm: no /dev/kvm"));
  // Events, one per line.
  const auto lines = Lines(text);
  const auto line_with = [&lines](const std::string& needle) {
    for (const auto& line : lines) {
      if (line.find(needle) != std::string::npos) return line;
    }
    return std::string();
  };
  const std::string open = line_with("openat(");
  EXPECT_THAT(open, HasSubstr("0xffffff9c, 0x7ffd0000, 0x241, 0x1a4"));
  EXPECT_THAT(open, HasSubstr("\"/etc/shadow\""));
  EXPECT_THAT(open, HasSubstr("deny EACCES"));
  EXPECT_THAT(open, HasSubstr("files.read.else"));
  const std::string fault = line_with("fault ");
  EXPECT_THAT(fault, HasSubstr("cpuid"));
  EXPECT_THAT(fault, HasSubstr("0x401000"));
  EXPECT_THAT(fault, HasSubstr("0f a2"));
  EXPECT_THAT(fault, HasSubstr("emulate"));
  EXPECT_THAT(line_with("signal SIGUSR1"), HasSubstr("(10)"));
  EXPECT_THAT(line_with("limit memory"), HasSubstr("peak 64 MiB"));
  EXPECT_THAT(line_with("exit:"), HasSubstr("killed by SIGSYS"));
  // Output, marked truncated, with control bytes made visible.
  EXPECT_THAT(text, HasSubstr("hello\n"));
  EXPECT_THAT(text, HasSubstr("truncated"));
  EXPECT_THAT(text, HasSubstr("warn \\x1b[31mred"));
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
}

// RDTSC trapping: available, missing with why, or n/a for a run recorded
// before it was probed (not "missing"). Warnings show in the summary.
TEST(RenderRunDetailTest, RdtscTrappingAndWarnings) {
  RunResult r = ViolationRun();
  EXPECT_THAT(RenderRunDetail(r),
              HasSubstr("n/a             rdtsc-trapping: not recorded"));
  EXPECT_THAT(RenderRunSummary(r), Not(HasSubstr("warning")));
  r.host.rdtsc_trapping = Feature{false, "RDTSC still runs"};
  r.warnings = {
      "rdtsc: not trappable on this host; the policy's "
      "`rdtsc: emulate` is not applied"};
  EXPECT_THAT(RenderRunDetail(r),
              HasSubstr("missing         rdtsc-trapping: RDTSC still runs"));
  EXPECT_THAT(RenderRunSummary(r),
              HasSubstr("  warning   rdtsc: not trappable on this host; the "
                        "policy's `rdtsc: emulate` is not applied\n"));
  r.host.rdtsc_trapping = Feature{true, "traps"};
  const std::string text = RenderRunDetail(r);
  EXPECT_THAT(text, HasSubstr("rdtsc-trapping"));
  EXPECT_THAT(text, Not(HasSubstr("missing         rdtsc-trapping")));
  EXPECT_THAT(text, Not(HasSubstr("n/a             rdtsc-trapping")));
}

TEST(RenderRunDetailTest, EmptyRunSaysSo) {
  const std::string text = RenderRunDetail(RunResult{});
  EXPECT_THAT(text, HasSubstr("Events (0 recorded)"));
  EXPECT_THAT(text, HasSubstr("(none)"));
  EXPECT_THAT(text, HasSubstr("stdout: (empty)"));
}

// The tables of denied calls and signals, or n/a for a run recorded before
// isoscope counted them (never "none", which would be a claim).
TEST(RenderRunDetailTest, DenialAndSignalTablesOrNa) {
  RunResult r = ViolationRun();
  r.denials = std::vector<DenialCount>{
      {Abi::kX86_64, 117, "syscalls.default", Action::kDeny, ENOSYS, 2},
      {Abi::kI386, 20, "syscalls.abi.i386", Action::kKill, 0, 1}};
  r.signal_counts =
      std::vector<SignalCount>{{SIGCHLD, Action::kDeliver, 23874}};
  std::string text = RenderRunDetail(r);
  EXPECT_THAT(text, HasSubstr("Denied and killed syscalls (2 kinds, 3 calls)"));
  EXPECT_THAT(text, HasSubstr("  setresuid  x2       deny ENOSYS "
                              "[syscalls.default]\n"));
  EXPECT_THAT(text, HasSubstr("  i386:#20   x1       kill "
                              "[syscalls.abi.i386]\n"));
  EXPECT_THAT(text, HasSubstr("SIGCHLD    x23874   deliver"));
  r.denials = std::nullopt;
  r.signal_counts = std::nullopt;
  text = RenderRunDetail(r);
  EXPECT_THAT(text, HasSubstr("Denied and killed syscalls: n/a"));
  EXPECT_THAT(text, HasSubstr("Signals and faults: n/a"));
}

// A run that kept only the first events of a kind says so, with the table
// of kinds and their exact counts; one that kept them all reads as before.
TEST(RenderRunDetailTest, EventsKeptOfEachKindOrAll) {
  RunResult r = ViolationRun();
  r.event_counts = std::vector<EventCount>{
      {"syscall openat", "deny", "files.read.else", 1, 1},
      {"fault cpuid", "emulate", "faults.cpuid", 1, 1},
      {"signal SIGUSR1", "", "", 1, 1},
      {"limit memory", "", "", 1, 1},
      {"exit", "", "", 1, 1}};
  r.counters.events_dropped = 0;
  EXPECT_THAT(RenderRunSummary(r), HasSubstr("  events    5 recorded\n"));
  EXPECT_THAT(RenderRunDetail(r), Not(HasSubstr("Event kinds")));

  // Streamed to the store and not read back: the counts still say it.
  RunResult streamed = r;
  streamed.events.clear();
  EXPECT_EQ(RenderRunSummary(streamed), RenderRunSummary(r));

  r.event_counts->push_back(
      {"syscall getppid", "log", "log-getppid", 200000, kEventsKeptPerKind});
  r.counters.events_dropped = 200000 - kEventsKeptPerKind;
  EXPECT_THAT(RenderRunSummary(r),
              HasSubstr("  events    10005 recorded of 200005: the first "
                        "of each kind, at most 100000 in all; every kind "
                        "counted\n"));
  const std::string text = RenderRunDetail(r);
  EXPECT_THAT(text, HasSubstr("Event kinds (6 kinds; counts exact; kept: the "
                              "first 10000 of each, of denials 8 with "
                              "distinct paths, of signals and faults 3)\n"));
  EXPECT_THAT(text, HasSubstr("  syscall getppid  x200000  kept 10000   log "
                              "[log-getppid]\n"));
  EXPECT_THAT(text, HasSubstr("  exit             x1       kept 1\n"));
}

RunResult FailedRun(std::vector<DenialCount> denials) {
  RunResult r;
  r.id = 7;
  r.termination.outcome = Outcome::kExited;
  r.termination.exit_code = 2;
  r.denials = std::move(denials);
  return r;
}

DenialCount Denied(int number, const char* rule, uint64_t count) {
  return DenialCount{Abi::kX86_64, number, rule, Action::kDeny, EPERM, count};
}

TEST(RenderFailureLineTest, NamesTheDenialsMostFrequentFirst) {
  EXPECT_EQ(RenderFailureLine(FailedRun({Denied(257, "files.else", 1),
                                         Denied(117, "syscalls.default", 2)})),
            "isoscope: denied: setresuid x2 [syscalls.default], openat x1 "
            "[files.else] (isoscope runs show 7)\n");
  // The top three, then how many more kinds.
  EXPECT_EQ(RenderFailureLine(FailedRun({Denied(1, "a", 1), Denied(2, "b", 5),
                                         Denied(3, "c", 3), Denied(4, "d", 4),
                                         Denied(5, "e", 1)})),
            "isoscope: denied: open x5 [b], stat x4 [d], close x3 [c] +2 more "
            "(isoscope runs show 7)\n");
}

TEST(RenderFailureLineTest, OnlyForAFailureWithSomethingToName) {
  RunResult ok = FailedRun({Denied(117, "syscalls.default", 2)});
  ok.termination.exit_code = 0;
  EXPECT_EQ(RenderFailureLine(ok), "");
  EXPECT_EQ(RenderFailureLine(FailedRun({})), "");
  RunResult old = FailedRun({});
  old.denials = std::nullopt;
  EXPECT_EQ(RenderFailureLine(old), "");
  RunResult died = FailedRun({Denied(117, "syscalls.default", 1)});
  died.termination.outcome = Outcome::kSignaled;
  died.termination.signal = SIGSEGV;
  EXPECT_THAT(RenderFailureLine(died), HasSubstr("setresuid x1"));
}

// When isoscope killed the workload, the line says which rule did (the kill
// itself is not listed again among the denials).
TEST(RenderFailureLineTest, AKillSaysWhichRule) {
  RunResult r = FailedRun(
      {Denied(117, "syscalls.default", 2),
       DenialCount{Abi::kX86_64, 101, "escape", Action::kKill, 0, 1}});
  r.termination.outcome = Outcome::kViolation;
  r.termination.signal = SIGKILL;
  r.termination.rule_id = "escape";
  r.termination.reason = "syscall ptrace (101) killed by rule 'escape'";
  EXPECT_EQ(RenderFailureLine(r),
            "isoscope: syscall ptrace (101) killed by rule 'escape'; denied: "
            "setresuid x2 [syscalls.default] (isoscope runs show 7)\n");
  r.denials->erase(r.denials->begin());
  r.id = 0;  // not recorded
  EXPECT_EQ(RenderFailureLine(r),
            "isoscope: syscall ptrace (101) killed by rule 'escape'\n");
}

}  // namespace
}  // namespace isoscope
