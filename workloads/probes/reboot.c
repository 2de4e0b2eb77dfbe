/* probe reboot: reboot with both magics and the command invalid. EINVAL: the
 * call passed the sandbox and the CAP_SYS_BOOT check; EPERM: blocked. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("reboot", syscall4(SYS_reboot, 0, 0, 0x12345678, 0),
                     EINVAL);
}
