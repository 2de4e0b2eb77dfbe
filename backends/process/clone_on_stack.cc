#include "backends/process/clone_on_stack.h"

#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>

// The child's half cannot be C++: after clone3 it returns from the syscall
// on the new stack, where no frame of the compiled caller exists. The
// entry and its argument travel in r12 and r13, which the kernel copies to
// the child and the System V ABI makes the callee preserve. The new stack
// is 16-byte aligned at its top (the caller's job), so the call leaves it
// as the ABI wants at the entry's first instruction.
extern "C" int64_t isoscope_clone3_on_stack(void* args, uint64_t size,
                                            int (*entry)(void*),
                                            void* argument);
asm(R"(
  .pushsection .text
  .globl isoscope_clone3_on_stack
  .type isoscope_clone3_on_stack, @function
isoscope_clone3_on_stack:
  .cfi_startproc
  endbr64
  push %r12
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r12, 0
  push %r13
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r13, 0
  mov %rdx, %r12
  mov %rcx, %r13
  mov $435, %eax
  syscall
  test %rax, %rax
  jz 1f
  pop %r13
  .cfi_adjust_cfa_offset -8
  .cfi_restore %r13
  pop %r12
  .cfi_adjust_cfa_offset -8
  .cfi_restore %r12
  ret
1:
  .cfi_undefined %rip
  xor %ebp, %ebp
  mov %r13, %rdi
  call *%r12
  mov %eax, %edi
  mov $60, %eax
  syscall
  hlt
  .cfi_endproc
  .size isoscope_clone3_on_stack, .-isoscope_clone3_on_stack
  .popsection
)");

namespace isoscope {

static_assert(SYS_clone3 == 435 && SYS_exit == 60,
              "the x86-64 syscall numbers the child's half uses");

pid_t CloneOnStack(clone_args& args, int (*entry)(void*), void* argument) {
  if (args.stack == 0 || args.stack_size == 0 ||
      (args.stack + args.stack_size) % 16 != 0) {
    errno = EINVAL;
    return -1;
  }
  const int64_t result =
      isoscope_clone3_on_stack(&args, sizeof args, entry, argument);
  if (result < 0) {
    errno = static_cast<int>(-result);
    return -1;
  }
  return static_cast<pid_t>(result);
}

}  // namespace isoscope
