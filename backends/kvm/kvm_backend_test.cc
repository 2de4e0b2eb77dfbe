// The kvm backend driven by the real supervisor. Hostile guest programs
// (backends/kvm/test_guests/, each documents how its run must end) pass wild
// pointers and syscall numbers, touch unknown ports, halt, fault in every way
// an x86 CPU can, overflow the stack, wreck the structures exception delivery
// needs, map MMIO, exhaust memory and try to open files outside the view:
// each run must end with its precise outcome, every recorded decision must
// equal Decide, no run may leak a descriptor or a thread, and isoscope must
// still run an ordinary workload afterwards. Then the bench workloads give
// the same output as natively, and the limits (wall time, CPU time, memory,
// output), interrupts and start errors behave as on the other backends.
#include "backends/kvm/kvm_backend.h"

#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kvm/guest_layout.h"
#include "backends/native/native_backend.h"
#include "base/unique_fd.h"
#include "policies/decide.h"
#include "policies/loader.h"
#include "policies/syscalls.h"
#include "supervisor/host_facts.h"
#include "supervisor/supervisor.h"
#include "tests/backend_fixture.h"
#include "tests/recording_backend.h"
#include "tests/test_env.h"

namespace isoscope {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Guest RAM of the hostile runs: the policy's memory limit.
constexpr uint64_t kGuestRam = 64ULL << 20;
const std::string kRamArg = std::to_string(kGuestRam);

// Entries of a directory, "." and ".." excluded.
int CountEntries(const char* path) {
  DIR* dir = ::opendir(path);
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}
// Less the descriptor opendir itself holds while counting.
int CountFds() { return CountEntries("/proc/self/fd") - 1; }
int CountThreads() { return CountEntries("/proc/self/task"); }

std::string GuestProgram(const std::string& name) {
  return testing::BuiltWorkload("kvm-test-guests/" + name).string();
}

std::vector<FaultEvent> FaultsOf(const RunResult& result) {
  std::vector<FaultEvent> faults;
  for (const Event& event : result.events) {
    if (const auto* fault = std::get_if<FaultEvent>(&event)) {
      faults.push_back(*fault);
    }
  }
  return faults;
}

std::optional<ExitEvent> ExitOf(const RunResult& result) {
  if (result.events.empty()) return std::nullopt;
  if (const auto* exit = std::get_if<ExitEvent>(&result.events.back())) {
    return *exit;
  }
  return std::nullopt;
}

// The lines of `text`, without their newlines.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The value of the first "key=value" line, or nullopt.
std::optional<std::string> LineValue(const std::string& text,
                                     const std::string& key) {
  for (const std::string& line : Lines(text)) {
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  }
  return std::nullopt;
}

// The "site=0x..." a guest prints before its faulting instruction, or 0.
uint64_t SiteOf(const std::string& stdout_bytes) {
  auto site = LineValue(stdout_bytes, "site");
  return site ? std::stoull(*site, nullptr, 16) : 0;
}

// The value of `key=N` inside a line of space-separated pairs, or -1.
int64_t PairValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    if (word.rfind(key + "=", 0) == 0) {
      return std::stoll(word.substr(key.size() + 1));
    }
  }
  return -1;
}

std::string SignalText(int signal) {
  return fmt::format("SIG{}", ::sigabbrev_np(signal));
}

class KvmBackendTest : public testing::BackendFixture {
 protected:
  void SetUp() override {
    if (auto probe = KvmBackend().Probe(); !probe.available) {
      GTEST_SKIP() << "kvm backend unavailable: " << probe.reason;
    }
    MakeWorkdir("isoscope-kvmtest-");
  }

