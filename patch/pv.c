// SPDX-License-Identifier: MIT
/* pv.c: at boot, pick the lock backend from CPUID, patch the hook sites once, and check them. */
#include "pv.h"
#include "../locks/spinlock.h"

extern const struct pv_backend *const __start_pv_backends[] __attribute__((weak));
extern const struct pv_backend *const __stop_pv_backends[] __attribute__((weak));

/* Native hooks, for pv_ops[] when sites stay indirect (patch=off). They do nothing. */
static void native_lock_spinning(struct ticketlock *lock, u16 want) { (void)lock, (void)want; }
static void native_unlock_kick(struct ticketlock *lock, u16 next) { (void)lock, (void)next; }
static bool native_vcpu_is_preempted(unsigned cpu) { (void)cpu; return false; }

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
}

/* How the two lock hooks' sites were patched (vcpu_is_preempted is said apart: preempt=). */
static const char *how_name(const struct patch_plan plans[PATCH_NR_KINDS])
{
	static const char *const names[] = { "nop", "call", "inline", "off" };
	enum patch_how h = plans[PATCH_LOCK_SPINNING].how;
	return plans[PATCH_UNLOCK_KICK].how == h ? names[h] : "mixed";
}

/* ---- patch=lazy: the resolvers pv_ops[] points at, and what they call ---- */
unsigned pv_lazy_resolved, pv_lazy_calls;
static struct patch_plan lazy_plans[PATCH_NR_KINDS];

/*
 * Entered from a stub with the site's return address (site + 5) on the stack
 * and the hook's arguments in registers: save every register a call may
 * clobber, patch the site, restore, and return to the site itself, which now
 * runs the patched instruction with the arguments untouched.
 */
void pv_lazy_entry0(void), pv_lazy_entry1(void), pv_lazy_entry2(void);
void pv_lazy_resolve(unsigned long kind, u8 *site);
__asm__(".text\n"
	".globl pv_lazy_entry0, pv_lazy_entry1, pv_lazy_entry2\n"
	"pv_lazy_entry0: pushq $0; jmp 1f\n"
	"pv_lazy_entry1: pushq $1; jmp 1f\n"
	"pv_lazy_entry2: pushq $2\n"
	"1:	pushq %rax; pushq %rcx; pushq %rdx; pushq %rsi; pushq %rdi\n"
	"	pushq %r8; pushq %r9; pushq %r10; pushq %r11\n"
	"	subq $8, %rsp\n"                 /* 16-byte alignment for the call */
	"	movq 80(%rsp), %rdi\n"           /* kind */
	"	movq 88(%rsp), %rsi\n"           /* return address = site + 5 */
	"	subq $5, %rsi\n"
	"	call pv_lazy_resolve\n"
	"	addq $8, %rsp\n"
	"	popq %r11; popq %r10; popq %r9; popq %r8\n"
	"	popq %rdi; popq %rsi; popq %rdx; popq %rcx; popq %rax\n"
	"	addq $8, %rsp\n"                 /* kind */
	"	subq $5, (%rsp)\n"               /* back to the site: run it again */
	"	ret\n");
_Static_assert(PATCH_NR_KINDS == 3, "one lazy entry per kind");

/*
 * The site's bytes are read only by patch_live_write(), under the lock that
 * serialises every live write: read outside it, they could be a write in
 * progress (cc, then the old or new bytes 1..4), which is neither the call
 * that brought us here nor what we want. The race that caused, as numbered
 * steps (vCPUs A and B, one lazy site S):
 *   1. B runs S (the call of the stub) and enters the resolver;
 *   2. A, which ran S just before, is inside patch_live_write(S) and writes
 *      int3 over S's first byte (step 1 of the protocol);
 *   3. B reads S: cc ..., neither the call nor the wanted bytes: "not a patch
 *      site", a panic.
 * Here B waits for the lock and finds the wanted bytes (HELD), or, after a
 * live switch rewrote S meanwhile (stress.switch= with patch=lazy), other
 * bytes that are the switch's to decide (OTHER): either way it writes nothing
 * and returns to S, which runs whatever S holds now. Only a caller whose site
 * holds neither the call of this stub nor anything a writer put there could
 * not be a site: OTHER at an address no live write ever touched is a panic.
 */
