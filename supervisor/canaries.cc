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
// - remote listener: like the loopback one, on the far end of a veth pair
//   whose other end, in the host's network namespace, is the only route to
//   it (198.18.0.0/15, the benchmarking range no network routes).
#include "supervisor/canaries.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
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
#include <functional>
#include <string>
#include <thread>
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
// Directory and secret readable by anyone: the sandbox's path rules, not
// the file's mode, must be what keeps a workload of another uid out.
constexpr auto kDirectoryMode =
    std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
    std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
    std::filesystem::perms::others_exec;
constexpr mode_t kSecretMode = 0644;

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

// One NETLINK_ROUTE request under construction: a header, a fixed part and
// attributes, nested ones included.
class RouteMessage {
 public:
  RouteMessage(uint16_t type, uint16_t flags) {
    nlmsghdr header{};
    header.nlmsg_type = type;
    header.nlmsg_flags =
        static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    Append(&header, sizeof(header));
  }
  template <typename T>
  void Fixed(const T& value) {
    Append(&value, sizeof(value));
  }
  void Attribute(uint16_t type, const void* data, size_t size) {
    rtattr attr{};
    attr.rta_type = type;
    attr.rta_len = static_cast<uint16_t>(RTA_LENGTH(size));
    Append(&attr, sizeof(attr));
    Append(data, size);
  }
  void Attribute(uint16_t type, std::string_view text) {
    const std::string terminated(text);
    Attribute(type, terminated.c_str(), terminated.size() + 1);
  }
  // Begin/End a nested attribute; Begin returns its offset.
  size_t Begin(uint16_t type) {
    const size_t offset = bytes_.size();
    Attribute(type, nullptr, 0);
    return offset;
  }
  void End(size_t offset) {
    rtattr attr{};
    std::memcpy(&attr, bytes_.data() + offset, sizeof(attr));
    attr.rta_len = static_cast<uint16_t>(bytes_.size() - offset);
    std::memcpy(bytes_.data() + offset, &attr, sizeof(attr));
  }
  // The finished message, its length in the header.
  std::string& Finish() {
    nlmsghdr header{};
    std::memcpy(&header, bytes_.data(), sizeof(header));
    header.nlmsg_len = static_cast<uint32_t>(bytes_.size());
    std::memcpy(bytes_.data(), &header, sizeof(header));
    return bytes_;
  }

 private:
  void Append(const void* data, size_t size) {
    if (size > 0) bytes_.append(static_cast<const char*>(data), size);
    bytes_.resize(NLMSG_ALIGN(bytes_.size()), '\0');
  }
  std::string bytes_;
};

// Sends `message` on a new NETLINK_ROUTE socket of the calling thread's
// network namespace and waits for its acknowledgement.
Status RouteRequest(RouteMessage& message, std::string_view what) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return FailErrno(fmt::format("netlink socket ({})", what), errno);
  const std::string& bytes = message.Finish();
  if (::send(fd.get(), bytes.data(), bytes.size(), 0) !=
      static_cast<ssize_t>(bytes.size())) {
    return FailErrno(fmt::format("netlink send ({})", what), errno);
  }
  alignas(nlmsghdr) char reply[8192];
  const ssize_t n = ::recv(fd.get(), reply, sizeof(reply), 0);
  if (n < 0) return FailErrno(fmt::format("netlink recv ({})", what), errno);
  if (static_cast<size_t>(n) < NLMSG_LENGTH(sizeof(nlmsgerr))) {
    return Fail(ErrorCode::kSystem,
                fmt::format("netlink ({}): short reply", what));
  }
  nlmsghdr header{};
  std::memcpy(&header, reply, sizeof(header));
  nlmsgerr error{};
  std::memcpy(&error, reply + NLMSG_HDRLEN, sizeof(error));
  if (header.nlmsg_type != NLMSG_ERROR) {
    return Fail(ErrorCode::kSystem,
                fmt::format("netlink ({}): unexpected reply type {}", what,
                            header.nlmsg_type));
  }
  if (error.error != 0) {
    return FailErrno(fmt::format("netlink ({})", what), -error.error);
  }
  return {};
}

