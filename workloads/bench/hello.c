/* hello [CODE]: prints a greeting and a RESULT line, exits with CODE
 * (0..255, default 0). */
#include "workloads/bench/bench.h"

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t code = 0;
  if (argc > 2 ||
      (argc == 2 && (rt_parse_u64(argv[1], &code) != 0 || code > 255))) {
    rt_eprintf("usage: hello [CODE]  (CODE: exit status 0..255)\n");
    return BENCH_EXIT_USAGE;
  }
  rt_printf("hello from isoscope\nRESULT hello code=%lu\n", code);
  return (int)code;
}
