// SPDX-License-Identifier: MIT
/* test_ticket.c: the ticket lock and its slow-path protocol, hammered by pthreads on the host. */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "locks/spinlock.h"

/*
 * Sizes, tuned so the whole binary takes a few seconds on a 2-core box, even
 * shared with other work, and stays under the alarm with -fsanitize=address,
 * undefined. Native spinning cannot be overcommitted for long: once a
 * descheduled thread holds a ticket, every running spinner waits for the
 * scheduler to preempt it (a convoy: a few hundred acquisitions/s measured with
 * 4 threads on 2 cores, against millions/s without). That is the problem
 * lock_spinning() exists for; the native cases therefore put their volume on
 * one thread per core, keep the overcommitted run short, and are time-boxed
 * (see native_run()). All sizes can be overridden with -D.
 */
#ifndef NATIVE_ITERS
#define NATIVE_ITERS 20000ul /* x 2 threads, one per core */
#endif
#ifndef OVER_THREADS
#define OVER_THREADS 4
#endif
#ifndef OVER_ITERS
#define OVER_ITERS 500ul /* x 4 threads on 2 cores */
#endif
#ifndef FUTEX_THREADS
#define FUTEX_THREADS 8 /* 4x overcommit on 2 cores: waiters really get preempted */
#endif
#ifndef FUTEX_ITERS
#define FUTEX_ITERS 25000ul
#endif
#ifndef FUTEX_YIELD_MASK
#define FUTEX_YIELD_MASK 15ul
#endif
#ifndef NOLOST_ITERS
#define NOLOST_ITERS 10000ul
#endif
#ifndef PAIR_ITERS
#define PAIR_ITERS 20000ul
#endif
#ifndef WRAP_THREADS
#define WRAP_THREADS 4
#endif
#ifndef WRAP_NATIVE_ITERS
#define WRAP_NATIVE_ITERS 500ul /* x 2 threads: the wrap comes after 8 */
#endif
#ifndef WRAP_ITERS
#define WRAP_ITERS 40000ul /* 160000 acquisitions: the 16-bit tickets wrap 4.9 times */
#endif
#ifndef WRAP_START
#define WRAP_START 0xfff0u
#endif
#define FUTEX_TIMEOUT_NS 50000000l /* 50 ms: a lost wake-up becomes a counted stall */
#define RUN_BUDGET_S 10 /* a futex run stops taking the lock after 10 s: failure */
#define NATIVE_BUDGET_S 2 /* a native run stops after 2 s: see native_run() */
#define HANG_ALARM_S 60 /* a whole-binary hang (no-timeout futex wait) is a failure */
#define NR_CASES 8
#define NO_OWNER 0xffffffffu

#include "ktap.h"

/* ---- the environment the lock expects --------------------------------- */

/*
 * The "vCPU" index. Workers get 0..N-1; the main thread keeps 0, which is safe
 * because it never touches a lock while workers run.
 */
static __thread unsigned self_index;

unsigned ticket_self(void)
{
	return self_index;
}

/*
 * One futex word per thread, on its own cache line like the slots. The kicker
 * bumps it before FUTEX_WAKE, so a waiter that sampled it before publishing its
 * slot cannot sleep through a kick that raced ahead of its FUTEX_WAIT: the kernel
 * compares the word and returns EAGAIN. That is the "pending kick is kept"
 * property ticket.c demands of a backend's wake mechanism.
 */
static struct {
	uint32_t val;
} __attribute__((aligned(64))) futex_words[TICKET_MAX_CPUS];

/* Not in struct ticket_stats: a timed-out, still unserved wait. Per thread. */
static struct {
	uint64_t n;
} __attribute__((aligned(64))) timeouts[TICKET_MAX_CPUS];

/* NULL: wait forever (case no_lost_wakeup), so a lost kick hangs for real. */
static const struct timespec *futex_timeout;

/*
 * The hooks are reached by `call *pv_ops+8*kind(%rip)` from inline asm, which
 * does not keep %rsp 16-aligned, hence force_align_arg_pointer. The asm also
 * does not list %xmm0-15 as clobbered (the kernel is built without SSE, so there
 * it is right); general-regs-only keeps these callees from touching them, so a
 * caller's live vector registers, if the compiler ever keeps one across a site,
 * survive here too.
 */
#define HOOK __attribute__((force_align_arg_pointer, target("general-regs-only"), noinline))

HOOK static void native_lock_spinning(struct ticketlock *lock, uint16_t want)
{
	/* Like the native NOP: return and let the caller spin again. */
	(void)lock;
	(void)want;
}

