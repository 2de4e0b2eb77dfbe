#include "backends/ptrace/ptrace_backend.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/ptrace.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "backends/process/exec_image.h"
#include "backends/process/network.h"
#include "backends/process/syscall_paths.h"
#include "backends/process/workload_output.h"
#include "policies/syscalls.h"
#include "supervisor/host_facts.h"

// <sys/ptrace.h> and <linux/ptrace.h> clash; the few glibc declarations
// needed are these.
extern "C" long ptrace(int request, ...);  // NOLINT(google-runtime-int)

namespace isoscope {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kDrainLimit = std::chrono::seconds(2);
// SIGCHLD can be taken by another thread of isoscope that does not block
// it; poll never sleeps longer than this without looking for stops.
constexpr int kReapIntervalMs = 100;
constexpr int kX32SyscallBit = 0x40000000;
constexpr uint64_t kMapFixedNoReplace = 0x100000;
constexpr uint64_t kMadvCollapse = 25;  // MADV_COLLAPSE (Linux 6.1)
// si_code of a SIGSYS raised by SECCOMP_RET_TRAP (<asm-generic/siginfo.h>,
// which glibc's <signal.h> does not expose).
constexpr int kSysSeccomp = 1;

constexpr unsigned kTraceOptions = PTRACE_O_EXITKILL | PTRACE_O_TRACESECCOMP |
                                   PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
                                   PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC |
                                   PTRACE_O_TRACEEXIT | PTRACE_O_TRACESYSGOOD;

// Rule ids of decisions the backend makes to protect itself, never the
// policy's: the conformance test leaves them out.
constexpr std::string_view kScratchGuardRule = "ptrace.scratch-guard";
constexpr std::string_view kScratchUnavailableRule =
    "ptrace.scratch-unavailable";

// user_regs_struct uses unsigned long long.
unsigned long long& ArgRegister(user_regs_struct& regs,  // NOLINT
                                int index) {
  switch (index) {
    case 0:
      return regs.rdi;
    case 1:
      return regs.rsi;
    case 2:
      return regs.rdx;
    case 3:
      return regs.r10;
    case 4:
      return regs.r8;
    default:
      return regs.r9;
  }
}

Status GetRegs(pid_t tid, user_regs_struct& regs) {
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) {
    return FailErrno(fmt::format("PTRACE_GETREGS of {}", tid), errno);
  }
  return {};
}

Status SetRegs(pid_t tid, const user_regs_struct& regs) {
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0) {
    return FailErrno(fmt::format("PTRACE_SETREGS of {}", tid), errno);
  }
  return {};
}

// Whether `tid`, which was in a ptrace stop, has left it, given `failure`,
// an error handling that stop. Only SIGKILL wakes a stopped tracee (sent by
// another process of the workload, which may kill its own, or by the
// kernel), and from then on every ptrace request about it fails with ESRCH
// until it stops again, at PTRACE_EVENT_EXIT on its way out (so asking once
// more is no proof: by then it may be in that stop; the request that failed
// is). Its exit comes next from wait4. A failure to handle a stop of such a
// tracee is the workload's doing, not an error of isoscope's.
bool LeftItsStop(pid_t tid, const Error& failure) {
  if (failure.sys_errno() == ESRCH) return true;
  unsigned long message = 0;  // NOLINT(google-runtime-int): ptrace's type
  return ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &message) != 0 &&
         errno == ESRCH;
}

bool IsStopSignal(int signal) {
  return signal == SIGSTOP || signal == SIGTSTP || signal == SIGTTIN ||
         signal == SIGTTOU;
}

bool IsFaultSignal(int signal) {
  return signal == SIGSEGV || signal == SIGILL || signal == SIGBUS ||
         signal == SIGFPE || signal == SIGTRAP;
}

// Whether a guarded memory call reaches the scratch region. The filter sends
// only calls whose address lies below the region's end; this is the exact
// check.
bool TouchesScratch(int number, const std::array<uint64_t, 6>& args) {
  switch (number) {
    case SYS_munmap:
    case SYS_mprotect:
    case SYS_pkey_mprotect:
    case SYS_madvise:
      return scratch::Overlaps(args[0], args[1]);
    case SYS_mmap:
      return (args[3] & MAP_FIXED) != 0 && scratch::Overlaps(args[0], args[1]);
    case SYS_mremap:
      // An old size of 0 duplicates a shared mapping: a second mapping of
      // the region's object, which could then be made writable.
      return scratch::Overlaps(args[0], std::max<uint64_t>(args[1], 1)) ||
             ((args[3] & MREMAP_FIXED) != 0 &&
              scratch::Overlaps(args[4], args[2]));
    case SYS_shmat:
      // The segment's size is not in the call; any attach at or below the
      // region's end is refused.
      return args[1] != 0 && args[1] < scratch::kEnd;
    case SYS_remap_file_pages:
      return scratch::Overlaps(args[0], args[1]);
    case SYS_prctl:
      // PR_SET_MM can move the heap's bounds over the region, which brk
      // then unmaps (no capability needed for PR_SET_MM_MAP).
      return (args[0] & 0xffffffff) == PR_SET_MM;
    case SYS_process_madvise: {
      // Its ranges are in memory; only the advice the kernel also takes
      // for another process (none discards or changes a page) is let
      // through. MADV_REMOVE would punch the region's copies out.
      const uint64_t advice = args[3] & 0xffffffff;
      return advice != MADV_COLD && advice != MADV_PAGEOUT &&
             advice != MADV_WILLNEED && advice != kMadvCollapse;
    }
    default:
      return false;
  }
}

std::vector<ResourceLimit> LimitsFor(const Resources& resources) {
  std::vector<ResourceLimit> limits;
  if (resources.memory_bytes) {
    // Address space, not resident memory: without a cgroup this is what the
    // kernel can enforce per process.
    limits.push_back({RLIMIT_AS, *resources.memory_bytes});
  }
  if (resources.processes) {
    limits.push_back({RLIMIT_NPROC, *resources.processes});
  }
  if (resources.cpu_time_ms) {
    limits.push_back({RLIMIT_CPU, (*resources.cpu_time_ms + 999) / 1000});
  }
  if (resources.open_files) {
    limits.push_back({RLIMIT_NOFILE, *resources.open_files});
  }
  if (resources.file_size_bytes) {
    limits.push_back({RLIMIT_FSIZE, *resources.file_size_bytes});
  }
  return limits;
}

}  // namespace

