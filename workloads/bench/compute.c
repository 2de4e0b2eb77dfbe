/* compute [N]: N rounds of integer hashing (xorshift64 fed through FNV-1a),
 * no syscalls in the loop. The hash depends only on N. */
#include "workloads/bench/bench.h"

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t n = bench_count_arg(argc, argv, "compute", 1000000, 1000000000000UL);
  uint64_t x = 0x9e3779b97f4a7c15UL;
  uint64_t hash = 0xcbf29ce484222325UL; /* FNV-1a offset basis */
  for (uint64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (int b = 0; b < 8; b++) {
      hash ^= (x >> (8 * b)) & 0xff;
      hash *= 0x100000001b3UL; /* FNV prime */
    }
  }
  rt_printf("RESULT compute n=%lu hash=0x%016lx\n", n, hash);
  return 0;
}
