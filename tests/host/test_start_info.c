// SPDX-License-Identifier: MIT
/* test_start_info.c: the boot-time parsers on the host: start_info, command line, ACPI MADT. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <xen/arch-x86/hvm/start_info.h>
#include "boot/boot.h"
#include "arch/cmdline.h"

/* Guest "physical memory": 64 KiB; map() refuses anything outside it. */
#define MEM_SIZE 0x10000
static uint8_t mem[MEM_SIZE];
static const void *map(u64 pa, u64 len)
{
	if (pa == 0 || pa > MEM_SIZE || len > MEM_SIZE - pa)
		return NULL;
	return mem + pa;
}

static int ncase, nfail, case_failed;
#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			printf("# FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);      \
			case_failed = 1;                                           \
		}                                                                  \
	} while (0)
static void end_case(const char *name)
{
	printf("%s %d %s\n", case_failed ? "not ok" : "ok", ++ncase, name);
	nfail += case_failed;
	case_failed = 0;
}

#define SI_PA 0x1000
#define CMD_PA 0x2000
#define MM_PA 0x3000
static struct hvm_start_info *si(void) { return (struct hvm_start_info *)(mem + SI_PA); }

static void good_start_info(void)
{
	memset(mem, 0, sizeof(mem));
	*si() = (struct hvm_start_info){ .magic = XEN_HVM_START_MAGIC_VALUE, .version = 1,
					 .cmdline_paddr = CMD_PA, .rsdp_paddr = 0x4000,
					 .memmap_paddr = MM_PA, .memmap_entries = 2 };
	strcpy((char *)mem + CMD_PA, "pvlock=off stress.iters=5");
	struct hvm_memmap_table_entry *m = (void *)(mem + MM_PA);
	m[0] = (struct hvm_memmap_table_entry){ 0, 0xa0000, XEN_HVM_MEMMAP_TYPE_RAM, 0 };
	m[1] = (struct hvm_memmap_table_entry){ 0x100000, 0x7f00000, XEN_HVM_MEMMAP_TYPE_RAM, 0 };
}

static void test_start_info(void)
{
	static struct boot_info bi;
	const char *e;

	good_start_info();
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e == NULL);
	CHECK(strcmp(bi.cmdline, "pvlock=off stress.iters=5") == 0);
	CHECK(bi.rsdp_pa == 0x4000 && bi.memmap_entries == 2 && bi.ram_bytes == 0xa0000 + 0x7f00000);
	end_case("start_info_good");

	good_start_info();
	e = boot_parse_start_info(0, map, &bi);
	CHECK(e && strstr(e, "no start_info"));
	end_case("start_info_missing");

	good_start_info();
	si()->magic ^= 1;
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e && strstr(e, "magic"));
	end_case("start_info_bad_magic");

	good_start_info();
	e = boot_parse_start_info(MEM_SIZE - 8, map, &bi);
	CHECK(e && strstr(e, "not readable"));
	end_case("start_info_unreadable");

	good_start_info();
	si()->reserved = 7;
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e && strstr(e, "reserved"));
	end_case("start_info_reserved_nonzero");

	good_start_info();
	memset(mem + CMD_PA, 'a', BOOT_CMDLINE_MAX + 10);
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e && strstr(e, "longer than"));
	end_case("start_info_cmdline_too_long");

	good_start_info();
	si()->cmdline_paddr = MEM_SIZE + 0x1000;
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e && strstr(e, "command line address"));
	end_case("start_info_cmdline_unreadable");

	good_start_info();
	si()->memmap_entries = BOOT_MEMMAP_MAX + 1;
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e && strstr(e, "memory map has"));
	end_case("start_info_memmap_too_many");

	good_start_info();
	si()->memmap_paddr = MEM_SIZE - 24;
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e && strstr(e, "memory map at"));
	end_case("start_info_memmap_unreadable");

	good_start_info();
	si()->version = 0; /* v0: no memory map fields, reserved not checked */
	si()->reserved = 7;
	e = boot_parse_start_info(SI_PA, map, &bi);
	CHECK(e == NULL && bi.memmap_entries == 0 && bi.version == 0);
	end_case("start_info_version0");
}

