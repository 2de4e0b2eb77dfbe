/* probe pid1 (detection): whether the workload is PID 1, the sign of its
 * own PID namespace. PID 1: REACHABLE; otherwise: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  if (syscall0(SYS_getpid) == 1) {
    return probe_report("pid1", "REACHABLE", "pid=1 (own PID namespace)");
  }
  return probe_report("pid1", "BLOCKED", "pid!=1");
}
