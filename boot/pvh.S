/* SPDX-License-Identifier: MIT */
/* pvh.S: the PVH entry: ELF note, 32-bit entry, first (W^X) page tables, switch to long mode. */
#include <xen/elfnote.h>
#include "layout.h"

/* The PVH note: loaders (Xen, QEMU, Firecracker) enter at pvh_start32 in 32-bit protected mode. */
	.section .note.Xen, "a"
	.balign 4
	.long 4                         /* namesz: "Xen\0" */
	.long 4                         /* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long pvh_start32

	.section .data
	.balign 8
	.globl boot_start_info_pa
boot_start_info_pa:
	.quad 0                         /* %ebx at entry; checked in C (boot/start_info.c) */
	.globl boot_entry_tsc
boot_entry_tsc:
	.quad 0                         /* the TSC at entry, for the boot time in the log */

	.section .bss
	.balign 4096
	.globl boot_pml4, boot_pt, boot_alias_pt
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4 * 4096          /* 4 GiB identity map, 2 MiB pages above LOW_4K_END */
boot_pt:	.skip LOW_4K_PTS * 4096 /* [0, LOW_4K_END) in 4 KiB pages, per-section rights */
boot_alias_pd:	.skip 4096
boot_alias_pt:	.skip 4096              /* ALIAS_VA window, filled by the patcher */

	.section .rodata
boot_msg_nolm:
	.asciz "pvtick: FATAL: CPU lacks long mode or NX (CPUID 0x80000001 EDX bits 29/20)\n"

/*
 * Entry state (PVH ABI): 32-bit protected mode, paging off, flat CS/DS/ES/SS,
 * interrupts off, %ebx = physical address of struct hvm_start_info.
 */
	.section .text.boot32, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	/* 1. Keep %ebx for C: it goes in .data, which the loader filled, not in .bss. And the TSC. */
	movl %ebx, boot_start_info_pa
	rdtsc
	movl %eax, boot_entry_tsc
	movl %edx, boot_entry_tsc + 4

	/* 2. Zero .bss (page tables live there); loaders need not. */
	movl $_bss_start, %edi
	movl $_bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
	movl $(_stacks_start + STACK_TOP), %esp

	/* 3. Long mode and NX are required: say so if absent. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 29), %edx
	jz no_long_mode
	testl $(1 << 20), %edx
	jz no_long_mode

	/*
	 * 4. Page tables, W^X from the first instruction in long mode:
	 *    [0, LOW_4K_END) in 4 KiB pages: page 0 R+NX (QEMU's loader puts
	 *    start_info data there; NULL writes still fault), text R+X,
	 *    rodata R, the trampoline page R+X, stack guard pages absent,
	 *    everything else R+W+NX. Above: 2 MiB pages R+W+NX to 4 GiB, the
	 *    top 32 MiB (LAPIC, IOAPIC) uncached.
	 */
	xorl %ecx, %ecx                         /* page index */
1:	movl %ecx, %eax
	shll $12, %eax                          /* eax = address */
	movl $(PTE_P | PTE_W), %esi             /* esi:edi = low:high flags */
	movl $PTE_NX_HI, %edi
	testl %eax, %eax
	jnz 0f
	movl $PTE_P, %esi                       /* page 0: R, NX (loaders put data there) */
	jmp 7f
0:
	cmpl $TRAMPOLINE_PA, %eax
	je 3f                                   /* trampoline: R+X */
	cmpl $_text_start, %eax
	jb 5f
	cmpl $_text_end, %eax
	jae 2f
3:	movl $PTE_P, %esi                       /* text: R+X */
	xorl %edi, %edi
	jmp 7f
2:	cmpl $_rodata_end, %eax
	jae 4f
	movl $PTE_P, %esi                       /* rodata: R, NX */
	jmp 7f
4:	cmpl $_stacks_start, %eax
	jb 7f
	cmpl $_stacks_end, %eax
	jae 7f
	movl %eax, %edx
	subl $_stacks_start, %edx
	andl $(STACK_SLOT - 1), %edx
	cmpl $STACK_GUARD1, %edx
	je 8f
	cmpl $STACK_GUARD2, %edx
	je 8f
	cmpl $STACK_GUARD3, %edx
	je 8f
	cmpl $STACK_GUARD4, %edx
	je 8f
	cmpl $STACK_GUARD5, %edx
	je 8f
	cmpl $STACK_GUARD6, %edx
	je 8f
	jmp 7f
