// The KVM guest's only "kernel": the LSTAR entry and the exception vector
// stubs. The VMM copies the bytes between isoscope_guest_stubs_begin and
// isoscope_guest_stubs_end to kStubsAddress in guest RAM, so everything here
// is position-independent (no absolute relocations) and is data to the host:
// it lives in a read-only, non-executable section.
//
// Layout (offsets from isoscope_guest_stubs_begin):
//   0x000            syscall entry: `out %al, $0xE0` (kSyscallPort), `ud2`
//   0x100 + 16 * v   the stub of exception vector v (0..31), each exactly
//                    16 bytes (.org checks it at assembly time)
// kvm_vm.cc mirrors these two numbers and checks them against the symbols.

#define SYSCALL_PORT 0xE0
#define EXCEPTION_PORT 0xE1
#define VECTOR_STUBS_OFFSET 0x100
#define VECTOR_STUB_SIZE 16

  .section .rodata.isoscope_guest_stubs,"a"
  .code64

  .globl isoscope_guest_stubs_begin
  .globl isoscope_guest_stubs_end
  .globl isoscope_guest_syscall_entry
  .globl isoscope_guest_vector_stubs

  .balign 16
isoscope_guest_stubs_begin:

// LSTAR points here. The VMM reads the syscall from the registers (rax,
// rdi, rsi, rdx, r10, r8, r9; rcx = return rip, r11 = saved rflags), writes
// rax and resumes at rcx with rflags from r11: the `ud2` is never reached.
isoscope_guest_syscall_entry:
  out %al, $SYSCALL_PORT
  ud2

  .org isoscope_guest_stubs_begin + VECTOR_STUBS_OFFSET, 0xcc
isoscope_guest_vector_stubs:

// One exception stub: the same frame for every vector, so the VMM reads
// [vector, error_code, rip, cs, rflags, rsp, ss] at the guest's RSP. The CPU
// pushes an error code itself for some vectors; the others get a 0.
.macro VECTOR_STUB vector, has_error_code
1:
  .if \has_error_code == 0
  push $0
  .endif
  push $\vector
  out %al, $EXCEPTION_PORT
  // The VMM ends the run after this exit; should anything resume the vCPU
  // here, it stays parked.
2:
  hlt
  jmp 2b
  .org 1b + VECTOR_STUB_SIZE, 0xcc
.endm

  VECTOR_STUB 0, 0    // #DE
  VECTOR_STUB 1, 0    // #DB
  VECTOR_STUB 2, 0    // NMI
  VECTOR_STUB 3, 0    // #BP
  VECTOR_STUB 4, 0    // #OF
  VECTOR_STUB 5, 0    // #BR
  VECTOR_STUB 6, 0    // #UD
  VECTOR_STUB 7, 0    // #NM
  VECTOR_STUB 8, 1    // #DF
  VECTOR_STUB 9, 0    // coprocessor segment overrun
  VECTOR_STUB 10, 1   // #TS
  VECTOR_STUB 11, 1   // #NP
  VECTOR_STUB 12, 1   // #SS
  VECTOR_STUB 13, 1   // #GP
  VECTOR_STUB 14, 1   // #PF
  VECTOR_STUB 15, 0   // reserved
  VECTOR_STUB 16, 0   // #MF
  VECTOR_STUB 17, 1   // #AC
  VECTOR_STUB 18, 0   // #MC
  VECTOR_STUB 19, 0   // #XM
  VECTOR_STUB 20, 0   // #VE
  VECTOR_STUB 21, 1   // #CP
  VECTOR_STUB 22, 0   // reserved
  VECTOR_STUB 23, 0   // reserved
  VECTOR_STUB 24, 0   // reserved
  VECTOR_STUB 25, 0   // reserved
  VECTOR_STUB 26, 0   // reserved
  VECTOR_STUB 27, 0   // reserved
  VECTOR_STUB 28, 0   // #HV
  VECTOR_STUB 29, 1   // #VC
  VECTOR_STUB 30, 1   // #SX
  VECTOR_STUB 31, 0   // reserved

  .org isoscope_guest_vector_stubs + 32 * VECTOR_STUB_SIZE
isoscope_guest_stubs_end:

  .section .note.GNU-stack,"",@progbits
