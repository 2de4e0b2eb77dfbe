// The VM with tiny hand-assembled guest programs (each byte sequence is
// commented with its assembly): syscalls through the LSTAR stub, exceptions
// through the IDT stubs, every kind of exit the backend has to turn into an
// outcome, and the set-up's error paths.
#include "backends/kvm/kvm_vm.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "supervisor/host_facts.h"

namespace isoscope::kvm {
namespace {

using Bytes = std::vector<uint8_t>;

// `movabs $value, %rax`
Bytes MovabsRax(uint64_t value) {
  Bytes bytes = {0x48, 0xb8};
  for (int i = 0; i < 8; ++i) bytes.push_back((value >> (8 * i)) & 0xff);
  return bytes;
}

Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class VmTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kMemory = 64ULL << 20;

  void SetUp() override {
    if (const Feature kvm = CheckKvm(); !kvm.available) {
      GTEST_SKIP() << "KVM: " << kvm.detail;
    }
    CreateVm(VmConfig{kMemory, true});
  }

  void CreateVm(const VmConfig& config) {
    auto vm = Vm::Create(config);
    ASSERT_TRUE(vm) << vm.error().ToDebugString();
    vm_ = std::move(*vm);
  }

  // Loads `code` at kWorkloadBase and starts it with RSP `rsp` (default:
  // near the top of the stack).
  void Load(const Bytes& code, uint64_t rsp = 0) {
    ASSERT_TRUE(vm_->memory().Write(kWorkloadBase, code.data(), code.size()));
    kvm_regs& regs = vm_->regs();
    regs.rip = kWorkloadBase;
    regs.rsp = rsp != 0 ? rsp : StackRegionFor(kMemory).top - 64;
    vm_->MarkRegsDirty();
  }

  VcpuExit RunOnce() {
    auto exit = vm_->Run();
    EXPECT_TRUE(exit) << exit.error().ToDebugString();
    return exit ? *exit : VcpuExit{};
  }

  VcpuExit RunProgram(const Bytes& code, uint64_t rsp = 0) {
    Load(code, rsp);
    return RunOnce();
  }

  // Runs `code` and expects an exception; returns its frame.
  ExceptionFrame ExpectException(const Bytes& code, uint64_t rsp = 0) {
    const VcpuExit exit = RunProgram(code, rsp);
    EXPECT_EQ(exit.kind, VcpuExit::Kind::kException) << DescribeExit(exit);
    auto frame = vm_->ReadExceptionFrame();
    EXPECT_TRUE(frame) << frame.error().ToDebugString();
    return frame ? *frame : ExceptionFrame{};
  }

  std::unique_ptr<Vm> vm_;
};

TEST_F(VmTest, SyscallReachesTheVmmAndResumesAtRcx) {
  const Bytes code = {
      0xb8, 0x27, 0x00, 0x00, 0x00,        // mov $39, %eax
      0xbf, 0x11, 0x00, 0x00, 0x00,        // mov $0x11, %edi
      0xbe, 0x22, 0x00, 0x00, 0x00,        // mov $0x22, %esi
      0xba, 0x33, 0x00, 0x00, 0x00,        // mov $0x33, %edx
      0x41, 0xba, 0x44, 0x00, 0x00, 0x00,  // mov $0x44, %r10d
      0x41, 0xb8, 0x55, 0x00, 0x00, 0x00,  // mov $0x55, %r8d
      0x41, 0xb9, 0x66, 0x00, 0x00, 0x00,  // mov $0x66, %r9d
      0x0f, 0x05,                          // syscall
      0xe6, 0x98,                          // out %al, $0x98
      0xf4,                                // hlt
  };
  constexpr uint64_t kAfterSyscall = kWorkloadBase + 0x28;
  constexpr uint64_t kDf = 1ULL << 10;
  Load(code);
  // DF set: SFMASK clears it in the handler, the return restores it.
  vm_->regs().rflags = 0x2 | kDf;
  vm_->MarkRegsDirty();

  VcpuExit exit = RunOnce();
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kSyscall) << DescribeExit(exit);
  EXPECT_EQ(exit.port, kSyscallPort);
  const kvm_regs& regs = vm_->regs();
  EXPECT_EQ(regs.rax, 39u);
  EXPECT_EQ(regs.rdi, 0x11u);
  EXPECT_EQ(regs.rsi, 0x22u);
  EXPECT_EQ(regs.rdx, 0x33u);
  EXPECT_EQ(regs.r10, 0x44u);
  EXPECT_EQ(regs.r8, 0x55u);
  EXPECT_EQ(regs.r9, 0x66u);
  EXPECT_EQ(regs.rcx, kAfterSyscall);
  EXPECT_EQ(regs.r11 & kDf, kDf);
  EXPECT_EQ(regs.rflags & kDf, 0u);
  // At the `out` of the stub, or just after it (KVM may have completed it).
  EXPECT_GE(exit.rip, Vm::SyscallEntryAddress());
  EXPECT_LE(exit.rip, Vm::SyscallEntryAddress() + 2);

