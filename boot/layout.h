/* SPDX-License-Identifier: MIT */
/* layout.h: the image's memory layout, shared by the linker script, boot assembly and C. */
#ifndef PVTICK_LAYOUT_H
#define PVTICK_LAYOUT_H

#define KERNEL_PA 0x100000       /* link and load address (identity mapped) */
#define LOW_4K_END 0x800000      /* [0, 8 MiB) mapped with 4 KiB pages; the image MUST end below */
#define LOW_4K_PTS 4             /* page tables covering it */
#define TRAMPOLINE_PA 0x8000     /* AP real-mode entry: SIPI vector 0x08 */
#define ALIAS_VA 0x100000000     /* 4 GiB: the patcher's temporary writable alias window */
#define ALIAS_PAGES 2            /* a site may straddle a page boundary */

/*
 * Per-vCPU stack slot, 64 KiB, in section .stacks; every stack has a
 * not-present guard page below it, so an overflow faults instead of
 * overwriting its neighbour:
 *   +0  KiB  guard
 *   +4  KiB  kernel stack, 16 KiB, grows down from +20 KiB
 *   +20 KiB  guard
 *   +24 KiB  IST1, 8 KiB, from +32 KiB: NMI, #PF, #MC (reports only)
 *   +32 KiB  guard
 *   +36 KiB  IST2, 8 KiB, from +44 KiB: #BP alone (it emulates a patch site
 *            and returns: nothing else may reuse its frame, see arch/traps.c)
 *   +44 KiB  guard
 *   +48 KiB  IST3, 8 KiB, from +56 KiB: #DF alone
 *   +56 KiB  guard, +60 KiB guard (unused)
 * A kernel stack overflow faults on the guard; the #PF runs on IST1 and reports it.
 */
#define STACK_SLOT 0x10000
#define STACK_GUARD1 0x0000
#define STACK_TOP 0x5000
#define STACK_GUARD2 0x5000
#define IST_TOP 0x8000       /* IST1 */
#define STACK_GUARD3 0x8000
#define IST_BP_TOP 0xb000    /* IST2 */
#define STACK_GUARD4 0xb000
#define IST_DF_TOP 0xe000    /* IST3 */
#define STACK_GUARD5 0xe000
#define STACK_GUARD6 0xf000
#define IST_FAULT 1
#define IST_BP 2
#define IST_DF 3
#define MAX_CPUS 64

/* Page-table entry bits. */
#define PTE_P 0x001
#define PTE_W 0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS 0x080
#define PTE_NX_HI 0x80000000 /* bit 63, as the high dword */

/* GDT selectors. */
#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18
#define SEL_TSS0 0x20

/* isa-debug-exit (port 0xf4): QEMU exits with (value << 1) | 1. */
#define DEBUG_EXIT_PORT 0xf4
#define EXIT_PASS 0x10 /* QEMU status 33 */
#define EXIT_FAIL 0x11 /* QEMU status 35 */

#endif
