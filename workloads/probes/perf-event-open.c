/* probe perf-event-open: perf_event_open with a NULL attr. EFAULT: the call
 * reached the kernel, which failed to read the attr. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("perf-event-open",
                     syscall5(SYS_perf_event_open, 0, 0, -1, -1, 0), EFAULT);
}
