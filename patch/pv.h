/* SPDX-License-Identifier: MIT */
/* pv.h: how a hypervisor backend plugs in, and the boot-time choice of backend. */
#ifndef PVTICK_PV_H
#define PVTICK_PV_H

#include "patch.h"
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
};

#define PV_BACKEND(b) \
	static const struct pv_backend *const pv_backend_ptr_##b \
		__attribute__((used, section("pv_backends"))) = &b

enum pv_lock_mode { PVLOCK_AUTO, PVLOCK_OFF };

struct pv_choice {
	const char *backend;  /* "native", "xen", "kvm" */
	bool native;          /* the native hooks: nothing ever blocks or kicks */
	const char *reason;   /* why */
	const char *patched;  /* "nop", "call", "inline", "off" */
	struct patch_plan plans[PATCH_NR_KINDS];
	struct patch_result result;
};

/*
 * Choose a backend and patch every site for it. MUST run on the BSP before any AP
 * starts. Logs one line: "# pv: backend=... reason=... sites=N patched=...".
 */
void pv_choose_and_patch(enum pv_lock_mode mode, bool patch_off, struct pv_choice *c);

/*
 * Re-read every site and compare it with what the choice should have written.
 * Logs each site's bytes; returns the number of sites that differ.
 */
unsigned pv_verify_sites(const struct pv_choice *c);

#endif
