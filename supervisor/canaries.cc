// Canaries are plain host objects; what makes them canaries is that the
// runner can tell afterwards, from outside, whether anything touched them:
//
// - secret file: its access time is set one hour before its mtime. With
//   relatime (the usual mount option) the kernel updates atime on a read
//   exactly when atime <= mtime, so any read moves it.
// - listeners: a connection sits in the accept queue once connect()
//   returned, whether or not the probe wrote anything.
// - canary process: blocks SIGUSR1, so a SIGUSR1 sent to it stays pending
//   and shows in /proc/<pid>/status (SigPnd, or ShdPnd for a
//   process-directed kill).
// - SysV segment: shmat sets shm_atime (and counts the attachment); a
//   segment nobody attached has shm_atime 0.
#include "supervisor/canaries.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "base/temp_dir.h"
#include "base/unique_fd.h"

namespace isoscope {
namespace {

constexpr int kSecretBytes = 16;  // 32 hex characters
constexpr int kListenBacklog = 16;
constexpr size_t kShmSize = 4096;
constexpr int kShmKeyAttempts = 16;

Result<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t filled = 0;
  while (filled < bytes) {
    ssize_t n = ::getrandom(raw.data() + filled, bytes - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("getrandom", errno);
    filled += static_cast<size_t>(n);
  }
  std::string hex;
  for (char c : raw) {
    hex += fmt::format("{:02x}", static_cast<unsigned char>(c));
  }
  return hex;
}

// The canary process: a child that blocks SIGUSR1 and sleeps, and is killed
// and reaped with its owner. It is tracked through a pidfd, because a
// backend's orphan sweep may kill and reap it behind our back: the pidfd
// keeps every later signal, wait or /proc read from reaching a recycled pid.
class CanaryProcess {
 public:
  static Result<CanaryProcess> Spawn() {
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return FailErrno("fork (canary process)", errno);
    if (pid == 0) {
      // Async-signal-safe from here on: no allocation, no locks.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);  // the runner died meanwhile
      // The runner's sockets, store and pipes are not ours to hold.
      ::syscall(SYS_close_range, 3U, ~0U, 0U);
      sigset_t mask;
      ::sigemptyset(&mask);
      ::sigaddset(&mask, SIGUSR1);
      ::sigprocmask(SIG_BLOCK, &mask, nullptr);
      while (true) ::pause();
    }
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      const int saved = errno;
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return FailErrno("pidfd_open (canary process)", saved);
    }
    return CanaryProcess(pid, UniqueFd(pidfd));
  }

  CanaryProcess(CanaryProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)) {}
  CanaryProcess& operator=(CanaryProcess&& other) noexcept {
    if (this != &other) {
      KillAndReap();
      pid_ = std::exchange(other.pid_, -1);
      pidfd_ = std::move(other.pidfd_);
    }
    return *this;
  }
  ~CanaryProcess() { KillAndReap(); }

  pid_t pid() const { return pid_; }

  // Whether the process has exited (killed by someone, reaped or not).
  bool Exited() const {
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    return ::poll(&pfd, 1, 0) != 0;
  }

  // Whether SIGUSR1 is pending. False once the process has gone: its
  // /proc entry may then belong to another process.
  bool SignalPending() const {
    if (!pidfd_) return false;
    std::ifstream status(fmt::format("/proc/{}/status", pid_));
    bool pending = false;
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("SigPnd:", 0) != 0 && line.rfind("ShdPnd:", 0) != 0) {
        continue;
      }
      const uint64_t mask = std::strtoull(line.c_str() + 7, nullptr, 16);
      if ((mask >> (SIGUSR1 - 1)) & 1) pending = true;
    }
    // Alive after the read, so the pid was ours during it.
    return pending && !Exited();
  }

 private:
  CanaryProcess(pid_t pid, UniqueFd pidfd)
      : pid_(pid), pidfd_(std::move(pidfd)) {}

  void KillAndReap() {
    if (!pidfd_) return;
    // ESRCH when it is already gone (and perhaps reaped by someone else).
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0U);
    siginfo_t info{};
    // ECHILD when someone else reaped it; the pidfd never names another.
    while (::waitid(static_cast<idtype_t>(P_PIDFD),
                    static_cast<id_t>(pidfd_.get()), &info, WEXITED) < 0 &&
           errno == EINTR) {
    }
    pidfd_.Reset();
    pid_ = -1;
  }

  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// A SysV segment removed (IPC_RMID) on destruction.
class ShmSegment {
 public:
  static Result<ShmSegment> Create() {
    for (int attempt = 0; attempt < kShmKeyAttempts; ++attempt) {
      key_t key = 0;
      if (::getrandom(&key, sizeof(key), 0) != sizeof(key)) {
        return FailErrno("getrandom", errno);
      }
      if (key == IPC_PRIVATE) continue;  // would not be findable by a probe
      const int id = ::shmget(key, kShmSize, IPC_CREAT | IPC_EXCL | 0600);
      if (id >= 0) return ShmSegment(key, id);
      if (errno != EEXIST) return FailErrno("shmget (canary segment)", errno);
    }
    return Fail(ErrorCode::kSystem,
                "shmget (canary segment): no free random key");
  }
  ShmSegment(ShmSegment&& other) noexcept
      : key_(other.key_), id_(std::exchange(other.id_, -1)) {}
  ShmSegment& operator=(ShmSegment&&) = delete;
  ~ShmSegment() {
    if (id_ >= 0) ::shmctl(id_, IPC_RMID, nullptr);
  }

