// SPDX-License-Identifier: MIT
/* ticket.c: the ticket lock's out-of-line wait loop and the slow-path protocol helpers for backends. */
#include "spinlock.h"

uint32_t ticket_spin_threshold = 1u << 11;
void (*ticket_nested_fn)(unsigned cpu);
unsigned ticket_nr_cpus = TICKET_MAX_CPUS;
struct ticket_stats ticket_stats[TICKET_MAX_CPUS];
struct ticket_wait ticket_waits[TICKET_MAX_CPUS];

/*
 * Clear SF once nobody can be waiting: `head` is served and `last`, the last
 * ticket taken, is the very next one (tail == last + INC), so no wait is
 * outstanding but last's. The acquirer calls it with head == last == its own
 * ticket. If a new ticket is taken meanwhile, or the head moves, the cmpxchg
 * fails and SF stays: that costs one needless unlock_kick() call later, never
 * a lost wake-up. That holds for head == last only: inject=late-flag calls it
 * with head = last - INC precisely to lose one (below).
 */
static void ticket_clear_slowpath(struct ticketlock *lock, uint16_t head, uint16_t last)
{
	struct ticketlock old, new;

	old.t.head = head;
	old.t.tail = (uint16_t)(last + TICKET_INC) | TICKET_SLOWPATH_FLAG;
	new.t.head = head;
	new.t.tail = (uint16_t)(last + TICKET_INC);
	(void)ticket_cmpxchg32(&lock->word, old.word, new.word); /* pml:W5 */
}

static uint64_t queue_record(struct ticketlock *lock, uint16_t ticket)
{
	return (uint64_t)(uintptr_t)lock << 16 | ticket;
}

int ticket_queue_find(struct ticketlock *lock, uint16_t ticket)
{
	uint64_t want = queue_record(lock, ticket);

	for (unsigned i = 0; i < ticket_nr_cpus; i++)
		if (__atomic_load_n(&ticket_waits[i].queued, __ATOMIC_RELAXED) == want)
			return (int)i;
	return -1;
}

/*
 * Is the vCPU of the ticket now served preempted, when it is a waiter the lock
 * was handed to that has not run since (its record is still there)? Then
 * nobody behind it can be served before the hypervisor runs it again. false if
 * no record names that ticket (the holder is inside its critical section, or
 * took the lock at once: see struct ticket_wait), counted in holder_unknown at
 * a wait's first look.
 */
static bool holder_preempted(struct ticketlock *lock, unsigned self, bool first)
{
	int cpu = ticket_queue_find(lock, __atomic_load_n(&lock->t.head, __ATOMIC_RELAXED));
	if (cpu < 0) {
		ticket_stats[self].holder_unknown += first;
		return false;
	}
	return (unsigned)cpu != self && vcpu_is_preempted((unsigned)cpu);
}

void ticket_lock_wait(struct ticketlock *lock, uint16_t want)
{
	unsigned self = ticket_self();
	struct ticket_stats *st = &ticket_stats[self];
	uint64_t entries = st->slow_entries;
	bool first = true;
	/* Timed once per vCPU only: an RDTSC is a VM exit where the TSC is emulated (Xen's default). */
	uint64_t t0 = st->first_wait_cycles ? 0 : __builtin_ia32_rdtsc();

	st->contended++;
	__atomic_store_n(&ticket_waits[self].queued, queue_record(lock, want), __ATOMIC_RELAXED);
	for (;;) {
		uint32_t n = ticket_spin_threshold, spun = 0;
		do {
			if (ticket_served(lock, want)) { /* pml:W1 */
				st->spins += spun;
				goto served;
			}
			__builtin_ia32_pause();
			/* The first look right away, then every TICKET_PREEMPT_CHECK spins. */
			if (!(spun++ % TICKET_PREEMPT_CHECK) && holder_preempted(lock, self, first)) {
				st->early_entries++; /* pml:W6 */
				break;
			}
			first = false;
		} while (--n);
		st->spins += spun;
		st->slow_entries++;
		/* Inside the hook already: an interrupt handler took a lock (see spinlock.h, "No nesting"). */
		if (__atomic_load_n(&ticket_waits[self].in_hook, __ATOMIC_RELAXED)) {
			if (ticket_nested_fn)
				ticket_nested_fn(self);
			__builtin_trap();
		}
		/* in_hook: a live switch to native waits until no vCPU is inside the hook (locks/pvlock.c). */
		__atomic_store_n(&ticket_waits[self].in_hook, 1, __ATOMIC_RELAXED);
		lock_spinning(lock, want); /* pml:W2 */
		__atomic_store_n(&ticket_waits[self].in_hook, 0, __ATOMIC_RELEASE);
	}
served:
	/* The wait is over: the record must not name this vCPU for this ticket after a wrap. */
	__atomic_store_n(&ticket_waits[self].queued, 0, __ATOMIC_RELAXED);
	if (t0) {
		uint64_t d = __builtin_ia32_rdtsc() - t0;
		st->first_wait_cycles = d ? d : 1;
	}
	st->slow_acquisitions += st->slow_entries != entries;
	if (__atomic_load_n(&lock->t.tail, __ATOMIC_RELAXED) & TICKET_SLOWPATH_FLAG) /* pml:W3 */
		ticket_clear_slowpath(lock, want, want); /* pml:W4 */
}

