// SPDX-License-Identifier: MIT
/* pvlock.c: which backend fills the lock's hooks (from CPUID), how its sites get their bytes, and the live hand-over. */
#include "pvlock.h"

extern const struct pv_backend *const __start_pv_backends[] __attribute__((weak));
extern const struct pv_backend *const __stop_pv_backends[] __attribute__((weak));

/* Native hooks, for pv_ops[] when sites stay indirect (patch=off). They do nothing. */
static void native_lock_spinning(struct ticketlock *lock, u16 want) { (void)lock, (void)want; }
static void native_unlock_kick(struct ticketlock *lock, u16 next) { (void)lock, (void)next; }
static bool native_vcpu_is_preempted(unsigned cpu) { (void)cpu; return false; }
/* The native unlock as a function, for patch=off and the native backend's switches: head += 2. */
static void native_ticket_release(struct ticketlock *lock) { ticket_release_native(lock); }
static const u8 native_release_bytes[] = TICKET_RELEASE_NATIVE;

bool pv_preempt_wanted;
const char *pv_preempt_source;

/* mov $0,%eax: the answer false, in the site itself, as one instruction of the site's 5 bytes. */
static const u8 native_preempted_bytes[] = { 0xb8, 0x00, 0x00, 0x00, 0x00 };

struct patch_plan pv_native_preempt_plan(void)
{
	return (struct patch_plan){ PATCH_HOW_INLINE, (void *)native_vcpu_is_preempted, native_preempted_bytes,
				    sizeof(native_preempted_bytes) };
}

/* The first hypervisor signature, for the log when no backend claims it. */
static void hypervisor_name(char out[13])
{
	struct cpuid_regs r = x86_cpuid(0x40000000, 0);
	__builtin_memcpy(out, &r.ebx, 4);
	__builtin_memcpy(out + 4, &r.ecx, 4);
	__builtin_memcpy(out + 8, &r.edx, 4);
	out[12] = 0;
	for (int i = 0; i < 12; i++)
		if (out[i] && (out[i] < 0x20 || out[i] > 0x7e))
			out[i] = '?';
}

static void native_plans(struct patch_plan plans[PATCH_NR_KINDS])
{
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ PATCH_HOW_NOP, (void *)native_lock_spinning, 0, 0 };
	plans[PATCH_UNLOCK_KICK] = (struct patch_plan){ PATCH_HOW_NOP, (void *)native_unlock_kick, 0, 0 };
	plans[PATCH_VCPU_IS_PREEMPTED] = pv_native_preempt_plan();
	plans[PATCH_RELEASE] = (struct patch_plan){ PATCH_HOW_INLINE, (void *)native_ticket_release,
						     native_release_bytes, sizeof(native_release_bytes) };
}

/* How the two lock hooks' sites were patched (vcpu_is_preempted is said apart: preempt=). */
static const char *how_name(const struct patch_plan plans[PATCH_NR_KINDS])
{
	static const char *const names[] = { "nop", "call", "inline", "off" };
	enum patch_how h = plans[PATCH_LOCK_SPINNING].how;
	return plans[PATCH_UNLOCK_KICK].how == h ? names[h] : "mixed";
}

void pv_choose_and_patch(enum pv_lock_mode mode, enum pv_preempt_mode preempt, enum pv_patch_mode patching,
			 struct pv_choice *c)
{
	static char reason[64], preempt_why[64];
	*c = (struct pv_choice){ .backend = "native", .native = true, .preempt = "native" };
	native_plans(c->plans);
	pv_preempt_wanted = preempt != PREEMPT_OFF;

