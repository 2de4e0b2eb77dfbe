/* kvm test guest `forge-port MODE`: talks to the guest stubs' hypercall
 * ports directly, the way the stubs do, but with forged state. The ports
 * are the VMM's interface to its own stubs, reachable by any ring-0 code:
 * the VMM must treat what it reads from them as hostile. MODE:
 *   syscall            `out` to the syscall port (0xe0) from outside the
 *                      LSTAR entry, with rax = getpid, rcx = a landing
 *                      site that prints `landed` and exits 30
 *   exception-wild     `out` to the exception port (0xe1) with rsp = 2^64-8
 *                      and every other register 0xdeadbeef...
 *   exception-straddle the same with rsp 8 bytes below the end of RAM
 *                      (RAM_BYTES, the 2nd argument) and 0xff... above it
 *   exception-garbage  the same with rsp at a readable frame of 0xdeadbeef...
 *                      words (vector, error code, rip, ...: all garbage)
 * Whatever the VMM makes of it must be a precise outcome of the run, never
 * an isoscope error or crash. Exit 31 if execution falls through the out.
 * The port numbers are guest_layout.h's kSyscallPort and kExceptionPort. */
#include "backends/kvm/test_guests/guest.h"

__attribute__((noreturn)) void forge_syscall(void);
__attribute__((noreturn)) void forge_exception(unsigned long rsp);
void landing(void);

/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl forge_syscall\n"
        "forge_syscall:\n"
        "  lea landing_trampoline(%rip), %rcx\n"
        "  pushfq\n"
        "  pop %r11\n"
        "  mov $39, %eax\n"
        "  out %al, $0xe0\n"
        "  jmp fell_through\n"
        "landing_trampoline:\n"
        "  and $-16, %rsp\n"
        "  call landing\n"
        "  ud2\n"
        ".globl forge_exception\n"
        "forge_exception:\n"
        "  mov %rdi, %rsp\n"
        "  movabs $0xdeadbeefdeadbeef, %rax\n"
        "  mov %rax, %rbx\n"
        "  mov %rax, %rcx\n"
        "  mov %rax, %rdx\n"
        "  mov %rax, %rsi\n"
        "  mov %rax, %rdi\n"
        "  mov %rax, %rbp\n"
        "  mov %rax, %r8\n"
        "  mov %rax, %r9\n"
        "  mov %rax, %r10\n"
        "  mov %rax, %r11\n"
        "  mov %rax, %r12\n"
        "  mov %rax, %r13\n"
        "  mov %rax, %r14\n"
        "  mov %rax, %r15\n"
        "  out %al, $0xe1\n"
        "  ud2\n"
        "fell_through:\n"
        "  and $-16, %rsp\n"
        "  mov $31, %edi\n"
        "  mov $231, %eax\n"
        "  syscall\n"
        "  ud2\n"
        ".popsection\n");
/* clang-format on */

void landing(void) {
  rt_printf("landed\n");
  rt_exit(GUEST_EXIT_FORGED_SYSCALL);
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc >= 2 && strcmp(argv[1], "syscall") == 0) {
    rt_printf("forging a syscall\n");
    forge_syscall();
  }
  if (argc >= 2 && strcmp(argv[1], "exception-wild") == 0) {
    rt_printf("forging an exception\n");
    forge_exception(-8UL);
  }
  if (argc >= 2 && strcmp(argv[1], "exception-garbage") == 0) {
    static unsigned long frame[16];
    for (int i = 0; i < 16; i++) frame[i] = 0xdeadbeefdeadbeefUL;
    rt_printf("forging an exception with a garbage frame\n");
    forge_exception((unsigned long)frame);
  }
  uint64_t ram = 0;
  if (argc == 3 && strcmp(argv[1], "exception-straddle") == 0 &&
      guest_arg_u64(argc, argv, 2, 0, &ram) == 0 && ram >= 4096) {
    rt_printf("forging an exception at the end of RAM\n");
    volatile unsigned long *top = (volatile unsigned long *)(ram - 8);
    *top = ~0UL;
    forge_exception(ram - 8);
  }
  rt_eprintf(
      "usage: forge-port syscall|exception-wild|exception-garbage|"
      "exception-straddle RAM_BYTES\n");
  return GUEST_EXIT_USAGE;
}
