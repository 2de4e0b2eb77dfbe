/* probe proc-self-mem: opens /proc/self/mem read-write and writes one byte
 * of its own data page back with the value it already has (a harmless
 * self-write). Writing process memory through /proc is how a workload under
 * a tracer could alter the code or breakpoints a supervisor relies on.
 * Written: REACHABLE; EACCES/EPERM (or no /proc: ENOENT): BLOCKED. */
#include "workloads/probes/probe.h"

static const char kId[] = "proc-self-mem";
static volatile unsigned char target = 0x5a; /* in .data */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  char detail[96];
  long fd = syscall3(SYS_open, (long)"/proc/self/mem", O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) {
    rt_snprintf(detail, sizeof(detail), "open errno=%s", rt_errname(fd));
    return probe_report(kId,
                        fd == -EACCES || fd == -EPERM || fd == -ENOENT ||
                                fd == -EROFS || fd == -ENOSYS
                            ? "BLOCKED"
                            : "NA",
                        detail);
  }
  unsigned char value = target;
  long r = syscall4(SYS_pwrite64, fd, (long)&value, 1, (long)&target);
  syscall1(SYS_close, fd);
  if (r == 1 && target == 0x5a) {
    return probe_report(kId, "REACHABLE",
                        "wrote 1 byte of its own memory via /proc/self/mem");
  }
  if (r == 1) return probe_report(kId, "NA", "byte changed after the write");
  rt_snprintf(detail, sizeof(detail), "pwrite errno=%s", rt_errname(r));
  return probe_report(kId, r == -EACCES || r == -EPERM ? "BLOCKED" : "NA",
                      detail);
}
