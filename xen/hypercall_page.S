/* SPDX-License-Identifier: MIT */
/* hypercall_page.S: the page Xen fills with hypercall stubs; in text, so it is R+X and never W. */
	.section .text.xen_hypercall_page, "ax"
	.balign 4096
	.globl xen_hypercall_page
xen_hypercall_page:
	/* int3 until Xen writes it (through the guest-physical address, not our mappings). */
	.fill 4096, 1, 0xcc

	.section .note.GNU-stack, "", @progbits
