/* SPDX-License-Identifier: MIT */
/* ticket.pml: a SPIN model of the ticket lock's slow-path protocol with the Xen or KVM hooks (make verify). */

/*
 * What is modelled: NCPU vCPUs take one ticket lock again and again (or stop
 * for good), through the fast path of locks/spinlock.h, the wait loop and the
 * flag clearing of locks/ticket.c, and the lock_spinning/unlock_kick hooks of
 * one backend:
 *   spin -a -DBACKEND_XEN ticket.pml   xen/xen.c: SCHEDOP_poll on the vCPU's
 *                                      event channel, kicked by EVTCHNOP_send
 *   spin -a -DBACKEND_KVM ticket.pml   kvm/kvm.c: HLT, kicked by KVM_HC_KICK_CPU
 * Mutants, each must be caught (tests/verify.sh):
 *   -DM1  SF set after the waiter's last head check (the bad order of ticket.c).
 *   -DM2  unlock kicks the waiter for head + INC, then moves the head.
 *   -DM3  Xen: the port's pending bit cleared after the last check, just before
 *         the poll ("2 after 3" in xen.c), which can wipe out the kick.
 *   -DM4  KVM: a HLT that forgets a kick sent before it (HLT without
 *         pv_unhalted: only a kick during the halt would end it).
 *   -DM5  an early slow-path entry (W6, the served ticket's vCPU preempted)
 *         that publishes its slot and sets SF but skips the last check, as if
 *         a preempted vCPU could not have let go meanwhile.
 * With -DSWITCH, a switcher process flips the lock to native and back (SWITCHES times)
 * while the vCPUs run (pv_switch in locks/pvlock.c, steps X1..X8), and:
 *   -DM6  the switch to native without its hand-over (no ticket_no_block, no
 *         drain): the unlock_kick sites go native while a vCPU is blocked.
 *   -DM7  the switch back in the wrong order: lock_spinning before unlock_kick.
 *   -DM8  the switch back with the unlock (ticket_release) last: a vCPU may
 *         block while an unlock is still the native addw, which tests no SF.
 *
 * Where the C is. Each step's tag (T1, W1..W6, S1..S6, U1..U5, X1..X8; M1, M3, M4
 * for the mutants) marks the C lines it mirrors with a comment "pml:TAG":
 *   grep -n 'pml:S3' locks/*.[ch] xen/*.c kvm/*.c
 * tests/verify.sh fails if a tag of this model has no such line, or the C
 * has a tag this model does not use.
 *
 * Steps. Each shared load or store of the C is one Promela step, a locked
 * instruction (fetch_add, fetch_or, cmpxchg) one atomic step, except where
 * merging two accesses changes no outcome (without these merges pan had
 * stored 9e7 states, unfinished, after 150 s; make verify has not the time):
 *   - a wait slot is published in one step (w->want, then w->lock) and read in
 *     one step by ticket_wait_find (w->lock, then w->want), and its want is
 *     reset to 0 when the slot is cleared (the C leaves it). Exact as long as no
 *     ticket value is reused between the finder's two loads of one slot: the
 *     two loads then see one publication, or the want load sees a later
 *     publication of the same ticket or of a ticket that cannot be `next`, as
 *     the single read at the time of the want load would. Reuse takes 2^15
 *     acquisitions in the C between two adjacent loads of one vCPU; the
 *     model, with 4 tickets, does not explore that case.
 *   - a successful ticket_served() and the following load of the tail (once
 *     head == want, only this vCPU can move the head);
 *   - the return from SCHEDOP_poll and ticket_wait_clear (once the port is
 *     pending, only this vCPU clears it);
 *   - ghost updates (waiting[], ncs, resetting locals) ride on a real step;
 *   - ticket_wait_find skips the unlocker's own slot, which is always empty.
 * The memory is sequentially consistent: sound for this code on x86-64 because
 * each side of the race stores, then does a locked instruction (a full
 * barrier), then loads (waiter: publish slot, locked OR of SF, load head;
 * unlocker: locked add to head, load tail, load slots). With -DSWITCH the
 * native unlock (the addw of ticket_release's native site) is a plain store
 * and loads nothing: no order to lose; the hand-over makes sure nobody can
 * block while an unlock is native (X7 after the drain, X8 before X6).
 *
 * The backends' wake state is per vCPU:
 *   Xen: pending[i], the pending bit of vCPU i's (masked) IPI port. EVTCHNOP_send
 *        sets it; SCHEDOP_poll returns when it is set, at once if it already
 *        is, and does not clear it; only the waiter clears it (port_clear).
 *   KVM: unhalt[i], vCPU i's pv_unhalted. KVM_HC_KICK_CPU sets it; HLT returns
 *        at once if it is set; leaving HLT, for whatever reason, clears it.
 * Both may also return without a kick (Xen: the BSP's 100 ms poll timeout;
 * KVM: an interrupt, a SIPI ends HLT), which lock_spinning's contract allows
 * on every vCPU (spinlock.h: "MAY return at any time"), so the model lets every
 * block end spuriously. Whether a given block ends only by a kick or may end
 * spuriously is chosen when the vCPU blocks, not offered as an always-enabled
 * way out: otherwise weak fairness would force a spurious wake-up out of every
 * lost wake-up and hide it.
 * Early slow-path entry, W6 (vcpu_is_preempted says the vCPU whose queue
 * record names the served ticket is not running): a waiter may call lock_spinning at once,
 * before any check of the head, and after any failed check; the spin
 * threshold is not modelled (any number of spins), and neither is the answer
 * of vcpu_is_preempted, a hint that may be stale: every choice is explored.
 * The preempted-next kick, U5 (KVM only: unlock_kick found nobody blocked for
 * next, and next's vCPU is preempted, so KVM_HC_KICK_CPU is sent to it anyway
 * for the directed yield): modelled as a kick to any other vCPU or to none,
 * more than the C can do (it kicks only the vCPU whose queue record holds
 * next), so the queue records need no state here. Xen only counts that case.
 * Not modelled: ticket_trylock (not on the slow path), the per-vCPU stats and
 * ticket_waits[].kicked (only counted, never decide anything), the
 * ticket_inject_drop_kick fault injection (test only), more than one lock.
 *
 * The ticket width. The C counts tickets in steps of TICKET_INC = 2 in 16-bit
 * halves. The model keeps INC = 2 and SF = bit 0 of the tail but wraps both
 * halves at TMOD = 8: tickets 0, 2, 4, 6. Sound because at most NCPU = 3
 * tickets are outstanding (each vCPU holds at most one), so tail - head
 * (mod 8) is in {0, 2, 4, 6}: 0 only when unlocked, and the NCPU outstanding
 * tickets are distinct mod 8. The C argument is the same with 2^15 tickets
 * (spinlock_types.h). Every fourth ticket taken wraps the tail: the shortest
 * path to it is 13 steps (pan -DBFS), where the searches go to depths of
 * 10^5 and more. The statement marked WRAP below runs only on a wrapping
 * take, and tests/verify.sh checks that pan reports every statement reached.
 *
 * Properties:
 *   Mutual exclusion: the assert at the critical section's entry:
 *     never two vCPUs between "cs" and the head store of their unlock.
 *   No deadlock: no invalid end state: a vCPU may stop only at its idle point,
 *     so every state with no step enabled and a vCPU elsewhere is an error.
 *   No lost wake-up (liveness), ltl no_lost_wakeup, under weak fairness
 *   (pan -a -f): for every vCPU i,
 *     G (waiting[i] -> F !waiting[i])
 *   where waiting[i] holds from the ticket take that did not get the lock at
 *   once until the vCPU enters the critical section. A waiter blocked forever,
 *   or spinning forever behind one, is an acceptance cycle.
 */

