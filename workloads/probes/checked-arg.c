/* probe checked-arg CASE: changes a path after a sandbox may have checked
 * it and before the kernel uses it. The probe creates a file in its workdir
 * (allowed) and, for one second, opens a path buffer in a loop while a
 * flipper rewrites that buffer between the allowed file's path and the
 * secret canary's ($ISOSCOPE_CANARY_SECRET):
 *
 *   thread-flip   a second thread stores into the buffer
 *   shared-flip   a forked child stores into a MAP_SHARED buffer
 *   proc-mem      a thread writes through a writable handle on its own
 *                 memory (/proc/self/mem, /proc/<pid>/mem, a symlink to it,
 *                 openat of "mem" in /proc/self), into a read-only page,
 *                 and also over every copy of the allowed path it finds in
 *                 its other read-only anonymous or shared mappings of up
 *                 to 8 MiB
 *                 (where a supervisor may keep its checked copy; detail
 *                 `copies=N`)
 *   vm-writev     a thread writes with process_vm_writev on itself
 *
 * Every descriptor opened is compared (fstat) with the allowed file; one
 * that is another file is read (64 bytes, never printed). Another file
 * opened: ESCAPED (the runner confirms a read of the secret); the flipper
 * could not run (no thread, no handle on its memory: EPERM, EACCES, ENOSYS):
 * BLOCKED; only the allowed file or refusals: BLOCKED. Bounded: one second
 * of opening, the flipper stops with it. */
#include "workloads/probes/probe.h"

enum {
  kRaceNs = 1000L * 1000 * 1000,
  kPathMax = 512,
  kStackSize = 64 * 1024,
  kMaxCopies = 16,
  CLONE_VM = 0x100,
  CLONE_FS = 0x200,
  CLONE_FILES = 0x400,
  CLONE_SIGHAND = 0x800,
  CLONE_THREAD = 0x10000,
  CLONE_SYSVSEM = 0x40000,
  kThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                 CLONE_THREAD | CLONE_SYSVSEM,
};

/* probe_clone_thread(flags, stack_top, fn, arg): clone whose child calls
 * fn(arg) on the new stack, then exits (the thread only). Returns the tid
 * or -errno in the parent. */
long probe_clone_thread(long flags, void *stack_top, void (*fn)(void *),
                        void *arg);
__asm__(
    ".text\n"
    ".globl probe_clone_thread\n"
    ".type probe_clone_thread,@function\n"
    "probe_clone_thread:\n"
    "  and $-16, %rsi\n"
    "  sub $16, %rsi\n"
    "  mov %rdx, (%rsi)\n"
    "  mov %rcx, 8(%rsi)\n"
    "  mov $56, %eax\n" /* clone(flags, stack, NULL, NULL, 0) */
    "  xor %edx, %edx\n"
    "  xor %r10d, %r10d\n"
    "  xor %r8d, %r8d\n"
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    "  pop %rax\n"
    "  pop %rdi\n"
    "  call *%rax\n"
    "  mov $60, %eax\n" /* exit(0): this thread only */
    "  xor %edi, %edi\n"
    "  syscall\n"
    "  hlt\n"
    "1:\n"
    "  ret\n"
    ".size probe_clone_thread, .-probe_clone_thread\n");

static struct probe_secret secret;
static char allowed[kPathMax]; /* absolute, at least as long as the secret */
static size_t allowed_len;
static size_t secret_len;
static struct probe_stat allowed_st;
static char *target; /* what the opener passes to open() */
static volatile int stop;
static volatile int flipper_done;
static volatile long flips;
static long flipper_errno;
static long mem_fd = -1;  /* proc-mem: the writable handle */
static long maps_fd = -1; /* proc-mem: /proc/self/maps */
static unsigned long copies[kMaxCopies];
static int copy_count;
static int copies_seen; /* the most found in one scan */
static unsigned char stack[kStackSize] __attribute__((aligned(16)));

/* The allowed file: "<cwd>/isoscope-probe-allowed-xx…" padded to the
 * secret's length, so either path fits in the buffer and in any copy. */
