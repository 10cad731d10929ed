/* SPDX-License-Identifier: MIT */
/* arch.h: the machine every environment shares: console, traps, ACPI, APIC, SMP, TSC, paging, exit. */
#ifndef PVTICK_ARCH_H
#define PVTICK_ARCH_H

#include <stdarg.h>
#include "x86.h"
#include "../boot/layout.h"

/* ---- console.c ---- */
/* Serial COM1, and port 0xe9 once console_use_e9() is called (Xen prints it). */
void console_init(void);
void console_use_e9(void);
/* Extra sink, e.g. a hypervisor console ring. MAY be called with the console lock held. */
void console_set_sink(void (*sink)(const char *s, size_t n));
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fatal: print the line, end the run as failed. */
void __attribute__((noreturn, format(printf, 1, 2))) panic(const char *fmt, ...);

/* ---- exit.c ---- */
/* End the run: isa-debug-exit under QEMU, or the hook a backend installs (Xen: SCHEDOP_shutdown). */
void __attribute__((noreturn)) machine_exit(bool pass);
void machine_set_exit(void (*fn)(bool pass));

/* ---- percpu.c ---- */
struct tss64 {
	u32 rsvd0;
	u64 rsp[3];
	u64 rsvd1;
	u64 ist[7];
	u64 rsvd2;
	u16 rsvd3;
	u16 iomap;
} __attribute__((packed));

enum cpu_state { CPU_ABSENT, CPU_STARTING, CPU_ONLINE, CPU_FAILED };

struct percpu {
	struct percpu *self; /* %gs:0 */
	u32 index;           /* 0 = BSP */
	u32 apic_id;
	volatile u32 state;  /* enum cpu_state */
	u64 stack_top;
	struct tss64 tss;
};

extern struct percpu cpus[MAX_CPUS];
extern unsigned cpu_count; /* CPUs listed in the MADT (capped at MAX_CPUS) */

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

/* Per-CPU setup on the calling CPU: GS base, GDT/TSS, IDT. */
void percpu_init_self(unsigned index);

/* ---- traps.c ---- */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};
void idt_init(void);      /* once, on the BSP */
void idt_load(void);      /* on every CPU */
#define VEC_TIMER 0xf0
#define VEC_SYNC 0xf1 /* smp_sync_cores(): every other CPU serialises and answers */
#define VEC_WAKE 0xf2 /* smp_run_all_async(): wakes the halted idle APs; its handler only EOIs */
#define VEC_UPCALL 0xf3 /* a hypervisor's event upcall (the Xen backend's callback vector) */
#define VEC_SPURIOUS 0xff
/* Called on VEC_TIMER (the BSP's watchdog tick). */
extern void (*timer_tick_fn)(void);
/* Called on #BP (int3); true if it handled the trap (live re-patching), else the run fails. */
extern bool (*trap_bp_fn)(struct trap_frame *f);
/* Called on VEC_UPCALL, before the EOI (an EOI with nothing in service is ignored, so it is
 * sent whether the hypervisor injected the vector through the local APIC or not). */
extern void (*trap_upcall_fn)(void);
/* Called on NMI; true if it was expected (the conformance suite's backstop), else the run fails. */
extern bool (*trap_nmi_fn)(struct trap_frame *f);

/* ---- paging.c ---- */
/* Write len bytes to read-only/executable memory through a temporary writable alias. */
void paging_write_text(u8 *dst, const u8 *src, size_t len);
/* Leaf PTE for va (0 if absent), and its level's page size. */
u64 paging_lookup(u64 va, u64 *page_size);

/*
 * Map [pa, pa + len) of firmware-provided memory for reading, or NULL if that
 * range cannot be read. The kernel reads through its identity map
 * (phys_map_identity); host tests and fuzzers pass a buffer.
 */
typedef const void *(*phys_map_fn)(u64 pa, u64 len);
const void *phys_map_identity(u64 pa, u64 len);

/* ---- tsc.c ---- */
extern u64 tsc_khz;
extern const char *tsc_source;
/*
 * What tsc_init() found, for the log and the conformance suite: the rate a
 * CPUID leaf reported (0 if none), its source, and whether an independent clock
 * checked it (tsc_leaf_check: "" if nothing checked it yet, else one line).
 */
extern u64 tsc_leaf_khz;
extern const char *tsc_leaf_source;
extern char tsc_leaf_check[160];
extern bool tsc_leaf_checked; /* a clock was compared with the leaf */
extern bool tsc_leaf_refused; /* the check refused the leaf: tsc_khz is the clock's */
/* Test only (inject=tsc-leaf): the leaf's rate is read as 4x what it says. */
extern bool tsc_inject_bad_leaf;
void tsc_init(void);
/*
 * Hold the leaf's rate to a clock that does not come from that leaf (clock_khz,
 * measured or derived by the caller, named `clock`): more than 10% apart, the
 * leaf is refused and tsc_khz becomes clock_khz. Only while nothing checked it.
 * Returns false if it refused the leaf.
 */
