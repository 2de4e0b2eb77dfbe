/* probe secret-file: opens and reads the canary secret file whose absolute
 * path is in $ISOSCOPE_CANARY_SECRET, a file the probe runner placed outside
 * the sandbox's allowed paths. Read: ESCAPED (the detail gives only the byte
 * count, never the content); EACCES/EPERM/ENOENT (hidden or denied) or
 * ENOSYS: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  const char *path = probe_canary("secret-file", "ISOSCOPE_CANARY_SECRET");
  if (path == NULL) return 0;
  long fd = syscall3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0);
  if (fd == -ENOENT || fd == -ENOTDIR || fd == -EROFS) {
    char detail[64];
    rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(fd));
    return probe_report("secret-file", "BLOCKED", detail);
  }
  if (fd < 0) return probe_errno("secret-file", fd, 0);
  char buf[256];
  long r;
  do {
    r = syscall3(SYS_read, fd, (long)buf, sizeof(buf));
  } while (r == -EINTR);
  syscall1(SYS_close, fd);
  char detail[64];
  if (r < 0) {
    rt_snprintf(detail, sizeof(detail), "opened, read failed errno=%s",
                rt_errname(r));
    return probe_report("secret-file", "NA", detail);
  }
  rt_snprintf(detail, sizeof(detail), "read %ld bytes", r);
  return probe_report("secret-file", "ESCAPED", detail);
}
