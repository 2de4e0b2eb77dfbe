/* probe magic-links CASE: reads the secret canary ($ISOSCOPE_CANARY_SECRET,
 * outside the policy's paths) through a path the kernel resolves
 * differently from how it reads: /proc's magic links, which jump to
 * whatever they name, and symlinks the probe makes in its own workdir. A
 * sandbox that decides on the path as written lets these through; one that
 * decides on what the kernel reaches, or resolves without magic links,
 * refuses them. Each case tries its variants in turn (listed in the detail).
 * Any read of the secret: ESCAPED (the runner confirms by its access time);
 * a read of another file outside the workdir (its own executable):
 * REACHABLE; every variant refused (EACCES, EPERM, ENOENT, ELOOP, EXDEV,
 * ENOTDIR, ENOSYS): BLOCKED. Reads up to 64 bytes, prints none; removes
 * what it creates. */
#include "workloads/probes/probe.h"

static struct probe_secret secret;

/* "<prefix><secret>" into buf. */
static void join(char *buf, size_t size, const char *prefix,
                 const char *rest) {
  rt_snprintf(buf, size, "%s%s", prefix, rest);
}

/* "<prefix>" followed by `ups` times "../" then the secret without its
 * leading slash: climbs to "/" from wherever prefix leads (".." stops at the
 * root) and walks down to the secret. */
static void climb(char *buf, size_t size, const char *prefix, int ups) {
  size_t len = rt_strlcpy(buf, prefix, size);
  for (int i = 0; i < ups && len + 4 < size; i++) {
    memcpy(buf + len, "../", 4);
    len += 3;
  }
  if (len < size) rt_strlcpy(buf + len, secret.path + 1, size - len);
}

static int proc_root(const char *id, const char *link_dir) {
  struct probe_tally t = {0};
  char path[512];
  join(path, sizeof(path), link_dir, secret.path);
  probe_tally_read(&t, link_dir, AT_FDCWD, path, 0);
  return probe_tally_report(id, &t);
}

static int case_proc_self_root(const char *id) {
  return proc_root(id, "/proc/self/root");
}

static int case_thread_self_root(const char *id) {
  return proc_root(id, "/proc/thread-self/root");
}

static int case_proc_pid_root(const char *id) {
  char dir[48];
  rt_snprintf(dir, sizeof(dir), "/proc/%ld/root", syscall0(SYS_getpid));
  return proc_root(id, dir);
}

static int case_proc_ppid_root(const char *id) {
  long ppid = syscall0(SYS_getppid);
  if (ppid <= 0) {
    char detail[64];
    rt_snprintf(detail, sizeof(detail), "getppid()=%ld: no parent visible",
                ppid);
    return probe_report(id, "BLOCKED", detail);
  }
  char dir[48];
  rt_snprintf(dir, sizeof(dir), "/proc/%ld/root", ppid);
  return proc_root(id, dir);
}

static int case_proc_self_cwd(const char *id) {
  struct probe_tally t = {0};
  char path[512];
  climb(path, sizeof(path), "/proc/self/cwd/", 40);
  probe_tally_read(&t, "/proc/self/cwd/../..", AT_FDCWD, path, 0);
  climb(path, sizeof(path), "/proc/thread-self/cwd/", 40);
  probe_tally_read(&t, "/proc/thread-self/cwd/../..", AT_FDCWD, path, 0);
  return probe_tally_report(id, &t);
}

/* Through a directory descriptor it opened itself: /proc/self/fd/N/<name>
 * with N the secret's directory, then with N its own workdir and "..". */
