/* SPDX-License-Identifier: MIT */
/* boot.h: what the PVH entry hands to C: the checked start_info. */
#ifndef PVTICK_BOOT_H
#define PVTICK_BOOT_H

#include "../arch/arch.h"

#define BOOT_CMDLINE_MAX 1024
#define BOOT_MEMMAP_MAX 128

struct boot_info {
	u32 version;              /* start_info version */
	char cmdline[BOOT_CMDLINE_MAX]; /* NUL-terminated copy ("" if none) */
	u64 rsdp_pa;              /* 0 if the loader gave none */
	u32 memmap_entries;
	u64 ram_bytes;            /* sum of RAM entries in the memory map */
};

/* %ebx at entry, saved by pvh.S. */
extern u64 boot_start_info_pa;
extern u64 boot_entry_tsc; /* the TSC at the PVH entry (boot/pvh.S) */

/*
 * Check and copy the hvm_start_info at pa: magic, version, reserved field,
 * command line (terminated within BOOT_CMDLINE_MAX), memory map (at most
 * BOOT_MEMMAP_MAX entries, each readable). Returns NULL if good, else one line
 * naming the problem. MUST NOT trust any address in it before map() accepts it.
 */
const char *boot_parse_start_info(u64 pa, phys_map_fn map, struct boot_info *out);

#endif