#define NCPU 3
#define INC  2 /* TICKET_INC */
#define SF   1 /* TICKET_SLOWPATH_FLAG: bit 0 of the tail */
#define TMOD 8 /* tickets wrap at 8, not 2^16: see above */

#if NCPU != 3
#error "ticket.pml: U5 and the ltl formula list the vCPUs one by one: update them with NCPU"
#endif
#if defined(BACKEND_XEN) == defined(BACKEND_KVM)
#error "ticket.pml: define exactly one of BACKEND_XEN, BACKEND_KVM"
#endif
#if defined(M3) && !defined(BACKEND_XEN) || defined(M4) && !defined(BACKEND_KVM)
#error "ticket.pml: M3 is a Xen mutant, M4 a KVM one"
#endif

byte head;            /* lock->t.head: the ticket now served, even */
byte tail;            /* lock->t.tail: the next ticket | SF */
bit slot_lock[NCPU];  /* ticket_waits[i].lock == lock */
byte slot_want[NCPU]; /* ticket_waits[i].want, 0 while slot_lock[i] is 0 (see above) */
#ifdef BACKEND_XEN
bit pending[NCPU];    /* the pending bit of vCPU i's IPI port */
#else
bit unhalt[NCPU];     /* vCPU i's pv_unhalted */
#endif
byte ncs;             /* ghost: vCPUs in the critical section */
#ifdef SWITCH
bit ls_pv = 1;        /* the lock_spinning site calls the backend (0: a native NOP) */
bit uk_pv = 1;        /* the unlock_kick site calls the backend (0: a native NOP) */
bit rel_pv = 1;       /* the ticket_release site calls ticket_release_pv (0: the native addw) */
bit no_block;         /* ticket_no_block */
bit in_hook[NCPU];    /* ticket_waits[i].in_hook: inside the lock_spinning call */
#define IN_HOOK_OFF ; in_hook[_pid] = 0
#else
#define IN_HOOK_OFF
#endif
bit waiting[NCPU];    /* ghost: holds a ticket, has not got the lock yet */

