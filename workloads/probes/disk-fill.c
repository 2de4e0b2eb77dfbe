/* probe disk-fill (noisy, bounded): writes 1 MiB blocks to
 * isoscope-probe-disk-fill.tmp in the cwd up to 256 MiB, fsyncs, and
 * unlinks it. All 256 MiB: REACHABLE; EFBIG (RLIMIT_FSIZE), ENOSPC (a small
 * filesystem) or EDQUOT before the cap: BLOCKED with the MiB written; the
 * file cannot be created (EACCES/EPERM/EROFS): BLOCKED. */
#include "workloads/probes/probe.h"

static const char kId[] = "disk-fill";
static const char kFile[] = "isoscope-probe-disk-fill.tmp";

enum { kBlock = 1 << 20, kMaxBlocks = 256 };

static char block[kBlock]; /* zeros, in .bss */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  char detail[96];
  long fd = syscall3(SYS_open, (long)kFile,
                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    rt_snprintf(detail, sizeof(detail), "open errno=%s", rt_errname(fd));
    return probe_report(kId,
                        fd == -EACCES || fd == -EPERM || fd == -EROFS ||
                                fd == -ENOSPC || fd == -EDQUOT || fd == -ENOSYS
                            ? "BLOCKED"
                            : "NA",
                        detail);
  }
  int written = 0;
  long err = 0;
  /* RLIMIT_FSIZE also raises SIGXFSZ, which kills by default: ignore it so
   * the write reports EFBIG instead. */
  enum { SIGXFSZ = 25 };
  struct {
    unsigned long handler;
    unsigned long flags;
    unsigned long restorer;
    unsigned long mask;
  } ignore = {1 /* SIG_IGN */, 0, 0, 0};
  syscall4(SYS_rt_sigaction, SIGXFSZ, (long)&ignore, 0, sizeof(ignore.mask));
  while (written < kMaxBlocks) {
    long r = rt_write_all((int)fd, block, kBlock);
    if (r < 0) {
      err = r;
      break;
    }
    written++;
  }
  if (err == 0) {
    long r = syscall1(SYS_fsync, fd);
    if (r < 0) err = r;
  }
  syscall1(SYS_close, fd);
  syscall1(SYS_unlink, (long)kFile);
  if (err == 0) {
    rt_snprintf(detail, sizeof(detail), "mib=%d (all, removed)", written);
    return probe_report(kId, "REACHABLE", detail);
  }
  rt_snprintf(detail, sizeof(detail), "mib=%d then errno=%s (removed)", written,
              rt_errname(err));
  return probe_report(
      kId, err == -EFBIG || err == -ENOSPC || err == -EDQUOT ? "BLOCKED" : "NA",
      detail);
}