HOOK static void native_unlock_kick(struct ticketlock *lock, uint16_t next)
{
	(void)lock;
	(void)next;
}

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

/*
 * lock_spinning, in exactly the order spinlock.h prescribes. The futex word is
 * sampled before step 1: any kick sent after our slot became visible changes it.
 */
HOOK static void futex_lock_spinning(struct ticketlock *lock, uint16_t want)
{
	unsigned self = ticket_self();
	struct ticket_stats *st = &ticket_stats[self];
	uint32_t seq = __atomic_load_n(&futex_words[self].val, __ATOMIC_ACQUIRE);

	ticket_wait_publish(lock, want);             /* 1 */
	if (ticket_announce_and_check(lock, want)) { /* 2, 3 */
		long r = futex(&futex_words[self].val, FUTEX_WAIT_PRIVATE, seq, futex_timeout); /* 4 */
		int err = r ? errno : 0;

		/* EAGAIN: the word moved before we slept, we never blocked. */
		if (err != EAGAIN)
			st->blocks++;
		/*
		 * A timeout while still unserved is a stall (a kick lost, or the
		 * holder preempted for 50 ms). Any other return without a kick,
		 * including a timeout that finds us served, is spurious.
		 */
		if (__atomic_load_n(&ticket_waits[self].kicked, __ATOMIC_ACQUIRE))
			st->kicks_received++;
		else if (err == ETIMEDOUT && !ticket_served(lock, want))
			timeouts[self].n++;
		else
			st->spurious_wakeups++;
	}
	ticket_wait_clear();                    /* 5 */
}

HOOK static void futex_unlock_kick(struct ticketlock *lock, uint16_t next)
{
	int i = ticket_wait_find(lock, next);

	if (i < 0) {
		/* next-in-line is still spinning, it needs no kick; counted if it is "preempted" */
		(void)ticket_preempted_next(lock, next);
		return;
	}
	/* Marked kicked first: the waiter reads it after waking to tell kick from spurious. */
	ticket_kick_mark(i);
	__atomic_fetch_add(&futex_words[i].val, 1, __ATOMIC_SEQ_CST);
	futex(&futex_words[i].val, FUTEX_WAKE_PRIVATE, 1, NULL);
}

HOOK static bool never_preempted(unsigned cpu)
{
	(void)cpu;
	return false;
}

/* The "hypervisor's" preemption records for case preempt_*: set by the test itself. */
static struct {
	bool yes;
} __attribute__((aligned(64))) fake_preempted[TICKET_MAX_CPUS];

HOOK static bool fake_vcpu_is_preempted(unsigned cpu)
{
	return __atomic_load_n(&fake_preempted[cpu].yes, __ATOMIC_RELAXED);
}

static void set_backend(void *lock_spinning, void *unlock_kick)
{
	pv_ops[PATCH_LOCK_SPINNING] = lock_spinning;
	pv_ops[PATCH_UNLOCK_KICK] = unlock_kick;
	pv_ops[PATCH_VCPU_IS_PREEMPTED] = (void *)never_preempted;
	pv_ops[PATCH_RELEASE] = (void *)ticket_release_pv; /* the PV unlock: every backend here may block */
}

/* ---- the workload ----------------------------------------------------- */

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/*
 * The lock and the state it protects. The state is plain memory written with
 * plain (non-locked) moves: only mutual exclusion keeps it consistent.
 * volatile only stops the compiler from folding the canary's store and reload.
 */
static struct {
	struct ticketlock lock __attribute__((aligned(64)));
	unsigned long counter __attribute__((aligned(64)));
	unsigned long complement; /* always ~counter outside the critical section */
	unsigned owner;           /* canary: who is inside */
} sh;

static unsigned run_threads;
static unsigned long run_iters;
static unsigned long run_yield_mask; /* yield in the critical section every mask+1 */
static unsigned long run_violations, run_done;
static bool run_stop;
static bool run_held; /* the first critical section of the run has begun */
static unsigned run_arrived;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Keep the lock until another thread has taken a ticket behind us (at most
 * 1 s). Done by the first acquirer of a run, while all others still have their
 * whole share to do, so that every run has a contended acquisition even when
 * the scheduler would run the threads one after the other.
 */
static void hold_until_queued(void)
{
	uint64_t end = now_ns() + 1000000000ull;

	do {
		struct ticketlock l;

		l.word = __atomic_load_n(&sh.lock.word, __ATOMIC_RELAXED);
		if ((uint16_t)((l.t.tail & ~TICKET_SLOWPATH_FLAG) - l.t.head) > TICKET_INC)
			return;
		sched_yield();
	} while (now_ns() < end);
}

