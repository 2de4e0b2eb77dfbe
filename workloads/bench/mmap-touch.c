/* mmap-touch [N]: maps N anonymous pages, writes one word in each, reads them
 * all back, unmaps. Measures page-fault handling. */
#include "workloads/bench/bench.h"

#define PAGE 4096UL

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t n = bench_count_arg(argc, argv, "mmap-touch", 1024, 1UL << 24);
  int ok = 1;
  if (n > 0) {
    long addr = syscall6(SYS_mmap, 0, (long)(n * PAGE), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addr < 0) {
      rt_eprintf("mmap-touch: mmap of %lu pages: %s\n", n, rt_errname(addr));
      ok = 0;
    } else {
      volatile uint64_t *base = (volatile uint64_t *)addr;
      for (uint64_t i = 0; i < n; i++) base[i * (PAGE / 8)] = i + 1;
      for (uint64_t i = 0; i < n; i++) {
        if (base[i * (PAGE / 8)] != i + 1) ok = 0;
      }
      if (syscall2(SYS_munmap, addr, (long)(n * PAGE)) != 0) ok = 0;
    }
  }
  rt_printf("RESULT mmap-touch n=%lu ok=%d\n", n, ok);
  return ok ? 0 : 1;
}
