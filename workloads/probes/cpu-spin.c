/* probe cpu-spin (noisy, bounded): spins until it has used 3 s of CPU time
 * (clock_gettime(CLOCK_PROCESS_CPUTIME_ID), raw syscall), giving up after
 * 30 s of wall time. Completed: REACHABLE (the detail gives the wall time,
 * which shows CPU throttling); gave up: BLOCKED with the CPU time reached. */
#include "workloads/probes/probe.h"

static const long kCpuNs = 3000000000L;
static const long kWallNs = 30000000000L;

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long cpu0 = probe_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  long wall0 = probe_clock_ns(CLOCK_MONOTONIC);
  if (cpu0 < 0 || wall0 < 0) {
    return probe_report("cpu-spin", "NA", "clock_gettime failed");
  }
  volatile unsigned long sink = 0;
  long cpu = 0, wall = 0;
  for (;;) {
    for (int i = 0; i < 100000; i++) sink = sink * 6364136223846793005UL + 1;
    cpu = probe_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    wall = probe_clock_ns(CLOCK_MONOTONIC) - wall0;
    if (cpu >= kCpuNs || wall >= kWallNs) break;
  }
  char detail[96];
  rt_snprintf(detail, sizeof(detail), "cpu_ms=%ld wall_ms=%ld", cpu / 1000000,
              wall / 1000000);
  return probe_report("cpu-spin", cpu >= kCpuNs ? "REACHABLE" : "BLOCKED",
                      detail);
}
