// Whether this host runs the i386 syscall ABI for a 64-bit process, for
// tests that need it or must leave it out. Header-only: the backends' unit
// tests use it without linking the integration tests' library.
#ifndef ISOSCOPE_TESTS_HOST_ABI_H_
#define ISOSCOPE_TESTS_HOST_ABI_H_

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

namespace isoscope::testing {

// int 0x80 from a 64-bit process: the i386 ABI (eax = number, result in eax).
inline int64_t I386Syscall0(int64_t nr) {
  int64_t result = 0;
  asm volatile("int $0x80"
               : "=a"(result)
               : "a"(nr)
               : "memory", "r8", "r9", "r10", "r11");
  return static_cast<int32_t>(result);
}
inline constexpr int64_t kI386Getpid = 20;

// Whether int 0x80 works here (CONFIG_IA32_EMULATION, not disabled with
// ia32_emulation=0). Without it, int 0x80 is a #GP (SIGSEGV) before seccomp
// sees a call. Probed in a child, which the fault kills.
inline bool HostHasI386Abi() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const rlimit no_core{0, 0};  // the fault is expected: no core dump
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::_exit(I386Syscall0(kI386Getpid) == ::getpid() ? 0 : 1);
  }
  if (pid < 0) return false;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace isoscope::testing

#endif  // ISOSCOPE_TESTS_HOST_ABI_H_
