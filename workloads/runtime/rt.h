/* isoscope workload runtime: a freestanding replacement for the few parts of
 * libc the built-in workloads need. No floating point, no SSE: every program
 * built on it must run in the KVM backend's guest (see
 * ../shared/docs/host-facts.md). */
#ifndef ISOSCOPE_WORKLOADS_RUNTIME_RT_H_
#define ISOSCOPE_WORKLOADS_RUNTIME_RT_H_

typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned short uint16_t;
typedef unsigned char uint8_t;
typedef unsigned long uintptr_t;

#define NULL ((void *)0)

/* ---- x86-64 syscall numbers used by the workloads ---- */
enum {
  SYS_read = 0,
  SYS_write = 1,
  SYS_open = 2,
  SYS_close = 3,
  SYS_lseek = 8,
  SYS_mmap = 9,
  SYS_munmap = 11,
  SYS_brk = 12,
  SYS_rt_sigaction = 13,
  SYS_rt_sigreturn = 15,
  SYS_getuid = 102,
  SYS_geteuid = 107,
  SYS_getpid = 39,
  SYS_fork = 57,
  SYS_execve = 59,
  SYS_exit = 60,
  SYS_wait4 = 61,
  SYS_uname = 63,
  SYS_fsync = 74,
  SYS_mknod = 133,
  SYS_getppid = 110,
  SYS_prctl = 157,
  SYS_settimeofday = 164,
  SYS_mount = 165,
  SYS_umount2 = 166,
  SYS_reboot = 169,
  SYS_sethostname = 170,
  SYS_kexec_load = 246,
  SYS_readlink = 89,
  SYS_unlink = 87,
  SYS_unshare = 272,
  SYS_perf_event_open = 298,
  SYS_open_by_handle_at = 304,
  SYS_finit_module = 313,
  SYS_bpf = 321,
  SYS_userfaultfd = 323,
  SYS_exit_group = 231,
  /* used by the canary, tampering and resource probes */
  SYS_stat = 4,
  SYS_poll = 7,
  SYS_pwrite64 = 18,
  SYS_shmget = 29,
  SYS_shmat = 30,
  SYS_nanosleep = 35,
  SYS_socket = 41,
  SYS_connect = 42,
  SYS_getsockopt = 55,
  SYS_kill = 62,
  SYS_shmdt = 67,
  SYS_chdir = 80,
  SYS_fchdir = 81,
  SYS_mkdir = 83,
  SYS_ptrace = 101,
  SYS_pivot_root = 155,
  SYS_chroot = 161,
  SYS_clock_gettime = 228,
  SYS_unlinkat = 263,
  SYS_setns = 308,
  SYS_process_vm_writev = 311,
  /* used by the containment-class probes (magic links, checked arguments,
   * identity, pathless opens, namespace flags) */
  SYS_fstat = 5,
  SYS_mprotect = 10,
  SYS_pread64 = 17,
  SYS_sched_yield = 24,
  SYS_sendto = 44,
  SYS_clone = 56,
  SYS_getcwd = 79,
  SYS_symlink = 88,
  SYS_getgid = 104,
  SYS_setuid = 105,
  SYS_setgid = 106,
  SYS_getegid = 108,
  SYS_capget = 125,
  SYS_capset = 126,
  SYS_getdents64 = 217,
  SYS_openat = 257,
  SYS_mknodat = 259,
  SYS_pipe2 = 293,
  SYS_name_to_handle_at = 303,
  SYS_pidfd_send_signal = 424,
  SYS_io_uring_setup = 425,
  SYS_io_uring_enter = 426,
  SYS_pidfd_open = 434,
  SYS_clone3 = 435,
};

/* ---- errno values (the ones the probes name) ---- */
enum {
  EPERM = 1,
  ENOENT = 2,
  ESRCH = 3,
  EINTR = 4,
  EIO = 5,
  EBADF = 9,
  ECHILD = 10,
  EAGAIN = 11,
  ENOMEM = 12,
  EACCES = 13,
  EFAULT = 14,
  EBUSY = 16,
  EEXIST = 17,
  ENODEV = 19,
  ENOTDIR = 20,
  EINVAL = 22,
  ENOSPC = 28,
  EROFS = 30,
  ENOSYS = 38,
  EOPNOTSUPP = 95,
  EFBIG = 27,
  EAFNOSUPPORT = 97,
  ENETUNREACH = 101,
  ETIMEDOUT = 110,
  ECONNREFUSED = 111,
  EHOSTUNREACH = 113,
  EINPROGRESS = 115,
  EDQUOT = 122,
  ENXIO = 6,
  EXDEV = 18,
  ENFILE = 23,
  EMFILE = 24,
  ENAMETOOLONG = 36,
  ELOOP = 40,
  EADDRNOTAVAIL = 99,
  ESTALE = 116,
};

