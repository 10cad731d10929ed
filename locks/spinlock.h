/* SPDX-License-Identifier: MIT */
/* spinlock.h: ticket lock operations: the inline fast paths and the patchable hooks. */
#ifndef PVTICK_SPINLOCK_H
#define PVTICK_SPINLOCK_H

#include <stdbool.h>
#include "spinlock_types.h"
#include "../patch/patch.h"

/*
 * The hooks. Every call of them is a patch site (see patch/patch.h); the
 * fourth, ticket_release (the whole unlock), is declared further down.
 *
 * lock_spinning(lock, want): called by a waiter holding ticket `want` after it
 *   spun ticket_spin_threshold times without being served. It MAY block the vCPU
 *   until kicked, MAY return at any time (the caller re-checks and spins again).
 *   Exists so that a waiter whose holder is preempted stops burning the pCPU the
 *   holder needs. Native: nothing (the site is NOPs, costs nothing).
 * unlock_kick(lock, next): called by the PV unlock (ticket_release_pv), after
 *   head moved to `next`, only if SF was set. MUST wake the vCPU waiting for
 *   `next` on `lock`, if there is one. Native: never called (the native unlock
 *   does not look at SF), the site is NOPs.
 * vcpu_is_preempted(cpu): see its declaration below. The wait loop
 *   asks it, every TICKET_PREEMPT_CHECK spins, about the vCPU that holds the
 *   ticket now served; if that vCPU is preempted, spinning cannot end before
 *   the hypervisor runs it again, so the waiter calls lock_spinning at once
 *   (an early slow-path entry) instead of after ticket_spin_threshold spins.
 *
 * A blocking backend MUST follow this order in lock_spinning (see ticket.c for
 * the race it closes):
 *   1. ticket_wait_publish(lock, want)       my slot says (lock, want)
 *   2. ticket_set_slowpath(lock)             SF set, full barrier
 *   3. if (ticket_served(lock, want)) -> 5   the last check, after 1 and 2
 *   4. block until kicked or woken spuriously
 *   5. ticket_wait_clear()
 * Steps 2 and 3 are ticket_announce_and_check(), which every backend calls.
 * unlock_kick MUST find the waiter with ticket_wait_find(lock, next).
 *
 * No nesting. A vCPU has one wait slot and one event channel (Xen) or one
 * pv_unhalted flag (KVM), so lock_spinning MUST NOT be entered again on a vCPU
 * that is inside it: a ticket lock MUST NOT be taken in an interrupt handler
 * (or any context that can interrupt a waiter) unless the slow path is off.
 * The bad interleaving it would allow (vCPU A, locks L1 and L2):
 *   1. A waits for L1 in lock_spinning: slot (L1, t1), SF set, about to block;
 *   2. an interrupt on A takes L2, which is contended: lock_spinning again
 *      overwrites the slot with (L2, t2), blocks, is kicked, clears the slot;
 *   3. back in the outer call, A blocks for L1; L1's unlocker looks for
 *      (L1, t1), finds an empty slot, kicks nobody: a lost wake-up.
 * (Linux's xen_qlock_wait had to handle exactly this nesting.) pvtick takes
 * its locks in thread context only; ticket_lock_wait() checks it: a nested
 * entry calls ticket_nested_fn, which MUST NOT return (the kernel panics with
 * one line naming the vCPU), instead of losing a wake-up later.
 */
/* Called on a nested entry into the slow path (see above); MUST NOT return. NULL: trap (ud2). */
extern void (*ticket_nested_fn)(unsigned cpu);

extern uint32_t ticket_spin_threshold; /* spins before lock_spinning(); >= 1 */
/* vCPU indexes in use are [0, ticket_nr_cpus): the slot scans stop there. Set by the environment. */
extern unsigned ticket_nr_cpus;
/* Spins between two looks at whether the served ticket's vCPU is preempted. */
#define TICKET_PREEMPT_CHECK 64
extern struct ticket_stats ticket_stats[TICKET_MAX_CPUS];
extern struct ticket_wait ticket_waits[TICKET_MAX_CPUS];

/* The calling vCPU's index in [0, TICKET_MAX_CPUS). Provided by the environment. */
unsigned ticket_self(void);

/*
 * The loops whose speed make bench measures (the stress loop, the wait loop) go in
 * a page of their own, .text.measured (boot/pvtick.ld), so that where they fall
 * against a 4 KiB page boundary does not move when unrelated code grows. Under the
 * nested KVM, emulated by QEMU TCG, that alone changed spin's throughput up to
 * twentyfold: a build whose stress loop crossed a page boundary ran 0.6 to 1.5
 * million acquisitions a window where the same loop within one page ran 32 to 92
 * thousand. noinline: a copy inlined elsewhere would sit outside the page. (What
 * the pv modes call, the backends' hooks and the PV release, stays in .text.)
 */
#define MEASURED_TEXT __attribute__((section(".text.measured"), noinline))