PtraceBackend::~PtraceBackend() {
  KillAll();
  // Reap every tracee so none is left as a zombie or, worse, stopped. A
  // killed tracee still stops at PTRACE_EVENT_EXIT and stays there until
  // isoscope resumes it (the SIGKILLs that follow are dropped: it is already
  // exiting), so each stop is resumed, one reported before and never
  // answered too (the run may end between a stop and its answer: a failed
  // ptrace request, an interrupt). Every tracee is waited for without
  // blocking: a leader's exit comes only after its threads' have been
  // resumed.
  for (const auto& [tid, tracee] : tracees_) {
    ptrace(PTRACE_CONT, tid, nullptr, 0);  // ESRCH unless stopped
  }
  while (!tracees_.empty()) {
    bool collected = false;
    for (auto it = tracees_.begin(); it != tracees_.end();) {
      const pid_t tid = it->first;
      int status = 0;
      const pid_t got = ::waitpid(tid, &status, __WALL | WNOHANG);
      if (got == 0 || (got < 0 && errno == EINTR)) {
        ++it;
        continue;
      }
      collected = true;
      if (got < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
        it = tracees_.erase(it);
        continue;
      }
      const int event = (status >> 16) & 0xff;
      unsigned long raw = 0;  // NOLINT(google-runtime-int): ptrace's type
      if ((event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK ||
           event == PTRACE_EVENT_CLONE) &&
          ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &raw) == 0) {
        // A task made meanwhile: followed, and killed (never kill(0)).
        if (const auto made = static_cast<pid_t>(raw); made > 0) {
          tracees_.try_emplace(made);
          ::kill(made, SIGKILL);
        }
      }
      ptrace(PTRACE_CONT, tid, nullptr, 0);
      ++it;
    }
    if (!collected) {
      // Until the next SIGCHLD, or a pass every kReapIntervalMs.
      pollfd fd = {sigchld_.get(), POLLIN, 0};
      if (::poll(&fd, 1, kReapIntervalMs) > 0) {
        signalfd_siginfo info;
        while (::read(sigchld_.get(), &info, sizeof info) > 0) {
        }
      }
    }
  }
  child_.reset();
  if (mask_saved_) ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
}

ProbeResult PtraceBackend::Probe() const {
  if (::prctl(PR_GET_SECCOMP) < 0) {
    return {false, "this kernel has no seccomp (CONFIG_SECCOMP_FILTER)"};
  }
  std::ifstream yama("/proc/sys/kernel/yama/ptrace_scope");
  int scope = 0;
  if (yama >> scope && scope >= 3) {
    return {false,
            "ptrace is disabled (kernel.yama.ptrace_scope = 3); it cannot "
            "be re-enabled without a reboot"};
  }
  return {true, ""};
}

Status PtraceBackend::Start(const Workload& workload,
                            const CompiledPlan& plan) {
  if (child_) return Fail(ErrorCode::kInternal, "ptrace backend reused");
  if (!plan.compiled()) {
    return Fail(ErrorCode::kInternal,
                "ptrace backend given an uncompiled plan");
  }
  plan_ = plan;
  const Policy& policy = plan.policy();

  SeccompRouting routing;
  routing.trace_paths = true;
  routing.user_notif = true;
  // isoscope's own execve of the workload must get through whatever the
  // policy says about exec, and is the moment the listener is copied.
  routing.trace_always = {SYS_execve, SYS_execveat};
  routing.kills = KillRoute::kTrap;
  // Denials come to the listener, so each is recorded with its rule (it
  // answers with the plan's errno); a notification costs less than a stop.
  routing.notify_denials = true;
  routing.forbid_untraced_clones = true;
  routing.forbid_kernel_userfaults = true;
  // A process-creating call a policy inspects (conditions on clone's
  // memory-held arguments, `log`) is decided at a stop: a signal to the
  // caller before isoscope's answer would fail it with EINTR as a
  // notification.
  routing.trace_inspected = {SYS_clone, SYS_clone3, SYS_fork, SYS_vfork};
  // A call the endpoint lists decide stops in the tracer, which hands the
  // kernel a read-only copy of its socket address (and of sendmsg's
  // msghdr): the workload cannot rewrite what was decided on.
  for (int number : {SYS_connect, SYS_bind, SYS_sendto, SYS_sendmsg}) {
    if (EndpointListsApply(policy, number)) {
      routing.trace_inspected.push_back(number);
    }
  }
  // Path calls isoscope can perform itself are notified and performed on
  // the resolved path, installing the result: nothing the workload can
  // still write is left for the kernel to read. The rest (exec, chdir, ...)
  // stop in the tracer, which hands the kernel a checked copy.
  for (int number : AllSyscallNumbers()) {
    if (CanPerform(number) && number != SYS_execve && number != SYS_execveat &&
        !PathArguments(number).empty()) {
      routing.notify_paths.push_back(number);
    }
  }
  routing.guard_begin = scratch::kBegin;
  routing.guard_end = scratch::kEnd;
  auto program = BuildSeccompProgram(plan, routing);
  if (!program) return tl::unexpected(program.error());
  program_ = std::move(*program);

  auto pipes = WorkloadPipes::Create();
  if (!pipes) return tl::unexpected(pipes.error());

  // Stops are noticed through SIGCHLD on a signalfd, so one poll covers
  // stops, notifications, output and the interrupt.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (int rc = ::pthread_sigmask(SIG_BLOCK, &chld, &saved_mask_); rc != 0) {
    return FailErrno("blocking SIGCHLD", rc);
  }
  mask_saved_ = true;
  sigchld_.Reset(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigchld_) return FailErrno("signalfd(SIGCHLD)", errno);

  emulator_.emplace(policy.faults.hide_hypervisor);
  process_limit_ = policy.resources.processes;

  // The container's identity, by the same code: the policy's ids on the
  // host (no user namespace: with `user_namespace`, what the container's
  // workload is on the host), every capability but the kept ones dropped
  // with the securebits locked, a host name in a UTS namespace of its own.
  const HostIds host = HostIdsFor(policy.identity);
  identity_.uid = host.uid;
  identity_.gid = host.gid;
  // No `identity.hostname`: the UTS namespace keeps the host's names.
  identity_.hostname = policy.identity.hostname.value_or("");
  identity_.loopback_up = LoopbackUp(policy.network);
  identity_.own_proc = true;
  workload_uid_ = host.uid.value_or(::geteuid());
  workload_gid_ = host.gid.value_or(::getegid());
  auto capabilities = CapabilityDrop::Create(policy.capabilities);
  if (!capabilities) return tl::unexpected(capabilities.error());
  // Either capability lets the workload open /proc/self/map_files/<region>
  // for writing and map the scratch region's object writable elsewhere,
  // rewriting checked copies after isoscope's decision.
  constexpr uint64_t kRewriteScratch =
      (uint64_t{1} << CAP_SYS_ADMIN) | (uint64_t{1} << CAP_CHECKPOINT_RESTORE);
  if ((capabilities->kept_mask() & kRewriteScratch) != 0) {
    return Fail(ErrorCode::kPolicy,
                "the ptrace backend cannot keep CAP_SYS_ADMIN or "
                "CAP_CHECKPOINT_RESTORE: with either the workload can open "
                "/proc/self/map_files and rewrite the copies of checked "
                "arguments isoscope hands the kernel");
  }
  // Every process of the workload is isoscope's tracee already, so
  // CAP_SYS_PTRACE reaches only processes that are not the workload's: the
  // init of its pid namespace (a copy of isoscope with root's capabilities
  // in the host's mount and network namespaces) and the namespaced
  // opener's helper. Attaching to the init was a way out of the sandbox.
  if ((capabilities->kept_mask() & (uint64_t{1} << CAP_SYS_PTRACE)) != 0) {
    return Fail(ErrorCode::kPolicy,
                "the ptrace backend cannot keep CAP_SYS_PTRACE: every "
                "process of the workload is already traced by isoscope, so "
                "it would reach only isoscope's own processes in the "
                "workload's pid namespace (its init holds root's "
                "capabilities in the host's namespaces); drop it, or use "
                "the container backend");
  }
  capabilities_ = std::move(*capabilities);
  setup_.emplace(identity_, *capabilities_);
  if (auto given = GiveScratchWorkdir(workload, host); !given) return given;

  SpawnOptions options;
  options.stdio = pipes->stdio();
  options.limits = LimitsFor(policy.resources);
  // RDTSC is made to trap only when the policy does something with it
  // (emulate, kill, deliver): a trapping task makes every context switch
  // to or from it rewrite CR4.TSD, which in these VMs costs several
  // microseconds per switch (it doubled a user notification's round trip).
  // `report` therefore sees only what traps anyway. Where the host cannot
  // trap it (HostFacts::rdtsc_trapping) the prctl would only cost; the run
  // says the policy's rdtsc action is not applied (the routing's
  // untrapped faults).
  options.trap_rdtsc = policy.faults.rdtsc != Action::kReport &&
                       ProbedHostFacts().rdtsc_trapping.available;
  options.seccomp_filter = program_->fprog();
  options.seccomp_listener = true;
  options.wait_for_release = true;
  options.setup = &*setup_;
  // A pid namespace of its own: the workload cannot name (kill, ptrace,
  // pidfd_open, prlimit, ...) isoscope or any other host process. Its PID 1
  // is a minimal init, not the workload: a traced PID 1 would drop its own
  // fatal signals (see SpawnOptions::separate_init). A mount namespace
  // whose only change is a /proc of that pid namespace (so /proc/<pid>
  // means the workload's own processes, and no host process is listed), a
  // UTS namespace for its host name, a network namespace unless `host`.
  options.namespaces = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS |
                       NetworkNamespaceFlags(policy.network);
  options.separate_init = true;
  options.count_syscalls = workload.count_syscalls;
  // A bundle's rootfs is pivoted into in that mount namespace: the
  // workload's paths, its cwd and fd links as /proc shows them to the
  // tracer, and so the policy's path globs, are all as it sees them there.
  options.root = workload.root;
  auto child = ChildProcess::Spawn(workload, options);
  if (!child) return tl::unexpected(child.error());
  child_ = std::move(*child);
  root_ = child_->pid();
  stdout_ = std::move(pipes->stdout_read);
  stderr_ = std::move(pipes->stderr_read);

  if (ptrace(PTRACE_SEIZE, root_, nullptr, kTraceOptions) != 0) {
    return FailErrno(fmt::format("PTRACE_SEIZE of {}", root_), errno);
  }
  tracees_[root_] = Tracee{.tgid = root_};
  if (auto released = child_->Release(); !released) return released;
  return WaitForExec();
}