  // Everything allowed (other ABIs refused with ENOSYS, so the guest goes
  // on), faults at their defaults except that a privileged instruction is
  // reported (`faults` replaces that), 64 MiB of guest RAM, a wall-time
  // limit as a safety net, only the workdir visible.
  std::shared_ptr<const Policy> HostilePolicy(
      const std::string& faults = "privileged_instruction: report",
      const std::string& resources = "memory: 64MiB, wall_time: 5s") const {
    return PolicyFrom(fmt::format(R"(version: 1
syscalls:
  default: allow
  abi:
    i386: {{action: deny, errno: ENOSYS}}
    x32: {{action: deny, errno: ENOSYS}}
faults: {{{}}}
resources: {{{}}}
filesystem:
  writable: ["{{workdir}}"]
)",
                                  faults, resources));
  }

  Workload Guest(const std::string& name,
                 std::vector<std::string> args = {}) const {
    return Program(GuestProgram(name), std::move(args));
  }

  // Runs `workload` on a fresh kvm backend through the supervisor; checks
  // that the run (backend destroyed) left no descriptor behind and that
  // every decision it recorded equals Decide.
  Result<RunResult> Run(const std::shared_ptr<const Policy>& policy,
                        const Workload& workload,
                        SupervisorOptions options = {}) {
    const int fds_before = CountFds();
    Result<RunResult> result;
    std::vector<std::pair<SyscallRequest, Verdict>> decided;
    {
      options.host_facts = HostFacts{};
      KvmBackend kvm;
      testing::RecordingBackend recording(kvm);
      result = Supervisor(policy, options).Run(recording, workload);
      decided = std::move(recording.resolved);
    }
    EXPECT_EQ(CountFds(), fds_before)
        << "descriptors leaked by a run of " << workload.argv[0];
    if (result) {
      for (const SyscallEvent& event : SyscallEvents(*result)) {
        EXPECT_TRUE(event.verdict.has_value());
        if (event.verdict && event.decided_by == DecidedBy::kKernelFilter) {
          decided.emplace_back(event.request, *event.verdict);
        }
      }
      for (const auto& [request, verdict] : decided) {
        Verdict expected = Decide(*policy, request);
        EXPECT_EQ(verdict.action, expected.action)
            << SyscallName(request.number) << " (" << request.number << ")";
        EXPECT_EQ(verdict.rule_id, expected.rule_id)
            << SyscallName(request.number) << " (" << request.number << ")";
      }
      decisions_checked_ += decided.size();
    }
    return result;
  }

  size_t decisions_checked_ = 0;
};

// --- Faults ------------------------------------------------------------------

struct FaultCase {
  std::string program;
  std::vector<std::string> args;
  FaultKind kind;
  int signal;
  std::string mnemonic;  // checked when not empty
  // The fault's address (cr2, or the MMIO address) lies in [low, high).
  std::optional<std::pair<uint64_t, uint64_t>> address;
  bool has_site = true;  // the guest prints the faulting instruction's rip
};

// gtest prints a failing parameter with this (not as raw bytes).
void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.program; }

std::string FaultCaseName(const ::testing::TestParamInfo<FaultCase>& info) {
  std::string name = info.param.program;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::pair<uint64_t, uint64_t> Exactly(uint64_t address) {
  return {address, address + 1};
}

const kvm::StackRegion kStack = kvm::StackRegionFor(kGuestRam);

const FaultCase kFaultCases[] = {
    {"bad-port", {}, FaultKind::kPrivilegedInstruction, SIGSEGV, "out", {}},
    {"in-port", {}, FaultKind::kPrivilegedInstruction, SIGSEGV, "in", {}},
    {"hlt", {}, FaultKind::kPrivilegedInstruction, SIGSEGV, "hlt", {}},
    {"null-deref", {}, FaultKind::kPageFault, SIGSEGV, "", Exactly(0)},
    {"wild-deref", {}, FaultKind::kPageFault, SIGSEGV, "", Exactly(1ULL << 40)},
    {"ud2", {}, FaultKind::kInvalidInstruction, SIGILL, "", {}},
    {"int3", {}, FaultKind::kBreakpoint, SIGTRAP, "", {}},
    {"divide-by-zero", {}, FaultKind::kArithmetic, SIGFPE, "", {}},
    {"rsp-wild", {}, FaultKind::kInvalidInstruction, SIGILL, "", {}},
    {"stack-overflow",
     {},
     FaultKind::kPageFault,
     SIGSEGV,
     "",
     std::pair{kStack.guard_bottom, kStack.bottom},
     false},
    {"mmio",
     {kRamArg},
     FaultKind::kPageFault,
     SIGSEGV,
     "",
     Exactly(0x1000000000ULL)},
};

class KvmFaultTest : public KvmBackendTest,
                     public ::testing::WithParamInterface<FaultCase> {};

// Reported (privileged instructions) or delivered with no handler (the
// rest): one fault event at the instruction the guest printed, then the
// signal Linux would send.
TEST_P(KvmFaultTest, EndsWithThePreciseFaultAndSignal) {
  const FaultCase& c = GetParam();
  auto result = Run(HostilePolicy(), Guest(c.program, c.args));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_EQ(result->termination.outcome, Outcome::kSignaled)
      << result->termination.reason << "\n"
      << out;
  EXPECT_EQ(result->termination.signal, c.signal);
  EXPECT_THAT(result->termination.reason, HasSubstr(SignalText(c.signal)));
  EXPECT_THAT(out, Not(HasSubstr("survived")));

  std::vector<FaultEvent> faults = FaultsOf(*result);
  ASSERT_EQ(faults.size(), 1u) << out;
  const FaultEvent& fault = faults[0];
  EXPECT_EQ(fault.kind, c.kind) << FaultKindName(fault.kind);
  EXPECT_NE(fault.rip, 0u);
  if (c.has_site) {
    uint64_t site = SiteOf(out);
    ASSERT_NE(site, 0u) << out;
    EXPECT_EQ(fault.rip, site)
        << fmt::format("rip 0x{:x}, site 0x{:x}", fault.rip, site);
  }
  if (!c.mnemonic.empty()) {
    EXPECT_EQ(fault.mnemonic, c.mnemonic);
  }
  if (c.address) {
    EXPECT_GE(fault.address, c.address->first)
        << fmt::format("0x{:x}", fault.address);
    EXPECT_LT(fault.address, c.address->second)
        << fmt::format("0x{:x}", fault.address);
  }
  ASSERT_TRUE(fault.verdict.has_value());
  EXPECT_EQ(fault.verdict->rule_id,
            fmt::format("faults.{}", FaultKindName(c.kind)));

  std::optional<ExitEvent> exit = ExitOf(*result);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->signaled);
  EXPECT_EQ(exit->signal, c.signal);
}

