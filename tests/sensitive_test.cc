// The sensitive-instruction table measured on the real backends (issue 18):
// every case of the `sensitive` probe through the probe runner, then the
// values the design determines. A plain host process (native, ptrace,
// container) runs at CPL 3, where popf cannot clear IF and UMIP makes the
// host kernel answer sgdt; the kvm guest runs at CPL 0 of the VMM's VM,
// where popf changes the virtual IF and sgdt shows the VMM's own GDT.
#include <sched.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/builtin_backends.h"
#include "backends/kvm/guest_layout.h"
#include "base/temp_dir.h"
#include "policies/loader.h"
#include "reports/sensitive_table.h"
#include "supervisor/host_facts.h"
#include "supervisor/probe_runner.h"
#include "supervisor/store.h"
#include "tests/test_env.h"

namespace isoscope::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kHostProcesses = {"native", "ptrace",
                                                 "container"};

// The sensitive-instruction table of one probe session.
struct Measured {
  std::vector<SensitiveRow> rows;
  std::string error;  // why the session could not run
};

// Every case of `sensitive` on the available ones of `backends` under
// `preset`.
Measured Measure(const std::vector<std::string>& backends,
                 const std::string& preset) {
  Measured measured;
  auto dir = TempDir::Create("isoscope-sensitive-test-");
  if (!dir) return {{}, dir.error().ToString()};
  auto store = Store::Open(dir->path() / "runs.db");
  if (!store) return {{}, store.error().ToString()};
  auto policy = LoadPreset(preset);
  if (!policy) return {{}, policy.error().ToString()};
  BackendRegistry registry;
  RegisterBuiltinBackends(registry);
  ProbeOptions options;
  options.policy = std::make_shared<const Policy>(std::move(*policy));
  for (const std::string& backend : backends) {
    if (BackendUnavailable(backend).empty()) {
      options.backends.push_back(backend);
    }
  }
  for (const std::string& c : ProbeCases("sensitive")) {
    options.probes.push_back(
        ProbeSpec{"sensitive", BuiltWorkload("probes/sensitive"), {c}});
  }
  options.per_probe_timeout = std::chrono::milliseconds(30000);
  // The probe's tokens leave out what differs from CPU to CPU (sgdt's base
  // without UMIP, the CPU number in TSC_AUX); every workload still runs on
  // this one CPU (they inherit the affinity), so that what the details
  // hold beside the tokens was read on the same CPU too.
  cpu_set_t before;
  CPU_ZERO(&before);
  const bool pinned = ::sched_getaffinity(0, sizeof before, &before) == 0;
  if (pinned) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(::sched_getcpu(), &one);
    ::sched_setaffinity(0, sizeof one, &one);
  }
  ProbeRunner runner(registry, *store, std::move(options));
  auto session = runner.Run();
  if (pinned) ::sched_setaffinity(0, sizeof before, &before);
  if (!session) return {{}, session.error().ToString()};
  measured.rows = BuildSensitiveTable(*session);
  return measured;
}

// Measured once per test program (19 runs per backend).
const Measured& Permissive() {
  static const Measured measured =
      Measure({"native", "ptrace", "container", "kvm"}, "permissive");
  return measured;
}

const SensitiveCell* Find(const std::vector<SensitiveRow>& rows,
                          const std::string& instruction,
                          const std::string& backend) {
  for (const SensitiveRow& row : rows) {
    if (row.instruction != instruction) continue;
    for (const SensitiveCell& c : row.cells) {
      if (c.backend == backend) return &c;
    }
  }
  return nullptr;
}

std::string Cpl(const SensitiveCell& cell) {
  return std::string(DetailWord(cell.detail, "cpl").value_or("?"));
}

bool CpuHasUmip() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line);
    for (std::string word; words >> word;) {
      if (word == "umip") return true;
    }
    return false;
  }
  return false;
}

class SensitiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Permissive().error.empty()) << Permissive().error;
  }
  // The cell, or a skip naming why the backend could not run here.
  static const SensitiveCell* Cell(const std::string& instruction,
                                   const std::string& backend) {
    return Find(Permissive().rows, instruction, backend);
  }
};

#define SKIP_UNLESS_AVAILABLE(backend)                                      \
  do {                                                                      \
    const std::string why = BackendUnavailable(backend);                    \
    if (!why.empty()) GTEST_SKIP() << (backend) << " unavailable: " << why; \
  } while (0)

