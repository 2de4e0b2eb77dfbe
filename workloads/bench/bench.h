/* Shared by the bench workloads: argument parsing and the usage exit. */
#ifndef ISOSCOPE_WORKLOADS_BENCH_BENCH_H_
#define ISOSCOPE_WORKLOADS_BENCH_BENCH_H_

#include "workloads/runtime/rt.h"

/* Exit status for bad arguments (the bench workloads' usage error). */
#define BENCH_EXIT_USAGE 2

/* Parses the optional count argument of "NAME [N]": N defaults to dflt and
 * must be a decimal number in [0, max]. Exits with a usage message on
 * stderr otherwise. */
static inline uint64_t bench_count_arg(int argc, char **argv, const char *name,
                                       uint64_t dflt, uint64_t max) {
  uint64_t n = dflt;
  if (argc > 2 || (argc == 2 && (rt_parse_u64(argv[1], &n) != 0 || n > max))) {
    rt_eprintf("usage: %s [N]  (N: 0..%lu, default %lu)\n", name, max, dflt);
    rt_exit(BENCH_EXIT_USAGE);
  }
  return n;
}

#endif /* ISOSCOPE_WORKLOADS_BENCH_BENCH_H_ */
