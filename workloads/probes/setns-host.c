/* probe setns-host: opens /proc/1/ns/mnt read-only (init's mount namespace:
 * the host's, unless the sandbox has its own pid namespace) and calls
 * setns(fd, CLONE_NEWNET), a type that does not match, so the kernel fails
 * it with EINVAL before joining anything. Opened and EINVAL: REACHABLE (a
 * handle on that namespace, and setns got past the sandbox); the open
 * failing (EACCES/EPERM/ENOENT, ELOOP/EXDEV: no magic links) or setns
 * EPERM/ENOSYS: BLOCKED. */
#include "workloads/probes/probe.h"

static const char kId[] = "setns-host";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { CLONE_NEWNET = 0x40000000 };
  char detail[96];
  long fd = syscall3(SYS_open, (long)"/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    rt_snprintf(detail, sizeof(detail), "open /proc/1/ns/mnt errno=%s",
                rt_errname(fd));
    /* Also ELOOP/EXDEV: a sandbox that resolves without magic links. */
    return probe_report(kId, probe_path_refused(fd) ? "BLOCKED" : "NA",
                        detail);
  }
  long r = syscall2(SYS_setns, fd, CLONE_NEWNET);
  syscall1(SYS_close, fd);
  if (r == -EINVAL) {
    return probe_report(kId, "REACHABLE",
                        "opened /proc/1/ns/mnt, setns reached the kernel "
                        "(EINVAL: type mismatch)");
  }
  if (r == 0) return probe_report(kId, "NA", "setns succeeded unexpectedly");
  rt_snprintf(detail, sizeof(detail), "opened /proc/1/ns/mnt, setns errno=%s",
              rt_errname(r));
  return probe_report(
      kId, r == -EPERM || r == -EACCES || r == -ENOSYS ? "BLOCKED" : "NA",
      detail);
}
