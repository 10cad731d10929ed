// SPDX-License-Identifier: MIT
/* live.c: rewrite a patch site while every CPU runs: the breakpoint protocol, and its #BP handler. */
#include "patch.h"
#include "../arch/arch.h"

/*
 * A site is one 5-byte instruction, and so is whatever replaces it, so a CPU
 * is never inside one (an interrupt lands before or after it). What another
 * CPU may not do is fetch a mix of old and new bytes. The protocol, one site
 * at a time (live_lock):
 *   1. publish the site and its new bytes (inflight), then write int3 (cc) over
 *      the first byte; sync: every CPU has serialised, so each now fetches
 *      either the old instruction or the int3, never a torn one;
 *   2. write bytes 1..4; sync: nobody can run them yet (byte 0 is still cc);
 *   3. write the new first byte; sync: everyone fetches the new instruction.
 * A CPU that runs the site between 1 and 3 traps on the int3; the #BP handler
 * finds the site in inflight and does what the new instruction does
 * (patch_emulate), then returns after it. inflight is cleared only after the
 * last sync, when no CPU can be at the int3 (a CPU in the #BP handler has
 * interrupts off, so it answers the sync only once the handler returned).
 * "sync" is smp_sync_cores(): an IPI to every other CPU and its answer.
 */
static struct {
	u64 site; /* 0: none */
	u8 bytes[PATCH_SITE_LEN];
} inflight;
static u32 live_lock;
static u32 live_writes; /* sites rewritten live so far */
u64 patch_live_bp_hits, patch_live_stale_hits;

static bool live_bp(struct trap_frame *f)
{
	u64 site = __atomic_load_n(&inflight.site, __ATOMIC_ACQUIRE);
	if (site && f->rip == site + 1) {
		if (!patch_emulate(inflight.bytes, site, &f->rip, &f->rsp, &f->rax))
			return false;
		__atomic_fetch_add(&patch_live_bp_hits, 1, __ATOMIC_RELAXED);
		return true;
	}
	/*
	 * An int3 no longer in memory: this CPU ran a stale copy of a site that
	 * was since rewritten (nothing else writes 0xcc into text). Run the
	 * address again: the IRET serialises, the fetch sees memory as it is.
	 */
	u8 *at = (u8 *)(uintptr_t)(f->rip - 1);
	if (__atomic_load_n(&live_writes, __ATOMIC_RELAXED) && *at != 0xcc) {
		f->rip--;
		__atomic_fetch_add(&patch_live_stale_hits, 1, __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

bool patch_live_write(u8 *site, const u8 new[PATCH_SITE_LEN])
{
	static const u8 int3 = 0xcc;
	u8 cur[PATCH_SITE_LEN];
	bool differs = false;

	trap_bp_fn = live_bp;
	/* The holder syncs every CPU, this one too: answer while waiting, interrupts on or off. */
	while (__atomic_exchange_n(&live_lock, 1, __ATOMIC_ACQUIRE)) {
		smp_sync_poll();
		x86_pause();
	}
	for (unsigned i = 0; i < PATCH_SITE_LEN; i++) {
		cur[i] = site[i];
		differs |= cur[i] != new[i];
	}
	if (differs) {
		for (unsigned i = 0; i < PATCH_SITE_LEN; i++)
			inflight.bytes[i] = new[i];
		__atomic_store_n(&inflight.site, (u64)(uintptr_t)site, __ATOMIC_RELEASE);
		__atomic_store_n(&live_writes, live_writes + 1, __ATOMIC_RELEASE);
		paging_write_text(site, &int3, 1);                          /* 1 */
		smp_sync_cores();
		paging_write_text(site + 1, new + 1, PATCH_SITE_LEN - 1);   /* 2 */
		smp_sync_cores();
		paging_write_text(site, new, 1);                            /* 3 */
		smp_sync_cores();
		__atomic_store_n(&inflight.site, 0, __ATOMIC_RELEASE);
		live_writes++;
	}
	__atomic_store_n(&live_lock, 0, __ATOMIC_RELEASE);
	return differs;
}
