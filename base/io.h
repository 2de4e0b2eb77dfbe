// Small helpers on raw descriptors the caller owns.
#ifndef ISOSCOPE_BASE_IO_H_
#define ISOSCOPE_BASE_IO_H_

#include <poll.h>

namespace isoscope {

// Whether `fd` is readable right now (no waiting); false for fd < 0. Used to
// tell an interrupt signalfd or eventfd from a deadline after a wake-up.
inline bool IsReadable(int fd) {
  if (fd < 0) return false;
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) != 0;
}

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_IO_H_
