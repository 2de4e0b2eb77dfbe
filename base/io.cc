#include "base/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include <fmt/format.h>

#include "base/unique_fd.h"

namespace isoscope {

Result<std::string> ReadFileUpTo(const std::string& path, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return FailErrno(fmt::format("reading {}", path), errno);
  std::string text;
  char buffer[8192];
  while (text.size() <= limit) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno(fmt::format("reading {}", path), errno);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

namespace {

Status WriteAll(int fd, std::string_view contents, const std::string& what) {
  while (!contents.empty()) {
    const ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return FailErrno(fmt::format("writing {}", what), err);
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

Status WriteFileReplacing(const std::string& path, std::string_view contents) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd) {
      const int err = errno;
      return FailErrno(fmt::format("opening {}", path), err);
    }
    if (Status written = WriteAll(fd.get(), contents, path); !written) {
      return written;
    }
    if (::close(fd.Release()) != 0) {
      const int err = errno;
      return FailErrno(fmt::format("writing {}", path), err);
    }
    return {};
  }
  // A name of its own beside the target (a file the user keeps as PATH.tmp
  // is not clobbered), made with O_EXCL so that the umask applies to its
  // mode as to any file a shell redirection makes.
  std::string temporary;
  int fd_or_error = -1;
  int err = EEXIST;
  for (int attempt = 0; attempt < 100 && err == EEXIST; ++attempt) {
    temporary = fmt::format("{}.isoscope-{}-{}", path, ::getpid(), attempt);
    fd_or_error = ::open(temporary.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    err = fd_or_error < 0 ? errno : 0;
  }
  if (fd_or_error < 0) {
    return FailErrno(fmt::format("creating {}", temporary), err);
  }
  UniqueFd fd(fd_or_error);
  Status written = WriteAll(fd.get(), contents, temporary);
  if (written && ::close(fd.Release()) != 0) {
    err = errno;
    written = FailErrno(fmt::format("writing {}", temporary), err);
  }
  if (written && ::rename(temporary.c_str(), path.c_str()) != 0) {
    err = errno;
    written = FailErrno(fmt::format("renaming {} to {}", temporary, path), err);
  }
  if (!written) ::unlink(temporary.c_str());
  return written;
}

Result<std::string> ReadLinkText(const std::string& link) {
  // One byte more than PATH_MAX tells a truncated text apart.
  std::string target(PATH_MAX + 1, '\0');
  const ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  if (n < 0) return FailErrno(fmt::format("readlink {}", link), errno);
  if (static_cast<size_t>(n) >= target.size()) {
    return Fail(
        ErrorCode::kSystem,
        fmt::format("readlink {}: longer than {} bytes", link, PATH_MAX));
  }
  target.resize(static_cast<size_t>(n));
  return target;
}

}  // namespace isoscope
