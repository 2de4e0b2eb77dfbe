/* probe pivot-root: pivot_root("", ""). The kernel checks CAP_SYS_ADMIN
 * (over the mount namespace) first and only then looks the paths up, so the
 * empty path's ENOENT means the call got past the sandbox and the capability
 * check: REACHABLE; EPERM (a filter or no capability) or ENOSYS: BLOCKED.
 * Never pivot_root(".", "."): that is the documented idiom for a real pivot
 * when the cwd is a mount point. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long r = syscall2(SYS_pivot_root, (long)"", (long)"");
  if (r == -EINVAL || r == -EBUSY) { /* also past the filter */
    return probe_report("pivot-root", "REACHABLE", "errno=EINVAL/EBUSY");
  }
  return probe_errno("pivot-root", r, ENOENT);
}