Status AddAddress(std::string_view interface, in_addr address) {
  const unsigned index = ::if_nametoindex(std::string(interface).c_str());
  if (index == 0) {
    return FailErrno(fmt::format("if_nametoindex {}", interface), errno);
  }
  RouteMessage message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = 30;
  ifa.ifa_index = index;
  message.Fixed(ifa);
  message.Attribute(IFA_LOCAL, &address, sizeof(address));
  message.Attribute(IFA_ADDRESS, &address, sizeof(address));
  return RouteRequest(message, fmt::format("address on {}", interface));
}

Status SetUp(std::string_view interface) {
  const unsigned index = ::if_nametoindex(std::string(interface).c_str());
  if (index == 0) {
    return FailErrno(fmt::format("if_nametoindex {}", interface), errno);
  }
  RouteMessage message(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = static_cast<int>(index);
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  message.Fixed(ifi);
  return RouteRequest(message, fmt::format("bringing {} up", interface));
}

// Runs `body` on a thread of its own that first enters the network
// namespace `ns_fd` (or, with -1, a new one), so the process's other
// threads never change namespace.
Status InNetworkNamespace(int ns_fd, const std::function<Status()>& body) {
  Status result;
  std::thread thread([&] {
    const int entered =
        ns_fd < 0 ? ::unshare(CLONE_NEWNET) : ::setns(ns_fd, CLONE_NEWNET);
    if (entered != 0) {
      result = FailErrno(ns_fd < 0 ? "unshare(CLONE_NEWNET)" : "setns", errno);
      return;
    }
    result = body();
  });
  thread.join();
  return result;
}

// A TCP listener on 198.19.a.(b+2), in a network namespace of its own
// reached from the host's through a veth pair whose host end has
// 198.19.a.(b+1)/30. The namespace lives as long as its descriptor and the
// listener: when both close (even at isoscope's death) the kernel removes
// the namespace and with it both ends of the pair.
class RemoteListener {
 public:
  static Result<RemoteListener> Create() {
    RemoteListener remote;
    uint16_t random = 0;
    if (::getrandom(&random, sizeof(random), 0) != sizeof(random)) {
      return FailErrno("getrandom", errno);
    }
    // 198.19.0.0/16, a /30 per instance.
    const uint32_t base = (198U << 24) | (19U << 16) | (random & 0xfffcU);
    remote.host_address_.s_addr = htonl(base + 1);
    remote.address_.s_addr = htonl(base + 2);
    remote.host_end_ = fmt::format("isocan{:04x}h", random);
    const std::string far_end = fmt::format("isocan{:04x}n", random);

    Status made = InNetworkNamespace(-1, [&]() -> Status {
      remote.namespace_ =
          UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
      if (!remote.namespace_) {
        return FailErrno("open /proc/thread-self/ns/net", errno);
      }
      return {};
    });
    if (!made) return tl::unexpected(made.error());

    RouteMessage link(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    link.Fixed(ifi);
    link.Attribute(IFLA_IFNAME, remote.host_end_);
    const size_t info = link.Begin(IFLA_LINKINFO);
    link.Attribute(IFLA_INFO_KIND, "veth");
    const size_t data = link.Begin(IFLA_INFO_DATA);
    const size_t peer = link.Begin(VETH_INFO_PEER);
    link.Fixed(ifi);
    link.Attribute(IFLA_IFNAME, far_end);
    const uint32_t ns_fd = static_cast<uint32_t>(remote.namespace_.get());
    link.Attribute(IFLA_NET_NS_FD, &ns_fd, sizeof(ns_fd));
    link.End(peer);
    link.End(data);
    link.End(info);
    if (auto created = RouteRequest(link, "creating the veth pair"); !created) {
      return tl::unexpected(created.error());
    }
    remote.pair_created_ = true;
    if (auto added = AddAddress(remote.host_end_, remote.host_address_);
        !added) {
      return tl::unexpected(added.error());
    }
    if (auto up = SetUp(remote.host_end_); !up) {
      return tl::unexpected(up.error());
    }
    Status far = InNetworkNamespace(remote.namespace_.get(), [&]() -> Status {
      if (auto added = AddAddress(far_end, remote.address_); !added) {
        return added;
      }
      if (auto up = SetUp(far_end); !up) return up;
      sockaddr_in in{};
      in.sin_family = AF_INET;
      in.sin_addr = remote.address_;
      auto listener = Listen(AF_INET, reinterpret_cast<const sockaddr*>(&in),
                             sizeof(in), "canary remote listener");
      if (!listener) return tl::unexpected(listener.error());
      socklen_t length = sizeof(in);
      if (::getsockname(listener->get(), reinterpret_cast<sockaddr*>(&in),
                        &length) != 0) {
        return FailErrno("getsockname (canary remote listener)", errno);
      }
      remote.port_ = ntohs(in.sin_port);
      remote.listener_ = std::move(*listener);
      return {};
    });
    if (!far) return tl::unexpected(far.error());
    return remote;
  }

  RemoteListener(RemoteListener&& other) noexcept
      : namespace_(std::move(other.namespace_)),
        listener_(std::move(other.listener_)),
        host_end_(std::move(other.host_end_)),
        pair_created_(std::exchange(other.pair_created_, false)),
        host_address_(other.host_address_),
        address_(other.address_),
        port_(other.port_) {}
  RemoteListener& operator=(RemoteListener&&) = delete;
  ~RemoteListener() {
    listener_.Reset();
    if (pair_created_) {
      // Deleting one end deletes both; the namespace goes with its fd.
      RouteMessage message(RTM_DELLINK, 0);
      ifinfomsg ifi{};
      ifi.ifi_family = AF_UNSPEC;
      message.Fixed(ifi);
      message.Attribute(IFLA_IFNAME, host_end_);
      (void)RouteRequest(message, "deleting the veth pair");
    }
  }

  int listener() const { return listener_.get(); }
  std::string address() const {
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address_, text, sizeof(text));
    return text;
  }
  uint16_t port() const { return port_; }

 private:
  RemoteListener() = default;
  UniqueFd namespace_;
  UniqueFd listener_;
  std::string host_end_;
  bool pair_created_ = false;
  in_addr host_address_{};
  in_addr address_{};
  uint16_t port_ = 0;
};

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
    case Canary::kRemote:
      return "canary non-loopback listener connected to";
  }
  return "canary touched";
}

