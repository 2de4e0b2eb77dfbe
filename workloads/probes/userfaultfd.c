/* probe userfaultfd: userfaultfd(O_CLOEXEC), closed at once. userfaultfd
 * helps win kernel races. A descriptor: REACHABLE; EPERM/ENOSYS: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long fd = syscall1(SYS_userfaultfd, O_CLOEXEC);
  if (fd >= 0) syscall1(SYS_close, fd);
  return probe_errno("userfaultfd", fd, 0);
}