void pv_lazy_resolve(unsigned long kind, u8 *site)
{
	u8 orig[PATCH_SITE_LEN], want[PATCH_SITE_LEN];
	bool fell_back;

	__atomic_fetch_add(&pv_lazy_calls, 1, __ATOMIC_RELAXED);
	if (kind >= PATCH_NR_KINDS || !patch_build(site, PATCH_SITE_LEN, &lazy_plans[kind], want, &fell_back))
		panic("patch: lazy: no bytes for a %s site at %p", patch_kind_name((enum patch_kind)kind), site);
	patch_live_slow(); /* inject=slow-patch: widen the window between step 1 and the look at S */
	patch_original_bytes(site, (enum patch_kind)kind, orig);
	enum patch_live_result r = patch_live_write(site, orig, want);
	if (r == PATCH_LIVE_WROTE)
		__atomic_fetch_add(&pv_lazy_resolved, 1, __ATOMIC_RELAXED);
	else if (r == PATCH_LIVE_OTHER && !patch_live_written(site))
		panic("patch: lazy: %s was reached from %p, which is not a call of it: not a patch site",
		      patch_kind_name((enum patch_kind)kind), site);
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
		static void (*const entries[PATCH_NR_KINDS])(void) = { pv_lazy_entry0, pv_lazy_entry1, pv_lazy_entry2 };
		for (unsigned k = 0; k < PATCH_NR_KINDS; k++) {
			lazy_plans[k] = c->plans[k];
			pv_ops[k] = (void *)entries[k];
		}
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

unsigned pv_verify_sites(const struct pv_choice *c, const char *when, unsigned *unpatched)
{
	unsigned bad = 0, i = 0;
	*unpatched = 0;
	const struct patch_site *first = patch_table.sites;
	const struct patch_site *last = first + (patch_table.magic == PATCH_TABLE_MAGIC && patch_table.count <= PATCH_TABLE_MAX ?
								  patch_table.count : 0);
	for (const struct patch_site *s = first; s < last; s++, i++) {
		const u8 *at = patch_site_addr(s);
		u8 want[PATCH_SITE_LEN];
		bool fell_back;
		if (s->kind >= PATCH_NR_KINDS || s->len != PATCH_SITE_LEN) {
			kprintf("# patch: site %u at %p has a bad record (kind %u len %u)\n", i, at,
				s->kind, s->len);
			bad++;
			continue;
		}
		u8 orig[PATCH_SITE_LEN];
		patch_original_bytes(at, s->kind, orig);
		if (!patch_build(at, s->len, &c->plans[s->kind], want, &fell_back))
			patch_original_bytes(at, s->kind, want);
		char hex[3 * PATCH_SITE_LEN + 1];
		int match = 1, is_orig = 1;
		for (unsigned j = 0; j < PATCH_SITE_LEN; j++) {
			ksnprintf(hex + 3 * j, 4, "%02x ", at[j]);
			match &= at[j] == want[j];
			is_orig &= at[j] == orig[j];
		}
		hex[3 * PATCH_SITE_LEN - 1] = 0;
		/* patch=lazy: a site no CPU has run yet still calls its stub, and that is right. */
		bool unrun = !match && is_orig && c->patching == PATCH_MODE_LAZY;
		*unpatched += unrun;
		match |= unrun;
		kprintf("# patch: %s: site %u %s at %p: %s%s\n", when, i, patch_kind_name(s->kind), at, hex,
			unrun ? "  (lazy: not run yet)" : match ? "" : "  MISMATCH");
		bad += !match;
	}
	return bad;
}

bool pv_up_locks(unsigned cpus, bool up_off)
{
	unsigned records = (unsigned)(__stop_smp_locks - __start_smp_locks), refused = 0, n = 0, ds = 0;

	if (up_off || cpus != 1) {
		kprintf("# patch: up: %u LOCK prefixes kept (%s)\n", records,
			up_off ? "up=off" : "more than one vCPU");
		return true;
	}
	n = patch_up_locks(__start_smp_locks, __stop_smp_locks, paging_write_text, &refused);
	for (const int32_t *r = __start_smp_locks; r < __stop_smp_locks; r++)
		ds += *(const u8 *)((intptr_t)r + *r) == PATCH_DS_PREFIX;
	kprintf("# patch: up: one vCPU: %u of %u LOCK prefixes made DS prefixes (0x3e), %u refused, "
		"%u read back as 0x3e\n", n, records, refused, ds);
	return records && !refused && ds == records;
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

/* Rewrite every site of `kind` to `plan`, live. Returns the sites whose bytes changed. */
static unsigned switch_kind(enum patch_kind kind, const struct patch_plan *plan)
{
	const struct patch_site *first = patch_table.sites, *last = first + patch_table.count;
	unsigned n = 0;

	pv_ops[kind] = plan->target;
	for (const struct patch_site *s = first; s < last; s++) {
		u8 want[PATCH_SITE_LEN], *at = patch_site_addr(s);
		bool fell_back;
		if (s->kind != kind)
			continue;
		if (!patch_build(at, PATCH_SITE_LEN, plan, want, &fell_back))
			patch_original_bytes(at, kind, want); /* KEEP: the call of the stub */
		n += patch_live_write(at, 0, want) == PATCH_LIVE_WROTE; /* it writes only what differs */
	}
	return n;
}

void pv_switch(const struct pv_choice *c, bool on, struct pv_switch_stats *st)
{
	struct patch_plan plans[PATCH_NR_KINDS];
	u64 t0 = x86_rdtsc();
	unsigned self = this_cpu()->index;

	*st = (struct pv_switch_stats){ 0 };
	if (on) {
		for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
			plans[k] = c->plans[k];
		st->sites += switch_kind(PATCH_UNLOCK_KICK, &plans[PATCH_UNLOCK_KICK]); /* pml:X5 */
		__atomic_store_n(&ticket_no_block, false, __ATOMIC_SEQ_CST);          /* pml:X6 */
		st->sites += switch_kind(PATCH_VCPU_IS_PREEMPTED, &plans[PATCH_VCPU_IS_PREEMPTED]);
		st->sites += switch_kind(PATCH_LOCK_SPINNING, &plans[PATCH_LOCK_SPINNING]);
	} else {
		off_plans(c, plans);
		/* 0: no vCPU blocks from now on (see ticket.c), or the drain below sees it inside. */
		__atomic_store_n(&ticket_no_block, true, __ATOMIC_SEQ_CST); /* pml:X1 */
		st->sites += switch_kind(PATCH_LOCK_SPINNING, &plans[PATCH_LOCK_SPINNING]); /* 1 */
		st->sites += switch_kind(PATCH_VCPU_IS_PREEMPTED, &plans[PATCH_VCPU_IS_PREEMPTED]);
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
		st->sites += switch_kind(PATCH_UNLOCK_KICK, &plans[PATCH_UNLOCK_KICK]); /* 3 pml:X3 */
	}
	st->cycles = x86_rdtsc() - t0;
}