static void critical_section(unsigned self, unsigned long i, unsigned long *bad)
{
	unsigned long c = READ_ONCE(sh.counter);

	if (READ_ONCE(sh.complement) != ~c)
		(*bad)++;
	WRITE_ONCE(sh.owner, self);
	/* Widen the window in which a second owner would overwrite the canary. */
	for (int k = 0; k < 8; k++)
		__builtin_ia32_pause();
	/*
	 * The holder-preempted case lock_spinning() exists for, made to happen
	 * rather than hoped for: the waiters behind us spin out and block.
	 */
	if (run_yield_mask && !(i & run_yield_mask))
		sched_yield();
	if (!__atomic_exchange_n(&run_held, true, __ATOMIC_RELAXED))
		hold_until_queued();
	WRITE_ONCE(sh.counter, c + 1);
	WRITE_ONCE(sh.complement, ~(c + 1));
	if (READ_ONCE(sh.owner) != self)
		(*bad)++;
}

static void *worker(void *arg)
{
	unsigned self = (unsigned)(uintptr_t)arg;
	unsigned long bad = 0, i;

	self_index = self;
	/*
	 * Start together: a sleeping barrier lets the first thread woken finish
	 * its share before the others are scheduled, and nothing contends. Spin
	 * (yielding, for the threads beyond the cores) until all have arrived.
	 */
	__atomic_fetch_add(&run_arrived, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&run_arrived, __ATOMIC_ACQUIRE) != run_threads)
		sched_yield();
	for (i = 0; i < run_iters; i++) {
		/* Set by run_workload() when the run is over its time budget. */
		if (__atomic_load_n(&run_stop, __ATOMIC_RELAXED))
			break;
		ticket_lock(&sh.lock);
		critical_section(self, i, &bad);
		ticket_unlock(&sh.lock);
	}
	__atomic_fetch_add(&run_violations, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&run_done, i, __ATOMIC_RELAXED);
	return NULL;
}

static void reset_slow_state(void)
{
	memset(ticket_stats, 0, sizeof(ticket_stats));
	memset(ticket_waits, 0, sizeof(ticket_waits));
	memset(futex_words, 0, sizeof(futex_words));
	memset(timeouts, 0, sizeof(timeouts));
}

/*
 * Run `threads` workers for `iters` each on sh.lock, starting from lock word
 * `word`; past `budget_s` seconds they are told to stop and drain the queue.
 */
static void run_workload(unsigned threads, unsigned long iters, uint32_t word, int budget_s)
{
	pthread_t tid[TICKET_MAX_CPUS];
	struct timespec deadline;
	uint64_t t0 = now_ns();

	reset_slow_state();
	sh.lock.word = word;
	sh.counter = 0;
	sh.complement = ~0ul;
	sh.owner = NO_OWNER;
	run_threads = threads;
	run_iters = iters;
	run_violations = 0;
	run_done = 0;
	run_stop = false;
	run_held = false;
	run_arrived = 0;
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)i)) {
			printf("Bail out! pthread_create\n");
			exit(1);
		}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += budget_s;
	for (unsigned i = 0; i < threads; i++) {
		if (!run_stop && pthread_timedjoin_np(tid[i], NULL, &deadline) == 0)
			continue;
		__atomic_store_n(&run_stop, true, __ATOMIC_RELAXED);
		pthread_join(tid[i], NULL);
	}
	printf("# %u threads x %lu iterations: %lu done in %.3f s\n", threads, iters, run_done,
	       (now_ns() - t0) / 1e9);
	if (run_stop)
		printf("# budget of %d s exceeded: workers stopped early\n", budget_s);
}

static struct ticket_stats sum_stats(void)
{
	struct ticket_stats s = { 0 };

	for (unsigned i = 0; i < TICKET_MAX_CPUS; i++) {
		s.contended += ticket_stats[i].contended;
		s.slow_entries += ticket_stats[i].slow_entries;
		s.unlock_slow += ticket_stats[i].unlock_slow;
		s.blocks += ticket_stats[i].blocks;
		s.kicks_sent += ticket_stats[i].kicks_sent;
		s.kicks_received += ticket_stats[i].kicks_received;
		s.spurious_wakeups += ticket_stats[i].spurious_wakeups;
	}
	return s;
}

