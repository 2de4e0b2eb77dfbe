/* probe fork-bomb (noisy, bounded): forks up to 200 children that each
 * sleep 1 s and exit, stopping at the first failed fork; then reaps every
 * child it made. All 200: REACHABLE (no process limit in the way); a failure
 * before (EAGAIN: pids.max or RLIMIT_NPROC): BLOCKED with the count. Only
 * fork, nanosleep, exit and wait4: a strict allowlist lets it run, so it is
 * the process limit that stops it, not the filter. */
#include "workloads/probes/probe.h"

enum { kMaxChildren = 200 };

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  static long children[kMaxChildren];
  int count = 0;
  long err = 0;
  while (count < kMaxChildren) {
    long pid = syscall0(SYS_fork);
    if (pid == 0) {
      probe_sleep_ms(1000);
      rt_exit(0);
    }
    if (pid < 0) {
      err = pid;
      break;
    }
    children[count++] = pid;
  }
  for (int i = 0; i < count; i++) {
    int status;
    probe_wait(children[i], &status);
  }
  char detail[96];
  if (err == 0) {
    rt_snprintf(detail, sizeof(detail), "forks=%d (all, reaped)",
                count);
    return probe_report("fork-bomb", "REACHABLE", detail);
  }
  rt_snprintf(detail, sizeof(detail), "forks=%d then errno=%s", count,
              rt_errname(err));
  return probe_report("fork-bomb", "BLOCKED", detail);
}
