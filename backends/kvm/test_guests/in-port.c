/* kvm test guest `in-port`: reads the PC keyboard's data port
 * (`in $0x60, %al`), which no device of the VM answers: a
 * privileged-instruction fault ("in") at the printed site, then SIGSEGV.
 * Prints `site=0x...`; exit 11 if it survives. */
#include "backends/kvm/test_guests/guest.h"

void port_in(void);
extern const char port_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl port_in\n"
        "port_in:\n"
        ".globl port_site\n"
        "port_site:\n"
        "  in $0x60, %al\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(port_site);
  port_in();
  rt_printf("survived\n");
  return GUEST_EXIT_IN_PORT;
}
