// SPDX-License-Identifier: MIT
/* acpi.c: RSDP -> RSDT/XSDT -> MADT, every checksum and length checked, to list the CPUs. */
#include "arch.h"

struct rsdp {
	char sig[8];
	u8 checksum;
	char oem[6];
	u8 revision;
	u32 rsdt;
	u32 length; /* revision >= 2 from here */
	u64 xsdt;
	u8 xchecksum;
	u8 rsvd[3];
} __attribute__((packed));

struct sdt_header {
	char sig[4];
	u32 length;
	u8 revision, checksum;
	char oem[6], oem_table[8];
	u32 oem_rev, creator, creator_rev;
} __attribute__((packed));

struct madt {
	struct sdt_header h;
	u32 lapic;
	u32 flags;
} __attribute__((packed));

#define MADT_LAPIC 0
#define MADT_LAPIC_OVERRIDE 5
#define MADT_X2APIC 9
#define MADT_ENABLED 1
#define MADT_ONLINE_CAPABLE 2
#define MAX_TABLE_LEN (1u << 20)

u8 acpi_checksum(const void *p, u64 n)
{
	const u8 *b = p;
	u8 s = 0;
	for (u64 i = 0; i < n; i++)
		s += b[i];
	return s;
}

static bool sig_eq(const char *a, const char *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static u32 rd32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; }
static u64 rd64(const u8 *p) { return rd32(p) | (u64)rd32(p + 4) << 32; }

/* Map a whole table: header first, then its length; NULL if bad. */
static const struct sdt_header *map_table(u64 pa, phys_map_fn map)
{
	const struct sdt_header *h = map(pa, sizeof(*h));
	if (!h || h->length < sizeof(*h) || h->length > MAX_TABLE_LEN)
		return 0;
	u32 len = h->length;
	h = map(pa, len);
	if (!h || h->length != len || acpi_checksum(h, len) != 0)
		return 0;
	return h;
}

bool acpi_cpus_add(struct acpi_cpus *out, u32 id)
{
	for (unsigned i = 0; i < out->n; i++)
		if (out->apic_id[i] == id)
			return false;
	out->listed++;
	if (out->n < MAX_CPUS)
		out->apic_id[out->n++] = id;
	return true;
}

static const char *parse_madt(const struct madt *m, struct acpi_cpus *out)
{
	if (m->h.length < sizeof(*m))
		return "MADT shorter than its fixed header";
	out->lapic_pa = m->lapic;
	const u8 *p = (const u8 *)m + sizeof(*m), *end = (const u8 *)m + m->h.length;
	while (p < end) {
		if (end - p < 2 || p[1] < 2 || p[1] > end - p)
			return "MADT entry length runs past the table";
		u8 type = p[0], len = p[1];
		u32 id = 0, flags = 0;
		bool cpu = false;
		if (type == MADT_LAPIC && len >= 8) {
			id = p[3];
			flags = rd32(p + 4);
			cpu = true;
		} else if (type == MADT_X2APIC && len >= 16) {
			id = rd32(p + 4);
			flags = rd32(p + 8);
			cpu = true;
		} else if (type == MADT_LAPIC_OVERRIDE && len >= 12) {
			out->lapic_pa = rd64(p + 4);
		} else if (type == MADT_LAPIC || type == MADT_X2APIC || type == MADT_LAPIC_OVERRIDE) {
			return "MADT entry too short for its type";
		}
		if (cpu && (flags & (MADT_ENABLED | MADT_ONLINE_CAPABLE)) && !acpi_cpus_add(out, id))
			return "MADT lists an APIC id twice";
		p += len;
	}
	if (!out->listed)
		return "MADT lists no enabled CPU";
	return 0;
}

const char *acpi_find_cpus(u64 rsdp_pa, phys_map_fn map, struct acpi_cpus *out)
{
	*out = (struct acpi_cpus){ 0 };
	out->note[0] = 0;
	const struct rsdp *r = map(rsdp_pa, 20);
	if (!r)
		return "RSDP address not readable";
	if (!sig_eq(r->sig, "RSD PTR ", 8))
		return "RSDP signature is not 'RSD PTR '";
	if (acpi_checksum(r, 20) != 0)
		return "RSDP checksum bad";

	u64 sdt_pa = r->rsdt;
	unsigned entry = 4;
	if (r->revision >= 2) {
		r = map(rsdp_pa, sizeof(*r));
		if (!r || r->length < sizeof(*r) || acpi_checksum(r, sizeof(*r)) != 0)
			return "RSDP extended checksum or length bad";
		if (r->xsdt) {
			sdt_pa = r->xsdt;
			entry = 8;
		}
	}
	const struct sdt_header *sdt = map_table(sdt_pa, map);
	if (!sdt)
		return entry == 8 ? "XSDT unreadable, bad length or bad checksum"
				  : "RSDT unreadable, bad length or bad checksum";
	if (!sig_eq(sdt->sig, entry == 8 ? "XSDT" : "RSDT", 4)) {
		/*
		 * Documented fallback: Xen 4.17 builds a PVH dom0's XSDT by copying the
		 * firmware's XSDT header; on RSDT-only firmware (SeaBIOS) it copies from
		 * address 0, so the signature is garbage while the length and checksum,
		 * which Xen recomputes, are valid. The RSDP pointed here: use it, and say so.
		 */
		ksnprintf(out->note, sizeof(out->note),
			  "%s at %lx has signature %02x %02x %02x %02x; used anyway (length and checksum valid)",
			  entry == 8 ? "XSDT" : "RSDT", sdt_pa, (u8)sdt->sig[0], (u8)sdt->sig[1],
			  (u8)sdt->sig[2], (u8)sdt->sig[3]);
	}

	const u8 *e = (const u8 *)sdt + sizeof(*sdt);
	unsigned n = (sdt->length - sizeof(*sdt)) / entry;
	for (unsigned i = 0; i < n; i++) {
		u64 pa = entry == 8 ? rd64(e + i * 8) : rd32(e + i * 4);
		const struct sdt_header *h = map(pa, sizeof(*h));
		if (!h || !sig_eq(h->sig, "APIC", 4))
			continue;
		const struct sdt_header *m = map_table(pa, map);
		if (!m)
			return "MADT unreadable, bad length or bad checksum";
		return parse_madt((const struct madt *)m, out);
	}
	return "no MADT ('APIC') in the RSDT/XSDT";
}

u64 acpi_scan_rsdp(phys_map_fn map)
{
	const u16 *ebda_seg = map(0x40e, 2);
	u64 areas[2][2] = { { ebda_seg ? (u64)*ebda_seg << 4 : 0, 1024 }, { 0xe0000, 0x20000 } };
	for (int a = 0; a < 2; a++) {
		if (!areas[a][0])
			continue;
		for (u64 pa = areas[a][0]; pa + 20 <= areas[a][0] + areas[a][1]; pa += 16) {
			const struct rsdp *r = map(pa, 20);
			if (r && sig_eq(r->sig, "RSD PTR ", 8) && acpi_checksum(r, 20) == 0)
				return pa;
		}
	}
	return 0;
}
