#include "reports/sensitive_table.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reports/probe_matrix.h"

namespace isoscope {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

ProbeFinding Finding(const std::string& instruction, const std::string& backend,
                     const std::string& verdict, const std::string& detail,
                     int64_t run_id = 1) {
  return ProbeFinding{"sensitive." + instruction,
                      backend,
                      verdict,
                      detail,
                      false,
                      run_id,
                      Outcome::kExited};
}

// What this host's four backends report, as the runner records it.
ProbeSession FourBackends() {
  ProbeSession s;
  s.id = 3;
  s.policy_name = "permissive";
  s.backends = {"native", "ptrace", "container", "kvm"};
  for (const std::string b : {"native", "ptrace", "container"}) {
    s.findings.push_back(Finding(
        "popf-if", b, "REACHABLE",
        "value=ignored cpl=3 effect=ignored if=1->1 (asked 0) trapped=none"));
    s.findings.push_back(Finding(
        "sgdt", b, "REACHABLE",
        "value=0xfffffffffffe0000/0x0 cpl=3 umip=emulated trapped=none"));
    s.findings.push_back(
        Finding("cs", b, "REACHABLE", "value=0x33 cpl=3 trapped=none"));
  }
  s.findings.push_back(Finding(
      "popf-if", "kvm", "REACHABLE",
      "value=changed cpl=0 effect=changed if=0->1 (asked 1) trapped=none"));
  s.findings.push_back(Finding("sgdt", "kvm", "REACHABLE",
                               "value=0x14000/0x27 cpl=0 trapped=none"));
  s.findings.push_back(
      Finding("cs", "kvm", "REACHABLE", "value=0x8 cpl=0 trapped=none"));
  // rdtscp: native reads the host's CPU number; ptrace traps and emulates
  // it; kvm cannot run it at all and ends; container faults.
  s.findings.push_back(Finding("rdtscp", "native", "REACHABLE",
                               "value=cpunode cpl=3 trapped=none"));
  s.findings.push_back(Finding("rdtscp", "ptrace", "REACHABLE",
                               "value=0x0 cpl=3 trapped=rdtscp:emulate"));
  s.findings.push_back(Finding("rdtscp", "container", "BLOCKED",
                               "signal=11 (SIGSEGV) code=128 cpl=3 "
                               "trapped=none"));
  s.findings.push_back(Finding("rdtscp", "kvm", "ERROR",
                               "killed by signal 4 (SIGILL) before reporting "
                               "trapped=rdtscp:report"));
  return s;
}

const SensitiveRow& RowOf(const std::vector<SensitiveRow>& rows,
                          const std::string& instruction) {
  for (const SensitiveRow& row : rows) {
    if (row.instruction == instruction) return row;
  }
  static const SensitiveRow kNone;
  ADD_FAILURE() << "no row " << instruction;
  return kNone;
}

std::vector<SensitiveClass> Classes(const SensitiveRow& row) {
  std::vector<SensitiveClass> classes;
  for (const SensitiveCell& c : row.cells) classes.push_back(c.cls);
  return classes;
}

TEST(SensitiveTableTest, OneRowPerInstructionOneCellPerBackendInOrder) {
  const auto rows = BuildSensitiveTable(FourBackends());
  ASSERT_EQ(rows.size(), 4U);
  EXPECT_EQ(rows[0].instruction, "popf-if");
  EXPECT_EQ(rows[3].instruction, "rdtscp");
  for (const SensitiveRow& row : rows) {
    ASSERT_EQ(row.cells.size(), 4U);
    EXPECT_EQ(row.cells[0].backend, "native");
    EXPECT_EQ(row.cells[3].backend, "kvm");
    EXPECT_FALSE(row.why.empty()) << row.instruction;
  }
}

TEST(SensitiveTableTest, PopfIgnoredAtCpl3ChangesTheVirtualFlagInTheGuest) {
  const auto rows = BuildSensitiveTable(FourBackends());
  const SensitiveRow& popf = RowOf(rows, "popf-if");
  EXPECT_THAT(Classes(popf),
              ElementsAre(SensitiveClass::kIgnored, SensitiveClass::kIgnored,
                          SensitiveClass::kIgnored, SensitiveClass::kVirtual));
  EXPECT_THAT(popf.tells, ElementsAre("kvm"));
  EXPECT_EQ(popf.inference,
            "yes: kvm sees changed; a host process sees ignored");
}

TEST(SensitiveTableTest, UmipEmulationIsTheKernelsAndTheGuestSeesTheVmmsGdt) {
  const auto rows = BuildSensitiveTable(FourBackends());
  const SensitiveRow& sgdt = RowOf(rows, "sgdt");
  EXPECT_THAT(Classes(sgdt),
              ElementsAre(SensitiveClass::kKernel, SensitiveClass::kKernel,
                          SensitiveClass::kKernel, SensitiveClass::kVirtual));
  EXPECT_EQ(sgdt.cells[3].seen, "0x14000/0x27");
}

TEST(SensitiveTableTest, SameValueAsNativeIsTheHostsOwnDifferentIsVirtual) {
  const auto rows = BuildSensitiveTable(FourBackends());
  const SensitiveRow& cs = RowOf(rows, "cs");
  EXPECT_THAT(
      Classes(cs),
      ElementsAre(SensitiveClass::kHostValue, SensitiveClass::kHostValue,
                  SensitiveClass::kHostValue, SensitiveClass::kVirtual));
  EXPECT_THAT(cs.tells, ElementsAre("kvm"));
  EXPECT_TRUE(cs.compared);
}

TEST(SensitiveTableTest, TrapRecordsOutrankValuesSignalsAndEndings) {
  const auto rows = BuildSensitiveTable(FourBackends());
  const SensitiveRow& rdtscp = RowOf(rows, "rdtscp");
  EXPECT_THAT(Classes(rdtscp),
              ElementsAre(SensitiveClass::kHostValue, SensitiveClass::kTrapped,
                          SensitiveClass::kFaults, SensitiveClass::kTrapped));
  EXPECT_EQ(rdtscp.cells[1].trapped, "rdtscp:emulate");
  EXPECT_EQ(rdtscp.cells[1].seen, "0x0");
  EXPECT_EQ(rdtscp.cells[2].seen, "SIGSEGV");
  EXPECT_EQ(rdtscp.cells[3].seen, "ended");
  EXPECT_THAT(rdtscp.tells, ElementsAre("ptrace", "container", "kvm"));
}

// A value equal to native's is still a trap when isoscope intercepted it:
// the record decides, not the value.
TEST(SensitiveTableTest, ATrappedInstructionWithTheHostsValueIsATrap) {
  ProbeSession s;
  s.backends = {"native", "ptrace"};
  s.findings = {Finding("cpuid-1", "native", "REACHABLE",
                        "value=0x1/0x2/0x3/0x4 cpl=3 trapped=none"),
                Finding("cpuid-1", "ptrace", "REACHABLE",
                        "value=0x1/0x2/0x3/0x4 cpl=3 trapped=cpuid:emulate")};
  const auto rows = BuildSensitiveTable(s);
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_THAT(Classes(rows[0]), ElementsAre(SensitiveClass::kHostValue,
                                            SensitiveClass::kTrapped));
  EXPECT_THAT(rows[0].tells, IsEmpty());
  EXPECT_THAT(rows[0].inference, HasSubstr("no: every backend sees"));
}

TEST(SensitiveTableTest, AbsentUnavailableAndUncomparedCells) {
  ProbeSession s;
  s.backends = {"ptrace", "kvm"};
  s.findings = {
      Finding("rdpid", "ptrace", "REACHABLE",
              "value=cpunode cpl=3 trapped=none"),
      Finding("rdpid", "kvm", "NA",
              "absent=cpuid-7-ecx-22-clear cpl=0 trapped=none"),
      ProbeFinding{"sensitive.xgetbv", "ptrace", "NA",
                   "backend unavailable: no", false, 0, std::nullopt},
  };
  const auto rows = BuildSensitiveTable(s);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_THAT(Classes(rows[0]), ElementsAre(SensitiveClass::kUncompared,
                                            SensitiveClass::kAbsent));
  EXPECT_FALSE(rows[0].compared);
  EXPECT_THAT(rows[0].inference, HasSubstr("n/a"));
  EXPECT_THAT(Classes(rows[1]),
              ElementsAre(SensitiveClass::kNotRun, SensitiveClass::kNotRun));
}

TEST(SensitiveTableTest, OtherFindingsMakeNoRows) {
  ProbeSession s;
  s.backends = {"native"};
  s.findings = {{"fault-map.hlt", "native", "BLOCKED", "signal=11", false, 1,
                 Outcome::kExited}};
  EXPECT_THAT(BuildSensitiveTable(s), IsEmpty());
  EXPECT_THAT(SensitiveVerdict({}, s.backends), IsEmpty());
}

TEST(SensitiveTableTest, TheVerdictSaysWhatRanUntrappedAndWhoTrappedWhat) {
  const ProbeSession s = FourBackends();
  const auto sentences = SensitiveVerdict(BuildSensitiveTable(s), s.backends);
  std::string all;
  for (const std::string& sentence : sentences) all += sentence + "\n";
  EXPECT_THAT(all, HasSubstr("Popek and Goldberg"));
  EXPECT_THAT(all, HasSubstr("a plain host process at CPL 3 ran 4 of these 4 "
                             "instructions without a signal (cs, rdtscp, "
                             "popf-if, sgdt)"));
  EXPECT_THAT(all, HasSubstr("not classically virtualizable"));
  EXPECT_THAT(all, HasSubstr("On ptrace the workload runs at CPL 3: isoscope "
                             "intercepted 1 of 4 (rdtscp)"));
  EXPECT_THAT(all, HasSubstr("; UMIP made 1 of them fault, and the host kernel "
                             "answered with made-up values (sgdt)."));
  EXPECT_THAT(all, HasSubstr("On kvm the workload runs at CPL 0"));
  EXPECT_THAT(all, HasSubstr("that of the virtual CPU (popf-if, sgdt, cs)"));
  // Which instructions trap-and-emulate from ptrace can reach at all, and
  // what happened to the one it can here.
  EXPECT_THAT(all, HasSubstr("What trap-and-emulate from a ptrace monitor can "
                             "reach"));
  EXPECT_THAT(all, HasSubstr("(here rdtscp trapped and was emulated)"));
  EXPECT_THAT(all, HasSubstr("Linux answers them inside the kernel"));
}

TEST(SensitiveTableTest, PtracesReachSaysWhenRdtscpRanUntrapped) {
  ProbeSession s = FourBackends();
  for (ProbeFinding& f : s.findings) {
    if (f.backend == "ptrace" && f.probe_id.ends_with("rdtscp")) {
      f.detail = "value=cpunode";
    }
  }
  std::string all;
  for (const std::string& sentence :
       SensitiveVerdict(BuildSensitiveTable(s), s.backends)) {
    all += sentence + "\n";
  }
  EXPECT_THAT(all, HasSubstr("here rdtscp ran untrapped"));
  EXPECT_THAT(all, Not(HasSubstr("here rdtscp trapped")));
}

TEST(SensitiveTableTest, NoPtraceColumnNoReachSentence) {
  ProbeSession s = FourBackends();
  s.backends = {"native", "container", "kvm"};
  for (const std::string& sentence :
       SensitiveVerdict(BuildSensitiveTable(s), s.backends)) {
    EXPECT_THAT(sentence, Not(HasSubstr("ptrace monitor")));
  }
}

TEST(SensitiveTableTest, TheProbeMatrixShowsTheTableNotTheFindings) {
  const std::string text = RenderProbeMatrix(FourBackends());
  EXPECT_THAT(text, HasSubstr("Sensitive but unprivileged instructions"));
  EXPECT_THAT(text, HasSubstr("popf-if      ignored  ignored  ignored    "
                              "virtual  yes: kvm"));
  EXPECT_THAT(text, HasSubstr("ignored   silently ignored"));
  EXPECT_THAT(text, HasSubstr("cs: native, ptrace, container 0x33; kvm 0x8"));
  EXPECT_THAT(text, HasSubstr("In plain words:"));
  // Not matrix rows, nor listed as reachable.
  EXPECT_THAT(text, Not(HasSubstr("sensitive.cs")));
  for (const std::string& line : [&] {
         std::vector<std::string> lines;
         size_t start = 0;
         while (start < text.size()) {
           size_t end = text.find('\n', start);
           if (end == std::string::npos) end = text.size();
           lines.push_back(text.substr(start, end - start));
           start = end + 1;
         }
         return lines;
       }()) {
    EXPECT_LE(line.size(), 100U) << line;
  }
}

}  // namespace
}  // namespace isoscope