  constexpr uint64_t kResult = 0x1234567890abcdef;
  vm_->CompleteSyscall(kResult);
  exit = RunOnce();
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kIo) << DescribeExit(exit);
  EXPECT_EQ(exit.port, 0x98);
  ASSERT_EQ(exit.io_data_length, 1);
  EXPECT_EQ(exit.io_data[0], kResult & 0xff);
  EXPECT_EQ(vm_->regs().rax, kResult);
  EXPECT_EQ(vm_->regs().rflags & kDf, kDf);

  exit = RunOnce();
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
}

TEST_F(VmTest, ManySyscallsInALoop) {
  const Bytes code = {
      0xbb, 0x64, 0x00, 0x00, 0x00,  // mov $100, %ebx
      0xb8, 0x6e, 0x00, 0x00, 0x00,  // 1: mov $110, %eax
      0x0f, 0x05,                    // syscall
      0xff, 0xcb,                    // dec %ebx
      0x75, 0xf5,                    // jnz 1b
      0xf4,                          // hlt
  };
  Load(code);
  int syscalls = 0;
  for (;;) {
    const VcpuExit exit = RunOnce();
    if (exit.kind != VcpuExit::Kind::kSyscall) {
      EXPECT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
      break;
    }
    ASSERT_EQ(vm_->regs().rax, 110u);
    ++syscalls;
    vm_->CompleteSyscall(0);
  }
  EXPECT_EQ(syscalls, 100);
}

TEST_F(VmTest, NullReadIsAPageFault) {
  const ExceptionFrame frame = ExpectException({
      0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00,  // mov 0, %rax
  });
  EXPECT_EQ(frame.vector, 14u);
  EXPECT_EQ(frame.cr2, 0u);
  EXPECT_EQ(frame.rip, kWorkloadBase);
  EXPECT_EQ(frame.error_code, 0u);  // not present, read, supervisor
  EXPECT_EQ(frame.cs, kCodeSelector);
  EXPECT_EQ(frame.rsp, StackRegionFor(kMemory).top - 64);
}

TEST_F(VmTest, Ud2IsInvalidOpcode) {
  const ExceptionFrame frame = ExpectException({
      0x90,        // nop
      0x0f, 0x0b,  // ud2
  });
  EXPECT_EQ(frame.vector, 6u);
  EXPECT_EQ(frame.rip, kWorkloadBase + 1);
  EXPECT_EQ(frame.error_code, 0u);
}

TEST_F(VmTest, OtherVectorsReachTheirStubs) {
  // Division by zero.
  ExceptionFrame frame = ExpectException({
      0x31, 0xc9,  // xor %ecx, %ecx
      0xf7, 0xf1,  // div %ecx
  });
  EXPECT_EQ(frame.vector, 0u);
  EXPECT_EQ(frame.rip, kWorkloadBase + 2);

  // A non-canonical address: #GP with error code 0.
  frame = ExpectException(Concat(MovabsRax(0x8000000000000000),
                                 {0x48, 0x8b, 0x18}));  // mov (%rax), %rbx
  EXPECT_EQ(frame.vector, 13u);
  EXPECT_EQ(frame.error_code, 0u);
  EXPECT_EQ(frame.rip, kWorkloadBase + 10);
}

TEST_F(VmTest, HltExits) {
  const VcpuExit exit = RunProgram({0x90, 0xf4});  // nop; hlt
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
}