// Lets the child through its set-up and its execve of the workload, which
// the filter sends to the tracer: that stop is where the listener is copied.
Status PtraceBackend::WaitForExec() {
  auto announced = child_->ReadSpawnReport();
  if (!announced) return tl::unexpected(announced.error());
  // Paths are resolved in the workload's root and mount namespace, whose
  // /proc is its own: opened once the child announced its listener, after
  // it entered its root (a bundle's rootfs) and its set-up mounted /proc (a
  // lookup through this fd sees the mounts of the moment).
  root_dir_.Reset(::open(fmt::format("/proc/{}/root", root_).c_str(),
                         O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_dir_) {
    return FailErrno(fmt::format("open /proc/{}/root (O_PATH)", root_), errno);
  }
  namespaced_opener_ = std::make_unique<NamespacedOpener>(
      workload_uid_, workload_gid_,
      capabilities_ ? capabilities_->kept_mask() : 0);
  while (!root_execed_) {
    int status = 0;
    rusage usage{};
    pid_t got;
    do {
      // Once the listener is copied, a call of the child's own set-up code
      // after its execve (the report of an execve that failed) may be one
      // the policy notifies: it is isoscope's code, let through, or the
      // child would wait for an answer while this waits for the child.
      got = ::wait4(root_, &status, __WALL | (notifier_ ? WNOHANG : 0), &usage);
      if (got == 0) {
        if (auto passed = PassSetUpNotifications(); !passed) return passed;
      }
    } while ((got < 0 && errno == EINTR) || got == 0);
    if (got < 0) return FailErrno("waiting for the workload's exec", errno);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      tracees_.erase(root_);
      child_->MarkReaped();
      auto report = child_->ReadSpawnReport();
      if (!report) return tl::unexpected(report.error());
      return Fail(
          ErrorCode::kSystem,
          fmt::format("the workload ended ({}) before it was "
                      "exec'd; the policy may forbid a call the "
                      "start needs",
                      WIFSIGNALED(status)
                          ? fmt::format("signal {}", WTERMSIG(status))
                          : fmt::format("status {}", WEXITSTATUS(status))));
    }
    int event = status >> 16;
    if (event == PTRACE_EVENT_SECCOMP) {
      if (auto grabbed = GrabListener(); !grabbed) return grabbed;
      if (auto resumed = Continue(root_); !resumed) return resumed;
    } else if (event == PTRACE_EVENT_EXEC) {
      // The program was decided before the start (DecideFirstExec); what
      // else the kernel ran for it is decided as for any later exec, the
      // workload held at this stop until the supervisor's loop has.
      root_execed_ = true;
      if (auto decided = DecideExecImage(root_, ExecImageFiles(root_));
          !decided) {
        return decided;
      }
    } else {
      int signal = event == 0 ? WSTOPSIG(status) : 0;
      if (auto resumed = Continue(root_, signal); !resumed) return resumed;
    }
  }
  auto execed = child_->ReadSpawnReport();
  if (!execed) return tl::unexpected(execed.error());
  if (!notifier_) {
    return Fail(ErrorCode::kInternal,
                "the workload was exec'd without passing its seccomp "
                "listener");
  }
  return {};
}

Status PtraceBackend::PassSetUpNotifications() {
  // SIGCHLD too: the child's exec stop is what WaitForExec waits for, and
  // waiting on the listener alone let each run's exec wait out the whole
  // kSetUpPollMs (4.4 ms of every ptrace start, traced here).
  pollfd fds[2] = {{notifier_->fd(), POLLIN, 0}, {sigchld_.get(), POLLIN, 0}};
  int ready = ::poll(fds, 2, kSetUpPollMs);
  if (ready < 0 && errno != EINTR) return FailErrno("poll(listener)", errno);
  if (ready <= 0) return {};
  if (fds[1].revents != 0) {
    // A stop (or an exit) is ready for the caller's wait4.
    signalfd_siginfo info;
    while (::read(sigchld_.get(), &info, sizeof info) > 0) {
    }
  }
  if (fds[0].revents == 0) return {};
  auto notification = notifier_->Receive();
  if (!notification) return tl::unexpected(notification.error());
  if (!*notification) return {};
  return notifier_->Continue((*notification)->id);
}

Status PtraceBackend::GrabListener() {
  if (notifier_) return {};
  int number = child_->listener_fd_in_child();
  if (number < 0) {
    return Fail(ErrorCode::kInternal, "the child announced no listener");
  }
  auto notifier = SeccompNotifier::CopyFromProcess(child_->pidfd(), number);
  if (!notifier) return tl::unexpected(notifier.error());
  notifier_.emplace(std::move(*notifier));
  return {};
}

Status PtraceBackend::Continue(pid_t tid, int signal) {
  if (ptrace(PTRACE_CONT, tid, nullptr, signal) != 0 && errno != ESRCH) {
    return FailErrno(fmt::format("PTRACE_CONT of {}", tid), errno);
  }
  return {};
}

