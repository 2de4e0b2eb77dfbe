/* probe process-vm-writev: process_vm_writev on its own pid, writing one
 * byte of its own data with the value it already has. The same call on
 * another pid writes that process's memory. Written: REACHABLE;
 * EPERM/ENOSYS: BLOCKED. */
#include "workloads/probes/probe.h"

static const char kId[] = "process-vm-writev";
static volatile unsigned char target = 0xa5; /* in .data */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  struct iovec {
    void *base;
    size_t len;
  };
  unsigned char value = target;
  struct iovec local = {&value, 1};
  struct iovec remote = {(void *)&target, 1};
  long r = syscall6(SYS_process_vm_writev, syscall0(SYS_getpid), (long)&local,
                    1, (long)&remote, 1, 0);
  if (r == 1 && target == 0xa5) {
    return probe_report(kId, "REACHABLE",
                        "wrote 1 byte of its own memory by pid");
  }
  if (r == 1) return probe_report(kId, "NA", "byte changed after the write");
  if (r >= 0) return probe_report(kId, "NA", "short write");
  return probe_errno(kId, r, 0);
}
