/* probe finit-module: finit_module on fd -1. EBADF: past the sandbox and the
 * CAP_SYS_MODULE check; EPERM: blocked. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("finit-module",
                     syscall3(SYS_finit_module, -1, (long)"", 0), EBADF);
}