static void print_stats(const struct ticket_stats *s)
{
	printf("# contended=%" PRIu64 " slow_entries=%" PRIu64 " unlock_slow=%" PRIu64
	       " blocks=%" PRIu64 " kicks_sent=%" PRIu64 " kicks_received=%" PRIu64
	       " spurious_wakeups=%" PRIu64 "\n",
	       s->contended, s->slow_entries, s->unlock_slow, s->blocks, s->kicks_sent,
	       s->kicks_received, s->spurious_wakeups);
}

static void print_word(const char *what, struct ticketlock l)
{
	printf("# %s: word=0x%08" PRIx32 " head=0x%04x tail=0x%04x SF=%u\n", what, l.word, l.t.head,
	       l.t.tail & ~TICKET_SLOWPATH_FLAG, l.t.tail & TICKET_SLOWPATH_FLAG);
}

static bool unlocked(struct ticketlock l)
{
	return l.t.head == (uint16_t)(l.t.tail & ~TICKET_SLOWPATH_FLAG);
}

/*
 * The invariants every run must end with. `total` is threads x iters; a run
 * stopped by its budget fails, unless `may_stop` says the count actually done
 * is what must add up (below).
 */
static void check_run(unsigned long total, uint16_t start, bool may_stop)
{
	struct ticketlock end = sh.lock;

	print_word("lock at end", end);
	CHECK(run_violations == 0);
	if (run_stop && may_stop) {
		printf("# stopped by its budget (host too busy for spinning): checking the %lu done\n",
		       run_done);
		total = run_done;
		CHECK(total > 0);
	}
	CHECK(run_done == total);
	CHECK(sh.counter == total);
	CHECK(sh.complement == ~total);
	CHECK(unlocked(end));
	/* Every acquisition advanced head by exactly one ticket, modulo 2^16. */
	CHECK(end.t.head == (uint16_t)(start + TICKET_INC * total));
}

/* ---- the cases -------------------------------------------------------- */

/* What the futex runs left behind, for case slowpath_flag_cleared. */
static struct ticketlock futex_end, nolost_end[2];

/*
 * Native: empty hooks, the default threshold; returns the summed counters.
 * Time-boxed: a native spinner waiting behind a descheduled ticket holder burns
 * its whole time slice, so on a busy host (measured: 250-450 acquisitions/s
 * with other work on the 2 cores, millions/s without) the count cannot be
 * promised in bounded time. When the budget cuts the run short, the
 * exclusion checks still apply exactly to the acquisitions made: the counter,
 * its complement, the canary and the head all have to match that number.
 */
static struct ticket_stats native_run(unsigned threads, unsigned long iters, uint16_t start)
{
	struct ticket_stats s;

	set_backend(native_lock_spinning, native_unlock_kick);
	ticket_spin_threshold = 1u << 11;
	run_workload(threads, iters, (uint32_t)start << 16 | start, NATIVE_BUDGET_S);
	s = sum_stats();
	print_stats(&s);
	check_run(threads * iters, start, true);
	/* Natively nothing sets SF, so unlock never takes the kick path. */
	CHECK(!(sh.lock.t.tail & TICKET_SLOWPATH_FLAG));
	CHECK(s.unlock_slow == 0);
	return s;
}

/*
 * One thread per core (real parallel contention on the lock word's cache
 * line), then overcommitted (spinners get preempted, with an empty
 * lock_spinning they keep spinning: the unpatched hook site runs repeatedly).
 */
static void case_native_spin(void)
{
	struct ticket_stats s = native_run(2, NATIVE_ITERS, 0);

	/* hold_until_queued() makes sure of this; without it exclusion went untested. */
	CHECK(s.contended > 0);
	s = native_run(OVER_THREADS, OVER_ITERS, 0);
	CHECK(s.contended > 0);
}

/* The futex backend, the slow path on nearly every contended acquisition. */
static void futex_run(unsigned threads, unsigned long iters, uint16_t start,
		      const struct timespec *timeout)
{
	struct ticket_stats s;
	uint64_t to = 0;

	set_backend(futex_lock_spinning, futex_unlock_kick);
	ticket_spin_threshold = 1;
	futex_timeout = timeout;
	run_yield_mask = FUTEX_YIELD_MASK;
	/* A backend that loses kicks but has a timeout fails in seconds, not hours. */
	run_workload(threads, iters, (uint32_t)start << 16 | start, RUN_BUDGET_S);
	run_yield_mask = 0;
	s = sum_stats();
	for (unsigned i = 0; i < TICKET_MAX_CPUS; i++)
		to += timeouts[i].n;
	print_stats(&s);
	/* Diagnostic only: a 50 ms timeout can expire legitimately on a loaded box. */
	printf("# timeouts=%" PRIu64 "\n", to);
	check_run(threads * iters, start, false);
	CHECK(s.slow_entries > 0);
	CHECK(s.unlock_slow > 0);
	CHECK(s.kicks_sent > 0);
	CHECK(s.blocks > 0);
	/* A kick is only sent to a published slot; the waiter may have left already. */
	CHECK(s.kicks_received <= s.kicks_sent);
}

