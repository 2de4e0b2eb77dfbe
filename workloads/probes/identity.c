/* probe identity CASE: who the workload is and whom it can reach.
 *
 *   ids             its uid, gid and effective capabilities (from
 *                   /proc/self/status, else getuid & co. and capget),
 *                   printed as NA `uid=R/E gid=R/E capeff=0x…`: the runner
 *                   compares them with the policy's identity (another uid
 *                   or gid, or capabilities the policy did not grant:
 *                   REACHABLE; as the policy says: BLOCKED)
 *   setuid0         setuid(0) then setgid(0): succeeded as root already:
 *                   REACHABLE; became root: ESCAPED; EPERM: BLOCKED
 *   capset          capset raising effective and permitted to every
 *                   capability (up to /proc/sys/kernel/cap_last_cap, else
 *                   40): it had them already: REACHABLE; gained some:
 *                   ESCAPED; EPERM: BLOCKED
 *   kill-canary     signal 0 (never a real signal) with kill and with
 *                   pidfd_send_signal to the canary process
 *                   ($ISOSCOPE_CANARY_PID) and to every other pid /proc
 *                   lists: any accepted: REACHABLE; ESRCH/EPERM: BLOCKED
 *   kill-supervisor signal 0 only, the same two ways, to the supervisor as
 *                   the workload can find it without being told: its parent
 *                   chain (getppid, then PPid in /proc/<pid>/status) and any
 *                   /proc entry whose comm is "isoscope"; the detail says
 *                   whether $ISOSCOPE_SUPERVISOR_PID was among them. Any
 *                   accepted: REACHABLE; none found or all refused: BLOCKED
 */
#include "workloads/probes/probe.h"

enum {
  kCapVersion3 = 0x20080522,
  kDefaultLastCap = 40,
  kMaxPids = 64,
};

struct cap_header {
  uint32_t version;
  int pid;
};
struct cap_data {
  uint32_t effective;
  uint32_t permitted;
  uint32_t inheritable;
};

/* The hex number after "<key>:" in /proc/self/status text, or -1. */
static long status_hex(const char *text, const char *key) {
  size_t n = strlen(key);
  for (const char *line = text; line != NULL && *line;) {
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      const char *p = line + n + 1;
      while (*p == ' ' || *p == '\t') p++;
      unsigned long v = 0;
      int digits = 0;
      for (;; p++, digits++) {
        if (*p >= '0' && *p <= '9') {
          v = v * 16 + (unsigned long)(*p - '0');
        } else if (*p >= 'a' && *p <= 'f') {
          v = v * 16 + (unsigned long)(*p - 'a' + 10);
        } else {
          break;
        }
      }
      return digits > 0 ? (long)v : -1;
    }
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return -1;
}

/* The second number of a "Uid:\tR\tE\tS\tF" line. */
static long status_second(const char *text, const char *key) {
  size_t n = strlen(key);
  for (const char *line = text; line != NULL && *line;) {
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      const char *p = line + n + 1;
      while (*p == ' ' || *p == '\t') p++;
      while (*p >= '0' && *p <= '9') p++;
      while (*p == ' ' || *p == '\t') p++;
      if (*p < '0' || *p > '9') return -1;
      long v = 0;
      while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
      return v;
    }
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return -1;
}

/* Effective capabilities through capget, or -errno. */
static long capget_effective(struct cap_data data[2]) {
  struct cap_header header = {kCapVersion3, 0};
  long r = syscall2(SYS_capget, (long)&header, (long)data);
  if (r < 0) return r;
  return (long)((unsigned long)data[1].effective << 32 | data[0].effective);
}

static int case_ids(const char *id) {
  static char status[8192];
  char detail[160];
  if (probe_read_file("/proc/self/status", status, sizeof(status)) > 0) {
    long uid = probe_status_field(status, "Uid");
    long euid = status_second(status, "Uid");
    long gid = probe_status_field(status, "Gid");
    long egid = status_second(status, "Gid");
    long capeff = status_hex(status, "CapEff");
    if (uid >= 0 && euid >= 0 && gid >= 0 && egid >= 0 && capeff >= 0) {
      rt_snprintf(detail, sizeof(detail),
                  "uid=%ld/%ld gid=%ld/%ld capeff=0x%lx source=/proc", uid,
                  euid, gid, egid, capeff);
      return probe_report(id, "NA", detail);
    }
  }
  long uid = syscall0(SYS_getuid);
  long euid = syscall0(SYS_geteuid);
  long gid = syscall0(SYS_getgid);
  long egid = syscall0(SYS_getegid);
  struct cap_data data[2];
  long capeff = capget_effective(data);
  if (capeff < 0) {
    rt_snprintf(detail, sizeof(detail),
                "uid=%ld/%ld gid=%ld/%ld capeff=? (capget errno=%s) "
                "source=syscalls",
                uid, euid, gid, egid, rt_errname(capeff));
  } else {
    rt_snprintf(detail, sizeof(detail),
                "uid=%ld/%ld gid=%ld/%ld capeff=0x%lx source=syscalls", uid,
                euid, gid, egid, capeff);
  }
  return probe_report(id, "NA", detail);
}

