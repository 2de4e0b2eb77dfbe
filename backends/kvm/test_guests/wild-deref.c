/* kvm test guest `wild-deref`: loads 8 bytes from 1 TiB (1 << 40), far
 * beyond guest RAM and the page tables: a page fault at exactly that address
 * (cr2) at the printed site, then SIGSEGV. Prints `site=0x...`; exit 14 if
 * it survives. */
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
  unsigned long value = load64(1UL << 40);
  rt_printf("survived value=0x%lx\n", value);
  return GUEST_EXIT_WILD_DEREF;
}