/* Got the lock: the mutual exclusion check. */
#define CS_ENTER waiting[_pid] = 0; ncs++; assert(ncs == 1)

active [NCPU] proctype vcpu()
{
	byte want; /* my ticket, while I want the lock */
	byte next; /* unlock: the new head */
	byte i;    /* unlock_kick: the wait slot looked at */
#ifdef M5
	bit early; /* M5: this slow-path entry is an early one */
#endif

end_idle:
	if
	:: atomic {
		/* T1 ticket_lock: fetch_add of the tail, want = old tail & ~SF */
		want = tail & ~SF;
		tail = (tail + INC) % TMOD;
		if
		:: want == TMOD - INC -> skip /* WRAP: this take wraps the tail to 0 */
		:: else
		fi;
		if
		:: head == want -> /* T2 the old head is mine: got it */
			CS_ENTER;
			want = 0;
			goto unlock
		:: else ->         /* T3 -> ticket_lock_wait */
			waiting[_pid] = 1;
			if
			:: goto wait   /* spin first */
			:: goto slow   /* or enter the slow path at once (W6 early entry) */
#ifdef M5
			:: early = 1; goto slow
#endif
			fi
		fi
	   }
	:: goto done               /* or stop taking the lock, for good */
	fi;

wait:	/* W1 the spin loop; a failed check changes nothing and is not a step */
	if
	:: atomic {
		/* W1 ticket_served(): yes; then W3 load the tail, SF? */
		head == want -> CS_ENTER;
		if
		:: (tail & SF) != 0 -> goto clear
		:: else -> want = 0; goto unlock
		fi
	   }
	:: head != want -> goto slow /* W1, W2: not served; threshold spent, or W6 early entry */
#ifdef M5
	:: head != want -> early = 1; goto slow
#endif
	fi;
clear:	/* W4 -> W5 ticket_clear_slowpath: cmpxchg {want, want+INC|SF} -> {want, want+INC} */
	atomic {
		if
		:: head == want && tail == (((want + INC) % TMOD) | SF) -> tail = (want + INC) % TMOD
		:: else
		fi;
		want = 0
	}
	goto unlock;

slow:	/* W2 the lock_spinning site: the backend's lock_spinning */
#ifdef SWITCH
	/* the site is a call (in_hook set just before it) or, switched to native, a NOP */
	if
	:: atomic { ls_pv -> in_hook[_pid] = 1 }
	:: atomic { !ls_pv -> skip }; goto wait
	fi;
#endif
	/* S1 ticket_wait_publish: w->want, then w->lock (step 1) */
	atomic { slot_want[_pid] = want; slot_lock[_pid] = 1 }
#if defined(BACKEND_XEN) && !defined(M3)
	/* S2 port_clear, step 2: an old kick must not end this poll */
	pending[_pid] = 0;
#endif
#ifndef M1
	/* S3 ticket_set_slowpath, locked OR (in ticket_announce_and_check) */
	tail = tail | SF;
#ifdef M5
	if
	:: early -> early = 0; goto block /* M5: no last check after an early entry */
	:: else
	fi;
#endif
	/* S4 ticket_served(), the last check (in ticket_announce_and_check); X4 no_block, the same step */
	if
	:: head == want -> goto unslot
#ifdef SWITCH
	:: head != want && no_block -> goto unslot /* X4: a switch to native is under way: no block */
	:: head != want && !no_block -> goto block
	:: head != want && !no_block -> goto spurious
#else
	:: head != want -> goto block    /* this block ends only by a kick */
	:: head != want -> goto spurious /* this block may also end without one */
#endif
	fi;
#else
	/* M1: the last check first ... */
	if
	:: head == want -> goto unslot
	:: else
	fi;
	/* M1: ... then SF (the bad order of ticket.c's race comment; inject=late-flag runs it, plus a clear of a stale SF and a wait until served that force the losing interleaving in the C: not modelled, pan tries every interleaving) */
	if
	:: tail = tail | SF; goto block
	:: tail = tail | SF; goto spurious
	fi;
#endif
block:	/* S5 x86_hlt (KVM) / SCHEDOP_poll (Xen), until kicked */
#ifdef M3
	pending[_pid] = 0; /* M3: port_clear after the last check ("2 after 3") */
#endif
#ifdef M4
	unhalt[_pid] = 0;  /* M4: a HLT that forgets an earlier kick */
#endif
#ifdef BACKEND_XEN
	/* the poll returns once the port is pending, at once if it already is; the bit stays set */
	atomic { pending[_pid] -> slot_lock[_pid] = 0; slot_want[_pid] = 0 IN_HOOK_OFF } /* BLOCKED; + S6 */
	goto wait;
#else
	/* HLT returns once pv_unhalted is set, at once if it already is, and clears it */
	atomic { unhalt[_pid] -> unhalt[_pid] = 0 } /* BLOCKED */
	goto unslot;
#endif
spurious: /* S5' the block ends without a kick: Xen poll timeout (no step), KVM an interrupt */
#ifdef BACKEND_KVM
	unhalt[_pid] = 0; /* leaving HLT clears pv_unhalted */
#endif
unslot:	/* S6 ticket_wait_clear, then spin again (W1); in_hook cleared as the call returns */
	atomic { slot_lock[_pid] = 0; slot_want[_pid] = 0 IN_HOOK_OFF }
	goto wait;

unlock:	/* in the critical section; now ticket_unlock, the ticket_release site */
#ifdef SWITCH
	if
	:: rel_pv -> skip /* the call of ticket_release_pv: U1.. below */
	:: atomic { !rel_pv -> ncs--; head = (head + INC) % TMOD; next = 0 }; goto end_idle /* native: addw, no SF test */
	fi;
#endif
#ifndef M2
	/* U1 ticket_unlock: locked add to the head, next = the new head */
	atomic { ncs--; head = (head + INC) % TMOD; next = head }
	/* U2 load the tail: SF? */
	if
	:: (tail & SF) != 0 -> skip
	:: atomic { (tail & SF) == 0 -> next = 0 }; goto end_idle
	fi;
#else
	/* M2: decide and kick for head + INC before the head moves */
	atomic { ncs--; next = (head + INC) % TMOD }
	if
	:: (tail & SF) != 0 -> skip
	:: (tail & SF) == 0 -> goto unlocked
	fi;
#endif
	/* U3 -> unlock_kick -> ticket_wait_find */
#ifdef SWITCH
	if
	:: uk_pv -> skip
	:: atomic { !uk_pv -> next = 0 }; goto end_idle /* the unlock_kick site is a native NOP */
	fi;
#endif
find:
	if
	:: i == _pid -> i++ /* my own slot: empty, I am not in lock_spinning */
	:: else
	fi;
	if
	:: i == NCPU -> i = 0; goto nobody
	:: else
	fi;
	if
	:: slot_lock[i] && slot_want[i] == next -> goto kick /* U3 found */
	:: else -> i++; goto find
	fi;
kick:
#ifdef BACKEND_XEN
	/* U4 EVTCHNOP_send: set the pending bit of vCPU i's port */
	atomic { pending[i] = 1; i = 0 }
#else
	/* U4 KVM_HC_KICK_CPU: set vCPU i's pv_unhalted */
	atomic { unhalt[i] = 1; i = 0 }
#endif
nobody:	/* nobody waits for next: no kick */
#ifdef BACKEND_KVM
	/* U5 ticket_preempted_next: kick next's preempted vCPU anyway (any other vCPU, or none) */
	if
	:: skip
	:: 0 != _pid -> unhalt[0] = 1
	:: 1 != _pid -> unhalt[1] = 1
	:: 2 != _pid -> unhalt[2] = 1
	fi;
#endif
#ifndef M2
	next = 0;
	goto end_idle;
#else
unlocked:
	/* M2: only now the head moves */
	atomic { head = next; next = 0 }
	goto end_idle;
#endif
done:
	skip
}

