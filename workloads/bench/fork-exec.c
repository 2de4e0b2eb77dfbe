/* fork-exec [N]: N times fork, execve the `startup` workload found beside
 * this program, and wait4 for it; ok=1 when every child exited 0. */
#include "workloads/bench/bench.h"

/* Directory of this program: from argv[0] if it has a slash, else from
 * /proc/self/exe. */
static int self_dir(const char *argv0, char *out, size_t size) {
  if (argv0 != NULL && strchr(argv0, '/') != NULL) {
    if (rt_strlcpy(out, argv0, size) >= size) return -1;
  } else {
    long n = syscall3(SYS_readlink, (long)"/proc/self/exe", (long)out,
                      (long)size - 1);
    if (n <= 0) return -1;
    out[n] = 0;
  }
  *strrchr(out, '/') = 0;
  if (out[0] == 0) rt_strlcpy(out, "/", size);
  return 0;
}

int main(int argc, char **argv, char **envp) {
  uint64_t n = bench_count_arg(argc, argv, "fork-exec", 10, 1000000);
  char path[4096];
  if (self_dir(argv[0], path, sizeof(path) - 16) != 0) {
    rt_eprintf("fork-exec: cannot find my own directory\n");
    return 1;
  }
  size_t len = strlen(path);
  rt_strlcpy(path + len, "/startup", sizeof(path) - len);
  char *child_argv[] = {path, NULL};

  int ok = 1;
  for (uint64_t i = 0; i < n && ok; i++) {
    long pid = syscall0(SYS_fork);
    if (pid == 0) {
      syscall3(SYS_execve, (long)path, (long)child_argv, (long)envp);
      rt_exit(127);
    }
    if (pid < 0) {
      rt_eprintf("fork-exec: fork: %s\n", rt_errname(pid));
      ok = 0;
      break;
    }
    int status = -1;
    long r;
    do {
      r = syscall4(SYS_wait4, pid, (long)&status, 0, 0);
    } while (r == -EINTR);
    if (r != pid || status != 0) { /* status 0: exited with code 0 */
      rt_eprintf("fork-exec: %s: wait4=%ld status=0x%x\n", path, r, status);
      ok = 0;
    }
  }
  rt_printf("RESULT fork-exec n=%lu ok=%d\n", n, ok);
  return ok ? 0 : 1;
}