	/*
	 * detect() true: use it. False with *why set: the hypervisor is this
	 * backend's but it declines (native, with that reason). False with no
	 * *why: not this backend's hypervisor, ask the next. The hypervisor's
	 * platform setup runs whatever the lock mode.
	 */
	const struct pv_backend *owner = 0, *chosen = 0;
	const char *why = 0;
	bool hypervisor = x86_cpuid(1, 0).ecx & CPUID1_ECX_HYPERVISOR;
	if (hypervisor) {
		for (const struct pv_backend *const *b = __start_pv_backends; b < __stop_pv_backends; b++) {
			why = 0;
			bool yes = (*b)->detect(&why);
			if (yes || why) {
				owner = *b;
				chosen = yes ? *b : 0;
				break;
			}
		}
	}
	if (owner && owner->platform)
		owner->platform();

	if (mode == PVLOCK_OFF) {
		c->reason = "pvlock=off";
	} else if (!hypervisor) {
		c->reason = "no-hypervisor";
	} else {
		if (!chosen && !why) {
			char name[13];
			hypervisor_name(name);
			ksnprintf(reason, sizeof(reason), "unknown-hypervisor(%s)", name);
			why = reason;
		}
		if (chosen) {
			struct patch_plan plans[PATCH_NR_KINDS];
			pv_preempt_source = 0;
			if (chosen->init(plans, &why)) {
				c->backend = chosen->name;
				c->native = false;
				c->owner = chosen;
				for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
					c->plans[k] = plans[k];
				/* The unlock is the lock's, not the backend's: the PV one tests SF and kicks. */
				c->plans[PATCH_RELEASE] = (struct patch_plan){ PATCH_HOW_CALL, (void *)ticket_release_pv, 0, 0 };
				if (!pv_preempt_wanted) {
					c->plans[PATCH_VCPU_IS_PREEMPTED] = pv_native_preempt_plan();
					c->preempt = "off(preempt=off)";
				}
				else if (pv_preempt_source && c->plans[PATCH_VCPU_IS_PREEMPTED].how == PATCH_HOW_INLINE) {
					ksnprintf(preempt_why, sizeof(preempt_why), "native(%s)", pv_preempt_source);
					c->preempt = preempt_why;
				} else
					c->preempt = pv_preempt_source ? pv_preempt_source : "?";
			} else {
				kprintf("# pv: backend %s failed to start: %s; falling back to native\n",
					chosen->name, why ? why : "?");
				ksnprintf(reason, sizeof(reason), "%s-init-failed", chosen->name);
				why = reason;
			}
		}
		c->reason = why ? why : "?";
	}

	c->patching = patching;
	if (patching == PATCH_MODE_OFF)
		for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
			c->plans[k].how = PATCH_HOW_KEEP;
	c->patched = patching == PATCH_MODE_LAZY ? "lazy" : how_name(c->plans);
	if (patching == PATCH_MODE_LAZY) {
		patch_lazy_start(c->plans);
		c->result = (struct patch_result){ 0 };
	} else if (patch_table.magic != PATCH_TABLE_MAGIC || patch_table.count > PATCH_TABLE_MAX)
		kprintf("# pv: the patch-site table is empty or bad (magic %x, count %u): this image was not "
			"finished by patch/sitegen; no site is patched\n", patch_table.magic, patch_table.count);
	else
		patch_apply(patch_table.sites, patch_table.sites + patch_table.count, c->plans, paging_write_text,
			    &c->result);
	kprintf("# pv: backend=%s reason=%s sites=%u patched=%s preempt=%s\n", c->backend, c->reason,
		c->result.sites, c->patched, c->preempt);
	if (patching == PATCH_MODE_LAZY)
		kprintf("# patch: mode=lazy sites=0: the table is not read; each site is patched live by its "
			"first run (pv_ops[] points at the resolvers)\n");
	else
		kprintf("# patch: mode=%s sites=%u from the table patch/sitegen wrote\n",
			patching == PATCH_MODE_OFF ? "off" : "boot", c->result.sites);
	/* Per-CPU setup: the BSP now, each AP as it starts. */
	if (c->owner && c->owner->cpu_init) {
		c->owner->cpu_init(0);
		smp_ap_init = c->owner->cpu_init;
	}
	if (c->result.refused)
		kprintf("# pv: %u site(s) REFUSED: their bytes were not the expected indirect call\n",
			c->result.refused);
	if (c->result.inline_misfit)
		kprintf("# pv: %u inline replacement(s) not one instruction of their site's length: called instead\n",
			c->result.inline_misfit);
}

