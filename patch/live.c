// SPDX-License-Identifier: MIT
/* live.c: rewrite a patch site while every CPU runs: the breakpoint protocol, and its #BP handler. */
#include "patch.h"
#include "../arch/arch.h"

/*
 * A site is one 5-byte instruction, and so is whatever replaces it, so a CPU
 * is never inside one (an interrupt lands before or after it). What another
 * CPU may not do is fetch a mix of old and new bytes. The protocol, one site
 * at a time (live_lock), after comparing the site with what the caller
 * expects under that same lock:
 *   1. publish the site and its new bytes (inflight), then write int3 (cc) over
 *      the first byte; sync;
 *   2. write bytes 1..4; sync: nobody can run them yet (byte 0 is still cc);
 *   3. write the new first byte; sync;
 *   4. write all 5 bytes again, unchanged; sync (for QEMU's TCG, below);
 *   then clear inflight.
 * A CPU that runs the site between 1 and 4 traps on the int3; the #BP handler
 * finds the site in inflight and does what the new instruction does
 * (patch_emulate), then returns after it. "sync" is smp_sync_cores(): an IPI
 * to every other CPU and its answer; a CPU in the #BP handler has interrupts
 * off, so it answers only once the handler has returned.
 *
 * What the guest can rely on. On hardware, a sync's IRET serialises each CPU,
 * so after step 3's sync nobody fetches the int3 or the old bytes again (Intel
 * SDM vol. 3A 8.1.3, cross-modifying code). QEMU's TCG (7.2, MTTCG) keeps
 * translated blocks instead of an instruction queue, and an IRET, an IPI, a
 * TLB flush or CPUID makes no block be translated again: only a store to the
 * block's own bytes throws it away. And that store can miss: a vCPU thread
 * reads the guest's bytes, translates them without a lock, and links the
 * block into its page's list only afterwards (accel/tcg/translate-all.c,
 * tb_gen_code -> tb_link_page), so a block translated from step 1's int3 (or
 * from the old bytes) that is linked just after step 3's store invalidated
 * the page's blocks survives it, and that vCPU runs the int3 (or the old
 * instruction) again and again, after every sync, until the next store to
 * those bytes: the next switch, 20 ms later. Step 4 is that next store, made
 * at once: any block that raced with steps 1-3 was linked before its vCPU
 * answered step 3's sync (a vCPU takes an interrupt only between blocks), so
 * step 4's store finds it and throws it away, and a block that races with
 * step 4 reads the final bytes. On hardware step 4 stores, over a running
 * instruction, the very bytes it already holds: outside the SDM's protocol,
 * which never rewrites an instruction without an int3 in front, but a fetch
 * of old or new bytes is then the same instruction (an assumption, stated).
 *
 * The stray #BP (issue 14: "not ok 1 unexpected_exception # vector 3", Xen
 * domU, during a switch). The handler used to claim an int3 that was not in
 * flight only if the byte in memory was no longer cc, and decline otherwise.
 * A vCPU with a stale block sat in a loop of #BP -> "not cc any more, run it
 * again" -> the same block -> #BP until the next store to that site (109343
 * such returns in the run below). Caught with the handler's reads logged, in
 * the 15th of 15 domU runs of that case in one dom0 boot:
 *   1. vCPU 1 runs its stale int3 at site 102d4e and enters the handler;
 *   2. it reads inflight: 102d81, the site the writer is busy with;
 *   3. the writer finishes 102d81, publishes 102d4e in inflight and writes
 *      its int3 (step 1; bytes 1..4 still the old call: cc 4d 34 00 00);
 *   4. vCPU 1 reads the byte at 102d4e: cc. Neither test holds: declined.
 * So the handler no longer reasons from the byte in memory: it claims every
 * int3 at an address this file has ever written, and
 *   - at the site in flight: emulates the new instruction;
 *   - at any other address it wrote: runs the address again (whatever the CPU
 *     fetches then is an instruction the protocol allows: the old one, the new
 *     one, or the int3 of a write in flight, which traps here again).
 */
/*
 * The site in flight and its new bytes, read by the #BP handler as one
 * snapshot under a sequence count (odd while the writer changes them): a
 * handler that read the site, then the bytes, could otherwise pair site A with
 * the next write's bytes for site B (that needs a CPU to run A's int3 after
 * answering A's last sync, which only a stale translation can do; the count
 * makes the pairing right whatever the CPU runs).
 */
static struct {
	u32 seq;
	u64 site; /* 0: none */
	u8 bytes[PATCH_SITE_LEN];
} inflight;

