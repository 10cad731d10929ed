// SPDX-License-Identifier: MIT
/* start_info.c: check the PVH struct hvm_start_info and copy out what pvtick uses. */
#include <stdint.h> /* the Xen header uses uint32_t without including it */
#include <xen/arch-x86/hvm/start_info.h>
#include "boot.h"

/* Fields up to rsdp_paddr exist in version 0; memmap_* from version 1. */
#define V0_SIZE offsetof(struct hvm_start_info, memmap_paddr)

/*
 * The ABI states no alignment for start_info or the memory map: %ebx and
 * memmap_paddr may be any address. Read them through byte-aligned types, so a
 * misaligned one is still a defined read (the same instructions on x86).
 */
typedef struct hvm_start_info __attribute__((aligned(1))) start_info_any;
typedef struct hvm_memmap_table_entry __attribute__((aligned(1))) memmap_entry_any;

const char *boot_parse_start_info(u64 pa, phys_map_fn map, struct boot_info *out)
{
	static char msg[128];
	const start_info_any *si;

	*out = (struct boot_info){ 0 };
	if (pa == 0)
		return "no start_info: %ebx was 0 at entry (not started through the PVH entry point?)";
	si = map(pa, V0_SIZE);
	if (!si) {
		ksnprintf(msg, sizeof(msg), "start_info at %lx is not readable memory", pa);
		return msg;
	}
	if (si->magic != XEN_HVM_START_MAGIC_VALUE) {
		ksnprintf(msg, sizeof(msg), "start_info magic is %x, expected %x", si->magic,
			  XEN_HVM_START_MAGIC_VALUE);
		return msg;
	}
	out->version = si->version;
	if (si->version >= 1) {
		si = map(pa, sizeof(*si));
		if (!si)
			return "start_info version 1 fields are not readable";
		if (si->reserved != 0)
			return "start_info reserved field is not zero";
	}
	out->rsdp_pa = si->rsdp_paddr;

	if (si->cmdline_paddr) {
		/* Terminated within BOOT_CMDLINE_MAX, each byte readable. */
		size_t n = 0;
		for (;; n++) {
			if (n == BOOT_CMDLINE_MAX) {
				ksnprintf(msg, sizeof(msg),
					  "command line is longer than %u bytes (or unterminated)",
					  BOOT_CMDLINE_MAX - 1);
				return msg;
			}
			const char *c = map(si->cmdline_paddr + n, 1);
			if (!c)
				return "command line address is not readable memory";
			out->cmdline[n] = *c;
			if (!*c)
				break;
		}
	}

	if (si->version >= 1 && si->memmap_entries) {
		const memmap_entry_any *m;
		if (si->memmap_entries > BOOT_MEMMAP_MAX) {
			ksnprintf(msg, sizeof(msg), "memory map has %u entries, more than %u",
				  si->memmap_entries, BOOT_MEMMAP_MAX);
			return msg;
		}
		m = map(si->memmap_paddr, (u64)si->memmap_entries * sizeof(*m));
		if (!m)
			{ ksnprintf(msg, sizeof(msg), "memory map at %lx (%u entries) is not readable memory", si->memmap_paddr, si->memmap_entries); return msg; }
		out->memmap_entries = si->memmap_entries;
		for (u32 i = 0; i < si->memmap_entries; i++) {
			if (m[i].addr + m[i].size < m[i].addr)
				return "memory map entry wraps around the address space";
			if (m[i].type == XEN_HVM_MEMMAP_TYPE_RAM)
				out->ram_bytes += m[i].size;
		}
	}
	return 0;
}
