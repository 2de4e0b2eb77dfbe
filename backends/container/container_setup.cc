#include "backends/container/container_setup.h"

#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace isoscope {
namespace {

// Async-signal-safe: appends `text` to `out` (NUL-terminated, cut to fit).
void Append(ChildSetup::Failure* out, const char* text) {
  size_t used = ::strnlen(out->what, sizeof out->what);
  while (*text != '\0' && used + 1 < sizeof out->what) {
    out->what[used++] = *text++;
  }
  out->what[used] = '\0';
}

int Fail(ChildSetup::Failure* failure, const char* what, int error) {
  Append(failure, what);
  return -(error != 0 ? error : EPERM);
}

int BringLoopbackUp() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  ifreq request{};
  std::memcpy(request.ifr_name, "lo", 3);
  int result = 0;
  if (::ioctl(fd, SIOCGIFFLAGS, &request) != 0) {
    result = -errno;
  } else {
    // NOLINTNEXTLINE(google-runtime-int): ifreq's type
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    if (::ioctl(fd, SIOCSIFFLAGS, &request) != 0) result = -errno;
  }
  ::close(fd);
  return result;
}

}  // namespace

int ContainerSetup::Run(Failure* failure) const {
  failure->what[0] = '\0';
  // After the parent moved this process into the run's cgroup, so the
  // namespace's root is that cgroup: the workload sees no other.
  if (::unshare(CLONE_NEWCGROUP) != 0) {
    return Fail(failure, "unshare(CLONE_NEWCGROUP)", errno);
  }
  if (who_.user_namespace) {
    if (int result = SetIds(failure); result < 0) return result;
  }
  RootFilesystemFailure root_failure;
  if (int result = ApplyRootFilesystem(root_, &root_failure); result < 0) {
    Append(failure, "root filesystem: ");
    Append(failure,
           root_failure.step_name != nullptr ? root_failure.step_name : "?");
    if (root_failure.path != nullptr) {
      Append(failure, " ");
      Append(failure, root_failure.path);
    }
    return result;
  }
  if (!who_.hostname.empty() &&
      ::sethostname(who_.hostname.data(), who_.hostname.size()) != 0) {
    return Fail(failure, "sethostname", errno);
  }
  if (who_.loopback_up) {
    if (int result = BringLoopbackUp(); result < 0) {
      return Fail(failure, "bringing lo up", -result);
    }
  }
  const char* step = "";
  if (int result = capabilities_.DropBoundingSet(&step); result < 0) {
    return Fail(failure, step, -result);
  }
  if (!who_.user_namespace) {
    if (int result = SetIds(failure); result < 0) return result;
  }
  if (int result = capabilities_.Apply(&step); result < 0) {
    return Fail(failure, step, -result);
  }
  return 0;
}

int ContainerSetup::SetIds(Failure* failure) const {
  // Raw syscalls: glibc's wrappers would try to signal every thread of the
  // parent, whose list this clone still holds.
  // No supplementary group (root's would be group 0) once either id is
  // the policy's.
  if ((who_.uid || who_.gid) && ::syscall(SYS_setgroups, 0, nullptr) != 0) {
    return Fail(failure, "setgroups", errno);
  }
  if (who_.gid &&
      ::syscall(SYS_setresgid, *who_.gid, *who_.gid, *who_.gid) != 0) {
    return Fail(failure, "setresgid", errno);
  }
  if (who_.uid &&
      ::syscall(SYS_setresuid, *who_.uid, *who_.uid, *who_.uid) != 0) {
    return Fail(failure, "setresuid", errno);
  }
  return 0;
}

}  // namespace isoscope