bool tsc_check_leaf(u64 clock_khz, const char *clock);
static inline void tsc_delay_us(u64 us)
{
	u64 t0 = x86_rdtsc(), d = us * tsc_khz / 1000;
	while (x86_rdtsc() - t0 < d)
		x86_pause();
}

/* ---- acpi.c ---- */
struct acpi_cpus {
	unsigned n;             /* entries kept in apic_id[] */
	unsigned listed;        /* enabled entries the MADT lists (may exceed MAX_CPUS) */
	u32 apic_id[MAX_CPUS];
	u64 lapic_pa;
	char note[112];         /* a fallback taken, for the log ("" if none) */
};
/*
 * Find the MADT from the RSDP at rsdp_pa, checking every checksum and length,
 * and list the enabled CPUs. Returns NULL on success, else a message naming the
 * problem.
 */
const char *acpi_find_cpus(u64 rsdp_pa, phys_map_fn map, struct acpi_cpus *out);
/* The byte sum of n bytes at p: 0 for a table whose checksum holds (ACPI's rule, and the MP table's). */
u8 acpi_checksum(const void *p, u64 n);
/* Count CPU `id` as listed and keep it while there is room; false if it is listed already. */
bool acpi_cpus_add(struct acpi_cpus *out, u32 id);
/* BIOS areas: EBDA and 0xe0000-0xfffff, on 16-byte boundaries. 0 if not found. */
u64 acpi_scan_rsdp(phys_map_fn map);

/* ---- mptable.c: where there is no ACPI (QEMU microvm,acpi=off) ---- */
/* The MP floating pointer: EBDA, last KiB of base memory, 0xf0000-0xfffff. 0 if not found. */
u64 mp_scan(phys_map_fn map);
/* The enabled processors of the MP configuration table, every checksum and length checked;
 * NULL on success, else a message naming the problem. */
const char *mp_find_cpus(u64 float_pa, phys_map_fn map, struct acpi_cpus *out);

/* ---- apic.c ---- */
void apic_init(u64 lapic_pa);  /* BSP: x2APIC if CPUID says so, else xAPIC MMIO */
void apic_init_ap(void);
u32 apic_id_self(void);
bool apic_is_x2(void);
void apic_send_init(u32 apic_id);
void apic_send_sipi(u32 apic_id, u8 vector);
/* A fixed IPI of `vector` to every CPU but this one (the all-excluding-self shorthand). */
void apic_send_others(u8 vector);
/* An NMI to one CPU: it ends a HLT whatever the interrupt flag says. */
void apic_send_nmi(u32 apic_id);
void apic_eoi(void);
/* Periodic timer on VEC_TIMER every period_us (calibrated against the TSC). */
void apic_timer_start(u64 period_us);
void apic_timer_stop(void);

/* ---- smp.c ---- */
/*
 * Per-CPU setup a lock backend needs (Xen: the runstate area; KVM: the steal
 * time MSR), run on each AP by the AP itself before it counts as online. MAY
 * be NULL. Set before smp_boot_aps().
 */
extern void (*smp_ap_init)(unsigned index);
/* Start every AP in acpi_cpus; returns the number online (BSP included). */
unsigned smp_boot_aps(const struct acpi_cpus *c);
/* Start fn(arg) on every online AP (not the BSP); smp_wait_all() waits for them. */
void smp_run_all_async(void (*fn)(void *), void *arg);
void smp_wait_all(void);
bool smp_wait_all_ms(u64 ms); /* the same, at most ms: false if some AP has not finished */
extern volatile unsigned cpus_online;
/*
 * Cross-modifying code: after smp_sync_cores() returns, every online CPU has
 * executed a serialising instruction (the IRET of its VEC_SYNC handler) since
 * the call began, so none runs instruction bytes written before the call in a
 * stale form. Sends VEC_SYNC to the others and waits for each answer, with
 * interrupts as they are (the others MUST have them on: APs run with IF=1).
 * Callers MUST NOT run it on two CPUs at once. 10 s without an answer is fatal,
 * with the CPUs that did not answer named.
 */
void smp_sync_cores(void);
void smp_sync_ack(void); /* the VEC_SYNC handler's work */
/* For a CPU that waits with interrupts off: answer an outstanding sync (serialise, then ack). */
void smp_sync_poll(void);

#endif
