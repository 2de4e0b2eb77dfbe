/* kvm test guest `divide-by-zero`: `div` by a zero read from a volatile
 * (so the compiler cannot fold or trap it itself): a divide error (#DE) at
 * the printed site, then SIGFPE. Prints `site=0x...` (the div); exit 18 if
 * it survives. */
#include "backends/kvm/test_guests/guest.h"

unsigned long divide(unsigned long dividend, unsigned long divisor);
extern const char div_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl divide\n"
        "divide:\n"
        "  mov %rdi, %rax\n"
        "  xor %edx, %edx\n"
        ".globl div_site\n"
        "div_site:\n"
        "  div %rsi\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  volatile unsigned long dividend = 42;
  volatile unsigned long divisor = 0;
  guest_print_site(div_site);
  unsigned long quotient = divide(dividend, divisor);
  rt_printf("survived quotient=%lu\n", quotient);
  return GUEST_EXIT_DIVIDE;
}
