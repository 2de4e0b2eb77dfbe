/* kvm test guest `int3`: a breakpoint with no debugger: a breakpoint fault
 * (#BP, a trap: the CPU reports the address after the one-byte int3; the
 * fault's rip is the int3 itself, as the ptrace backend reports it) then
 * SIGTRAP. Prints `site=0x...` (the int3); exit 17 if it survives. */
#include "backends/kvm/test_guests/guest.h"

void do_int3(void);
extern const char int3_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl do_int3\n"
        "do_int3:\n"
        ".globl int3_site\n"
        "int3_site:\n"
        "  int3\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(int3_site);
  do_int3();
  rt_printf("survived\n");
  return GUEST_EXIT_INT3;
}