static int case_proc_fd_dir(const char *id) {
  struct probe_tally t = {0};
  char path[512];
  char note[96];
  long dir = syscall3(SYS_open, (long)secret.dir, O_RDONLY | O_DIRECTORY, 0);
  if (dir >= 0) {
    rt_snprintf(path, sizeof(path), "/proc/self/fd/%ld/%s", dir, secret.base);
    probe_tally_read(&t, "/proc/self/fd/<secret dir>/<name>", AT_FDCWD, path,
                     0);
    syscall1(SYS_close, dir);
  } else {
    rt_snprintf(note, sizeof(note), "open <secret dir>: errno=%s",
                rt_errname(dir));
    probe_tally_add(&t, "BLOCKED", note);
  }
  long cwd = syscall3(SYS_open, (long)".", O_RDONLY | O_DIRECTORY, 0);
  if (cwd >= 0) {
    char prefix[48];
    rt_snprintf(prefix, sizeof(prefix), "/proc/self/fd/%ld/", cwd);
    climb(path, sizeof(path), prefix, 40);
    probe_tally_read(&t, "/proc/self/fd/<cwd>/../..", AT_FDCWD, path, 0);
    syscall1(SYS_close, cwd);
  } else {
    rt_snprintf(note, sizeof(note), "open .: errno=%s", rt_errname(cwd));
    probe_tally_add(&t, "NA", note);
  }
  return probe_tally_report(id, &t);
}

/* An O_PATH descriptor (no read access checked by some sandboxes) upgraded
 * to a readable one by reopening it through /proc/self/fd. */
static int case_o_path_reopen(const char *id) {
  struct probe_tally t = {0};
  char path[512];
  char note[96];
  long fd = syscall3(SYS_open, (long)secret.path, O_PATH, 0);
  if (fd >= 0) {
    rt_snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
    probe_tally_read(&t, "reopen O_PATH <secret>", AT_FDCWD, path, 0);
    syscall1(SYS_close, fd);
  } else {
    rt_snprintf(note, sizeof(note), "O_PATH <secret>: errno=%s",
                rt_errname(fd));
    probe_tally_add(&t, probe_path_refused(fd) ? "BLOCKED" : "NA", note);
  }
  long dir = syscall3(SYS_open, (long)secret.dir, O_PATH | O_DIRECTORY, 0);
  if (dir >= 0) {
    probe_tally_read(&t, "openat(O_PATH <secret dir>, name)", dir, secret.base,
                     0);
    rt_snprintf(path, sizeof(path), "/proc/self/fd/%ld/%s", dir, secret.base);
    probe_tally_read(&t, "/proc/self/fd/<O_PATH dir>/<name>", AT_FDCWD, path,
                     0);
    syscall1(SYS_close, dir);
  } else {
    rt_snprintf(note, sizeof(note), "O_PATH <secret dir>: errno=%s",
                rt_errname(dir));
    probe_tally_add(&t, probe_path_refused(dir) ? "BLOCKED" : "NA", note);
  }
  return probe_tally_report(id, &t);
}

/* A file outside the workdir read through a magic link that names it:
 * REACHABLE (the runner's canary is not involved). */
static void read_other(struct probe_tally *t, const char *label,
                       const char *path) {
  long r = probe_open_read(AT_FDCWD, path, 0);
  char note[128];
  if (r >= 0) {
    rt_snprintf(note, sizeof(note), "%s: read %ld bytes of its own executable",
                label, r);
    probe_tally_add(t, "REACHABLE", note);
    return;
  }
  rt_snprintf(note, sizeof(note), "%s: errno=%s", label, rt_errname(r));
  probe_tally_add(t, probe_path_refused(r) ? "BLOCKED" : "NA", note);
}

/* /proc/self/map_files/<start>-<end> of its first mapping (its own
 * executable's first page), a magic link to the mapped file. */
static int case_map_files(const char *id) {
  struct probe_tally t = {0};
  static char maps[4096];
  long n = probe_read_file("/proc/self/maps", maps, sizeof(maps));
  if (n <= 0) {
    char note[64];
    rt_snprintf(note, sizeof(note), "/proc/self/maps: errno=%s",
                rt_errname(n < 0 ? n : -ENOENT));
    probe_tally_add(&t, n < 0 && !probe_path_refused(n) ? "NA" : "BLOCKED",
                    note);
    return probe_tally_report(id, &t);
  }
  /* "0000000000400000-0000000000401000 r--p ...": map_files names the
   * range without leading zeros. */
  unsigned long bounds[2] = {0, 0};
  const char *p = maps;
  for (int i = 0; i < 2; i++, p++) {
    for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++) {
      bounds[i] = bounds[i] * 16 +
                  (unsigned long)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
    }
    if (*p != (i == 0 ? '-' : ' ')) {
      return probe_report(id, "NA", "unreadable /proc/self/maps");
    }
  }
  char path[96];
  rt_snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", bounds[0],
              bounds[1]);
  read_other(&t, "/proc/self/map_files/<first mapping>", path);
  return probe_tally_report(id, &t);
}

