/* SPDX-License-Identifier: MIT */
/* tas.h: a test-and-set lock with exponential backoff, the baseline `make bench` compares against. */
#ifndef PVTICK_TAS_H
#define PVTICK_TAS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The lock Linux falls back to on a hypervisor without PV spinlocks
 * (virt_spin_lock): unfair, so a preempted waiter costs nobody anything, and
 * any running vCPU may take a lock that a preempted one was waiting for. It
 * has no slow-path hooks. A word: 0 free, 1 held.
 *
 * Waiters read the word until it looks free (no bus-locked traffic while it is
 * held), then try one xchg; after each failed try they back off for a number of
 * PAUSEs that doubles (no randomness), up to TAS_BACKOFF_MAX.
 */
#define TAS_BACKOFF_MAX 1024u

struct taslock {
	uint32_t held;
};

/* Returns true if the lock had to be waited for (counted as contended). */
static inline bool tas_lock(struct taslock *l)
{
	uint32_t backoff = 1;
	bool waited = false;

	while (__atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE)) {
		waited = true;
		for (uint32_t i = 0; i < backoff; i++)
			__builtin_ia32_pause();
		if (backoff < TAS_BACKOFF_MAX)
			backoff <<= 1;
		while (__atomic_load_n(&l->held, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	}
	return waited;
}

static inline void tas_unlock(struct taslock *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
}

#endif