static void test_cmdline(void)
{
	static const char *const ch[] = { "auto", "off", 0 };
	static const char *const lch[] = { "spin", "pv", "tas", 0 };
	u64 mode, iters, modes;
	char err[160];
	struct cmdline_opt o[3];
	const char *e;
#define RESET()                                                                       \
	do {                                                                          \
		mode = 0, iters = 100, modes = 0;                                     \
		o[0] = (struct cmdline_opt){ "pvlock", &mode, 0, 0, ch, "auto|off", false, false }; \
		o[1] = (struct cmdline_opt){ "stress.iters", &iters, 1, 1000, 0, 0, false, false }; \
		o[2] = (struct cmdline_opt){ "stress.modes", &modes, 0, 0, lch, "spin|pv|tas", false, true }; \
	} while (0)

	RESET();
	e = cmdline_parse("  pvlock=off   stress.iters=1000 ", o, 3, err, sizeof(err));
	CHECK(e == NULL && mode == 1 && iters == 1000);
	RESET();
	e = cmdline_parse("", o, 3, err, sizeof(err));
	CHECK(e == NULL && mode == 0 && iters == 100 && modes == 0);
	RESET();
	e = cmdline_parse("stress.modes=tas,spin", o, 3, err, sizeof(err));
	CHECK(e == NULL && modes == 5);
	RESET();
	e = cmdline_parse("stress.modes=pv", o, 3, err, sizeof(err));
	CHECK(e == NULL && modes == 2);
	end_case("cmdline_good");

	struct {
		const char *line, *want;
	} bad[] = {
		{ "bogus=1", "unknown option 'bogus'" },
		{ "pvlockx=off", "unknown option 'pvlockx'" },
		{ "pvlock", "needs a value" },
		{ "pvlock=", "expected one of auto|off" },
		{ "pvlock=offf", "expected one of auto|off" },
		{ "stress.iters=0", "out of range [1, 1000]" },
		{ "stress.iters=1001", "out of range" },
		{ "stress.iters=-1", "not a decimal number" },
		{ "stress.iters=99999999999999999999", "not a decimal number" },
		{ "stress.iters=", "not a decimal number" },
		{ "pvlock=off pvlock=auto", "given twice" },
		{ "stress.modes=", "'' is not one of spin|pv|tas" },
		{ "stress.modes=spin,,pv", "'' is not one of" },
		{ "stress.modes=spin,", "'' is not one of" },
		{ "stress.modes=spin,pvx", "'pvx' is not one of" },
		{ "stress.modes=pv,spin,pv", "'pv' given twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		RESET();
		e = cmdline_parse(bad[i].line, o, 3, err, sizeof(err));
		if (!e || !strstr(e, bad[i].want)) {
			printf("# '%s' -> '%s', want '%s'\n", bad[i].line, e ? e : "(accepted)", bad[i].want);
			case_failed = 1;
		}
	}
	end_case("cmdline_bad_input");
}

/* ---- ACPI: build RSDP v2 -> XSDT -> MADT in mem (tables are byte-packed: no aligned stores) ---- */
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void csum(void *p, size_t len, uint8_t *field)
{
	uint8_t s = 0;
	*field = 0;
	for (size_t i = 0; i < len; i++)
		s += ((uint8_t *)p)[i];
	*field = (uint8_t)-s;
}

#define RSDP_PA 0x4000
#define XSDT_PA 0x4100
#define MADT_PA 0x4200
static void build_acpi(unsigned ncpus, bool dup)
{
	memset(mem + RSDP_PA, 0, 0x2000);
	uint8_t *r = mem + RSDP_PA;
	memcpy(r, "RSD PTR ", 8);
	r[15] = 2;
	put32(r + 20, 36);
	put64(r + 24, XSDT_PA);
	csum(r, 20, r + 8);
	csum(r, 36, r + 32);

	uint8_t *m = mem + MADT_PA;
	memcpy(m, "APIC", 4);
	put32(m + 36, 0xfee00000);
	uint8_t *e = m + 44;
	for (unsigned i = 0; i < ncpus; i++, e += 8) {
		e[0] = 0, e[1] = 8, e[2] = i, e[3] = dup ? 0 : i;
		put32(e + 4, 1);
	}
	put32(m + 4, (uint32_t)(e - m));
	csum(m, e - m, m + 9);

	uint8_t *x = mem + XSDT_PA;
	memcpy(x, "XSDT", 4);
	put32(x + 4, 36 + 8);
	put64(x + 36, MADT_PA);
	csum(x, 44, x + 9);
}

static void test_acpi(void)
{
	static struct acpi_cpus c;
	const char *e;

	build_acpi(4, false);
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e == NULL && c.n == 4 && c.listed == 4 && c.apic_id[3] == 3 && c.lapic_pa == 0xfee00000);
	end_case("acpi_madt_good");

	build_acpi(MAX_CPUS + 6, false);
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e == NULL && c.n == MAX_CPUS && c.listed == MAX_CPUS + 6);
	end_case("acpi_more_cpus_than_supported_capped");

	build_acpi(4, false);
	mem[MADT_PA + 50] ^= 0xff; /* corrupt an entry: checksum no longer adds up */
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e && strstr(e, "MADT") && strstr(e, "checksum"));
	end_case("acpi_madt_bad_checksum");

	build_acpi(4, false);
	mem[RSDP_PA] = 'X';
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e && strstr(e, "signature"));
	end_case("acpi_rsdp_bad_signature");

	build_acpi(4, false);
	put64(mem + XSDT_PA + 36, 0x5000); /* points at zeros: no MADT */
	csum(mem + XSDT_PA, 44, mem + XSDT_PA + 9);
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e && strstr(e, "no MADT"));
	end_case("acpi_missing_madt");

	build_acpi(4, false);
	mem[MADT_PA + 44 + 1] = 200; /* entry length past the table */
	csum(mem + MADT_PA, get32(mem + MADT_PA + 4), mem + MADT_PA + 9);
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e && strstr(e, "runs past"));
	end_case("acpi_madt_entry_overrun");

	build_acpi(4, false);
	memcpy(mem + XSDT_PA, "\x53\xff\x00\xf0", 4); /* Xen 4.17 PVH dom0 on SeaBIOS */
	csum(mem + XSDT_PA, 44, mem + XSDT_PA + 9);
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e == NULL && c.n == 4 && strstr(c.note, "used anyway"));
	end_case("acpi_xsdt_bad_signature_valid_checksum_used_with_note");

	build_acpi(2, true);
	e = acpi_find_cpus(RSDP_PA, map, &c);
	CHECK(e && strstr(e, "twice"));
	end_case("acpi_madt_duplicate_apic_id");
}

