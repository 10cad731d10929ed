// SPDX-License-Identifier: MIT
/* smp.c: AP bring-up with INIT-SIPI-SIPI through the trampoline, and running work on every CPU. */
#include "arch.h"

extern const u8 boot_trampoline_start[], boot_trampoline_end[];
extern u64 boot_ap_stack;
extern char _stacks_start[];

volatile unsigned cpus_online = 1;
void (*smp_ap_init)(unsigned index);
static volatile unsigned ap_booting; /* index of the AP now starting */

static void (*volatile work_fn)(void *);
static void *volatile work_arg;
static volatile u32 work_gen, work_done;

static void __attribute__((noreturn)) ap_idle(unsigned index);

void __attribute__((noreturn)) ap_main(void)
{
	unsigned index = ap_booting;
	percpu_init_self(index);
	apic_init_ap();
	cpus[index].apic_id = apic_id_self();
	if (smp_ap_init)
		smp_ap_init(index);
	__atomic_store_n(&cpus[index].state, CPU_ONLINE, __ATOMIC_RELEASE);
	x86_sti(); /* from now on it answers smp_sync_cores() (VEC_SYNC) */
	ap_idle(index);
}

/* Wait until v becomes nonzero or timeout_us passes. */
static bool wait_state(volatile u32 *state, u32 want, u64 timeout_us)
{
	u64 t0 = x86_rdtsc(), limit = timeout_us * tsc_khz / 1000;
	while (__atomic_load_n(state, __ATOMIC_ACQUIRE) != want)
		if (x86_rdtsc() - t0 > limit)
			return false;
		else
			x86_pause();
	return true;
}

unsigned smp_boot_aps(const struct acpi_cpus *c)
{
	u32 self = apic_id_self();
	unsigned next = 1;

	/* The trampoline page is R+X: write it through the text alias, like a patch. */
	paging_write_text((u8 *)(uintptr_t)TRAMPOLINE_PA, boot_trampoline_start,
			  (size_t)(boot_trampoline_end - boot_trampoline_start));

	for (unsigned i = 0; i < c->n; i++) {
		if (c->apic_id[i] == self)
			continue;
		unsigned idx = next++;
		struct percpu *p = &cpus[idx];
		p->apic_id = c->apic_id[i];
		p->state = CPU_STARTING;
		ap_booting = idx;
		boot_ap_stack = (u64)(uintptr_t)_stacks_start + (u64)idx * STACK_SLOT + STACK_TOP;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);

		/* INIT, 10 ms, SIPI, then a second SIPI only if the first was not taken. */
		apic_send_init(p->apic_id);
		tsc_delay_us(10000);
		apic_send_sipi(p->apic_id, TRAMPOLINE_PA >> 12);
		if (!wait_state(&p->state, CPU_ONLINE, 20000)) {
			apic_send_sipi(p->apic_id, TRAMPOLINE_PA >> 12);
			if (!wait_state(&p->state, CPU_ONLINE, 5000000)) {
				p->state = CPU_FAILED;
				kprintf("# smp: cpu %u (apic id %u) did not come online within 5 s; "
					"starting no more CPUs\n", idx, p->apic_id);
				break; /* a late AP would take the next index's stack */
			}
		}
		cpus_online++;
	}
	return cpus_online;
}

/*
 * Work hand-off: the BSP publishes (fn, arg), bumps work_gen and sends VEC_WAKE;
 * every AP runs it once per generation and counts itself in work_done. Idle APs
 * halt, so that under overcommit they give their pCPU to the vCPUs that work.
 * The check and the HLT must not let a wake-up fall between them:
 *   1. AP: interrupts off; reads work_gen: nothing new;
 *   2. BSP: bumps work_gen, sends VEC_WAKE: it stays pending (interrupts off);
 *   3. AP: sti; hlt: the pending VEC_WAKE ends the HLT at once (STI's shadow
 *      holds it back until the HLT has begun), and the AP reads work_gen again.
 * With interrupts on at step 1, the VEC_WAKE of step 2 would be taken before
 * the HLT and the AP would sleep through the work: a hang. (The likely cause of
 * the hang an earlier HLT loop met as Xen dom0, 1 run in 4: it made its first
 * check with interrupts on. A plain cli; check; hlt is no way out either: Xen
 * takes a guest's HLT with interrupts off as the vCPU going down, hvm_hlt().)
 * Any other interrupt (a VEC_SYNC round of a live patch) also ends the HLT: the
 * loop just checks again.
 */
