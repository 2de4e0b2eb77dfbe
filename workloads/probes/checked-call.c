/* probe checked-call CASE: corner cases of the calls a sandbox checks (and
 * may perform on the workload's behalf) that must be answered with a
 * descriptor or an errno, never by the supervisor failing:
 *
 *   o-path       open(O_PATH) of a file it created in its workdir, of "."
 *                (O_DIRECTORY), and openat(O_PATH | O_NOFOLLOW)
 *   emfile       opens that file without closing until an error or 1100
 *                descriptors (more than the presets' open_files), then
 *                closes them all
 *   long-path    paths of 4100 bytes (over PATH_MAX), 4095 bytes ("./"
 *                repeated, then the file) and a 300-byte name (over
 *                NAME_MAX)
 *   wild-pointer open with a path pointer that is 1, unmapped, non-canonical,
 *                a kernel address, and a string running into an unmapped
 *                page without a NUL
 *   fifo         a FIFO in the workdir (mknodat), opened for reading
 *                (blocking) while a child opens it for writing; or, where
 *                mknodat is refused, a pipe reopened through
 *                /proc/self/fd/N
 *
 * Answered (any descriptor or errno) and the probe went on: BLOCKED, the
 * detail lists the answers; the runner reports ERROR when isoscope itself
 * failed, and a run that times out (a supervisor stuck in the FIFO open)
 * is NA "timed out". Removes what it creates. */
#include "workloads/probes/probe.h"

static const char kFile[] = "isoscope-probe-checked";
static const char kFifo[] = "isoscope-probe-fifo";

static void note_answer(struct probe_tally *t, const char *label, long r) {
  char note[96];
  if (r >= 0) {
    rt_snprintf(note, sizeof(note), "%s: fd", label);
    syscall1(SYS_close, r);
  } else {
    rt_snprintf(note, sizeof(note), "%s: errno=%s", label, rt_errname(r));
  }
  probe_tally_add(t, "BLOCKED", note);
}

static int make_file(const char *id) {
  long fd = syscall3(SYS_open, (long)kFile,
                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    char detail[96];
    rt_snprintf(detail, sizeof(detail), "creating %s: errno=%s", kFile,
                rt_errname(fd));
    probe_report(id, probe_path_refused(fd) ? "BLOCKED" : "NA", detail);
    return -1;
  }
  syscall1(SYS_close, fd);
  return 0;
}

static int case_o_path(const char *id) {
  if (make_file(id) != 0) return 0;
  struct probe_tally t = {0};
  long fd = syscall3(SYS_open, (long)kFile, O_PATH | O_CLOEXEC, 0);
  if (fd >= 0) {
    struct probe_stat st;
    long r = syscall2(SYS_fstat, fd, (long)&st);
    char note[64];
    rt_snprintf(note, sizeof(note), "fstat of it: %s",
                r == 0 ? "ok" : rt_errname(r));
    note_answer(&t, "open(file, O_PATH)", fd);
    probe_tally_add(&t, "BLOCKED", note);
  } else {
    note_answer(&t, "open(file, O_PATH)", fd);
  }
  note_answer(&t, "open(., O_PATH|O_DIRECTORY)",
              syscall3(SYS_open, (long)".", O_PATH | O_DIRECTORY | O_CLOEXEC,
                       0));
  note_answer(&t, "openat(file, O_PATH|O_NOFOLLOW)",
              syscall4(SYS_openat, AT_FDCWD, (long)kFile,
                       O_PATH | O_NOFOLLOW | O_CLOEXEC, 0));
  syscall1(SYS_unlink, (long)kFile);
  return probe_tally_report(id, &t);
}

static int case_emfile(const char *id) {
  enum { kMax = 1100 };
  if (make_file(id) != 0) return 0;
  static long fds[kMax];
  int n = 0;
  long err = 0;
  while (n < kMax) {
    long fd = syscall3(SYS_open, (long)kFile, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      err = fd;
      break;
    }
    fds[n++] = fd;
  }
  for (int i = 0; i < n; i++) syscall1(SYS_close, fds[i]);
  syscall1(SYS_unlink, (long)kFile);
  char detail[96];
  if (err == 0) {
    rt_snprintf(detail, sizeof(detail), "opened %d, no limit reached", n);
  } else {
    rt_snprintf(detail, sizeof(detail), "opened %d, then errno=%s", n,
                rt_errname(err));
  }
  return probe_report(id, "BLOCKED", detail);
}

/* "./" repeated (one "/" more if needed), then the file: `total` bytes
 * without the NUL, all naming the same file. */
static void dot_path(char *path, size_t total) {
  size_t prefix = total - (sizeof(kFile) - 1);
  size_t len = 0;
  while (len + 2 <= prefix) {
    path[len++] = '.';
    path[len++] = '/';
  }
  if (len < prefix) path[len++] = '/';
  memcpy(path + len, kFile, sizeof(kFile));
}

