/* probe open-by-handle: open_by_handle_at(AT_FDCWD, NULL, O_RDONLY). EFAULT:
 * past the sandbox and the CAP_DAC_READ_SEARCH check (the handle is read after
 * it); EPERM: blocked. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return probe_errno("open-by-handle",
                     syscall3(SYS_open_by_handle_at, AT_FDCWD, 0, O_RDONLY),
                     EFAULT);
}
