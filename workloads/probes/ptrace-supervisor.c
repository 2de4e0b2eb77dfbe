/* probe ptrace-supervisor: PTRACE_SEIZE on $ISOSCOPE_SUPERVISOR_PID (a
 * tracer of the supervisor could alter its memory and breakpoints), then
 * exit at once, which detaches (a seize stops nothing). Seized: ESCAPED;
 * EPERM/ESRCH: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_ptrace_seize("ptrace-supervisor", "ISOSCOPE_SUPERVISOR_PID");
}
