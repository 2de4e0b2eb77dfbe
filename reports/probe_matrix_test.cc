#include "reports/probe_matrix.h"

#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace isoscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProbeSession TwoBackendSession() {
  ProbeSession s;
  s.id = 7;
  s.policy_name = "default";
  s.backends = {"native", "kvm"};
  s.findings = {
      {"secret-file", "native", "ESCAPED", "read 33 bytes", false, 1,
       Outcome::kExited},
      {"bpf", "native", "BLOCKED",
       "canary secret file read (probe said "
       "BLOCKED errno=EPERM)",
       false, 2, Outcome::kExited},
      {"fault-map.hlt", "native", "ERROR", "killed by signal 11 (SIGSEGV)",
       false, 3, Outcome::kSignaled},
      {"secret-file", "kvm", "NA", "backend unavailable: no /dev/kvm", false, 0,
       std::nullopt},
      {"bpf", "kvm", "NA", "backend unavailable: no /dev/kvm", false, 0,
       std::nullopt},
  };
  s.findings[1].verdict = "ESCAPED";
  s.findings[1].overridden = true;
  return s;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ProbeMatrixTest, RowsProbesColumnsBackendsAndOverridesMarked) {
  const std::string text = RenderProbeMatrix(TwoBackendSession());
  const auto lines = Lines(text);
  EXPECT_THAT(text, HasSubstr("policy default, session 7"));
  // Aligned: header and rows have the backends at the same columns.
  std::string header, secret, bpf, hlt;
  for (const auto& line : lines) {
    if (line.starts_with("probe ")) header = line;
    if (line.starts_with("secret-file ")) secret = line;
    if (line.starts_with("bpf ")) bpf = line;
    if (line.starts_with("fault-map.hlt ")) hlt = line;
  }
  ASSERT_FALSE(header.empty()) << text;
  EXPECT_EQ(header.find("native"), secret.find("ESCAPED"));
  EXPECT_EQ(header.find("kvm"), secret.find("NA"));
  EXPECT_EQ(bpf.find("ESCAPED*"), header.find("native"));
  EXPECT_THAT(hlt, HasSubstr("-"));  // no kvm finding for it
  EXPECT_THAT(text, HasSubstr("secret-file on native: ESCAPED read 33 bytes"));
  EXPECT_THAT(text, HasSubstr("bpf on native: ESCAPED* canary secret file"));
  EXPECT_THAT(text, HasSubstr("Errors:\n  fault-map.hlt on native: ERROR"));
  EXPECT_THAT(text,
              HasSubstr("unavailable on this host:\n  kvm: no /dev/kvm\n"));
  EXPECT_THAT(text, HasSubstr("*          a canary"));
}

TEST(ProbeMatrixTest, FitsOneHundredColumnsAndEscapesControlBytes) {
  ProbeSession s = TwoBackendSession();
  s.findings[0].detail = std::string(300, 'x') + "\x1b[31mred\n";
  s.findings.push_back({"a-very-long-probe-identifier-that-goes-on-and-on",
                        "native", "REACHABLE", "\x07", false, 4,
                        Outcome::kExited});
  const std::string text = RenderProbeMatrix(s);
  for (const auto& line : Lines(text)) {
    EXPECT_LE(line.size(), 100u) << line;
  }
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  EXPECT_THAT(text, Not(HasSubstr("\x07")));
  EXPECT_THAT(text, HasSubstr("\\x07"));
}

TEST(ProbeMatrixTest, InterruptedSessionSaysSo) {
  ProbeSession s = TwoBackendSession();
  s.interrupted = true;
  EXPECT_THAT(RenderProbeMatrix(s), HasSubstr("interrupted"));
}

}  // namespace
}  // namespace isoscope
