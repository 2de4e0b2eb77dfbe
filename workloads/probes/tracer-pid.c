/* probe tracer-pid (detection): TracerPid in /proc/self/status. A tracer
 * (the ptrace backend, a debugger) is visible: REACHABLE; not traced:
 * BLOCKED; /proc unreadable: NA. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  static char status[8192];
  long n = probe_read_file("/proc/self/status", status, sizeof(status));
  long tracer = n > 0 ? probe_status_field(status, "TracerPid") : -1;
  if (tracer < 0)
    return probe_report("tracer-pid", "NA", "no /proc/self/status");
  if (tracer == 0) return probe_report("tracer-pid", "BLOCKED", "not traced");
  return probe_report("tracer-pid", "REACHABLE", "traced (TracerPid nonzero)");
}