static const struct timespec futex_wait_50ms = { .tv_sec = 0, .tv_nsec = FUTEX_TIMEOUT_NS };

static void case_futex_backend(void)
{
	futex_run(FUTEX_THREADS, FUTEX_ITERS, 0, &futex_wait_50ms);
	futex_end = sh.lock;
}

/*
 * No timeout: only a kick ends a wait. A lost one hangs, and the alarm reports it.
 * Two runs: 8 threads, where SF stays set nearly all the time because the
 * queue is never empty; and 2 threads, where the served waiter clears SF at
 * almost every handoff (ticket_clear_slowpath) and the next waiter must set
 * it again, the window in which a wrongly ordered backend loses its kick.
 */
static void case_no_lost_wakeup(void)
{
	futex_run(FUTEX_THREADS, NOLOST_ITERS, 0, NULL);
	nolost_end[0] = sh.lock;
	futex_run(2, PAIR_ITERS, 0, NULL);
	nolost_end[1] = sh.lock;
}

/*
 * After a run every thread has unlocked, so head == tail (ignoring SF). We also
 * assert SF itself is clear, the stronger claim: SF is only set by a waiter
 * with an outstanding ticket, and the holder of the last ticket issued (taken
 * while the lock was held, so it went through ticket_lock_wait) runs
 * ticket_clear_slowpath() when served; its cmpxchg expects tail == want + 2 | SF,
 * which holds because no later ticket exists. A fast-path acquirer cannot be
 * last with SF set: the lock was free when it took its ticket, so the previous
 * holder had no successor and its own clear succeeded.
 */
static void case_slowpath_flag_cleared(void)
{
	const struct ticketlock *ends[] = { &futex_end, &nolost_end[0], &nolost_end[1] };
	static const char *const names[] = { "after futex_backend", "after no_lost_wakeup, 8 threads",
					     "after no_lost_wakeup, 2 threads" };

	for (unsigned i = 0; i < 3; i++) {
		print_word(names[i], *ends[i]);
		CHECK(unlocked(*ends[i]));
		CHECK(!(ends[i]->t.tail & TICKET_SLOWPATH_FLAG));
	}
}

static void case_trylock(void)
{
	struct ticketlock l = TICKETLOCK_INIT;

	set_backend(native_lock_spinning, native_unlock_kick);
	CHECK(ticket_trylock(&l));
	CHECK(l.t.head == 0 && l.t.tail == TICKET_INC);
	CHECK(!ticket_trylock(&l)); /* held */
	CHECK(l.t.head == 0 && l.t.tail == TICKET_INC); /* a failed try takes no ticket */
	ticket_unlock(&l);
	CHECK(unlocked(l) && l.t.head == TICKET_INC);

	/* Held by ticket_lock() with one waiter queued (tail = head + 4): still busy. */
	ticket_lock(&l);
	l.t.tail += TICKET_INC;
	CHECK(!ticket_trylock(&l));
	CHECK(l.t.head == TICKET_INC && l.t.tail == 3 * TICKET_INC);
	l.t.tail -= TICKET_INC;
	ticket_unlock(&l);
	CHECK(unlocked(l));

	/* Free at the wrap point: the ticket taken is 0xfffe, tail wraps to 0. */
	l.word = 0xfffefffe;
	CHECK(ticket_trylock(&l));
	CHECK(l.t.head == 0xfffe && l.t.tail == 0);
	ticket_unlock(&l);
	CHECK(unlocked(l) && l.t.head == 0);
	print_word("lock at end", l);
}

/*
 * Start at 0xfff0 so the tickets wrap after 8 acquisitions. The native pass
 * crosses the wrap on the spin path; several wraps are left to the futex
 * backend, which is fast under overcommit (native spinning pays a time slice
 * whenever the next in line is preempted) and also drives the 16-bit compares
 * of ticket_wait_find() and ticket_clear_slowpath() through the wrap.
 */