  key_t key() const { return key_; }
  int id() const { return id_; }

  struct Use {
    time_t atime = 0;
    shmatt_t attached = 0;
  };
  // nullopt if the segment is gone (removed by someone with the rights).
  std::optional<Use> Stat() const {
    shmid_ds ds{};
    if (::shmctl(id_, IPC_STAT, &ds) != 0) return std::nullopt;
    return Use{ds.shm_atime, ds.shm_nattch};
  }

 private:
  ShmSegment(key_t key, int id) : key_(key), id_(id) {}
  key_t key_;
  int id_;
};

Result<UniqueFd> Listen(int domain, const sockaddr* address, socklen_t length,
                        std::string_view what) {
  UniqueFd fd(::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return FailErrno(fmt::format("socket ({})", what), errno);
  if (::bind(fd.get(), address, length) != 0) {
    return FailErrno(fmt::format("bind ({})", what), errno);
  }
  if (::listen(fd.get(), kListenBacklog) != 0) {
    return FailErrno(fmt::format("listen ({})", what), errno);
  }
  return fd;
}

// Accepts and closes every pending connection; true if there was one.
bool DrainConnections(int listener) {
  bool any = false;
  while (true) {
    const int fd =
        ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return any;  // EAGAIN: none left
    }
    any = true;
    ::close(fd);
  }
}

}  // namespace

std::string_view CanaryTouchedText(Canary canary) {
  switch (canary) {
    case Canary::kSecretFile:
      return "canary secret file read";
    case Canary::kLoopback:
      return "canary loopback listener connected to";
    case Canary::kAbstract:
      return "canary abstract socket connected to";
    case Canary::kSignal:
      return "canary process signalled";
    case Canary::kShm:
      return "canary SysV segment attached";
  }
  return "canary touched";
}

std::optional<Canary> CanaryTargetedBy(std::string_view probe_id) {
  if (probe_id == "secret-file") return Canary::kSecretFile;
  if (probe_id == "loopback-connect") return Canary::kLoopback;
  if (probe_id == "abstract-socket") return Canary::kAbstract;
  if (probe_id == "signal-canary") return Canary::kSignal;
  if (probe_id == "sysv-shm") return Canary::kShm;
  return std::nullopt;
}

// Member order is destruction order reversed: the process goes first (it is
// the only thing that could still act), the directory last.
struct Canaries::State {
  TempDir dir;
  std::filesystem::path secret;
  timespec secret_atime{};  // as armed
  UniqueFd tcp;
  uint16_t port = 0;
  UniqueFd abstract;
  std::string abstract_name;
  std::optional<ShmSegment> shm;  // never attached by us: shm_atime 0
  std::optional<CanaryProcess> process;
  // Evidence latched until Reset.
  bool tcp_touched = false;
  bool abstract_touched = false;

  explicit State(TempDir d) : dir(std::move(d)) {}

  // atime := mtime - 1 h, and remember what the file system stored.
  Status ArmSecret() {
    struct stat st {};
    if (::stat(secret.c_str(), &st) != 0) {
      return FailErrno(fmt::format("stat {}", secret.string()), errno);
    }
    timespec times[2];
    times[0] = st.st_mtim;
    times[0].tv_sec -= 3600;
    times[1].tv_sec = 0;
    times[1].tv_nsec = UTIME_OMIT;
    if (::utimensat(AT_FDCWD, secret.c_str(), times, 0) != 0) {
      return FailErrno(fmt::format("utimensat {}", secret.string()), errno);
    }
    if (::stat(secret.c_str(), &st) != 0) {
      return FailErrno(fmt::format("stat {}", secret.string()), errno);
    }
    secret_atime = st.st_atim;
    return {};
  }
};

Canaries::Canaries(std::unique_ptr<State> state) : state_(std::move(state)) {}
Canaries::Canaries(Canaries&&) noexcept = default;
Canaries& Canaries::operator=(Canaries&&) noexcept = default;
Canaries::~Canaries() = default;

