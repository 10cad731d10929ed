/* SPDX-License-Identifier: MIT */
/* spinlock_types.h: the ticket lock word, the per-vCPU wait slots and slow-path counters. */
#ifndef PVTICK_SPINLOCK_TYPES_H
#define PVTICK_SPINLOCK_TYPES_H

#include <stdint.h>

/*
 * The lock word, 32 bits, little-endian:
 *
 *   31                          17   16   15                           1    0
 *  +------------------------------+----+-------------------------------+----+
 *  |   tail: next ticket to hand  | SF |   head: ticket now served      | 0  |
 *  +------------------------------+----+-------------------------------+----+
 *   \_________ u16 tail (bits 16-31) _/ \_________ u16 head (bits 0-15) ___/
 *
 * Tickets count in steps of TICKET_INC = 2, so bit 0 of each half is free.
 * Bit 0 of the tail (bit 16 of the word) is SF, TICKET_SLOWPATH_FLAG: set by a
 * waiter that is about to block in lock_spinning(), so that unlock knows it must
 * call unlock_kick(). Bit 0 of the head is always 0.
 * Unlocked: head == tail (ignoring SF). Held, nobody waiting: tail == head + 2.
 * A ticket wraps at 2^16; at most 2^15 tickets can be outstanding, far more
 * than TICKET_MAX_CPUS.
 */
#define TICKET_INC 2
#define TICKET_SLOWPATH_FLAG 1
#define TICKET_MAX_CPUS 64

struct ticketlock {
	union {
		uint32_t word;
		struct {
			uint16_t head;
			uint16_t tail;
		} t;
	};
};

#define TICKETLOCK_INIT { { 0 } }

/*
 * Slow-path counters, always compiled in, one cache line per vCPU.
 * Incremented only by the vCPU that owns them.
 */
struct ticket_stats {
	uint64_t contended;        /* acquisitions that did not get the lock at once */
	uint64_t slow_entries;     /* calls of lock_spinning() (threshold exceeded) */
	uint64_t unlock_slow;      /* unlocks that saw SF and called unlock_kick() */
	uint64_t blocks;           /* backend: times this vCPU actually blocked */
	uint64_t kicks_sent;       /* backend: wake-ups sent to another vCPU */
	uint64_t kicks_received;   /* backend: wake-ups that found our slot kicked */
	uint64_t spurious_wakeups; /* backend: returned from blocking without a kick */
	uint64_t slow_acquisitions; /* acquisitions that called lock_spinning() at least once */
	uint64_t early_entries;    /* calls of lock_spinning() before the threshold: holder preempted */
	uint64_t holder_unknown;   /* waits whose first look found no queue record for the served ticket */
	uint64_t first_wait_cycles; /* TSC cycles of this vCPU's first wait, start to served (0: none yet) */
	uint64_t handoffs_preempted; /* unlock_kick: nobody blocked for next, and next's vCPU preempted */
	uint64_t preempt_kicks;    /* backend: kicks sent to such a preempted vCPU anyway (KVM) */
	uint64_t path_tsc_reads;   /* TSC reads on the kick and wake path (ticket_latency_on only) */
	uint64_t spins;            /* PAUSEs in the wait loop, over every wait (no clock read) */
} __attribute__((aligned(64)));

/*
 * Per-vCPU wait slot, written only by its vCPU (lock_spinning), read by the
 * unlocker (unlock_kick). lock == 0 means "not waiting".
 *
 * queued: which ticket of which lock this vCPU waits for, written by the wait
 * loop when it starts (one 64-bit store: lock address << 16 | ticket) and
 * cleared (0) as soon as the loop sees it served. So a record names a vCPU
 * only while it waits, and that includes the moment the lock has been handed
 * to it but it has not run yet: lock-waiter preemption, the case Linux's pv
 * qspinlock looks for too (the vCPU ahead in the queue). A record left in
 * place would name its vCPU as the holder again 32768 acquisitions later, when
 * the 16-bit tickets wrap, whoever holds the lock then. A holder is never
 * named (the fast path and the unlock stay free of records): nobody can tell
 * whether the vCPU inside the critical section is preempted. Read by vCPUs
 * that look for the vCPU of a ticket (preemption checks only: a missing record
 * costs a late slow-path entry, never correctness).
 */
struct ticket_wait {
	uint64_t queued;
	uint32_t in_hook; /* 1 from just before the lock_spinning site until it returned (pv_switch) */
	struct ticketlock *lock;
	uint16_t want;
	uint32_t kicked;   /* set by the kicker before it wakes us: tells kick from spurious */
	uint32_t kicker;   /* the kicker's vCPU index, and */
	uint64_t kick_tsc; /* its TSC just before the kick: for the kick-to-wake latency */
} __attribute__((aligned(64)));

/*
 * Kick-to-wake latency, per vCPU (the woken one): a log-linear histogram of TSC
 * cycles, 16 buckets per power of two (at most 1/16 relative error). Values
 * below 16 have a bucket each.
 */
#define TICKET_LAT_SUB 16
#define TICKET_LAT_BUCKETS (TICKET_LAT_SUB + 60 * TICKET_LAT_SUB)
struct ticket_latency {
	uint32_t bucket[TICKET_LAT_BUCKETS];
	uint64_t samples;
	uint64_t clamped; /* wake-up TSC before the kick's, after skew correction: counted as 0 */
} __attribute__((aligned(64)));

#endif
