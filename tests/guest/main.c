// SPDX-License-Identifier: MIT
/* main.c: the guest's test plan: boot checks, patching, AP bring-up, W^X, the lock stress, in KTAP. */
#include "guest.h"
#include "../../boot/boot.h"
#include "../../arch/cmdline.h"
#include "../../locks/pvlock.h"
#include "../../xen/xen.h"

static struct boot_info bi;
static struct acpi_cpus madt;
static struct pv_choice pv;
static unsigned failed;

static void ktap(bool ok, unsigned n, const char *name)
{
	kprintf("%s %u %s\n", ok ? "ok" : "not ok", n, name);
	failed += !ok;
}

/* A case that cannot continue: report it and end the run. */
static void __attribute__((noreturn)) ktap_fatal(unsigned n, const char *name, const char *why)
{
	kprintf("# %s\n", why);
	kprintf("not ok %u %s\n", n, name);
	machine_exit(false);
}

/* ---- command line ---- */
static const char *const pvlock_choices[] = { "auto", "off", 0 };
static const char *const patch_choices[] = { "on", "off", "lazy", 0 };
/* Fault injection, for the tests that the failure is diagnosed (README: "Faults injected"). */
enum { INJECT_NONE, INJECT_DROP_KICK, INJECT_LATE_FLAG, INJECT_HOLD, INJECT_BAD_HYPERCALL, INJECT_SLOW_PATCH,
       INJECT_TSC_LEAF, INJECT_CONFORM };
static const char *const inject_choices[] = { "none", "drop-kick", "late-flag", "hold", "bad-hypercall",
					       "slow-patch", "tsc-leaf", "conform", 0 };
static const char *const suite_choices[] = { "stress", "conform", 0 };
static const char *const lock_choices[] = { "ticket", "tas", 0 };
static const char *const preempt_choices[] = { "auto", "off", 0 };
static const char *const up_choices[] = { "auto", "off", 0 };
static const char *const onoff_choices[] = { "off", "on", 0 };
static u64 opt_pvlock = PVLOCK_AUTO, opt_patch = 0, opt_iters = 1000, opt_cs = 20,
	   opt_threshold = 2048, opt_watchdog = 60, opt_inject = 0, opt_ms = 0, opt_lock = 0,
	   opt_preempt = PREEMPT_AUTO, opt_up = 0, opt_switch = 0, opt_switches = 0, opt_suite = 0,
	   opt_latency = 0, opt_modes = 0, opt_rounds = 1, opt_max_rounds = 0, opt_min_acq = 0, opt_seed = 1;
static struct cmdline_opt opts[] = {
	{ "pvlock", &opt_pvlock, 0, 0, pvlock_choices, "auto|off", false, false },
	{ "patch", &opt_patch, 0, 0, patch_choices, "on|off|lazy", false, false },
	{ "preempt", &opt_preempt, 0, 0, preempt_choices, "auto|off", false, false },
	{ "up", &opt_up, 0, 0, up_choices, "auto|off", false, false },
	{ "stress.iters", &opt_iters, 1, 100000000, 0, 0, false, false },
	{ "stress.cs", &opt_cs, 0, 100000, 0, 0, false, false },
	{ "stress.ms", &opt_ms, 0, 86400000, 0, 0, false, false },
	{ "stress.lock", &opt_lock, 0, 0, lock_choices, "ticket|tas", false, false },
	{ "stress.switch", &opt_switch, 0, 60000, 0, 0, false, false },
	{ "stress.switches", &opt_switches, 0, 100000000, 0, 0, false, false },
	{ "stress.latency", &opt_latency, 0, 0, onoff_choices, "off|on", false, false },
	{ "stress.modes", &opt_modes, 0, 0, stress_mode_names, "spin|spin2|pv|pvpreempt|tas", false, true },
	{ "stress.rounds", &opt_rounds, 1, 1000, 0, 0, false, false },
	{ "stress.max_rounds", &opt_max_rounds, 1, 1000, 0, 0, false, false },
	{ "stress.min_acq", &opt_min_acq, 0, 1000000000, 0, 0, false, false },
	{ "stress.seed", &opt_seed, 0, 1u << 30, 0, 0, false, false },
	{ "spin_threshold", &opt_threshold, 1, 1u << 30, 0, 0, false, false },
	{ "watchdog", &opt_watchdog, 1, 3600, 0, 0, false, false },
	{ "inject", &opt_inject, 0, 0, inject_choices,
	  "none|drop-kick|late-flag|hold|bad-hypercall|slow-patch|tsc-leaf|conform", false, false },
	{ "suite", &opt_suite, 0, 0, suite_choices, "stress|conform", false, false },
};

