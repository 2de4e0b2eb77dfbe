/* kvm test guest `hlt`: halts the vCPU. With no interrupts the VM would sit
 * there for ever: the VMM must end the run with a privileged-instruction
 * fault ("hlt") at the printed site, then SIGSEGV. Prints `site=0x...`;
 * exit 12 if it survives. */
#include "backends/kvm/test_guests/guest.h"

void do_hlt(void);
extern const char hlt_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl do_hlt\n"
        "do_hlt:\n"
        ".globl hlt_site\n"
        "hlt_site:\n"
        "  hlt\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(hlt_site);
  do_hlt();
  rt_printf("survived\n");
  return GUEST_EXIT_HLT;
}