#ifdef SWITCH
/*
 * The live switch of locks/pvlock.c (pv_switch), SWITCHES times native and back,
 * while the vCPUs run. Rewriting the sites of one kind is one step here: the
 * breakpoint protocol makes each site change at one instant for every CPU (a
 * CPU sees the old instruction or the new, or the int3 that does what the new
 * does).
 */
#define SWITCHES 1
active proctype switcher()
{
	byte n, j;

	do
	:: n == SWITCHES -> break
	:: n < SWITCHES ->
		/* to native */
#ifndef M6
		no_block = 1;  /* X1 ticket_no_block = true, a full barrier */
#endif
		ls_pv = 0;     /* 1: the lock_spinning sites native */
#ifndef M6
		/* X2 the drain: every vCPU inside the hook is kicked until it has left */
		j = 0;
		do
		:: j == NCPU -> break
		:: j < NCPU && !in_hook[j] -> j++
#ifdef BACKEND_XEN
		:: j < NCPU && in_hook[j] && slot_lock[j] -> pending[j] = 1
#else
		:: j < NCPU && in_hook[j] && slot_lock[j] -> unhalt[j] = 1
#endif
		od;
		j = 0;
#endif
		rel_pv = 0;    /* X7 the ticket_release sites native: the addw */
		uk_pv = 0;     /* X3 the unlock_kick sites native */
		/* back to PV */
#if !defined(M7) && !defined(M8)
		uk_pv = 1;     /* X5 unlock_kick first */
		rel_pv = 1;    /* X8 then the unlock that calls it */
		no_block = 0;  /* X6 */
		ls_pv = 1
#elif defined(M7)
		ls_pv = 1;     /* M7: lock_spinning first: a waiter may block before unlocks kick */
		no_block = 0;
		uk_pv = 1;
		rel_pv = 1
#else
		uk_pv = 1;     /* M8: the unlock last: a waiter may block while unlocks test no SF */
		no_block = 0;
		ls_pv = 1;
		rel_pv = 1
#endif
		;
		n++
	od
}
#endif

ltl no_lost_wakeup {
	[] ((waiting[0] -> <> !waiting[0]) && (waiting[1] -> <> !waiting[1]) && (waiting[2] -> <> !waiting[2]))
}
