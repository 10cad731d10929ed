// SPDX-License-Identifier: MIT
/* stress.c: every vCPU takes one ticket lock in a loop and checks exclusion; a watchdog guards it. */
#include "guest.h"
#include "../../locks/tas.h"

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
static struct taslock tas_lock_word; /* stress.lock=tas */

enum phase { PH_IDLE, PH_WAIT, PH_HOLD, PH_OUT, PH_DONE };
static const char *const phase_names[] = { "idle", "waiting", "holding", "outside", "done" };

static struct stress_cpu {
	u64 acquisitions;
	u64 violations;
	u64 tas_contended;
	u32 phase;
} __attribute__((aligned(64))) per_cpu[MAX_CPUS];

static struct stress_cfg cfg;
static u64 snapshot[MAX_CPUS]; /* everyone's count when the first vCPU finished: fairness */
static volatile u32 snapshot_taken;
static volatile u32 arrived;
static volatile u32 entered; /* APs inside stress_worker (before the skews and the start) */
static volatile u32 go;
static volatile u32 stop; /* stress.ms: set by the BSP's timer tick at the deadline */
static u64 t_go;          /* the BSP's TSC when it released everyone */
static u64 t_stop;        /* t_go + stress.ms, on the BSP's clock */
/*
 * The tick that set stop: its TSC and every vCPU's acquisitions summed there.
 * A time-limited run's throughput counts up to that tick, not the drain after
 * it (each vCPU finishing its acquisition, a blocked waiter woken in turn),
 * which would weigh once per window. 0: the run ended otherwise (iters).
 */
static u64 t_stopped, acq_at_stop;
static volatile u64 switches_total; /* stress.switch: live switches so far (the progress line) */
/* This window's lock and whether it measures the skews first (the first window only). */
static bool run_tas, run_skew;

const char *const stress_mode_names[STRESS_NR_MODES + 1] = { "spin", "spin2", "pv", "pvpreempt", "tas", 0 };

/*
 * TSC skew of each vCPU against the BSP, for the kick-to-wake latency (a kick
 * stamped on one vCPU, the wake-up on another). Under KVM each vCPU's TSC
 * starts when the vCPU is created, so they can differ by far more than a
 * wake-up takes. The BSP and each AP in turn exchange SKEW_ROUNDS round trips:
 * the BSP stamps t0, the AP t1 when it sees it, the BSP t2 when it sees the
 * answer; skew = t1 - (t0 + t2) / 2, from the round with the shortest t2 - t0
 * (least disturbed by the host scheduling either vCPU away).
 */
#define SKEW_ROUNDS 16
static volatile u32 skew_turn, skew_round, skew_ack;
static volatile u64 skew_t1;

static void skew_ap(unsigned me)
{
	while (READ_ONCE(skew_turn) != me)
		x86_pause();
	for (u32 r = 1; r <= SKEW_ROUNDS; r++) {
		while (__atomic_load_n(&skew_round, __ATOMIC_ACQUIRE) != r)
			x86_pause();
		skew_t1 = x86_rdtsc();
		__atomic_store_n(&skew_ack, r, __ATOMIC_RELEASE);
	}
}

static void skew_bsp(void)
{
	for (unsigned c = 1; c < cpus_online; c++) {
		u64 best_rtt = ~0ull;
		__atomic_store_n(&skew_ack, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&skew_round, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&skew_turn, c, __ATOMIC_RELEASE);
		for (u32 r = 1; r <= SKEW_ROUNDS; r++) {
			u64 t0 = x86_rdtsc();
			__atomic_store_n(&skew_round, r, __ATOMIC_RELEASE);
			while (__atomic_load_n(&skew_ack, __ATOMIC_ACQUIRE) != r)
				x86_pause();
			u64 t2 = x86_rdtsc();
			if (t2 - t0 < best_rtt) {
				best_rtt = t2 - t0;
				ticket_tsc_skew[c] = (s64)(skew_t1 - t0) - (s64)(t2 - t0) / 2;
			}
		}
	}
	__atomic_store_n(&skew_turn, 0, __ATOMIC_RELEASE);
}

