// SPDX-License-Identifier: MIT
/* lazy.c: patch=lazy: pv_ops[] points at one resolver per kind, which patches the site that called it, live. */
#include "patch.h"
#include "../arch/arch.h"

unsigned patch_lazy_resolved, patch_lazy_calls, patch_lazy_overwrites;
static struct patch_plan lazy_plans[PATCH_NR_KINDS];

/*
 * Entered from a stub with the site's return address (site + 5) on the stack
 * and the hook's arguments in registers: save every register a call may
 * clobber, patch the site, restore, and return to the site itself, which now
 * runs the patched instruction with the arguments untouched.
 */
void patch_lazy_entry0(void), patch_lazy_entry1(void), patch_lazy_entry2(void), patch_lazy_entry3(void);
void patch_lazy_resolve(unsigned long kind, u8 *site);
__asm__(".text\n"
	".globl patch_lazy_entry0, patch_lazy_entry1, patch_lazy_entry2, patch_lazy_entry3\n"
	"patch_lazy_entry0: pushq $0; jmp 1f\n"
	"patch_lazy_entry1: pushq $1; jmp 1f\n"
	"patch_lazy_entry2: pushq $2; jmp 1f\n"
	"patch_lazy_entry3: pushq $3\n"
	"1:	pushq %rax; pushq %rcx; pushq %rdx; pushq %rsi; pushq %rdi\n"
	"	pushq %r8; pushq %r9; pushq %r10; pushq %r11\n"
	"	subq $8, %rsp\n"                 /* 16-byte alignment for the call */
	"	movq 80(%rsp), %rdi\n"           /* kind */
	"	movq 88(%rsp), %rsi\n"           /* return address = site + 5 */
	"	subq $5, %rsi\n"
	"	call patch_lazy_resolve\n"
	"	addq $8, %rsp\n"
	"	popq %r11; popq %r10; popq %r9; popq %r8\n"
	"	popq %rdi; popq %rsi; popq %rdx; popq %rcx; popq %rax\n"
	"	addq $8, %rsp\n"                 /* kind */
	"	subq $5, (%rsp)\n"               /* back to the site: run it again */
	"	ret\n");
_Static_assert(PATCH_NR_KINDS == 4, "one lazy entry per kind");

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
 * And a resolver never writes over a live write (REWROTE): nothing ever puts
 * the call of the stub back (patch=off, the only choice that keeps it, allows
 * no switching), so a site that still holds it was never written live. One
 * that happened anyway is counted (patch_lazy_overwrites) and fails the run:
 * with the compare of the old code, a resolver that waited for the lock while
 * a switch made S native wrote its PV call over it.
 */
void patch_lazy_resolve(unsigned long kind, u8 *site)
{
	u8 orig[PATCH_SITE_LEN], want[PATCH_SITE_LEN];
	bool fell_back;

	__atomic_fetch_add(&patch_lazy_calls, 1, __ATOMIC_RELAXED);
	if (kind >= PATCH_NR_KINDS || !patch_build(site, PATCH_SITE_LEN, &lazy_plans[kind], want, &fell_back))
		panic("patch: lazy: no bytes for a %s site at %p", patch_kind_name((enum patch_kind)kind), site);
	patch_live_slow(); /* inject=slow-patch: widen the window between step 1 and the look at S */
	patch_original_bytes(site, (enum patch_kind)kind, orig);
	enum patch_live_result r = patch_live_write(site, orig, want);
	if (r == PATCH_LIVE_WROTE || r == PATCH_LIVE_REWROTE)
		__atomic_fetch_add(&patch_lazy_resolved, 1, __ATOMIC_RELAXED);
	/* Written over what a live write put there: the expect check failed to stop it. */
	if (r == PATCH_LIVE_REWROTE)
		__atomic_fetch_add(&patch_lazy_overwrites, 1, __ATOMIC_RELAXED);
	else if (r == PATCH_LIVE_OTHER && !patch_live_written(site))
		panic("patch: lazy: %s was reached from %p, which is not a call of it: not a patch site",
		      patch_kind_name((enum patch_kind)kind), site);
}

void patch_lazy_start(const struct patch_plan plans[PATCH_NR_KINDS])
{
	static void (*const entries[PATCH_NR_KINDS])(void) = { patch_lazy_entry0, patch_lazy_entry1,
							       patch_lazy_entry2, patch_lazy_entry3 };
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++) {
		lazy_plans[k] = plans[k];
		pv_ops[k] = (void *)entries[k];
	}
}
