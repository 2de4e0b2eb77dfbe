// The one error vocabulary of isoscope: every fallible function returns
// Result<T> (or Status) whose error says what failed, where and why. Errors
// are values; nothing throws across a module boundary.
#ifndef ISOSCOPE_BASE_ERROR_H_
#define ISOSCOPE_BASE_ERROR_H_

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace isoscope {

// What kind of failure this is; the CLI maps each to a documented exit status.
enum class ErrorCode {
  kInvalidArgument,  // a user-supplied value is wrong (flag, option, name)
  kPolicy,           // a policy file is unreadable or invalid
  kNotFound,         // the workload (or another named file) does not exist
  kNotExecutable,    // the workload exists but cannot be executed
  kUnavailable,      // this host lacks what a backend or feature needs
  kSystem,           // a system call failed (sys_errno() says why)
  kStore,            // the results store failed
  kInternal,         // a broken invariant inside isoscope
};

std::string_view ErrorCodeName(ErrorCode code);

// Where an Error was made. Not std::source_location: clang-tidy 14 (Debian
// 12) cannot parse libstdc++ 12's, while both compilers have these builtins.
struct CallSite {
  const char* file = "";
  int line = 0;
  static constexpr CallSite Here(const char* file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
    return CallSite{file, line};
  }
};

class Error {
 public:
  Error(ErrorCode code, std::string message, int sys_errno = 0,
        CallSite where = CallSite::Here());

  // An error for a failed system call: "<what>: <strerror> (<ERRNO>)".
  static Error FromErrno(std::string_view what, int sys_errno,
                         CallSite where = CallSite::Here());

  ErrorCode code() const { return code_; }
  int sys_errno() const { return sys_errno_; }
  const std::string& message() const { return message_; }
  const CallSite& where() const { return where_; }

  // Prepends the caller's context: "<context>: <message>".
  [[nodiscard]] Error WithContext(std::string_view context) const&;
  [[nodiscard]] Error WithContext(std::string_view context) &&;

  // The one-line form shown to users (the message; context already in it).
  std::string ToString() const { return message_; }
  // The form for logs and bug reports: message plus the call site.
  std::string ToDebugString() const;

 private:
  ErrorCode code_;
  int sys_errno_;
  std::string message_;
  CallSite where_;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

// Shorthand for `return tl::unexpected(Error(...))`.
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message,
                                  int sys_errno = 0,
                                  CallSite where = CallSite::Here()) {
  return tl::unexpected(Error(code, std::move(message), sys_errno, where));
}

inline tl::unexpected<Error> FailErrno(std::string_view what, int sys_errno,
                                       CallSite where = CallSite::Here()) {
  return tl::unexpected(Error::FromErrno(what, sys_errno, where));
}

// Symbolic name of an errno value ("EPERM"), or "" if unknown.
std::string_view ErrnoName(int value);
// The errno value for a symbolic name ("EPERM" -> 1), or 0 if unknown.
int ErrnoFromName(std::string_view name);

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_ERROR_H_