std::optional<Canary> CanaryTargetedBy(std::string_view probe_id) {
  if (probe_id == "secret-file") return Canary::kSecretFile;
  if (probe_id == "loopback-connect") return Canary::kLoopback;
  if (probe_id == "abstract-socket") return Canary::kAbstract;
  if (probe_id == "signal-canary") return Canary::kSignal;
  if (probe_id == "sysv-shm") return Canary::kShm;
  if (probe_id == "inherited-fds" || probe_id.starts_with("magic-links.") ||
      probe_id.starts_with("checked-arg.") ||
      probe_id.starts_with("pathless-open.")) {
    return Canary::kSecretFile;
  }
  if (probe_id == "network.loopback") return Canary::kLoopback;
  if (probe_id == "network.nonloopback") return Canary::kRemote;
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
  // Without close-on-exec, on purpose: what a careless parent passes on.
  UniqueFd inherited_secret;
  UniqueFd inherited_directory;
  std::optional<RemoteListener> remote;
  std::string remote_unavailable;
  // Evidence latched until Reset.
  bool tcp_touched = false;
  bool abstract_touched = false;
  bool remote_touched = false;

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

std::filesystem::path Canaries::DefaultCanaryParent() {
  if (::access("/run", W_OK) == 0) return "/run";
  std::error_code ec;
  std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
  return ec ? std::filesystem::path("/tmp") : tmp;
}

Result<Canaries> Canaries::Create(std::filesystem::path parent) {
  if (parent.empty()) parent = DefaultCanaryParent();
  // What an isoscope killed outright left there.
  TempDir::RemoveAbandoned("isoscope-canary-", parent);
  auto dir = TempDir::Create("isoscope-canary-", parent);
  if (!dir) return tl::unexpected(dir.error());
  auto state = std::make_unique<State>(std::move(*dir));
  std::error_code ec;
  std::filesystem::permissions(state->dir.path(), kDirectoryMode, ec);
  if (ec) {
    return FailErrno(fmt::format("chmod {}", state->dir.path().string()),
                     ec.value());
  }

  // The secret file, 0600, written through a fresh descriptor.
  auto token = RandomHex(kSecretBytes);
  if (!token) return tl::unexpected(token.error());
  state->secret = state->dir.path() / "secret";
  {
    UniqueFd fd(::open(state->secret.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kSecretMode));
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
  // Deliberately inheritable (no O_CLOEXEC): isoscope now holds them as if
  // it had been started with them open. Opening does not read, so the
  // secret's access time stays armed.
  state->inherited_secret =
      UniqueFd(::open(state->secret.c_str(), O_RDONLY));  // NOLINT
  if (!state->inherited_secret) {
    return FailErrno(fmt::format("opening {}", state->secret.string()), errno);
  }
  state->inherited_directory = UniqueFd(
      ::open(state->dir.path().c_str(), O_RDONLY | O_DIRECTORY));  // NOLINT
  if (!state->inherited_directory) {
    return FailErrno(fmt::format("opening {}", state->dir.path().string()),
                     errno);
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

  if (auto remote = RemoteListener::Create()) {
    state->remote.emplace(std::move(*remote));
  } else {
    state->remote_unavailable = remote.error().ToString();
  }
  return Canaries(std::move(state));
}

std::vector<std::string> Canaries::Environment() const {
  std::vector<std::string> env = {
      "ISOSCOPE_CANARY_SECRET=" + state_->secret.string(),
      fmt::format("ISOSCOPE_CANARY_TCP_PORT={}", state_->port),
      "ISOSCOPE_CANARY_ABSTRACT=" + state_->abstract_name,
      fmt::format("ISOSCOPE_CANARY_PID={}", state_->process->pid()),
      fmt::format("ISOSCOPE_CANARY_SHM_KEY={}", state_->shm->key()),
      fmt::format("ISOSCOPE_SUPERVISOR_PID={}", ::getpid()),
  };
  if (state_->remote) {
    env.push_back("ISOSCOPE_CANARY_NET_ADDR=" + state_->remote->address());
    env.push_back(
        fmt::format("ISOSCOPE_CANARY_NET_PORT={}", state_->remote->port()));
  }
  return env;
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

bool Canaries::RemoteTouched() {
  if (state_->remote && DrainConnections(state_->remote->listener())) {
    state_->remote_touched = true;
  }
  return state_->remote_touched;
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
    case Canary::kRemote:
      return RemoteTouched();
  }
  return false;
}

Status Canaries::Reset() {
  DrainConnections(state_->tcp.get());
  DrainConnections(state_->abstract.get());
  if (state_->remote) DrainConnections(state_->remote->listener());
  state_->tcp_touched = false;
  state_->abstract_touched = false;
  state_->remote_touched = false;
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
int Canaries::inherited_secret_fd() const {
  return state_->inherited_secret.get();
}
int Canaries::inherited_directory_fd() const {
  return state_->inherited_directory.get();
}
std::optional<std::string> Canaries::remote_address() const {
  if (!state_->remote) return std::nullopt;
  return state_->remote->address();
}
uint16_t Canaries::remote_port() const {
  return state_->remote ? state_->remote->port() : 0;
}
const std::string& Canaries::remote_unavailable() const {
  return state_->remote_unavailable;
}

}  // namespace isoscope