Status PtraceBackend::Skip(pid_t tid, int64_t value) {
  user_regs_struct regs{};
  if (auto got = GetRegs(tid, regs); !got) return got;
  // At a seccomp stop a syscall number of -1 skips the call and leaves rax
  // as its result.
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rax = static_cast<uint64_t>(value);
  if (auto set = SetRegs(tid, regs); !set) return set;
  ++answered_;
  return Continue(tid);
}

void PtraceBackend::Push(Event event) { Push(std::move(event), Await{}); }

void PtraceBackend::Push(Event event, Await await) {
  pending_.push_back(Pending{std::move(event), std::move(await)});
}

pid_t PtraceBackend::TgidOf(pid_t tid) {
  Tracee& tracee = tracees_[tid];
  if (tracee.tgid != 0) return tracee.tgid;
  std::ifstream status(fmt::format("/proc/{}/status", tid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Tgid:", 0) == 0) {
      tracee.tgid = std::atoi(line.c_str() + 5);
      break;
    }
  }
  if (tracee.tgid == 0) tracee.tgid = tid;
  return tracee.tgid;
}

std::optional<uint64_t> PtraceBackend::SlotOf(pid_t tid) {
  auto owned = std::find(slot_owner_.begin(), slot_owner_.end(), tid);
  if (owned != slot_owner_.end()) {
    return static_cast<uint64_t>(owned - slot_owner_.begin());
  }
  auto free = std::find(slot_owner_.begin(), slot_owner_.end(), 0);
  if (free == slot_owner_.end()) return std::nullopt;
  *free = tid;
  return static_cast<uint64_t>(free - slot_owner_.begin());
}

void PtraceBackend::Forget(pid_t tid) {
  tracees_.erase(tid);
  std::replace(slot_owner_.begin(), slot_owner_.end(), tid, pid_t{0});
  spaces_.erase(tid);
}

void PtraceBackend::KillAll() {
  for (const auto& [tid, tracee] : tracees_) ::kill(tid, SIGKILL);
  if (child_) child_->KillGroup();
}

void PtraceBackend::Kill() { KillAll(); }

Result<std::optional<Event>> PtraceBackend::NextEvent(const WaitLimit& wait) {
  if (!child_ || done_) {
    return Fail(ErrorCode::kInternal, "NextEvent without a running workload");
  }
  if (awaiting_.kind != Await::Kind::kNone) {
    return Fail(ErrorCode::kInternal, "NextEvent before Resolve");
  }
  while (true) {
    if (!pending_.empty()) {
      Pending next = std::move(pending_.front());
      pending_.pop_front();
      awaiting_ = std::move(next.await);
      return std::optional<Event>(std::move(next.event));
    }
    if (exit_ && tracees_.empty()) return Drain(wait);

    // Stops are collected at the latest after the streak's full poll.
    if (notifier_ && streak_.Next(*notifier_)) {
      if (auto got = OnNotification(); !got) return tl::unexpected(got.error());
      continue;
    }
    streak_.End();
    const int notify_fd = notifier_ ? notifier_->fd() : -1;
    pollfd fds[5] = {
        {stdout_.get(), POLLIN, 0},     {stderr_.get(), POLLIN, 0},
        {sigchld_.get(), POLLIN, 0},    {notify_fd, POLLIN, 0},
        {wait.interrupt_fd, POLLIN, 0},
    };
    int ready = ::poll(fds, 5, PollTimeoutMs(wait.deadline, kReapIntervalMs));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return FailErrno("poll", errno);
    }
    if (auto event =
            ReadReadyOutput(fds[0].revents, fds[1].revents, stdout_, stderr_);
        !event || event->has_value()) {
      return event;
    }
    if (fds[2].revents != 0) {
      signalfd_siginfo info;
      while (::read(sigchld_.get(), &info, sizeof info) > 0) {
      }
    }
    bool notified = false;
    if (fds[3].revents & (POLLERR | POLLHUP)) {
      answered_ += notifier_->answered();
      notifier_.reset();  // no process left under the filter
    } else if (fds[3].revents != 0) {
      if (auto got = OnNotification(); !got) return tl::unexpected(got.error());
      streak_.Arm();
      notified = true;
    }
    // Stops are collected whenever SIGCHLD said there are some, and at
    // least every kReapIntervalMs: a stream of notifications must not starve
    // a new thread's first stop (it would never run), and another thread of
    // isoscope may have taken the SIGCHLD.
    const Clock::time_point now = Clock::now();
    if (!notified || fds[2].revents != 0 ||
        now - last_reap_ >= std::chrono::milliseconds(kReapIntervalMs)) {
      last_reap_ = now;
      if (auto reaped = ReapAll(); !reaped) {
        return tl::unexpected(reaped.error());
      }
    }
    if (!pending_.empty() || (exit_ && tracees_.empty())) continue;
    if (fds[4].revents != 0) return std::optional<Event>();  // interrupted
    if (wait.deadline != Clock::time_point::max() &&
        Clock::now() >= wait.deadline) {
      return std::optional<Event>();
    }
  }
}

// Every tracee is gone: what is left in the pipes is read before the exit is
// reported.
Result<std::optional<Event>> PtraceBackend::Drain(const WaitLimit& wait) {
  if (!draining_) {
    draining_ = true;
    drain_deadline_ = Clock::now() + kDrainLimit;
    KillAll();  // the group, in case anything escaped tracing
    // Every tracee is reaped: their counts are in. The kernel did not count
    // the calls answered here, and counted each mmap isoscope made in place
    // of a call (PrepareScratch) besides the call itself.
    if (const auto counted = child_->CountedSyscalls()) {
      exit_->usage.syscalls = *counted + answered_ +
                              (notifier_ ? notifier_->answered() : 0) -
                              std::min(injected_, *counted);
    }
  }
  // Every tracee is dead, so nothing should hold the pipes for long.
  return DrainOutput(stdout_, stderr_, drain_deadline_, wait.interrupt_fd,
                     kReapIntervalMs, {}, *exit_, &done_);
}

Status PtraceBackend::ReapAll() {
  // Per known task rather than waitpid(-1): isoscope has other children
  // (the probe runner's canary) that are not this backend's to reap. A new
  // task becomes known from its parent's clone event, so passes repeat
  // until one collects nothing: its first stop is not lost in between.
  bool collected = true;
  while (collected) {
    collected = false;
    std::vector<pid_t> tids;
    tids.reserve(tracees_.size());
    for (const auto& [tid, tracee] : tracees_) tids.push_back(tid);
    for (pid_t tid : tids) {
      if (tracees_.count(tid) == 0) continue;
      int status = 0;
      rusage usage{};
      pid_t got;
      do {
        got = ::wait4(tid, &status, WNOHANG | __WALL, &usage);
      } while (got < 0 && errno == EINTR);
      if (got == 0) continue;
      if (got < 0) {
        if (errno != ECHILD) {
          return FailErrno(fmt::format("wait4({})", tid), errno);
        }
        Forget(tid);  // reaped elsewhere, or never ours
        continue;
      }
      collected = true;
      if (auto handled = HandleStatus(tid, status, usage);
          !handled &&
          !(WIFSTOPPED(status) && LeftItsStop(tid, handled.error()))) {
        return handled;
      }
    }
  }
  return {};
}

