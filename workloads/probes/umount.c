/* probe umount: umount2(NULL, 0). EFAULT: the call reached the kernel (the path
 * is read before any capability check). */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("umount", syscall2(SYS_umount2, 0, 0), EFAULT);
}
