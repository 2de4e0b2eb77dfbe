/* probe userns: a forked child calls unshare(CLONE_NEWUSER) and exits. A new
 * user namespace opens kernel code otherwise reserved to root. Success:
 * REACHABLE; any errno (EPERM, ENOSPC when max_user_namespaces is 0, EINVAL
 * in a chroot): BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { CLONE_NEWUSER = 0x10000000 };
  long pid = syscall0(SYS_fork);
  if (pid == 0) {
    long r = syscall1(SYS_unshare, CLONE_NEWUSER);
    rt_exit(r == 0 ? 0 : (int)-r);
  }
  if (pid < 0) return probe_errno("userns", pid, 0);
  int status = 0;
  long w;
  do {
    w = syscall4(SYS_wait4, pid, (long)&status, 0, 0);
  } while (w == -EINTR);
  char detail[64];
  if (w != pid) return probe_report("userns", "NA", "wait4 failed");
  if ((status & 0x7f) != 0) {
    rt_snprintf(detail, sizeof(detail), "child killed by signal %d",
                status & 0x7f);
    return probe_report("userns", "BLOCKED", detail);
  }
  int code = (status >> 8) & 0xff;
  if (code == 0) {
    return probe_report("userns", "REACHABLE", "created a user namespace");
  }
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(code));
  return probe_report("userns", "BLOCKED", detail);
}