static int make_allowed(const char *id) {
  char cwd[kPathMax / 2];
  long r = syscall2(SYS_getcwd, (long)cwd, sizeof(cwd));
  char detail[96];
  if (r < 0) {
    rt_snprintf(detail, sizeof(detail), "getcwd errno=%s", rt_errname(r));
    probe_report(id, "NA", detail);
    return -1;
  }
  secret_len = strlen(secret.path);
  allowed_len = (size_t)rt_snprintf(allowed, sizeof(allowed),
                                    "%s/isoscope-probe-allowed-", cwd);
  while (allowed_len < secret_len && allowed_len + 1 < sizeof(allowed)) {
    allowed[allowed_len++] = 'x';
  }
  allowed[allowed_len] = 0;
  if (secret_len >= kPathMax / 2 || allowed_len + 1 >= sizeof(allowed)) {
    probe_report(id, "NA", "paths too long");
    return -1;
  }
  long fd = syscall3(SYS_open, (long)allowed,
                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rt_snprintf(detail, sizeof(detail), "creating the allowed file: errno=%s",
                rt_errname(fd));
    probe_report(id, "NA", detail);
    return -1;
  }
  rt_write_all((int)fd, "allowed\n", 8);
  r = syscall2(SYS_fstat, fd, (long)&allowed_st);
  syscall1(SYS_close, fd);
  if (r != 0) {
    rt_snprintf(detail, sizeof(detail), "fstat errno=%s", rt_errname(r));
    probe_report(id, "NA", detail);
    return -1;
  }
  return 0;
}

struct tally {
  long opens;
  long same; /* the allowed file */
  long other;
  long refused; /* EACCES/EPERM */
  long failed;  /* other errnos: torn strings (ENOENT) and the like */
};

/* Opens `target` in a loop for kRaceNs, then sets `stop`. */
static void open_loop(struct tally *t) {
  long deadline = probe_clock_ns(CLOCK_MONOTONIC) + kRaceNs;
  do {
    for (int i = 0; i < 32; i++) {
      long fd = syscall3(SYS_open, (long)target, O_RDONLY | O_CLOEXEC, 0);
      t->opens++;
      if (fd < 0) {
        if (fd == -EACCES || fd == -EPERM) {
          t->refused++;
        } else {
          t->failed++;
        }
        continue;
      }
      struct probe_stat st;
      if (syscall2(SYS_fstat, fd, (long)&st) == 0 &&
          st.st_dev == allowed_st.st_dev && st.st_ino == allowed_st.st_ino) {
        t->same++;
      } else {
        char buf[64];
        syscall3(SYS_read, fd, (long)buf, sizeof(buf));
        t->other++;
      }
      syscall1(SYS_close, fd);
    }
  } while (probe_clock_ns(CLOCK_MONOTONIC) < deadline);
  stop = 1;
}

static int report(const char *id, const struct tally *t, const char *how) {
  char detail[256];
  rt_snprintf(detail, sizeof(detail),
              "%s: opens=%ld allowed=%ld other=%ld refused=%ld failed=%ld "
              "flips=%ld copies=%d",
              how, t->opens, t->same, t->other, t->refused, t->failed, flips,
              copies_seen);
  if (t->other > 0) return probe_report(id, "ESCAPED", detail);
  if (flips == 0) {
    /* The flipper's stores never reached the opener (no shared memory
     * between processes, as in a VM that runs one at a time). */
    char why[300];
    rt_snprintf(why, sizeof(why), "the flipper changed nothing the opener "
                "sees: %s", detail);
    return probe_report(id, "NA", why);
  }
  if (t->same == 0 && t->refused == 0) return probe_report(id, "NA", detail);
  return probe_report(id, "BLOCKED", detail);
}

/* Waits (bounded) for the flipper thread to say it is done. */
static void join_flipper(void) {
  long deadline = probe_clock_ns(CLOCK_MONOTONIC) + kRaceNs;
  while (!flipper_done && probe_clock_ns(CLOCK_MONOTONIC) < deadline) {
    syscall0(SYS_sched_yield);
  }
}