static void case_ticket_wrap(void)
{
	unsigned long total = WRAP_THREADS * WRAP_ITERS;
	unsigned long wraps = (WRAP_START / TICKET_INC + total) / 32768;

	native_run(2, WRAP_NATIVE_ITERS, WRAP_START);
	CHECK(run_done > (0x10000u - WRAP_START) / TICKET_INC); /* crossed the wrap */
	futex_run(WRAP_THREADS, WRAP_ITERS, WRAP_START, &futex_wait_50ms);
	printf("# tickets wrapped %lu times\n", wraps);
	CHECK(wraps >= 3);
	CHECK(!(sh.lock.t.tail & TICKET_SLOWPATH_FLAG));
}

/* ---- preemption awareness ----------------------------------------------- */

/* The queue records and ticket_preempted_next(), case by case. */
static void case_preempt_lookup(void)
{
	struct ticketlock l = TICKETLOCK_INIT, other = TICKETLOCK_INIT;

	reset_slow_state();
	memset(fake_preempted, 0, sizeof(fake_preempted));
	set_backend(native_lock_spinning, native_unlock_kick);
	pv_ops[PATCH_VCPU_IS_PREEMPTED] = (void *)fake_vcpu_is_preempted;
	self_index = 0;
	ticket_waits[3].queued = (uint64_t)(uintptr_t)&l << 16 | 6;
	ticket_waits[5].queued = (uint64_t)(uintptr_t)&other << 16 | 6;
	CHECK(ticket_queue_find(&l, 6) == 3);
	CHECK(ticket_queue_find(&other, 6) == 5);
	CHECK(ticket_queue_find(&l, 8) == -1);
	/* Running: no handoff to a preempted vCPU. */
	CHECK(ticket_preempted_next(&l, 6) == -1);
	fake_preempted[3].yes = true;
	CHECK(ticket_preempted_next(&l, 6) == 3);
	CHECK(ticket_stats[0].handoffs_preempted == 1);
	/* A different lock, the same ticket: not ours. */
	CHECK(ticket_preempted_next(&l, 8) == -1);
	/* Only the slots below ticket_nr_cpus are looked at. */
	ticket_nr_cpus = 3;
	CHECK(ticket_queue_find(&l, 6) == -1);
	ticket_nr_cpus = TICKET_MAX_CPUS;
	fake_preempted[3].yes = false;
	reset_slow_state();
}

/* A nested entry into the slow path is refused loudly (spinlock.h: "No nesting"). */
static sigjmp_buf nested_jmp;
static unsigned nested_cpu = ~0u;
static void nested_seen(unsigned cpu)
{
	nested_cpu = cpu;
	siglongjmp(nested_jmp, 1);
}

static void case_nested_slow_path(void)
{
	struct ticketlock l = TICKETLOCK_INIT;

	reset_slow_state();
	set_backend(native_lock_spinning, native_unlock_kick);
	pv_ops[PATCH_VCPU_IS_PREEMPTED] = (void *)fake_vcpu_is_preempted;
	self_index = 2;
	ticket_spin_threshold = 1;
	ticket_nested_fn = nested_seen;
	nested_cpu = ~0u;
	ticket_lock(&l); /* held: the next acquirer waits */
	/* vCPU 2 is inside lock_spinning for another lock when "an interrupt" takes l. */
	ticket_waits[2].in_hook = 1;
	if (!sigsetjmp(nested_jmp, 1)) {
		ticket_lock(&l);
		CHECK(!"the nested entry returned: it went on into lock_spinning");
	}
	CHECK(nested_cpu == 2);
	ticket_waits[2].in_hook = 0;
	ticket_waits[2].queued = 0;
	ticket_nested_fn = NULL;
	ticket_spin_threshold = 1u << 11;
	reset_slow_state();
}

static struct ticketlock *rec_lock;

static void *record_waiter(void *arg)
{
	(void)arg;
	self_index = 1;
	ticket_lock(rec_lock);
	ticket_unlock(rec_lock);
	return NULL;
}

#define EARLY_THREADS 4
static bool early_handed;

/*
 * Lock-waiter preemption: vCPU 0 (this test's main thread) waits for ticket 2
 * behind a phantom, which lets go while vCPU 0 is "preempted": the lock is
 * handed to a vCPU that does not run, and its queue record still says it waits
 * for ticket 2. Threads 1..3 queue behind it and MUST each block in
 * lock_spinning, with the spin threshold at 2^30 (minutes of spinning): only
 * an early slow-path entry gets them there in time. Then vCPU 0 "runs" again,
 * does what the wait loop does when it sees itself served, and unlocks.
 */
