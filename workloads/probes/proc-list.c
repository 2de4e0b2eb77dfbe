/* probe proc-list: list the numeric entries of /proc and count the pids that
 * are neither our own nor 1. Any such pid means other processes (the host's,
 * or at least the supervisor's) are visible: REACHABLE, detail `pids=N`.
 * Only ourselves and pid 1 (an own PID namespace): BLOCKED. /proc absent or
 * unreadable (ENOENT/EACCES/EPERM/ENOSYS): BLOCKED; another errno: NA. Reads
 * names only, never a process's files. */
#include "workloads/probes/probe.h"

static const char kId[] = "proc-list";

/* struct linux_dirent64's layout (include/uapi/linux/dirent.h). */
struct probe_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* The pid a /proc entry names, or -1 if it is not all digits. */
static long pid_of(const char *name) {
  if (*name == 0) return -1;
  long v = 0;
  for (const char *p = name; *p; p++) {
    if (*p < '0' || *p > '9' || v > 0x3fffffff) return -1;
    v = v * 10 + (*p - '0');
  }
  return v;
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  char detail[96];
  long fd =
      syscall3(SYS_open, (long)"/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) {
    rt_snprintf(detail, sizeof(detail), "open /proc: errno=%s", rt_errname(fd));
    return probe_report(kId,
                        fd == -ENOENT || fd == -EACCES || fd == -EPERM ||
                                fd == -ENOSYS || fd == -ENOTDIR
                            ? "BLOCKED"
                            : "NA",
                        detail);
  }
  const long self = syscall0(SYS_getpid);
  long others = 0;
  long total = 0;
  static char buf[8192] __attribute__((aligned(8)));
  long n;
  while ((n = syscall3(SYS_getdents64, fd, (long)buf, sizeof(buf))) > 0) {
    for (long off = 0; off < n;) {
      const struct probe_dirent64 *d =
          (const struct probe_dirent64 *)(buf + off);
      if (d->d_reclen == 0) break; /* malformed: never loop forever */
      long pid = pid_of(d->d_name);
      if (pid > 0) {
        total++;
        if (pid != self && pid != 1) others++;
      }
      off += d->d_reclen;
    }
  }
  syscall1(SYS_close, fd);
  if (n < 0) {
    rt_snprintf(detail, sizeof(detail), "getdents64: errno=%s", rt_errname(n));
    return probe_report(kId, n == -EPERM || n == -EACCES ? "BLOCKED" : "NA",
                        detail);
  }
  if (others > 0) {
    rt_snprintf(detail, sizeof(detail), "pids=%ld other processes visible",
                others);
    return probe_report(kId, "REACHABLE", detail);
  }
  rt_snprintf(detail, sizeof(detail), "pids=%ld (only itself and pid 1)",
              total);
  return probe_report(kId, "BLOCKED", detail);
}
