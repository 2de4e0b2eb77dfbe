/* Shared by the KVM backend's hostile test guests (see CMakeLists.txt): a few
 * syscall numbers the runtime lacks, argument parsing and result printing.
 * Every guest prints what it observed and ends with an exit status of its
 * own, so kvm_backend_test can assert each outcome precisely. */
#ifndef ISOSCOPE_BACKENDS_KVM_TEST_GUESTS_GUEST_H_
#define ISOSCOPE_BACKENDS_KVM_TEST_GUESTS_GUEST_H_

#include "workloads/runtime/rt.h"

enum {
  GUEST_SYS_getcwd = 79,
  GUEST_SYS_openat = 257,
  GUEST_AT_FDCWD = -100,
  GUEST_CLOCK_MONOTONIC = 1,
};

/* Exit status of a guest whose hostile instruction did not end the run
 * (each guest has its own, so a test sees which one survived). */
enum {
  GUEST_EXIT_USAGE = 2,
  GUEST_EXIT_BAD_PORT = 10,
  GUEST_EXIT_IN_PORT = 11,
  GUEST_EXIT_HLT = 12,
  GUEST_EXIT_NULL_DEREF = 13,
  GUEST_EXIT_WILD_DEREF = 14,
  GUEST_EXIT_STACK_OVERFLOW = 15,
  GUEST_EXIT_UD2 = 16,
  GUEST_EXIT_INT3 = 17,
  GUEST_EXIT_DIVIDE = 18,
  GUEST_EXIT_TRIPLE_FAULT = 19,
  GUEST_EXIT_SSE = 20,
  GUEST_EXIT_MMIO = 21,
  GUEST_EXIT_MMIO_LAYOUT = 22,
  GUEST_EXIT_RSP_WILD = 23,
  GUEST_EXIT_CORRUPT = 24,
  GUEST_EXIT_FORGED_SYSCALL = 30,
  GUEST_EXIT_FORGED_EXCEPTION = 31,
};

/* The errno name of a negative syscall result ("EFAULT"), "E<n>" for one the
 * runtime cannot name, or the decimal value of a non-negative result. */
static inline const char *guest_result(long ret, char *buf, size_t size) {
  if (ret >= 0) {
    rt_snprintf(buf, size, "%ld", ret);
    return buf;
  }
  const char *name = rt_errname(ret);
  if (name[1] == '?') {
    rt_snprintf(buf, size, "E%ld", -ret);
    return buf;
  }
  return name;
}

/* argv[index] as a number (decimal or 0x hex); `fallback` when absent, -1
 * when present but not a number. */
static inline int guest_arg_u64(int argc, char **argv, int index,
                                uint64_t fallback, uint64_t *out) {
  if (index >= argc) {
    *out = fallback;
    return 0;
  }
  return rt_parse_u64(argv[index], out);
}

/* Prints where the instruction that is about to fault lives, for the test
 * to compare with the FaultEvent's rip. */
static inline void guest_print_site(const void *site) {
  rt_printf("site=0x%lx\n", (unsigned long)site);
}

#endif /* ISOSCOPE_BACKENDS_KVM_TEST_GUESTS_GUEST_H_ */
