/* kvm test guest `sse`: one SSE instruction (`pxor %xmm0, %xmm0`). Under a
 * software hypervisor (kvm_pvm, see ../shared/docs/host-facts.md) KVM cannot
 * emulate it: KVM_EXIT_INTERNAL_ERROR, which the run must report as an
 * invalid-instruction fault at the printed site carrying the instruction's
 * bytes (66 0f ef c0), then SIGILL with a hint to build without SSE. With
 * hardware virtualization (or natively) it simply runs: `RESULT ran`, exit
 * 20. Built without the workloads' SSE check, for obvious reasons. */
#include "backends/kvm/test_guests/guest.h"

void do_pxor(void);
extern const char sse_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl do_pxor\n"
        "do_pxor:\n"
        ".globl sse_site\n"
        "sse_site:\n"
        "  pxor %xmm0, %xmm0\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  guest_print_site(sse_site);
  do_pxor();
  rt_printf("RESULT ran\n");
  return GUEST_EXIT_SSE;
}