static int case_proc_self_exe(const char *id) {
  struct probe_tally t = {0};
  read_other(&t, "/proc/self/exe", "/proc/self/exe");
  read_other(&t, "/proc/thread-self/exe", "/proc/thread-self/exe");
  return probe_tally_report(id, &t);
}

/* symlink(target, name) in the cwd, then each of `paths` read through it;
 * the link is removed again. */
static void through_symlink(struct probe_tally *t, const char *target,
                            const char *name, const char *label,
                            const char *path) {
  char note[128];
  syscall1(SYS_unlink, (long)name);
  long r = syscall2(SYS_symlink, (long)target, (long)name);
  if (r != 0) {
    rt_snprintf(note, sizeof(note), "symlink %s: errno=%s", name,
                rt_errname(r));
    probe_tally_add(t, r == -EPERM || r == -EACCES || r == -ENOSYS ||
                               r == -EROFS
                           ? "BLOCKED"
                           : "NA",
                    note);
    return;
  }
  probe_tally_read(t, label, AT_FDCWD, path, 0);
  syscall1(SYS_unlink, (long)name);
}

static int case_workdir_symlink(const char *id) {
  struct probe_tally t = {0};
  through_symlink(&t, secret.path, "isoscope-probe-link",
                  "link -> <secret>", "isoscope-probe-link");
  return probe_tally_report(id, &t);
}

static int case_workdir_symlink_dir(const char *id) {
  struct probe_tally t = {0};
  char path[512];
  rt_snprintf(path, sizeof(path), "isoscope-probe-dirlink/%s", secret.base);
  through_symlink(&t, secret.dir, "isoscope-probe-dirlink",
                  "dirlink -> <secret dir>, dirlink/<name>", path);
  join(path, sizeof(path), "isoscope-probe-rootlink", secret.path);
  through_symlink(&t, "/", "isoscope-probe-rootlink",
                  "rootlink -> /, rootlink/<secret>", path);
  return probe_tally_report(id, &t);
}

/* `..` after a symlinked directory: lexically "link/../x" is "x" in the
 * workdir; the kernel takes ".." from where the link led. */
static int case_symlink_dotdot(const char *id) {
  struct probe_tally t = {0};
  char path[512];
  const char *slash = strrchr(secret.dir, '/');
  const char *dir_base = slash == NULL ? secret.dir : slash + 1;
  /* link -> <secret dir>: "link/../<secret dir's name>/<name>" */
  rt_snprintf(path, sizeof(path), "isoscope-probe-dd/../%s/%s", dir_base,
              secret.base);
  through_symlink(&t, secret.dir, "isoscope-probe-dd",
                  "dd -> <secret dir>, dd/../<dir name>/<name>", path);
  /* link -> "/": "link/../../..<secret>" climbs from the root. */
  rt_snprintf(path, sizeof(path), "isoscope-probe-up/../../..%s", secret.path);
  through_symlink(&t, "/", "isoscope-probe-up",
                  "up -> /, up/../../..<secret>", path);
  return probe_tally_report(id, &t);
}

static const struct probe_case kCases[] = {
    {"proc-self-root", case_proc_self_root},
    {"thread-self-root", case_thread_self_root},
    {"proc-pid-root", case_proc_pid_root},
    {"proc-ppid-root", case_proc_ppid_root},
    {"proc-self-cwd", case_proc_self_cwd},
    {"proc-fd-dir", case_proc_fd_dir},
    {"o-path-reopen", case_o_path_reopen},
    {"map-files", case_map_files},
    {"proc-self-exe", case_proc_self_exe},
    {"workdir-symlink", case_workdir_symlink},
    {"workdir-symlink-dir", case_workdir_symlink_dir},
    {"symlink-dotdot", case_symlink_dotdot},
};

static int setup(const char *id) { return probe_secret_canary(id, &secret); }

int main(int argc, char **argv, char **envp) {
  (void)envp;
  return probe_run_case("magic-links", argc, argv, kCases,
                        sizeof(kCases) / sizeof(kCases[0]), setup);
}
