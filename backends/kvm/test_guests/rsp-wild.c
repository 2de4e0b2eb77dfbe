/* kvm test guest `rsp-wild`: sets rsp to 2^64 - 8 (nothing is mapped there)
 * and executes ud2 at the printed site. The exception stub runs on its own
 * IST1 stack, so the #UD still reaches the VMM: an invalid-instruction fault
 * at the site, then SIGILL (not a triple fault). Natively the kernel cannot
 * push a signal frame either: SIGSEGV. Exit 23 if it survives. */
#include "backends/kvm/test_guests/guest.h"

void wild_rsp_ud2(void);
extern const char rsp_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl wild_rsp_ud2\n"
        "wild_rsp_ud2:\n"
        "  mov $-8, %rsp\n"
        ".globl rsp_site\n"
        "rsp_site:\n"
        "  ud2\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(rsp_site);
  wild_rsp_ud2();
  return GUEST_EXIT_RSP_WILD; /* not reached: the asm never returns */
}
