// SPDX-License-Identifier: MIT
/* fuzz_acpi.c: libFuzzer target for acpi_find_cpus() (arch/acpi.c): RSDP, RSDT/XSDT, MADT. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/arch.h"
#define FUZZ_GUEST_MEMORY
#include "fuzz.h"

/*
 * Input: guest-physical memory from address 0, at most MEM_MAX bytes; its
 * first 8 bytes (little-endian) are also the RSDP address given to the parser.
 * Address 0 is never mapped. If bit 0 of byte 8 is set, the harness first makes
 * every checksum it can locate valid (RSDP, RSDT/XSDT, the first FIX_TABLES
 * tables it lists), so that a mutation inside a table reaches the code behind
 * the checksum check instead of stopping at it.
 *
 * Invariants checked on every input:
 *  1. The parser reads only bytes map() granted (the memory is ASan-poisoned,
 *     map() unpoisons what it hands out, to ASan's 8-byte granularity).
 *  2. It accepts exactly when the reference below does (ACPI 6.x, 5.2.5-5.2.12:
 *     RSDP signature and checksums, the RSDT/XSDT and the MADT each whole,
 *     checksummed and at most MAX_TABLE_LEN, every MADT entry within the
 *     table and long enough for its type, an enabled or online-capable CPU,
 *     no APIC id twice).
 *  3. Accepted: 1 <= listed, n == min(listed, MAX_CPUS), the ids kept are the
 *     first n CPU entries in MADT order and distinct, lapic_pa is the last
 *     override (else the header's), note is set exactly when the RSDT/XSDT
 *     signature is wrong, and is NUL-terminated.
 *  4. Refused: one printable line.
 */

#define FIX_TABLES 16
#define MAX_TABLE_LEN (1u << 20) /* acpi.c's */
#define HDR 36                   /* struct sdt_header */
#define MADT_HDR 44              /* struct madt */

static uint8_t in_copy[MEM_MAX]; /* the input, its checksums fixed when asked */

/* ---- the reference: reads an unpoisoned copy of the memory ---- */


static bool sums_to_zero(u64 pa, u64 len)
{
	uint8_t s = 0;
	for (u64 i = 0; i < len; i++)
		s += in[pa + i];
	return s == 0;
}

/* A whole, checksummed table at pa. */
static bool table_ok(u64 pa)
{
	if (!readable(pa, HDR))
		return false;
	u32 len = rd32(pa + 4);
	return len >= HDR && len <= MAX_TABLE_LEN && readable(pa, len) && sums_to_zero(pa, len);
}

/* Set the byte at `field` so that [pa, pa + len) sums to 0 (in in_copy, which `in` points at). */
static void fix_sum(u64 pa, u64 len, u64 field)
{
	in_copy[field] = 0;
	uint8_t s = 0;
	for (u64 i = 0; i < len; i++)
		s += in[pa + i];
	in_copy[field] = (uint8_t)-s;
}

/*
 * Also a table too short to be valid, if it holds its checksum byte: the
 * parser must then refuse it for its length, not for its sum.
 */
static bool fix_table(u64 pa)
{
	if (!readable(pa, HDR))
		return false;
	u32 len = rd32(pa + 4);
	if (len < 10 || len > MAX_TABLE_LEN || !readable(pa, len))
		return false;
	fix_sum(pa, len, pa + 9);
	return true;
}

/* Best effort: a table overlapping another may break the other's sum again. */
static void fix_checksums(u64 rsdp)
{
	if (!readable(rsdp, 20))
		return;
	fix_sum(rsdp, 20, rsdp + 8);
	u64 sdt = rd32(rsdp + 16);
	unsigned esz = 4;
	if (in[rsdp + 15] >= 2 && readable(rsdp, 36)) {
		fix_sum(rsdp, 36, rsdp + 32);
		if (rd64(rsdp + 24))
			sdt = rd64(rsdp + 24), esz = 8;
	}
	if (!fix_table(sdt) || rd32(sdt + 4) < HDR)
		return;
	u32 n = (rd32(sdt + 4) - HDR) / esz;
	for (u32 i = 0; i < n && i < FIX_TABLES; i++)
		fix_table(esz == 8 ? rd64(sdt + HDR + 8 * i) : rd32(sdt + HDR + 4 * i));
	fix_table(sdt); /* again, in case a table it lists overlaps it */
}

