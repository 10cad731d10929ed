/* SPDX-License-Identifier: MIT */
/* entry.S: interrupt and exception stubs: push a uniform frame, call trap_dispatch. */


	.macro stub v
	.balign 16
trap_stub_\v:
	/* Vectors 8, 10-14, 17, 21, 29, 30: the CPU pushes an error code. */
	.if !((\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30))
	pushq $0                        /* no error code: keep the frame uniform */
	.endif
	pushq $\v
	jmp trap_common
	.endm

	.text
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,0xf0,0xf1,0xf2,0xf3,0xff
	stub \v
	.endr

trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call trap_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp                  /* vector, error code */
	iretq

/* Stub addresses for idt_init, in vector order 0..31, then 0xf0, 0xf1, 0xf2, 0xf3, 0xff. */
	.section .rodata
	.balign 8
	.globl trap_stubs
trap_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,0xf0,0xf1,0xf2,0xf3,0xff
	.quad trap_stub_\v
	.endr

	.section .note.GNU-stack, "", @progbits
