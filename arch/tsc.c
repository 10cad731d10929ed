// SPDX-License-Identifier: MIT
/* tsc.c: the TSC frequency: a CPUID leaf's, held to an independent clock, else measured against the PIT. */
#include "arch.h"

u64 tsc_khz;
const char *tsc_source = "none";

/* PIT channel 2, gated through port 0x61, counts 1193182 Hz: time ~10 ms of TSC. */
static u64 tsc_khz_from_pit(void)
{
	const u32 ticks = 11932; /* 10 ms */
	u8 p61 = x86_inb(0x61);
	x86_outb(0x61, (p61 & ~0x02) | 0x01); /* gate on, speaker off */
	x86_outb(0x43, 0xb0);                 /* ch2, lo/hi, mode 0 */
	x86_outb(0x42, ticks & 0xff);
	u64 ta = x86_rdtsc();
	x86_outb(0x42, ticks >> 8); /* the count starts here */
	u64 t0 = x86_rdtsc();
	if (t0 - ta > 200000)
		return 0; /* preempted around the start: t0 is late, the sample would come out short */
	u64 loops = 0;
	while (!(x86_inb(0x61) & 0x20)) /* OUT2 goes high at terminal count */
		if (++loops > 100000000)
			return 0;                 /* no PIT answers */
	if (loops == 0)
		return 0; /* OUT2 high at once: no PIT here (unbacked port 0x61 reads 0xff) */
	u64 t1 = x86_rdtsc();
	x86_outb(0x61, p61);
	return (t1 - t0) / 10;
}

/*
 * The CMOS RTC: its seconds register (0x00) changes once a second, so the TSC
 * between two changes is one second of it (to the polling interval, a few
 * microseconds). Its update-in-progress flag would mark the same instant, but
 * it is high for only 244 us, which a vCPU polling through I/O exits can miss
 * (QEMU TCG: the rate came out 5x too high). Up to 2 s of boot, so only when
 * nothing else gives a rate. 0 if there is no RTC (status register A reads
 * 0xff) or no change within the bound (3*10^10 TSC cycles: 3 s at 10 GHz).
 */
static u8 cmos_read(u8 reg)
{
	x86_outb(0x70, reg);
	return x86_inb(0x71);
}

static u64 tsc_khz_from_rtc(void)
{
	if (cmos_read(0x0a) == 0xff)
		return 0;
	u64 edge[2], start = x86_rdtsc();
	for (int e = 0; e < 2; e++) {
		u8 s = cmos_read(0x00);
		while (cmos_read(0x00) == s)
			if (x86_rdtsc() - start > 30000000000ull)
				return 0;
		edge[e] = x86_rdtsc();
	}
	return (edge[1] - edge[0]) / 1000;
}

u64 tsc_leaf_khz;
const char *tsc_leaf_source = "none";
char tsc_leaf_check[160];
bool tsc_leaf_checked, tsc_leaf_refused;
bool tsc_inject_bad_leaf;

/* The rate a CPUID leaf reports, or 0: the architectural leaf 0x15, Xen's time leaf, the timing leaf. */
static u64 leaf_khz(const char **source)
{
	struct cpuid_regs r = x86_cpuid(0, 0);
	if (r.eax >= 0x15) {
		struct cpuid_regs c = x86_cpuid(0x15, 0);
		if (c.eax && c.ebx && c.ecx) {
			*source = "cpuid-0x15";
			return (u64)c.ecx * c.ebx / c.eax / 1000;
		}
	}
	/* Leaf 0x16: the processor's base frequency in MHz, the TSC's on the CPUs that have it. */
	if (r.eax >= 0x16) {
		u32 mhz = x86_cpuid(0x16, 0).eax & 0xffff;
		if (mhz) {
			*source = "cpuid-0x16";
			return (u64)mhz * 1000;
		}
	}
	/* Xen: leaf base+3, subleaf 0, ECX = guest TSC kHz (xen/arch-x86/cpuid.h). */
	u32 xen = x86_hypervisor_base("XenVMMXenVMM");
	if (xen && x86_cpuid(xen, 0).eax >= xen + 3) {
		u32 khz = x86_cpuid(xen + 3, 0).ecx;
		if (khz) {
			*source = "xen-cpuid";
			return khz;
		}
	}
	/* Hypervisor timing leaf (KVM, VMware convention): 0x40000010 EAX = TSC kHz. */
	if (x86_cpuid(1, 0).ecx & CPUID1_ECX_HYPERVISOR) {
		struct cpuid_regs h = x86_cpuid(0x40000000, 0);
		if (h.eax >= 0x40000010 && h.eax < 0x40000100) {
			u32 khz = x86_cpuid(0x40000010, 0).eax;
			if (khz) {
				*source = "cpuid-0x40000010";
				return khz;
			}
		}
	}
	return 0;
}

bool tsc_check_leaf(u64 clock_khz, const char *clock)
{
	if (!tsc_leaf_khz || tsc_leaf_check[0] || !clock_khz)
		return true;
	u64 lo = clock_khz - clock_khz / 10, hi = clock_khz + clock_khz / 10;
	bool ok = tsc_leaf_khz >= lo && tsc_leaf_khz <= hi;
	tsc_leaf_checked = true;
	ksnprintf(tsc_leaf_check, sizeof(tsc_leaf_check), "%s says %lu kHz, %s gives %lu kHz: %s",
		  tsc_leaf_source, tsc_leaf_khz, clock, clock_khz,
		  ok ? "within 10%, kept" : "more than 10% apart, the leaf is refused");
	if (!ok) {
		tsc_leaf_refused = true;
		tsc_khz = clock_khz;
		tsc_source = clock;
	}
	return ok;
}

/*
 * A rate from a CPUID leaf is a value a hypervisor reports: it is held to the
 * PIT when there is one (tsc_check_leaf). Without a PIT (a Xen PVH guest), the
 * Xen backend holds it to Xen's own time scale once it has mapped shared_info.
 */
void tsc_init(void)
{
	u64 leaf = leaf_khz(&tsc_leaf_source);
	if (leaf && tsc_inject_bad_leaf)
		leaf *= 4;
	/*
	 * Five PIT samples, their median: a vCPU preempted during a sample makes it
	 * long (TSC runs on), one preempted at its start is dropped (above).
	 */
	u64 s[5], pit = 0;
	unsigned n = 0;
	for (int i = 0; i < 5; i++) {
		u64 k = tsc_khz_from_pit();
		if (k)
			s[n++] = k;
		else if (i == 0)
			break; /* no PIT: do not wait for it four more times */
	}
	for (unsigned i = 1; i < n; i++) /* insertion sort */
		for (unsigned j = i; j > 0 && s[j - 1] > s[j]; j--) {
			u64 t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	if (n)
		pit = s[n / 2];
	if (leaf) {
		tsc_leaf_khz = leaf;
		tsc_khz = leaf;
		tsc_source = tsc_leaf_source;
		tsc_check_leaf(pit, "pit");
		return;
	}
	if (pit) {
		tsc_khz = pit;
		tsc_source = "pit";
		return;
	}
	u64 rtc = tsc_khz_from_rtc();
	if (rtc) {
		tsc_khz = rtc;
		tsc_source = "rtc";
		return;
	}
	tsc_khz = 1000000; /* documented fallback: log says so */
	tsc_source = "assumed-1GHz(no PIT, no RTC, no CPUID leaf)";
}
