#include "base/error.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

struct ErrnoEntry {
  int value;
  std::string_view name;
};

// Names for the errno values a policy can return or a report can show.
constexpr ErrnoEntry kErrnoNames[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},
    {ENOEXEC, "ENOEXEC"},
    {EBADF, "EBADF"},
    {ECHILD, "ECHILD"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},
    {ETXTBSY, "ETXTBSY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {EPIPE, "EPIPE"},
    {EDOM, "EDOM"},
    {ERANGE, "ERANGE"},
    {EDEADLK, "EDEADLK"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOLCK, "ENOLCK"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {ENOMSG, "ENOMSG"},
    {ENODATA, "ENODATA"},
    {ETIME, "ETIME"},
    {EOVERFLOW, "EOVERFLOW"},
    {EOPNOTSUPP, "EOPNOTSUPP"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"},
    {EADDRINUSE, "EADDRINUSE"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {ENETDOWN, "ENETDOWN"},
    {ENETUNREACH, "ENETUNREACH"},
    {ECONNABORTED, "ECONNABORTED"},
    {ECONNRESET, "ECONNRESET"},
    {ENOBUFS, "ENOBUFS"},
    {EISCONN, "EISCONN"},
    {ENOTCONN, "ENOTCONN"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {EHOSTUNREACH, "EHOSTUNREACH"},
    {EALREADY, "EALREADY"},
    {EINPROGRESS, "EINPROGRESS"},
    {ECANCELED, "ECANCELED"},
    {EOWNERDEAD, "EOWNERDEAD"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {ENOTSOCK, "ENOTSOCK"},
    {EDQUOT, "EDQUOT"},
};

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kPolicy:
      return "policy error";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kNotExecutable:
      return "not executable";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kSystem:
      return "system error";
    case ErrorCode::kStore:
      return "store error";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown error";
}

Error::Error(ErrorCode code, std::string message, int sys_errno, CallSite where)
    : code_(code),
      sys_errno_(sys_errno),
      message_(std::move(message)),
      where_(where) {}

Error Error::FromErrno(std::string_view what, int sys_errno, CallSite where) {
  std::string_view name = ErrnoName(sys_errno);
  return Error(
      ErrorCode::kSystem,
      fmt::format("{}: {}{}{}{}", what, std::strerror(sys_errno),
                  name.empty() ? "" : " (", name, name.empty() ? "" : ")"),
      sys_errno, where);
}

Error Error::WithContext(std::string_view context) const& {
  Error copy = *this;
  return std::move(copy).WithContext(context);
}

Error Error::WithContext(std::string_view context) && {
  message_ = fmt::format("{}: {}", context, message_);
  return std::move(*this);
}

std::string Error::ToDebugString() const {
  return fmt::format("{} [{} at {}:{}]", message_, ErrorCodeName(code_),
                     where_.file, where_.line);
}

std::string_view ErrnoName(int value) {
  for (const auto& entry : kErrnoNames) {
    if (entry.value == value) return entry.name;
  }
  return {};
}

int ErrnoFromName(std::string_view name) {
  for (const auto& entry : kErrnoNames) {
    if (entry.name == name) return entry.value;
  }
  return 0;
}

}  // namespace isoscope