static bool ref_madt(u64 pa, struct acpi_cpus *want)
{
	u32 len = rd32(pa + 4);
	if (len < MADT_HDR)
		return false;
	want->lapic_pa = rd32(pa + 36);
	for (u64 p = pa + MADT_HDR, end = pa + len; p < end;) {
		if (end - p < 2 || in[p + 1] < 2 || in[p + 1] > end - p)
			return false;
		u8 type = in[p], elen = in[p + 1];
		u32 id = 0, flags = 0;
		bool cpu = false;
		if (type == 0) { /* Processor Local APIC */
			if (elen < 8)
				return false;
			id = in[p + 3], flags = rd32(p + 4), cpu = true;
		} else if (type == 9) { /* Processor Local x2APIC */
			if (elen < 16)
				return false;
			id = rd32(p + 4), flags = rd32(p + 8), cpu = true;
		} else if (type == 5) { /* Local APIC Address Override */
			if (elen < 12)
				return false;
			want->lapic_pa = rd64(p + 4);
		}
		if (cpu && (flags & 3)) { /* Enabled, Online Capable */
			for (unsigned i = 0; i < want->n; i++)
				if (want->apic_id[i] == id)
					return false;
			want->listed++;
			if (want->n < MAX_CPUS)
				want->apic_id[want->n++] = id;
		}
		p += elen;
	}
	return want->listed > 0;
}

/* The expected result, or false if the input must be refused. *bad_sig: the RSDT/XSDT's. */
static bool reference(u64 rsdp, struct acpi_cpus *want, bool *bad_sig)
{
	memset(want, 0, sizeof(*want));
	*bad_sig = false;
	if (!readable(rsdp, 20) || memcmp(in + rsdp, "RSD PTR ", 8) || !sums_to_zero(rsdp, 20))
		return false;
	u64 sdt = rd32(rsdp + 16);
	unsigned esz = 4;
	if (in[rsdp + 15] >= 2) {
		if (!readable(rsdp, 36) || rd32(rsdp + 20) < 36 || !sums_to_zero(rsdp, 36))
			return false;
		if (rd64(rsdp + 24))
			sdt = rd64(rsdp + 24), esz = 8;
	}
	if (!table_ok(sdt))
		return false;
	*bad_sig = memcmp(in + sdt, esz == 8 ? "XSDT" : "RSDT", 4) != 0;
	u32 n = (rd32(sdt + 4) - HDR) / esz;
	for (u32 i = 0; i < n; i++) {
		u64 pa = esz == 8 ? rd64(sdt + HDR + 8 * i) : rd32(sdt + HDR + 4 * i);
		if (!readable(pa, HDR) || memcmp(in + pa, "APIC", 4))
			continue;
		return table_ok(pa) && ref_madt(pa, want);
	}
	return false;
}

static void check_message(const char *e)
{
	size_t n = strnlen(e, 256);

	CHECK(n > 0 && n < 256);
	for (size_t i = 0; i < n; i++)
		CHECK(e[i] >= 0x20 && e[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct acpi_cpus got, want;
	bool bad_sig;
	u64 rsdp;

	if (size < 9)
		return 0;
	size = size > MEM_MAX ? MEM_MAX : size;
	memcpy(in_copy, data, size);
	in = in_copy;
	in_len = size;
	memcpy(&rsdp, data, 8);
	if (data[8] & 1)
		fix_checksums(rsdp);
	mem_load(in_copy, size);
	memset(&got, 0xa5, sizeof(got));
	const char *e = acpi_find_cpus(rsdp, map, &got);
	ASAN_UNPOISON_MEMORY_REGION(mem, sizeof(mem));

	bool ok = reference(rsdp, &want, &bad_sig);
	if (e) {
		check_message(e);
		CHECK(!ok);
		return 0;
	}
	CHECK(ok);
	CHECK(got.listed >= 1 && got.listed == want.listed);
	CHECK(got.n == (got.listed < MAX_CPUS ? got.listed : MAX_CPUS));
	CHECK(got.n == want.n);
	for (unsigned i = 0; i < got.n; i++) {
		CHECK(got.apic_id[i] == want.apic_id[i]);
		for (unsigned j = 0; j < i; j++)
			CHECK(got.apic_id[i] != got.apic_id[j]);
	}
	CHECK(got.lapic_pa == want.lapic_pa);
	CHECK(strnlen(got.note, sizeof(got.note)) < sizeof(got.note));
	CHECK((got.note[0] != 0) == bad_sig);
	return 0;
}
