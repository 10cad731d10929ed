/* SPDX-License-Identifier: MIT */
/* trampoline.S: the AP entry, copied to TRAMPOLINE_PA: real mode -> protected mode -> long mode. */
#include "layout.h"

#define T(sym) (sym - boot_trampoline_start + TRAMPOLINE_PA)

/*
 * These bytes are data to the kernel: the BSP copies them to TRAMPOLINE_PA
 * through the patcher's writable alias (the page is R+X in the page tables)
 * before it sends the first SIPI.
 */
	.section .rodata.trampoline, "a"
	.globl boot_trampoline_start, boot_trampoline_end
	.code16
boot_trampoline_start:
	/* 1. SIPI vector 0x08: real mode, CS = 0x0800, IP = 0. */
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl (tramp_gdtr - boot_trampoline_start)
	/* 2. Protected mode, then a far jump to load the 32-bit CS. */
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $T(tramp32)

	.code32
tramp32:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	/* 3. A stack at the top of this page for one call: APs start one at a time. */
	movl $(TRAMPOLINE_PA + 4096), %esp
	/* 4. The BSP's page tables, EFER.LME+NXE, paging: the same code the BSP ran. */
	movl $boot_enable_paging, %eax
	call *%eax
	/* 5. Into 64-bit kernel text. */
	ljmp $SEL_CODE64, $boot_ap_long64

	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00af9a000000ffff                /* SEL_CODE64 */
	.quad 0x00cf92000000ffff                /* SEL_DATA */
	.quad 0x00cf9a000000ffff                /* SEL_CODE32 */
tramp_gdtr:
	.word 4 * 8 - 1
	.long T(tramp_gdt)
boot_trampoline_end:

	.section .note.GNU-stack, "", @progbits