/* ---- live switching (pv_switch) ---- */

/*
 * The plans "off" stands for: the native ones; for the native backend, whose
 * chosen plans are those already, direct calls of the native hooks (nothing
 * blocks either way: what runs is the switching).
 */
static void off_plans(const struct pv_choice *c, struct patch_plan out[PATCH_NR_KINDS])
{
	native_plans(out);
	if (c->native)
		for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
			out[k].how = PATCH_HOW_CALL;
}

/* The plans of the state pv_switch and pv_set_quiet move to. */
static void target_plans(const struct pv_choice *c, bool on, bool preempt, struct patch_plan plans[PATCH_NR_KINDS])
{
	if (!on) {
		off_plans(c, plans);
		return;
	}
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		plans[k] = c->plans[k];
	if (!preempt)
		plans[PATCH_VCPU_IS_PREEMPTED] = pv_native_preempt_plan();
}

/* The bytes site `s` holds under `plan`: the plan's, or the call of the stub (KEEP). */
static void site_bytes(const struct patch_site *s, const struct patch_plan *plan, u8 want[PATCH_SITE_LEN])
{
	bool fell_back;

	if (!patch_build(patch_site_addr(s), PATCH_SITE_LEN, plan, want, &fell_back))
		patch_original_bytes(patch_site_addr(s), s->kind, want);
}

/*
 * Rewrite every site of `kind` to `plan`, live, after pointing what a call of
 * the kind's stub jumps to (pv_ops) at `stub`, or at the plan's target if
 * `stub` is NULL. Returns the sites whose bytes changed.
 */
static unsigned switch_kind(enum patch_kind kind, const struct patch_plan *plan, void *stub)
{
	const struct patch_site *first = patch_table.sites, *last = first + patch_table.count;
	unsigned n = 0;

	pv_ops[kind] = stub ? stub : plan->target;
	for (const struct patch_site *s = first; s < last; s++) {
		u8 want[PATCH_SITE_LEN];
		if (s->kind != kind)
			continue;
		site_bytes(s, plan, want);
		enum patch_live_result r = patch_live_write(patch_site_addr(s), 0, want);
		n += r == PATCH_LIVE_WROTE || r == PATCH_LIVE_REWROTE; /* it writes only what differs */
	}
	return n;
}