Status PtraceBackend::HandleStatus(pid_t tid, int status, const rusage& usage) {
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    Forget(tid);
    if (tid == root_) {
      exit_ = ExitFromWaitStatus(status, usage);
      // The peaks read at exit stops, and wait4's for processes that died
      // without one (SIGKILL) when it can be told from the child's image.
      exit_->usage.max_rss_kib = peak_kib_;
      if (const auto own = child_->OwnPeakKib(usage.ru_maxrss);
          own && (!peak_kib_ || *own > *peak_kib_)) {
        exit_->usage.max_rss_kib = own;
      }
      child_->MarkReaped();
      // The run ends with its main process; what it left behind goes.
      KillAll();
    }
    return {};
  }
  if (!WIFSTOPPED(status)) return {};
  const int signal = WSTOPSIG(status);
  const int event = (status >> 16) & 0xff;
  Tracee& tracee = tracees_[tid];
  switch (event) {
    case PTRACE_EVENT_SECCOMP:
      return OnSeccompStop(tid);
    case PTRACE_EVENT_EXEC:
      return OnExec(tid);
    case PTRACE_EVENT_EXIT:
      // The address space is still there: its peak is the workload's own.
      if (const auto peak = ProcessPeakKib(tid);
          peak && (!peak_kib_ || *peak > *peak_kib_)) {
        peak_kib_ = peak;
      }
      return Continue(tid);
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE:
      return OnNewTask(tid);
    case PTRACE_EVENT_STOP:
      if (tracee.initial_stop_pending || !IsStopSignal(signal)) {
        tracee.initial_stop_pending = false;
        return Continue(tid);
      }
      // A group stop (SIGSTOP and friends): stay stopped, as without a
      // tracer, until SIGCONT.
      if (ptrace(PTRACE_LISTEN, tid, nullptr, nullptr) != 0 && errno != ESRCH) {
        return FailErrno(fmt::format("PTRACE_LISTEN of {}", tid), errno);
      }
      return {};
    default:
      break;
  }
  if (signal == (SIGTRAP | 0x80)) return OnSyscallExitStop(tid);
  return OnSignalStop(tid, signal);
}

Status PtraceBackend::OnNewTask(pid_t parent) {
  unsigned long raw = 0;  // NOLINT(google-runtime-int): ptrace's type
  if (ptrace(PTRACE_GETEVENTMSG, parent, nullptr, &raw) == 0) {
    auto tid = static_cast<pid_t>(raw);
    // Its first stop may already have been seen (it races the parent's).
    if (tracees_.count(tid) == 0) {
      tracees_[tid] = Tracee{.initial_stop_pending = true};
    }
    if (process_limit_ && tracees_.size() > *process_limit_ &&
        !process_limit_reported_) {
      process_limit_reported_ = true;
      Push(LimitEvent{
          LimitKind::kProcesses,
          fmt::format("process limit of {} reached", *process_limit_)});
    }
  }
  return Continue(parent);
}

Status PtraceBackend::OnExec(pid_t tid) {
  unsigned long raw = 0;  // NOLINT(google-runtime-int): ptrace's type
  if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &raw) == 0) {
    auto former = static_cast<pid_t>(raw);
    // A thread other than the leader exec'd: it now has the leader's id.
    if (former != tid) Forget(former);
  }
  // A new address space: the scratch region and the writer are gone.
  spaces_.erase(tid);
  tracees_[tid].tgid = tid;
  if (tid == root_) root_execed_ = true;
  // The execve was decided on the path the workload named; the kernel may
  // have run more than that file (exec_image.h). Each is decided before the
  // image runs.
  return DecideExecImage(tid, ExecImageFiles(tid));
}

std::vector<std::string> PtraceBackend::ExecImageFiles(pid_t tid) {
  ExecImage image = ReadExecImage(tid);
  std::vector<std::string> files = {std::move(image.program)};
  for (std::string& interpreter : image.interpreters) {
    files.push_back(std::move(interpreter));
  }
  return files;
}

Status PtraceBackend::DecideExecImage(pid_t tid,
                                      std::vector<std::string> files) {
  if (files.empty()) return Continue(tid);
  SyscallEvent event;
  event.pid = tid;
  event.exec_image = true;
  event.request.number = SYS_execve;
  event.request.paths = {PathArgument{0, std::move(files.front())}};
  files.erase(files.begin());
  Await await;
  await.kind = Await::Kind::kExecImage;
  await.tid = tid;
  await.exec_images = std::move(files);
  Push(std::move(event), std::move(await));
  return {};
}

Status PtraceBackend::OnNotification() {
  auto received = notifier_->Receive();
  if (!received) return tl::unexpected(received.error());
  if (!received->has_value()) return {};  // the caller is already gone
  const SeccompNotification& n = **received;
  FilteredCall call = ClassifyFilteredCall(*plan_, n.arch, n.nr, n.args);
  SyscallEvent event;
  event.pid = n.pid;
  event.request = std::move(call.request);
  Await await;
  await.kind = Await::Kind::kNotification;
  await.notification_id = n.id;
  if (call.plan->disposition == Disposition::kErrno) {
    // Notified only to be recorded (notify_denials): the answer is the
    // plan's errno, so the paths are decoded for the record alone.
    await.routed_denial = call.plan;
    if (event.request.abi == Abi::kX86_64 && !PathArguments(n.nr).empty()) {
      auto decoded = DecodeSyscallPaths(n.pid, n.nr, n.args);
      if (!notifier_->IdValid(n.id)) return {};  // gone; pid may be reused
      if (decoded) {
        event.request.paths = std::move(decoded->paths);
        event.request.open_flags = decoded->open_flags;
      }
    }
    Push(std::move(event), std::move(await));
    return {};
  }
  if (event.request.abi != Abi::kX86_64) {
    // The filter never notifies for another ABI unless the plan denies it;
    // refuse rather than guess.
    return notifier_->ReturnError(n.id, ENOSYS);
  }
  if (!PathArguments(n.nr).empty()) {
    auto decoded = DecodePaths(n.pid, n.nr, n.args);
    if (!notifier_->IdValid(n.id)) return {};  // gone; its pid may be reused
    if (!decoded) {
      const int error = decoded.error().sys_errno();
      return notifier_->ReturnError(n.id, error > 0 ? error : EFAULT);
    }
    event.request.paths = decoded->paths;
    event.request.open_flags = decoded->open_flags;
    await.paths = *std::move(decoded);
  }
  Push(std::move(event), std::move(await));
  return {};
}

CheckedCallContext PtraceBackend::CheckedContext() const {
  CheckedCallContext context;
  context.root_fd = root_dir_.get();
  // The workload's /proc is its own pid namespace's, in a mount namespace
  // that differs from isoscope's only there (and, with a bundle, in its
  // root: the rootfs pivoted into, the host's tree detached, so the kernel
  // shows isoscope its links as paths from that root): its magic links name
  // the same paths isoscope reads from them, looked up through its root.
  context.own_procfs = true;
  context.magic_links_are_paths = true;
  // Exactly the workload's credentials (Start): its host ids and the
  // capabilities the policy keeps, nothing of isoscope's.
  context.uid = workload_uid_;
  context.gid = workload_gid_;
  context.effective_caps = capabilities_ ? capabilities_->kept_mask() : 0;
  context.namespaced_opener = namespaced_opener_.get();
  return context;
}

