// SPDX-License-Identifier: MIT
/* mkseeds.c: writes the fuzzers' seed inputs, tests/fuzz/corpus/<target>/<name>. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xen/arch-x86/hvm/start_info.h>
#include "patch/patch.h"

/*
 * Usage: mkseeds DIR. The seeds are committed; regenerate them with
 *   make build/fuzz/mkseeds && build/fuzz/mkseeds tests/fuzz/corpus
 * Every seed is a valid input (the parsers accept it, or for cmdline one
 * refused for a documented reason), so the fuzzers start deep in each parser.
 */

static const char *outdir;
static uint8_t buf[4096];

static void put32(size_t at, uint32_t v) { memcpy(buf + at, &v, 4); }
static void put64(size_t at, uint64_t v) { memcpy(buf + at, &v, 8); }

static void csum(size_t at, size_t len, size_t field)
{
	uint8_t s = 0;
	buf[field] = 0;
	for (size_t i = 0; i < len; i++)
		s += buf[at + i];
	buf[field] = (uint8_t)-s;
}

static void emit(const char *target, const char *name, const void *data, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ---- start_info: memory from 0, start_info address in bytes 0..7 ---- */

static void start_info_seed(const char *name, uint32_t version, const char *cmdline,
			    const struct hvm_memmap_table_entry *mm, unsigned nmm)
{
	const size_t si = 0x40, cmd = 0x80, map = 0x100;
	struct hvm_start_info s = { .magic = XEN_HVM_START_MAGIC_VALUE, .version = version,
				    .rsdp_paddr = 0xf5a40 };

	memset(buf, 0, sizeof(buf));
	put64(0, si);
	if (cmdline) {
		s.cmdline_paddr = cmd;
		strcpy((char *)buf + cmd, cmdline);
	}
	if (nmm) {
		s.memmap_paddr = map;
		s.memmap_entries = nmm;
		memcpy(buf + map, mm, nmm * sizeof(*mm));
	}
	/* Version 0 ends before memmap_paddr. */
	memcpy(buf + si, &s, version ? sizeof(s) : offsetof(struct hvm_start_info, memmap_paddr));
	size_t len = si + sizeof(s);
	if (cmdline)
		len = cmd + strlen(cmdline) + 1;
	if (nmm)
		len = map + nmm * sizeof(*mm);
	emit("start_info", name, buf, len);
}

static void start_info_seeds(void)
{
	/* What QEMU's PVH loader hands a 256 MiB guest. */
	static const struct hvm_memmap_table_entry qemu[] = {
		{ 0, 0x9fc00, XEN_HVM_MEMMAP_TYPE_RAM, 0 },
		{ 0x9fc00, 0x400, XEN_HVM_MEMMAP_TYPE_RESERVED, 0 },
		{ 0xf0000, 0x10000, XEN_HVM_MEMMAP_TYPE_RESERVED, 0 },
		{ 0x100000, 0xfee0000, XEN_HVM_MEMMAP_TYPE_RAM, 0 },
		{ 0xfffc0000, 0x40000, XEN_HVM_MEMMAP_TYPE_RESERVED, 0 },
	};

	start_info_seed("v1_cmdline_memmap", 1, "pvlock=auto stress.iters=300 spin_threshold=16", qemu, 5);
	start_info_seed("v1_no_cmdline", 1, NULL, qemu, 2);
	start_info_seed("v0_cmdline", 0, "patch=off", NULL, 0);

	/* The longest command line accepted: BOOT_CMDLINE_MAX - 1 = 1023 bytes. */
	char longest[1024];
	memset(longest, 'x', sizeof(longest) - 1);
	memcpy(longest, "stress.iters=1 ", 15);
	longest[sizeof(longest) - 1] = 0;
	start_info_seed("v1_cmdline_longest", 1, longest, NULL, 0);
}

/* ---- cmdline: byte 0 picks errlen (1 + b % 200), then the line ---- */

static void cmdline_seed(const char *name, const char *line)
{
	buf[0] = 159; /* errlen 160, the guest's */
	memcpy(buf + 1, line, strlen(line));
	emit("cmdline", name, buf, 1 + strlen(line));
}

static void cmdline_seeds(void)
{
	cmdline_seed("all_options", "pvlock=off patch=on stress.iters=300 stress.cs=2000 "
				    "spin_threshold=16 watchdog=5 inject=drop-kick");
	cmdline_seed("whitespace", "  pvlock=auto\tstress.iters=1000\n");
	cmdline_seed("empty", "");
	cmdline_seed("big_and_prefix", "big=1844674407370955161 stress=7 stress.cs=0");
	cmdline_seed("given_twice", "pvlock=off pvlock=auto");
}

/* ---- acpi: memory from 0, RSDP address in bytes 0..7, byte 8 bit 0: fix checksums ---- */

static void sdt_header(size_t at, const char *sig, uint32_t len)
{
	memcpy(buf + at, sig, 4);
	put32(at + 4, len);
	buf[at + 8] = 1;
	memcpy(buf + at + 10, "PVTICK", 6);
	memcpy(buf + at + 16, "FUZZSEED", 8);
}

static void rsdp(size_t at, unsigned revision, uint32_t rsdt, uint64_t xsdt)
{
	memcpy(buf + at, "RSD PTR ", 8);
	memcpy(buf + at + 9, "PVTICK", 6);
	buf[at + 15] = (uint8_t)revision;
	put32(at + 16, rsdt);
	csum(at, 20, at + 8);
	if (revision >= 2) {
		put32(at + 20, 36);
		put64(at + 24, xsdt);
		csum(at, 36, at + 32);
	}
}

/* MADT at `at`: n LAPIC entries (ids 0..n-1, enabled), an I/O APIC; returns its length. */
static size_t madt_lapics(size_t at, unsigned n)
{
	size_t e = at + 44;

	for (unsigned i = 0; i < n; i++, e += 8) {
		buf[e] = 0, buf[e + 1] = 8, buf[e + 2] = (uint8_t)i, buf[e + 3] = (uint8_t)i;
		put32(e + 4, 1);
	}
	buf[e] = 1, buf[e + 1] = 12, buf[e + 2] = (uint8_t)n; /* I/O APIC: not a CPU */
	put32(e + 4, 0xfec00000);
	e += 12;
	sdt_header(at, "APIC", (uint32_t)(e - at));
	put32(at + 36, 0xfee00000);
	put32(at + 40, 1); /* PCAT_COMPAT */
	csum(at, e - at, at + 9);
	return e - at;
}

static void acpi_seeds(void)
{
	size_t len;

	/* RSDP v2 -> XSDT (a FACP, then the MADT) -> MADT with 4 CPUs: QEMU's shape. */
	memset(buf, 0, sizeof(buf));
	put64(0, 0x40);
	buf[8] = 1;
	rsdp(0x40, 2, 0, 0x80);
	sdt_header(0x80, "XSDT", 36 + 16);
	put64(0x80 + 36, 0xc0);
	put64(0x80 + 44, 0x100);
	csum(0x80, 36 + 16, 0x80 + 9);
	sdt_header(0xc0, "FACP", 36);
	csum(0xc0, 36, 0xc0 + 9);
	len = madt_lapics(0x100, 4);
	emit("acpi", "xsdt_madt_4cpus", buf, 0x100 + len);

	/* The same under Xen 4.17 as PVH dom0 on SeaBIOS: XSDT signature garbage, checksum valid. */
	memcpy(buf + 0x80, "\x53\xff\x00\xf0", 4);
	csum(0x80, 36 + 16, 0x80 + 9);
	emit("acpi", "xen_dom0_xsdt_bad_signature", buf, 0x100 + len);

	/*
	 * RSDP v0 -> RSDT -> MADT: a disabled LAPIC, an address override, x2APIC
	 * CPUs. The last UID's bytes read as a 4-byte entry of an unknown type, so
	 * one mutation of that entry's length (16 -> 12) still leaves a well-formed
	 * table: the x2APIC minimum length check is then the only thing in the way.
	 */
	memset(buf, 0, sizeof(buf));
	put64(0, 0x20);
	buf[8] = 1;
	rsdp(0x20, 0, 0x40, 0);
	sdt_header(0x40, "RSDT", 36 + 4);
	put32(0x40 + 36, 0x80);
	csum(0x40, 40, 0x40 + 9);
	size_t m = 0x80, e = m + 44;
	buf[e] = 0, buf[e + 1] = 8, buf[e + 2] = 2, buf[e + 3] = 2; /* flags 0: disabled */
	e += 8;
	buf[e] = 5, buf[e + 1] = 12;
	put64(e + 4, 0xfee00000);
	e += 12;
	for (unsigned i = 0; i < 2; i++, e += 16) {
		buf[e] = 9, buf[e + 1] = 16;
		put32(e + 4, 0x100 + i);      /* x2APIC id */
		put32(e + 8, 1);              /* enabled */
		put32(e + 12, i ? 0x047f : 0); /* ACPI processor UID */
	}
	sdt_header(m, "APIC", (uint32_t)(e - m));
	put32(m + 36, 0xfee00000);
	csum(m, e - m, m + 9);
	emit("acpi", "rsdt_madt_x2apic_override", buf, e);
}

/* ---- patch: see the input layout in fuzz_patch.c ---- */

struct plan_in {
	uint8_t how, sel; /* sel 1: the target is the text's address + (int32_t)v */
	uint64_t v;
	uint8_t nbytes, bytes[9];
};

static void patch_seed(const char *name, unsigned nrecs, const struct plan_in plans[2],
		       const uint8_t recs[][5], uint8_t build_len)
{
	size_t p = 0;

	memset(buf, 0, sizeof(buf));
	buf[p++] = (uint8_t)nrecs;
	for (unsigned k = 0; k < 2; k++) {
		buf[p++] = plans[k].how;
		buf[p++] = plans[k].sel;
		put64(p, plans[k].v);
		p += 8;
		buf[p++] = plans[k].nbytes;
		memcpy(buf + p, plans[k].bytes, 9);
		p += 9;
	}
	for (unsigned i = 0; i < 8; i++, p += 5)
		memcpy(buf + p, recs[i], 5);
	buf[p++] = build_len;
	buf[p++] = 0x30; /* patch_build() at text + 0x30 */
	memset(buf + p, 0xcc, 64); /* the text around the sites: int3 */
	emit("patch", name, buf, p + 64);
}

static void patch_seeds(void)
{
	/* Four intact sites, the native plan: 6-byte NOPs for lock_spinning, kicks never called. */
	static const uint8_t four[8][5] = {
		{ 0x00, 0, 6, 0, 1 }, { 0x10, 0, 6, 1, 1 }, { 0x20, 0, 6, 0, 1 }, { 0x30, 0, 6, 1, 1 },
	};
	struct plan_in native[2] = {
		{ .how = PATCH_HOW_NOP, .sel = 1, .v = 0x1000 },
		{ .how = PATCH_HOW_NOP, .sel = 1, .v = 0x1000 },
	};
	patch_seed("native_nop", 4, native, four, 6);

	/* Xen/KVM: direct calls to near targets, and an inline 2-byte replacement. */
	struct plan_in pv[2] = {
		{ .how = PATCH_HOW_CALL, .sel = 1, .v = 0x123400 },
		{ .how = PATCH_HOW_INLINE, .sel = 1, .v = 0x5678, .nbytes = 2, .bytes = { 0xff, 0x07 } },
	};
	patch_seed("pv_call_inline", 4, pv, four, 6);

	/* Refusals: wrong kind's bytes, one flipped byte, a 5-byte record; a 7-byte inline falls back. */
	static const uint8_t bad[8][5] = {
		{ 0x00, 0, 6, 0, 1 | 2 }, { 0x10, 0, 6, 0, 1 | 4 | (3 << 5) }, { 0x20, 0, 5, 1, 1 | 8 },
		{ 0x30, 0, 6, 0, 1 },
	};
	struct plan_in fallback[2] = {
		{ .how = PATCH_HOW_INLINE, .sel = 1, .v = 0x4000, .nbytes = 7,
		  .bytes = { 0x48, 0xc7, 0xc0, 1, 2, 3, 4 } },
		{ .how = PATCH_HOW_KEEP, .sel = 1, .v = 0x4000 },
	};
	patch_seed("refused_and_fallback", 4, fallback, bad, 5);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR   (writes DIR/<target>/<seed>)\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	start_info_seeds();
	cmdline_seeds();
	acpi_seeds();
	patch_seeds();
	return 0;
}