Result<Canaries> Canaries::Create() {
  auto dir = TempDir::Create("isoscope-canary-");
  if (!dir) return tl::unexpected(dir.error());
  auto state = std::make_unique<State>(std::move(*dir));

  // The secret file, 0600, written through a fresh descriptor.
  auto token = RandomHex(kSecretBytes);
  if (!token) return tl::unexpected(token.error());
  state->secret = state->dir.path() / "secret";
  {
    UniqueFd fd(::open(state->secret.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
      return FailErrno(fmt::format("creating {}", state->secret.string()),
                       errno);
    }
    const std::string content = *token + "\n";
    if (::write(fd.get(), content.data(), content.size()) !=
        static_cast<ssize_t>(content.size())) {
      return FailErrno(fmt::format("writing {}", state->secret.string()),
                       errno);
    }
  }
  if (auto armed = state->ArmSecret(); !armed) {
    return tl::unexpected(armed.error());
  }

  // Loopback listener on a port the kernel chooses.
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = 0;
  auto tcp = Listen(AF_INET, reinterpret_cast<const sockaddr*>(&in), sizeof(in),
                    "canary loopback listener");
  if (!tcp) return tl::unexpected(tcp.error());
  state->tcp = std::move(*tcp);
  socklen_t length = sizeof(in);
  if (::getsockname(state->tcp.get(), reinterpret_cast<sockaddr*>(&in),
                    &length) != 0) {
    return FailErrno("getsockname (canary loopback listener)", errno);
  }
  state->port = ntohs(in.sin_port);

  // Abstract unix listener (no file: the name lives in the network
  // namespace and vanishes with the socket).
  auto suffix = RandomHex(8);
  if (!suffix) return tl::unexpected(suffix.error());
  state->abstract_name = "isoscope-canary-" + *suffix;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path + 1, state->abstract_name.data(),
              state->abstract_name.size());
  auto abstract =
      Listen(AF_UNIX, reinterpret_cast<const sockaddr*>(&un),
             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                    state->abstract_name.size()),
             "canary abstract socket");
  if (!abstract) return tl::unexpected(abstract.error());
  state->abstract = std::move(*abstract);

  auto shm = ShmSegment::Create();
  if (!shm) return tl::unexpected(shm.error());
  state->shm.emplace(std::move(*shm));

  auto process = CanaryProcess::Spawn();
  if (!process) return tl::unexpected(process.error());
  state->process.emplace(std::move(*process));
  return Canaries(std::move(state));
}

std::vector<std::string> Canaries::Environment() const {
  return {
      "ISOSCOPE_CANARY_SECRET=" + state_->secret.string(),
      fmt::format("ISOSCOPE_CANARY_TCP_PORT={}", state_->port),
      "ISOSCOPE_CANARY_ABSTRACT=" + state_->abstract_name,
      fmt::format("ISOSCOPE_CANARY_PID={}", state_->process->pid()),
      fmt::format("ISOSCOPE_CANARY_SHM_KEY={}", state_->shm->key()),
      fmt::format("ISOSCOPE_SUPERVISOR_PID={}", ::getpid()),
  };
}

bool Canaries::SecretRead() const {
  struct stat st {};
  // A file removed or replaced counts as touched: only a workload could.
  if (::stat(state_->secret.c_str(), &st) != 0) return true;
  return st.st_atim.tv_sec != state_->secret_atime.tv_sec ||
         st.st_atim.tv_nsec != state_->secret_atime.tv_nsec;
}

bool Canaries::LoopbackTouched() {
  if (DrainConnections(state_->tcp.get())) state_->tcp_touched = true;
  return state_->tcp_touched;
}

bool Canaries::AbstractTouched() {
  if (DrainConnections(state_->abstract.get())) {
    state_->abstract_touched = true;
  }
  return state_->abstract_touched;
}

bool Canaries::CanarySignaled() const {
  return state_->process->SignalPending() || state_->process->Exited();
}

bool Canaries::ShmTouched() const {
  auto use = state_->shm->Stat();
  if (!use) return true;  // removed: only a workload could have
  return use->atime != 0 || use->attached > 0;
}

bool Canaries::Touched(Canary canary) {
  switch (canary) {
    case Canary::kSecretFile:
      return SecretRead();
    case Canary::kLoopback:
      return LoopbackTouched();
    case Canary::kAbstract:
      return AbstractTouched();
    case Canary::kSignal:
      return CanarySignaled();
    case Canary::kShm:
      return ShmTouched();
  }
  return false;
}

Status Canaries::Reset() {
  DrainConnections(state_->tcp.get());
  DrainConnections(state_->abstract.get());
  state_->tcp_touched = false;
  state_->abstract_touched = false;
  if (auto armed = state_->ArmSecret(); !armed) return armed;
  // A fresh segment (new key) rather than a remembered attach time:
  // shm_atime has a resolution of one second, so an attach in the same
  // second as the last one would not show.
  state_->shm.reset();
  auto shm = ShmSegment::Create();
  if (!shm) return tl::unexpected(shm.error());
  state_->shm.emplace(std::move(*shm));
  // The old process first: at most one canary exists at a time.
  state_->process.reset();
  auto process = CanaryProcess::Spawn();
  if (!process) return tl::unexpected(process.error());
  state_->process.emplace(std::move(*process));
  return {};
}

const std::filesystem::path& Canaries::secret_path() const {
  return state_->secret;
}
uint16_t Canaries::tcp_port() const { return state_->port; }
const std::string& Canaries::abstract_name() const {
  return state_->abstract_name;
}
pid_t Canaries::canary_pid() const {
  return state_->process ? state_->process->pid() : -1;
}
int Canaries::shm_key() const { return state_->shm->key(); }
int Canaries::shm_id() const { return state_->shm->id(); }
const std::filesystem::path& Canaries::directory() const {
  return state_->dir.path();
}

}  // namespace isoscope