INSTANTIATE_TEST_SUITE_P(Guests, KvmFaultTest, ::testing::ValuesIn(kFaultCases),
                         FaultCaseName);

// A `kill` fault rule turns the same faults into violations naming the rule.
// Every guest syscall exits to the VMM, so the plan's denials are decided
// and counted there like any other call.
TEST_F(KvmBackendTest, DenialsAreCountedWithTheirRule) {
  auto result = Run(
      DenyByDefaultPolicy(),
      Program(testing::BuiltWorkload("bench/syscall-storm").string(), {"500"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ExpectGetppidDenialsCounted(*result, 500);
}

TEST_F(KvmBackendTest, FaultKillRulesEndTheRunAsViolations) {
  struct Case {
    std::string program;
    std::string faults;
    std::string rule;
    std::string mnemonic;
  };
  const Case cases[] = {
      {"bad-port", "privileged_instruction: kill",
       "faults.privileged_instruction", "out"},
      {"in-port", "privileged_instruction: kill",
       "faults.privileged_instruction", "in"},
      {"hlt", "privileged_instruction: kill", "faults.privileged_instruction",
       "hlt"},
      {"null-deref", "page_fault: kill", "faults.page_fault", ""},
      {"ud2", "invalid_instruction: kill", "faults.invalid_instruction", ""},
      {"int3", "breakpoint: kill", "faults.breakpoint", ""},
      {"divide-by-zero", "arithmetic: kill", "faults.arithmetic", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.program);
    auto result = Run(HostilePolicy(c.faults), Guest(c.program));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(result->termination.outcome, Outcome::kViolation)
        << result->termination.reason;
    EXPECT_EQ(result->termination.rule_id, c.rule);
    if (!c.mnemonic.empty()) {
      EXPECT_THAT(result->termination.reason, HasSubstr(c.mnemonic));
    }
    std::vector<FaultEvent> faults = FaultsOf(*result);
    ASSERT_EQ(faults.size(), 1u);
    ASSERT_TRUE(faults[0].verdict.has_value());
    EXPECT_EQ(faults[0].verdict->action.action, Action::kKill);
    EXPECT_EQ(faults[0].rip, SiteOf(result->output.stdout_bytes));
    EXPECT_THAT(result->output.stdout_bytes, Not(HasSubstr("survived")));
  }
}

// lidt of an empty IDT, then ud2: nothing can be delivered, the vCPU shuts
// down. No fault event (no stub ran); the exit says what happened.
TEST_F(KvmBackendTest, TripleFaultEndsAsSigsegvWithItsDetail) {
  auto result = Run(HostilePolicy(), Guest("triple-fault"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->output.stdout_bytes, "loading an empty IDT\n");
  EXPECT_EQ(result->termination.outcome, Outcome::kSignaled)
      << result->termination.reason;
  EXPECT_EQ(result->termination.signal, SIGSEGV);
  EXPECT_THAT(result->termination.reason, HasSubstr("triple fault"));
  EXPECT_TRUE(FaultsOf(*result).empty());
  std::optional<ExitEvent> exit = ExitOf(*result);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->signaled);
  EXPECT_EQ(exit->signal, SIGSEGV);
  EXPECT_THAT(exit->detail, HasSubstr("triple fault"));
}

// Under a software hypervisor SSE cannot be emulated: an invalid-instruction
// fault with the instruction's bytes, then SIGILL whose detail says to build
// without SSE. With hardware virtualization the instruction just runs.
TEST_F(KvmBackendTest, SseInstructionIsReportedWithItsBytesAndAHint) {
  auto result = Run(HostilePolicy(), Guest("sse"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  if (ReadHostFacts().virtualization != VirtualizationKind::kPvm) {
    EXPECT_EQ(result->termination.outcome, Outcome::kExited);
    EXPECT_EQ(result->termination.exit_code, 20);
    EXPECT_THAT(out, HasSubstr("RESULT ran\n"));
    return;
  }
  EXPECT_EQ(result->termination.outcome, Outcome::kSignaled)
      << result->termination.reason;
  EXPECT_EQ(result->termination.signal, SIGILL);
  EXPECT_THAT(result->termination.reason, HasSubstr("SSE"));
  std::vector<FaultEvent> faults = FaultsOf(*result);
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].kind, FaultKind::kInvalidInstruction);
  EXPECT_EQ(faults[0].rip, SiteOf(out));
  const std::vector<uint8_t> pxor = {0x66, 0x0f, 0xef, 0xc0};
  ASSERT_GE(faults[0].bytes.size(), pxor.size());
  EXPECT_TRUE(std::equal(pxor.begin(), pxor.end(), faults[0].bytes.begin()));
  std::optional<ExitEvent> exit = ExitOf(*result);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGILL);
  EXPECT_THAT(exit->detail, HasSubstr("SSE"));
  EXPECT_THAT(out, Not(HasSubstr("RESULT ran")));

  // And a kill rule for invalid instructions makes it a violation.
  auto killed = Run(HostilePolicy("invalid_instruction: kill"), Guest("sse"));
  ASSERT_TRUE(killed.has_value()) << killed.error().ToString();
  EXPECT_EQ(killed->termination.outcome, Outcome::kViolation);
  EXPECT_EQ(killed->termination.rule_id, "faults.invalid_instruction");
}

// Wrecked TSS or IDT: delivery is impossible, a triple fault (or, if the
// VMM write-protects those tables, a page fault on the write). A
// scribbled-over exception stack is rebuilt by the CPU: a precise #UD.
TEST_F(KvmBackendTest, CorruptedExceptionStructuresEndPrecisely) {
  for (const std::string mode : {"tss", "idt"}) {
    SCOPED_TRACE(mode);
    auto result = Run(HostilePolicy(), Guest("corrupt-ist", {mode}));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    const std::string& out = result->output.stdout_bytes;
    EXPECT_EQ(result->termination.outcome, Outcome::kSignaled)
        << result->termination.reason << "\n"
        << out;
    EXPECT_EQ(result->termination.signal, SIGSEGV);
    EXPECT_THAT(out, Not(HasSubstr("survived")));
    std::vector<FaultEvent> faults = FaultsOf(*result);
    if (faults.empty()) {
      EXPECT_THAT(out, HasSubstr("corrupted " + mode));
      EXPECT_THAT(result->termination.reason, HasSubstr("triple fault"));
    } else {
      // The table was write-protected: the write itself faulted.
      ASSERT_EQ(faults.size(), 1u);
      EXPECT_EQ(faults[0].kind, FaultKind::kPageFault);
      EXPECT_THAT(out, Not(HasSubstr("corrupted")));
    }
  }
  auto result = Run(HostilePolicy(), Guest("corrupt-ist", {"stack"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_THAT(out, HasSubstr("corrupted stack\n"));
  EXPECT_EQ(result->termination.outcome, Outcome::kSignaled)
      << result->termination.reason << "\n"
      << out;
  EXPECT_EQ(result->termination.signal, SIGILL);
  std::vector<FaultEvent> faults = FaultsOf(*result);
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].kind, FaultKind::kInvalidInstruction);
  EXPECT_EQ(faults[0].rip, SiteOf(out));
}

// A zeroed GDT: the #UD's gate names a null code segment. Hardware shuts
// down (triple fault); kvm_pvm instead retries the delivery in the host
// kernel for ever (measured: all of the vCPU's time is system time) and no
// exit reaches the VMM: there the run's time limit is what ends it.
TEST_F(KvmBackendTest, ZeroedGdtEndsAsTripleFaultOrAtTheTimeLimit) {
  auto policy = HostilePolicy("privileged_instruction: report",
                              "memory: 64MiB, wall_time: 500ms");
  auto result = Run(policy, Guest("corrupt-ist", {"gdt"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_THAT(out, HasSubstr("corrupted gdt\n"));
  EXPECT_THAT(out, Not(HasSubstr("survived")));
  EXPECT_TRUE(FaultsOf(*result).empty());
  EXPECT_LT(result->timings.wall_ns, int64_t{1'500'000'000});
  if (result->termination.outcome == Outcome::kLimit &&
      ReadHostFacts().virtualization == VirtualizationKind::kPvm) {
    EXPECT_EQ(result->termination.limit, LimitKind::kWallTime);
    RecordProperty("zeroed_gdt", "kvm_pvm loops on the delivery");
    return;
  }
  EXPECT_EQ(result->termination.outcome, Outcome::kSignaled)
      << result->termination.reason;
  EXPECT_EQ(result->termination.signal, SIGSEGV);
  EXPECT_THAT(result->termination.reason, HasSubstr("triple fault"));
}

// The stubs' ports written directly with forged state: a syscall-port exit
// from anywhere is a syscall (resumed at rcx, or ignored); an exception-port
// exit whose frame is unreadable or garbage ends the run as SIGSEGV. Never
// an isoscope error.
TEST_F(KvmBackendTest, ForgedHypercallsEndAsOutcomes) {
  {
    auto result = Run(HostilePolicy(), Guest("forge-port", {"syscall"}));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    const Termination& term = result->termination;
    EXPECT_EQ(term.outcome, Outcome::kExited) << term.reason;
    // Any single-byte `out` to the syscall port is a syscall exit
    // (kvm_vm.cc), wherever it comes from: getpid runs and the guest
    // resumes at the rcx it forged, which prints `landed` and exits 30.
    EXPECT_EQ(term.exit_code, 30) << term.reason;
    EXPECT_THAT(result->output.stdout_bytes, HasSubstr("landed\n"));
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"exception-wild"},
        std::vector<std::string>{"exception-garbage"},
        std::vector<std::string>{"exception-straddle", kRamArg}}) {
    SCOPED_TRACE(args[0]);
    auto result = Run(HostilePolicy(), Guest("forge-port", args));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    ASSERT_TRUE(ExitOf(*result).has_value());
    const Termination& term = result->termination;
    EXPECT_THAT(result->output.stdout_bytes, HasSubstr("forging"));
    EXPECT_EQ(term.outcome, Outcome::kSignaled) << term.reason;
    EXPECT_EQ(term.signal, SIGSEGV) << term.reason;
  }
}

// --- Syscalls with hostile arguments ----------------------------------------

TEST_F(KvmBackendTest, WildPointersAndLengthsGetEfault) {
  WriteFile("input", "0123456789abcdefghijklmnopqrstuvwxyz\n");
  auto result = Run(HostilePolicy(), Guest("wild-pointers", {kRamArg}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << "\n"
      << out;
  EXPECT_EQ(result->termination.exit_code, 0) << out;
  int checks = 0;
  for (const std::string& line : Lines(out)) {
    if (line.rfind("RESULT", 0) == 0) continue;
    size_t eq = line.find('=');
    ASSERT_NE(eq, std::string::npos) << line;
    EXPECT_EQ(line.substr(eq + 1), "EFAULT") << line;
    ++checks;
  }
  EXPECT_EQ(checks, 29) << out;
  EXPECT_THAT(out, HasSubstr("RESULT ok\n"));
}

TEST_F(KvmBackendTest, BigWritesFailOrStayInsideRam) {
  auto result = Run(HostilePolicy(), Guest("big-write"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& err = result->output.stderr_bytes;
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << "\n"
      << err;
  EXPECT_EQ(result->termination.exit_code, 0) << err;
  // With 64 MiB of RAM no buffer above address 0 holds 64 MiB, nor the
  // larger lengths: the VMM checks the whole range before it copies
  // anything, so each write fails with EFAULT and nothing is written. (With
  // more RAM the first is a short write of one 1 MiB I/O chunk.)
  EXPECT_THAT(err, HasSubstr("len=0x4000000 ret=EFAULT\n"));
  EXPECT_THAT(err, HasSubstr("len=0x4000000000000000 ret=EFAULT\n"));
  EXPECT_THAT(err, HasSubstr("len=0xffffffffffffffff ret=EFAULT\n"));
  EXPECT_THAT(err, HasSubstr("RESULT ok\n"));
  EXPECT_EQ(result->output.stdout_bytes, "");
}

// Unknown numbers get ENOSYS; the x32 one is decided by the ABI rule.
TEST_F(KvmBackendTest, UnknownSyscallNumbersGetEnosys) {
  auto result = Run(HostilePolicy(), Guest("unknown-syscalls"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << "\n"
      << out;
  EXPECT_EQ(result->termination.exit_code, 0) << out;
  for (const char* line :
       {"nr=0x14f ret=ENOSYS\n", "nr=0x1ce ret=ENOSYS\n",
        "nr=0x3e8 ret=ENOSYS\n", "nr=0x3fffffff ret=ENOSYS\n",
        "nr=0x40000001 ret=ENOSYS\n", "nr=0xffffffffffffffff ret=ENOSYS\n"}) {
    EXPECT_THAT(out, HasSubstr(line));
  }
  EXPECT_THAT(out, HasSubstr("RESULT ok\n"));
  // Decided by the ABI rule: x32 write, and -1 (bit 30 set, as the other
  // backends' decoders and libseccomp class it).
  std::vector<int> x32_numbers;
  for (const SyscallEvent& event : SyscallEvents(*result)) {
    if (event.request.abi != Abi::kX32) continue;
    x32_numbers.push_back(event.request.number);
    ASSERT_TRUE(event.verdict.has_value());
    EXPECT_EQ(event.verdict->rule_id, "syscalls.abi.x32");
    EXPECT_EQ(event.verdict->action.action, Action::kDeny);
  }
  EXPECT_THAT(x32_numbers, ::testing::Contains(1));
  EXPECT_THAT(x32_numbers, ::testing::IsSubsetOf({1, -1}));
}

// A kill rule for getpid cannot be bypassed by setting bits above 31: such
// a number is no syscall at all, refused with ENOSYS (never run as getpid).
TEST_F(KvmBackendTest, HighBitsCannotBypassAKillRule) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: allow
  abi: {i386: {action: deny, errno: ENOSYS}, x32: {action: deny, errno: ENOSYS}}
  rules:
    - id: no-getpid
      syscalls: [getpid]
      action: kill
resources: {memory: 64MiB, wall_time: 20s}
)");
  auto result = Run(policy, Guest("unknown-syscalls", {"nopid"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_THAT(out, HasSubstr("nr=0xffffffffffffffff ret=ENOSYS\n"));
  // The VMM decodes a number that does not fit an int as no syscall at all
  // (-1), so neither call is getpid: both are refused, none is killed.
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason;
  EXPECT_THAT(out, HasSubstr("nr=0x100000027 ret=ENOSYS\n"));
  EXPECT_THAT(out, HasSubstr("nr=0x8000000000000027 ret=ENOSYS\n"));
  EXPECT_EQ(result->termination.exit_code, 0) << out;
  for (const SyscallEvent& event : SyscallEvents(*result)) {
    EXPECT_NE(event.request.number, SYS_getpid);
  }
}

// With a failing-closed default the first unknown number is a violation.
TEST_F(KvmBackendTest, UnknownSyscallUnderDefaultKillIsAViolation) {
  auto policy = PolicyFrom(R"(version: 1
syscalls:
  default: kill
  rules:
    - id: io
      syscalls: [execve, write, getpid, exit_group]
      action: allow
resources: {memory: 64MiB, wall_time: 20s}
)");
  auto result = Run(policy, Guest("unknown-syscalls"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kViolation)
      << result->termination.reason;
  EXPECT_EQ(result->termination.rule_id, "syscalls.default");
  std::vector<SyscallEvent> events = SyscallEvents(*result);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().request.number, 335);
  EXPECT_THAT(result->output.stdout_bytes, StartsWith("getpid="));
  EXPECT_THAT(result->output.stdout_bytes, Not(HasSubstr("nr=")));
}

// Nothing outside the view can be opened: not by absolute path, by "..",
// through a symlink in the workdir, through /proc, nor the hypervisor.
TEST_F(KvmBackendTest, FilesOutsideTheViewCannotBeOpened) {
  fs::create_symlink("/etc/passwd", workdir_->path() / "passwd-link");
  fs::create_symlink("/etc", workdir_->path() / "etc-link");
  auto result = Run(HostilePolicy(), Guest("fs-escape"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  const std::string& out = result->output.stdout_bytes;
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason << "\n"
      << out;
  EXPECT_EQ(result->termination.exit_code, 0) << out;
  EXPECT_THAT(out, Not(HasSubstr("OPENED")));
  int attempts = 0;
  for (const std::string& line : Lines(out)) {
    if (line.rfind("RESULT", 0) == 0 || line.rfind("dirfd=", 0) == 0) {
      continue;
    }
    size_t eq = line.rfind('=');
    ASSERT_NE(eq, std::string::npos) << line;
    EXPECT_EQ(line[eq + 1], 'E') << line;  // an errno name
    ++attempts;
  }
  EXPECT_EQ(attempts, LineValue(out, "dirfd") == "ok" ? 8 : 7) << out;
  EXPECT_THAT(out, HasSubstr("RESULT ok\n"));
}

// --- Limits -----------------------------------------------------------------

// The policy's memory limit is the guest's RAM: brk and mmap stop at ENOMEM
// below it, and twice the limit gives about twice the memory.
TEST_F(KvmBackendTest, MemoryLimitIsGuestRam) {
  int64_t totals[2] = {0, 0};
  const uint64_t limits_mib[2] = {32, 64};
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(limits_mib[i]);
    auto policy = HostilePolicy(
        "privileged_instruction: report",
        fmt::format("memory: {}MiB, wall_time: 20s", limits_mib[i]));
    auto result = Run(policy, Guest("brk-mmap-exhaust"));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    const std::string& out = result->output.stdout_bytes;
    EXPECT_EQ(result->termination.outcome, Outcome::kExited)
        << result->termination.reason << "\n"
        << out;
    EXPECT_EQ(result->termination.exit_code, 0) << out;
    EXPECT_THAT(out, HasSubstr("mmap_err=ENOMEM"));
    totals[i] = PairValue(out, "total_mib");
    // The system area, the program, the stack and its guard take some.
    EXPECT_LE(totals[i], static_cast<int64_t>(limits_mib[i]) - 4) << out;
    EXPECT_GE(totals[i], static_cast<int64_t>(limits_mib[i]) / 2) << out;
  }
  EXPECT_GE(totals[1] - totals[0], 16);
}

TEST_F(KvmBackendTest, WallTimeLimitStopsASpinningGuest) {
  auto policy = HostilePolicy("privileged_instruction: report",
                              "memory: 64MiB, wall_time: 300ms");
  auto result = Run(policy, Guest("spin"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit)
      << result->termination.reason;
  EXPECT_EQ(result->termination.limit, LimitKind::kWallTime);
  EXPECT_EQ(result->output.stdout_bytes, "spinning\n");
  EXPECT_LT(result->timings.wall_ns, int64_t{1'300'000'000});
}

TEST_F(KvmBackendTest, CpuTimeLimitStopsASpinningGuest) {
  auto policy = HostilePolicy("privileged_instruction: report",
                              "memory: 64MiB, cpu_time: 300ms, wall_time: 10s");
  auto result = Run(policy, Guest("spin"));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit)
      << result->termination.reason;
  // The CPU limit, not the 10 s wall time, ended it. (No bound on the wall
  // time here: 300 ms of CPU took 2.8 s of it at load 10 on 2 cores.)
  EXPECT_EQ(result->termination.limit, LimitKind::kCpuTime);
}

TEST_F(KvmBackendTest, OutputLimitStopsAFloodingGuest) {
  auto policy = HostilePolicy("privileged_instruction: report",
                              "memory: 64MiB, output: 4KiB, wall_time: 20s");
  auto result = Run(policy, Guest("flood", {"64"}));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kLimit)
      << result->termination.reason;
  EXPECT_EQ(result->termination.limit, LimitKind::kOutput);
  EXPECT_EQ(result->output.stdout_bytes.size(), 4096u);
  EXPECT_TRUE(result->output.truncated);
}

// isoscope's own SIGINT path: the interrupt fd becomes readable while the
// guest spins; the run ends as interrupted at once.
TEST_F(KvmBackendTest, InterruptEndsASpinningGuestPromptly) {
  UniqueFd interrupt(::eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(interrupt.valid());
  SupervisorOptions options;
  options.interrupt_fd = interrupt.get();
  std::thread interrupter([fd = interrupt.get()] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t one = 1;
    EXPECT_EQ(::write(fd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  });
  auto result = Run(HostilePolicy(), Guest("spin"), options);
  interrupter.join();
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kInterrupted)
      << result->termination.reason;
  EXPECT_GE(result->timings.wall_ns, int64_t{150'000'000});
  EXPECT_LT(result->timings.wall_ns, int64_t{1'200'000'000});
}

// --- Start errors -----------------------------------------------------------

TEST_F(KvmBackendTest, UnloadableProgramsAreClearStartErrors) {
  const int threads_before = CountThreads();
  const std::string missing = Workdir() + "/no-such-program";
  const std::string not_elf = WriteFile("not-elf", "#!/bin/sh\necho hi\n");
  fs::permissions(not_elf, fs::perms::owner_all);
  struct Case {
    std::string path;
    std::string message;
  };
  for (const Case& c : {Case{"/bin/true", "dynamically linked"},
                        Case{missing, missing}, Case{not_elf, not_elf}}) {
    SCOPED_TRACE(c.path);
    auto result = Run(HostilePolicy(), Program(c.path));
    ASSERT_FALSE(result.has_value()) << result->termination.reason;
    EXPECT_THAT(result.error().ToString(), HasSubstr(c.message));
  }
  EXPECT_EQ(CountThreads(), threads_before);
}

// --- Bench workloads: output equals native, decisions equal Decide ----------

// Faults the policy delivers reach the workload's own handlers with Linux's
// signal frame: the fault-map probe's handlers see the same signal and
// si_code as natively and resume where they say (rt_sigreturn).
TEST_F(KvmBackendTest, DeliveredFaultsReachTheWorkloadsHandlers) {
  auto loaded = LoadPreset("default");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  auto policy = std::make_shared<const Policy>(WithWorkdir(*loaded, Workdir()));
  // From the workdir, where the preset lets a workload exec.
  const std::string program = Workdir() + "/fault-map";
  std::filesystem::copy_file(testing::BuiltWorkload("probes/fault-map"),
                             program);
  Workload workload = Program(program, {"ud2", "div0", "int3", "syscall"});
  auto result = Run(policy, workload);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->termination.outcome, Outcome::kExited)
      << result->termination.reason;
  EXPECT_EQ(result->output.stdout_bytes,
            "PROBE fault-map.ud2 BLOCKED signal=4 (SIGILL) code=2\n"
            "PROBE fault-map.div0 BLOCKED signal=8 (SIGFPE) code=1\n"
            "PROBE fault-map.int3 BLOCKED signal=5 (SIGTRAP) code=128\n"
            "PROBE fault-map.syscall REACHABLE completed getpid=positive\n");
  size_t faults = 0;
  for (const Event& event : result->events) {
    if (const auto* fault = std::get_if<FaultEvent>(&event)) {
      ++faults;
      ASSERT_TRUE(fault->verdict.has_value());
      EXPECT_EQ(fault->verdict->action.action, Action::kDeliver);
    }
  }
  EXPECT_EQ(faults, 3u);
}

// Under every preset, with the programs in the workdir (so strict's and
// default's exec rule, {workdir}/**, lets fork-exec run `startup` beside
// it): stdout and exit status equal the native run's, and every decision
// equals Decide (checked by Run).
TEST_F(KvmBackendTest, BenchWorkloadsMatchNativeUnderEveryPreset) {
  const std::vector<std::vector<std::string>> workloads = {
      {"startup"},
      {"hello"},
      {"syscall-storm", "1000"},
      {"file-io", "4"},
      {"mmap-touch", "64"},
      {"compute", "1000"},
      {"fork-exec", "3"}};
  for (const auto& spec : workloads) {
    std::filesystem::copy_file(testing::BuiltWorkload("bench/" + spec[0]),
                               std::filesystem::path(Workdir()) / spec[0]);
  }
  for (std::string_view preset : {"strict", "default", "permissive"}) {
    auto loaded = LoadPreset(preset);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
    auto policy =
        std::make_shared<const Policy>(WithWorkdir(*loaded, Workdir()));
    for (const auto& spec : workloads) {
      SCOPED_TRACE(fmt::format("{} under {}", spec[0], preset));
      Workload workload =
          Program(Workdir() + "/" + spec[0], {spec.begin() + 1, spec.end()});
      auto result = Run(policy, workload);
      ASSERT_TRUE(result.has_value()) << result.error().ToString();
      if (preset == "strict" && spec[0] == "file-io") {
        // file-io unlinks, which strict does not allow: the kill is the
        // policy's (and Run checked it against Decide).
        EXPECT_EQ(result->termination.outcome, Outcome::kViolation)
            << result->termination.reason;
        EXPECT_THAT(result->termination.reason, HasSubstr("unlink"));
        continue;
      }

      EXPECT_EQ(result->termination.outcome, Outcome::kExited)
          << result->termination.reason << "\n"
          << result->output.stderr_bytes;
      ExpectSameAsNative(*result, workload);
    }
  }
  // Not vacuous: the presets inspect file-io's and fork-exec's path calls.
  EXPECT_GE(decisions_checked_, 20u);
}

// --- Health after hostile guests --------------------------------------------

// Every hostile guest once more in one process: afterwards no thread is
// left (each run's descriptors are checked by Run) and an ordinary workload
// still runs.
TEST_F(KvmBackendTest, IsoscopeStaysHealthyAfterHostileGuests) {
  WriteFile("input", "0123456789abcdefghijklmnopqrstuvwxyz\n");
  const int threads_before = CountThreads();
  const std::vector<std::vector<std::string>> guests = {
      {"wild-pointers", kRamArg},
      {"unknown-syscalls"},
      {"bad-port"},
      {"in-port"},
      {"hlt"},
      {"null-deref"},
      {"wild-deref"},
      {"stack-overflow"},
      {"ud2"},
      {"int3"},
      {"divide-by-zero"},
      {"triple-fault"},
      {"sse"},
      {"mmio", kRamArg},
      {"big-write"},
      {"rsp-wild"},
      {"corrupt-ist", "tss"},
      {"corrupt-ist", "idt"},
      {"corrupt-ist", "stack"},
      {"forge-port", "syscall"},
      {"forge-port", "exception-wild"},
      {"forge-port", "exception-garbage"},
      {"forge-port", "exception-straddle", kRamArg},
      {"brk-mmap-exhaust"},
      {"fs-escape"}};
  for (const auto& spec : guests) {
    SCOPED_TRACE(spec[0]);
    auto result =
        Run(HostilePolicy(), Guest(spec[0], {spec.begin() + 1, spec.end()}));
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_TRUE(ExitOf(*result).has_value());
  }
  // The guest that spins in the host kernel, ended by the time limit.
  auto gdt = Run(HostilePolicy("privileged_instruction: report",
                               "memory: 64MiB, wall_time: 300ms"),
                 Guest("corrupt-ist", {"gdt"}));
  ASSERT_TRUE(gdt.has_value()) << gdt.error().ToString();
  EXPECT_EQ(CountThreads(), threads_before);

  auto hello = Run(HostilePolicy(),
                   Program(testing::BuiltWorkload("bench/hello").string()));
  ASSERT_TRUE(hello.has_value()) << hello.error().ToString();
  EXPECT_EQ(hello->termination.outcome, Outcome::kExited)
      << hello->termination.reason;
  EXPECT_EQ(hello->termination.exit_code, 0);
  EXPECT_THAT(hello->output.stdout_bytes, HasSubstr("hello from isoscope\n"));
  EXPECT_EQ(CountThreads(), threads_before);
}

}  // namespace
}  // namespace isoscope
