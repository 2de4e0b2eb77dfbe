/* probe dev-mem: open /dev/mem read-only (then close). A descriptor gives read
 * access to physical memory: ESCAPED; EPERM/EACCES: BLOCKED; absent
 * (ENOENT): NA. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long fd = syscall3(SYS_open, (long)"/dev/mem", O_RDONLY | O_CLOEXEC, 0);
  if (fd >= 0) {
    syscall1(SYS_close, fd);
    return probe_report("dev-mem", "ESCAPED", "opened /dev/mem");
  }
  if (fd == -EROFS) return probe_report("dev-mem", "BLOCKED", "errno=EROFS");
  return probe_errno("dev-mem", fd, 0);
}
