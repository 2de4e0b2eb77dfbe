/* probe ptrace-canary: PTRACE_SEIZE on $ISOSCOPE_CANARY_PID, the canary
 * process the probe runner started outside the sandbox, then exit at once,
 * which detaches (a seize stops nothing). Seized: ESCAPED; EPERM/ESRCH:
 * BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_ptrace_seize("ptrace-canary", "ISOSCOPE_CANARY_PID");
}
