// A few threads of isoscope's own that perform the calls of answered
// notifications which may block: the socket calls the container backend does
// for the workload (PerformSocketCall), a connect waiting for its peer or a
// send waiting for buffer space. The supervisor's loop decides each call and
// hands it here; it never waits for one, so a workload that makes a call
// block (a peer that never reads, a black-hole address) cannot stop it from
// answering its other calls, its wall-time limit or an interrupt.
//
// - Each worker answers its notification itself, through a descriptor of
//   its own on the listener (the seccomp ioctls may be made from any
//   thread), and hands back what the loop must record (a call the policy
//   allowed that failed with an errno of isoscope's making) through a queue
//   and an eventfd (ready_fd()) for the loop's poll.
// - At most `max_workers` threads, started on demand (never before the
//   workload was spawned: no thread of isoscope's exists while the backend
//   forks); further calls wait in a queue in the order they came. The queue
//   holds at most one call per workload thread (each waits in its own).
// - A worker does the call as the kernel would for the workload: blocking
//   when the workload's socket is blocking, for as long as the kernel waits
//   (its SO_SNDTIMEO included), with no change to the socket's flags.
// - A notification that is no longer pending (its thread was interrupted by
//   a signal, or died) gets no answer: Watch(), which the loop calls every
//   kWatchInterval while a worker is busy, interrupts the worker's call with
//   a signal of its own (kInterruptSignal(), whose handler does nothing and
//   has no SA_RESTART, so the call returns EINTR), again at each Watch until
//   the worker is done. Its result is dropped: answering a stale id fails
//   with ENOENT, and ids are never reused (each filter counts them up).
// - Stop() interrupts every worker the same way until it has returned,
//   joins them and drops the calls still queued (the workload is being
//   killed: none of their threads waits for an answer).
#ifndef ISOSCOPE_BACKENDS_CONTAINER_NOTIFICATION_WORKERS_H_
#define ISOSCOPE_BACKENDS_CONTAINER_NOTIFICATION_WORKERS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "backends/seccomp/seccomp_notifier.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "supervisor/event.h"

namespace isoscope {

class NotificationWorkers {
 public:
  // Performs and answers one notification with `notifier`, the worker's own
  // handle on the listener; returns the event the loop records (nullopt:
  // nothing to record). An error means isoscope's own state is broken (its
  // credentials not restored, the listener failing): the worker stops and
  // the loop ends the run.
  using Job = std::function<Result<std::optional<SyscallEvent>>(
      SeccompNotifier& notifier)>;

  // How often the loop calls Watch() while a worker is busy.
  static constexpr auto kWatchInterval = std::chrono::milliseconds(50);
  // The signal that interrupts a worker's call (SIGRTMIN + 5; the KVM
  // backend's vCPU kick is SIGRTMIN + 4).
  static int InterruptSignal();

  // `listener`: the seccomp listener, duplicated for each worker.
  static Result<std::unique_ptr<NotificationWorkers>> Create(
      int listener, size_t max_workers);
  NotificationWorkers(const NotificationWorkers&) = delete;
  NotificationWorkers& operator=(const NotificationWorkers&) = delete;
  ~NotificationWorkers();  // Stop()

  // Queues `job` for notification `id`, starting a worker if none is idle
  // and fewer than max_workers run.
  Status Submit(uint64_t id, Job job);
  // Readable while Take() has something.
  int ready_fd() const { return ready_.get(); }
  // The events the workers produced since the last call, or the first error
  // one of them met.
  Result<std::vector<SyscallEvent>> Take();
  // Whether a worker is performing a call or one is queued.
  bool busy();
  // Interrupts the workers whose notification is no longer pending.
  void Watch();
  // Interrupts every worker until it has returned and joins them; queued
  // calls are dropped. Idempotent; Submit afterwards fails.
  void Stop();
  // Notifications the workers answered without the kernel running the call
  // (SeccompNotifier::answered).
  uint64_t answered() const { return answered_.load(); }

 private:
  struct Worker {
    std::thread thread;
    std::optional<uint64_t> id;  // the notification it performs
    bool interrupt = false;      // its call is to be interrupted
    bool done = false;           // its thread has returned
  };
  struct Queued {
    uint64_t id;
    Job job;
  };

  NotificationWorkers(UniqueFd watcher, UniqueFd ready, size_t max_workers);
  void Run(Worker* worker, SeccompNotifier notifier);
  // Signals every worker marked `interrupt` that is still running; with
  // mutex_ held.
  void InterruptMarked();

  SeccompNotifier watcher_;  // the loop's handle, for IdValid in Watch()
  UniqueFd ready_;           // eventfd
  size_t max_workers_;
  std::mutex mutex_;
  std::condition_variable queued_cv_;
  std::condition_variable done_cv_;  // a worker's thread returned
  std::deque<Queued> queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<SyscallEvent> events_;
  std::optional<Error> error_;
  std::atomic<uint64_t> answered_{0};
};

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_CONTAINER_NOTIFICATION_WORKERS_H_