/* The uid it runs as, from /proc if readable (so the call that is probed
 * comes first under a sandbox that kills getuid), else getuid. */
static long current_uid(void) {
  static char status[8192];
  if (probe_read_file("/proc/self/status", status, sizeof(status)) > 0) {
    long uid = status_second(status, "Uid");
    if (uid >= 0) return uid;
  }
  return syscall0(SYS_getuid);
}

static int case_setuid0(const char *id) {
  long before = current_uid();
  long r = syscall1(SYS_setuid, 0);
  char detail[128];
  if (r != 0) {
    rt_snprintf(detail, sizeof(detail), "uid %ld: setuid(0) errno=%s", before,
                rt_errname(r));
    return probe_report(
        id, r == -EPERM || r == -EACCES || r == -ENOSYS ? "BLOCKED" : "NA",
        detail);
  }
  long g = syscall1(SYS_setgid, 0);
  rt_snprintf(detail, sizeof(detail), "uid %ld: setuid(0) succeeded, setgid(0) %s",
              before, g == 0 ? "succeeded" : rt_errname(g));
  return probe_report(id, before == 0 ? "REACHABLE" : "ESCAPED", detail);
}

static int case_capset(const char *id) {
  char text[16];
  int64_t last = kDefaultLastCap;
  if (probe_read_file("/proc/sys/kernel/cap_last_cap", text, sizeof(text)) >
      0) {
    char *nl = strchr(text, '\n');
    if (nl != NULL) *nl = 0;
    if (rt_parse_i64(text, &last) != 0 || last < 0 || last > 63) {
      last = kDefaultLastCap;
    }
  }
  unsigned long all = last >= 63 ? ~0UL : (1UL << (last + 1)) - 1;
  struct cap_data data[2];
  long before = capget_effective(data);
  char detail[160];
  struct cap_header header = {kCapVersion3, 0};
  struct cap_data want[2] = {
      {(uint32_t)all, (uint32_t)all, data[0].inheritable},
      {(uint32_t)(all >> 32), (uint32_t)(all >> 32), data[1].inheritable}};
  if (before < 0) {
    want[0].inheritable = 0;
    want[1].inheritable = 0;
  }
  long r = syscall2(SYS_capset, (long)&header, (long)want);
  if (r == 0) {
    rt_snprintf(detail, sizeof(detail),
                "capset(all) succeeded: effective 0x%lx -> 0x%lx",
                before < 0 ? 0UL : (unsigned long)before, all);
    return probe_report(
        id, (unsigned long)before == all ? "REACHABLE" : "ESCAPED", detail);
  }
  if (before < 0 || (r != -EPERM && r != -EACCES)) {
    rt_snprintf(detail, sizeof(detail), "capset(all) errno=%s%s",
                rt_errname(r), before < 0 ? " (capget failed)" : "");
    return probe_report(
        id, r == -EPERM || r == -EACCES || r == -ENOSYS ? "BLOCKED" : "NA",
        detail);
  }
  /* Not all of them: raise what it is permitted to have. */
  unsigned long permitted =
      (unsigned long)data[1].permitted << 32 | data[0].permitted;
  struct cap_header again = {kCapVersion3, 0};
  struct cap_data mine[2] = {
      {data[0].permitted, data[0].permitted, data[0].inheritable},
      {data[1].permitted, data[1].permitted, data[1].inheritable}};
  long r2 = syscall2(SYS_capset, (long)&again, (long)mine);
  if (r2 == 0 && permitted != 0) {
    rt_snprintf(detail, sizeof(detail),
                "capset(all) EPERM; effective raised to its permitted 0x%lx",
                permitted);
    return probe_report(id, "REACHABLE", detail);
  }
  rt_snprintf(detail, sizeof(detail),
              "capset(all) errno=%s; %s (permitted 0x%lx)", rt_errname(r),
              r2 == 0 ? "nothing permitted to raise" : rt_errname(r2),
              permitted);
  return probe_report(id, "BLOCKED", detail);
}

/* Signal 0 to pid, with kill then pidfd_send_signal. 0 if either accepted,
 * else the errno of kill. Never pid < 2 or our own. */
static long signal_zero(long pid) {
  if (pid < 2 || pid == syscall0(SYS_getpid)) return -EINVAL;
  long r = syscall2(SYS_kill, pid, 0);
  if (r == 0) return 0;
  long fd = syscall2(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    long s = syscall4(SYS_pidfd_send_signal, fd, 0, 0, 0);
    syscall1(SYS_close, fd);
    if (s == 0) return 0;
  }
  return r;
}

