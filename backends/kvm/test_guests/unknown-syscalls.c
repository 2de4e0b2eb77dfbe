/* kvm test guest `unknown-syscalls [nopid]`: makes syscalls no guest kernel
 * implements: 335 (a hole in the table), 462 and 1000 (beyond what the VMM
 * emulates), 0x3fffffff, write with the x32 bit (0x40000001), -1, and
 * getpid (39) with bits above 31 set (2^32 + 39, 2^63 + 39). Linux (since
 * 5.x) reads the number as a 32-bit int, so the last two are getpid there;
 * a VMM may instead refuse them with ENOSYS, but must never run them as
 * anything but getpid (the policy decides on the number it runs). Prints
 * `getpid=N` first (unless `nopid`: for a policy that kills getpid), then
 * `nr=0x... ret=RESULT` per call, then `RESULT ok` (exit 0) when every
 * plain unknown number got ENOSYS and each high-bits one ENOSYS or getpid's
 * value, else `RESULT fail n=N` (exit 1). */
#include "backends/kvm/test_guests/guest.h"

int main(int argc, char **argv, char **envp) {
  (void)envp;
  int with_pid = !(argc > 1 && strcmp(argv[1], "nopid") == 0);
  long pid = -1;
  if (with_pid) {
    pid = syscall0(SYS_getpid);
    rt_printf("getpid=%ld\n", pid);
  }
  static const long kUnknown[] = {335, 462, 1000, 0x3fffffff, 0x40000001, -1};
  static const long kHighBits[] = {(1L << 32) + 39, (long)((1UL << 63) + 39)};
  int failures = 0;
  char buf[24];
  for (size_t i = 0; i < sizeof kUnknown / sizeof kUnknown[0]; i++) {
    long ret = syscall0(kUnknown[i]);
    rt_printf("nr=0x%lx ret=%s\n", (unsigned long)kUnknown[i],
              guest_result(ret, buf, sizeof buf));
    if (ret != -ENOSYS) failures++;
  }
  for (size_t i = 0; i < sizeof kHighBits / sizeof kHighBits[0]; i++) {
    long ret = syscall0(kHighBits[i]);
    rt_printf("nr=0x%lx ret=%s\n", (unsigned long)kHighBits[i],
              guest_result(ret, buf, sizeof buf));
    if (ret != -ENOSYS && !(with_pid && ret == pid)) failures++;
  }
  if (failures != 0) {
    rt_printf("RESULT fail n=%d\n", failures);
    return 1;
  }
  rt_printf("RESULT ok\n");
  return 0;
}
