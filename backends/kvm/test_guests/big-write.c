/* kvm test guest `big-write`: write(1, buf, N) with buf a valid 64-byte
 * buffer and N = 64 MiB, 2^62 and 2^64 - 1: lengths that run far past the
 * buffer and (with at most 64 MiB of guest RAM) past the end of RAM. Each
 * must fail with EFAULT or write a short count that stays inside RAM; the
 * VMM must neither crash nor copy out of bounds. Prints one line per call
 * on stderr (`len=0x... ret=RESULT`), then `RESULT ok` on stderr and exits
 * 0 when each result is EFAULT or 0 < ret < N, else exits 1. */
#include "backends/kvm/test_guests/guest.h"

static char buf[64] = "big-write buffer\n";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  static const unsigned long kLengths[] = {64UL << 20, 1UL << 62, ~0UL};
  int failures = 0;
  for (size_t i = 0; i < sizeof kLengths / sizeof kLengths[0]; i++) {
    long ret = syscall3(SYS_write, 1, (long)buf, (long)kLengths[i]);
    char text[24];
    rt_eprintf("len=0x%lx ret=%s\n", kLengths[i],
               guest_result(ret, text, sizeof text));
    if (ret != -EFAULT && !(ret > 0 && (unsigned long)ret < kLengths[i])) {
      failures++;
    }
  }
  if (failures != 0) {
    rt_eprintf("RESULT fail n=%d\n", failures);
    return 1;
  }
  rt_eprintf("RESULT ok\n");
  return 0;
}
