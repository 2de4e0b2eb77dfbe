/* kvm test guest `null-deref`: loads 8 bytes from address 0 (page 0 is never
 * mapped in the guest): a page fault at address 0 at the printed site, then
 * SIGSEGV. The load is in assembly so the compiler cannot turn it into a
 * trap of its own. Prints `site=0x...`; exit 13 if it survives. */
#include "backends/kvm/test_guests/guest.h"

unsigned long load64(unsigned long address);
extern const char load_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl load64\n"
        "load64:\n"
        ".globl load_site\n"
        "load_site:\n"
        "  mov (%rdi), %rax\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(load_site);
  unsigned long value = load64(0);
  rt_printf("survived value=0x%lx\n", value);
  return GUEST_EXIT_NULL_DEREF;
}
