/* probe mknod: mknod a character device 1:3 (the null device) named
 * isoscope-probe-null in the current directory, removed at once. Creating
 * device nodes lets a workload reach any device: REACHABLE if created;
 * EPERM: BLOCKED. */
#include "workloads/probes/probe.h"

static const char kNode[] = "isoscope-probe-null";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { S_IFCHR = 0020000, DEV_1_3 = (1 << 8) | 3 };
  long r = syscall3(SYS_mknod, (long)kNode, S_IFCHR | 0600, DEV_1_3);
  if (r == -EEXIST) { /* a leftover of an earlier run: replace it */
    syscall1(SYS_unlink, (long)kNode);
    r = syscall3(SYS_mknod, (long)kNode, S_IFCHR | 0600, DEV_1_3);
  }
  if (r == 0) {
    syscall1(SYS_unlink, (long)kNode);
    return probe_report("mknod", "REACHABLE",
                        "created char device 1:3 (removed)");
  }
  if (r == -EROFS) return probe_report("mknod", "BLOCKED", "errno=EROFS");
  return probe_errno("mknod", r, 0);
}
