// SPDX-License-Identifier: MIT
/* stress.c: every vCPU takes one ticket lock in a loop and checks exclusion; a watchdog guards it. */
#include "guest.h"

/*
 * The state the lock protects: plain (non-atomic) memory, so a second vCPU in
 * the critical section shows up as a broken invariant:
 *   owner == NOBODY on entry, our id while inside;
 *   complement == ~counter always.
 */
#define NOBODY (~0ull)
static struct {
	u64 counter;
	u64 complement;
	u64 owner;
	u64 scratch[8];
} shared __attribute__((aligned(64)));

static struct ticketlock stress_lock = TICKETLOCK_INIT;

enum phase { PH_IDLE, PH_WAIT, PH_HOLD, PH_OUT, PH_DONE };
static const char *const phase_names[] = { "idle", "waiting", "holding", "outside", "done" };

static struct stress_cpu {
	u64 acquisitions;
	u64 violations;
	u32 phase;
} __attribute__((aligned(64))) per_cpu[MAX_CPUS];

static struct stress_cfg cfg;
static u64 snapshot[MAX_CPUS]; /* everyone's count when the first vCPU finished: fairness */
static volatile u32 snapshot_taken;
static volatile u32 arrived;
static volatile u32 go;
static u64 t_go; /* the BSP's TSC when it released everyone */

/* Each plain access is a volatile one: the compiler may not merge or cache them. */
#define V(x) (*(volatile u64 *)&(x))

static void stress_worker(void *arg)
{
	(void)arg;
	unsigned me = this_cpu()->index;
	struct stress_cpu *pc = &per_cpu[me];

	/* Start together: the BSP releases everyone once all have arrived. */
	__atomic_fetch_add(&arrived, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		x86_pause();

	for (u64 i = 0; i < cfg.iters; i++) {
		WRITE_ONCE(pc->phase, PH_WAIT);
		ticket_lock(&stress_lock);
		WRITE_ONCE(pc->phase, PH_HOLD);
		if (V(shared.owner) != NOBODY)
			pc->violations++;
		V(shared.owner) = me;
		u64 c = V(shared.counter);
		if (V(shared.complement) != ~c)
			pc->violations++;
		for (u64 j = 0; j < cfg.cs; j++)
			V(shared.scratch[j & 7]) += j;
		if (V(shared.owner) != me)
			pc->violations++;
		V(shared.counter) = c + 1;
		V(shared.complement) = ~(c + 1);
		V(shared.owner) = NOBODY;
		ticket_unlock(&stress_lock);
		WRITE_ONCE(pc->phase, PH_OUT);
		WRITE_ONCE(pc->acquisitions, pc->acquisitions + 1);
	}
	WRITE_ONCE(pc->phase, PH_DONE);
	if (!__atomic_exchange_n(&snapshot_taken, 1, __ATOMIC_ACQ_REL))
		for (unsigned i = 0; i < cpus_online; i++)
			snapshot[i] = READ_ONCE(per_cpu[i].acquisitions);
}

/* ---- watchdog: the BSP's APIC timer ticks; no progress for too long is a diagnosed failure ---- */
static u64 wd_last_sum, wd_last_tsc, wd_limit_cycles;

void stress_dump_state(const char *why)
{
	kprintf("# watchdog: %s\n", why);
	kprintf("# watchdog: lock word %08x (head %u tail %u SF %u)\n", stress_lock.word,
		stress_lock.t.head, stress_lock.t.tail & ~TICKET_SLOWPATH_FLAG,
		stress_lock.t.tail & TICKET_SLOWPATH_FLAG);
	for (unsigned i = 0; i < cpus_online; i++) {
		struct ticket_wait *w = &ticket_waits[i];
		struct ticket_stats *s = &ticket_stats[i];
		bool waiting = READ_ONCE(w->lock) != 0;
		bool stranded = waiting && READ_ONCE(w->want) == stress_lock.t.head;
		kprintf("# watchdog: cpu %u apic %u %s acq=%lu slow_path=%s want=%u slow=%lu "
			"blocks=%lu kicks_sent=%lu kicks_recv=%lu spurious=%lu%s\n",
			i, cpus[i].apic_id, phase_names[READ_ONCE(per_cpu[i].phase)],
			READ_ONCE(per_cpu[i].acquisitions), waiting ? "yes" : "no",
			READ_ONCE(w->want), s->slow_entries, s->blocks, s->kicks_sent,
			s->kicks_received, s->spurious_wakeups,
			stranded ? "  <- served but still blocked: its kick was lost" : "");
	}
}

static void watchdog_tick(void)
{
	u64 sum = 0, now = x86_rdtsc();
	for (unsigned i = 0; i < cpus_online; i++)
		sum += READ_ONCE(per_cpu[i].acquisitions);
	if (sum != wd_last_sum) {
		wd_last_sum = sum;
		wd_last_tsc = now;
		return;
	}
	if (now - wd_last_tsc > wd_limit_cycles) {
		char why[96];
		ksnprintf(why, sizeof(why), "no acquisition for %lu s: the stress is stuck",
			  cfg.watchdog_s);
		stress_dump_state(why);
		kprintf("not ok %u stress_exclusion # watchdog fired\n", KTAP_STRESS_EXCLUSION);
		machine_exit(false);
	}
}

void stress_run(const struct stress_cfg *c, struct stress_result *r)
{
	cfg = *c;
	shared.owner = NOBODY;
	shared.complement = ~0ull;

	wd_last_tsc = x86_rdtsc();
	wd_limit_cycles = cfg.watchdog_s * tsc_khz * 1000;
	timer_tick_fn = watchdog_tick;
	apic_timer_start(100000); /* 100 ms */
	x86_sti();

	go = 0;
	arrived = 0;
	snapshot_taken = 0;
	/* Release the vCPUs once all are in the worker. */
	smp_run_all_async(stress_worker, 0);
	while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) != cpus_online - 1)
		x86_pause();
	t_go = x86_rdtsc();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	stress_worker(0);
	smp_wait_all();
	/*
	 * The span is read on the BSP's clock only: vCPUs' TSCs need not agree (under
	 * KVM each vCPU's TSC starts when the vCPU is created), so another vCPU's
	 * end minus the BSP's start can even be negative.
	 */
	u64 span = x86_rdtsc() - t_go;

	x86_cli();
	apic_timer_stop();
	timer_tick_fn = 0;

	*r = (struct stress_result){ 0 };
	r->min_acq = ~0ull;
	for (unsigned i = 0; i < cpus_online; i++) {
		struct stress_cpu *pc = &per_cpu[i];
		r->total += pc->acquisitions;
		r->violations += pc->violations;
		if (snapshot[i] < r->min_acq)
			r->min_acq = snapshot[i];
		if (snapshot[i] > r->max_acq)
			r->max_acq = snapshot[i];
	}
	r->max_cycles = span;
	r->counter = shared.counter;
	r->complement_ok = shared.complement == ~shared.counter;
}
