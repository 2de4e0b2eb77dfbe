/* probe mount-tmpfs: mount("none", "/nonexistent-isoscope", "tmpfs"). The
 * target does not exist, so nothing can be mounted. ENOENT: the call reached
 * the kernel's path lookup; EPERM: blocked by the sandbox. */
#include "workloads/probes/probe.h"

static const char kTarget[] = "/nonexistent-isoscope";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long r =
      syscall5(SYS_mount, (long)"none", (long)kTarget, (long)"tmpfs", 0, 0);
  if (r == 0) { /* someone created the directory: undo at once */
    syscall2(SYS_umount2, (long)kTarget, 2 /* MNT_DETACH */);
    return probe_report("mount-tmpfs", "ESCAPED", "mounted a tmpfs (undone)");
  }
  return probe_errno("mount-tmpfs", r, ENOENT);
}