5:	/* below the image: R+W+NX */
7:	orl %eax, %esi
	movl %esi, boot_pt(, %ecx, 8)
	movl %edi, boot_pt + 4(, %ecx, 8)
	jmp 9f
8:	movl $0, boot_pt(, %ecx, 8)
	movl $0, boot_pt + 4(, %ecx, 8)
9:	incl %ecx
	cmpl $(LOW_4K_PTS * 512), %ecx
	jne 1b

	/* 2 MiB pages from LOW_4K_END to 4 GiB; page tables for the low part. */
	xorl %ecx, %ecx                         /* pd index, 0..2047 */
1:	cmpl $(LOW_4K_END >> 21), %ecx
	jae 2f
	movl %ecx, %eax                         /* low part: pd -> boot_pt */
	shll $12, %eax
	addl $(boot_pt + PTE_P + PTE_W), %eax
	movl %eax, boot_pd(, %ecx, 8)
	jmp 4f
2:	movl %ecx, %eax
	shll $21, %eax
	orl $(PTE_P | PTE_W | PTE_PS), %eax
	cmpl $2032, %ecx                        /* >= 0xfe000000: uncached MMIO */
	jb 3f
	orl $(PTE_PCD | PTE_PWT), %eax
3:	movl %eax, boot_pd(, %ecx, 8)
	movl $PTE_NX_HI, boot_pd + 4(, %ecx, 8)
4:	incl %ecx
	cmpl $2048, %ecx
	jne 1b

	movl $(boot_pd + 0 * 4096 + PTE_P + PTE_W), boot_pdpt + 0
	movl $(boot_pd + 1 * 4096 + PTE_P + PTE_W), boot_pdpt + 8
	movl $(boot_pd + 2 * 4096 + PTE_P + PTE_W), boot_pdpt + 16
	movl $(boot_pd + 3 * 4096 + PTE_P + PTE_W), boot_pdpt + 24
	movl $(boot_alias_pd + PTE_P + PTE_W), boot_pdpt + 32   /* ALIAS_VA = 4 GiB */
	movl $(boot_alias_pt + PTE_P + PTE_W), boot_alias_pd
	movl $(boot_pdpt + PTE_P + PTE_W), boot_pml4

	/* 5. Enter long mode: PAE, CR3, EFER.LME+NXE, then paging with CR0.WP (rights bind ring 0). */
	call boot_enable_paging
	lgdt boot_gdtr
	ljmp $SEL_CODE64, $boot_long64

no_long_mode:
	movl $boot_msg_nolm, %esi
1:	lodsb
	testb %al, %al
	jz 2f
	movw $0x3f8, %dx
	outb %al, %dx
	movw $0xe9, %dx
	outb %al, %dx
	jmp 1b
2:	movw $DEBUG_EXIT_PORT, %dx
	movl $EXIT_FAIL, %eax
	outl %eax, %dx
3:	hlt
	jmp 3b

/* Shared with the AP trampoline, which jumps here in 32-bit mode with paging off. */
	.globl boot_enable_paging
boot_enable_paging:
	movl %cr4, %eax
	orl $(1 << 5), %eax                     /* PAE */
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx                  /* EFER */
	rdmsr
	orl $((1 << 8) | (1 << 11)), %eax       /* LME, NXE */
	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax                   /* PG, WP, PE */
	movl %eax, %cr0
	ret

	.code64
/* Flat data segments for 64-bit code; FS and GS null (GS base is set by MSR later). */
	.macro flat_data_segments
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	.endm

boot_long64:
	/* 6. 64-bit: flat data segments, the BSP's stack (slot 0), then C. */
	flat_data_segments
	movq $(_stacks_start + STACK_TOP), %rsp
	movl boot_start_info_pa, %edi
	call boot_main
	ud2

/* The APs arrive here from the trampoline; boot_ap_stack was set by the BSP. */
	.globl boot_ap_long64
boot_ap_long64:
	flat_data_segments
	movq boot_ap_stack, %rsp
	call ap_main
	ud2

	.section .data
	.balign 8
	.globl boot_ap_stack
boot_ap_stack:
	.quad 0
	.balign 16
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff                /* SEL_CODE64 */
	.quad 0x00cf92000000ffff                /* SEL_DATA */
boot_gdtr:
	.word 3 * 8 - 1
	.long boot_gdt

	.section .note.GNU-stack, "", @progbits
