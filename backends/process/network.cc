#include "backends/process/network.h"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace isoscope {

uint64_t NetworkNamespaceFlags(NetworkMode mode) {
  return mode == NetworkMode::kHost ? 0 : CLONE_NEWNET;
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

}  // namespace isoscope
