/* Process entry. The kernel leaves argc at (%rsp), then argv[], NULL,
 * envp[], NULL, auxv pairs. rt_start_c gets a pointer to argc, with the
 * stack 16-byte aligned before the call as the ABI requires. */
	.text
	.globl _start
	.type _start, @function
_start:
	xor %ebp, %ebp
	mov %rsp, %rdi
	and $-16, %rsp
	call rt_start_c
	ud2
	.size _start, . - _start

/* Signal return trampoline for rt_sigaction's sa_restorer. */
	.globl rt_sigreturn_restorer
	.type rt_sigreturn_restorer, @function
rt_sigreturn_restorer:
	mov $15, %eax
	syscall
	ud2
	.size rt_sigreturn_restorer, . - rt_sigreturn_restorer

	.section .note.GNU-stack, "", @progbits