Result<DecodedPaths> PtraceBackend::DecodePaths(
    pid_t tid, int number, const std::array<uint64_t, 6>& args) const {
  auto decoded = DecodeSyscallPaths(tid, number, args);
  if (!decoded) return decoded;
  if (Status resolved =
          ResolveCheckedPaths(CheckedContext(), tid, number, args, *decoded);
      !resolved) {
    return tl::unexpected(std::move(resolved).error());
  }
  return decoded;
}

Status PtraceBackend::OnSeccompStop(pid_t tid) {
  ptrace_syscall_info info{};
  long size =  // NOLINT(google-runtime-int): ptrace's type
      ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
  if (size < 0) {
    if (errno == ESRCH) return {};  // killed meanwhile
    return FailErrno("PTRACE_GET_SYSCALL_INFO", errno);
  }
  if (info.op != PTRACE_SYSCALL_INFO_SECCOMP) return Continue(tid);
  const int number = static_cast<int>(info.seccomp.nr);
  std::array<uint64_t, 6> args{};
  std::copy(std::begin(info.seccomp.args), std::end(info.seccomp.args),
            args.begin());
  if (info.arch != AUDIT_ARCH_X86_64 || (number & kX32SyscallBit) != 0) {
    return Skip(tid, -ENOSYS);  // never traced: another ABI is not inspected
  }
  if (tid == root_ && !root_execed_) {
    // isoscope's own execve of the workload.
    if (auto grabbed = GrabListener(); !grabbed) return grabbed;
    return Continue(tid);
  }
  if (TouchesScratch(number, args)) {
    SyscallEvent event;
    event.pid = tid;
    event.request.number = number;
    event.request.args = args;
    event.verdict = Verdict{
        ActionSpec{Action::kDeny, EPERM}, std::string(kScratchGuardRule),
        fmt::format("{} could change isoscope's read-only scratch region "
                    "[{:#x}, {:#x}), where checked arguments are copied",
                    SyscallName(number), scratch::kBegin, scratch::kEnd)};
    event.decided_by = DecidedBy::kKernelFilter;
    Push(std::move(event));
    return Skip(tid, -EPERM);
  }
  // Traced for the guard or for exec, but statically allowed.
  if (plan_->For(number).disposition == Disposition::kAllow) {
    return Continue(tid);
  }

  SyscallEvent event;
  event.pid = tid;
  event.request.number = number;
  event.request.args = args;
  if (!PathArguments(number).empty()) {
    auto decoded = DecodePaths(tid, number, args);
    if (!decoded) {
      // The kernel would have failed the call the same way (EFAULT,
      // ENAMETOOLONG, EBADF...) before looking at any file.
      int err = decoded.error().sys_errno();
      return Skip(tid, -(err != 0 ? err : EFAULT));
    }
    auto ready = PrepareScratch(tid);
    if (!ready) return tl::unexpected(ready.error());
    if (!*ready) return {};
    // A magic link to an open file without a path: the kernel gets the
    // link, which names the same file of the same thread.
    for (size_t i = 0; i < decoded->reopened_fds.size(); ++i) {
      if (decoded->reopened_fds[i]) {
        decoded->kernel_copies[i] = decoded->paths[i].path;
      }
    }
    if (auto copied = CopyIntoScratch(
            tid, decoded->paths, decoded->kernel_copies, decoded->open_how);
        !copied) {
      return copied;
    }
    event.request.paths = std::move(decoded->paths);
    event.request.open_flags = decoded->open_flags;
  }
  if (NamesSocketAddress(number) && number != SYS_sendmmsg &&
      EndpointListsApply(plan_->policy(), number)) {
    auto decoded = DecodeSocketAddress(tid, number, args);
    if (!decoded) {
      // The kernel would have failed the call the same way (EFAULT,
      // EINVAL) before reaching any endpoint.
      int err = decoded.error().sys_errno();
      return Skip(tid, -(err != 0 ? err : EFAULT));
    }
    auto ready = PrepareScratch(tid);
    if (!ready) return tl::unexpected(ready.error());
    if (!*ready) return {};
    if (auto copied = CopyAddressIntoScratch(tid, number, *decoded); !copied) {
      return copied;
    }
    event.request.address = decoded->address;
    event.request.control_messages = decoded->control_messages;
  }
  Await await;
  await.kind = Await::Kind::kSyscallStop;
  await.tid = tid;
  Push(std::move(event), await);
  return {};
}

Result<bool> PtraceBackend::PrepareScratch(pid_t tid) {
  pid_t tgid = TgidOf(tid);
  AddressSpace& space = spaces_[tgid];
  if (space.scratch == ScratchState::kMapped && SlotOf(tid)) return true;
  if (space.scratch == ScratchState::kUnavailable || !SlotOf(tid)) {
    // Fails closed: without a safe place for the copy the call is refused.
    ptrace_syscall_info info{};
    ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
    SyscallEvent event;
    event.pid = tid;
    event.request.number = static_cast<int>(info.seccomp.nr);
    std::copy(std::begin(info.seccomp.args), std::end(info.seccomp.args),
              event.request.args.begin());
    event.verdict = Verdict{
        ActionSpec{Action::kDeny, EPERM}, std::string(kScratchUnavailableRule),
        space.scratch == ScratchState::kUnavailable
            ? "isoscope could not map its scratch region in this process, "
              "so path arguments cannot be checked safely"
            : fmt::format("more than {} threads are in path syscalls at once",
                          scratch::kSlots)};
    event.decided_by = DecidedBy::kKernelFilter;
    Push(std::move(event));
    if (auto skipped = Skip(tid, -EPERM); !skipped) {
      return tl::unexpected(skipped.error());
    }
    return false;
  }
  // Map the region by turning this call into isoscope's mmap; at its exit
  // stop the registers are restored and the `syscall` instruction runs
  // again, stopping here once more with the region in place.
  Tracee& tracee = tracees_[tid];
  user_regs_struct regs{};
  if (auto got = GetRegs(tid, regs); !got) return tl::unexpected(got.error());
  tracee.saved = regs;
  regs.orig_rax = SYS_mmap;
  regs.rdi = scratch::kBegin;
  regs.rsi = scratch::kSize;
  regs.rdx = PROT_READ;
  regs.r10 = MAP_SHARED | MAP_ANONYMOUS | kMapFixedNoReplace;
  regs.r8 = static_cast<uint64_t>(-1);
  regs.r9 = 0;
  if (auto set = SetRegs(tid, regs); !set) return tl::unexpected(set.error());
  tracee.state = TraceeState::kInjecting;
  if (ptrace(PTRACE_SYSCALL, tid, nullptr, 0) != 0 && errno != ESRCH) {
    return FailErrno("PTRACE_SYSCALL", errno);
  }
  return false;
}

