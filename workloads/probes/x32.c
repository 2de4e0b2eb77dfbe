/* probe x32: getpid with the x32 ABI bit set (39 | 0x40000000). A filter
 * that compares syscall numbers without masking that bit can be bypassed
 * this way. Our pid back: REACHABLE; ENOSYS (a kernel without x32, or a
 * filter) or EPERM: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long pid = syscall0(SYS_getpid);
  long r = syscall0(SYS_getpid | 0x40000000L);
  if (r == pid) return probe_report("x32", "REACHABLE", "returned our pid");
  return probe_errno("x32", r < 0 ? r : -EIO, 0);
}