/*
 * An MP table as qboot writes one (entry count left 0: the entries fill the
 * length), found through the BDA's EBDA segment: the floating pointer at
 * MP_PA, the configuration table after it; n processors with APIC ids 0..n-1
 * (the last one disabled if `disable_last`), then a bus and an I/O APIC entry.
 */
#define MP_PA 0x8000
static void build_mp(unsigned n, bool disable_last)
{
	memset(mem, 0, sizeof(mem));
	uint16_t seg = MP_PA >> 4;
	memcpy(mem + 0x40e, &seg, 2);
	uint8_t *f = mem + MP_PA, *c = f + 16, *p = c + 44;
	memcpy(f, "_MP_", 4);
	put32(f + 4, MP_PA + 16);
	f[8] = 1;  /* length: 16 bytes */
	f[9] = 4;  /* spec 1.4 */
	memcpy(c, "PCMP", 4);
	c[6] = 4;
	put32(c + 36, 0xfee00000);
	for (unsigned i = 0; i < n; i++, p += 20) {
		p[0] = 0; /* processor */
		p[1] = i; /* APIC id */
		p[3] = disable_last && i == n - 1 ? 0 : 1;
	}
	p[0] = 1; /* bus */
	p += 8;
	p[0] = 2; /* I/O APIC */
	p += 8;
	uint16_t len = (uint16_t)(p - c);
	memcpy(c + 4, &len, 2);
	csum(c, len, c + 7);
	csum(f, 16, f + 10);
}

static void test_mp(void)
{
	static struct acpi_cpus c;
	const char *e;

	build_mp(4, true);
	u64 pa = mp_scan(map);
	e = pa ? mp_find_cpus(pa, map, &c) : "not found";
	CHECK(pa == MP_PA && e == NULL && c.n == 3 && c.listed == 3 && c.apic_id[2] == 2 && c.lapic_pa == 0xfee00000);
	end_case("mp_table_good_entry_count_zero");

	build_mp(4, false);
	mem[MP_PA + 16 + 44 + 1] ^= 0x40; /* an APIC id: the table's checksum no longer adds up */
	e = mp_find_cpus(MP_PA, map, &c);
	CHECK(e && strstr(e, "checksum"));
	end_case("mp_table_bad_checksum");

	build_mp(4, false);
	mem[MP_PA + 16 + 4] -= 4; /* the length ends inside the last entry */
	csum(mem + MP_PA + 16, mem[MP_PA + 16 + 4], mem + MP_PA + 16 + 7);
	e = mp_find_cpus(MP_PA, map, &c);
	CHECK(e && strstr(e, "run past"));
	end_case("mp_table_entry_overrun");

	build_mp(2, false);
	mem[MP_PA + 11] = 5; /* feature byte 1: default configuration 5, no table */
	csum(mem + MP_PA, 16, mem + MP_PA + 10);
	e = mp_find_cpus(MP_PA, map, &c);
	CHECK(e && strstr(e, "default configuration 5"));
	end_case("mp_default_configuration_refused");

	build_mp(2, false);
	mem[MP_PA + 16 + 44 + 20 + 1] = 0; /* the second processor has the first one's APIC id */
	csum(mem + MP_PA + 16, mem[MP_PA + 16 + 4], mem + MP_PA + 16 + 7);
	e = mp_find_cpus(MP_PA, map, &c);
	CHECK(e && strstr(e, "twice"));
	end_case("mp_table_duplicate_apic_id");
}

int main(void)
{
	printf("KTAP version 1\n1..25\n");
	test_start_info();
	test_cmdline();
	test_acpi();
	test_mp();
	return nfail ? 1 : 0;
}
