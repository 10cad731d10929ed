/* SPDX-License-Identifier: MIT */
/* stubs.S: the hooks as functions: each jumps through pv_ops[]; and the site table sitegen fills. */
#include "patch.h"

/*
 * lock_spinning, unlock_kick, vcpu_is_preempted, ticket_release: what an unpatched site calls.
 * Each is one indirect jump through its pv_ops[] slot, so an unpatched site
 * runs whatever pv_choose_and_patch() chose (patch=off), with the caller's
 * arguments untouched. They sit PATCH_STUB_SIZE bytes apart in kind order:
 * patch.c finds kind k's stub at patch_stubs + 8k without naming a hook (sitegen
 * rejects any reference to a hook that is not a call).
 */
	.text
	.balign PATCH_STUB_SIZE
	.globl patch_stubs
patch_stubs:
	.globl lock_spinning
	.type lock_spinning, @function
lock_spinning:
	jmp *pv_ops+0(%rip)
	.size lock_spinning, . - lock_spinning
	.balign PATCH_STUB_SIZE
	.globl unlock_kick
	.type unlock_kick, @function
unlock_kick:
	jmp *pv_ops+8(%rip)
	.size unlock_kick, . - unlock_kick
	.balign PATCH_STUB_SIZE
	.globl vcpu_is_preempted
	.type vcpu_is_preempted, @function
vcpu_is_preempted:
	jmp *pv_ops+16(%rip)
	.size vcpu_is_preempted, . - vcpu_is_preempted
	.balign PATCH_STUB_SIZE
	.globl ticket_release
	.type ticket_release, @function
ticket_release:
	jmp *pv_ops+24(%rip)
	.size ticket_release, . - ticket_release

/*
 * The site table: zeros as linked (magic 0: the kernel refuses to patch), then
 * filled in place by patch/sitegen. Reserved at full size so that filling it
 * moves nothing.
 */
	.section patch_sites, "a"
	.balign 8
	.globl patch_table
	.type patch_table, @object
patch_table:
	.zero PATCH_TABLE_BYTES
	.size patch_table, PATCH_TABLE_BYTES
	.section .note.GNU-stack, "", @progbits
