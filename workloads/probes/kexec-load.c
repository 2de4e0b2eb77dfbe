/* probe kexec-load: kexec_load with 17 segments (KEXEC_SEGMENT_MAX is 16) and
 * no segment array. EINVAL: past the sandbox and the CAP_SYS_BOOT check. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("kexec-load", syscall4(SYS_kexec_load, 0, 17, 0, 0),
                     EINVAL);
}