TEST_F(VmTest, OutToAnotherPortIsIo) {
  const VcpuExit exit = RunProgram({
      0xb0, 0x5a,  // mov $0x5a, %al
      0xe6, 0x99,  // out %al, $0x99
      0xf4,        // hlt
  });
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kIo) << DescribeExit(exit);
  EXPECT_EQ(exit.port, 0x99);
  EXPECT_TRUE(exit.io_out);
  EXPECT_EQ(exit.io_size, 1);
  EXPECT_EQ(exit.io_count, 1u);
  ASSERT_EQ(exit.io_data_length, 1);
  EXPECT_EQ(exit.io_data[0], 0x5a);
  EXPECT_NE(DescribeExit(exit).find("0x99"), std::string::npos);
  // An `in` from the syscall port is no syscall.
  const VcpuExit in = RunProgram({0xe4, 0xe0});  // in $0xe0, %al
  EXPECT_EQ(in.kind, VcpuExit::Kind::kIo) << DescribeExit(in);
  EXPECT_FALSE(in.io_out);
}

TEST_F(VmTest, ReadBeyondRamIsNotMapped) {
  const uint64_t address = kMemory + 0x1000;
  const ExceptionFrame frame = ExpectException(
      Concat(MovabsRax(address), {0x48, 0x8b, 0x18}));  // mov (%rax), %rbx
  EXPECT_EQ(frame.vector, 14u);
  EXPECT_EQ(frame.cr2, address);
  EXPECT_EQ(frame.rip, kWorkloadBase + 10);
}

TEST_F(VmTest, WriteToTheStackGuardFaults) {
  const uint64_t address = StackRegionFor(kMemory).guard_bottom + 8;
  const ExceptionFrame frame = ExpectException(
      Concat(MovabsRax(address), {0x48, 0x89, 0x18}));  // mov %rbx, (%rax)
  EXPECT_EQ(frame.vector, 14u);
  EXPECT_EQ(frame.cr2, address);
  EXPECT_EQ(frame.error_code & 0x3, 0x2u);  // not present, write
}

TEST_F(VmTest, PagesAroundTheGuardAreMapped) {
  const StackRegion stack = StackRegionFor(kMemory);
  // The last byte below the guard and the stack's first byte: readable.
  for (const uint64_t address : {stack.guard_bottom - 8, stack.bottom}) {
    const VcpuExit exit = RunProgram(
        Concat(MovabsRax(address), {
                                       0x48, 0x8b, 0x18,  // mov (%rax), %rbx
                                       0xf4,              // hlt
                                   }));
    EXPECT_EQ(exit.kind, VcpuExit::Kind::kHlt)
        << fmt::format("{:#x}: ", address) << DescribeExit(exit);
  }
}

TEST_F(VmTest, StackOverflowStillReachesThePageFaultStub) {
  const StackRegion stack = StackRegionFor(kMemory);
  const ExceptionFrame frame = ExpectException(
      {
          0xe8, 0xfb, 0xff, 0xff, 0xff,  // 1: call 1b
      },
      stack.bottom + 0x100);
  EXPECT_EQ(frame.vector, 14u);
  EXPECT_GE(frame.cr2, stack.guard_bottom);
  EXPECT_LT(frame.cr2, stack.bottom);
  EXPECT_EQ(frame.rsp, stack.bottom);
  EXPECT_EQ(frame.rip, kWorkloadBase);
  // The stub ran on the exception stack.
  EXPECT_GT(vm_->regs().rsp, kExceptionStackBottom);
  EXPECT_LT(vm_->regs().rsp, kExceptionStackTop);
}

TEST_F(VmTest, TripleFaultIsShutdown) {
  const VcpuExit exit = RunProgram({
      0x6a, 0x00,              // push $0
      0x6a, 0x00,              // push $0
      0x0f, 0x01, 0x1c, 0x24,  // lidt (%rsp): limit 0
      0x0f, 0x0b,              // ud2: #UD, #GP, #DF, shutdown
  });
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kShutdown) << DescribeExit(exit);
}

