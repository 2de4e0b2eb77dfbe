#include "backends/kvm/kvm_backend.h"

#include <linux/kvm.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/kvm/elf_loader.h"
#include "backends/kvm/guest_kernel.h"
#include "backends/kvm/guest_layout.h"
#include "backends/kvm/guest_memory.h"
#include "backends/kvm/guest_signals.h"
#include "backends/kvm/kvm_vm.h"
#include "backends/kvm/vmm_sandbox.h"
#include "backends/process/workload_output.h"
#include "backends/ptrace/fault_decoder.h"
#include "base/unique_fd.h"
#include "policies/syscalls.h"
#include "supervisor/host_facts.h"
#include "supervisor/workload_env.h"

namespace isoscope {
namespace {

using Clock = std::chrono::steady_clock;

// How long each side spins on the other before sleeping in the kernel. A
// forwarded syscall costs one VM exit (about 5 us here); a wake-up through
// the kernel would cost about as much again, so both sides spin a little
// longer than a round trip before they sleep.
constexpr auto kSupervisorSpin = std::chrono::microseconds(60);
constexpr auto kVmmSpin = std::chrono::microseconds(60);

// The largest executable the VMM reads (it must fit guest RAM anyway).
constexpr uint64_t kMaxExecutableBytes = 256ULL << 20;

// The signal that kicks the vCPU thread out of KVM_RUN (for Kill and the
// CPU-time timer). Its handler only sets immediate_exit on the thread's VM.
int KickSignal() { return SIGRTMIN + 4; }

thread_local kvm::Vm* kick_target = nullptr;

void OnKick(int /*signal*/) {
  if (kick_target != nullptr) kick_target->RequestImmediateExit();
}

Status InstallKickHandler() {
  static const int rc = [] {
    struct sigaction action = {};
    action.sa_handler = OnKick;
    sigemptyset(&action.sa_mask);
    // No SA_RESTART: KVM_RUN must come back with EINTR.
    return sigaction(KickSignal(), &action, nullptr) == 0 ? 0 : errno;
  }();
  if (rc != 0) {
    return tl::unexpected(
        Error::FromErrno("kvm: installing the vCPU kick handler", rc));
  }
  return {};
}

// One turn of a spin-wait: yield. On an idle machine sched_yield returns at
// once (the thread keeps spinning on its own core); when the two threads
// share a core, or the machine is busy, it hands the core over. Measured
// here: pausing first was faster with two idle cores (1.5x a bare exit
// instead of 1.9x) but much slower on one (2.6x instead of 1.9x).
void CpuRelax() { sched_yield(); }

// Events from the VMM thread to the supervisor's thread. The VMM posts; the
// supervisor takes, spinning briefly and then sleeping on an eventfd that
// the VMM writes only while the supervisor sleeps.
class EventChannel {
 public:
  Status Open() {
    wake_fd_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_fd_) {
      return tl::unexpected(Error::FromErrno("kvm: eventfd", errno));
    }
    return {};
  }

  void Post(Event event) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(event));
    }
    posted_.fetch_add(1);
    if (sleeping_.load()) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(wake_fd_.get(), &one, sizeof(one));
    }
  }

  Result<std::optional<Event>> Take(const WaitLimit& wait) {
    const uint32_t seen = posted_.load();
    if (auto event = TryPop()) return event;
    const Clock::time_point spin_end = Clock::now() + kSupervisorSpin;
    while (posted_.load() == seen && Clock::now() < spin_end) CpuRelax();
    for (;;) {
      if (auto event = TryPop()) return event;
      sleeping_.store(true);
      if (auto event = TryPop()) {
        sleeping_.store(false);
        return event;
      }
      pollfd fds[2] = {{wake_fd_.get(), POLLIN, 0},
                       {wait.interrupt_fd, POLLIN, 0}};
      const int timeout = PollTimeoutMs(wait.deadline);
      const int n = poll(fds, wait.interrupt_fd >= 0 ? 2 : 1, timeout);
      sleeping_.store(false);
      if (n < 0 && errno != EINTR) {
        return tl::unexpected(Error::FromErrno("kvm: poll", errno));
      }
      uint64_t count = 0;
      [[maybe_unused]] ssize_t r = read(wake_fd_.get(), &count, sizeof(count));
      if (auto event = TryPop()) return event;
      if (n > 0 && wait.interrupt_fd >= 0 && (fds[1].revents & POLLIN)) {
        return std::optional<Event>();
      }
      if (Clock::now() >= wait.deadline) return std::optional<Event>();
    }
  }

 private:
  std::optional<Event> TryPop() {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return std::nullopt;
    Event event = std::move(queue_.front());
    queue_.pop_front();
    return event;
  }

  std::mutex mutex_;
  std::deque<Event> queue_;
  std::atomic<uint32_t> posted_{0};
  std::atomic<bool> sleeping_{false};
  UniqueFd wake_fd_;
};

// The policy's fault kind for exception `vector` (the signal Linux would
// send is kvm::FaultSignalForVector's).
FaultKind FaultKindForVector(uint64_t vector) {
  switch (vector) {
    case 0:   // #DE
    case 9:   // coprocessor segment overrun
    case 16:  // #MF
    case 19:  // #XM
      return FaultKind::kArithmetic;
    case 1:  // #DB
    case 3:  // #BP
      return FaultKind::kBreakpoint;
    case 6:  // #UD
    case 7:  // #NM
      return FaultKind::kInvalidInstruction;
    case 13:  // #GP
      return FaultKind::kPrivilegedInstruction;
    default:  // #PF, #SS, #NP, #TS, #DF, #AC, #MC and the rest
      return FaultKind::kPageFault;
  }
}

}  // namespace