static int case_long_path(const char *id) {
  if (make_file(id) != 0) return 0;
  struct probe_tally t = {0};
  static char path[4200];
  dot_path(path, 4100);
  note_answer(&t, "4100-byte path",
              syscall3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0));
  /* 4095 bytes and the NUL: the longest a kernel accepts. */
  dot_path(path, 4095);
  note_answer(&t, "4095-byte path",
              syscall3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0));
  /* A 300-byte name. */
  memset(path, 'n', 300);
  path[300] = 0;
  note_answer(&t, "300-byte name",
              syscall3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0));
  syscall1(SYS_unlink, (long)kFile);
  return probe_tally_report(id, &t);
}

static int case_wild_pointer(const char *id) {
  struct probe_tally t = {0};
  /* A page freshly unmapped, and a page of 'a' with no NUL followed by
   * one. */
  long pages = syscall6(SYS_mmap, 0, 2 * 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pages >= 0) {
    memset((void *)pages, 'a', 4096);
    syscall2(SYS_munmap, pages + 4096, 4096);
  }
  const struct {
    const char *label;
    long pointer;
  } kCases[] = {
      {"pointer 1", 1},
      {"unmapped page", pages >= 0 ? pages + 4096 : 0x10},
      {"non-canonical", (long)0x0000800000000000UL},
      {"kernel address", (long)0xffffffff81000000UL},
      {"no NUL before an unmapped page", pages >= 0 ? pages : 0x20},
      {"NULL", 0},
  };
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    note_answer(&t, kCases[i].label,
                syscall3(SYS_open, kCases[i].pointer, O_RDONLY | O_CLOEXEC, 0));
  }
  if (pages >= 0) syscall2(SYS_munmap, pages, 4096);
  return probe_tally_report(id, &t);
}

/* The child: opens the FIFO for writing, non-blocking, until the parent's
 * blocking read open lets it (ENXIO until then), for 2 s at most. */
static void fifo_writer(void) {
  long deadline = probe_clock_ns(CLOCK_MONOTONIC) + 2000L * 1000 * 1000;
  while (probe_clock_ns(CLOCK_MONOTONIC) < deadline) {
    long fd =
        syscall3(SYS_open, (long)kFifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd >= 0) {
      syscall1(SYS_close, fd);
      rt_exit(0);
    }
    if (fd != -ENXIO) rt_exit((int)-fd);
    probe_sleep_ms(10);
  }
  rt_exit(ETIMEDOUT);
}

static int case_fifo(const char *id) {
  struct probe_tally t = {0};
  syscall1(SYS_unlink, (long)kFifo);
  long r = syscall4(SYS_mknodat, AT_FDCWD, (long)kFifo, PROBE_S_IFIFO | 0600,
                    0);
  if (r == 0) {
    long pid = syscall0(SYS_fork);
    if (pid == 0) fifo_writer();
    if (pid > 0) {
      note_answer(&t, "blocking read open of a FIFO",
                  syscall3(SYS_open, (long)kFifo, O_RDONLY | O_CLOEXEC, 0));
      int status = 0;
      probe_wait(pid, &status);
    } else {
      note_answer(&t, "fork", pid);
    }
    note_answer(&t, "non-blocking read open",
                syscall3(SYS_open, (long)kFifo,
                         O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0));
    syscall1(SYS_unlink, (long)kFifo);
    return probe_tally_report(id, &t);
  }
  note_answer(&t, "mknodat S_IFIFO", r);
  int pipe_fds[2];
  r = syscall2(SYS_pipe2, (long)pipe_fds, O_CLOEXEC);
  if (r != 0) {
    note_answer(&t, "pipe2", r);
    return probe_tally_report(id, &t);
  }
  char path[48];
  rt_snprintf(path, sizeof(path), "/proc/self/fd/%d", pipe_fds[0]);
  note_answer(&t, "read open of a pipe by /proc/self/fd",
              syscall3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0));
  rt_snprintf(path, sizeof(path), "/proc/self/fd/%d", pipe_fds[1]);
  note_answer(&t, "write open of a pipe by /proc/self/fd",
              syscall3(SYS_open, (long)path, O_WRONLY | O_CLOEXEC, 0));
  syscall1(SYS_close, pipe_fds[0]);
  syscall1(SYS_close, pipe_fds[1]);
  return probe_tally_report(id, &t);
}

static const struct probe_case kCases[] = {
    {"o-path", case_o_path},
    {"emfile", case_emfile},
    {"long-path", case_long_path},
    {"wild-pointer", case_wild_pointer},
    {"fifo", case_fifo},
};

int main(int argc, char **argv, char **envp) {
  (void)envp;
  return probe_run_case("checked-call", argc, argv, kCases,
                        sizeof(kCases) / sizeof(kCases[0]), NULL);
}
