/* SPDX-License-Identifier: MIT */
/* guest.h: the in-guest test harness: KTAP case numbers, the stress configuration and results. */
#ifndef PVTICK_GUEST_H
#define PVTICK_GUEST_H

#include "../../arch/arch.h"
#include "../../locks/spinlock.h"

/* KTAP cases, in the order they are reported. */
enum {
	KTAP_START_INFO = 1,
	KTAP_CMDLINE,
	KTAP_ACPI_MADT,
	KTAP_PV_PATCH,
	KTAP_SMP_BRINGUP,
	KTAP_WX_MAPPINGS,
	KTAP_STRESS_EXCLUSION,
	KTAP_STRESS_TOTAL,
	KTAP_PREEMPT_INFO,
	KTAP_SITES_AFTER,
	KTAP_NR = KTAP_SITES_AFTER,
};

struct stress_cfg {
	u64 iters;      /* acquisitions per vCPU */
	u64 cs;         /* work loop iterations inside the critical section */
	u64 watchdog_s; /* seconds without any acquisition before the run fails */
	bool hold;      /* inject=hold: the last vCPU never releases its first acquisition */
	u64 ms;         /* > 0: stop every vCPU after this many ms (BSP clock); iters is then a cap */
	bool tas;       /* stress.lock=tas: the test-and-set baseline instead of the ticket lock */
	bool skew;      /* measure each vCPU's TSC skew first: only a backend that kicks needs it */
	u64 switch_ms;  /* > 0: the BSP flips the lock between native and PV this often (pv_switch) */
	void (*switch_fn)(bool on); /* does one flip; on=true: back to the chosen backend */
	/*
	 * The chosen backend's vcpu_is_preempted, called directly (not through a
	 * site): the watchdog's dump runs in the timer interrupt, where a site
	 * could be an unresolved lazy one whose resolver waits for the live
	 * writer's lock, which the interrupted BSP may hold.
	 */
	bool (*preempted)(unsigned cpu);
	u64 switches;   /* > 0: the run stops after this many live switches (stress.ms runs only) */
	/*
	 * stress.modes: > 0, a bit mask of enum stress_mode: the run is a series of
	 * windows of `ms` each, in rounds; every round runs each mode once, in an
	 * order shuffled afresh (seeded by `seed`), and mode_fn(mode) sets the
	 * lock up before its window (true: the test-and-set lock). At least
	 * `rounds` rounds; more, up to `max_rounds`, while a mode has fewer than
	 * `min_acq` acquisitions over its windows.
	 */
	u64 modes, rounds, max_rounds, min_acq, seed;
	bool (*mode_fn)(unsigned mode);
};

/* The modes of a windowed run, named as make bench names its points. */
enum stress_mode { MODE_SPIN, MODE_SPIN2, MODE_PV, MODE_PVPREEMPT, MODE_TAS, STRESS_NR_MODES };
extern const char *const stress_mode_names[STRESS_NR_MODES + 1]; /* NULL-terminated: a choice list */

struct stress_result {
	u64 total, violations, counter;
	bool complement_ok;
	u64 max_cycles;       /* BSP TSC cycles from the common start until every vCPU finished */
	/*
	 * What the throughput counts: acquisitions and BSP cycles from the start to
	 * the tick that stopped a time-limited run (the drain after it excluded);
	 * a run that ended otherwise: all of it.
	 */
	u64 meas_acq, meas_cycles;
	u64 min_acq, max_acq; /* per-vCPU counts when the first vCPU finished */
	u64 expected;         /* vCPUs x iters, or with a time limit the sum of per-vCPU counts */
	u64 tas_contended;    /* stress.lock=tas: acquisitions that had to wait */
	u64 first_wait_max;   /* the longest of the vCPUs' first waits, TSC cycles */
	unsigned first_wait_n; /* vCPUs that waited at all */
	u64 pause_cycles;     /* BSP TSC cycles of `pauses` PAUSEs just before the start */
	unsigned pauses;
	unsigned windows;     /* windowed run: the windows this mode ran (0: not a windowed run) */
	struct ticket_stats stats; /* the slow-path counters, summed over the vCPUs (and windows) */
};

/*
 * Run the stress; fills *r for the whole run, and with c->modes per_mode[m]
 * for each mode m of the mix (its windows only; the counts, stats and span).
 */
void stress_run(const struct stress_cfg *c, struct stress_result *r, struct stress_result per_mode[STRESS_NR_MODES]);

/*
 * suite=conform (conform.c): the conformance cases, numbered from `first`;
 * inject=true breaks each case's promise on the guest's side. Returns the
 * number of cases not ok. conform_cases() is how many it prints.
 */
unsigned conform_cases(void);
unsigned conform_run(unsigned first, bool inject);
void stress_dump_state(const char *why);

#endif