/* Each plain access is a volatile one: the compiler may not merge or cache them. */
#define V(x) (*(volatile u64 *)&(x))

MEASURED_TEXT static void stress_worker(void *arg)
{
	(void)arg;
	unsigned me = this_cpu()->index;
	struct stress_cpu *pc = &per_cpu[me];

	if (me)
		__atomic_fetch_add(&entered, 1, __ATOMIC_ACQ_REL);
	if (me && run_skew)
		skew_ap(me);
	/* Start together: the BSP releases everyone once all have arrived. */
	__atomic_fetch_add(&arrived, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		x86_pause();

	/* stress.switch: the BSP, between two acquisitions (holding no lock), flips the lock live. */
	bool on = true;
	u64 switches_done = 0, next_switch = x86_rdtsc() + cfg.switch_ms * tsc_khz;
	for (u64 i = 0; i < cfg.iters && !READ_ONCE(stop); i++) {
		if (!me && cfg.switch_ms && (s64)(x86_rdtsc() - next_switch) >= 0) {
			on = !on;
			cfg.switch_fn(on);
			WRITE_ONCE(switches_total, switches_total + 1);
			next_switch = x86_rdtsc() + cfg.switch_ms * tsc_khz;
			if (cfg.switches && ++switches_done >= cfg.switches)
				WRITE_ONCE(stop, 1);
		}
		WRITE_ONCE(pc->phase, PH_WAIT);
		if (run_tas)
			pc->tas_contended += tas_lock(&tas_lock_word);
		else
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
		/* inject=hold: a holder that never lets go; only the watchdog ends the run. */
		while (cfg.hold && me == cpus_online - 1)
			x86_pause();
		if (V(shared.owner) != me)
			pc->violations++;
		V(shared.counter) = c + 1;
		V(shared.complement) = ~(c + 1);
		V(shared.owner) = NOBODY;
		if (run_tas)
			tas_unlock(&tas_lock_word);
		else
			ticket_unlock(&stress_lock);
		WRITE_ONCE(pc->phase, PH_OUT);
		WRITE_ONCE(pc->acquisitions, pc->acquisitions + 1);
	}
	if (!on)
		cfg.switch_fn(true); /* end as the run began: the chosen backend */
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
		bool holding = READ_ONCE(per_cpu[i].phase) == PH_HOLD;
		kprintf("# watchdog: cpu %u apic %u %s%s acq=%lu slow_path=%s want=%u slow=%lu "
			"blocks=%lu kicks_sent=%lu kicks_recv=%lu spurious=%lu%s\n",
			i, cpus[i].apic_id, phase_names[READ_ONCE(per_cpu[i].phase)],
			cfg.preempted && cfg.preempted(i) ? " (preempted)" : "",
			READ_ONCE(per_cpu[i].acquisitions), waiting ? "yes" : "no",
			READ_ONCE(w->want), s->slow_entries, s->blocks, s->kicks_sent,
			s->kicks_received, s->spurious_wakeups,
			stranded ? "  <- served but still blocked: its kick was lost" :
			holding ? "  <- holds the lock" : "");
	}
}

/*
 * Every PROGRESS_S seconds of a running stress, one line: acquisitions so far,
 * the per-vCPU least and most, the live switches. From the tick (the BSP's
 * timer interrupt): the stress itself prints nothing while it runs, so the
 * console is free, and a line costs nothing measurable every 5 s.
 */
#define PROGRESS_S 5
static u64 progress_last;

