/* probe sethostname: sets the hostname to the one uname reports, which
 * changes nothing. Success outside a UTS namespace would mean the host's
 * name could be changed: REACHABLE; EPERM: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  char uts[6 * 65]; /* struct utsname: six 65-byte fields */
  long r = syscall1(SYS_uname, (long)uts);
  if (r != 0) return probe_report("sethostname", "NA", "uname failed");
  const char *nodename = uts + 65;
  r = syscall2(SYS_sethostname, (long)nodename, (long)strlen(nodename));
  return probe_errno("sethostname", r, 0);
}
