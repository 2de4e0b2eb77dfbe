// Small helpers on raw descriptors the caller owns.
#ifndef ISOSCOPE_BASE_IO_H_
#define ISOSCOPE_BASE_IO_H_

#include <poll.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.h"

namespace isoscope {

// The file's bytes, read until the end or until more than `limit` of them
// were read (a few KiB more at most): a caller that gets more than `limit`
// knows the file is too large without having read all of it (a mistaken
// path may name /dev/zero or a log). An error names the path.
Result<std::string> ReadFileUpTo(const std::string& path, size_t limit);

// The text of symbolic link `link` (a /proc magic link: what d_path
// shows), at most PATH_MAX bytes. An error names the link.
Result<std::string> ReadLinkText(const std::string& link);

// Writes `contents` to `path`, as every file isoscope writes on request
// (--json, -o, reports): a regular file, or a path where none is yet, is
// replaced whole (written to a new file beside it, then renamed over it, so
// that a reader never sees half of it and a failed write leaves the old
// one; mode 0666 less the umask, as a shell redirection makes it);
// anything else is written into as it is, never replaced: a symbolic link
// (through it, to whatever it names, as a shell redirection writes), a
// terminal, a pipe, /dev/null (a rename would put a file where the link or
// device was). An error names the path and the step.
Status WriteFileReplacing(const std::string& path, std::string_view contents);

// Whether `fd` is readable right now (no waiting); false for fd < 0. Used to
// tell an interrupt signalfd or eventfd from a deadline after a wake-up.
inline bool IsReadable(int fd) {
  if (fd < 0) return false;
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) != 0;
}

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_IO_H_