/* Out of line: spin, then call lock_spinning; returns with the lock held. */
MEASURED_TEXT void ticket_lock_wait(struct ticketlock *lock, uint16_t want);

/* Helpers for backends, in the order given above. */
void ticket_wait_publish(struct ticketlock *lock, uint16_t want);
void ticket_set_slowpath(struct ticketlock *lock);
/*
 * Steps 2 and 3: set SF, then the last check. true: not served yet, the caller
 * may block. false also while ticket_no_block is set (a live switch to native).
 */
bool ticket_announce_and_check(struct ticketlock *lock, uint16_t want);
extern bool ticket_no_block;
extern uint64_t ticket_no_block_refusals; /* blocks refused because of it */
void ticket_wait_clear(void);
/* Test only: make ticket_wait_find() find nobody, i.e. drop every kick. */
extern bool ticket_inject_drop_kick;
/* Test only: ticket_announce_and_check() checks first, sets SF once served (the bad order; ticket.c). */
extern bool ticket_inject_late_flag;
/* vCPU waiting for ticket `next` on `lock`, or -1. */
int ticket_wait_find(struct ticketlock *lock, uint16_t next);
/* vCPU whose queue record (struct ticket_wait) says it holds `ticket` of `lock`, or -1. */
int ticket_queue_find(struct ticketlock *lock, uint16_t ticket);
/*
 * For unlock_kick when ticket_wait_find() found nobody blocked for `next`: the
 * vCPU holding `next` if it is preempted (the lock was just handed to a vCPU
 * that is not running: lock-waiter preemption), counted in handoffs_preempted;
 * else -1. A backend MAY kick that vCPU anyway where a kick makes the
 * hypervisor run it sooner (KVM: KVM_HC_KICK_CPU yields to its target).
 */
int ticket_preempted_next(struct ticketlock *lock, uint16_t next);
/*
 * For backends, around the wake mechanism, so that every backend counts the
 * same way. ticket_kick_mark(cpu): unlock_kick found `cpu` waiting; call it just
 * before the kick (marks the slot kicked, counts kicks_sent, and with
 * ticket_latency_on stamps the TSC). ticket_woken(): lock_spinning's block
 * returned; counts kicks_received (and with ticket_latency_on records the
 * kick-to-wake latency) or spurious_wakeups.
 * ticket_latency_on (false unless the environment sets it before the lock is
 * used): each stamp is an RDTSC, a VM exit where the hypervisor emulates the
 * TSC (Xen's default here), on the very path a throughput run measures; so a
 * run measures throughput or latency, not both. The stamps' reads are counted
 * in ticket_stats[].path_tsc_reads; that the hooks reach no other RDTSC, a
 * backend's included, is checked on the image by make test. (Outside the
 * hooks, ticket_lock_wait times each vCPU's first wait: two reads per vCPU
 * per run.)
 */
extern bool ticket_latency_on;
void ticket_kick_mark(int cpu);
void ticket_woken(void);

/*
 * Kick-to-wake latencies, per woken vCPU. The kick's TSC and the wake-up's are
 * read on two vCPUs: ticket_tsc_skew[i] is vCPU i's TSC minus vCPU 0's, set by
 * the environment before the lock is used (0 where TSCs agree).
 */
extern struct ticket_latency ticket_latency[TICKET_MAX_CPUS];
extern int64_t ticket_tsc_skew[TICKET_MAX_CPUS];
/* Bucket i's representative value (its middle), for percentiles. */
uint64_t ticket_latency_value(unsigned bucket);

/*
 * The lock's atomic read-modify-writes. Each LOCK prefix is written through
 * TICKET_LOCK, which records its address (self-relative) in section
 * "smp_locks": with a single vCPU, patch_up_locks() turns every recorded 0xf0
 * into 0x3e (a DS segment prefix, which changes nothing here), as Linux's SMP
 * alternatives did. One CPU needs no bus lock; an interrupt comes between two
 * instructions, never inside one, so the RMW stays atomic for it. Every one is
 * a full barrier on x86 with or without the prefix, and a compiler barrier
 * ("memory"). Under TSan the __atomic builtins stand in: it cannot see inside
 * asm, and would miss the synchronisation.
 */
#define TICKET_LOCK                                                     \
	"771: lock\n\t"                                                 \
	".pushsection smp_locks, \"a\"\n\t"                             \
	".balign 4\n\t"                                                 \
	".long 771b - .\n\t"                                            \
	".popsection\n\t"

/* *p += v; returns the old *p. */
static inline uint32_t ticket_xadd32(uint32_t *p, uint32_t v)
{
#ifdef __SANITIZE_THREAD__
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
#else
	__asm__ volatile(TICKET_LOCK "xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory", "cc");
	return v;
#endif
}

static inline uint16_t ticket_xadd16(uint16_t *p, uint16_t v)
{
#ifdef __SANITIZE_THREAD__
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
#else
	__asm__ volatile(TICKET_LOCK "xaddw %0, %1" : "+r"(v), "+m"(*p) : : "memory", "cc");
	return v;
#endif
}

