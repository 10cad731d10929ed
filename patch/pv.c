// SPDX-License-Identifier: MIT
/* pv.c: at boot, pick the lock backend from CPUID, patch the hook sites once, and check them. */
#include "pv.h"
#include "../locks/spinlock_types.h"

extern const struct pv_backend *const __start_pv_backends[] __attribute__((weak));
extern const struct pv_backend *const __stop_pv_backends[] __attribute__((weak));

/* Native hooks, for pv_ops[] when sites stay indirect (patch=off). They do nothing. */
static void native_lock_spinning(struct ticketlock *lock, u16 want) { (void)lock, (void)want; }
static void native_unlock_kick(struct ticketlock *lock, u16 next) { (void)lock, (void)next; }

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
}

static const char *how_name(const struct patch_plan plans[PATCH_NR_KINDS])
{
	static const char *const names[] = { "nop", "call", "inline", "off" };
	enum patch_how h = plans[0].how;
	for (unsigned k = 1; k < PATCH_NR_KINDS; k++)
		if (plans[k].how != h)
			return "mixed";
	return names[h];
}

void pv_choose_and_patch(enum pv_lock_mode mode, bool patch_off, struct pv_choice *c)
{
	static char reason[64];
	*c = (struct pv_choice){ .backend = "native", .native = true };
	native_plans(c->plans);

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
			if (chosen->init(plans, &why)) {
				c->backend = chosen->name;
				c->native = false;
				for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
					c->plans[k] = plans[k];
			} else {
				kprintf("# pv: backend %s failed to start: %s; falling back to native\n",
					chosen->name, why ? why : "?");
				ksnprintf(reason, sizeof(reason), "%s-init-failed", chosen->name);
				why = reason;
			}
		}
		c->reason = why ? why : "?";
	}

	if (patch_off)
		for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
			c->plans[k].how = PATCH_HOW_KEEP;
	c->patched = how_name(c->plans);
	patch_apply(__start_patch_sites, __stop_patch_sites, c->plans, paging_write_text, &c->result);
	kprintf("# pv: backend=%s reason=%s sites=%u patched=%s\n", c->backend, c->reason,
		c->result.sites, c->patched);
	if (c->result.refused)
		kprintf("# pv: %u site(s) REFUSED: their bytes were not the expected indirect call\n",
			c->result.refused);
	if (c->result.inline_too_long)
		kprintf("# pv: %u inline replacement(s) too long for their site: called instead\n",
			c->result.inline_too_long);
}

unsigned pv_verify_sites(const struct pv_choice *c)
{
	unsigned bad = 0, i = 0;
	for (const struct patch_site *s = __start_patch_sites; s < __stop_patch_sites; s++, i++) {
		const u8 *at = patch_site_addr(s);
		u8 want[PATCH_SITE_LEN];
		bool fell_back;
		if (s->kind >= PATCH_NR_KINDS || s->len != PATCH_SITE_LEN) {
			kprintf("# patch: site %u at %p has a bad record (kind %u len %u)\n", i, at,
				s->kind, s->len);
			bad++;
			continue;
		}
		if (!patch_build(at, s->len, &c->plans[s->kind], want, &fell_back))
			patch_original_bytes(at, s->kind, want);
		char hex[3 * PATCH_SITE_LEN + 1];
		int match = 1;
		for (unsigned j = 0; j < PATCH_SITE_LEN; j++) {
			ksnprintf(hex + 3 * j, 4, "%02x ", at[j]);
			match &= at[j] == want[j];
		}
		hex[3 * PATCH_SITE_LEN - 1] = 0;
		kprintf("# patch: site %u %s at %p: %s%s\n", i, patch_kind_name(s->kind), at, hex,
			match ? "" : "  MISMATCH");
		bad += !match;
	}
	return bad;
}
