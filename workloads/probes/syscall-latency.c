/* probe syscall-latency (detection): times 10000 getppid calls with
 * clock_gettime(CLOCK_MONOTONIC) through the raw syscall (no vDSO) and
 * prints the nanoseconds per call (integer math). Above 2000 ns an
 * interposer (a tracer, a user-space kernel, VM exits) is visible:
 * REACHABLE; otherwise BLOCKED. */
#include "workloads/probes/probe.h"

enum { kCalls = 10000, kThresholdNs = 2000 };

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long start = probe_clock_ns(CLOCK_MONOTONIC);
  for (int i = 0; i < kCalls; i++) syscall0(SYS_getppid);
  long end = probe_clock_ns(CLOCK_MONOTONIC);
  if (start < 0 || end < start) {
    return probe_report("syscall-latency", "NA", "clock_gettime failed");
  }
  long per_call = (end - start) / kCalls;
  char detail[96];
  rt_snprintf(detail, sizeof(detail), "ns_per_call=%ld (%d x getppid)",
              per_call, kCalls);
  return probe_report("syscall-latency",
                      per_call > kThresholdNs ? "REACHABLE" : "BLOCKED",
                      detail);
}
