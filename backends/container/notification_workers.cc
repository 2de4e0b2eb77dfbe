#include "backends/container/notification_workers.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

// How long Stop() waits for the interrupted workers before it signals
// again (a signal that arrived just before a worker entered its blocking
// call did not interrupt it).
constexpr auto kStopResignal = std::chrono::milliseconds(5);

void OnInterrupt(int /*signal*/) {}

Status InstallInterruptHandler() {
  static const int rc = [] {
    struct sigaction action = {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    // No SA_RESTART: the worker's blocking call must come back with EINTR.
    return sigaction(NotificationWorkers::InterruptSignal(), &action,
                     nullptr) == 0
               ? 0
               : errno;
  }();
  if (rc != 0) {
    return FailErrno("sigaction for the socket workers' interrupt signal", rc);
  }
  return {};
}

}  // namespace

int NotificationWorkers::InterruptSignal() { return SIGRTMIN + 5; }

Result<std::unique_ptr<NotificationWorkers>> NotificationWorkers::Create(
    int listener, size_t max_workers) {
  if (max_workers == 0) {
    return Fail(ErrorCode::kInternal, "a pool of no workers");
  }
  if (Status installed = InstallInterruptHandler(); !installed) {
    return tl::unexpected(std::move(installed).error());
  }
  UniqueFd watcher(::fcntl(listener, F_DUPFD_CLOEXEC, 0));
  if (!watcher) return FailErrno("dup of the seccomp listener", errno);
  UniqueFd ready(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ready) return FailErrno("eventfd", errno);
  return std::unique_ptr<NotificationWorkers>(new NotificationWorkers(
      std::move(watcher), std::move(ready), max_workers));
}

NotificationWorkers::NotificationWorkers(UniqueFd watcher, UniqueFd ready,
                                         size_t max_workers)
    : watcher_(std::move(watcher)),
      ready_(std::move(ready)),
      max_workers_(max_workers) {}

NotificationWorkers::~NotificationWorkers() { Stop(); }

Status NotificationWorkers::Submit(uint64_t id, Job job) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    return Fail(ErrorCode::kInternal, "a call handed to stopped workers");
  }
  queue_.push_back(Queued{id, std::move(job)});
  if (idle_ < queue_.size() && workers_.size() < max_workers_) {
    UniqueFd own(::fcntl(watcher_.fd(), F_DUPFD_CLOEXEC, 0));
    if (!own) return FailErrno("dup of the seccomp listener", errno);
    auto worker = std::make_unique<Worker>();
    // The thread starts with every signal blocked and then unblocks only
    // the interrupt: the supervisor's signals (SIGINT, SIGCHLD) are never
    // delivered to a worker.
    sigset_t all;
    sigset_t saved;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved);
    try {
      worker->thread =
          std::thread(&NotificationWorkers::Run, this, worker.get(),
                      SeccompNotifier(std::move(own)));
    } catch (const std::system_error& error) {
      ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
      // The running workers take the call in turn; with none, it cannot run.
      if (workers_.empty()) {
        queue_.pop_back();
        return Fail(
            ErrorCode::kSystem,
            fmt::format("starting a socket worker thread: {}", error.what()),
            error.code().value());
      }
      queued_cv_.notify_one();
      return {};
    }
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    workers_.push_back(std::move(worker));
  }
  queued_cv_.notify_one();
  return {};
}

void NotificationWorkers::Run(Worker* worker, SeccompNotifier notifier) {
  sigset_t only_interrupt;
  sigfillset(&only_interrupt);
  sigdelset(&only_interrupt, InterruptSignal());
  ::pthread_sigmask(SIG_SETMASK, &only_interrupt, nullptr);
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    queued_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (stopping_) break;
    Queued next = std::move(queue_.front());
    queue_.pop_front();
    worker->id = next.id;
    worker->interrupt = false;
    lock.unlock();
    const uint64_t answered_before = notifier.answered();
    Result<std::optional<SyscallEvent>> result = next.job(notifier);
    answered_ += notifier.answered() - answered_before;
    lock.lock();
    worker->id.reset();
    worker->interrupt = false;
    const bool failed = !result.has_value();
    if (failed) {
      if (!error_) error_ = std::move(result).error();
    } else if (result->has_value()) {
      events_.push_back(std::move(**result));
    }
    if (failed || !events_.empty()) {
      const uint64_t one = 1;
      // A full counter (2^64 - 2 writes unread) is still readable.
      (void)!::write(ready_.get(), &one, sizeof one);
    }
    // Its credentials may not have been restored: it takes no further call.
    if (failed) break;
  }
  worker->done = true;
  done_cv_.notify_all();
}

Result<std::vector<SyscallEvent>> NotificationWorkers::Take() {
  uint64_t count = 0;
  (void)!::read(ready_.get(), &count, sizeof count);
  std::lock_guard lock(mutex_);
  if (error_) return tl::unexpected(*error_);
  return std::exchange(events_, {});
}

bool NotificationWorkers::busy() {
  std::lock_guard lock(mutex_);
  if (!queue_.empty()) return true;
  for (const auto& worker : workers_) {
    if (worker->id) return true;
  }
  return false;
}

void NotificationWorkers::Watch() {
  std::lock_guard lock(mutex_);
  for (const auto& worker : workers_) {
    if (worker->id && !worker->interrupt && !watcher_.IdValid(*worker->id)) {
      worker->interrupt = true;
    }
  }
  InterruptMarked();
}

void NotificationWorkers::InterruptMarked() {
  for (const auto& worker : workers_) {
    if (worker->interrupt && worker->id && !worker->done) {
      ::pthread_kill(worker->thread.native_handle(), InterruptSignal());
    }
  }
}

void NotificationWorkers::Stop() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  queue_.clear();
  queued_cv_.notify_all();
  while (true) {
    bool running = false;
    for (const auto& worker : workers_) {
      if (worker->done) continue;
      running = true;
      if (worker->id) worker->interrupt = true;
    }
    if (!running) break;
    InterruptMarked();
    done_cv_.wait_for(lock, kStopResignal);
  }
  std::vector<std::unique_ptr<Worker>> finished = std::move(workers_);
  workers_.clear();
  lock.unlock();
  for (const auto& worker : finished) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

}  // namespace isoscope
