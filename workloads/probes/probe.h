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

/* ---- canaries: objects the probe runner set up outside the sandbox and
 * passed through environment variables (see workloads/README.md) ---- */

/* The value of the canary variable `var`, or NULL after printing
 * `PROBE <id> NA no canary: <var>` (missing or empty). */
static inline const char *probe_canary(const char *id, const char *var) {
  const char *value = rt_getenv(var);
  if (value == NULL || value[0] == 0) {
    char detail[96];
    rt_snprintf(detail, sizeof(detail), "no canary: %s", var);
    probe_report(id, "NA", detail);
    return NULL;
  }
  return value;
}

/* The canary variable `var` as a number in [min, max]. Returns 0, or -1
 * after printing the NA line (missing, or `bad canary: <var>`). The bounds
 * keep a bad value from turning into something harmful (kill(-1), pid 1). */
static inline int probe_canary_number(const char *id, const char *var,
                                      int64_t min, int64_t max, int64_t *out) {
  const char *value = probe_canary(id, var);
  if (value == NULL) return -1;
  if (rt_parse_i64(value, out) != 0 || *out < min || *out > max) {
    char detail[96];
    rt_snprintf(detail, sizeof(detail), "bad canary: %s", var);
    probe_report(id, "NA", detail);
    return -1;
  }
  return 0;
}

/* A pid to signal or trace: never 0, 1 or negative (process groups, init,
 * everyone), and never the probe itself. */
static inline int probe_canary_pid(const char *id, const char *var, long *pid) {
  int64_t value;
  if (probe_canary_number(id, var, 2, 0x3fffffff, &value) != 0) return -1;
  if (value == syscall0(SYS_getpid)) {
    char detail[96];
    rt_snprintf(detail, sizeof(detail), "bad canary: %s (our own pid)", var);
    probe_report(id, "NA", detail);
    return -1;
  }
  *pid = (long)value;
  return 0;
}

/* ---- time, through the raw syscall (no vDSO), integer only ---- */
enum {
  CLOCK_MONOTONIC = 1,
  CLOCK_PROCESS_CPUTIME_ID = 2,
};
struct rt_timespec {
  long tv_sec;
  long tv_nsec;
};

/* Nanoseconds on `clock`, or -1 if clock_gettime failed. */
static inline long probe_clock_ns(int clock) {
  struct rt_timespec ts;
  if (syscall2(SYS_clock_gettime, clock, (long)&ts) != 0) return -1;
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Sleeps `ms` milliseconds (restarted after EINTR). */
static inline void probe_sleep_ms(long ms) {
  struct rt_timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (syscall2(SYS_nanosleep, (long)&ts, (long)&ts) == -EINTR) {
  }
}

/* Waits for the child `pid`, restarting after EINTR. Returns the pid or
 * -errno; *status gets the wait status. */
static inline long probe_wait(long pid, int *status) {
  long w;
  do {
    w = syscall4(SYS_wait4, pid, (long)status, 0, 0);
  } while (w == -EINTR);
  return w;
}

/* Copies `src` into `dst` (size > 0), replacing anything but printable
 * ASCII other than space with '?', so it fits in one detail token. */
static inline void probe_sanitize(char *dst, const char *src, size_t size) {
  size_t i = 0;
  for (; src[i] != 0 && i + 1 < size; i++) {
    char c = src[i];
    dst[i] = (c > ' ' && c < 127) ? c : '?';
  }
  dst[i] = 0;
}

/* Whether the probe may be traced by `pid` (its tracer's thread group is
 * pid) or cannot tell (no /proc). Seizing one's own tracer stops both for
 * good: the tracer, now a tracee, stops on the next SIGCHLD and waits for
 * the probe, which waits in a syscall stop for its tracer. */
static inline int probe_maybe_traced_by(long pid) {
  static char status[8192];
  if (probe_read_file("/proc/self/status", status, sizeof(status)) <= 0) {
    return 1;
  }
  long tracer = probe_status_field(status, "TracerPid");
  if (tracer < 0) return 1;
  if (tracer == 0) return 0;
  if (tracer == pid) return 1;
  char path[48];
  rt_snprintf(path, sizeof(path), "/proc/%ld/status", tracer);
  if (probe_read_file(path, status, sizeof(status)) <= 0) return 1;
  long tgid = probe_status_field(status, "Tgid");
  return tgid < 0 || tgid == pid;
}

/* PTRACE_SEIZE on the pid in the canary variable `var`, then exit: the
 * kernel detaches a tracer that exits, and a seize stops nothing, so the
 * tracee never notices. Seized: ESCAPED; EPERM (no capability, Yama, a
 * filter) or ESRCH (invisible): BLOCKED. When the target may be the probe's
 * own tracer (see probe_maybe_traced_by) it only tries a seize with addr 1,
 * which the kernel refuses with EIO before any permission check: EIO means
 * the call got past the sandbox (REACHABLE), not that the attach would. */
static inline int probe_ptrace_seize(const char *id, const char *var) {
  enum { PTRACE_SEIZE = 0x4206 };
  long pid;
  if (probe_canary_pid(id, var, &pid) != 0) return 0;
  char detail[120];
  if (probe_maybe_traced_by(pid)) {
    long r = syscall4(SYS_ptrace, PTRACE_SEIZE, pid, 1, 0);
    if (r == -EIO) {
      return probe_report(id, "REACHABLE",
                          "errno=EIO (bad addr): past the sandbox; not "
                          "attached, pid may be our tracer");
    }
    if (r == 0) return probe_report(id, "ESCAPED", "seized (addr ignored)");
    rt_snprintf(detail, sizeof(detail), "errno=%s (pid may be our tracer)",
                rt_errname(r));
    return probe_report(
        id, r == -EPERM || r == -ESRCH || r == -ENOSYS ? "BLOCKED" : "NA",
        detail);
  }
  long r = syscall4(SYS_ptrace, PTRACE_SEIZE, pid, 0, 0);
  if (r == 0) {
    rt_snprintf(detail, sizeof(detail), "seized pid %ld (detached by exiting)",
                pid);
    return probe_report(id, "ESCAPED", detail);
  }
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(r));
  return probe_report(id,
                      r == -EPERM || r == -ESRCH || r == -EACCES || r == -ENOSYS
                          ? "BLOCKED"
                          : "NA",
                      detail);
}