/* Starts `flipper` as a thread, runs the opener, joins. */
static int race_with_thread(const char *id, void (*flipper)(void *),
                            const char *how) {
  long tid = probe_clone_thread(kThreadFlags, stack + sizeof(stack), flipper,
                                NULL);
  if (tid < 0) {
    char detail[96];
    rt_snprintf(detail, sizeof(detail), "no second thread: clone errno=%s",
                rt_errname(tid));
    return probe_report(id,
                        tid == -ENOSYS || tid == -EPERM || tid == -EAGAIN
                            ? "BLOCKED"
                            : "NA",
                        detail);
  }
  struct tally t = {0};
  open_loop(&t);
  join_flipper();
  if (flipper_errno != 0 && flips == 0) {
    char detail[128];
    rt_snprintf(detail, sizeof(detail), "%s: the flipper's write failed: %s",
                how, rt_errname(flipper_errno));
    return probe_report(id,
                        flipper_errno == -EPERM || flipper_errno == -EACCES ||
                                flipper_errno == -ENOSYS ||
                                flipper_errno == -EFAULT
                            ? "BLOCKED"
                            : "NA",
                        detail);
  }
  return report(id, &t, how);
}

/* ---- thread-flip ---- */
static void flip_store(void *arg) {
  (void)arg;
  while (!stop) {
    memcpy(target, secret.path, secret_len + 1);
    memcpy(target, allowed, allowed_len + 1);
    flips++;
  }
  flipper_done = 1;
}

static int case_thread_flip(const char *id) {
  static char buffer[kPathMax];
  target = buffer;
  memcpy(target, allowed, allowed_len + 1);
  return race_with_thread(id, flip_store, "a second thread stores");
}

/* ---- shared-flip ---- */
struct shared {
  char path[kPathMax];
  volatile int stop;
  volatile long flips;
};

static int case_shared_flip(const char *id) {
  struct shared *sh = (struct shared *)syscall6(
      SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
      -1, 0);
  char detail[96];
  if ((long)sh < 0) {
    rt_snprintf(detail, sizeof(detail), "mmap MAP_SHARED errno=%s",
                rt_errname((long)sh));
    return probe_report(id, "NA", detail);
  }
  memcpy(sh->path, allowed, allowed_len + 1);
  long pid = syscall0(SYS_fork);
  if (pid == 0) {
    /* Stops on the parent's word or, should the parent be gone, by itself. */
    long deadline = probe_clock_ns(CLOCK_MONOTONIC) + kRaceNs + kRaceNs / 2;
    while (!sh->stop) {
      for (int i = 0; i < 256; i++) {
        memcpy(sh->path, secret.path, secret_len + 1);
        memcpy(sh->path, allowed, allowed_len + 1);
      }
      sh->flips += 256;
      if (probe_clock_ns(CLOCK_MONOTONIC) > deadline) break;
    }
    rt_exit(0);
  }
  if (pid < 0) {
    rt_snprintf(detail, sizeof(detail), "fork errno=%s", rt_errname(pid));
    return probe_report(id, pid == -EPERM || pid == -ENOSYS ? "BLOCKED" : "NA",
                        detail);
  }
  target = sh->path;
  struct tally t = {0};
  open_loop(&t);
  sh->stop = 1;
  int status = 0;
  probe_wait(pid, &status);
  flips = sh->flips;
  return report(id, &t, "a forked child stores into a shared mapping");
}

/* ---- proc-mem ---- */

static const char *parse_hex(const char *p, unsigned long *value) {
  *value = 0;
  while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')) {
    *value = *value * 16 + (unsigned long)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
    p++;
  }
  return p;
}

/* Finds the copies of the allowed path in the read-only anonymous or shared
 * mappings (other than the target's page), reading them through mem_fd. */
