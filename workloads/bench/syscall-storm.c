/* syscall-storm [N]: N calls of getppid, the cheapest syscall that is never
 * answered from the vDSO. ok=1 when every call gave the same answer. */
#include "workloads/bench/bench.h"

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t n =
      bench_count_arg(argc, argv, "syscall-storm", 100000, 1000000000000UL);
  long first = syscall0(SYS_getppid);
  int ok = first >= 0;
  for (uint64_t i = 0; i < n; i++) {
    if (syscall0(SYS_getppid) != first) ok = 0;
  }
  rt_printf("RESULT syscall-storm n=%lu ok=%d\n", n, ok);
  return ok ? 0 : 1;
}
