// The first point of the isolation spectrum: the workload is an ordinary
// host process whose sensitive acts trap to isoscope.
//
// Three mechanisms, each where it is cheapest and still safe:
//   - a seccomp-bpf filter built from the compiled plan keeps statically
//     decided syscalls in the kernel (allow, errno, kill via SIGSYS);
//   - inspected syscalls without pointer arguments go to the supervisor as
//     seccomp user notifications (about a quarter of a ptrace stop);
//   - inspected syscalls with path arguments stop the thread once
//     (SECCOMP_RET_TRACE): the tracer reads each path once, copies it into
//     a read-only scratch page of the workload and points the argument at
//     the copy, so the kernel runs the call on exactly what was checked.
// ptrace also follows every thread and child (one tracer for all), turns
// SIGSEGV/SIGILL/SIGBUS/SIGFPE/SIGTRAP into fault events, and emulates the
// instructions the policy asks it to.
//
// Who the workload is, as in the container and by the same code
// (backends/process/identity.h, network.h): the policy's uid, gid and
// groups {gid} on the host; every capability but the kept ones dropped from
// all five sets, securebits locked, no_new_privs; its own UTS namespace
// (the policy's host name); a network namespace of its own unless the
// policy says `host` (`none`: lo down, `loopback`: lo up); and a pid
// namespace whose PID 1 is a minimal init of isoscope's, so the workload
// (PID 2) can name, signal or trace no host process, isoscope included,
// while keeping ordinary signal semantics. /proc is still the host's.
#ifndef ISOSCOPE_BACKENDS_PTRACE_PTRACE_BACKEND_H_
#define ISOSCOPE_BACKENDS_PTRACE_PTRACE_BACKEND_H_

#include <signal.h>
#include <sys/user.h>

#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "backends/process/capabilities.h"
#include "backends/process/checked_calls.h"
#include "backends/process/child_process.h"
#include "backends/process/identity.h"
#include "backends/process/socket_address.h"
#include "backends/process/tracee_memory.h"
#include "backends/ptrace/fault_decoder.h"
#include "backends/ptrace/instruction_emulator.h"
#include "backends/ptrace/scratch_region.h"
#include "backends/seccomp/seccomp_notifier.h"
#include "backends/seccomp/seccomp_program.h"
#include "base/unique_fd.h"
#include "policies/plan.h"
#include "supervisor/backend.h"

namespace isoscope {

class PtraceBackend : public Backend {
 public:
  PtraceBackend() = default;
  ~PtraceBackend() override;

  std::string_view name() const override { return "ptrace"; }
  ProbeResult Probe() const override;
  Status Start(const Workload& workload, const CompiledPlan& plan) override;
  Result<std::optional<Event>> NextEvent(const WaitLimit& wait) override;
  Status Resolve(const Event& event, const Verdict& verdict) override;
  void Kill() override;

 private:
  enum class TraceeState {
    kRunning,
    kInjecting,  // running isoscope's mmap of the scratch region
  };
  struct Tracee {
    pid_t tgid = 0;  // 0 until needed
    TraceeState state = TraceeState::kRunning;
    bool initial_stop_pending = false;  // auto-attached, first stop not seen
    user_regs_struct saved{};           // the call the injection interrupted
  };
  enum class ScratchState { kUnmapped, kMapped, kUnavailable };
  // One per address space (process), keyed by its thread-group id.
  struct AddressSpace {
    ScratchState scratch = ScratchState::kUnmapped;
    std::optional<SharedMappingWriter> writer;  // when kMapped
  };
  // What the event handed to the supervisor waits for.
  struct Await {
    enum class Kind {
      kNone,
      kNotification,
      kSyscallStop,
      kFault,
      kExecImage,  // stopped after an exec, a file of its image decided
    };
    Kind kind = Kind::kNone;
    pid_t tid = 0;
    uint64_t notification_id = 0;
    int signal = 0;
    FaultKind fault = FaultKind::kPrivilegedInstruction;
    std::optional<DecodedInstruction> instruction;
    user_regs_struct regs{};
    // A notified path call, which isoscope performs if it is allowed.
    std::optional<DecodedPaths> paths;
    // The plan that denies a notified call that came only to be recorded
    // (SeccompRouting::notify_denials); it points into plan_.
    const SyscallPlan* routed_denial = nullptr;
    // kExecImage: the image's files still to decide after this one.
    std::vector<std::string> exec_images;
  };
  struct Pending {
    Event event;
    Await await;
  };

