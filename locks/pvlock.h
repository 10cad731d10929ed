/* SPDX-License-Identifier: MIT */
/* pvlock.h: how a hypervisor backend fills the lock's hooks, the boot-time choice of backend, the live hand-over. */
#ifndef PVTICK_PVLOCK_H
#define PVTICK_PVLOCK_H

#include "spinlock.h"
#include "../patch/patch.h"
#include "../arch/arch.h"

/*
 * A backend ({name, detect, init, platform}) fills the hooks for one hypervisor. Backends
 * register with PV_BACKEND(); pv_choose() asks each in link order.
 */
struct pv_backend {
	const char *name;
	/*
	 * detect(why): true if this backend should drive the locks here. Either way
	 * MAY set *why to one phrase for the log ("PV_UNHALT", "no KVMKVMKVM leaf").
	 */
	bool (*detect)(const char **why);
	/*
	 * init(plans, why): set the backend up (hypercall page, event channels...)
	 * and fill plans[] for each hook kind. Returns false, with *why naming what
	 * failed, to fall back to native.
	 */
	bool (*init)(struct patch_plan plans[PATCH_NR_KINDS], const char **why);
	/*
	 * platform(): MAY be NULL. Set up what every run on this hypervisor needs
	 * whatever the lock mode (console, end of run). Called once, before init,
	 * when detect() claims the hypervisor (returns true, or false with *why).
	 */
	void (*platform)(void);
	/*
	 * cpu_init(cpu): MAY be NULL. Per-CPU setup, run by CPU `cpu` itself: the BSP
	 * right after init() succeeded, each AP as it starts (smp_ap_init).
	 */
	void (*cpu_init)(unsigned cpu);
	/*
	 * preempt_live(cpu): MAY be NULL (then the backend's vcpu_is_preempted is
	 * native). For the boot test: true if the hypervisor has written cpu's
	 * preemption record since cpu_init registered it.
	 */
	bool (*preempt_live)(unsigned cpu);
	/*
	 * kick(cpu): MAY be NULL for a backend that never blocks. Wake vCPU `cpu`
	 * out of lock_spinning's block, as unlock_kick would (pv_switch's hand-over).
	 */
	void (*kick)(unsigned cpu);
};

/*
 * Set by pv_choose_and_patch() before init(): false with preempt=off, when a
 * backend MUST NOT register preemption records and MUST plan its
 * vcpu_is_preempted sites as native (pv_native_preempt_plan()).
 */
extern bool pv_preempt_wanted;
/*
 * Set by init(): where its vcpu_is_preempted reads ("xen-runstate",
 * "kvm-steal-time"), or, if its plan is native, why ("kvm-without-STEAL_TIME").
 */
extern const char *pv_preempt_source;
/* The native vcpu_is_preempted: `mov $0,%eax` in place (one 5-byte instruction: the answer false). */
struct patch_plan pv_native_preempt_plan(void);

#define PV_BACKEND(b) \
	static const struct pv_backend *const pv_backend_ptr_##b \
		__attribute__((used, section("pv_backends"))) = &b

enum pv_lock_mode { PVLOCK_AUTO, PVLOCK_OFF };
enum pv_preempt_mode { PREEMPT_AUTO, PREEMPT_OFF };
/*
 * How the sites get their bytes (option patch=):
 *   BOOT: every site in the table, once, before the APs start;
 *   OFF:  none: every site stays a call of its stub (through pv_ops[]);
 *   LAZY: none at boot, and the table is not read: pv_ops[] points at a
 *         resolver per kind, which patches the site that called it (live,
 *         patch/live.c) and runs it again.
 */
enum pv_patch_mode { PATCH_MODE_BOOT, PATCH_MODE_OFF, PATCH_MODE_LAZY };

struct pv_choice {
	const char *backend;  /* "native", "xen", "kvm" */
	bool native;          /* the native hooks: nothing ever blocks or kicks */
	const char *reason;   /* why */
	const char *patched;  /* "nop", "call", "inline", "off", "mixed" */
	const char *preempt;  /* where vcpu_is_preempted reads: "native", "xen-runstate", ... */
	const struct pv_backend *owner; /* the backend in use, or NULL */
	enum pv_patch_mode patching;
	struct patch_plan plans[PATCH_NR_KINDS];
	struct patch_result result;
};

/*
 * Choose a backend and patch every site for it. MUST run on the BSP before any AP
 * starts. Logs one line: "# pv: backend=... reason=... sites=N patched=... preempt=...".
 */
void pv_choose_and_patch(enum pv_lock_mode mode, enum pv_preempt_mode preempt, enum pv_patch_mode patching,
			 struct pv_choice *c);

/*
 * Live switch, while every vCPU runs the lock: on=false rewrites every site to
 * the native plans, on=true back to the chosen ones (for the native backend,
 * whose chosen plans are the native ones, "off" is direct calls of the native
 * hooks, so the switching itself is what runs). The hand-over (no vCPU may stay blocked with nobody to kick it):
 *   to native: 1. lock_spinning and vcpu_is_preempted sites native: no vCPU
 *                 enters the blocking hook any more;
 *              2. every other vCPU still inside lock_spinning (in_hook) is
 *                 kicked, again and again, until it has left;
 *              3. only then the unlock sites native (ticket_release, then unlock_kick).
 *   to PV:     unlock_kick and ticket_release first, then vcpu_is_preempted, then lock_spinning:
 *              by the time a vCPU can block, every unlock can kick it.
 * preempt (only with on=true): false leaves the vcpu_is_preempted sites native
 * even when the chosen plan reads the hypervisor (the backend's records stay
 * registered; nothing reads them): the hooks without the hint, for make bench's
 * "pv" beside "pvpreempt" in one boot.
 * MUST NOT run on two CPUs at once, nor from an interrupt handler; the caller
 * holds no ticket lock. Fills *st.
 */
struct pv_switch_stats {
	unsigned sites;   /* sites rewritten */
	unsigned kicks;   /* hand-over kicks sent (to native only) */
	u64 cycles;       /* TSC cycles the switch took */
};
void pv_switch(const struct pv_choice *c, bool on, bool preempt, struct pv_switch_stats *st);

/*
 * pv_set_quiet(c, on, preempt): the sites and hooks pv_switch(c, on, preempt)
 * would leave, written with plain stores: no int3, no sync, no IPI. For a
 * caller under which no other CPU runs, or is inside, the lock's code, and
 * each other CPU serialises before it runs that code again (make bench's mix
 * between two windows: every AP out of the lock and halted in arch/smp.c's
 * idle loop, which serialises before it runs new work). Those 4 syncs per site
 * rewritten are what a live switch needs; here they would be IPIs to halted
 * vCPUs by the hundred per boot (under Xen under QEMU TCG, a pCPU of Xen that
 * missed such a wake-up once left a domU stalled: README, "Benchmarks").
 * MUST run on one CPU; the caller holds no ticket lock.
 */
void pv_set_quiet(const struct pv_choice *c, bool on, bool preempt);

#endif
