/* kvm test guest `spin`: prints `spinning` and loops for ever without a
 * syscall, so only the VMM's kick (a signal with immediate_exit) can take
 * the vCPU out of KVM_RUN: what the wall-time, CPU-time and interrupt tests
 * run. */
#include "backends/kvm/test_guests/guest.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  rt_printf("spinning\n");
  volatile unsigned long counter = 0;
  for (;;) counter++;
}