// The VM, its guest kernel and the thread that runs them. The supervisor's
// thread only takes events and gives verdicts.
class KvmBackend::Vmm {
 public:
  ~Vmm() {
    Kill();
    if (thread_.joinable()) thread_.join();
    if (cpu_timer_) timer_delete(*cpu_timer_);
  }

  Status Start(const Workload& workload, const CompiledPlan& plan) {
    policy_ = plan.shared_policy();
    const Policy& policy = *policy_;
    if (auto ok = InstallKickHandler(); !ok) return ok;
    if (auto ok = channel_.Open(); !ok) return ok;

    auto memory_size = GuestMemorySize(policy.resources.memory_bytes);
    if (!memory_size) return tl::unexpected(memory_size.error());

    // In a root of its own, the program is a path in it, read beneath it.
    std::string path = workload.executable;
    UniqueFd in_root;
    if (!workload.root.empty()) {
      auto opened = OpenInRoot(workload.root, workload.executable);
      if (!opened) return tl::unexpected(opened.error());
      in_root = std::move(*opened);
      path = fmt::format("/proc/self/fd/{}", in_root.get());
    }
    auto file = kvm::ReadExecutable(path, kMaxExecutableBytes);
    if (!file) {
      if (workload.root.empty()) return tl::unexpected(file.error());
      return tl::unexpected(file.error().WithContext(workload.executable));
    }
    auto image = kvm::ParseElf(*file);
    if (!image) {
      return tl::unexpected(image.error().WithContext(workload.executable));
    }

    auto vm = kvm::Vm::Create(
        kvm::VmConfig{*memory_size, policy.faults.hide_hypervisor});
    if (!vm) return tl::unexpected(vm.error());
    vm_ = std::move(*vm);
    auto program = LoadImage(*image, *file, workload.argv, workload.env,
                             workload.executable);
    if (!program) {
      return tl::unexpected(program.error().WithContext(workload.executable));
    }
    const kvm::StackRegion stack = kvm::StackRegionFor(*memory_size);

    kvm::GuestKernelConfig config;
    config.view = policy.filesystem;
    config.workdir = workload.workdir;
    config.executable = workload.executable;
    config.root = workload.root;
    config.hostname = policy.identity.hostname.value_or("");
    config.uid = policy.identity.uid.value_or(0);
    config.gid = policy.identity.gid.value_or(0);
    config.brk_start = program->image_end;
    config.mmap_low = program->image_end;
    config.mmap_high = stack.guard_bottom;
    config.open_files = policy.resources.open_files;
    config.file_size_bytes = policy.resources.file_size_bytes;
    auto kernel = kvm::GuestKernel::Create(vm_->memory(), std::move(config));
    if (!kernel) return tl::unexpected(kernel.error());
    kernel_ = std::move(*kernel);

    cpu_budget_ = policy.resources.cpu_time_ms;
    std::future<Status> started = ready_.get_future();
    thread_ = std::thread([this] { Main(ready_); });
    if (auto ok = started.get(); !ok) {
      thread_.join();
      return ok;
    }
    return {};
  }

  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) {
    auto event = channel_.Take(wait);
    if (event && *event && std::holds_alternative<ExitEvent>(**event)) {
      // The VMM thread has ended; what it used is final now.
      if (thread_.joinable()) thread_.join();
      ExitEvent& exit = std::get<ExitEvent>(**event);
      exit.usage.max_rss_kib =
          static_cast<int64_t>(vm_->memory().ResidentBytes() / 1024);
      // Every guest syscall exits to this VMM: its own count is exact.
      exit.usage.syscalls = syscalls_;
    }
    return event;
  }

  Status Resolve(const Verdict& verdict) {
    verdict_ = verdict;
    verdict_seq_.fetch_add(1, std::memory_order_release);
    verdict_seq_.notify_one();
    return {};
  }

  void Kill() {
    killed_.store(true);
    verdict_seq_.fetch_add(1, std::memory_order_release);
    verdict_seq_.notify_one();
    if (thread_.joinable() && running_.load()) {
      pthread_kill(thread_.native_handle(), KickSignal());
    }
  }

 private:
  static Result<uint64_t> GuestMemorySize(std::optional<uint64_t> limit) {
    if (!limit) return kvm::kDefaultGuestMemory;
    if (*limit < kvm::kMinGuestMemory) {
      return tl::unexpected(Error(
          ErrorCode::kInvalidArgument,
          fmt::format("kvm: the policy's memory limit ({} bytes) is below the "
                      "smallest guest this backend builds ({} MiB)",
                      *limit, kvm::kMinGuestMemory >> 20)));
    }
    // Guest RAM is the limit, rounded down to whole 2 MiB pages and at most
    // the largest guest the page tables cover.
    return std::min(*limit & ~(kvm::kLargePageSize - 1), kvm::kMaxGuestMemory);
  }

  // The VMM thread: confines itself, then runs the vCPU until the run ends.
  void Main(std::promise<Status>& ready) {
    running_.store(true);
    kick_target = vm_.get();
    sigset_t only_kick;
    sigfillset(&only_kick);
    sigdelset(&only_kick, KickSignal());
    pthread_sigmask(SIG_SETMASK, &only_kick, nullptr);
    if (auto ok = ArmCpuTimer(); !ok) {
      running_.store(false);
      ready.set_value(ok);
      return;
    }
    if (auto ok = kvm::ConfineVmmThread(); !ok) {
      running_.store(false);
      ready.set_value(ok);
      return;
    }
    ready.set_value(Status{});
    ExitEvent exit = RunGuest();
    rusage usage = {};
    if (getrusage(RUSAGE_THREAD, &usage) == 0) {
      exit.usage.user_cpu_us =
          usage.ru_utime.tv_sec * 1'000'000 + usage.ru_utime.tv_usec;
      exit.usage.system_cpu_us =
          usage.ru_stime.tv_sec * 1'000'000 + usage.ru_stime.tv_usec;
    }
    running_.store(false);
    kick_target = nullptr;
    channel_.Post(std::move(exit));
  }

  // The CPU-time limit: a timer on this thread's CPU clock kicks the vCPU
  // when the budget is spent (guest time is this thread's time).
  Status ArmCpuTimer() {
    if (!cpu_budget_) return {};
    clockid_t clock;
    if (int rc = pthread_getcpuclockid(pthread_self(), &clock); rc != 0) {
      return tl::unexpected(Error::FromErrno("kvm: pthread_getcpuclockid", rc));
    }
    sigevent event = {};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = KickSignal();
    event._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
    timer_t timer;
    if (timer_create(clock, &event, &timer) != 0) {
      return tl::unexpected(Error::FromErrno("kvm: timer_create", errno));
    }
    cpu_timer_ = timer;
    itimerspec spec = {};
    spec.it_value.tv_sec = static_cast<time_t>(*cpu_budget_ / 1000);
    spec.it_value.tv_nsec = static_cast<decltype(spec.it_value.tv_nsec)>(
        *cpu_budget_ % 1000 * 1'000'000);
    // Again every 10 ms in case a kick lands while the VMM is not in KVM_RUN.
    spec.it_interval.tv_nsec = 10'000'000;
    if (timer_settime(timer, 0, &spec, nullptr) != 0) {
      return tl::unexpected(Error::FromErrno("kvm: timer_settime", errno));
    }
    return {};
  }

  bool CpuBudgetSpent() const {
    if (!cpu_budget_) return false;
    timespec now = {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    const uint64_t ms = static_cast<uint64_t>(now.tv_sec) * 1000 +
                        static_cast<uint64_t>(now.tv_nsec) / 1'000'000;
    return ms >= *cpu_budget_;
  }

  static ExitEvent Signaled(int signal, std::string detail = {}) {
    ExitEvent exit;
    exit.signaled = true;
    exit.signal = signal;
    exit.detail = std::move(detail);
    return exit;
  }

  // Runs the guest to its end and says how it ended. A forked child's end
  // hands the VM back to its parent; only the first process's end (or a
  // kill, a limit, an error) ends the run.
  ExitEvent RunGuest() {
    for (;;) {
      std::optional<ExitEvent> ended = Step();
      if (!ended) continue;
      if (killed_.load() || run_over_ || suspended_.empty()) return *ended;
      if (auto resumed = ResumeParent(*ended); !resumed) {
        return Signaled(SIGKILL, "VMM error: " + resumed.error().ToString());
      }
    }
  }

  // One KVM_RUN and what its exit means; nullopt while the process goes on.
  std::optional<ExitEvent> Step() {
    {
      if (killed_.load()) return Signaled(SIGKILL);
      auto exit = vm_->Run();
      if (!exit) {
        run_over_ = true;
        return Signaled(SIGKILL, "VMM error: " + exit.error().ToString());
      }
      switch (exit->kind) {
        case kvm::VcpuExit::Kind::kInterrupted:
          vm_->ClearImmediateExit();
          if (killed_.load()) return Signaled(SIGKILL);
          if (CpuBudgetSpent()) {
            run_over_ = true;
            channel_.Post(LimitEvent{
                LimitKind::kCpuTime,
                fmt::format("cpu-time limit of {} ms reached (vCPU thread)",
                            *cpu_budget_)});
            return Signaled(SIGKILL);
          }
          return std::nullopt;
        case kvm::VcpuExit::Kind::kSyscall:
          return OnSyscall();
        case kvm::VcpuExit::Kind::kException:
          return OnException();
        case kvm::VcpuExit::Kind::kHlt:
          return OnPrivilegedExit(InstructionBefore(vm_->regs().rip, "hlt"),
                                  "hlt", "the guest executed hlt");
        case kvm::VcpuExit::Kind::kIo:
          // KVM has completed an `out` (RIP is past it) but not an `in`.
          return OnPrivilegedExit(
              exit->io_out ? InstructionBefore(vm_->regs().rip, "out")
                           : vm_->regs().rip,
              exit->io_out ? "out" : "in",
              fmt::format("port I/O {} unknown port 0x{:x}",
                          exit->io_out ? "to" : "from", exit->port));
        case kvm::VcpuExit::Kind::kMmio:
          return OnGuestFault(
              FaultKind::kPageFault, SIGSEGV, vm_->regs().rip,
              exit->mmio_address, "",
              fmt::format("MMIO {} 0x{:x}, outside guest RAM",
                          exit->mmio_write ? "write to" : "read from",
                          exit->mmio_address));
        case kvm::VcpuExit::Kind::kShutdown:
          return Signaled(
              SIGSEGV,
              fmt::format("triple fault (KVM_EXIT_SHUTDOWN) near rip 0x{:x}: "
                          "the guest broke its own exception handling",
                          vm_->regs().rip));
        case kvm::VcpuExit::Kind::kInternalError:
          return OnInternalError(*exit);
        default:
          run_over_ = true;
          return Signaled(SIGKILL,
                          "unexpected VM exit: " + DescribeExit(*exit));
      }
    }
  }

  // One syscall: decoded, decided by the supervisor, then performed here.
  // Returns how the run ended when it did.
  std::optional<ExitEvent> OnSyscall() {
    ++syscalls_;
    kvm_regs& regs = vm_->regs();
    const kvm::DecodedCall call = kernel_->Decode(
        regs.rax, {regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9});
    auto verdict = Ask(SyscallEvent{pid_, call.request});
    if (!verdict) return Signaled(SIGKILL);

    int64_t result = 0;
    switch (verdict->action.action) {
      case Action::kKill:
        // The supervisor kills the run right after this verdict.
        run_over_ = true;
        return Signaled(SIGKILL);
      case Action::kDeny:
        result = -verdict->action.errno_value;
        break;
      case Action::kEmulate:
        result = verdict->action.emulate_value;
        break;
      default: {
        if (std::optional<ProcessCall> process = OnProcessCall(call)) {
          if (process->ended) return process->ended;
          if (process->resumed) return std::nullopt;
          result = process->result;
          break;
        }
        kvm::CallEffect effect = kernel_->Perform(call);
        result = effect.result;
        if (effect.stream && !effect.output.empty()) {
          channel_.Post(OutputEvent{*effect.stream, std::move(effect.output)});
        }
        if (effect.exit_status) {
          ExitEvent exit;
          exit.exit_code = *effect.exit_status & 0xff;
          return exit;
        }
        if (effect.set_fs_base) {
          if (auto ok = vm_->SetFsBase(*effect.set_fs_base); !ok) {
            return Signaled(SIGKILL, ok.error().ToString());
          }
        }
        if (effect.set_gs_base) {
          if (auto ok = vm_->SetGsBase(*effect.set_gs_base); !ok) {
            return Signaled(SIGKILL, ok.error().ToString());
          }
        }
        if (effect.limit) {
          run_over_ = true;
          channel_.Post(LimitEvent{
              *effect.limit,
              fmt::format("file-size limit of {} bytes reached",
                          policy_->resources.file_size_bytes.value_or(0))});
          return Signaled(SIGXFSZ);
        }
        break;
      }
    }
    // Back to the instruction after `syscall`, as sysret would.
    vm_->CompleteSyscall(static_cast<uint64_t>(result));
    return std::nullopt;
  }

  std::optional<ExitEvent> OnException() {
    auto frame = vm_->ReadExceptionFrame();
    if (!frame) {
      return Signaled(SIGSEGV, "exception with an unreadable frame: " +
                                   frame.error().ToString());
    }
    // `int $0x80` through a gate the IDT does not have: #GP or #NP with
    // the IDT bit and vector 0x80 in the error code (on hardware; kvm_pvm
    // fails to emulate it instead, see OnInternalError).
    if ((frame->vector == 13 || frame->vector == 11) &&
        frame->error_code == ((0x80 << 3) | 2)) {
      vm_->regs().rsp = frame->rsp;
      return OnInt80(frame->rip + 2);
    }
    const kvm::FaultSignal signal = kvm::FaultSignalForVector(
        frame->vector, frame->error_code, frame->rip, frame->cr2);
    const uint64_t address = frame->vector == 14 ? frame->cr2 : frame->rip;
    // The handler runs on the stack the guest faulted on, with the
    // registers it had: the stub's frame is not the guest's business.
    vm_->regs().rip = frame->rip;
    vm_->regs().rsp = frame->rsp;
    vm_->regs().rflags = frame->rflags;
    return OnGuestFault(
        FaultKindForVector(frame->vector), signal.signal, frame->rip, address,
        "",
        fmt::format("exception {} (error code 0x{:x}) at rip 0x{:x}",
                    frame->vector, frame->error_code, frame->rip),
        signal);
  }

  // The hypervisor could not emulate an instruction (on kvm_pvm hosts: any
  // SSE/AVX instruction).
  std::optional<ExitEvent> OnInternalError(const kvm::VcpuExit& exit) {
    const uint64_t rip = vm_->regs().rip;
    FaultEvent event =
        FaultAt(FaultKind::kInvalidInstruction, SIGILL, rip, rip, "");
    if (event.mnemonic == "int" && event.bytes.size() == 2 &&
        event.bytes[1] == 0x80) {
      return OnInt80(rip + 2);
    }
    if (event.mnemonic == "int3" ||
        (event.mnemonic == "int" && event.bytes.size() == 2 &&
         event.bytes[1] == 3)) {
      // kvm_pvm cannot emulate a breakpoint; it is one all the same.
      // Linux reports int3 as a trap: the handler sees RIP after it.
      vm_->regs().rip = rip + event.bytes.size();
      return OnGuestFault(FaultKind::kBreakpoint, SIGTRAP, rip, rip, "",
                          fmt::format("breakpoint at rip 0x{:x}", rip),
                          kvm::FaultSignalForVector(3, 0, rip, 0));
    }
    std::string what =
        event.mnemonic.empty() ? "an instruction" : event.mnemonic;
    // The SSE/AVX hint only where the instruction touches vector
    // registers; others (lar, verr, ...) are simply not in KVM's emulator.
    const auto decoded = DecodeInstruction(event.bytes);
    const bool vector =
        decoded.has_value() &&
        std::any_of(decoded->operands.begin(), decoded->operands.end(),
                    [](const DecodedOperand& o) {
                      return o.reg.starts_with("xmm") ||
                             o.reg.starts_with("ymm") ||
                             o.reg.starts_with("zmm") ||
                             o.reg.starts_with("mm");
                    });
    auto verdict = Ask(event);
    if (!verdict) return Signaled(SIGKILL);
    return Signaled(
        SIGILL,
        fmt::format(
            "the hypervisor cannot emulate {} at rip 0x{:x} ({}); {}", what,
            rip, DescribeExit(exit),
            vector ? "on a host without hardware virtualization, build the "
                     "workload without SSE/AVX (-mgeneral-regs-only -mno-sse)"
                   : "KVM's instruction emulator, which runs guest code on a "
                     "host without hardware virtualization, does not "
                     "implement it"));
  }

  // A fault the guest cannot survive: decided by the policy, then the run
  // ends as Linux would end a process without a handler for `signal`.
  std::optional<ExitEvent> OnGuestFault(
      FaultKind kind, int signal, uint64_t rip, uint64_t address,
      std::string mnemonic, std::string detail,
      std::optional<kvm::FaultSignal> deliverable = std::nullopt) {
    auto verdict =
        Ask(FaultAt(kind, signal, rip, address, std::move(mnemonic)));
    if (!verdict || verdict->action.action == Action::kKill) {
      run_over_ = true;
      return Signaled(SIGKILL);
    }
    // deliver (and report: the kernel's default follows, which runs a
    // handler when there is one) for a fault the CPU raised.
    if (deliverable && (verdict->action.action == Action::kDeliver ||
                        verdict->action.action == Action::kReport)) {
      if (DeliverToHandler(*deliverable)) return std::nullopt;
    }
    return Signaled(signal, std::move(detail));
  }

  // hlt or port I/O to a port the VMM does not serve: in a Linux process
  // either is a #GP (SIGSEGV, SI_KERNEL) at the instruction.
  std::optional<ExitEvent> OnPrivilegedExit(uint64_t rip, std::string mnemonic,
                                            std::string detail) {
    vm_->regs().rip = rip;
    return OnGuestFault(FaultKind::kPrivilegedInstruction, SIGSEGV, rip, 0,
                        std::move(mnemonic), std::move(detail),
                        kvm::FaultSignalForVector(13, 0, rip, 0));
  }

  // Runs the guest's handler for `fault` as Linux would; false when the
  // signal is blocked, ignored or default (Linux then kills: a synchronous
  // fault is never ignored) or the frame does not fit.
  bool DeliverToHandler(const kvm::FaultSignal& fault) {
    const kvm::GuestSignalAction action =
        kernel_->SignalActionFor(fault.signal);
    const uint64_t bit = uint64_t{1} << (fault.signal - 1);
    if (action.handler <= 1 /* SIG_DFL, SIG_IGN */ ||
        (kernel_->signal_mask() & bit) != 0) {
      return false;
    }
    const std::optional<uint64_t> blocked =
        kvm::DeliverFaultSignal(vm_->memory(), vm_->regs(), action, fault,
                                kernel_->signal_mask(), kernel_->alt_stack());
    if (!blocked) return false;
    vm_->MarkRegsDirty();
    kernel_->set_signal_mask(*blocked);
    if ((kernel_->alt_stack().flags & kvm::kGuestSsAutodisarm) != 0) {
      kernel_->set_alt_stack(kvm::GuestAltStack{});  // SS_AUTODISARM
    }
    if ((action.flags & 0x80000000 /* SA_RESETHAND */) != 0) {
      kernel_->ResetSignalAction(fault.signal);
    }
    return true;
  }

  // A syscall through the i386 ABI (`int $0x80`): decided like any other,
  // never performed (the VMM implements the x86-64 ABI only), then the
  // guest resumes at `next`.
  std::optional<ExitEvent> OnInt80(uint64_t next) {
    ++syscalls_;
    kvm_regs& regs = vm_->regs();
    SyscallRequest request;
    request.abi = Abi::kI386;
    request.number = static_cast<int>(regs.rax & 0xffffffff);
    request.args = {regs.rbx & 0xffffffff, regs.rcx & 0xffffffff,
                    regs.rdx & 0xffffffff, regs.rsi & 0xffffffff,
                    regs.rdi & 0xffffffff, regs.rbp & 0xffffffff};
    auto verdict = Ask(SyscallEvent{pid_, request});
    if (!verdict || verdict->action.action == Action::kKill) {
      run_over_ = true;
      return Signaled(SIGKILL);
    }
    int64_t result = -ENOSYS;
    if (verdict->action.action == Action::kDeny) {
      result = -verdict->action.errno_value;
    } else if (verdict->action.action == Action::kEmulate) {
      result = verdict->action.emulate_value;
    }
    kvm_regs& after = vm_->regs();
    after.rax = static_cast<uint64_t>(result);
    after.rip = next;
    vm_->MarkRegsDirty();
    return std::nullopt;
  }

  // The process model: one process runs at a time. fork suspends the
  // parent (its registers, segment state, kernel and a copy of its RAM)
  // and runs the child in the same VM until the child ends; then the
  // parent resumes with the child's pid and can wait4 for its status. A
  // workload that needs parent and child to run at once (a pipe between
  // them, a parent that never waits) does not work here.
  struct ProcessCall {
    int64_t result = 0;
    bool resumed = false;            // registers already set
    std::optional<ExitEvent> ended;  // the process ended
  };
  std::optional<ProcessCall> OnProcessCall(const kvm::DecodedCall& call) {
    if (call.request.abi != Abi::kX86_64) return std::nullopt;
    const auto& args = call.request.args;
    switch (call.request.number) {
      case SYS_fork:
      case SYS_vfork:
        return Fork(0, 0);
      case SYS_clone: {
        // clone(flags, stack, parent_tid, child_tid, tls): processes only.
        constexpr uint64_t kSupported =
            CSIGNAL | CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID |
            CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_SETTLS;
        if ((args[0] & ~kSupported) != 0) {
          return ProcessCall{.result = -ENOSYS};  // threads, namespaces...
        }
        return Fork(args[0], args[1]);
      }
      case SYS_execve:
        return Execve(call, args[1], args[2]);
      case SYS_execveat:
        if (call.names_fd) return ProcessCall{.result = -ENOSYS};
        return Execve(call, args[2], args[3]);
      case SYS_wait4:
        return ProcessCall{.result = Wait4(args)};
      case SYS_rt_sigreturn: {
        // `syscall` masked RFLAGS; the flags the frame may not change
        // (IF...) come from the workload's, which the CPU saved in R11.
        vm_->regs().rflags = vm_->regs().r11;
        kvm::GuestAltStack stack = kernel_->alt_stack();
        std::optional<uint64_t> mask =
            kvm::ReturnFromSignal(vm_->memory(), vm_->regs(), &stack);
        if (!mask) {
          return ProcessCall{.ended =
                                 Signaled(SIGSEGV,
                                          "rt_sigreturn with an unreadable "
                                          "signal frame")};
        }
        vm_->MarkRegsDirty();
        kernel_->set_signal_mask(*mask);
        kernel_->set_alt_stack(stack);
        return ProcessCall{.resumed = true};
      }
      case SYS_kill:
      case SYS_tkill:
        return Kill(static_cast<int64_t>(args[0]), args[1]);
      case SYS_tgkill:
        return Kill(static_cast<int64_t>(args[1]), args[2]);
      default:
        return std::nullopt;
    }
  }

  ProcessCall Fork(uint64_t flags, uint64_t child_stack) {
    // The processes alive at once: the suspended ancestors and this one.
    const uint64_t alive = suspended_.size() + 1;
    if (const auto& limit = policy_->resources.processes;
        limit && alive >= *limit) {
      run_over_ = true;
      channel_.Post(LimitEvent{
          LimitKind::kProcesses,
          fmt::format("processes limit of {} reached (fork refused)", *limit)});
      return ProcessCall{.ended = Signaled(SIGKILL)};
    }
    constexpr size_t kMaxDepth = 64;
    if (suspended_.size() >= kMaxDepth) return ProcessCall{.result = -EAGAIN};
    auto sregs = vm_->GetSregs();
    if (!sregs) return ProcessCall{.result = -EAGAIN};
    auto snapshot = vm_->memory().TakeSnapshot();
    if (!snapshot) return ProcessCall{.result = -ENOMEM};
    auto child_kernel = kernel_->Clone(vm_->memory());
    if (!child_kernel) return ProcessCall{.result = -EMFILE};
    const int child = next_pid_++;
    (*child_kernel)->SetProcess(child, pid_);

    SuspendedProcess parent;
    parent.pid = pid_;
    parent.ppid = ppid_;
    parent.sregs = *sregs;
    parent.memory = std::move(*snapshot);
    parent.shares_memory = (flags & CLONE_VM) != 0;
    parent.kernel = std::move(kernel_);
    vm_->CompleteSyscall(static_cast<uint64_t>(child));
    parent.regs = vm_->regs();
    suspended_.push_back(std::move(parent));

    kernel_ = std::move(*child_kernel);
    ppid_ = pid_;
    pid_ = child;
    kvm_regs& regs = vm_->regs();
    regs.rax = 0;
    if (child_stack != 0) regs.rsp = child_stack;
    vm_->MarkRegsDirty();
    return ProcessCall{.resumed = true};
  }

  // The child ended with `end`: its parent comes back.
  Status ResumeParent(const ExitEvent& end) {
    SuspendedProcess parent = std::move(suspended_.back());
    suspended_.pop_back();
    const int status = end.signaled ? end.signal : (end.exit_code & 0xff) << 8;
    zombies_.erase(pid_);  // the child's own unwaited children
    zombies_[parent.pid].push_back({pid_, status});
    kernel_ = std::move(parent.kernel);
    // A CLONE_VM child that did not exec shared the parent's memory: its
    // writes stay, as they would.
    if (!parent.shares_memory || parent.child_execed) {
      if (auto ok = vm_->memory().RestoreSnapshot(parent.memory); !ok) {
        return ok;
      }
    }
    if (auto ok = vm_->SetSregs(parent.sregs); !ok) return ok;
    vm_->regs() = parent.regs;
    vm_->MarkRegsDirty();
    pid_ = parent.pid;
    ppid_ = parent.ppid;
    return {};
  }

  int64_t Wait4(const std::array<uint64_t, 6>& args) {
    const auto wanted = static_cast<int32_t>(args[0]);
    auto it = zombies_.find(pid_);
    if (it == zombies_.end()) return -ECHILD;
    auto& ended = it->second;
    auto child = std::find_if(ended.begin(), ended.end(), [&](const auto& z) {
      return wanted <= 0 || z.first == wanted;
    });
    if (child == ended.end()) return -ECHILD;
    kvm::GuestMemory& memory = vm_->memory();
    if (args[1] != 0 && !memory.WriteValue<int32_t>(
                            args[1], static_cast<int32_t>(child->second))) {
      return -EFAULT;
    }
    if (args[3] != 0) {
      static constexpr std::array<uint8_t, sizeof(rusage)> kNoUsage{};
      if (!memory.Write(args[3], kNoUsage.data(), kNoUsage.size())) {
        return -EFAULT;
      }
    }
    const int pid = child->first;
    ended.erase(child);
    return pid;
  }

  // kill, tkill, tgkill: only the running process itself is there to
  // signal (its ancestors are suspended, its children have ended).
  ProcessCall Kill(int64_t target, uint64_t signal) {
    if (signal > 64) return ProcessCall{.result = -EINVAL};
    const bool self = target == pid_ || target == 0 || target == -1 ||
                      target == -static_cast<int64_t>(pid_);
    if (!self) return ProcessCall{.result = -ESRCH};
    const int sig = static_cast<int>(signal);
    if (sig == 0 || sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
        sig == SIGCONT) {
      return ProcessCall{};  // nothing, or ignored by default
    }
    // Asynchronous signals are not delivered to handlers: the default
    // action (termination) follows.
    return ProcessCall{.ended = Signaled(sig)};
  }

  // Reads a NULL-terminated array of guest strings (argv, envp) once.
  // Bounded like Linux: each string at most 128 KiB, all of them 2 MiB.
  static Result<std::vector<std::string>> ReadStrings(
      const kvm::GuestMemory& memory, uint64_t array) {
    constexpr size_t kMaxString = size_t{128} * 1024;
    constexpr size_t kMaxTotal = size_t{2} * 1024 * 1024;
    std::vector<std::string> strings;
    if (array == 0) return strings;
    size_t total = 0;
    for (uint64_t i = 0;; ++i) {
      if (i > kMaxTotal / sizeof(uint64_t)) {
        return tl::unexpected(Error(ErrorCode::kInvalidArgument, "", E2BIG));
      }
      auto pointer = memory.ReadValue<uint64_t>(array + i * 8);
      if (!pointer || array + i * 8 < array) {
        return tl::unexpected(Error(ErrorCode::kInvalidArgument, "", EFAULT));
      }
      if (*pointer == 0) return strings;
      auto text = memory.ReadString(*pointer, kMaxString);
      if (!text) {
        return tl::unexpected(Error(
            ErrorCode::kInvalidArgument, "",
            text.error() == kvm::GuestMemory::StringError::kFault ? EFAULT
                                                                  : E2BIG));
      }
      total += text->size() + 1 + sizeof(uint64_t);
      if (total > kMaxTotal) {
        return tl::unexpected(Error(ErrorCode::kInvalidArgument, "", E2BIG));
      }
      strings.push_back(std::move(*text));
    }
  }

  // execve in the VM: the new image replaces the old one in fresh RAM.
  ProcessCall Execve(const kvm::DecodedCall& call, uint64_t argv_address,
                     uint64_t envp_address) {
    if (call.decode_errno != 0) {
      return ProcessCall{.result = -call.decode_errno};
    }
    const std::string& path = call.request.paths.at(0).path;
    kvm::GuestMemory& memory = vm_->memory();
    auto argv = ReadStrings(memory, argv_address);
    if (!argv) return ProcessCall{.result = -argv.error().sys_errno()};
    auto envp = ReadStrings(memory, envp_address);
    if (!envp) return ProcessCall{.result = -envp.error().sys_errno()};
    auto fd = kernel_->OpenExecutable(path);
    if (!fd) {
      const int error = fd.error().sys_errno();
      return ProcessCall{.result = -(error != 0 ? error : EACCES)};
    }
    auto file = kvm::ReadExecutable(fmt::format("/proc/self/fd/{}", fd->get()),
                                    kMaxExecutableBytes);
    if (!file) return ProcessCall{.result = -EACCES};
    auto image = kvm::ParseElf(*file);
    if (!image) return ProcessCall{.result = -ENOEXEC};

    // The point of no return: from here a failure ends the process.
    auto fail = [&](const Error& error) {
      return ProcessCall{
          .ended = Signaled(SIGSEGV, fmt::format("execve of {} failed after "
                                                 "the old image was gone: {}",
                                                 path, error.ToString()))};
    };
    if (auto ok = vm_->ResetGuest(); !ok) return fail(ok.error());
    auto program =
        LoadImage(*image, *file, std::move(*argv), std::move(*envp), path);
    if (!program) return fail(program.error());
    kernel_->Exec(kvm::GuestKernel::Image{
        program->image_end, program->image_end,
        kvm::StackRegionFor(memory.size()).guard_bottom, path});
    if (!suspended_.empty()) suspended_.back().child_execed = true;
    return ProcessCall{.resumed = true};
  }

  // Places an executable's image into (fresh) guest RAM, builds its initial
  // stack and points the vCPU at its entry: what Start and execve share.
  Result<kvm::LoadedProgram> LoadImage(const kvm::ElfImage& image,
                                       std::span<const uint8_t> file,
                                       std::vector<std::string> argv,
                                       std::vector<std::string> env,
                                       const std::string& execfn) {
    kvm::GuestMemory& memory = vm_->memory();
    const kvm::StackRegion stack = kvm::StackRegionFor(memory.size());
    auto program = kvm::LoadElf(image, file, memory, kvm::kWorkloadBase,
                                stack.guard_bottom);
    if (!program) return tl::unexpected(program.error());
    kvm::StackInputs inputs;
    inputs.argv = std::move(argv);
    inputs.env = std::move(env);
    inputs.execfn = execfn;
    inputs.uid = policy_->identity.uid.value_or(0);
    inputs.gid = policy_->identity.gid.value_or(0);
    if (getrandom(inputs.random.data(), inputs.random.size(), 0) !=
        static_cast<ssize_t>(inputs.random.size())) {
      return tl::unexpected(Error::FromErrno("kvm: getrandom", errno));
    }
    auto rsp = kvm::BuildInitialStack(memory, stack, *program, inputs);
    if (!rsp) return tl::unexpected(rsp.error());
    kvm_regs& regs = vm_->regs();
    regs = kvm_regs{};
    regs.rip = program->entry;
    regs.rsp = *rsp;
    regs.rflags = 0x2;  // reserved bit 1
    vm_->MarkRegsDirty();
    return program;
  }

  // Where the instruction `mnemonic` that ends just before `next` starts
  // (KVM reports some exits with RIP already past the instruction); `next`
  // itself when no such instruction decodes there.
  uint64_t InstructionBefore(uint64_t next, std::string_view mnemonic) const {
    const kvm::GuestMemory& memory = vm_->memory();
    for (uint64_t length = 1; length <= kMaxInstructionLength; ++length) {
      if (next < length) break;
      std::vector<uint8_t> bytes(length);
      if (!memory.Read(next - length, bytes.data(), length)) break;
      auto decoded = DecodeInstruction(bytes);
      if (decoded && decoded->length == length &&
          decoded->mnemonic == mnemonic) {
        return next - length;
      }
    }
    return next;
  }

  FaultEvent FaultAt(FaultKind kind, int signal, uint64_t rip, uint64_t address,
                     std::string mnemonic) const {
    FaultEvent event;
    event.pid = pid_;
    event.kind = kind;
    event.signal = signal;
    event.rip = rip;
    event.address = address;
    const kvm::GuestMemory& memory = vm_->memory();
    if (rip < memory.size()) {
      const uint64_t n =
          std::min<uint64_t>(kMaxInstructionLength, memory.size() - rip);
      event.bytes.resize(n);
      if (!memory.Read(rip, event.bytes.data(), n)) event.bytes.clear();
      if (auto decoded = DecodeInstruction(event.bytes)) {
        event.bytes.resize(decoded->length);
        if (mnemonic.empty()) mnemonic = decoded->mnemonic;
      }
    }
    event.mnemonic = std::move(mnemonic);
    return event;
  }

  // Posts an event that needs a verdict and waits for it; nullopt when the
  // run was killed meanwhile.
  std::optional<Verdict> Ask(Event event) {
    const uint32_t before = verdict_seq_.load(std::memory_order_acquire);
    channel_.Post(std::move(event));
    const Clock::time_point spin_end = Clock::now() + kVmmSpin;
    while (verdict_seq_.load(std::memory_order_acquire) == before) {
      if (Clock::now() >= spin_end) {
        verdict_seq_.wait(before, std::memory_order_acquire);
      } else {
        CpuRelax();
      }
    }
    if (killed_.load()) return std::nullopt;
    return verdict_;
  }

  std::shared_ptr<const Policy> policy_;
  // The VMM thread says whether it confined itself. A member, not a local
  // of Start: set_value may still be running when Start's get() returns.
  std::promise<Status> ready_;
  std::unique_ptr<kvm::Vm> vm_;
  std::unique_ptr<kvm::GuestKernel> kernel_;
  EventChannel channel_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> killed_{false};
  std::atomic<uint32_t> verdict_seq_{0};
  // Guest syscalls (each a VM exit), counted on the VMM thread and read
  // once it has been joined.
  uint64_t syscalls_ = 0;
  Verdict verdict_;  // written before verdict_seq_ is released
  std::optional<uint64_t> cpu_budget_;
  std::optional<timer_t> cpu_timer_;
  // The run must end with the current ending, whatever process it is (a
  // kill verdict, a limit, a VMM error), rather than resume a parent.
  bool run_over_ = false;

  // The process model (see OnProcessCall).
  struct SuspendedProcess {
    int pid = 0;
    int ppid = 0;
    kvm_regs regs{};    // resumes after its fork with the child's pid
    kvm_sregs sregs{};  // segment state, fs and gs bases included
    kvm::GuestMemory::Snapshot memory;
    bool shares_memory = false;  // CLONE_VM
    bool child_execed = false;
    std::unique_ptr<kvm::GuestKernel> kernel;
  };
  std::vector<SuspendedProcess> suspended_;  // innermost last
  int pid_ = 1;
  int ppid_ = 0;
  int next_pid_ = 2;
  // Ended children not yet waited for, by parent pid: (pid, wait status).
  std::map<int, std::vector<std::pair<int, int>>> zombies_;
};

KvmBackend::KvmBackend() : vmm_(std::make_unique<Vmm>()) {}
KvmBackend::~KvmBackend() = default;

ProbeResult KvmBackend::Probe() const {
  const Feature kvm = CheckKvm();
  return {kvm.available, kvm.available ? "" : kvm.detail};
}

Status KvmBackend::Start(const Workload& workload, const CompiledPlan& plan) {
  if (!plan.compiled()) {
    return Fail(ErrorCode::kInternal, "kvm backend given an uncompiled plan");
  }
  return vmm_->Start(workload, plan);
}

Result<std::optional<Event>> KvmBackend::NextEvent(const WaitLimit& wait) {
  return vmm_->NextEvent(wait);
}

Status KvmBackend::Resolve(const Event& /*event*/, const Verdict& verdict) {
  return vmm_->Resolve(verdict);
}

void KvmBackend::Kill() { vmm_->Kill(); }

std::vector<std::string> KvmBackend::HostSyscallSurface() {
  std::vector<std::string> names;
  for (std::string_view name : kvm::VmmAllowedSyscalls()) {
    names.emplace_back(name);
  }
  return names;
}

}  // namespace isoscope
