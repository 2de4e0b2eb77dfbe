/* probe signal-canary: kill($ISOSCOPE_CANARY_PID, 0), then, only if that
 * succeeded, kill(pid, SIGUSR1) on the canary process the probe runner
 * started outside the sandbox (the runner checks it arrived). Delivered:
 * ESCAPED; ESRCH (invisible, e.g. another pid namespace) or EPERM: BLOCKED.
 * The pid must be > 1 and not our own (see probe_canary_pid). */
#include "workloads/probes/probe.h"

static const char kId[] = "signal-canary";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { SIGUSR1 = 10 };
  long pid;
  if (probe_canary_pid(kId, "ISOSCOPE_CANARY_PID", &pid) != 0) return 0;
  char detail[96];
  long r = syscall2(SYS_kill, pid, 0);
  if (r == 0) r = syscall2(SYS_kill, pid, SIGUSR1);
  if (r == 0) {
    rt_snprintf(detail, sizeof(detail), "delivered SIGUSR1 to pid %ld", pid);
    return probe_report(kId, "ESCAPED", detail);
  }
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(r));
  return probe_report(
      kId, r == -ESRCH || r == -EPERM || r == -ENOSYS ? "BLOCKED" : "NA",
      detail);
}
