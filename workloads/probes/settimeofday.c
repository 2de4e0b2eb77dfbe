/* probe settimeofday: settimeofday(NULL, NULL), which sets nothing. Success:
 * past the sandbox and the CAP_SYS_TIME check; EPERM: blocked. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("settimeofday", syscall2(SYS_settimeofday, 0, 0), 0);
}