/* ---- files: stat, paths, the secret canary ---- */

/* struct stat of x86-64 (what fstat and newfstatat fill in). */
struct probe_stat {
  unsigned long st_dev;
  unsigned long st_ino;
  unsigned long st_nlink;
  unsigned int st_mode;
  unsigned int st_uid;
  unsigned int st_gid;
  int pad0;
  unsigned long st_rdev;
  long st_size;
  long st_blksize;
  long st_blocks;
  unsigned long st_times[6];
  long reserved[3];
};
enum {
  PROBE_S_IFMT = 0170000,
  PROBE_S_IFDIR = 0040000,
  PROBE_S_IFREG = 0100000,
  PROBE_S_IFIFO = 0010000,
};

/* Opens `path` (relative to `dirfd`) with O_RDONLY | `extra_flags` and reads
 * up to 64 bytes, which are never printed: reading is what moves the
 * secret's access time, the runner's evidence. Returns the bytes read, or
 * -errno of the open or the read. */
static inline long probe_open_read(long dirfd, const char *path,
                                   long extra_flags) {
  long fd = syscall4(SYS_openat, dirfd, (long)path,
                     O_RDONLY | O_CLOEXEC | extra_flags, 0);
  if (fd < 0) return fd;
  char buf[64];
  long r;
  do {
    r = syscall3(SYS_read, fd, (long)buf, sizeof(buf));
  } while (r == -EINTR);
  syscall1(SYS_close, fd);
  return r;
}

/* Whether a path call's errno means the sandbox (or the view it gives)
 * refused it: denied, hidden, no magic links, outside the root. */
static inline int probe_path_refused(long ret) {
  return ret == -EACCES || ret == -EPERM || ret == -ENOENT ||
         ret == -ENOTDIR || ret == -EROFS || ret == -ENOSYS ||
         ret == -ELOOP || ret == -EXDEV;
}

/* The secret canary's absolute path split into its directory ("/run/x")
 * and base name ("secret"). 0, or -1 after printing the NA line. */
struct probe_secret {
  const char *path;
  char dir[256];
  const char *base;
};
static inline int probe_secret_canary(const char *id, struct probe_secret *s) {
  s->path = probe_canary(id, "ISOSCOPE_CANARY_SECRET");
  if (s->path == NULL) return -1;
  const char *slash = strrchr(s->path, '/');
  size_t dir_len = slash == NULL ? 0 : (size_t)(slash - s->path);
  if (s->path[0] != '/' || dir_len == 0 || dir_len >= sizeof(s->dir) ||
      slash[1] == 0) {
    char detail[96];
    rt_snprintf(detail, sizeof(detail), "bad canary: ISOSCOPE_CANARY_SECRET");
    probe_report(id, "NA", detail);
    return -1;
  }
  memcpy(s->dir, s->path, dir_len);
  s->dir[dir_len] = 0;
  s->base = slash + 1;
  return 0;
}

/* ---- several attempts at one door: the worst outcome wins ---- */

/* Collects one "label: result" note per attempt, and the verdict of each;
 * probe_tally_report prints ESCAPED if any attempt escaped, else REACHABLE
 * if any got past the sandbox, else BLOCKED if any was refused, else NA. */
struct probe_tally {
  char detail[640];
  size_t len;
  int escaped;
  int reachable;
  int blocked;
  int na;
};