// The VM enables SSE (CR4.OSFXSR, OSXMMEXCPT): with hardware
// virtualization an SSE instruction simply runs; a software hypervisor
// (kvm_pvm) must emulate it and cannot, which is an emulation failure.
TEST_F(VmTest, SseRunsOnHardwareAndFailsUnderEmulation) {
  const VcpuExit exit = RunProgram({
      0x66, 0x0f, 0xef, 0xc0,  // pxor %xmm0, %xmm0
      0xf4,                    // hlt
  });
  if (ReadHostFacts().virtualization != VirtualizationKind::kPvm) {
    EXPECT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
    return;
  }
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kInternalError) << DescribeExit(exit);
  EXPECT_EQ(exit.internal_suberror,
            static_cast<uint32_t>(KVM_INTERNAL_ERROR_EMULATION));
  EXPECT_NE(DescribeExit(exit).find("emulation"), std::string::npos);
}

// `cpuid` with leaf `leaf`, then hlt.
Bytes Cpuid(uint32_t leaf) {
  Bytes code = {0xb8};  // mov $leaf, %eax
  for (int i = 0; i < 4; ++i) code.push_back((leaf >> (8 * i)) & 0xff);
  return Concat(code, {
                          0x31, 0xc9,  // xor %ecx, %ecx
                          0x0f, 0xa2,  // cpuid
                          0xf4,        // hlt
                      });
}

TEST_F(VmTest, CpuidHidesTheHypervisor) {
  VcpuExit exit = RunProgram(Cpuid(1));
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
  const uint64_t ecx = vm_->regs().rcx;
  EXPECT_EQ(ecx & (1ULL << 31), 0u) << "hypervisor bit";
  // CR4.OSXSAVE is off, so no program may use AVX, whatever the AVX and
  // XSAVE bits say (kvm_pvm ORs the host's into the guest's CPUID, so the
  // VMM's clearing them does not show there).
  EXPECT_EQ(ecx & (1ULL << 27), 0u) << "OSXSAVE";
  EXPECT_NE(vm_->regs().rdx & (1ULL << 26), 0u) << "SSE2 stays";
  std::printf("guest CPUID.1: ecx %#llx (AVX %s)\n",
              static_cast<unsigned long long>(ecx),
              (ecx & (1ULL << 28)) != 0 ? "shown" : "hidden");

  // No hypervisor signature in the hypervisor leaves.
  exit = RunProgram(Cpuid(0x40000000));
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
  EXPECT_NE(vm_->regs().rbx, 0x4b4d564bu);  // "KVMK"

  CreateVm(VmConfig{kMemory, /*hide_hypervisor=*/false});
  exit = RunProgram(Cpuid(1));
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
  EXPECT_NE(vm_->regs().rcx & (1ULL << 31), 0u) << "hypervisor bit";
  exit = RunProgram(Cpuid(0x40000000));
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
  EXPECT_EQ(vm_->regs().rbx, 0x4b4d564bu);  // "KVMK"
}

TEST_F(VmTest, FsBaseIsSetFromTheVmm) {
  constexpr uint64_t kBase = kWorkloadBase + 0x1000;
  constexpr uint64_t kValue = 0xfeedfacecafebeef;
  ASSERT_TRUE(vm_->memory().WriteValue<uint64_t>(kBase + 0x10, kValue));
  ASSERT_TRUE(vm_->SetFsBase(kBase));
  ASSERT_TRUE(vm_->SetGsBase(kBase + 0x100));
  EXPECT_EQ(vm_->GetFsBase().value_or(0), kBase);
  EXPECT_EQ(vm_->GetGsBase().value_or(0), kBase + 0x100);
  const VcpuExit exit = RunProgram({
      0x64, 0x48, 0x8b, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00,  // mov %fs:0x10,
                                                             // %rax
      0xf4,                                                  // hlt
  });
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHlt) << DescribeExit(exit);
  EXPECT_EQ(vm_->regs().rax, kValue);
  // A non-canonical base is refused, not a crash.
  EXPECT_FALSE(vm_->SetFsBase(0x8000000000000000));
}

// The vCPU spins in `jmp .`; a signal whose handler requests an immediate
// exit gets it out of KVM_RUN.
std::atomic<Vm*> g_kicked_vm{nullptr};

void KickHandler(int) {
  Vm* vm = g_kicked_vm.load();
  if (vm != nullptr) vm->RequestImmediateExit();
}

