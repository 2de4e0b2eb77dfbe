/* probe bad-syscall-nr: syscall number 1000, which no kernel implements.
 * ENOSYS: the number got past the filter to the kernel (a filter answering
 * ENOSYS looks the same); EPERM or death by SIGSYS: the filter caught it. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("bad-syscall-nr", syscall0(1000), ENOSYS);
}
