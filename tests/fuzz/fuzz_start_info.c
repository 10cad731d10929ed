// SPDX-License-Identifier: MIT
/* fuzz_start_info.c: libFuzzer target for boot_parse_start_info() (boot/start_info.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/arch-x86/hvm/start_info.h>
#include "boot/boot.h"
#define FUZZ_GUEST_MEMORY
#include "fuzz.h"

/*
 * Input: guest-physical memory from address 0, at most MEM_MAX bytes. Its
 * first 8 bytes (little-endian) are also the start_info address handed to the
 * parser, as %ebx would be. Address 0 is never mapped: nothing is loaded there
 * (start_info.h), and the parser takes 0 for "absent".
 *
 * Invariants checked on every input:
 *  1. The parser reads only bytes map() granted: the memory is ASan-poisoned
 *     and map() unpoisons what it hands out (to ASan's 8-byte granularity).
 *  2. It accepts exactly when the reference below does (magic, reserved,
 *     command line terminated within BOOT_CMDLINE_MAX, at most
 *     BOOT_MEMMAP_MAX readable memory-map entries, none wrapping).
 *  3. Accepted: every field of boot_info equals what the reference reads from
 *     the input itself (cmdline NUL-terminated and equal, counts, RAM sum).
 *  4. Refused: one printable line, shorter than the parser's 128-byte buffer.
 */

#define ERR_MAX 128 /* start_info.c's static msg[] */

/* ---- the reference: reads the caller's unpoisoned copy of the input ---- */


/* The expected boot_info, or false if the input must be refused. */
static bool reference(u64 pa, struct boot_info *want)
{
	const u64 v0_size = offsetof(struct hvm_start_info, memmap_paddr);

	memset(want, 0, sizeof(*want));
	if (!readable(pa, v0_size) || rd32(pa) != XEN_HVM_START_MAGIC_VALUE)
		return false;
	want->version = rd32(pa + offsetof(struct hvm_start_info, version));
	if (want->version >= 1 && (!readable(pa, sizeof(struct hvm_start_info)) ||
				   rd32(pa + offsetof(struct hvm_start_info, reserved)) != 0))
		return false;
	want->rsdp_pa = rd64(pa + offsetof(struct hvm_start_info, rsdp_paddr));

	u64 cmd = rd64(pa + offsetof(struct hvm_start_info, cmdline_paddr));
	if (cmd) {
		size_t n;
		for (n = 0; n < BOOT_CMDLINE_MAX; n++) {
			if (!readable(cmd + n, 1))
				return false;
			want->cmdline[n] = (char)in[cmd + n];
			if (!want->cmdline[n])
				break;
		}
		if (n == BOOT_CMDLINE_MAX)
			return false;
	}

	if (want->version < 1)
		return true;
	u32 entries = rd32(pa + offsetof(struct hvm_start_info, memmap_entries));
	u64 mm = rd64(pa + offsetof(struct hvm_start_info, memmap_paddr));
	const u64 esz = sizeof(struct hvm_memmap_table_entry);
	if (!entries)
		return true;
	if (entries > BOOT_MEMMAP_MAX || !readable(mm, entries * esz))
		return false;
	want->memmap_entries = entries;
	for (u32 i = 0; i < entries; i++) {
		u64 e = mm + i * esz;
		u64 addr = rd64(e + offsetof(struct hvm_memmap_table_entry, addr));
		u64 size = rd64(e + offsetof(struct hvm_memmap_table_entry, size));
		u32 type = rd32(e + offsetof(struct hvm_memmap_table_entry, type));
		if (addr + size < addr)
			return false;
		if (type == XEN_HVM_MEMMAP_TYPE_RAM)
			want->ram_bytes += size;
	}
	return true;
}

static void check_message(const char *e)
{
	size_t n = strnlen(e, ERR_MAX);

	CHECK(n > 0 && n < ERR_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK(e[i] >= 0x20 && e[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boot_info got, want;
	u64 pa;

	if (size < 8)
		return 0;
	memcpy(&pa, data, 8);
	mem_load(data, size);
	memset(&got, 0xa5, sizeof(got));
	const char *e = boot_parse_start_info(pa, map, &got);
	ASAN_UNPOISON_MEMORY_REGION(mem, sizeof(mem));

	bool ok = reference(pa, &want);
	if (e) {
		check_message(e);
		CHECK(!ok);
		return 0;
	}
	CHECK(ok);
	CHECK(got.version == want.version);
	CHECK(got.rsdp_pa == want.rsdp_pa);
	CHECK(strnlen(got.cmdline, BOOT_CMDLINE_MAX) < BOOT_CMDLINE_MAX);
	CHECK(strcmp(got.cmdline, want.cmdline) == 0);
	CHECK(got.memmap_entries <= BOOT_MEMMAP_MAX);
	CHECK(got.memmap_entries == want.memmap_entries);
	CHECK(got.ram_bytes == want.ram_bytes);
	return 0;
}