class ScopedKickHandler {
 public:
  ScopedKickHandler(int signal, Vm* vm) : signal_(signal) {
    g_kicked_vm = vm;
    struct sigaction action = {};
    action.sa_handler = KickHandler;
    sigemptyset(&action.sa_mask);
    sigaction(signal_, &action, &previous_);
  }
  ~ScopedKickHandler() {
    sigaction(signal_, &previous_, nullptr);
    g_kicked_vm = nullptr;
  }

 private:
  int signal_;
  struct sigaction previous_ = {};
};

constexpr uint8_t kSpin[] = {0xeb, 0xfe};  // 1: jmp 1b

TEST_F(VmTest, ImmediateExitBeforeRun) {
  Load(Bytes(std::begin(kSpin), std::end(kSpin)));
  vm_->RequestImmediateExit();
  VcpuExit exit = RunOnce();
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kInterrupted) << DescribeExit(exit);
  // Stays set until cleared.
  exit = RunOnce();
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kInterrupted) << DescribeExit(exit);
  vm_->ClearImmediateExit();
}

TEST_F(VmTest, SignalFromAnotherThreadKicksTheVcpu) {
  Load(Bytes(std::begin(kSpin), std::end(kSpin)));
  ScopedKickHandler handler(SIGUSR1, vm_.get());
  const pthread_t vcpu_thread = pthread_self();
  std::thread kicker([vcpu_thread] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pthread_kill(vcpu_thread, SIGUSR1);
  });
  const auto start = std::chrono::steady_clock::now();
  const VcpuExit exit = RunOnce();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  kicker.join();
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kInterrupted) << DescribeExit(exit);
  EXPECT_EQ(exit.rip, kWorkloadBase);
  EXPECT_GE(elapsed, std::chrono::milliseconds(15));
  vm_->ClearImmediateExit();
}

TEST_F(VmTest, TimerSignalKicksTheVcpu) {
  Load(Bytes(std::begin(kSpin), std::end(kSpin)));
  ScopedKickHandler handler(SIGUSR2, vm_.get());
  sigevent event = {};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = SIGUSR2;
  // glibc 2.36 lacks the sigev_notify_thread_id macro.
  event._sigev_un._tid = gettid();
  timer_t timer;
  ASSERT_EQ(timer_create(CLOCK_MONOTONIC, &event, &timer), 0);
  itimerspec spec = {};
  spec.it_value.tv_nsec = 10'000'000;
  ASSERT_EQ(timer_settime(timer, 0, &spec, nullptr), 0);
  const VcpuExit exit = RunOnce();
  timer_delete(timer);
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kInterrupted) << DescribeExit(exit);
  vm_->ClearImmediateExit();
}

TEST_F(VmTest, WildStackPointerGivesAnErrorNotACrash) {
  const VcpuExit exit = RunProgram({0x0f, 0x0b});  // ud2
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kException) << DescribeExit(exit);
  for (const uint64_t rsp : std::initializer_list<uint64_t>{
           ~0ULL, ~0ULL - 7, kMemory - 8, kMemory, kMemory + 0x1000}) {
    vm_->regs().rsp = rsp;
    auto frame = vm_->ReadExceptionFrame();
    EXPECT_FALSE(frame) << fmt::format("rsp {:#x}", rsp);
  }
  // The last whole frame inside RAM is fine.
  vm_->regs().rsp = kMemory - 7 * 8;
  EXPECT_TRUE(vm_->ReadExceptionFrame());
}

TEST_F(VmTest, ForgedExceptionVectorIsRefused) {
  // The workload makes the stub's `out` itself over a frame of its own.
  const VcpuExit exit = RunProgram({
      0x6a, 0x07,                    // push $7
      0x6a, 0x00,                    // push $0
      0x68, 0xe8, 0x03, 0x00, 0x00,  // push $1000 (vector)
      0xe6, 0xe1,                    // out %al, $0xe1
  });
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kException) << DescribeExit(exit);
  auto frame = vm_->ReadExceptionFrame();
  ASSERT_FALSE(frame);
  EXPECT_NE(frame.error().message().find("1000"), std::string::npos);
}