static inline void probe_tally_add(struct probe_tally *t, const char *verdict,
                                   const char *note) {
  if (strcmp(verdict, "ESCAPED") == 0) {
    t->escaped++;
  } else if (strcmp(verdict, "REACHABLE") == 0) {
    t->reachable++;
  } else if (strcmp(verdict, "BLOCKED") == 0) {
    t->blocked++;
  } else {
    t->na++;
  }
  if (t->len + 3 >= sizeof(t->detail)) return;
  if (t->len > 0) {
    t->detail[t->len++] = ';';
    t->detail[t->len++] = ' ';
  }
  t->len += rt_strlcpy(t->detail + t->len, note, sizeof(t->detail) - t->len);
  if (t->len >= sizeof(t->detail)) t->len = sizeof(t->detail) - 1;
}

/* One attempt to read the secret through `path`: read → ESCAPED, a refusal
 * (probe_path_refused) → BLOCKED, anything else → NA. */
static inline void probe_tally_read(struct probe_tally *t, const char *label,
                                    long dirfd, const char *path,
                                    long extra_flags) {
  long r = probe_open_read(dirfd, path, extra_flags);
  char note[128];
  if (r >= 0) {
    rt_snprintf(note, sizeof(note), "%s: read %ld bytes", label, r);
    probe_tally_add(t, "ESCAPED", note);
    return;
  }
  rt_snprintf(note, sizeof(note), "%s: errno=%s", label, rt_errname(r));
  probe_tally_add(t, probe_path_refused(r) ? "BLOCKED" : "NA", note);
}

static inline int probe_tally_report(const char *id,
                                     const struct probe_tally *t) {
  const char *verdict = t->escaped     ? "ESCAPED"
                        : t->reachable ? "REACHABLE"
                        : t->blocked   ? "BLOCKED"
                                       : "NA";
  return probe_report(id, verdict, t->len > 0 ? t->detail : "nothing tried");
}

/* ---- probes with cases: `<probe> CASE` prints `PROBE <probe>.<case> ...`;
 * the runner runs one case per run (a sandbox that kills at the first
 * refused call would otherwise hide the cases after it) ---- */
struct probe_case {
  const char *name;
  int (*run)(const char *id);
};

/* Runs the case named by argv[1] with the id "<probe>.<case>", after
 * `setup` (may be NULL; nonzero: it printed the case's NA line, exit 0). A
 * missing or unknown case: usage on stderr, exit status 2. */
static inline int probe_run_case(const char *probe, int argc, char **argv,
                                 const struct probe_case *cases, size_t n,
                                 int (*setup)(const char *id)) {
  if (argc == 2) {
    for (size_t i = 0; i < n; i++) {
      if (strcmp(argv[1], cases[i].name) == 0) {
        char id[64];
        rt_snprintf(id, sizeof(id), "%s.%s", probe, cases[i].name);
        if (setup != NULL && setup(id) != 0) return 0;
        return cases[i].run(id);
      }
    }
  }
  rt_eprintf("usage: %s CASE\ncases:", probe);
  for (size_t i = 0; i < n; i++) rt_eprintf(" %s", cases[i].name);
  rt_eprintf("\n");
  return 2;
}

/* Forks a child that returns run(arg) as its exit status (an errno, or 0),
 * waits for it and reports: 0 → REACHABLE `ok`, an errno → BLOCKED for
 * EPERM/EACCES/ENOSYS/EINVAL/ENOSPC (refused, or not allowed here) and NA
 * otherwise, a signal → BLOCKED (a filter's kill). */
static inline int probe_in_child(const char *id, int (*run)(void),
                                 const char *ok) {
  long pid = syscall0(SYS_fork);
  if (pid == 0) rt_exit(run());
  char detail[128];
  if (pid < 0) {
    rt_snprintf(detail, sizeof(detail), "fork errno=%s", rt_errname(pid));
    return probe_report(id, pid == -EPERM || pid == -ENOSYS ? "BLOCKED" : "NA",
                        detail);
  }
  int status = 0;
  if (probe_wait(pid, &status) != pid) {
    return probe_report(id, "NA", "wait4 failed");
  }
  if ((status & 0x7f) != 0) {
    rt_snprintf(detail, sizeof(detail), "child killed by signal %d",
                status & 0x7f);
    return probe_report(id, "BLOCKED", detail);
  }
  int code = (status >> 8) & 0xff;
  if (code == 0) return probe_report(id, "REACHABLE", ok);
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(code));
  return probe_report(id,
                      code == EPERM || code == EACCES || code == ENOSYS ||
                              code == EINVAL || code == ENOSPC
                          ? "BLOCKED"
                          : "NA",
                      detail);
}

#endif /* ISOSCOPE_WORKLOADS_PROBES_PROBE_H_ */
