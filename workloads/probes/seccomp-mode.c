/* probe seccomp-mode (detection): Seccomp and Seccomp_filters in
 * /proc/self/status. A seccomp mode is visible: REACHABLE; mode 0: BLOCKED;
 * /proc unreadable: NA. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  static char status[8192];
  long n = probe_read_file("/proc/self/status", status, sizeof(status));
  long mode = n > 0 ? probe_status_field(status, "Seccomp") : -1;
  if (mode < 0)
    return probe_report("seccomp-mode", "NA", "no /proc/self/status");
  char detail[64];
  rt_snprintf(detail, sizeof(detail), "Seccomp=%ld filters=%ld", mode,
              probe_status_field(status, "Seccomp_filters"));
  return probe_report("seccomp-mode", mode == 0 ? "BLOCKED" : "REACHABLE",
                      detail);
}
