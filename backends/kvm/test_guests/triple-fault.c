/* kvm test guest `triple-fault`: loads an IDT whose limit is 0 (`lidt`, fine
 * in the guest's ring 0) and executes ud2: the #UD cannot be delivered, nor
 * can the #GP that raises, nor the double fault: the vCPU shuts down
 * (KVM_EXIT_SHUTDOWN). The run must end as SIGSEGV with the detail "triple
 * fault" and no fault event. Natively lidt is a #GP: SIGSEGV. Exit 19 if it
 * survives. */
#include "backends/kvm/test_guests/guest.h"

struct __attribute__((packed)) descriptor_table {
  unsigned short limit;
  unsigned long base;
};

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  static const struct descriptor_table kEmptyIdt = {0, 0};
  rt_printf("loading an empty IDT\n");
  __asm__ volatile("lidt %0\n\tud2" : : "m"(kEmptyIdt) : "memory");
  rt_printf("survived\n");
  return GUEST_EXIT_TRIPLE_FAULT;
}