/* Was the option that sets *val on the command line? */
static bool given(const u64 *val)
{
	for (unsigned i = 0; i < ARRAY_SIZE(opts); i++)
		if (opts[i].val == val)
			return opts[i].seen;
	return false;
}

/* ---- kick-to-wake latency: every vCPU's histogram merged, its median and 99th percentile ---- */
static void latency_report(unsigned online)
{
	static u64 merged[TICKET_LAT_BUCKETS];
	u64 n = 0, clamped = 0, p50 = 0, p99 = 0, seen = 0;
	bool have_p50 = false;

	for (unsigned b = 0; b < TICKET_LAT_BUCKETS; b++)
		merged[b] = 0;
	for (unsigned i = 0; i < online; i++) {
		n += ticket_latency[i].samples;
		clamped += ticket_latency[i].clamped;
		for (unsigned b = 0; b < TICKET_LAT_BUCKETS; b++)
			merged[b] += ticket_latency[i].bucket[b];
	}
	if (!n) {
		kprintf("# latency: kick-to-wake: no kick was received\n");
		return;
	}
	for (unsigned b = 0; b < TICKET_LAT_BUCKETS; b++) {
		seen += merged[b];
		if (!have_p50 && seen * 2 >= n) {
			p50 = ticket_latency_value(b);
			have_p50 = true;
		}
		if (seen * 100 >= n * 99) {
			p99 = ticket_latency_value(b);
			break;
		}
	}
	kprintf("# latency: kick-to-wake TSC cycles n=%lu median=%lu p99=%lu (%lu/%lu ns) clamped=%lu; "
		"skew vs BSP:", n, p50, p99, p50 * 1000000 / tsc_khz, p99 * 1000000 / tsc_khz, clamped);
	for (unsigned i = 1; i < online && i < 8; i++)
		kprintf(" %ld", (long)ticket_tsc_skew[i]);
	kprintf("%s\n", online > 8 ? " ..." : "");
}

/* ---- W^X: walk the live page tables ---- */
static unsigned wx_walk(u64 *table, int level, u64 va, unsigned *leaves)
{
	unsigned bad = 0;
	for (unsigned i = 0; i < 512; i++) {
		u64 e = table[i];
		u64 v = va | ((u64)i << (12 + 9 * level));
		if (!(e & PTE_P))
			continue;
		if (level > 0 && !(level < 3 && (e & PTE_PS))) {
			bad += wx_walk((u64 *)(uintptr_t)(e & 0x000ffffffffff000ull), level - 1, v, leaves);
			continue;
		}
		(*leaves)++;
		if ((e & PTE_W) && !(e >> 63)) {
			if (bad < 4)
				kprintf("# wx: va %lx is writable and executable (pte %lx)\n", v, e);
			bad++;
		}
	}
	return bad;
}

static bool wx_check(const char *when)
{
	extern char _text_start[], _text_end[], _rodata_start[], _rodata_end[];
	unsigned leaves = 0, bad = wx_walk((u64 *)(uintptr_t)(x86_read_cr3() & ~0xfffull), 3, 0, &leaves);
	for (char *p = _text_start; p < _rodata_end; p += 4096) {
		u64 size, e = paging_lookup((u64)(uintptr_t)p, &size);
		if (!e || (e & PTE_W) || (p >= _rodata_start && !(e >> 63)) || (p < _text_end && (e >> 63))) {
			kprintf("# wx: %s page %p has pte %lx\n", p < _text_end ? "text" : "rodata", p, e);
			bad++;
		}
	}
	kprintf("# wx: %s: %u leaf mappings, %u W+X or writable text/rodata\n", when, leaves, bad);
	return bad == 0;
}

/* The lock's slow path entered again from inside lock_spinning (locks/spinlock.h: "No nesting"). */
static void __attribute__((noreturn)) lock_nested(unsigned cpu)
{
	panic("lock: cpu %u entered the slow path again while inside lock_spinning (a ticket lock taken "
	      "in an interrupt handler?): refused, a wake-up would be lost", cpu);
}

/* ---- stress.switch: live switches between native and the chosen backend ---- */
static struct {
	unsigned to_native, to_on, sites, kicks;
	u64 max_cycles;
} sw;

