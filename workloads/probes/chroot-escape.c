/* probe chroot-escape: the classic escape from a chroot, harmless because a
 * chroot changes only the probe's own root. It creates the directory
 * isoscope-probe-chroot in the cwd, chroots into it while keeping the cwd
 * outside, climbs with chdir("..") and chroots to where it arrived, then
 * compares that root with the one it started with (stat "/": device and
 * inode). The directory is removed through a descriptor of the old cwd.
 * Roots differ: ESCAPED (the sandbox was a plain chroot); same root:
 * REACHABLE (chroot is allowed, CAP_SYS_CHROOT, but leads nowhere higher);
 * EPERM: BLOCKED. Without a writable cwd it only tries chroot("/"). */
#include "workloads/probes/probe.h"

static const char kId[] = "chroot-escape";
static const char kDir[] = "isoscope-probe-chroot";

/* Device and inode of `path`, or -errno. */
static long root_identity(const char *path, unsigned long out[2]) {
  unsigned long st[18]; /* struct stat: 144 bytes, st_dev then st_ino */
  long r = syscall2(SYS_stat, (long)path, (long)st);
  if (r != 0) return r;
  out[0] = st[0];
  out[1] = st[1];
  return 0;
}

static int blocked_or_na(const char *what, long r) {
  char detail[96];
  rt_snprintf(detail, sizeof(detail), "%s errno=%s", what, rt_errname(r));
  return probe_report(
      kId, r == -EPERM || r == -EACCES || r == -ENOSYS ? "BLOCKED" : "NA",
      detail);
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { AT_REMOVEDIR = 0x200 };
  unsigned long before[2], after[2];
  if (root_identity("/", before) != 0) {
    return probe_report(kId, "NA", "cannot stat /");
  }
  long cwd =
      syscall3(SYS_open, (long)".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  long made = cwd < 0 ? cwd : syscall2(SYS_mkdir, (long)kDir, 0700);
  if (made == -EEXIST) made = 0; /* a leftover of an earlier run */
  if (made != 0) {
    long r = syscall1(SYS_chroot, (long)"/");
    if (r != 0) return blocked_or_na("chroot(\"/\")", r);
    return probe_report(kId, "REACHABLE",
                        "chroot(\"/\") allowed (no writable cwd to try the "
                        "escape)");
  }
  long r = syscall1(SYS_chroot, (long)kDir);
  if (r == 0) {
    for (int i = 0; i < 256; i++) syscall1(SYS_chdir, (long)"..");
    r = syscall1(SYS_chroot, (long)".");
    if (r == 0) r = root_identity("/", after);
  }
  syscall1(SYS_fchdir, cwd);
  syscall3(SYS_unlinkat, cwd, (long)kDir, AT_REMOVEDIR);
  syscall1(SYS_close, cwd);
  if (r != 0) return blocked_or_na("chroot", r);
  if (after[0] != before[0] || after[1] != before[1]) {
    return probe_report(kId, "ESCAPED",
                        "chroot + chdir(\"..\") reached a root above ours");
  }
  return probe_report(kId, "REACHABLE",
                      "chroot allowed; the escape reached our own root");
}
