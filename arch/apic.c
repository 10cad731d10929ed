// SPDX-License-Identifier: MIT
/* apic.c: local APIC, x2APIC (MSRs) where CPUID offers it, else xAPIC (MMIO): IPIs, EOI, timer. */
#include "arch.h"

#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_X2 (1u << 10)

/* Register offsets (xAPIC MMIO); the x2APIC MSR is 0x800 + offset / 16. */
#define R_ID 0x020
#define R_EOI 0x0b0
#define R_SVR 0x0f0
#define R_ICR_LO 0x300
#define R_ICR_HI 0x310
#define R_LVT_TIMER 0x320
#define R_TIMER_INIT 0x380
#define R_TIMER_CUR 0x390
#define R_TIMER_DIV 0x3e0

#define ICR_INIT 0x00000500
#define ICR_STARTUP 0x00000600
#define ICR_NMI 0x00000400
#define ICR_ASSERT 0x00004000
#define ICR_LEVEL 0x00008000
#define ICR_BUSY 0x00001000
#define ICR_ALL_BUT_SELF 0x000c0000
#define LVT_MASKED 0x00010000
#define LVT_PERIODIC 0x00020000

static bool x2;
static volatile u32 *mmio;

bool apic_is_x2(void) { return x2; }

static u32 rd(u32 reg)
{
	return x2 ? (u32)x86_rdmsr(0x800 + reg / 16) : mmio[reg / 4];
}

static void wr(u32 reg, u32 v)
{
	if (x2)
		x86_wrmsr(0x800 + reg / 16, v);
	else
		mmio[reg / 4] = v;
}

static void enable_self(void)
{
	u64 base = x86_rdmsr(MSR_APIC_BASE);
	base |= APIC_BASE_ENABLE;
	if (x2)
		base |= APIC_BASE_X2;
	x86_wrmsr(MSR_APIC_BASE, base);
	wr(R_SVR, 0x100 | VEC_SPURIOUS); /* software enable */
}

/*
 * The legacy 8259 PICs: firmware leaves them delivering IRQ0 on vector 8, which
 * would look like a double fault. Move them to 0x20-0x2f and mask every line.
 */
static void pic_disable(void)
{
	x86_outb(0x20, 0x11); /* ICW1: init, ICW4 follows */
	x86_outb(0xa0, 0x11);
	x86_outb(0x21, 0x20); /* ICW2: vector bases */
	x86_outb(0xa1, 0x28);
	x86_outb(0x21, 0x04); /* ICW3: cascade on IRQ2 */
	x86_outb(0xa1, 0x02);
	x86_outb(0x21, 0x01); /* ICW4: 8086 mode */
	x86_outb(0xa1, 0x01);
	x86_outb(0x21, 0xff); /* mask all */
	x86_outb(0xa1, 0xff);
}

void apic_init(u64 lapic_pa)
{
	pic_disable();
	x2 = x86_cpuid(1, 0).ecx & CPUID1_ECX_X2APIC;
	if (!x2) {
		if (lapic_pa >= 0x100000000ull || lapic_pa < 0xfe000000ull)
			panic("apic: xAPIC at %lx is outside the uncached MMIO window", lapic_pa);
		mmio = (volatile u32 *)(uintptr_t)lapic_pa;
	}
	enable_self();
}

void apic_init_ap(void) { enable_self(); }

u32 apic_id_self(void) { return x2 ? rd(R_ID) : rd(R_ID) >> 24; }

void apic_eoi(void) { wr(R_EOI, 0); }

static void send_ipi(u32 apic_id, u32 lo)
{
	if (x2) {
		/*
		 * A WRMSR to the x2APIC ICR is not ordered after earlier stores (an
		 * MMIO write to the xAPIC's is): without the fences the IPI can
		 * reach its target before the work_gen or sync_gen it announces.
		 */
		__asm__ volatile("mfence; lfence" ::: "memory");
		x86_wrmsr(0x830, ((u64)apic_id << 32) | lo);
		return;
	}
	wr(R_ICR_HI, apic_id << 24);
	wr(R_ICR_LO, lo);
	for (int i = 0; i < 1000000 && (rd(R_ICR_LO) & ICR_BUSY); i++)
		x86_pause();
}

void apic_send_init(u32 apic_id) { send_ipi(apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL); }
void apic_send_sipi(u32 apic_id, u8 vector) { send_ipi(apic_id, ICR_STARTUP | ICR_ASSERT | vector); }
void apic_send_others(u8 vector) { send_ipi(0, ICR_ALL_BUT_SELF | ICR_ASSERT | vector); }
void apic_send_nmi(u32 apic_id) { send_ipi(apic_id, ICR_NMI | ICR_ASSERT); }

void apic_timer_start(u64 period_us)
{
	/* Count how far the timer runs in 10 ms of TSC, at divide-by-16. */
	wr(R_TIMER_DIV, 0x3);
	wr(R_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	wr(R_TIMER_INIT, 0xffffffff);
	tsc_delay_us(10000);
	u64 per_10ms = 0xffffffffu - rd(R_TIMER_CUR);
	u64 count = per_10ms * period_us / 10000;
	if (count == 0 || count > 0xffffffffu)
		count = count ? 0xffffffffu : 1;
	wr(R_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	wr(R_TIMER_INIT, (u32)count);
}

void apic_timer_stop(void)
{
	wr(R_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	wr(R_TIMER_INIT, 0);
}
