/* containment_test's `inherited-fds`: looks for descriptors it did not open
 * itself (the test starts isoscope with fd 8 open on a secret file and fd 7
 * on the secret's directory, neither close-on-exec). Freestanding, so the
 * same bytes run on every backend, kvm included. Prints
 *   fd8=<what read(8) gave: an errno name, or the bytes read>
 *   fd7=<what openat(7, "secret") gave>
 *   proc=<what open("/proc/self/fd/7/secret") gave>
 *   open=<every descriptor from 3 to 1023 that fcntl(F_GETFD) finds open>
 * and exits 0. */
#include "workloads/runtime/rt.h"

enum { kSysFcntl = 72, kSysOpenat = 257, kFGetfd = 1 };

static void show(const char *name, long fd) {
  char bytes[128];
  if (fd < 0) {
    rt_printf("%s=%s\n", name, rt_errname(fd));
    return;
  }
  long n = syscall3(SYS_read, fd, (long)bytes, sizeof bytes - 1);
  if (n < 0) {
    rt_printf("%s=%s\n", name, rt_errname(n));
    return;
  }
  bytes[n] = '\0';
  rt_printf("%s=%s\n", name, bytes);
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  show("fd8", 8);
  show("fd7", syscall4(kSysOpenat, 7, (long)"secret", O_RDONLY, 0));
  show("proc", syscall2(SYS_open, (long)"/proc/self/fd/7/secret", O_RDONLY));
  rt_printf("open=");
  for (long fd = 3; fd < 1024; ++fd) {
    if (syscall2(kSysFcntl, fd, kFGetfd) >= 0) rt_printf("%ld ", fd);
  }
  rt_printf("\n");
  return 0;
}
