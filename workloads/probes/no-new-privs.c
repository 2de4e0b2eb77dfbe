/* probe no-new-privs: reads PR_GET_NO_NEW_PRIVS and the uids. no_new_privs=0
 * means a setuid program could still raise the workload's privileges:
 * REACHABLE; no_new_privs=1: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { PR_GET_NO_NEW_PRIVS = 39 };
  long nnp = syscall5(SYS_prctl, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (nnp < 0) return probe_errno("no-new-privs", nnp, 0);
  char detail[96];
  rt_snprintf(detail, sizeof(detail), "no_new_privs=%ld uid=%ld euid=%ld", nnp,
              syscall0(SYS_getuid), syscall0(SYS_geteuid));
  return probe_report("no-new-privs", nnp == 1 ? "BLOCKED" : "REACHABLE",
                      detail);
}