enum {
  O_RDONLY = 0,
  O_WRONLY = 1,
  O_RDWR = 2,
  O_CREAT = 0100,
  O_EXCL = 0200,
  O_NONBLOCK = 04000,
  O_NOFOLLOW = 0400000,
  O_PATH = 010000000,
  O_TRUNC = 01000,
  O_DIRECTORY = 0200000,
  O_CLOEXEC = 02000000,
};

enum {
  PROT_NONE = 0,
  PROT_READ = 1,
  PROT_WRITE = 2,
  MAP_SHARED = 0x01,
  MAP_PRIVATE = 0x02,
  MAP_POPULATE = 0x8000,
  MAP_ANONYMOUS = 0x20,
};
#define MAP_FAILED ((void *)-1)

/* ---- raw syscalls: return the kernel's value (-errno on failure) ---- */
static inline long syscall0(long n) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
  return r;
}
static inline long syscall1(long n, long a) {
  long r;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a)
                   : "rcx", "r11", "memory");
  return r;
}
static inline long syscall2(long n, long a, long b) {
  long r;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b)
                   : "rcx", "r11", "memory");
  return r;
}
static inline long syscall3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return r;
}
static inline long syscall4(long n, long a, long b, long c, long d) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return r;
}
static inline long syscall5(long n, long a, long b, long c, long d, long e) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return r;
}
static inline long syscall6(long n, long a, long b, long c, long d, long e,
                            long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}

/* ---- process start-up state (filled in by _start) ---- */
extern int rt_argc;
extern char **rt_argv;
extern char **rt_envp;
extern unsigned long *rt_auxv; /* pairs of (type, value), ends with AT_NULL */

/* The program's entry point, called by the runtime's _start. Its return
 * value is the exit status. */
int main(int argc, char **argv, char **envp);

/* ---- process ---- */
__attribute__((noreturn)) void rt_exit(int status);
const char *rt_getenv(const char *name);
unsigned long rt_getauxval(unsigned long type);

/* ---- memory and strings (memcpy & co. are also what gcc calls) ---- */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t rt_strlcpy(char *dst, const char *src, size_t size);

/* ---- integer parsing: 0 on success, -1 on anything but a full number ---- */
int rt_parse_u64(const char *s, uint64_t *out); /* decimal or 0x hex */
int rt_parse_i64(const char *s, int64_t *out);  /* optional leading '-' */

/* ---- formatted output: %d %i %u %ld %li %lu %x %lx %s %c %p %%, with
 * optional '-' flag, '0' flag and width. Returns bytes written or -errno. --*/
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_dprintf(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes all of buf, retrying short writes and EINTR. */
long rt_write_all(int fd, const void *buf, size_t n);
/* Name of an errno value ("EPERM"), or "E?" if unknown. */
const char *rt_errname(long err);

/* ---- signals: a handler installed with SA_SIGINFO and the runtime's own
 * sa_restorer (rt_sigreturn_restorer, in start.S) ---- */
enum {
  SIGILL = 4,
  SIGTRAP = 5,
  SIGBUS = 7,
  SIGFPE = 8,
  SIGSEGV = 11,
  SIGSYS = 31,
};
struct rt_siginfo {
  int si_signo;
  int si_errno;
  int si_code;
  int pad;
  unsigned long si_addr; /* faulting address for SIGSEGV/SIGBUS */
  unsigned long rest[14];
};
typedef void (*rt_sighandler)(int sig, struct rt_siginfo *info, void *uc);
/* Returns 0 or -errno. */
long rt_sigaction_handler(int sig, rt_sighandler handler);
/* The saved RIP in a handler's ucontext_t (uc_mcontext.gregs[REG_RIP]). */
#define RT_UCONTEXT_RIP(uc) (*(unsigned long *)((char *)(uc) + 168))

/* ---- allocator: small blocks from brk, large ones from mmap ---- */
void *rt_malloc(size_t n);
void rt_free(void *p);

#endif /* ISOSCOPE_WORKLOADS_RUNTIME_RT_H_ */