static void find_copies(void) {
  static char maps[16384];
  static char chunk[4096];
  if (syscall3(SYS_lseek, maps_fd, 0, 0) != 0) return;
  long n = 0;
  while (n + 1 < (long)sizeof(maps)) {
    long r = syscall3(SYS_read, maps_fd, (long)(maps + n),
                      (long)(sizeof(maps) - 1 - n));
    if (r <= 0) break;
    n += r;
  }
  maps[n] = 0;
  copy_count = 0;
  for (char *line = maps; *line != 0 && copy_count < kMaxCopies;) {
    char *end = strchr(line, '\n');
    if (end != NULL) *end = 0;
    /* "start-end perms offset dev inode [name]" */
    unsigned long start = 0, stop_addr = 0;
    const char *p = parse_hex(line, &start);
    int ok = *p == '-';
    if (ok) p = parse_hex(p + 1, &stop_addr);
    ok = ok && *p == ' ';
    const char *perms = p + 1;
    /* Anonymous: inode 0 and no name, i.e. the line ends in " 0" plus
     * padding; or any shared mapping (a supervisor may write its copies
     * through the object behind one). */
    size_t len = strlen(line);
    while (len > 0 && line[len - 1] == ' ') len--;
    int anonymous = len >= 2 && line[len - 1] == '0' && line[len - 2] == ' ';
    int shared = perms[3] == 's';
    if (ok && perms[0] == 'r' && perms[1] == '-' && (anonymous || shared) &&
        stop_addr > start && stop_addr - start <= (8UL << 20) &&
        ((unsigned long)target < start || (unsigned long)target >= stop_addr)) {
      for (unsigned long a = start; a < stop_addr && copy_count < kMaxCopies;
           a += sizeof(chunk) - kPathMax) {
        long r = syscall4(SYS_pread64, mem_fd, (long)chunk, sizeof(chunk),
                          (long)a);
        if (r <= (long)allowed_len) break;
        for (long i = 0; i + (long)allowed_len < r; i++) {
          if (memcmp(chunk + i, allowed, allowed_len + 1) == 0 &&
              copy_count < kMaxCopies) {
            copies[copy_count++] = a + (unsigned long)i;
          }
        }
      }
    }
    if (end == NULL) break;
    line = end + 1;
  }
  if (copy_count > copies_seen) copies_seen = copy_count;
}

static void flip_mem(void *arg) {
  (void)arg;
  while (!stop) {
    if ((flips & 255) == 0 && maps_fd >= 0) find_copies();
    long r = syscall4(SYS_pwrite64, mem_fd, (long)secret.path,
                      (long)(secret_len + 1), (long)target);
    for (int i = 0; i < copy_count; i++) {
      syscall4(SYS_pwrite64, mem_fd, (long)secret.path, (long)(secret_len + 1),
               (long)copies[i]);
    }
    syscall4(SYS_pwrite64, mem_fd, (long)allowed, (long)(allowed_len + 1),
             (long)target);
    if (r < 0) {
      flipper_errno = r;
      break;
    }
    flips++;
  }
  flipper_done = 1;
}

