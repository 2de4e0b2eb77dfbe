/* probe inherited-fds: looks at every descriptor above 2 that is open when
 * it starts (fstat of 3..1023), which it never opened itself, so each one is
 * something of the supervisor's or of whoever started it (the probe runner
 * starts isoscope's probes with the secret canary and its directory open,
 * without close-on-exec). For a regular file it reads up to 64 bytes from
 * offset 0; for a directory it reads the secret's name in it, with openat
 * and through /proc/self/fd/N/<name>. Something read: ESCAPED (the runner
 * confirms a read of the secret); a descriptor open but nothing read
 * through it: REACHABLE; none open: BLOCKED. Prints no content. */
#include "workloads/probes/probe.h"

static const char kId[] = "inherited-fds";
enum { kMaxFd = 1024 };

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  struct probe_tally t = {0};
  /* The secret's name, for directories; without the canary, none. */
  const char *secret = rt_getenv("ISOSCOPE_CANARY_SECRET");
  const char *name = secret == NULL ? NULL : strrchr(secret, '/');
  if (name != NULL) name = name[1] != 0 ? name + 1 : NULL;
  int open_fds = 0;
  char note[160];
  for (long fd = 3; fd < kMaxFd; fd++) {
    struct probe_stat st;
    if (syscall2(SYS_fstat, fd, (long)&st) != 0) continue;
    open_fds++;
    unsigned int type = st.st_mode & PROBE_S_IFMT;
    if (type == PROBE_S_IFREG) {
      /* lseek + read rather than pread: what the strictest preset allows. */
      char buf[64];
      long r = syscall3(SYS_lseek, fd, 0, 0);
      if (r >= 0) r = syscall3(SYS_read, fd, (long)buf, sizeof(buf));
      rt_snprintf(note, sizeof(note), "fd %ld: file, %s %ld%s", fd,
                  r >= 0 ? "read" : "read errno", r >= 0 ? r : -r,
                  r >= 0 ? " bytes" : "");
      probe_tally_add(&t, r >= 0 ? "ESCAPED" : "REACHABLE", note);
    } else if (type == PROBE_S_IFDIR) {
      rt_snprintf(note, sizeof(note), "fd %ld: directory", fd);
      probe_tally_add(&t, "REACHABLE", note);
      if (name != NULL) {
        probe_tally_read(&t, "openat(fd, <secret name>)", fd, name, 0);
        char path[320];
        rt_snprintf(path, sizeof(path), "/proc/self/fd/%ld/%s", fd, name);
        probe_tally_read(&t, "/proc/self/fd/N/<secret name>", AT_FDCWD, path,
                         0);
      }
    } else {
      rt_snprintf(note, sizeof(note), "fd %ld: type 0x%x", fd, type);
      probe_tally_add(&t, "REACHABLE", note);
    }
  }
  if (open_fds == 0) {
    return probe_report(kId, "BLOCKED", "no descriptor above 2 at start");
  }
  return probe_tally_report(kId, &t);
}
