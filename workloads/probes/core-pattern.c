/* probe core-pattern: open /proc/sys/kernel/core_pattern for writing and close
 * at once, never writing. A descriptor means the host-global core handler could
 * be replaced: ESCAPED; EPERM/EACCES/EROFS: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long fd = syscall3(SYS_open, (long)"/proc/sys/kernel/core_pattern",
                     O_WRONLY | O_CLOEXEC, 0);
  if (fd >= 0) {
    syscall1(SYS_close, fd);
    return probe_report("core-pattern", "ESCAPED",
                        "opened /proc/sys/kernel/core_pattern");
  }
  if (fd == -EROFS)
    return probe_report("core-pattern", "BLOCKED", "errno=EROFS");
  return probe_errno("core-pattern", fd, 0);
}