/*
 * ticket_release_pv: the PV unlock, what ticket_release's sites call under a
 * blocking backend. head += 2 with a locked add: a full barrier, so the SF read
 * below cannot move before the head store (a waiter sets SF, then reads head;
 * we write head, then read SF: one of us sees the other). Only the holder
 * changes head (the other locked RMWs of the word write back the head they
 * read), so the new head is known without reading it back.
 */
void ticket_release_pv(struct ticketlock *lock)
{
	uint16_t next = (uint16_t)(ticket_xadd16(&lock->t.head, TICKET_INC) + TICKET_INC); /* pml:U1 */
	if (__builtin_expect(__atomic_load_n(&lock->t.tail, __ATOMIC_RELAXED) & TICKET_SLOWPATH_FLAG, 0)) { /* pml:U2 */
		ticket_stats[ticket_self()].unlock_slow++;
		unlock_kick(lock, next); /* pml:U3 */
	}
}

int ticket_preempted_next(struct ticketlock *lock, uint16_t next)
{
	int cpu = ticket_queue_find(lock, next);
	if (cpu < 0 || !vcpu_is_preempted((unsigned)cpu))
		return -1;
	ticket_stats[ticket_self()].handoffs_preempted++;
	return cpu;
}

/*
 * The race the publication order closes (waiter W holds ticket `want`, the
 * holder H unlocks and hands the lock to `want`):
 *
 *   Bad order, SF set after W's last check:
 *     1. W reads head: not yet `want`.
 *     2. H adds 2 to head (now `want`), reads the tail: SF clear, no kick.
 *     3. W sets SF and blocks. Nobody will ever kick W: W sleeps holding the
 *        next ticket and every later waiter queues behind it (deadlock).
 *
 *   pvtick's order, W: publish slot, set SF (locked op), read head;
 *                   H: add to head (locked op), read SF, read slots:
 *     Both sides store then load with a full barrier between, so at least one
 *     sees the other's store. Either W's read of head sees `want` (W does not
 *     block), or H's read of the tail sees SF and, since W published its slot
 *     before SF, H's ticket_wait_find() sees (lock, want) and kicks W. A kick
 *     that arrives before W blocks MUST be kept by the backend's wake mechanism
 *     (Xen: the pending bit of the event channel; KVM: the pending unhalt).
 */
void ticket_wait_publish(struct ticketlock *lock, uint16_t want)
{
	struct ticket_wait *w = &ticket_waits[ticket_self()];

	__atomic_store_n(&w->want, want, __ATOMIC_RELAXED); /* pml:S1 */
	__atomic_store_n(&w->kicked, 0, __ATOMIC_RELAXED);
	/* Release: a reader that sees `lock` also sees `want`. */
	__atomic_store_n(&w->lock, lock, __ATOMIC_RELEASE); /* pml:S1 */
}

void ticket_set_slowpath(struct ticketlock *lock)
{
	/* A locked OR: full barrier between the slot store above and the head load after. */
	ticket_or16(&lock->t.tail, TICKET_SLOWPATH_FLAG); /* pml:S3 */
}

/*
 * Fault injection (inject=late-flag): the bad order of the race above, with its
 * window held open until it is hit: the last check first; if it says "not yet",
 * wait until the holder has unlocked, then SF, and block on the stale answer.
 * The loss needs the holder to read SF clear at its unlock, and SF is sticky:
 * an acquirer clears it only when nobody is queued behind it (W4), so under
 * steady contention one set long before stays set and the holder kicks anyway.
 * 2 vCPUs under Xen once ran 4188 blocks that way, all but 3 ended by a kick,
 * and no stall (the test failed). So a waiter next in line with nobody behind
 * it first clears SF, which only its own wait could need. Such an entry loses
 * its wake-up unless the head moved before the clear (the cmpxchg fails, and
 * the holder may have read SF set and kicked): then the next entry tries again.
 * Rescues that remain: the BSP's timer ends a block of the BSP, so the stall
 * comes once an AP loses; under KVM a kick that found its target not halted
 * (U5, or U4 to a waiter served at its last check) leaves pv_unhalted set and
 * ends one later HLT, so it saves one loss, not every one.
 */
bool ticket_inject_late_flag;