/* The numeric entries of /proc (up to max), or -errno. */
static long list_pids(long *pids, long max) {
  long dir = syscall3(SYS_open, (long)"/proc", O_RDONLY | O_DIRECTORY, 0);
  if (dir < 0) return dir;
  static char buf[8192];
  long count = 0;
  for (;;) {
    long n = syscall3(SYS_getdents64, dir, (long)buf, sizeof(buf));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      unsigned short reclen = *(unsigned short *)(buf + off + 16);
      const char *name = buf + off + 19;
      int64_t pid;
      if (rt_parse_i64(name, &pid) == 0 && pid > 1 && count < max) {
        pids[count++] = pid;
      }
      if (reclen == 0) break;
      off += reclen;
    }
  }
  syscall1(SYS_close, dir);
  return count;
}

static int case_kill_canary(const char *id) {
  char note[128];
  struct probe_tally t = {0};
  int64_t canary = 0;
  const char *value = rt_getenv("ISOSCOPE_CANARY_PID");
  if (value != NULL && rt_parse_i64(value, &canary) == 0 && canary > 1) {
    long r = signal_zero(canary);
    rt_snprintf(note, sizeof(note), "canary pid %ld: %s", (long)canary,
                r == 0 ? "signal 0 accepted" : rt_errname(r));
    probe_tally_add(&t, r == 0 ? "REACHABLE" : "BLOCKED", note);
  }
  static long pids[4096];
  long n = list_pids(pids, 4096);
  if (n < 0) {
    rt_snprintf(note, sizeof(note), "/proc: errno=%s", rt_errname(n));
    probe_tally_add(&t, "BLOCKED", note);
  } else {
    long self = syscall0(SYS_getpid);
    long accepted = 0, tried = 0;
    for (long i = 0; i < n; i++) {
      if (pids[i] == self || pids[i] == canary) continue;
      tried++;
      if (signal_zero(pids[i]) == 0) accepted++;
    }
    rt_snprintf(note, sizeof(note),
                "other pids in /proc: signal 0 accepted by %ld of %ld",
                accepted, tried);
    probe_tally_add(&t, accepted > 0 ? "REACHABLE" : "BLOCKED", note);
  }
  return probe_tally_report(id, &t);
}

static int case_kill_supervisor(const char *id) {
  long found[kMaxPids];
  const char *how[kMaxPids];
  int count = 0;
  static char text[4096];
  /* The parent chain, as far as it is visible. */
  for (long pid = syscall0(SYS_getppid); pid > 1 && count < 16;) {
    found[count] = pid;
    how[count++] = "parent chain";
    char path[48];
    rt_snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    if (probe_read_file(path, text, sizeof(text)) <= 0) break;
    pid = probe_status_field(text, "PPid");
  }
  /* Any process called isoscope. */
  static long pids[4096];
  long n = list_pids(pids, 4096);
  for (long i = 0; i < n && count < kMaxPids; i++) {
    char path[48];
    rt_snprintf(path, sizeof(path), "/proc/%ld/comm", pids[i]);
    if (probe_read_file(path, text, sizeof(text)) > 0 &&
        strcmp(text, "isoscope\n") == 0) {
      found[count] = pids[i];
      how[count++] = "/proc comm";
    }
  }
  int64_t told = 0;
  const char *value = rt_getenv("ISOSCOPE_SUPERVISOR_PID");
  if (value == NULL || rt_parse_i64(value, &told) != 0) told = 0;
  if (count == 0) {
    return probe_report(id, "BLOCKED",
                        "no supervisor found (no parent, no isoscope in /proc)");
  }
  struct probe_tally t = {0};
  char note[128];
  for (int i = 0; i < count; i++) {
    long r = signal_zero(found[i]);
    rt_snprintf(note, sizeof(note), "pid %ld (%s%s): %s", found[i], how[i],
                found[i] == told ? ", the supervisor" : "",
                r == 0 ? "signal 0 accepted" : rt_errname(r));
    probe_tally_add(&t, r == 0 ? "REACHABLE" : "BLOCKED", note);
  }
  return probe_tally_report(id, &t);
}

static const struct probe_case kCases[] = {
    {"ids", case_ids},
    {"setuid0", case_setuid0},
    {"capset", case_capset},
    {"kill-canary", case_kill_canary},
    {"kill-supervisor", case_kill_supervisor},
};

int main(int argc, char **argv, char **envp) {
  (void)envp;
  return probe_run_case("identity", argc, argv, kCases,
                        sizeof(kCases) / sizeof(kCases[0]), NULL);
}
