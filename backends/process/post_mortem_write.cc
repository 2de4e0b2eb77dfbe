#include "backends/process/post_mortem_write.h"

#include <linux/sched.h>
#include <poll.h>
#include <sanitizer/asan_interface.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// glibc 2.36's <sys/pidfd.h> declares its functions without extern "C".
extern "C" {
#include <sys/pidfd.h>
}

#include <cerrno>
#include <cstdint>
#include <utility>

#include "backends/process/clone_on_stack.h"

namespace isoscope {
namespace {

// The watcher's frames need a few hundred bytes.
constexpr size_t kStackSize = size_t{16} * 1024;

// What the watcher reads, kept at the top of its own stack mapping (which
// does not move when the object does).
struct WatcherArguments {
  int supervisor_pidfd;
  int fd;
  char byte;
};

// A syscall without glibc: the watcher shares this thread's TLS, so it
// must not write errno (glibc's wrappers do on failure), and it calls
// nothing the sanitizer runtime intercepts.
[[gnu::always_inline]] inline int64_t RawSyscall(int64_t number, int64_t a,
                                                 int64_t b, int64_t c) {
  int64_t result;
  asm volatile("syscall"
               : "=a"(result)
               : "a"(number), "D"(a), "S"(b), "d"(c)
               : "rcx", "r11", "memory");
  return result;
}

// Not instrumented (g++ and clang++ both read this spelling): the watcher
// runs on a stack the sanitizer runtime does not know, and must not call
// into it.
__attribute__((no_sanitize("address", "undefined"))) int WatcherMain(
    void* raw) {
  const WatcherArguments arguments = *static_cast<WatcherArguments*>(raw);
  // Only its two descriptors: a copy of isoscope's table would keep its
  // locks (a leftover mark's) and pipes open for as long as the watcher
  // lives, were it stopped.
  const auto low = static_cast<uint64_t>(
      arguments.supervisor_pidfd < arguments.fd ? arguments.supervisor_pidfd
                                                : arguments.fd);
  const auto high = static_cast<uint64_t>(
      arguments.supervisor_pidfd < arguments.fd ? arguments.fd
                                                : arguments.supervisor_pidfd);
  if (low > 0) RawSyscall(SYS_close_range, 0, low - 1, 0);
  if (high > low + 1) RawSyscall(SYS_close_range, low + 1, high - 1, 0);
  RawSyscall(SYS_close_range, high + 1, ~0U, 0);
  pollfd ended{arguments.supervisor_pidfd, POLLIN, 0};
  int64_t ready;
  do {
    ready = RawSyscall(SYS_poll, reinterpret_cast<int64_t>(&ended), 1, -1);
  } while (ready == -EINTR);
  // POLLIN alone: isoscope has exited (POLLNVAL would be a bad descriptor).
  if (ready != 1 || (ended.revents & POLLIN) == 0) return 1;
  RawSyscall(SYS_write, arguments.fd,
             reinterpret_cast<int64_t>(&arguments.byte), 1);
  return 0;
}

}  // namespace

Result<PostMortemWrite> PostMortemWrite::Arm(int fd, char byte) {
  PostMortemWrite armed;
  armed.supervisor_.Reset(::pidfd_open(::getpid(), 0));
  if (!armed.supervisor_) return FailErrno("pidfd_open of isoscope", errno);
  void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    return FailErrno("mapping the post-mortem watcher's stack", errno);
  }
  // The runtime does not clear the shadow at munmap (see ChildStack).
  ASAN_UNPOISON_MEMORY_REGION(stack, kStackSize);
  armed.stack_ = stack;
  // The arguments take the top of the mapping; the stack starts below them,
  // 16-byte aligned.
  auto* arguments = reinterpret_cast<WatcherArguments*>(
      static_cast<char*>(stack) + kStackSize - sizeof(WatcherArguments));
  *arguments = {armed.supervisor_.get(), fd, byte};
  const uint64_t stack_top =
      (reinterpret_cast<uint64_t>(arguments) & ~uint64_t{15});

  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_VM | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = 0;
  args.stack = reinterpret_cast<uint64_t>(stack);
  args.stack_size = stack_top - reinterpret_cast<uint64_t>(stack);
  // Born with every signal blocked: no handler of isoscope's may run in it.
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  const pid_t pid = CloneOnStack(args, WatcherMain, arguments);
  const int clone_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    return FailErrno("clone3 of the post-mortem watcher", clone_error);
  }
  // The watcher leaves isoscope's process group itself too; this makes it
  // so before Arm returns, so no signal to the group can reach it.
  ::setpgid(pid, pid);
  armed.pid_ = pid;
  armed.watcher_.Reset(pidfd);
  return armed;
}

PostMortemWrite::PostMortemWrite(PostMortemWrite&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      watcher_(std::move(other.watcher_)),
      supervisor_(std::move(other.supervisor_)),
      stack_(std::exchange(other.stack_, nullptr)) {}

PostMortemWrite& PostMortemWrite::operator=(PostMortemWrite&& other) noexcept {
  if (this != &other) {
    Disarm();
    pid_ = std::exchange(other.pid_, -1);
    watcher_ = std::move(other.watcher_);
    supervisor_ = std::move(other.supervisor_);
    stack_ = std::exchange(other.stack_, nullptr);
  }
  return *this;
}

PostMortemWrite::~PostMortemWrite() { Disarm(); }

void PostMortemWrite::Disarm() {
  if (watcher_) {
    ::pidfd_send_signal(watcher_.get(), SIGKILL, nullptr, 0);
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), watcher_.get(), &info,
                    WEXITED | __WALL) != 0 &&
           errno == EINTR) {
    }
    watcher_.Reset();
  }
  // Only once the watcher is gone: it runs on this stack and polls this
  // descriptor.
  if (stack_ != nullptr) ::munmap(stack_, kStackSize);
  stack_ = nullptr;
  supervisor_.Reset();
  pid_ = -1;
}

}  // namespace isoscope
