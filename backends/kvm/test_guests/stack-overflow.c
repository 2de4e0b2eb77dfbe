/* kvm test guest `stack-overflow`: unbounded recursion, each frame holding a
 * 4 KiB array it touches, until the stack runs into the unmapped guard below
 * it: a page fault inside the guard, then SIGSEGV. The exception frame
 * cannot be pushed on the exhausted stack: the stub runs on its own (IST1)
 * stack, so the VMM still learns of the fault. Prints `sp=0x...` (the
 * starting stack pointer); exit 15 if it survives. */
#include "backends/kvm/test_guests/guest.h"

/* Read at run time, so the compiler can neither see the recursion is
 * unbounded (-Winfinite-recursion) nor turn it into a loop. */
static volatile unsigned long max_depth = ~0UL;

static unsigned long recurse(unsigned long depth) {
  volatile char frame[4096];
  frame[0] = (char)depth;
  frame[sizeof frame - 1] = (char)depth;
  if (depth >= max_depth) return frame[0];
  return recurse(depth + 1) + frame[sizeof frame - 1];
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  unsigned long sp;
  __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
  rt_printf("sp=0x%lx\n", sp);
  unsigned long sum = recurse(0);
  rt_printf("survived sum=%lu\n", sum);
  return GUEST_EXIT_STACK_OVERFLOW;
}
