/* kvm test guest `wild-pointers RAM_BYTES`: hands write, read,
 * clock_gettime, uname, getcwd and openat pointers that no process could
 * use: NULL, inside the never-mapped page 0, straddling the end of guest RAM
 * (RAM_BYTES, the policy's memory limit: the initial stack ends there),
 * exactly at the end, 2^63, 2^64-1, and pointer + length wrapping around
 * 2^64 to an address inside RAM (what a naive `p + n <= size` check lets
 * through). The path cases read a string that runs without a NUL to the end
 * of RAM. read uses `input` in the cwd (created by the test), so the fd is
 * valid and only the buffer is wrong. Each call must fail with EFAULT: one
 * line NAME=RESULT per call, then `RESULT ok` (exit 0) or `RESULT fail n=N`
 * (exit 1). Bad arguments: exit 2. */
#include "backends/kvm/test_guests/guest.h"

static int failures;

static void check(const char *name, long ret) {
  char buf[24];
  rt_printf("%s=%s\n", name, guest_result(ret, buf, sizeof buf));
  if (ret != -EFAULT) failures++;
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t ram = 0;
  if (argc != 2 || guest_arg_u64(argc, argv, 1, 0, &ram) != 0 ||
      ram < (1UL << 20) || (ram & 0xfff) != 0) {
    rt_eprintf("usage: wild-pointers RAM_BYTES (page aligned)\n");
    return GUEST_EXIT_USAGE;
  }
  const long kTop63 = (long)(1UL << 63);
  const long kMax = -1L; /* 2^64 - 1 */
  const long end = (long)ram;
  /* The last 8 bytes of RAM are the zero bytes ending the initial stack's
   * strings; make them non-NUL so a path there has no end inside RAM. */
  volatile char *tail = (volatile char *)(ram - 8);
  for (int i = 0; i < 8; i++) tail[i] = 'A';

  long fd =
      syscall4(GUEST_SYS_openat, GUEST_AT_FDCWD, (long)"input", O_RDONLY, 0);
  if (fd < 0) {
    char buf[24];
    rt_printf("open-input=%s\n", guest_result(fd, buf, sizeof buf));
    failures++;
  }

  check("write-null", syscall3(SYS_write, 1, 0, 16));
  check("write-page0", syscall3(SYS_write, 1, 1, 16));
  check("write-straddle", syscall3(SYS_write, 1, end - 8, 16));
  check("write-at-end", syscall3(SYS_write, 1, end, 1));
  check("write-2p63", syscall3(SYS_write, 1, kTop63, 16));
  check("write-max", syscall3(SYS_write, 1, kMax, 16));
  check("write-wrap-top", syscall3(SYS_write, 1, -8L, 16));
  check("write-wrap-len", syscall3(SYS_write, 1, end - 16, -8L));
  check("write-len-2p63", syscall3(SYS_write, 1, (long)argv[0], kTop63));

  if (fd >= 0) {
    check("read-null", syscall3(SYS_read, fd, 0, 16));
    check("read-page0", syscall3(SYS_read, fd, 1, 16));
    check("read-straddle", syscall3(SYS_read, fd, end - 8, 16));
    check("read-at-end", syscall3(SYS_read, fd, end, 1));
    check("read-2p63", syscall3(SYS_read, fd, kTop63, 16));
    check("read-wrap-len", syscall3(SYS_read, fd, end - 16, -8L));
    syscall1(SYS_close, fd);
  }

  check("clock-null", syscall2(SYS_clock_gettime, GUEST_CLOCK_MONOTONIC, 0));
  check("clock-straddle",
        syscall2(SYS_clock_gettime, GUEST_CLOCK_MONOTONIC, end - 8));
  check("clock-max", syscall2(SYS_clock_gettime, GUEST_CLOCK_MONOTONIC, kMax));

  check("uname-null", syscall1(SYS_uname, 0));
  check("uname-straddle", syscall1(SYS_uname, end - 100));
  check("uname-2p63", syscall1(SYS_uname, kTop63));

  check("getcwd-null", syscall2(GUEST_SYS_getcwd, 0, 4096));
  check("getcwd-straddle", syscall2(GUEST_SYS_getcwd, end - 1, 4096));
  check("getcwd-wrap", syscall2(GUEST_SYS_getcwd, -2L, 4096));

  check("openat-null", syscall4(GUEST_SYS_openat, GUEST_AT_FDCWD, 0, 0, 0));
  check("openat-page0", syscall4(GUEST_SYS_openat, GUEST_AT_FDCWD, 1, 0, 0));
  check("openat-straddle",
        syscall4(GUEST_SYS_openat, GUEST_AT_FDCWD, end - 4, 0, 0));
  check("openat-2p63",
        syscall4(GUEST_SYS_openat, GUEST_AT_FDCWD, kTop63, 0, 0));
  check("openat-max", syscall4(GUEST_SYS_openat, GUEST_AT_FDCWD, kMax, 0, 0));

  if (failures != 0) {
    rt_printf("RESULT fail n=%d\n", failures);
    return 1;
  }
  rt_printf("RESULT ok\n");
  return 0;
}