static int case_proc_mem(const char *id) {
  char *page = (char *)syscall6(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if ((long)page < 0) return probe_report(id, "NA", "mmap failed");
  memcpy(page, allowed, allowed_len + 1);
  syscall3(SYS_mprotect, (long)page, 4096, PROT_READ);
  target = page;

  /* A writable handle on its own memory, by whatever path opens. */
  struct probe_tally tries = {0};
  char path[64];
  char note[96];
  rt_snprintf(path, sizeof(path), "/proc/%ld/mem", syscall0(SYS_getpid));
  const char *paths[] = {"/proc/self/mem", "/proc/thread-self/mem", path};
  for (size_t i = 0; i < 3 && mem_fd < 0; i++) {
    long fd = syscall3(SYS_open, (long)paths[i], O_RDWR | O_CLOEXEC, 0);
    if (fd >= 0) {
      mem_fd = fd;
      break;
    }
    rt_snprintf(note, sizeof(note), "%s: errno=%s", paths[i], rt_errname(fd));
    probe_tally_add(&tries, probe_path_refused(fd) ? "BLOCKED" : "NA", note);
  }
  if (mem_fd < 0) {
    long dir = syscall3(SYS_open, (long)"/proc/self", O_RDONLY | O_DIRECTORY,
                        0);
    long fd = dir < 0 ? dir
                      : syscall4(SYS_openat, dir, (long)"mem",
                                 O_RDWR | O_CLOEXEC, 0);
    if (dir >= 0) syscall1(SYS_close, dir);
    if (fd >= 0) {
      mem_fd = fd;
    } else {
      rt_snprintf(note, sizeof(note), "openat(/proc/self, mem): errno=%s",
                  rt_errname(fd));
      probe_tally_add(&tries, probe_path_refused(fd) ? "BLOCKED" : "NA", note);
    }
  }
  if (mem_fd < 0) {
    const char *link = "isoscope-probe-mem";
    syscall1(SYS_unlink, (long)link);
    long r = syscall2(SYS_symlink, (long)"/proc/self/mem", (long)link);
    long fd = r < 0 ? r : syscall3(SYS_open, (long)link, O_RDWR | O_CLOEXEC, 0);
    if (r == 0) syscall1(SYS_unlink, (long)link);
    if (fd >= 0) {
      mem_fd = fd;
    } else {
      rt_snprintf(note, sizeof(note), "symlink to /proc/self/mem: errno=%s",
                  rt_errname(fd));
      probe_tally_add(&tries, probe_path_refused(fd) ? "BLOCKED" : "NA", note);
    }
  }
  if (mem_fd < 0) {
    char detail[720];
    rt_snprintf(detail, sizeof(detail),
                "no writable handle on its own memory: %s", tries.detail);
    return probe_report(id, tries.na > 0 && tries.blocked == 0 ? "NA"
                                                                : "BLOCKED",
                        detail);
  }
  maps_fd = syscall3(SYS_open, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC,
                     0);
  return race_with_thread(
      id, flip_mem, "a thread writes via /proc/self/mem (read-only page)");
}

/* ---- vm-writev ---- */
struct iovec_ {
  const void *base;
  size_t len;
};

static long vm_write(const char *src, size_t len) {
  struct iovec_ local = {src, len};
  struct iovec_ remote = {target, len};
  return syscall6(SYS_process_vm_writev, syscall0(SYS_getpid), (long)&local, 1,
                  (long)&remote, 1, 0);
}

static void flip_vm_writev(void *arg) {
  (void)arg;
  while (!stop) {
    long r = vm_write(secret.path, secret_len + 1);
    vm_write(allowed, allowed_len + 1);
    if (r < 0) {
      flipper_errno = r;
      break;
    }
    flips++;
  }
  flipper_done = 1;
}

static int case_vm_writev(const char *id) {
  static char buffer[kPathMax];
  target = buffer;
  memcpy(target, allowed, allowed_len + 1);
  /* A first write of what is there already, so a refusal is reported
   * before any thread starts. */
  long r = vm_write(allowed, allowed_len + 1);
  if (r < 0) {
    char detail[96];
    rt_snprintf(detail, sizeof(detail), "process_vm_writev errno=%s",
                rt_errname(r));
    return probe_report(id,
                        r == -EPERM || r == -EACCES || r == -ENOSYS ||
                                r == -ESRCH
                            ? "BLOCKED"
                            : "NA",
                        detail);
  }
  return race_with_thread(id, flip_vm_writev,
                          "a thread writes with process_vm_writev");
}

static const struct probe_case kCases[] = {
    {"thread-flip", case_thread_flip},
    {"shared-flip", case_shared_flip},
    {"proc-mem", case_proc_mem},
    {"vm-writev", case_vm_writev},
};

static int setup(const char *id) {
  if (probe_secret_canary(id, &secret) != 0) return -1;
  return make_allowed(id);
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  int status = probe_run_case("checked-arg", argc, argv, kCases,
                              sizeof(kCases) / sizeof(kCases[0]), setup);
  if (allowed_len > 0) syscall1(SYS_unlink, (long)allowed);
  return status;
}