void pv_switch(const struct pv_choice *c, bool on, bool preempt, struct pv_switch_stats *st)
{
	struct patch_plan plans[PATCH_NR_KINDS];
	u64 t0 = x86_rdtsc();
	unsigned self = this_cpu()->index;

	*st = (struct pv_switch_stats){ 0 };
	target_plans(c, on, preempt, plans);
	if (on) {
		st->sites += switch_kind(PATCH_UNLOCK_KICK, &plans[PATCH_UNLOCK_KICK], 0); /* pml:X5 */
		st->sites += switch_kind(PATCH_RELEASE, &plans[PATCH_RELEASE], 0); /* the unlock that calls it pml:X8 */
		__atomic_store_n(&ticket_no_block, false, __ATOMIC_SEQ_CST);          /* pml:X6 */
		st->sites += switch_kind(PATCH_VCPU_IS_PREEMPTED, &plans[PATCH_VCPU_IS_PREEMPTED], 0);
		st->sites += switch_kind(PATCH_LOCK_SPINNING, &plans[PATCH_LOCK_SPINNING], 0);
	} else {
		/* 0: no vCPU blocks from now on (see ticket.c), or the drain below sees it inside. */
		__atomic_store_n(&ticket_no_block, true, __ATOMIC_SEQ_CST); /* pml:X1 */
		st->sites += switch_kind(PATCH_LOCK_SPINNING, &plans[PATCH_LOCK_SPINNING], 0); /* 1 */
		st->sites += switch_kind(PATCH_VCPU_IS_PREEMPTED, &plans[PATCH_VCPU_IS_PREEMPTED], 0);
		/* 2: after 0 and the syncs of 1, nobody blocks; drain those inside. pml:X2 */
		for (unsigned i = 0; i < cpus_online; i++) {
			if (i == self)
				continue;
			u64 last_kick = 0;
			while (__atomic_load_n(&ticket_waits[i].in_hook, __ATOMIC_ACQUIRE)) {
				/* Its slot is published before it blocks: kick once it is, every 1 ms. */
				if (__atomic_load_n(&ticket_waits[i].lock, __ATOMIC_ACQUIRE) && c->owner &&
				    c->owner->kick && x86_rdtsc() - last_kick > tsc_khz) {
					c->owner->kick(i);
					st->kicks++;
					last_kick = x86_rdtsc();
				}
				x86_pause();
			}
		}
		/*
		 * 3: no new unlock tests SF. pml:X7 The sites become native, but what a
		 * call of the release stub jumps to (pv_ops: a patch=lazy site no run
		 * has resolved yet) stays the chosen backend's: ticket_release_pv for a
		 * backend that blocks, right in both states (the native backend's release
		 * is native anyway: nothing blocks there). Were it the native release,
		 * three instructions, one unlock could span two switches and lose a
		 * wake-up:
		 *   1. U calls an unresolved release site during this switch, enters the
		 *      native release through the stub, loads head h, and its vCPU is
		 *      descheduled there;
		 *   2. every sync of this switch and of the next one back on is answered
		 *      by an interrupt at that same instruction boundary (a sync proves U
		 *      serialised, not that it left the function);
		 *   3. back on, W with ticket h+2 sets SF, sees h, and blocks;
		 *   4. U stores h+2 without looking at SF: nobody kicks W.
		 * (Found by a review; no run showed it: step 1 must recur at each sync.)
		 */
		st->sites += switch_kind(PATCH_RELEASE, &plans[PATCH_RELEASE], c->plans[PATCH_RELEASE].target);
		st->sites += switch_kind(PATCH_UNLOCK_KICK, &plans[PATCH_UNLOCK_KICK], 0); /* pml:X3 */
	}
	st->cycles = x86_rdtsc() - t0;
}

void pv_set_quiet(const struct pv_choice *c, bool on, bool preempt)
{
	struct patch_plan plans[PATCH_NR_KINDS];
	const struct patch_site *first = patch_table.sites, *last = first + patch_table.count;

	/* Lazy resolvers and live writes track the sites they write (patch/live.c): not these. */
	if (c->patching != PATCH_MODE_BOOT)
		panic("pv_set_quiet: the sites were not all patched at boot (patch=off or lazy)");
	target_plans(c, on, preempt, plans);
	/* pv_ops as pv_switch leaves them (off: the release stub still reaches the chosen release). */
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		pv_ops[k] = !on && k == PATCH_RELEASE ? c->plans[PATCH_RELEASE].target : plans[k].target;
	__atomic_store_n(&ticket_no_block, !on, __ATOMIC_SEQ_CST);
	for (const struct patch_site *s = first; s < last; s++) {
		u8 want[PATCH_SITE_LEN], *at = patch_site_addr(s);
		bool same = true;
		site_bytes(s, &plans[s->kind], want);
		for (unsigned i = 0; i < PATCH_SITE_LEN; i++)
			same &= at[i] == want[i];
		if (!same)
			paging_write_text(at, want, PATCH_SITE_LEN);
	}
	x86_serialize(); /* this CPU runs the new bytes next */
}

/* The lock's notion of "this vCPU" (locks/spinlock.h): the per-CPU index arch/ keeps. */
unsigned ticket_self(void)
{
	return this_cpu()->index;
}
