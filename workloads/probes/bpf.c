/* probe bpf: bpf with the invalid command 1000. EINVAL: the call reached the
 * kernel; EPERM: blocked. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("bpf", syscall3(SYS_bpf, 1000, 0, 0), EINVAL);
}
