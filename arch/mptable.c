// SPDX-License-Identifier: MIT
/* mptable.c: the Intel MP table, every checksum and length checked, to list the CPUs where there is no ACPI. */
#include "arch.h"

/*
 * MultiProcessor Specification 1.4, chapter 4. The floating pointer (16 bytes,
 * 16-byte aligned) lies in the first KiB of the EBDA, the last KiB of base
 * memory, or the BIOS ROM at 0xf0000-0xfffff; it points at the configuration
 * table: a 44-byte header, then entries, processors 20 bytes, the others 8.
 * qboot (QEMU microvm's firmware) writes both at 0x9fc00, the last KiB of
 * base memory, and leaves the BDA's fields that point there zero.
 * QEMU's microvm with acpi=off (what Firecracker offered before ACPI) has one.
 */
struct mp_float {
	char sig[4]; /* "_MP_" */
	u32 config;  /* physical address of the configuration table, 0 if none */
	u8 length;   /* in 16-byte units: 1 */
	u8 spec_rev;
	u8 checksum;
	u8 feature1; /* non-zero: one of the spec's default configurations, no table */
	u8 feature2[4];
} __attribute__((packed));

struct mp_config {
	char sig[4]; /* "PCMP" */
	u16 length;  /* base table, header included */
	u8 spec_rev;
	u8 checksum;
	char oem[8], product[12];
	u32 oem_table;
	u16 oem_size;
	u16 entries;
	u32 lapic;
	u16 ext_length;
	u8 ext_checksum;
	u8 rsvd;
} __attribute__((packed));

#define MP_PROCESSOR 0
#define MP_CPU_ENABLED 1

u64 mp_scan(phys_map_fn map)
{
	/* The BDA's words, byte by byte: 0x413 is odd. */
	const u8 *seg = map(0x40e, 2), *kb = map(0x413, 2);
	u64 ebda = seg ? (u64)(seg[0] | seg[1] << 8) << 4 : 0, base_kb = kb ? (u64)(kb[0] | kb[1] << 8) : 0;
	u64 areas[3][2] = {
		{ ebda, 1024 },
		/* The BDA's base memory size, else the spec's default of 640 KiB (qboot writes no BDA). */
		{ ((base_kb >= 1 && base_kb <= 640 ? base_kb : 640) - 1) << 10, 1024 },
		{ 0xf0000, 0x10000 },
	};
	for (int a = 0; a < 3; a++) {
		if (!areas[a][0])
			continue;
		for (u64 pa = areas[a][0]; pa + 16 <= areas[a][0] + areas[a][1]; pa += 16) {
			const struct mp_float *f = map(pa, 16);
			if (f && f->sig[0] == '_' && f->sig[1] == 'M' && f->sig[2] == 'P' && f->sig[3] == '_' &&
			    f->length == 1 && acpi_checksum(f, 16) == 0)
				return pa;
		}
	}
	return 0;
}

const char *mp_find_cpus(u64 float_pa, phys_map_fn map, struct acpi_cpus *out)
{
	static char msg[96];
	*out = (struct acpi_cpus){ 0 };
	const struct mp_float *f = map(float_pa, 16);
	if (!f)
		return "MP floating pointer not readable";
	if (f->sig[0] != '_' || f->sig[1] != 'M' || f->sig[2] != 'P' || f->sig[3] != '_' || f->length != 1 ||
	    acpi_checksum(f, 16) != 0)
		return "MP floating pointer: bad signature, length or checksum";
	if (f->feature1) {
		ksnprintf(msg, sizeof(msg), "MP default configuration %u (no table): not supported", f->feature1);
		return msg;
	}
	if (!f->config)
		return "MP floating pointer gives no configuration table";
	const struct mp_config *c = map(f->config, sizeof(*c));
	if (!c || c->sig[0] != 'P' || c->sig[1] != 'C' || c->sig[2] != 'M' || c->sig[3] != 'P')
		return "MP configuration table unreadable or not 'PCMP'";
	if (c->length < sizeof(*c))
		return "MP configuration table shorter than its header";
	u16 len = c->length;
	c = map(f->config, len);
	if (!c || acpi_checksum(c, len) != 0)
		return "MP configuration table unreadable or bad checksum";
	out->lapic_pa = c->lapic;
	/*
	 * The entries fill the base table's length; its entry count is not trusted
	 * (qboot leaves it 0; Linux's parser walks the length as well).
	 */
	const u8 *p = (const u8 *)c + sizeof(*c), *end = (const u8 *)c + len;
	while (p < end) {
		unsigned elen = p[0] == MP_PROCESSOR ? 20 : 8;
		if (p[0] > 4)
			return "MP configuration table: unknown entry type";
		if ((u64)(end - p) < elen)
			return "MP configuration table: entries run past its length";
		if (p[0] == MP_PROCESSOR && (p[3] & MP_CPU_ENABLED) && !acpi_cpus_add(out, p[1]))
			return "MP table lists an APIC id twice";
		p += elen;
	}
	if (!out->listed)
		return "MP table lists no enabled CPU";
	return 0;
}
