/* kvm test guest `ud2`: executes the architecturally undefined instruction:
 * an invalid-instruction fault (#UD) at the printed site, then SIGILL.
 * Prints `site=0x...`; exit 16 if it survives. */
#include "backends/kvm/test_guests/guest.h"

void do_ud2(void);
extern const char ud2_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl do_ud2\n"
        "do_ud2:\n"
        ".globl ud2_site\n"
        "ud2_site:\n"
        "  ud2\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(ud2_site);
  do_ud2();
  rt_printf("survived\n");
  return GUEST_EXIT_UD2;
}
