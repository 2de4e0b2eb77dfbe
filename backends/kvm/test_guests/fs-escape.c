/* kvm test guest `fs-escape`: tries to open files outside the policy's
 * filesystem view from a cwd inside it: /etc/shadow, ../../.. up to
 * /etc/passwd, the same relative to a directory fd of ".", `passwd-link`
 * and `etc-link/passwd` (symlinks in the cwd to /etc/passwd and /etc, made
 * by the test), /proc/self/mem and /proc/1/root/etc/passwd (host kernel
 * views), /dev/kvm (the hypervisor itself, read-write). Each must fail:
 * prints `PATH=ERRNO` per attempt (an open that succeeds prints
 * `PATH=OPENED` and is closed at once, nothing read), then `RESULT ok`
 * (exit 0) or `RESULT escaped n=N` (exit 1). */
#include "backends/kvm/test_guests/guest.h"

static int escaped;

static void attempt(long dirfd, const char *path, int flags) {
  long fd = syscall4(GUEST_SYS_openat, dirfd, (long)path, flags, 0);
  char text[24];
  if (fd >= 0) {
    rt_printf("%s=OPENED\n", path);
    syscall1(SYS_close, fd);
    escaped++;
    return;
  }
  rt_printf("%s=%s\n", path, guest_result(fd, text, sizeof text));
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  attempt(GUEST_AT_FDCWD, "/etc/shadow", O_RDONLY);
  attempt(GUEST_AT_FDCWD, "../../../../../../../../etc/passwd", O_RDONLY);
  attempt(GUEST_AT_FDCWD, "passwd-link", O_RDONLY);
  attempt(GUEST_AT_FDCWD, "etc-link/passwd", O_RDONLY);
  attempt(GUEST_AT_FDCWD, "/proc/self/mem", O_RDWR);
  attempt(GUEST_AT_FDCWD, "/proc/1/root/etc/passwd", O_RDONLY);
  attempt(GUEST_AT_FDCWD, "/dev/kvm", O_RDWR);
  long dot = syscall4(GUEST_SYS_openat, GUEST_AT_FDCWD, (long)".",
                      O_RDONLY | O_DIRECTORY, 0);
  if (dot >= 0) {
    rt_printf("dirfd=ok\n");
    attempt(dot, "../../../../../../../../etc/passwd", O_RDONLY);
    syscall1(SYS_close, dot);
  } else {
    char text[24];
    rt_printf("dirfd=%s\n", guest_result(dot, text, sizeof text));
  }
  if (escaped != 0) {
    rt_printf("RESULT escaped n=%d\n", escaped);
    return 1;
  }
  rt_printf("RESULT ok\n");
  return 0;
}