TEST_F(VmTest, StubAddressesMatchTheIdt) {
  EXPECT_GE(Vm::SyscallEntryAddress(), kStubsAddress);
  for (unsigned vector = 0; vector < 32; ++vector) {
    const uint64_t stub = Vm::VectorStubAddress(vector);
    EXPECT_GT(stub, Vm::SyscallEntryAddress());
    EXPECT_LT(stub, kStubsAddress + kStubsMaxSize);
    auto low = vm_->memory().ReadValue<uint64_t>(kIdtAddress + 16 * vector);
    auto high =
        vm_->memory().ReadValue<uint64_t>(kIdtAddress + 16 * vector + 8);
    ASSERT_TRUE(low && high);
    const uint64_t target =
        (*low & 0xffff) | (((*low >> 48) & 0xffff) << 16) | (*high << 32);
    EXPECT_EQ(target, stub) << vector;
    EXPECT_EQ((*low >> 32) & 0x7, 1u) << "IST1, vector " << vector;
  }
  // The stub's first byte pushes (0x6a) or is the vector's own push.
  auto first = vm_->memory().ReadValue<uint8_t>(Vm::VectorStubAddress(14));
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 0x6a);
}

TEST_F(VmTest, CreateIsFast) {
  constexpr int kRounds = 20;
  std::vector<double> micros;
  for (int i = 0; i < kRounds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto vm = Vm::Create(VmConfig{});
    const auto end = std::chrono::steady_clock::now();
    ASSERT_TRUE(vm) << vm.error().ToDebugString();
    micros.push_back(
        std::chrono::duration<double, std::micro>(end - start).count());
  }
  std::sort(micros.begin(), micros.end());
  // Create plus a first exit, as the backend's start-up sees it.
  const auto start = std::chrono::steady_clock::now();
  auto vm = Vm::Create(VmConfig{});
  ASSERT_TRUE(vm);
  ASSERT_TRUE((*vm)->memory().WriteValue<uint8_t>(kWorkloadBase, 0xf4));
  (*vm)->regs().rip = kWorkloadBase;
  (*vm)->MarkRegsDirty();
  auto exit = (*vm)->Run();
  const auto end = std::chrono::steady_clock::now();
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kHlt);
  std::printf(
      "Vm::Create (%llu MiB): min %.0f us, median %.0f us, max %.0f "
      "us; create + first exit %.0f us\n",
      static_cast<unsigned long long>(kDefaultGuestMemory >> 20),
      micros.front(), micros[kRounds / 2], micros.back(),
      std::chrono::duration<double, std::micro>(end - start).count());
  EXPECT_LT(micros[kRounds / 2], 1e6);
}

TEST(VmConfigTest, InvalidMemorySizesAreRefused) {
  for (const uint64_t size : std::initializer_list<uint64_t>{
           kMinGuestMemory + (1ULL << 20), kMinGuestMemory - kLargePageSize,
           uint64_t{0}, kMaxGuestMemory + kLargePageSize, ~0ULL}) {
    auto vm = Vm::Create(VmConfig{size, true});
    ASSERT_FALSE(vm) << size;
    EXPECT_EQ(vm.error().code(), ErrorCode::kInvalidArgument)
        << vm.error().ToString();
  }
}

TEST(VmConfigTest, LimitsAreAccepted) {
  if (const Feature kvm = CheckKvm(); !kvm.available) {
    GTEST_SKIP() << "KVM: " << kvm.detail;
  }
  for (const uint64_t size : {kMinGuestMemory, kMaxGuestMemory}) {
    auto vm = Vm::Create(VmConfig{size, true});
    ASSERT_TRUE(vm) << vm.error().ToDebugString();
    // The top of the stack and the last 2 MiB page are mapped.
    ASSERT_TRUE((*vm)->memory().Write(
        kWorkloadBase,
        Concat(MovabsRax(size - 8), {0x48, 0x8b, 0x18, 0xf4}).data(), 14));
    (*vm)->regs().rip = kWorkloadBase;
    (*vm)->MarkRegsDirty();
    auto exit = (*vm)->Run();
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->kind, VcpuExit::Kind::kHlt) << DescribeExit(*exit);
  }
}

}  // namespace
}  // namespace isoscope::kvm