static void *early_worker(void *arg)
{
	unsigned self = (unsigned)(uintptr_t)arg;

	self_index = self;
	while (!__atomic_load_n(&early_handed, __ATOMIC_ACQUIRE))
		sched_yield();
	ticket_lock(&sh.lock);
	unsigned long bad = 0;
	critical_section(self, 1, &bad);
	ticket_unlock(&sh.lock);
	__atomic_fetch_add(&run_violations, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&run_done, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void case_preempt_early_entry(void)
{
	pthread_t tid[EARLY_THREADS];
	struct ticket_stats s;
	uint64_t early = 0;
	unsigned blocked = 0;

	reset_slow_state();
	memset(fake_preempted, 0, sizeof(fake_preempted));
	set_backend(futex_lock_spinning, futex_unlock_kick);
	pv_ops[PATCH_VCPU_IS_PREEMPTED] = (void *)fake_vcpu_is_preempted;
	ticket_spin_threshold = 1u << 30;
	futex_timeout = NULL; /* only a kick ends a block: a lost one hangs, the alarm reports it */
	/* A phantom holds ticket 0, vCPU 0 has taken ticket 2 and queued for it, and is preempted. */
	sh.lock.word = (uint32_t)(2 * TICKET_INC) << 16;
	self_index = 0;
	__atomic_store_n(&ticket_waits[0].queued, (uint64_t)(uintptr_t)&sh.lock << 16 | TICKET_INC,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&fake_preempted[0].yes, true, __ATOMIC_RELAXED);
	sh.counter = 0;
	sh.complement = ~0ul;
	sh.owner = NO_OWNER;
	run_violations = run_done = 0;
	run_held = true; /* no hold_until_queued() */
	early_handed = false;
	for (unsigned i = 1; i < EARLY_THREADS; i++)
		CHECK(pthread_create(&tid[i], NULL, early_worker, (void *)(uintptr_t)i) == 0);
	/* The phantom lets go: the lock is vCPU 0's, which is not running. */
	__atomic_add_fetch(&sh.lock.t.head, TICKET_INC, __ATOMIC_SEQ_CST);
	__atomic_store_n(&early_handed, true, __ATOMIC_RELEASE);
	uint64_t end = now_ns() + 5000000000ull;
	while (blocked != EARLY_THREADS - 1 && now_ns() < end) {
		blocked = 0;
		for (unsigned i = 1; i < EARLY_THREADS; i++)
			blocked += __atomic_load_n(&ticket_waits[i].lock, __ATOMIC_ACQUIRE) == &sh.lock;
		sched_yield();
	}
	bool all_blocked = blocked == EARLY_THREADS - 1;
	/* vCPU 0 runs again: served, it clears its record (as the wait loop does), and unlocks. */
	__atomic_store_n(&fake_preempted[0].yes, false, __ATOMIC_RELAXED);
	__atomic_store_n(&ticket_waits[0].queued, 0, __ATOMIC_RELAXED);
	unsigned long bad = 0;
	critical_section(0, 1, &bad);
	ticket_unlock(&sh.lock);
	__atomic_fetch_add(&run_violations, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&run_done, 1, __ATOMIC_RELAXED);
	for (unsigned i = 1; i < EARLY_THREADS; i++)
		pthread_join(tid[i], NULL);
	s = sum_stats();
	for (unsigned i = 0; i < TICKET_MAX_CPUS; i++)
		early += ticket_stats[i].early_entries;
	print_stats(&s);
	printf("# early_entries=%" PRIu64 ", all %d waiters blocked while the lock was handed to a preempted vCPU: %s\n",
	       early, EARLY_THREADS - 1, all_blocked ? "yes" : "no");
	CHECK(all_blocked);
	CHECK(early >= EARLY_THREADS - 1);
	CHECK(s.slow_entries >= EARLY_THREADS - 1);
	check_run(EARLY_THREADS, TICKET_INC, false); /* the phantom took ticket 0 */
	ticket_spin_threshold = 1u << 11;
	run_held = false;
}

/*
 * A wait that ended leaves no record: otherwise, once the 16-bit tickets wrap
 * (32768 acquisitions later), the record would name this vCPU as the one
 * served for that ticket again, whoever holds it then.
 */
static void case_queue_record_cleared(void)
{
	struct ticketlock l = TICKETLOCK_INIT;
	pthread_t t;

	reset_slow_state();
	memset(fake_preempted, 0, sizeof(fake_preempted));
	set_backend(native_lock_spinning, native_unlock_kick);
	pv_ops[PATCH_VCPU_IS_PREEMPTED] = (void *)fake_vcpu_is_preempted;
	self_index = 0;
	ticket_lock(&l); /* at once: ticket 0 */
	rec_lock = &l;
	CHECK(pthread_create(&t, NULL, record_waiter, NULL) == 0);
	/* Thread 1 waits for ticket 2: its record says so while it waits. */
	uint64_t want = (uint64_t)(uintptr_t)&l << 16 | TICKET_INC, end = now_ns() + 5000000000ull;
	while (__atomic_load_n(&ticket_waits[1].queued, __ATOMIC_ACQUIRE) != want && now_ns() < end)
		sched_yield();
	CHECK(ticket_queue_find(&l, TICKET_INC) == 1);
	ticket_unlock(&l);
	pthread_join(t, NULL);
	/* Served and gone: after 32767 more acquisitions, ticket 2 comes round again. */
	for (unsigned i = 0; i < 32767; i++) {
		ticket_lock(&l);
		ticket_unlock(&l);
	}
	CHECK(l.t.head == TICKET_INC);
	CHECK(ticket_queue_find(&l, TICKET_INC) == -1);
	reset_slow_state();
}

/* ---- the hang detector ------------------------------------------------ */

/* async-signal-safe output: no stdio in the handler. */
static char hbuf[4096];
static size_t hlen;

static void h_str(const char *s)
{
	while (*s && hlen < sizeof(hbuf))
		hbuf[hlen++] = *s++;
}

static void h_num(uint64_t v, unsigned base)
{
	char d[24];
	int n = 0;

	if (base == 16)
		h_str("0x");
	do {
		d[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && hlen < sizeof(hbuf))
		hbuf[hlen++] = d[--n];
}

static void h_flush(void)
{
	size_t off = 0;

	while (off < hlen) {
		ssize_t r = write(STDOUT_FILENO, hbuf + off, hlen - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	hlen = 0;
}

static void on_alarm(int sig)
{
	struct ticketlock l;

	(void)sig;
	l.word = __atomic_load_n(&sh.lock.word, __ATOMIC_RELAXED);
	h_str("# still running after ");
	h_num(HANG_ALARM_S, 10);
	h_str(" s\n# lock word=");
	h_num(l.word, 16);
	h_str(" head=");
	h_num(l.t.head, 16);
	h_str(" tail=");
	h_num(l.t.tail & ~TICKET_SLOWPATH_FLAG, 16);
	h_str(" SF=");
	h_num(l.t.tail & TICKET_SLOWPATH_FLAG, 10);
	h_str(" counter=");
	h_num(READ_ONCE(sh.counter), 10);
	h_str("\n");
	h_flush();
	for (unsigned i = 0; i < TICKET_MAX_CPUS; i++) {
		struct ticket_wait *w = &ticket_waits[i];
		struct ticketlock *wl = __atomic_load_n(&w->lock, __ATOMIC_RELAXED);

		if (i >= run_threads && !wl)
			continue; /* slots no thread of this run uses, and empty */
		h_str("# slot ");
		h_num(i, 10);
		h_str(": lock=");
		h_num((uintptr_t)wl, 16);
		h_str(" want=");
		h_num(w->want, 16);
		h_str(" kicked=");
		h_num(w->kicked, 10);
		h_str(" futex=");
		h_num(futex_words[i].val, 10);
		if (wl && w->want == l.t.head)
			h_str(" <- served but asleep");
		h_str("\n");
		h_flush();
	}
	h_str("not ok ");
	h_num(case_no, 10);
	h_str(" ");
	h_str(case_name);
	h_str(" # hang: lost wake-up?\n");
	h_flush();
	_exit(1);
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(HANG_ALARM_S);

	printf("KTAP version 1\n1..%d\n", NR_CASES);
	fflush(stdout);
	run_case("native_spin", case_native_spin);
	run_case("futex_backend", case_futex_backend);
	run_case("no_lost_wakeup", case_no_lost_wakeup);
	run_case("slowpath_flag_cleared", case_slowpath_flag_cleared);
	run_case("trylock", case_trylock);
	run_case("ticket_wrap", case_ticket_wrap);
	run_case("preempt_lookup", case_preempt_lookup);
	run_case("preempt_early_entry", case_preempt_early_entry);
	run_case("queue_record_cleared", case_queue_record_cleared);
	run_case("nested_slow_path", case_nested_slow_path);
	return nr_failed ? 1 : 0;
}