static void __attribute__((noreturn)) ap_idle(unsigned index)
{
	u32 seen = 0;
	(void)index;
	for (;;) {
		x86_cli();
		u32 g = __atomic_load_n(&work_gen, __ATOMIC_ACQUIRE);
		if (g == seen) {
			x86_sti_hlt();
			continue;
		}
		x86_sti();
		seen = g;
		/*
		 * New work may come with code the BSP wrote while this CPU was out of it
		 * (make bench's mix rewrites the lock's sites between windows, with no
		 * sync: locks/pvlock.h, pv_set_quiet): serialise before running it,
		 * whichever way this CPU got here (it may have seen the work without
		 * halting, or been let out of HLT with no interrupt: KVM's PV unhalt).
		 */
		x86_serialize();
		work_fn(work_arg);
		__atomic_fetch_add(&work_done, 1, __ATOMIC_RELEASE);
	}
}

void smp_run_all_async(void (*fn)(void *), void *arg)
{
	work_fn = fn;
	work_arg = arg;
	__atomic_store_n(&work_done, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&work_gen, 1, __ATOMIC_RELEASE);
	if (cpus_online > 1)
		apic_send_others(VEC_WAKE);
}

bool smp_wait_all_ms(u64 ms)
{
	u64 t0 = x86_rdtsc();
	while (__atomic_load_n(&work_done, __ATOMIC_ACQUIRE) != cpus_online - 1)
		if (x86_rdtsc() - t0 > ms * tsc_khz)
			return false;
		else
			x86_pause();
	return true;
}

void smp_wait_all(void)
{
	while (__atomic_load_n(&work_done, __ATOMIC_ACQUIRE) != cpus_online - 1)
		x86_pause();
}

/* ---- smp_sync_cores: every other CPU serialises (an IPI and its IRET) and says so ---- */
static volatile u32 sync_gen;
static volatile u32 sync_ack[MAX_CPUS];

void smp_sync_ack(void)
{
	__atomic_store_n(&sync_ack[this_cpu()->index], __atomic_load_n(&sync_gen, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

void smp_sync_poll(void)
{
	u32 g = __atomic_load_n(&sync_gen, __ATOMIC_ACQUIRE);
	unsigned me = this_cpu()->index;
	if (__atomic_load_n(&sync_ack[me], __ATOMIC_RELAXED) != g) {
		x86_serialize();
		__atomic_store_n(&sync_ack[me], g, __ATOMIC_RELEASE);
	}
}

void smp_sync_cores(void)
{
	unsigned self = this_cpu()->index, n = cpus_online;

	x86_serialize();
	if (n == 1)
		return;
	u32 g = __atomic_add_fetch(&sync_gen, 1, __ATOMIC_SEQ_CST);
	apic_send_others(VEC_SYNC);
	/*
	 * 10 s, then 10 s more: the TSC counts time the whole machine stood still
	 * (an L1 that stalled 30 s under QEMU TCG, README), and the first look after
	 * such a stall comes before any CPU could answer. A CPU that really does
	 * not answer is reported after 20 s.
	 */
	u64 t0 = x86_rdtsc(), limit = 10000 * tsc_khz;
	bool grace = false;
	for (unsigned i = 0; i < n; i++) {
		if (i == self)
			continue;
		while ((s32)(__atomic_load_n(&sync_ack[i], __ATOMIC_ACQUIRE) - g) < 0) {
			u64 now = x86_rdtsc(); /* one read: a second could see the limit the first did not */
			if (now - t0 > limit && !grace) {
				kprintf("# smp: sync %u: cpu %u has not answered in 10 s; 10 s more\n", g, i);
				grace = true;
				t0 = x86_rdtsc();
			} else if (now - t0 > limit) {
				for (unsigned j = 0; j < n; j++)
					if (j != self && (s32)(sync_ack[j] - g) < 0)
						kprintf("# smp: sync %u: cpu %u has not answered (its last: %u)\n", g, j,
							sync_ack[j]);
				panic("smp: sync_cores: CPUs did not answer VEC_SYNC within 20 s");
			}
			x86_pause();
		}
	}
}