Status PtraceBackend::OnSyscallExitStop(pid_t tid) {
  Tracee& tracee = tracees_[tid];
  if (tracee.state != TraceeState::kInjecting) return Continue(tid);
  user_regs_struct regs{};
  if (auto got = GetRegs(tid, regs); !got) return got;
  auto result = static_cast<int64_t>(regs.rax);
  AddressSpace& space = spaces_[TgidOf(tid)];
  ++injected_;  // the kernel counted isoscope's mmap as the workload's call
  space.scratch = ScratchState::kUnavailable;
  if (static_cast<uint64_t>(result) == scratch::kBegin || result == -EEXIST) {
    // Copies are written to the object behind the region. Something
    // already there (EEXIST) is used only if it is one of isoscope's
    // regions: a forked child's inherited copy, a vfork child's shared one.
    auto writer =
        SharedMappingWriter::Open(tid, scratch::kBegin, scratch::kEnd);
    if (writer && result != -EEXIST) scratch_objects_.insert(writer->object());
    if (writer && scratch_objects_.contains(writer->object())) {
      space.writer = std::move(*writer);
      space.scratch = ScratchState::kMapped;
    }
  }
  regs = tracee.saved;
  regs.rip -= 2;  // back onto the `syscall` instruction
  regs.rax = regs.orig_rax;
  tracee.state = TraceeState::kRunning;
  if (auto set = SetRegs(tid, regs); !set) return set;
  return Continue(tid);
}

Status PtraceBackend::CopyIntoScratch(
    pid_t tid, const std::vector<PathArgument>& paths,
    const std::vector<std::optional<std::string>>& kernel_copies,
    const std::vector<uint8_t>& open_how) {
  pid_t tgid = TgidOf(tid);
  AddressSpace& space = spaces_[tgid];
  if (!space.writer) {
    return Fail(ErrorCode::kInternal, "no scratch region to copy into");
  }
  uint64_t slot = *SlotOf(tid);
  user_regs_struct regs{};
  if (auto got = GetRegs(tid, regs); !got) return got;
  for (size_t i = 0; i < paths.size() && i < 2; ++i) {
    // The kernel gets the absolute, normalised path that was decided on, so
    // neither the workload's memory nor its cwd or dirfd can change what it
    // resolves. An empty AT_EMPTY_PATH path stays empty (it names the fd);
    // a NULL one is a register the workload cannot change.
    if (i >= kernel_copies.size() || !kernel_copies[i]) continue;
    const std::string& text = *kernel_copies[i];
    if (text.size() + 1 > scratch::kPageSize) {
      return Fail(ErrorCode::kInternal, "a decoded path exceeds a page");
    }
    std::vector<uint8_t> bytes(text.begin(), text.end());
    bytes.push_back(0);
    uint64_t address = scratch::SlotPage(slot, i);
    if (auto written = space.writer->Write(address, bytes); !written) {
      return written;
    }
    ArgRegister(regs, paths[i].arg_index) = address;
  }
  if (!open_how.empty()) {
    uint64_t address = scratch::SlotPage(slot, 2);
    if (auto written = space.writer->Write(address, open_how); !written) {
      return written;
    }
    regs.rdx = address;  // openat2(dirfd, path, how, size)
  }
  return SetRegs(tid, regs);
}

Status PtraceBackend::CopyAddressIntoScratch(
    pid_t tid, int number, const DecodedSocketAddress& decoded) {
  pid_t tgid = TgidOf(tid);
  AddressSpace& space = spaces_[tgid];
  if (!space.writer) {
    return Fail(ErrorCode::kInternal, "no scratch region to copy into");
  }
  // The slot's first page: sendmsg's msghdr at its start, the address at
  // kAddressOffset (a sockaddr_storage fits either way); sendmsg's control
  // fills the other two pages (socket calls take no paths).
  constexpr uint64_t kAddressOffset = 128;
  static_assert(sizeof(msghdr) <= kAddressOffset &&
                kAddressOffset + sizeof(sockaddr_storage) <=
                    scratch::kPageSize);
  static_assert(kMaxControlBytes <=
                (scratch::kSlotPages - 1) * scratch::kPageSize);
  const uint64_t slot = *SlotOf(tid);
  const uint64_t page = scratch::SlotPage(slot, 0);
  const uint64_t address = page + kAddressOffset;
  const uint64_t control = scratch::SlotPage(slot, 1);
  if (decoded.bytes.size() > sizeof(sockaddr_storage) ||
      decoded.control.size() > kMaxControlBytes) {
    return Fail(ErrorCode::kInternal,
                "a decoded socket address or control exceeds its place in "
                "the scratch slot");
  }
  if (!decoded.bytes.empty()) {
    if (auto written = space.writer->Write(address, decoded.bytes); !written) {
      return written;
    }
  }
  if (!decoded.control.empty()) {
    if (auto written = space.writer->Write(control, decoded.control);
        !written) {
      return written;
    }
  }
  user_regs_struct regs{};
  if (auto got = GetRegs(tid, regs); !got) return got;
  switch (number) {
    case SYS_connect:
    case SYS_bind:
      regs.rsi = address;
      break;
    case SYS_sendto:
      // No address: a NULL pointer or a zero length, registers the
      // workload cannot change; the kernel reads nothing.
      if (!decoded.bytes.empty()) regs.r8 = address;
      break;
    case SYS_sendmsg: {
      if (!decoded.header) {
        return Fail(ErrorCode::kInternal, "sendmsg without its msghdr");
      }
      // The whole header is copied, whether it names an address or not:
      // the workload could otherwise set msg_name after the check. So is
      // the control the decision saw, which another thread could rewrite.
      const auto in_workload = [](uint64_t at) {
        // An address in the workload, never dereferenced here.
        // NOLINTNEXTLINE(performance-no-int-to-ptr)
        return reinterpret_cast<void*>(at);
      };
      msghdr header = *decoded.header;
      header.msg_name = decoded.bytes.empty() ? nullptr : in_workload(address);
      header.msg_namelen = static_cast<socklen_t>(decoded.bytes.size());
      header.msg_control =
          decoded.control.empty() ? nullptr : in_workload(control);
      header.msg_controllen = decoded.control.size();
      std::vector<uint8_t> bytes(sizeof(header));
      std::memcpy(bytes.data(), &header, sizeof(header));
      if (auto written = space.writer->Write(page, bytes); !written) {
        return written;
      }
      regs.rsi = page;
      break;
    }
    default:
      return Fail(
          ErrorCode::kInternal,
          fmt::format("syscall {} has no socket address to copy", number));
  }
  return SetRegs(tid, regs);
}

