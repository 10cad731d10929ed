/* SPDX-License-Identifier: MIT */
/* x86.h: x86-64 primitives as small inline wrappers (cpuid, msr, port I/O, tsc, pause/hlt, atomics). */
#ifndef PVTICK_X86_H
#define PVTICK_X86_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int32_t s32;
typedef int64_t s64;

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define barrier() __asm__ volatile("" ::: "memory")
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct cpuid_regs { u32 eax, ebx, ecx, edx; };

static inline struct cpuid_regs x86_cpuid(u32 leaf, u32 subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

/* CPUID is serialising: used after code is rewritten, before it runs. */
static inline void x86_serialize(void)
{
	__asm__ volatile("" ::: "memory"); /* and no memory access moves across it */
	(void)x86_cpuid(0, 0);
	__asm__ volatile("" ::: "memory");
}

static inline u64 x86_rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void x86_wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

static inline void x86_outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void x86_outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 x86_inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* RDTSC, not RDTSCP: RDTSCP faults in a Xen domU under QEMU TCG (see README). */
static inline u64 x86_rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void x86_pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void x86_cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void x86_sti(void) { __asm__ volatile("sti" ::: "memory"); }
/* HLT MAY return on any interrupt or spurious event: every caller loops. */
static inline bool x86_irqs_enabled(void)
{
	u64 f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f & (1u << 9);
}
static inline void x86_hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
/*
 * Enable interrupts and halt, as one step: STI's one-instruction shadow keeps
 * any interrupt out until HLT has begun, so one that is pending, or arrives
 * after the caller's last check (made with interrupts off), ends the HLT
 * instead of being taken just before it and leaving the CPU asleep.
 */
static inline void x86_sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void x86_invlpg(const void *va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }

static inline u64 x86_read_cr2(void)
{
	u64 v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline u64 x86_read_cr3(void)
{
	u64 v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline __attribute__((noreturn)) void x86_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

#define CPUID1_ECX_HYPERVISOR (1u << 31)

/*
 * The hypervisor CPUID leaves sit at 0x40000000 + n*0x100 (Xen moves up when it
 * also offers Viridian). Returns the base whose signature is sig (12 bytes), or 0.
 */
static inline u32 x86_hypervisor_base(const char sig[12])
{
	u32 want[3];
	__builtin_memcpy(want, sig, 12);
	if (!(x86_cpuid(1, 0).ecx & CPUID1_ECX_HYPERVISOR))
		return 0;
	for (u32 base = 0x40000000; base < 0x40010000; base += 0x100) {
		struct cpuid_regs r = x86_cpuid(base, 0);
		if (r.ebx == want[0] && r.ecx == want[1] && r.edx == want[2] && r.eax >= base)
			return base;
	}
	return 0;
}

#define MSR_EFER 0xc0000080
#define MSR_GS_BASE 0xc0000101
#define MSR_APIC_BASE 0x1b

#define CPUID1_ECX_X2APIC (1u << 21)

#endif
