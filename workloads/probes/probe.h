/* Shared by the probes: each prints exactly one line
 *   PROBE <id> <BLOCKED|REACHABLE|ESCAPED|NA> <detail>
 * and exits 0 (2 on bad arguments). See workloads/README.md for what each
 * verdict means. */
#ifndef ISOSCOPE_WORKLOADS_PROBES_PROBE_H_
#define ISOSCOPE_WORKLOADS_PROBES_PROBE_H_

#include "workloads/runtime/rt.h"

#define AT_FDCWD (-100)

static inline int probe_report(const char *id, const char *verdict,
                               const char *detail) {
  rt_printf("PROBE %s %s %s\n", id, verdict, detail);
  return 0;
}

/* The common case: a call made harmless by one invalid argument. `ret` is
 * the raw syscall result. The errno that argument provokes (`reachable`)
 * means the call got past the sandbox into the kernel's own checks: REACHABLE.
 * EPERM/EACCES (a filter or a missing capability) and ENOSYS (a filter, or
 * a kernel without the call; either way the workload cannot use it):
 * BLOCKED. Success: REACHABLE. Anything else: NA,
 * with the errno named. */
static inline int probe_errno(const char *id, long ret, long reachable) {
  char detail[96];
  const char *verdict;
  if (ret >= 0) {
    rt_snprintf(detail, sizeof(detail), "succeeded");
    return probe_report(id, "REACHABLE", detail);
  }
  if (-ret == reachable) {
    verdict = "REACHABLE";
  } else if (-ret == EPERM || -ret == EACCES || -ret == ENOSYS) {
    verdict = "BLOCKED";
  } else {
    verdict = "NA";
  }
  rt_snprintf(detail, sizeof(detail), "errno=%s%s", rt_errname(ret),
              -ret == ENOSYS && reachable != ENOSYS
                  ? " (not in this kernel, or filtered)"
                  : "");
  return probe_report(id, verdict, detail);
}

/* Reads up to size-1 bytes of a (small) file into buf. Returns bytes read
 * or -errno. */
static inline long probe_read_file(const char *path, char *buf, size_t size) {
  long fd = syscall3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  size_t len = 0;
  while (len + 1 < size) {
    long r = syscall3(SYS_read, fd, (long)(buf + len), (long)(size - 1 - len));
    if (r == -EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
  }
  buf[len] = 0;
  syscall1(SYS_close, fd);
  return (long)len;
}

/* The number after "<key>:" at the start of a line of a /proc status file,
 * or -1 if the key is absent. */
static inline long probe_status_field(const char *text, const char *key) {
  size_t n = strlen(key);
  for (const char *line = text; line != NULL && *line;) {
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      const char *p = line + n + 1;
      while (*p == ' ' || *p == '\t') p++;
      long v = 0;
      if (*p < '0' || *p > '9') return -1;
      while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
      return v;
    }
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return -1;
}

#endif /* ISOSCOPE_WORKLOADS_PROBES_PROBE_H_ */