static inline void ticket_or16(uint16_t *p, uint16_t v)
{
#ifdef __SANITIZE_THREAD__
	__atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);
#else
	__asm__ volatile(TICKET_LOCK "orw %1, %0" : "+m"(*p) : "ri"(v) : "memory", "cc");
#endif
}

/* If *p == old, *p = new. Returns whether it did. */
static inline bool ticket_cmpxchg32(uint32_t *p, uint32_t old, uint32_t new)
{
#ifdef __SANITIZE_THREAD__
	return __atomic_compare_exchange_n(p, &old, new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
#else
	bool ok;
	__asm__ volatile(TICKET_LOCK "cmpxchgl %3, %1" : "=@ccz"(ok), "+m"(*p), "+a"(old) : "r"(new)
			 : "memory");
	return ok;
#endif
}

static inline bool ticket_served(struct ticketlock *lock, uint16_t want)
{
	return __atomic_load_n(&lock->t.head, __ATOMIC_ACQUIRE) == want;
}

/*
 * The hooks. Every call of one is a patch site: they are ordinary external
 * functions here (their stubs are in patch/stubs.S), and patch/sitegen finds
 * the calls in the linked image. Call them directly, never through a pointer
 * and never as a tail call (the build uses -fno-optimize-sibling-calls;
 * sitegen rejects anything but a call).
 */
void lock_spinning(struct ticketlock *lock, uint16_t want);
void unlock_kick(struct ticketlock *lock, uint16_t next);
/*
 * vcpu_is_preempted(cpu): true if vCPU `cpu` (pvtick's index) wants to run but
 * the hypervisor is not running it. Only a hint: the answer may be stale by
 * the time it is used, and nothing may depend on it for correctness (the wait
 * loop uses it to call lock_spinning early, which is always allowed). Native:
 * `mov $0,%eax` in place (false: a vCPU of bare metal is never preempted).
 */
bool vcpu_is_preempted(unsigned cpu);
/*
 * ticket_release(lock): the whole unlock, a site of its own, so that the
 * native unlock costs nothing over a lock without hooks. Native: the site
 * holds `addw $2,0x0(%rdi)` (head += 2: only the holder changes head, and an
 * x86 store is a release), one instruction of 5 bytes. PV: a direct call of
 * ticket_release_pv (ticket.c): head += 2 with a locked add (a full barrier),
 * then the SF test and unlock_kick, as the protocol below demands.
 * An ordinary C call: GCC's no_caller_saved_registers would promise callers
 * that it clobbers nothing (Linux's callee-save thunks), but GCC 12 does not
 * use that promise at a call site (the same code with and without it), so the
 * callers' code is what it would be for any call, and the site still beats
 * the hook-free unlock (make bench: the fast-path table).
 */
void ticket_release(struct ticketlock *lock);
/* The PV target of ticket_release's sites (locks/ticket.c), and the native site's bytes. */
void ticket_release_pv(struct ticketlock *lock);
#define TICKET_RELEASE_NATIVE { 0x66, 0x83, 0x47, 0x00, TICKET_INC } /* addw $2,0x0(%rdi): head += 2 */
_Static_assert(__builtin_offsetof(struct ticketlock, t.head) == 0, "TICKET_RELEASE_NATIVE adds at 0(%rdi)");

static inline void ticket_lock(struct ticketlock *lock)
{
	struct ticketlock old;

	/* Take a ticket: tail += 2. A carry out of bit 31 is the wrap, harmless. */
	old.word = ticket_xadd32(&lock->word, (uint32_t)TICKET_INC << 16); /* pml:T1 */
	uint16_t want = old.t.tail & ~TICKET_SLOWPATH_FLAG;
	if (__builtin_expect(old.t.head == want, 1)) /* pml:T2 */
		return;
	ticket_lock_wait(lock, want); /* pml:T3 */
}

static inline bool ticket_trylock(struct ticketlock *lock)
{
	struct ticketlock old, new;

	old.word = __atomic_load_n(&lock->word, __ATOMIC_RELAXED);
	if (old.t.head != (old.t.tail & ~TICKET_SLOWPATH_FLAG))
		return false;
	new.word = old.word + ((uint32_t)TICKET_INC << 16);
	return ticket_cmpxchg32(&lock->word, old.word, new.word);
}

/* The plain ticket unlock, head += 2 (what the native ticket_release site does in one addw). */
static inline void ticket_release_native(struct ticketlock *lock)
{
	__atomic_store_n(&lock->t.head, (uint16_t)(__atomic_load_n(&lock->t.head, __ATOMIC_RELAXED) + TICKET_INC),
			 __ATOMIC_RELEASE);
}

static inline void ticket_unlock(struct ticketlock *lock)
{
#ifdef TICKET_NO_HOOKS
	ticket_release_native(lock); /* make bench's baseline only: no SF test, no site */
#else
	ticket_release(lock); /* native: addw $2,(%rdi) in place; PV: ticket_release_pv */
#endif
}

#endif