/* Writer side, under live_lock: publish (site, bytes); site 0 clears. */
static void inflight_set(u64 site, const u8 *bytes)
{
	__atomic_store_n(&inflight.seq, inflight.seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (unsigned i = 0; bytes && i < PATCH_SITE_LEN; i++)
		__atomic_store_n(&inflight.bytes[i], bytes[i], __ATOMIC_RELAXED);
	__atomic_store_n(&inflight.site, site, __ATOMIC_RELAXED);
	__atomic_store_n(&inflight.seq, inflight.seq + 1, __ATOMIC_RELEASE);
}

/* Handler side: a consistent (site, bytes). The writer's update has no sync in it: the wait is short. */
static u64 inflight_get(u8 bytes[PATCH_SITE_LEN])
{
	for (;;) {
		u32 s = __atomic_load_n(&inflight.seq, __ATOMIC_ACQUIRE);
		if (s & 1) {
			x86_pause();
			continue;
		}
		u64 site = __atomic_load_n(&inflight.site, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < PATCH_SITE_LEN; i++)
			bytes[i] = __atomic_load_n(&inflight.bytes[i], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&inflight.seq, __ATOMIC_RELAXED) == s)
			return site;
	}
}
static u32 live_lock;
/* Every address this file has written int3 at, published by count (release). */
static u64 live_sites[PATCH_TABLE_MAX];
static u32 live_nsites;
u64 patch_live_bp_hits, patch_live_stale_hits;
/* inject=slow-patch: a delay, in microseconds, inside each step (0: none). */
u64 patch_live_delay_us;

static bool live_known(u64 at)
{
	u32 n = __atomic_load_n(&live_nsites, __ATOMIC_ACQUIRE);
	for (u32 i = 0; i < n; i++)
		if (live_sites[i] == at)
			return true;
	return false;
}

bool patch_live_written(const u8 *site)
{
	return live_known((u64)(uintptr_t)site);
}

static bool live_bp(struct trap_frame *f)
{
	u64 at = f->rip - 1;
	u8 bytes[PATCH_SITE_LEN];
	u64 site = inflight_get(bytes);
	if (site && at == site) {
		struct patch_regs r = { f->rip, f->rsp, f->rax, f->rdi };
		if (!patch_emulate(bytes, site, &r))
			return false;
		f->rip = r.rip, f->rsp = r.rsp, f->rax = r.rax;
		__atomic_fetch_add(&patch_live_bp_hits, 1, __ATOMIC_RELAXED);
		return true;
	}
	if (!live_known(at))
		return false; /* an int3 this file never wrote: not ours */
	/* A site written live, not (or no longer) in flight: run it again. */
	f->rip = at;
	__atomic_fetch_add(&patch_live_stale_hits, 1, __ATOMIC_RELAXED);
	return true;
}

/* The address joins live_sites before its first int3. Called with live_lock held. */
static void live_remember(u64 at)
{
	if (live_known(at))
		return;
	u32 n = live_nsites;
	if (n == PATCH_TABLE_MAX)
		panic("patch: live: more than %u sites written live", PATCH_TABLE_MAX);
	live_sites[n] = at;
	__atomic_store_n(&live_nsites, n + 1, __ATOMIC_RELEASE);
}

void patch_live_slow(void)
{
	if (patch_live_delay_us)
		tsc_delay_us(patch_live_delay_us);
}

enum patch_live_result patch_live_write(u8 *site, const u8 *expect, const u8 new[PATCH_SITE_LEN])
{
	static const u8 int3 = 0xcc;
	u8 cur[PATCH_SITE_LEN];
	enum patch_live_result res = PATCH_LIVE_WROTE;

	trap_bp_fn = live_bp;
	/* The holder syncs every CPU, this one too: answer while waiting, interrupts on or off. */
	while (__atomic_exchange_n(&live_lock, 1, __ATOMIC_ACQUIRE)) {
		smp_sync_poll();
		x86_pause();
	}
	/* Compared under the lock: no other write is half done now. */
	for (unsigned i = 0; i < PATCH_SITE_LEN; i++)
		cur[i] = site[i];
	if (patch_same(cur, new, PATCH_SITE_LEN))
		res = PATCH_LIVE_HELD;
	else if (expect && !patch_same(cur, expect, PATCH_SITE_LEN))
		res = PATCH_LIVE_OTHER;
	else {
		if (live_known((u64)(uintptr_t)site))
			res = PATCH_LIVE_REWROTE;
		live_remember((u64)(uintptr_t)site);
		inflight_set((u64)(uintptr_t)site, new);
		paging_write_text(site, &int3, 1);                          /* 1 */
		patch_live_slow();
		smp_sync_cores();
		paging_write_text(site + 1, new + 1, PATCH_SITE_LEN - 1);   /* 2 */
		patch_live_slow();
		smp_sync_cores();
		paging_write_text(site, new, 1);                            /* 3 */
		smp_sync_cores();
		paging_write_text(site, new, PATCH_SITE_LEN);               /* 4 */
		smp_sync_cores();
		inflight_set(0, 0);
	}
	__atomic_store_n(&live_lock, 0, __ATOMIC_RELEASE);
	return res;
}