TEST_F(SensitiveTest, RingThreePopfClearingIfLeavesItSetOnHostProcesses) {
  for (const std::string& backend : kHostProcesses) {
    SKIP_UNLESS_AVAILABLE(backend);
    const SensitiveCell* popf = Cell("popf-if", backend);
    ASSERT_NE(popf, nullptr) << backend;
    EXPECT_EQ(popf->cls, SensitiveClass::kIgnored) << popf->detail;
    EXPECT_THAT(popf->detail, HasSubstr("if=1->1 (asked 0)")) << backend;
    const SensitiveCell* iopl = Cell("popf-iopl", backend);
    ASSERT_NE(iopl, nullptr) << backend;
    EXPECT_EQ(iopl->cls, SensitiveClass::kIgnored) << iopl->detail;
    const SensitiveCell* pushf = Cell("pushf", backend);
    ASSERT_NE(pushf, nullptr) << backend;
    EXPECT_EQ(pushf->seen, "if:1,iopl:0") << backend;
  }
}

TEST_F(SensitiveTest, CsLowBitsAreThreeOnHostProcesses) {
  for (const std::string& backend : kHostProcesses) {
    SKIP_UNLESS_AVAILABLE(backend);
    const SensitiveCell* cs = Cell("cs", backend);
    ASSERT_NE(cs, nullptr) << backend;
    EXPECT_EQ(cs->seen, "0x33") << backend;  // __USER_CS
    EXPECT_EQ(Cpl(*cs), "3") << backend;
    const SensitiveCell* ss = Cell("ss", backend);
    ASSERT_NE(ss, nullptr) << backend;
    EXPECT_EQ(ss->seen, "0x2b") << backend;  // __USER_DS
  }
}

// Nothing about the CPU differs in a container: every instruction gives
// native's answer (and none traps to isoscope).
TEST_F(SensitiveTest, AContainerChangesNothingTheCpuShows) {
  SKIP_UNLESS_AVAILABLE("native");
  SKIP_UNLESS_AVAILABLE("container");
  for (const SensitiveRow& row : Permissive().rows) {
    const SensitiveCell* native =
        Find(Permissive().rows, row.instruction, "native");
    const SensitiveCell* container =
        Find(Permissive().rows, row.instruction, "container");
    ASSERT_NE(native, nullptr);
    ASSERT_NE(container, nullptr);
    EXPECT_EQ(container->seen, native->seen) << row.instruction;
    EXPECT_EQ(container->cls, native->cls) << row.instruction;
    EXPECT_NE(container->cls, SensitiveClass::kTrapped) << row.instruction;
  }
}

TEST_F(SensitiveTest, UmipMakesTheHostKernelAnswerSgdtAndSidt) {
  if (!CpuHasUmip()) GTEST_SKIP() << "this CPU has no UMIP (/proc/cpuinfo)";
  for (const std::string& backend : kHostProcesses) {
    SKIP_UNLESS_AVAILABLE(backend);
    for (const std::string instruction :
         {"sgdt", "sidt", "sldt", "str", "smsw"}) {
      const SensitiveCell* c = Cell(instruction, backend);
      ASSERT_NE(c, nullptr) << backend << " " << instruction;
      EXPECT_EQ(c->cls, SensitiveClass::kKernel) << backend << " " << c->detail;
    }
    // Linux's made-up answers (arch/x86/kernel/umip.c): limit 0.
    EXPECT_EQ(Cell("sgdt", backend)->seen, "0xfffffffffffe0000/0x0");
    EXPECT_EQ(Cell("sidt", backend)->seen, "0xffffffffffff0000/0x0");
  }
}

