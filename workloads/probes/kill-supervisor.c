/* probe kill-supervisor: kill($ISOSCOPE_SUPERVISOR_PID, 0), the existence
 * check only, never a real signal. Success: the supervisor could be killed
 * (REACHABLE); ESRCH (invisible) or EPERM: BLOCKED. */
#include "workloads/probes/probe.h"

static const char kId[] = "kill-supervisor";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long pid;
  if (probe_canary_pid(kId, "ISOSCOPE_SUPERVISOR_PID", &pid) != 0) return 0;
  long r = syscall2(SYS_kill, pid, 0);
  char detail[96];
  if (r == 0) {
    rt_snprintf(detail, sizeof(detail),
                "signal 0 to the supervisor (pid %ld) succeeded", pid);
    return probe_report(kId, "REACHABLE", detail);
  }
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(r));
  return probe_report(
      kId, r == -ESRCH || r == -EPERM || r == -ENOSYS ? "BLOCKED" : "NA",
      detail);
}
