/* probe hostname (detection): prints the nodename uname reports. Only the
 * probe runner, which knows the host's name, can tell whether it differs
 * (a UTS namespace or a guest), so the verdict is always NA with
 * `nodename=<name>` as the detail (characters outside printable ASCII, and
 * spaces, shown as '?'). */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  char uts[6 * 65]; /* struct utsname: six 65-byte fields */
  long r = syscall1(SYS_uname, (long)uts);
  if (r != 0) return probe_errno("hostname", r, 0);
  uts[65 + 64] = 0;
  char name[65];
  probe_sanitize(name, uts + 65, sizeof(name));
  char detail[96];
  rt_snprintf(detail, sizeof(detail), "nodename=%s",
              name[0] != 0 ? name : "(empty)");
  return probe_report("hostname", "NA", detail);
}