/*
 * ticket_no_block: set by a live switch to native (locks/pvlock.c) before it
 * drains the vCPUs inside lock_spinning, cleared by the switch back once
 * every unlock_kick site kicks again. A waiter that reads it set after its
 * last check does not block. The race with the switcher S, waiter W:
 *   W: in_hook = 1; ...; SF (locked op); last check; read ticket_no_block.
 *   S: ticket_no_block = 1; full barrier; read every vCPU's in_hook.
 * Either W reads 1 and does not block, or S reads in_hook = 1 and kicks W
 * (once its slot is published) until it has left the hook.
 */
bool ticket_no_block;
uint64_t ticket_no_block_refusals;

bool ticket_announce_and_check(struct ticketlock *lock, uint16_t want)
{
	if (ticket_inject_late_flag) {
		bool served = ticket_served(lock, want); /* pml:M1 */
		if (!served)
			ticket_clear_slowpath(lock, (uint16_t)(want - TICKET_INC), want);
		while (!served && !ticket_served(lock, want))
			__builtin_ia32_pause();
		ticket_set_slowpath(lock);
		return !served;
	}
	ticket_set_slowpath(lock);
	if (ticket_served(lock, want)) /* pml:S4 */
		return false;
	if (__atomic_load_n(&ticket_no_block, __ATOMIC_RELAXED)) { /* pml:X4 */
		__atomic_fetch_add(&ticket_no_block_refusals, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

void ticket_wait_clear(void)
{
	__atomic_store_n(&ticket_waits[ticket_self()].lock, (struct ticketlock *)0, __ATOMIC_RELEASE); /* pml:S6 */
}

/* Fault injection (inject=drop-kick): unlockers find no waiter, so no backend ever kicks. */
bool ticket_inject_drop_kick;

int ticket_wait_find(struct ticketlock *lock, uint16_t next)
{
	if (ticket_inject_drop_kick)
		return -1;
	for (int i = 0; i < (int)ticket_nr_cpus; i++) {
		struct ticket_wait *w = &ticket_waits[i];
		if (__atomic_load_n(&w->lock, __ATOMIC_ACQUIRE) == lock && __atomic_load_n(&w->want, __ATOMIC_RELAXED) == next) /* pml:U3 */
			return i;
	}
	return -1;
}

/* ---- kicks, wake-ups and their latency, the same for every backend ---- */
struct ticket_latency ticket_latency[TICKET_MAX_CPUS];
bool ticket_latency_on;
int64_t ticket_tsc_skew[TICKET_MAX_CPUS];

static unsigned latency_bucket(uint64_t v)
{
	if (v < TICKET_LAT_SUB)
		return (unsigned)v;
	unsigned msb = 63 - (unsigned)__builtin_clzll(v); /* >= 4 */
	unsigned b = TICKET_LAT_SUB + (msb - 4) * TICKET_LAT_SUB + (unsigned)((v >> (msb - 4)) & 15);
	return b < TICKET_LAT_BUCKETS ? b : TICKET_LAT_BUCKETS - 1;
}

uint64_t ticket_latency_value(unsigned b)
{
	if (b < TICKET_LAT_SUB)
		return b;
	unsigned msb = (b - TICKET_LAT_SUB) / TICKET_LAT_SUB + 4, sub = (b - TICKET_LAT_SUB) % TICKET_LAT_SUB;
	uint64_t width = 1ull << (msb - 4);
	return (TICKET_LAT_SUB + sub) * width + width / 2;
}

void ticket_kick_mark(int cpu)
{
	struct ticket_wait *w = &ticket_waits[cpu];
	unsigned self = ticket_self();

	w->kicker = self;
	if (ticket_latency_on) {
		w->kick_tsc = __builtin_ia32_rdtsc();
		ticket_stats[self].path_tsc_reads++;
	}
	/* Release: the woken vCPU that sees kicked also sees kicker and kick_tsc. */
	__atomic_store_n(&w->kicked, 1, __ATOMIC_RELEASE);
	ticket_stats[self].kicks_sent++;
}

void ticket_woken(void)
{
	unsigned self = ticket_self();
	struct ticket_wait *w = &ticket_waits[self];

	if (!__atomic_load_n(&w->kicked, __ATOMIC_ACQUIRE)) {
		ticket_stats[self].spurious_wakeups++;
		return;
	}
	ticket_stats[self].kicks_received++;
	if (!ticket_latency_on)
		return;
	uint64_t now = __builtin_ia32_rdtsc();
	ticket_stats[self].path_tsc_reads++;
	/* Both stamps on vCPU 0's clock: subtract each vCPU's skew. */
	int64_t d = (int64_t)(now - w->kick_tsc) - ticket_tsc_skew[self] + ticket_tsc_skew[w->kicker];
	struct ticket_latency *l = &ticket_latency[self];
	l->samples++;
	if (d < 0) {
		l->clamped++;
		d = 0;
	}
	l->bucket[latency_bucket((uint64_t)d)]++;
}