static void stress_switch(bool on)
{
	struct pv_switch_stats st;
	pv_switch(&pv, on, true, &st);
	sw.to_on += on;
	sw.to_native += !on;
	sw.sites += st.sites;
	sw.kicks += st.kicks;
	if (st.cycles > sw.max_cycles)
		sw.max_cycles = st.cycles;
}

/*
 * stress.modes: set the lock up for the next window, with plain writes
 * (pv_set_quiet): between windows every AP is out of the lock and halted, and
 * serialises when the next window wakes it. spin, spin2: every site native (NOPs); pv: the backend's
 * hooks with a native vcpu_is_preempted; pvpreempt: the backend's plans, as
 * patched at boot; tas: the sites as they are (the test-and-set lock has none).
 * Under the native backend every mode but tas is the boot's NOPs: nothing to write.
 */
static bool mix_set_mode(unsigned mode)
{
	if (mode == MODE_TAS)
		return true;
	if (!pv.native)
		pv_set_quiet(&pv, mode == MODE_PV || mode == MODE_PVPREEMPT, mode == MODE_PVPREEMPT);
	return false;
}

/*
 * One run's figures (a windowed run: one mode's windows, each line tagged
 * "[mode] "): throughput over the BSP's span, fairness, the slow-path counters.
 */
static void report_run(const char *mode, const struct stress_result *r, bool tas)
{
	char tag[16] = "";
	u64 per_s = r->meas_cycles ? r->meas_acq * tsc_khz * 1000 / r->meas_cycles : 0;
	if (mode) {
		ksnprintf(tag, sizeof(tag), "[%s] ", mode);
		kprintf("# %sstress: total=%lu in %u window(s)\n", tag, r->total, r->windows);
	}
	kprintf("# %sstress: throughput=%lu acq/s over %lu ms (TSC%s), fairness min/max=%lu/%lu per vCPU "
		"%s\n", tag, per_s, r->meas_cycles / tsc_khz, r->meas_cycles != r->max_cycles ? ", to the stop" : "",
		r->min_acq, r->max_acq, mode ? "over its windows" : "when the first finished");
	const struct ticket_stats *s = &r->stats;
	/* Two lines: Xen's console cuts a line at about 200 characters. */
	kprintf("# %sslowpath: contended=%lu slow_entries=%lu slow_acquisitions=%lu unlock_kicks=%lu "
		"blocks=%lu kicks_sent=%lu kicks_received=%lu spurious_wakeups=%lu\n", tag,
		tas ? r->tas_contended : s->contended, s->slow_entries, s->slow_acquisitions, s->unlock_slow,
		s->blocks, s->kicks_sent, s->kicks_received, s->spurious_wakeups);
	kprintf("# %sslowpath: preemption: early_entries=%lu holder_unknown=%lu handoffs_preempted=%lu "
		"preempt_kicks=%lu\n", tag, s->early_entries, s->holder_unknown, s->handoffs_preempted,
		s->preempt_kicks);
	if (!tas)
		kprintf("# %sslowpath: %lu PAUSEs spun in %lu waits\n", tag, s->spins, s->contended);
	kprintf("# %slatency: %lu TSC reads on the kick and wake path\n", tag, s->path_tsc_reads);
}

/*
 * vcpu_is_preempted, checked after the stress on the BSP: every vCPU's
 * preemption record was written by the hypervisor (Xen's runstate area, KVM's
 * steal time: a record never written means a registration that did not take),
 * and the BSP, running this, is not preempted. Native: the hook answers false
 * for every vCPU.
 */
static bool preempt_check(unsigned online)
{
	unsigned dead = 0, yes = 0;
	/*
	 * The hypervisor's records are read where the plan's target is the backend's, whatever the
	 * sites' bytes: patch=off keeps every call, preempt=off included, and there no record is
	 * registered (pvlock.h: pv_preempt_wanted).
	 */
	bool live = pv.owner && pv.owner->preempt_live &&
		    pv.plans[PATCH_VCPU_IS_PREEMPTED].target != pv_native_preempt_plan().target;

	for (unsigned i = 0; i < online; i++) {
		if (live && !pv.owner->preempt_live(i)) {
			kprintf("# preempt: cpu %u: the hypervisor never wrote its %s record\n", i, pv.preempt);
			dead++;
		}
		yes += i ? 0 : vcpu_is_preempted(i);
	}
	if (!live)
		for (unsigned i = 0; i < online; i++)
			yes += vcpu_is_preempted(i);
	kprintf("# preempt: vcpu_is_preempted reads %s; %u vCPU record(s) live, %u not; %s\n", pv.preempt,
		live ? online - dead : 0, dead, yes ? "a vCPU said preempted while it should not" :
		live ? "the BSP reads itself as running" : "false for every vCPU");
	return !dead && !yes;
}

