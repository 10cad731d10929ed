// SPDX-License-Identifier: MIT
/* tsc.c: the TSC frequency: from CPUID when a leaf gives it, else measured against the PIT. */
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
	x86_outb(0x42, ticks >> 8);
	u64 t0 = x86_rdtsc();
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

void tsc_init(void)
{
	struct cpuid_regs r = x86_cpuid(0, 0);
	if (r.eax >= 0x15) {
		struct cpuid_regs c = x86_cpuid(0x15, 0);
		if (c.eax && c.ebx && c.ecx) {
			tsc_khz = (u64)c.ecx * c.ebx / c.eax / 1000;
			tsc_source = "cpuid-0x15";
			return;
		}
	}
	/* Xen: leaf base+3, subleaf 0, ECX = guest TSC kHz. A Xen domU has no PIT. */
	u32 xen = x86_hypervisor_base("XenVMMXenVMM");
	if (xen && x86_cpuid(xen, 0).eax >= xen + 3) {
		u32 khz = x86_cpuid(xen + 3, 0).ecx;
		if (khz) {
			tsc_khz = khz;
			tsc_source = "xen-cpuid";
			return;
		}
	}
	/* Hypervisor timing leaf (KVM, VMware convention): 0x40000010 EAX = TSC kHz. */
	if (x86_cpuid(1, 0).ecx & CPUID1_ECX_HYPERVISOR) {
		struct cpuid_regs h = x86_cpuid(0x40000000, 0);
		if (h.eax >= 0x40000010 && h.eax < 0x40000100) {
			u32 khz = x86_cpuid(0x40000010, 0).eax;
			if (khz) {
				tsc_khz = khz;
				tsc_source = "cpuid-0x40000010";
				return;
			}
		}
	}
	/* Several samples, keep the smallest: a preempted sample only grows. */
	u64 best = 0;
	for (int i = 0; i < 3; i++) {
		u64 k = tsc_khz_from_pit();
		if (k && (!best || k < best))
			best = k;
	}
	if (best) {
		tsc_khz = best;
		tsc_source = "pit";
		return;
	}
	tsc_khz = 1000000; /* documented fallback: log says so */
	tsc_source = "assumed-1GHz(no PIT, no CPUID leaf)";
}