Status PtraceBackend::OnSignalStop(pid_t tid, int signal) {
  siginfo_t info{};
  if (ptrace(PTRACE_GETSIGINFO, tid, nullptr, &info) != 0) {
    if (errno == ESRCH) return {};
    return FailErrno("PTRACE_GETSIGINFO", errno);
  }
  if (signal == SIGSYS && info.si_code == kSysSeccomp) {
    // The filter's kill: report which call, then the loop kills the run.
    user_regs_struct regs{};
    GetRegs(tid, regs);
    std::array<uint64_t, 6> args = {regs.rdi, regs.rsi, regs.rdx,
                                    regs.r10, regs.r8,  regs.r9};
    if (info.si_arch == AUDIT_ARCH_I386) {
      args = {regs.rbx & 0xffffffff, regs.rcx & 0xffffffff,
              regs.rdx & 0xffffffff, regs.rsi & 0xffffffff,
              regs.rdi & 0xffffffff, regs.rbp & 0xffffffff};
    }
    Push(FilterKillEvent(*plan_, tid, info.si_arch, info.si_syscall, args));
    ++answered_;  // the filter refused the call before the kernel counted it
    return {};    // left stopped: the kill follows
  }
  if (IsFaultSignal(signal) && info.si_code > 0) {
    // Raised by the CPU (si_code > 0), not sent with kill/tgkill.
    user_regs_struct regs{};
    if (auto got = GetRegs(tid, regs); !got) return got;
    // All 15 possible bytes, or (an instruction that ends just before an
    // unmapped page) those up to the end of RIP's page.
    std::vector<uint8_t> bytes;
    auto read = ReadTraceeBytes(tid, regs.rip, kMaxInstructionLength);
    if (!read) {
      read = ReadTraceeBytes(
          tid, regs.rip,
          std::min<uint64_t>(
              kMaxInstructionLength,
              scratch::kPageSize - regs.rip % scratch::kPageSize));
    }
    if (read) bytes = std::move(*read);
    FaultInfo fault = ClassifyFault(signal, info.si_code,
                                    reinterpret_cast<uint64_t>(info.si_addr),
                                    regs.rip, bytes);
    FaultEvent event;
    event.pid = tid;
    event.kind = fault.kind;
    event.signal = signal;
    event.mnemonic = fault.mnemonic;
    event.bytes = fault.bytes;
    if (fault.kind == FaultKind::kPageFault) {
      event.rip = regs.rip;
      event.address = fault.address;
    } else {
      // A trap (int3) reports RIP past the instruction; the decoder knows
      // where it was and which one-byte instruction it was.
      event.rip = fault.address;
      if (fault.mnemonic == "int3") event.bytes = {0xcc};
      if (fault.mnemonic == "int1") event.bytes = {0xf1};
    }
    Await await;
    await.kind = Await::Kind::kFault;
    await.tid = tid;
    await.signal = signal;
    await.fault = fault.kind;
    await.instruction = DecodeInstruction(bytes);
    await.regs = regs;
    Push(std::move(event), std::move(await));
    return {};
  }
  Push(SignalEvent{tid, signal});
  // The kernel enforcing an rlimit in any process of the workload (the
  // supervisor sees only the main process's end).
  const Resources& limits = plan_->policy().resources;
  if (signal == SIGXFSZ && limits.file_size_bytes) {
    Push(LimitEvent{LimitKind::kFileSize,
                    fmt::format("file-size limit of {} bytes reached",
                                *limits.file_size_bytes)});
  } else if (signal == SIGXCPU && limits.cpu_time_ms) {
    Push(LimitEvent{
        LimitKind::kCpuTime,
        fmt::format("cpu-time limit of {} ms reached", *limits.cpu_time_ms)});
  }
  return Continue(tid, signal);
}

Status PtraceBackend::Resolve(const Event& event, const Verdict& verdict) {
  Await await = std::exchange(awaiting_, Await{});
  const bool stopped = await.kind == Await::Kind::kSyscallStop ||
                       await.kind == Await::Kind::kFault ||
                       await.kind == Await::Kind::kExecImage;
  Status resolved = ResolveAwaited(await, event, verdict);
  if (!resolved && stopped && LeftItsStop(await.tid, resolved.error())) {
    return {};
  }
  return resolved;
}

Status PtraceBackend::ResolveAwaited(Await& await, const Event& event,
                                     const Verdict& verdict) {
  const ActionSpec& action = verdict.action;
  switch (await.kind) {
    case Await::Kind::kNone:
      return Fail(ErrorCode::kInternal,
                  fmt::format("no event of the ptrace backend awaits a "
                              "verdict (event index {})",
                              event.index()));
    case Await::Kind::kNotification:
      if (await.routed_denial != nullptr) {
        return AnswerRoutedDenial(*notifier_, await.notification_id,
                                  *await.routed_denial, verdict);
      }
      switch (action.action) {
        case Action::kAllow:
        case Action::kLog:
          if (await.paths) {
            const auto* syscall = std::get_if<SyscallEvent>(&event);
            if (syscall == nullptr) {
              return Fail(ErrorCode::kInternal,
                          "a path call's verdict came for another event");
            }
            const CheckedCallContext context = CheckedContext();
            CheckedCallNote note;
            Status answered = AnswerNotification(
                *notifier_, await.notification_id,
                PerformCheckedCall(context, syscall->pid,
                                   syscall->request.number,
                                   syscall->request.args, *await.paths),
                context, &note);
            if (!note.kind.empty()) {
              // The workload's call got an errno of isoscope's making.
              SyscallEvent answer = *syscall;
              answer.verdict =
                  Verdict{ActionSpec{Action::kDeny, note.error},
                          fmt::format("{}.{}", name(), note.kind),
                          fmt::format("{} is allowed by the policy, but {}",
                                      SyscallName(syscall->request.number),
                                      note.reason)};
              answer.decided_by = DecidedBy::kKernelFilter;
              Push(std::move(answer));
            }
            return answered;
          }
          // Safe: no pointer argument of it was checked.
          return notifier_->Continue(await.notification_id);
        case Action::kDeny:
          return notifier_->ReturnError(await.notification_id,
                                        action.errno_value);
        case Action::kEmulate:
          return notifier_->ReturnValue(await.notification_id,
                                        action.emulate_value);
        default:
          return {};  // kill: the loop kills the workload
      }
    case Await::Kind::kSyscallStop:
      switch (action.action) {
        case Action::kAllow:
        case Action::kLog:
          return Continue(await.tid);
        case Action::kDeny:
          return Skip(await.tid, -int64_t{action.errno_value});
        case Action::kEmulate:
          return Skip(await.tid, action.emulate_value);
        default:
          return {};
      }
    case Await::Kind::kFault:
      return ResolveFault(await, action.action);
    case Await::Kind::kExecImage:
      switch (action.action) {
        case Action::kAllow:
        case Action::kLog:
          return DecideExecImage(await.tid, std::move(await.exec_images));
        case Action::kKill:
          return {};  // the loop kills the workload
        default:
          // The exec is done and cannot fail any more, nor be emulated:
          // the process ends, as when the kernel fails an exec past its
          // point of no return.
          if (::kill(await.tid, SIGKILL) != 0 && errno != ESRCH) {
            return FailErrno(fmt::format("kill {}", await.tid), errno);
          }
          return {};
      }
  }
  return {};
}

Status PtraceBackend::ResolveFault(Await& await, Action action) {
  const pid_t tid = await.tid;
  switch (action) {
    case Action::kKill:
      return {};
    case Action::kDeliver:
    case Action::kReport:
      // The signal goes on: to the workload's handler, or the kernel's
      // default. (RDTSC only traps when the policy emulates, kills or
      // delivers it, so `report` never lands here for an instruction
      // isoscope itself made fault.)
      return Continue(tid, await.signal);
    case Action::kEmulate: {
      if (!await.instruction) return Continue(tid, await.signal);
      EmulationResult result =
          emulator_->Emulate(*await.instruction, await.regs);
      if (!result.emulated) {
        // Nothing to emulate it with: the kernel's default follows, which
        // the run's termination then shows.
        return Continue(tid, await.signal);
      }
      if (!result.serial_output.empty()) {
        Push(OutputEvent{OutputStream::kStdout,
                         std::move(result.serial_output)});
      }
      if (await.instruction->mnemonic == "hlt") ::sched_yield();
      if (auto set = SetRegs(tid, await.regs); !set) return set;
      return Continue(tid);
    }
    default:
      return Continue(tid, await.signal);
  }
}

}  // namespace isoscope
