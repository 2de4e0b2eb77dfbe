/* probe dev-kmsg: open /dev/kmsg read-only (then close). A descriptor means the
 * host kernel log can be read: REACHABLE; EPERM/EACCES: BLOCKED; absent
 * (ENOENT): NA. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long fd = syscall3(SYS_open, (long)"/dev/kmsg", O_RDONLY | O_CLOEXEC, 0);
  if (fd >= 0) {
    syscall1(SYS_close, fd);
    return probe_report("dev-kmsg", "REACHABLE", "opened /dev/kmsg");
  }
  if (fd == -EROFS) return probe_report("dev-kmsg", "BLOCKED", "errno=EROFS");
  return probe_errno("dev-kmsg", fd, 0);
}