void __attribute__((noreturn)) boot_main(u32 start_info_pa)
{
	char err[160];
	const char *e;

	console_init();
	/* Under Xen, port 0xe9 reaches Xen's console (guest_loglvl=all): a domU has no UART. */
	if (x86_hypervisor_base("XenVMMXenVMM"))
		console_use_e9();
	idt_init();
	percpu_init_self(0);
	kprintf("KTAP version 1\n");

	/* The plan depends on suite=, so start_info and the command line are parsed (silently) first. */
	e = boot_parse_start_info(start_info_pa, phys_map_identity, &bi);
	const char *cmd_e = e ? 0 : cmdline_parse(bi.cmdline, opts, ARRAY_SIZE(opts), err, sizeof(err));
	bool conform = !e && !cmd_e && opt_suite == 1;
	kprintf("1..%u\n", conform ? KTAP_WX_MAPPINGS + conform_cases() : KTAP_NR);

	/* 1. start_info */
	if (e)
		ktap_fatal(KTAP_START_INFO, "boot_start_info", e);
	kprintf("# boot: start_info v%u at %x cmdline=\"%s\" memmap=%u entries ram=%lu MiB rsdp=%lx\n",
		bi.version, start_info_pa, bi.cmdline, bi.memmap_entries, bi.ram_bytes >> 20, bi.rsdp_pa);
	ktap(true, KTAP_START_INFO, "boot_start_info");

	/* 2. command line */
	if (cmd_e)
		ktap_fatal(KTAP_CMDLINE, "cmdline", cmd_e);
	ticket_spin_threshold = (u32)opt_threshold;
	ticket_inject_drop_kick = opt_inject == INJECT_DROP_KICK;
	ticket_latency_on = opt_latency == 1;
	ticket_inject_late_flag = opt_inject == INJECT_LATE_FLAG;
	xen_inject_bad_hypercall = opt_inject == INJECT_BAD_HYPERCALL;
	/* slow-patch: 1 ms inside each step of every live write, and in each lazy resolver before it looks. */
	patch_live_delay_us = opt_inject == INJECT_SLOW_PATCH ? 1000 : 0;
	tsc_inject_bad_leaf = opt_inject == INJECT_TSC_LEAF || opt_inject == INJECT_CONFORM;
	kprintf("# cmdline: suite=%s pvlock=%s patch=%s preempt=%s up=%s stress.iters=%lu stress.cs=%lu stress.ms=%lu stress.lock=%s stress.switch=%lu "
		"stress.switches=%lu stress.latency=%s spin_threshold=%lu watchdog=%lu inject=%s\n", suite_choices[opt_suite],
		pvlock_choices[opt_pvlock],
		patch_choices[opt_patch], preempt_choices[opt_preempt], up_choices[opt_up], opt_iters, opt_cs, opt_ms, lock_choices[opt_lock], opt_switch,
		opt_switches, onoff_choices[opt_latency], opt_threshold, opt_watchdog, inject_choices[opt_inject]);
	/* stress.switches ends a run early: only a time-limited run (stress.ms) has no fixed total. */
	if (opt_inject == INJECT_CONFORM && !conform)
		ktap_fatal(KTAP_CMDLINE, "cmdline", "cmdline: inject=conform needs suite=conform (it breaks the "
			   "conformance cases' promises)");
	if (opt_modes) {
		kprintf("# cmdline: stress.modes=");
		for (unsigned m = 0, first = 1; m < STRESS_NR_MODES; m++)
			if (opt_modes & (1ull << m)) {
				kprintf("%s%s", first ? "" : ",", stress_mode_names[m]);
				first = 0;
			}
		kprintf(" stress.rounds=%lu stress.max_rounds=%lu stress.min_acq=%lu stress.seed=%lu\n", opt_rounds,
			opt_max_rounds ? opt_max_rounds : opt_rounds, opt_min_acq, opt_seed);
	}
	if (!opt_modes && (given(&opt_rounds) || given(&opt_max_rounds) || given(&opt_min_acq) ||
			   given(&opt_seed)))
		ktap_fatal(KTAP_CMDLINE, "cmdline", "cmdline: stress.rounds, stress.max_rounds, stress.min_acq and "
			   "stress.seed need stress.modes= (they shape a run of windows)");
	/* A windowed run switches the sites between its windows: it needs them patched, all plans at hand. */
	if (opt_modes && (!opt_ms || opt_patch != 0 || opt_pvlock != PVLOCK_AUTO || opt_preempt != PREEMPT_AUTO ||
			  opt_switch || opt_lock != 0 || opt_latency))
		ktap_fatal(KTAP_CMDLINE, "cmdline", "cmdline: stress.modes= needs stress.ms= (each window's length) "
			   "with patch=on pvlock=auto preempt=auto stress.lock=ticket stress.latency=off and no "
			   "stress.switch= (it sets the lock up itself, window by window)");
	if (opt_modes && opt_max_rounds && opt_max_rounds < opt_rounds)
		ktap_fatal(KTAP_CMDLINE, "cmdline", "cmdline: stress.max_rounds is below stress.rounds");
	if (opt_switches && (!opt_switch || !opt_ms))
		ktap_fatal(KTAP_CMDLINE, "cmdline", "cmdline: stress.switches needs stress.switch= and stress.ms= "
			   "(it ends a time-limited run after that many live switches)");
	ktap(true, KTAP_CMDLINE, "cmdline");

	tsc_init();
	if (tsc_inject_bad_leaf && tsc_leaf_khz)
		kprintf("# inject: %s: the TSC leaf's rate is read as 4x what it says\n", inject_choices[opt_inject]);
	kprintf("# tsc: %lu kHz (source: %s)\n", tsc_khz, tsc_source);
	if (tsc_leaf_check[0])
		kprintf("# tsc: %s\n", tsc_leaf_check);

	/* 3. ACPI MADT */
	u64 rsdp = bi.rsdp_pa;
	if (!rsdp) {
		rsdp = acpi_scan_rsdp(phys_map_identity);
		kprintf("# acpi: start_info gives no RSDP; BIOS-area scan %s it (%lx)\n",
			rsdp ? "found" : "did not find", rsdp);
	}
	/* No ACPI at all: the MP table (the documented fallback, said in the log). */
	u64 mp = rsdp ? 0 : mp_scan(phys_map_identity);
	if (!rsdp && mp) {
		e = mp_find_cpus(mp, phys_map_identity, &madt);
		if (!e)
			kprintf("# acpi: no ACPI: the MP table at %lx lists the CPUs instead\n", mp);
	} else if (!rsdp) {
		e = "no RSDP and no MP table: nothing lists the CPUs";
	} else {
		e = acpi_find_cpus(rsdp, phys_map_identity, &madt);
	}
	if (e) {
		ksnprintf(err, sizeof(err), "acpi: %s", e);
		ktap_fatal(KTAP_ACPI_MADT, "acpi_madt", err);
	}
	if (madt.note[0])
		kprintf("# acpi: %s\n", madt.note);
	if (madt.listed > MAX_CPUS)
		kprintf("# acpi: the MADT lists %u CPUs, pvtick supports %u: running on the first %u\n",
			madt.listed, MAX_CPUS, MAX_CPUS);
	kprintf("# acpi: %s lists %u CPU(s), local APIC at %lx\n", mp ? "the MP table" : "MADT", madt.listed,
		madt.lapic_pa);
	ktap(true, KTAP_ACPI_MADT, "acpi_madt");

	apic_init(madt.lapic_pa);
	cpus[0].apic_id = apic_id_self();
	cpus[0].state = CPU_ONLINE;
	cpu_count = madt.n;
	kprintf("# apic: %s, BSP apic id %u\n", apic_is_x2() ? "x2APIC" : "xAPIC", cpus[0].apic_id);

	/* 4. patching, before any AP runs; the page tables are checked before it too (case 6) */
	bool wx_boot = wx_check("after boot, before patching");
	u64 t0 = x86_rdtsc();
	pv_choose_and_patch(opt_pvlock == PVLOCK_OFF ? PVLOCK_OFF : PVLOCK_AUTO,
			    opt_preempt == PREEMPT_OFF ? PREEMPT_OFF : PREEMPT_AUTO,
			    (enum pv_patch_mode[]){ PATCH_MODE_BOOT, PATCH_MODE_OFF, PATCH_MODE_LAZY }[opt_patch], &pv);
	bool up_ok = patch_up_boot(cpu_count, opt_up == 1);
	u64 t_patch = x86_rdtsc() - t0;
	unsigned unrun, mismatched = patch_verify_sites(pv.plans, pv.patching == PATCH_MODE_LAZY, "at boot", &unrun);
	unsigned patched = 0;
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		patched += pv.result.patched[k];
	kprintf("# patch: %u sites, %u rewritten, %u refused, %u mismatched on re-read, %lu TSC cycles\n",
		pv.result.sites, patched, pv.result.refused, mismatched, t_patch);
	/* boot: every site of the table rewritten; off: none; lazy: none yet, the table not even read. */
	bool sites_ok = opt_patch == 0 ? pv.result.sites > 0 && patched == pv.result.sites :
			opt_patch == 1 ? pv.result.sites > 0 && patched == 0 : pv.result.sites == 0 && unrun > 0;
	ktap(sites_ok && !pv.result.refused && !mismatched && up_ok, KTAP_PV_PATCH, "pv_patch_sites");
	/* An injected fault the chosen backend never reaches is said, not silently ignored. */
	if ((opt_inject == INJECT_DROP_KICK || opt_inject == INJECT_LATE_FLAG) && pv.native)
		kprintf("# inject: %s has no effect with backend=native: nothing blocks or kicks\n",
			inject_choices[opt_inject]);
	if (xen_inject_bad_hypercall)
		kprintf("# inject: bad-hypercall has no effect: the Xen backend's setup did not run\n");
	if (opt_inject == INJECT_SLOW_PATCH && opt_patch != 2 && !opt_switch)
		kprintf("# inject: slow-patch has no effect: nothing is written live (patch=lazy or stress.switch= "
			"writes live)\n");

	/* 5. APs */
	t0 = x86_rdtsc();
	unsigned online = smp_boot_aps(&madt);
	u64 t_up = x86_rdtsc();
	kprintf("# smp: %u of %u CPU(s) online in %lu TSC cycles\n", online, madt.n, t_up - t0);
	kprintf("# boot: %lu TSC cycles from the PVH entry to all vCPUs up (patching: %lu)\n",
		t_up - boot_entry_tsc, t_patch);
	ktap(online == madt.n, KTAP_SMP_BRINGUP, "smp_bringup");
	ticket_nr_cpus = online;
	ticket_nested_fn = lock_nested;

	/* 6. W^X, after boot (above) and after patching and the trampoline write */
	bool wx_patched = wx_check("after patching and AP start");
	ktap(wx_boot && wx_patched, KTAP_WX_MAPPINGS, "wx_mappings");
	/* A hypervisor that cannot hold its leaf's TSC rate (Xen's check runs in its backend's init). */
	if (tsc_leaf_refused)
		kprintf("# tsc: now %lu kHz (source: %s): %s\n", tsc_khz, tsc_source, tsc_leaf_check);

	/* 7... suite=conform: the conformance cases instead of the stress */
	if (conform) {
		failed += conform_run(KTAP_WX_MAPPINGS + 1, opt_inject == INJECT_CONFORM);
		kprintf("# pvtick: %s\n", failed ? "FAIL" : "PASS");
		machine_exit(failed == 0);
	}

	/* 7, 8. the stress */
	struct stress_cfg sc = { opt_iters, opt_cs, opt_watchdog, opt_inject == INJECT_HOLD, opt_ms,
				 opt_lock == 1, !pv.native, opt_switch, stress_switch,
				 (bool (*)(unsigned))pv.plans[PATCH_VCPU_IS_PREEMPTED].target, opt_switches,
				 opt_modes, opt_rounds, opt_max_rounds ? opt_max_rounds : opt_rounds, opt_min_acq, opt_seed,
				 mix_set_mode };
	if (opt_switch && (opt_patch == 1 || opt_lock == 1)) {
		kprintf("# switch: stress.switch needs patched sites and the ticket lock (%s): no switching\n",
			opt_patch == 1 ? "patch=off" : "stress.lock=tas");
		sc.switch_ms = 0;
	}
	/* A mix whose modes are the same code here says so: its ratios are then A/A controls too. */
	if (sc.modes && pv.native)
		kprintf("# mix: backend=native: spin, spin2, pv and pvpreempt all run the native lock (NOPs)\n");
	else if (sc.modes && pv.plans[PATCH_VCPU_IS_PREEMPTED].how == PATCH_HOW_INLINE)
		kprintf("# mix: vcpu_is_preempted is native here (preempt=%s): pvpreempt runs what pv runs\n",
			pv.preempt);
	struct stress_result r, per_mode[STRESS_NR_MODES];
	kprintf("# stress: %u vCPU(s) x %lu acquisitions%s, critical section %lu loops, spin_threshold %u, "
		"lock %s\n", online, sc.iters, sc.ms ? " at most" : "", sc.cs, ticket_spin_threshold,
		sc.modes ? "per window (stress.modes)" : sc.tas ? "test-and-set with backoff (no hooks)" : "ticket");
	if (sc.ms)
		kprintf("# stress: time limit %lu ms on the BSP's TSC%s\n", sc.ms, sc.modes ? " per window" : "");
	stress_run(&sc, &r, per_mode);
	if (sc.modes) {
		/* The sites back to the chosen plans, as the boot left them (case 10 checks them). */
		mix_set_mode(MODE_PVPREEMPT);
		kprintf("# stress: all windows: total=%lu counter=%lu violations=%lu\n", r.total, r.counter,
			r.violations);
		for (unsigned m = 0; m < STRESS_NR_MODES; m++)
			if (sc.modes & (1ull << m))
				report_run(stress_mode_names[m], &per_mode[m], m == MODE_TAS);
	} else {
		kprintf("# stress: total=%lu expected=%lu counter=%lu violations=%lu\n", r.total, r.expected,
			r.counter, r.violations);
		report_run(0, &r, sc.tas);
	}
	u64 expect_total = r.expected;
	if (ticket_latency_on)
		latency_report(online);
	else
		kprintf("# latency: off (stress.latency=on measures it)\n");
	kprintf("# stress: first wait: %u vCPU(s) waited; the longest first wait took %lu TSC cycles\n",
		r.first_wait_n, r.first_wait_max);
	if (r.pauses)
		kprintf("# stress: a PAUSE took %lu ns on the BSP before the start (%u timed): spin_threshold %u "
			"spins last about %lu us\n", r.pause_cycles * 1000000 / tsc_khz / r.pauses, r.pauses,
			ticket_spin_threshold, r.pause_cycles * ticket_spin_threshold / r.pauses * 1000 / tsc_khz);
	if (sc.switch_ms) {
		kprintf("# switch: %u live switches every %lu ms: %u off (%s), %u back on (%s); %u sites rewritten, "
			"longest switch %lu TSC cycles\n", sw.to_native + sw.to_on, sc.switch_ms, sw.to_native,
			pv.native ? "direct calls of the native hooks" : "native", sw.to_on,
			pv.native ? "NOPs" : pv.backend, sw.sites, sw.max_cycles);
		kprintf("# switch: hand-over: %u kicks, %lu blocks refused; #BP handler: %lu CPU(s) sent on at a "
			"half-written site, %lu stale int3 run again\n", sw.kicks, ticket_no_block_refusals,
			patch_live_bp_hits, patch_live_stale_hits);
	}
	ktap(r.violations == 0 && r.complement_ok, KTAP_STRESS_EXCLUSION, "stress_exclusion");
	ktap(r.total == expect_total && r.counter == expect_total, KTAP_STRESS_TOTAL, "stress_total");
	ktap(preempt_check(online), KTAP_PREEMPT_INFO, "vcpu_preempt_info");

	/* 10. every site as the choice wants it after the stress (live switches, lazy patching included) */
	mismatched = patch_verify_sites(pv.plans, pv.patching == PATCH_MODE_LAZY, "after the stress", &unrun);
	if (opt_patch == 2)
		kprintf("# patch: lazy: %u site(s) patched by their first run (%u resolver call(s)), %u never run, "
			"%u written over a live write\n", patch_lazy_resolved, patch_lazy_calls, unrun,
			patch_lazy_overwrites);
	/* Without live switches (which rewrite every site), lazy runs patched exactly the sites that ran. */
	ktap(!mismatched && !patch_lazy_overwrites &&
		     (opt_patch != 2 || sc.switch_ms || patch_lazy_resolved + unrun == patch_table.count),
	     KTAP_SITES_AFTER,
	     "sites_after_stress");

	kprintf("# pvtick: %s\n", failed ? "FAIL" : "PASS");
	machine_exit(failed == 0);
}