TEST_F(SensitiveTest, TheKvmGuestRunsAtCplZeroWithTheVmmsTables) {
  SKIP_UNLESS_AVAILABLE("kvm");
  const SensitiveCell* cs = Cell("cs", "kvm");
  ASSERT_NE(cs, nullptr);
  EXPECT_EQ(cs->seen, fmt::format("{:#x}", kvm::kCodeSelector));
  EXPECT_EQ(Cpl(*cs), "0");
  EXPECT_EQ(Cell("ss", "kvm")->seen, fmt::format("{:#x}", kvm::kDataSelector));
  // popf at CPL 0 really changes IF and IOPL (of the virtual CPU).
  EXPECT_EQ(Cell("popf-if", "kvm")->seen, "changed");
  EXPECT_EQ(Cell("popf-if", "kvm")->cls, SensitiveClass::kVirtual);
  EXPECT_EQ(Cell("popf-iopl", "kvm")->seen, "changed");
  // The VMM's GDT (null, code, data, a 16-byte TSS), IDT (256 gates of 16
  // bytes) and TSS selector.
  EXPECT_EQ(Cell("sgdt", "kvm")->seen,
            fmt::format("{:#x}/0x27", kvm::kGdtAddress));
  EXPECT_EQ(Cell("sidt", "kvm")->seen,
            fmt::format("{:#x}/0xfff", kvm::kIdtAddress));
  EXPECT_EQ(Cell("str", "kvm")->seen, fmt::format("{:#x}", kvm::kTssSelector));
  EXPECT_EQ(Cell("sgdt", "kvm")->cls, SensitiveClass::kVirtual);
  // Nothing a probe did left the VMM unable to report: every case ran and
  // said something, or isoscope recorded why the run ended.
  for (const SensitiveRow& row : Permissive().rows) {
    const SensitiveCell* c = Find(Permissive().rows, row.instruction, "kvm");
    ASSERT_NE(c, nullptr) << row.instruction;
    EXPECT_NE(c->cls, SensitiveClass::kNotRun)
        << row.instruction << ": " << c->detail;
  }
}

// lar, lsl, verr and verw run in guest ring 0 where the hypervisor runs
// guest code natively; kvm_pvm's instruction emulator lacks them, and then
// the VMM records the failed emulation and ends the run, saying so.
TEST_F(SensitiveTest, DescriptorChecksRunInTheGuestOrEndTheRunSayingWhy) {
  SKIP_UNLESS_AVAILABLE("kvm");
  for (const std::string instruction : {"lar", "lsl", "verr", "verw"}) {
    const SensitiveCell* c = Cell(instruction, "kvm");
    ASSERT_NE(c, nullptr) << instruction;
    if (c->cls == SensitiveClass::kTrapped) {
      EXPECT_EQ(c->seen, "ended") << c->detail;
      EXPECT_EQ(c->trapped, instruction + ":report") << c->detail;
      EXPECT_THAT(c->detail, HasSubstr("does not implement it"));
      EXPECT_THAT(c->detail, Not(HasSubstr("SSE")));
    } else {
      EXPECT_EQ(c->cls, SensitiveClass::kVirtual) << c->detail;
      EXPECT_EQ(Cpl(*c), "0") << c->detail;
    }
  }
}

// Trap-and-emulate reaches what traps: with PR_SET_TSC rdtscp faults, and
// strict's `rdtsc: emulate` has isoscope answer it from its virtual clock
// (TSC_AUX 0, not the host's CPU number).
TEST(SensitiveStrictTest, PtraceTrapsAndEmulatesRdtscpWhereTheHostCanTrapIt) {
  const std::string why = BackendUnavailable("ptrace");
  if (!why.empty()) GTEST_SKIP() << "ptrace unavailable: " << why;
  const HostFacts host = ReadHostFacts();
  if (!host.rdtsc_trapping.has_value() || !host.rdtsc_trapping->available) {
    GTEST_SKIP() << "this host cannot trap RDTSC (PR_SET_TSC)";
  }
  const Measured strict = Measure({"native", "ptrace"}, "strict");
  ASSERT_TRUE(strict.error.empty()) << strict.error;
  const SensitiveCell* ptrace = Find(strict.rows, "rdtscp", "ptrace");
  ASSERT_NE(ptrace, nullptr);
  if (ptrace->seen == "absent") GTEST_SKIP() << "this CPU has no rdtscp";
  EXPECT_EQ(ptrace->cls, SensitiveClass::kTrapped) << ptrace->detail;
  EXPECT_EQ(ptrace->trapped, "rdtscp:emulate");
  // TSC_AUX 0 (the token reads `cpunode` when the probe ran on CPU 0,
  // whose number is 0 too).
  EXPECT_THAT(ptrace->detail, HasSubstr(" aux=0x0 ")) << ptrace->detail;
  // What it cannot reach: cpuid runs natively (CPUID faulting is reset at
  // exec), popf is ignored without a trap.
  EXPECT_EQ(Find(strict.rows, "cpuid-1", "ptrace")->cls,
            SensitiveClass::kHostValue);
  EXPECT_EQ(Find(strict.rows, "popf-if", "ptrace")->cls,
            SensitiveClass::kIgnored);
}

}  // namespace
}  // namespace isoscope::testing