static void progress_tick(u64 now)
{
	if (!__atomic_load_n(&go, __ATOMIC_ACQUIRE) || now - progress_last < PROGRESS_S * tsc_khz * 1000)
		return;
	progress_last = now;
	u64 sum = 0, lo = ~0ull, hi = 0;
	for (unsigned i = 0; i < cpus_online; i++) {
		u64 a = READ_ONCE(per_cpu[i].acquisitions);
		sum += a;
		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	kprintf("# progress: %lu s: %lu acquisitions, per vCPU min %lu max %lu", (now - t_go) / (tsc_khz * 1000), sum,
		lo, hi);
	if (cfg.switch_ms)
		kprintf(", %lu live switches", READ_ONCE(switches_total));
	kprintf("\n");
}

static void watchdog_tick(void)
{
	u64 sum = 0, now = x86_rdtsc();
	if (cfg.ms && __atomic_load_n(&go, __ATOMIC_ACQUIRE) && (s64)(now - t_stop) >= 0 && !READ_ONCE(stop)) {
		u64 at = 0;
		for (unsigned i = 0; i < cpus_online; i++)
			at += READ_ONCE(per_cpu[i].acquisitions);
		acq_at_stop = at;
		t_stopped = now;
		WRITE_ONCE(stop, 1);
	}
	progress_tick(now);
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

/*
 * The slow-path counters summed over the vCPUs, word by word: every field is a
 * u64 count (first_wait_cycles, summed too, is read apart), the padding up to
 * the 64-byte alignment zero in ticket_stats[] and here.
 */
_Static_assert(sizeof(struct ticket_stats) % sizeof(u64) == 0, "ticket_stats: u64 words only");
static void stats_sum(struct ticket_stats *out)
{
	u64 *o = (u64 *)out;
	for (unsigned k = 0; k < sizeof(*out) / sizeof(u64); k++)
		o[k] = 0;
	for (unsigned i = 0; i < cpus_online; i++) {
		const u64 *s = (const u64 *)&ticket_stats[i];
		for (unsigned k = 0; k < sizeof(*out) / sizeof(u64); k++)
			o[k] += s[k];
	}
}

/*
 * Wait until *count says every AP is there (in the worker, or at its start).
 * One that is not after 10 s has slept through its VEC_WAKE, or its vCPU is
 * not being run: said, and woken again (ap_idle takes a second wake-up as one
 * more look at work_gen). Not the watchdog's "stuck" 60 s later, which would
 * read as a lock that hangs. Seen in make test's nested KVM: after an L1 stall
 * of 32 s, every AP still idle at the start, and the BSP waiting for the first
 * AP's skew round trip with no bound, until the watchdog fired.
 */
static void all_in(volatile u32 *count)
{
	for (u64 t0 = x86_rdtsc(); __atomic_load_n(count, __ATOMIC_ACQUIRE) != cpus_online - 1;) {
		if (x86_rdtsc() - t0 > 10000 * tsc_khz) {
			kprintf("# stress: %u of %u AP(s) %s after 10 s: VEC_WAKE sent again\n",
				__atomic_load_n(count, __ATOMIC_ACQUIRE), cpus_online - 1,
				count == &entered ? "in the worker" : "at the start");
			apic_send_others(VEC_WAKE);
			t0 = x86_rdtsc();
		}
		x86_pause();
	}
}

/*
 * One window: release every vCPU into the worker at once, let them run until
 * the tick sets stop at t_go + ms (or each has done iters), wait for all.
 * Returns the span on the BSP's clock; in got[] each vCPU's acquisitions in
 * the window; and in *acq and *cycles what the throughput counts: the
 * acquisitions and BSP cycles from the release to the tick that set stop (a
 * run that ended otherwise: to its end). The first window also measures the
 * skews and what a PAUSE costs, before its start.
 */
static u64 window(bool first, struct stress_result *r, u64 got[MAX_CPUS], u64 *acq, u64 *cycles)
{
	u64 base = 0;
	for (unsigned i = 0; i < cpus_online; i++) {
		got[i] = per_cpu[i].acquisitions;
		base += got[i];
	}
	/*
	 * go first: the tick (on this CPU) sets t_stopped only while go is set, and
	 * a window that ended by stress.iters leaves go set and stop clear.
	 */
	go = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t_stopped = 0;
	stop = 0;
	arrived = 0;
	entered = 0;
	snapshot_taken = 0;
	run_skew = first && cfg.skew;
	/*
	 * Measure the skews (16 round trips per AP, one AP at a time: with many vCPUs on
	 * few CPUs that takes long, so only when a backend kicks), then release the
	 * vCPUs once all are in the worker. The watchdog counts from the release.
	 */
	smp_run_all_async(stress_worker, 0);
	all_in(&entered);
	if (run_skew)
		skew_bsp();
	all_in(&arrived);
	/*
	 * What one spin of a wait costs here, while the APs spin for the start: PAUSEs in
	 * batches of 16, up to 1024 of them or 20 ms (one PAUSE took milliseconds in a Xen
	 * domU under QEMU TCG), one TSC read per batch.
	 */
	if (first) {
		u64 p0 = x86_rdtsc(), pause_cycles = 0;
		unsigned pauses = 0;
		while (pauses < 1024 && pause_cycles < 20 * tsc_khz) {
			for (unsigned i = 0; i < 16; i++)
				x86_pause();
			pauses += 16;
			pause_cycles = x86_rdtsc() - p0;
		}
		r->pause_cycles = pause_cycles;
		r->pauses = pauses;
	}
	t_go = x86_rdtsc();
	wd_last_tsc = t_go;
	progress_last = t_go;
	switches_total = 0;
	t_stop = t_go + cfg.ms * tsc_khz;
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	stress_worker(0);
	smp_wait_all();
	/*
	 * The span is read on the BSP's clock only: vCPUs' TSCs need not agree (under
	 * KVM each vCPU's TSC starts when the vCPU is created), so another vCPU's
	 * end minus the BSP's start can even be negative.
	 */
	u64 span = x86_rdtsc() - t_go, all = 0, ts = t_stopped; /* read once: a later tick may not change it */
	for (unsigned i = 0; i < cpus_online; i++) {
		got[i] = per_cpu[i].acquisitions - got[i];
		all += per_cpu[i].acquisitions;
	}
	*acq = (ts ? acq_at_stop : all) - base;
	*cycles = ts ? ts - t_go : span;
	return span;
}

/* A small generator for the window order (xorshift64): the same seed, the same order. */
static u64 rng_state;
static unsigned rng_below(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static u64 mode_acq[STRESS_NR_MODES][MAX_CPUS]; /* per mode, each vCPU's acquisitions in its windows */

/* The fewest and the most of a[0..n-1] (n > 0). */
static void min_max(const u64 *a, unsigned n, u64 *mn, u64 *mx)
{
	*mn = *mx = a[0];
	for (unsigned i = 1; i < n; i++) {
		*mn = a[i] < *mn ? a[i] : *mn;
		*mx = a[i] > *mx ? a[i] : *mx;
	}
}

static u64 tas_contended_sum(void)
{
	u64 t = 0;
	for (unsigned i = 0; i < cpus_online; i++)
		t += per_cpu[i].tas_contended;
	return t;
}

/*
 * The windows of a mix (cfg.modes): rounds of every mode once, each round in a
 * shuffled order. Round 0 is a warm-up, measured by nobody: the boot's first
 * window (its skews and PAUSE timing before the start, QEMU translating each
 * mode's code for the first time, the first waits' clock reads) would otherwise
 * fall on whichever mode the shuffle put first.
 */
static void windows(struct stress_result *r, struct stress_result per_mode[STRESS_NR_MODES])
{
	unsigned order[STRESS_NR_MODES], n = 0, w = 0;
	u64 got[MAX_CPUS];
	struct ticket_stats s0, s1;

	for (unsigned m = 0; m < STRESS_NR_MODES; m++) {
		per_mode[m] = (struct stress_result){ 0 };
		for (unsigned i = 0; i < cpus_online; i++)
			mode_acq[m][i] = 0;
		if (cfg.modes & (1ull << m))
			order[n++] = m;
	}
	rng_state = cfg.seed * 0x9e3779b97f4a7c15ull + 1;
	for (u64 round = 0;; round++) {
		for (unsigned k = n; k > 1; k--) {
			unsigned j = rng_below(k), t = order[k - 1];
			order[k - 1] = order[j];
			order[j] = t;
		}
		kprintf("# mix: round %lu%s:", round, round ? "" : " (warm-up, not counted)");
		for (unsigned k = 0; k < n; k++)
			kprintf(" %s", stress_mode_names[order[k]]);
		kprintf("\n");
		for (unsigned k = 0; k < n; k++) {
			unsigned m = order[k];
			struct stress_result *pm = &per_mode[m];
			u64 macq, mcycles, acq = 0, tas0 = tas_contended_sum();
			run_tas = cfg.mode_fn(m);
			stats_sum(&s0);
			u64 span = window(w++ == 0, r, got, &macq, &mcycles);
			stats_sum(&s1);
			for (unsigned i = 0; i < cpus_online; i++)
				acq += got[i];
			kprintf("# window: %u (round %lu) %s: %lu acquisitions in %lu ms (%lu in %lu ms to the stop)%s\n", w,
				round, stress_mode_names[m], acq, span / tsc_khz, macq, mcycles / tsc_khz,
				round ? "" : ", not counted");
			if (!round)
				continue;
			for (unsigned i = 0; i < cpus_online; i++)
				mode_acq[m][i] += got[i];
			pm->tas_contended += tas_contended_sum() - tas0;
			const u64 *a = (const u64 *)&s0, *b = (const u64 *)&s1;
			u64 *o = (u64 *)&pm->stats;
			for (unsigned f = 0; f < sizeof(s0) / sizeof(u64); f++)
				o[f] += b[f] - a[f];
			pm->total += acq;
			pm->max_cycles += span;
			pm->meas_acq += macq;
			pm->meas_cycles += mcycles;
			pm->windows++;
		}
		if (!round)
			continue;
		bool enough = true;
		for (unsigned k = 0; k < n; k++)
			enough &= per_mode[order[k]].total >= cfg.min_acq;
		if (round >= cfg.max_rounds || (round >= cfg.rounds && enough))
			break;
	}
	for (unsigned k = 0; k < n; k++) {
		struct stress_result *pm = &per_mode[order[k]];
		min_max(mode_acq[order[k]], cpus_online, &pm->min_acq, &pm->max_acq);
		pm->expected = pm->total;
	}
}

void stress_run(const struct stress_cfg *c, struct stress_result *r, struct stress_result per_mode[STRESS_NR_MODES])
{
	cfg = *c;
	shared.owner = NOBODY;
	shared.complement = ~0ull;

	wd_last_tsc = x86_rdtsc();
	wd_limit_cycles = cfg.watchdog_s * tsc_khz * 1000;
	timer_tick_fn = watchdog_tick;
	apic_timer_start(100000); /* 100 ms */
	x86_sti();

	*r = (struct stress_result){ 0 };
	if (cfg.modes) {
		windows(r, per_mode);
		for (unsigned m = 0; m < STRESS_NR_MODES; m++)
			r->max_cycles += per_mode[m].max_cycles;
	} else {
		u64 got[MAX_CPUS];
		run_tas = cfg.tas;
		r->max_cycles = window(true, r, got, &r->meas_acq, &r->meas_cycles);
	}

	x86_cli();
	apic_timer_stop();
	timer_tick_fn = 0;

	/* Fairness: when the first vCPU finished (a windowed run: of its last window). */
	min_max(snapshot, cpus_online, &r->min_acq, &r->max_acq);
	for (unsigned i = 0; i < cpus_online; i++) {
		struct stress_cpu *pc = &per_cpu[i];
		r->total += pc->acquisitions;
		r->violations += pc->violations;
		r->tas_contended += pc->tas_contended;
		/* The first wait runs the slow path's sites first: with patch=lazy, their resolvers. */
		u64 fw = ticket_stats[i].first_wait_cycles;
		if (fw > r->first_wait_max)
			r->first_wait_max = fw;
		r->first_wait_n += fw != 0;
	}
	stats_sum(&r->stats);
	r->expected = cfg.ms ? r->total : (u64)cpus_online * cfg.iters;
	r->counter = shared.counter;
	r->complement_ok = shared.complement == ~shared.counter;
}
