/* kvm test guest `bad-port`: writes to an I/O port no device owns
 * (`out %al, $0x99`). In the guest's ring 0 the instruction reaches the VMM
 * as a port exit: the run must end with a privileged-instruction fault
 * ("out") at the printed site, then SIGSEGV (or a violation when the policy
 * kills privileged instructions). Natively it is a #GP: SIGSEGV. Prints
 * `site=0x...` (the out instruction); exit 10 if it survives. */
#include "backends/kvm/test_guests/guest.h"

void port_out(void);
extern const char port_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl port_out\n"
        "port_out:\n"
        "  mov $0x42, %al\n"
        ".globl port_site\n"
        "port_site:\n"
        "  out %al, $0x99\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(port_site);
  port_out();
  rt_printf("survived\n");
  return GUEST_EXIT_BAD_PORT;
}