  Status WaitForExec();
  Status GrabListener();
  // Before the workload's exec: lets a notified call of the child's own
  // set-up through (waits up to kSetUpPollMs for one, or for a SIGCHLD:
  // a stop for the caller's wait4).
  Status PassSetUpNotifications();
  static constexpr int kSetUpPollMs = 5;
  // Collects every stop and exit that is ready, turning them into events.
  Status ReapAll();
  Status HandleStatus(pid_t tid, int status, const rusage& usage);
  Status OnSeccompStop(pid_t tid);
  Status OnSyscallExitStop(pid_t tid);
  Status OnSignalStop(pid_t tid, int signal);
  Status OnExec(pid_t tid);
  // Asks the supervisor about the first of `files` (an exec'd image of
  // `tid`), the rest awaiting its verdict; resumes `tid` when none is left.
  Status DecideExecImage(pid_t tid, std::vector<std::string> files);
  // The files of `tid`'s new image (exec_image.h): the program, then every
  // interpreter.
  static std::vector<std::string> ExecImageFiles(pid_t tid);
  Status OnNewTask(pid_t parent);
  Status OnNotification();
  // Where and as whom path calls resolve and are performed.
  CheckedCallContext CheckedContext() const;
  // Decodes and resolves the path arguments of a call stopped or notified
  // in `tid`; an error carrying the workload's errno when the kernel would
  // fail the call before looking at any file.
  Result<DecodedPaths> DecodePaths(pid_t tid, int number,
                                   const std::array<uint64_t, 6>& args) const;
  // Returns true when the scratch slot of `tid` is usable now; false when
  // the call was answered or is being restarted after mapping the region.
  Result<bool> PrepareScratch(pid_t tid);
  // Copies a decoded socket address (and sendmsg's msghdr, pointed at it)
  // into thread `tid`'s scratch slot and points the call's argument there.
  Status CopyAddressIntoScratch(pid_t tid, int number,
                                const DecodedSocketAddress& decoded);
  Status CopyIntoScratch(
      pid_t tid, const std::vector<PathArgument>& paths,
      const std::vector<std::optional<std::string>>& kernel_copies,
      const std::vector<uint8_t>& open_how);
  // Resolve, once the awaited stop or notification is taken.
  Status ResolveAwaited(Await& await, const Event& event,
                        const Verdict& verdict);
  Status ResolveFault(Await& await, Action action);
  // Answers the stopped call with `value` without running it.
  Status Skip(pid_t tid, int64_t value);
  Status Continue(pid_t tid, int signal = 0);
  void Push(Event event);  // needs no verdict
  void Push(Event event, Await await);
  pid_t TgidOf(pid_t tid);
  std::optional<uint64_t> SlotOf(pid_t tid);
  void Forget(pid_t tid);
  void KillAll();
  Result<std::optional<Event>> Drain(const WaitLimit& wait);

  std::optional<CompiledPlan> plan_;
  // Who the workload is (the container's identity: identity.h), set by the
  // child between its release and its exec.
  WorkloadIdentity identity_;
  std::optional<CapabilityDrop> capabilities_;
  std::optional<IdentitySetup> setup_;
  // The workload's ids on the host.
  uid_t workload_uid_ = 0;
  gid_t workload_gid_ = 0;
  std::optional<SeccompProgram> program_;
  std::optional<ChildProcess> child_;
  UniqueFd root_dir_;  // O_PATH /proc/<root_>/root: the workload's root
  // Looks up /proc/sys and /proc/sysvipc in the workload's namespaces.
  std::unique_ptr<NamespacedOpener> namespaced_opener_;
  pid_t root_ = 0;
  bool root_execed_ = false;
  std::optional<SeccompNotifier> notifier_;
  NotificationStreak streak_;
  // Syscalls the kernel's counter cannot see: answered without running
  // (skipped stops, refused by the filter's trap, answered by listeners
  // since closed), and isoscope's own mmaps it saw as the workload's.
  uint64_t answered_ = 0;
  uint64_t injected_ = 0;
  // The largest peak (VmHWM) read at a workload process's exit stop.
  std::optional<int64_t> peak_kib_;
  std::map<pid_t, Tracee> tracees_;
  std::map<pid_t, AddressSpace> spaces_;
  // The objects of the scratch regions isoscope mapped, (st_dev, st_ino):
  // a region found already in place is used only if it is one of them.
  // Never pruned: shmem inode numbers only grow (64-bit since Linux 5.9),
  // so a dead object's number is not given to a new one.
  std::set<std::pair<dev_t, ino_t>> scratch_objects_;
  std::array<pid_t, scratch::kSlots> slot_owner_{};  // 0: free
  std::deque<Pending> pending_;
  Await awaiting_;
  std::optional<InstructionEmulator> emulator_;
  std::optional<uint64_t> process_limit_;
  bool process_limit_reported_ = false;
  UniqueFd stdout_;
  UniqueFd stderr_;
  UniqueFd sigchld_;
  sigset_t saved_mask_{};
  bool mask_saved_ = false;
  std::optional<ExitEvent> exit_;  // the root's, once reaped
  std::chrono::steady_clock::time_point drain_deadline_;
  std::chrono::steady_clock::time_point last_reap_;
  bool draining_ = false;
  bool done_ = false;
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PTRACE_PTRACE_BACKEND_H_
