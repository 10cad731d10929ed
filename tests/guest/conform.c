// SPDX-License-Identifier: MIT
/* conform.c: suite=conform: one KTAP case per promise of the hypervisor's PV lock interface, each bounded. */
#include "guest.h"
#include <linux/kvm_para.h>
#include "../../kvm/kvm.h"
#include "../../xen/xen.h"

/*
 * Roles: the BSP (cpu 0) runs each case and is the kicker, the sender and the
 * backstop; APs are the subjects that halt or poll (cpu A = 1, and for the
 * IPI-port case every AP). No subject waits unbounded: a HLT with interrupts
 * off is ended by the BSP's NMI after a bound, a poll carries a deadline and,
 * should the hypervisor ignore it, is ended by an event the BSP sends after a
 * bound. A subject that still does not come back ends the suite with a
 * `not ok` naming it (never a runner timeout).
 *
 * inject=conform breaks, on the guest's side, what each case's promise
 * guarantees (the kick is not sent, the pending bit is cleared before the
 * poll, a lingering kick is imitated by a second one, ...), so that every
 * case is seen to fail; the log says what was broken.
 */

#define A 1 /* the subject vCPU of the two-vCPU cases */

static unsigned ktap_n, failed_n;
static bool inject;
/*
 * stage[]: the subject's progress in a case; it only grows within a case, and
 * the BSP waits for "at least" a stage (a subject may pass a stage the BSP
 * never saw). Backstop NMIs are counted: nmi_sent[] by the BSP before it sends
 * one, nmi_got[] by the subject's handler. A HLT ended by an NMI is one during
 * which nmi_got[] moved; after each case the BSP waits until every NMI it sent
 * was taken, so none can end a HLT of the next case. An NMI nobody sent still
 * fails the run (trap_dispatch's report).
 */
static volatile u32 stage[MAX_CPUS];
static volatile u32 nmi_sent[MAX_CPUS], nmi_got[MAX_CPUS];
static volatile u64 stamp[MAX_CPUS];  /* subject's Xen time at a case-defined step */
static volatile long result[MAX_CPUS];
static void (*ap_fn)(unsigned cpu);

static bool conform_nmi(struct trap_frame *f)
{
	(void)f;
	unsigned me = this_cpu()->index;
	if (__atomic_load_n(&nmi_got[me], __ATOMIC_SEQ_CST) >= __atomic_load_n(&nmi_sent[me], __ATOMIC_SEQ_CST))
		return false;
	__atomic_fetch_add(&nmi_got[me], 1, __ATOMIC_SEQ_CST);
	return true;
}

static void ktap_case(const char *name, const char *skip, bool ok, const char *why)
{
	ktap_n++;
	if (skip)
		kprintf("ok %u %s # SKIP %s\n", ktap_n, name, skip);
	else if (ok)
		kprintf("ok %u %s\n", ktap_n, name);
	else {
		kprintf("not ok %u %s # %s\n", ktap_n, name, why);
		failed_n++;
	}
}

/* A case that does not apply here: its SKIP line; true if so. */
static bool skipped(const char *name, const char *why)
{
	if (why)
		ktap_case(name, why, true, 0);
	return why != 0;
}

static u64 ms_to_tsc(u64 ms) { return ms * tsc_khz; }

static bool wait_u32(volatile u32 *p, u32 want, u64 ms)
{
	u64 t0 = x86_rdtsc();
	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want)
		if (x86_rdtsc() - t0 > ms_to_tsc(ms))
			return false;
		else
			x86_pause();
	return true;
}

static void delay_ms(u64 ms) { tsc_delay_us(ms * 1000); }

static void ap_entry(void *arg)
{
	(void)arg;
	unsigned cpu = this_cpu()->index;
	if (ap_fn)
		ap_fn(cpu);
}

/* Start fn on every AP (each decides by its index whether it has a part). */
static void start_aps(void (*fn)(unsigned cpu))
{
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		stage[i] = 0;
		stamp[i] = 0;
		result[i] = 0;
	}
	ap_fn = fn;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	smp_run_all_async(ap_entry, 0);
}

/* Wait for every AP to finish its part, at most ms; a subject that never returns ends the suite. */
static void join_aps(const char *name, u64 ms)
{
	if (smp_wait_all_ms(ms)) {
		/* Every backstop NMI sent is taken before the next case (an idle AP wakes for it). */
		u64 t0 = x86_rdtsc();
		for (unsigned i = 1; i < cpus_online; i++)
			while (nmi_got[i] < nmi_sent[i] && x86_rdtsc() - t0 < ms_to_tsc(2000))
				x86_pause();
		return;
	}
	kprintf("# conform: %s: a subject vCPU did not return within %lu ms of its backstop; "
		"per-vCPU stage:", name, ms);
	for (unsigned i = 1; i < cpus_online; i++)
		kprintf(" cpu%u=%u", i, stage[i]);
	kprintf("\n");
	ktap_case(name, 0, false, "a vCPU stuck in the hypervisor: no later case can run");
	kprintf("# pvtick: FAIL\n");
	machine_exit(false);
}

/* ---- both ---- */

/*
 * Hypervisor CPUID leaves. xen/include/public/arch-x86/cpuid.h: "the Xen
 * cpuid leaves can be found at the first otherwise unused 0x100 aligned
 * boundary starting from 0x40000000" (Xen moves up for Viridian);
 * Documentation/virt/kvm/x86/cpuid.rst gives KVM's signature leaf and its
 * EAX (the largest leaf), and QEMU moves KVM's to 0x40000100 under Hyper-V
 * enlightenments or its Xen emulation. Every base with a signature is logged
 * in order; a base whose EAX is below it or past its 0x100 block is
 * malformed (cpuid.rst: an EAX of 0 from old hosts means 0x40000001).
 */
static void case_leaves(void)
{
	static const char name[] = "hypervisor_leaves";
	if (!(x86_cpuid(1, 0).ecx & CPUID1_ECX_HYPERVISOR)) {
		ktap_case(name, "CPUID.1:ECX bit 31 (hypervisor) clear", true, 0);
		return;
	}
	unsigned found = 0, bad = 0;
	for (u32 base = 0x40000000; base < 0x40010000; base += 0x100) {
		struct cpuid_regs r = x86_cpuid(base, 0);
		char sig[13];
		__builtin_memcpy(sig, &r.ebx, 4);
		__builtin_memcpy(sig + 4, &r.ecx, 4);
		__builtin_memcpy(sig + 8, &r.edx, 4);
		sig[12] = 0;
		bool printable = sig[0] != 0;
		for (int i = 0; i < 12 && sig[i]; i++)
			printable &= sig[i] >= 0x20 && sig[i] < 0x7f;
		if (!printable)
			continue;
		bool ok = (r.eax >= base && r.eax < base + 0x100) || r.eax == 0;
		if (inject && found == 0) {
			kprintf("# inject: conform: the first base's EAX read as %x\n", base - 1);
			ok = false;
		}
		kprintf("# conform: %s: %x \"%s\" largest leaf %x%s\n", name, base, sig, r.eax,
			ok ? "" : " (outside its block: malformed)");
		found++;
		bad += !ok;
	}
	kprintf("# conform: %s: %u signature(s); ref xen/include/public/arch-x86/cpuid.h, "
		"Documentation/virt/kvm/x86/cpuid.rst\n", name, found);
	ktap_case(name, 0, bad == 0, "a signature's largest leaf is outside its 0x100 block");
}

/*
 * The TSC rate a hypervisor leaf reports, against a clock that does not come
 * from that leaf (arch/tsc.c: the PIT; under Xen without a PIT, Xen's own time
 * scale). Refused beyond 10%: the run then uses the clock that held up.
 */
static void case_tsc(void)
{
	static const char name[] = "tsc_leaf_vs_clock";
	if (!tsc_leaf_khz) {
		ktap_case(name, "no CPUID leaf reports a TSC rate", true, 0);
		return;
	}
	if (!tsc_leaf_checked) {
		if (tsc_leaf_check[0])
			kprintf("# conform: %s: %s\n", name, tsc_leaf_check);
		ktap_case(name, "no independent clock to hold the leaf to (no PIT, no hypervisor time scale)", true, 0);
		return;
	}
	kprintf("# conform: %s: %s; the run uses %lu kHz (%s); ref xen/include/public/arch-x86/cpuid.h "
		"(Leaf 4, 0x40000x03 sub-leaf 0 ECX), Intel SDM CPUID.15H\n", name, tsc_leaf_check, tsc_khz, tsc_source);
	ktap_case(name, 0, !tsc_leaf_refused, "the leaf's TSC rate is wrong");
}

/* ---- KVM ---- */

static u32 kvm_base_leaf;

static bool kvm_has(unsigned feature)
{
	return x86_cpuid(kvm_base_leaf + (KVM_CPUID_FEATURES - KVM_CPUID_SIGNATURE), 0).eax & (1u << feature);
}

static const char *kvm_skip(bool need_unhalt)
{
	if (!kvm_base_leaf)
		return "not KVM";
	if (cpus_online < 2)
		return "needs 2 vCPUs";
	if (need_unhalt && !kvm_has(KVM_FEATURE_PV_UNHALT))
		return "KVM_FEATURE_PV_UNHALT not advertised";
	return 0;
}

static void kick(unsigned cpu) { result[0] = kvm_hypercall2(KVM_HC_KICK_CPU, 0, cpus[cpu].apic_id); }

/* HLT with interrupts off; true if it ended without one of the BSP's NMIs. */
static bool halt_once(unsigned cpu)
{
	u32 before = __atomic_load_n(&nmi_got[cpu], __ATOMIC_SEQ_CST);
	x86_hlt();
	return __atomic_load_n(&nmi_got[cpu], __ATOMIC_SEQ_CST) == before;
}

/*
 * The BSP's backstop: if the subject has not reached stage `want` within ms,
 * an NMI ends its HLT (again after 1 s, three times at most: an NMI taken just
 * before the HLT began ends nothing). Returns true if it sent any.
 */
static bool backstop_nmi(unsigned cpu, u32 want, u64 ms)
{
	if (wait_u32(&stage[cpu], want, ms))
		return false;
	for (int i = 0; i < 3 && __atomic_load_n(&stage[cpu], __ATOMIC_ACQUIRE) < want; i++) {
		__atomic_fetch_add(&nmi_sent[cpu], 1, __ATOMIC_SEQ_CST);
		apic_send_nmi(cpus[cpu].apic_id);
		if (wait_u32(&stage[cpu], want, 1000))
			break;
	}
	return true;
}

/*
 * KVM_HC_KICK_CPU sent while A runs (interrupts off) is kept: A's next HLT
 * returns at once. hypercalls.rst says only that the hypercall wakes a vCPU
 * from HLT, and cpuid.rst that PV_UNHALT is what a guest checks "before
 * enabling paravirtualized spinlock support"; that a kick sent before the
 * HLT is kept is what every PV lock's wait relies on (Linux's kvm_wait halts
 * after its last check): KVM keeps it in pv_unhalted (arch/x86/kvm/lapic.c).
 * Three rounds; stages of A in round r: 3r+1 spinning with interrupts off,
 * 3r+2 about to halt, 3r+3 the HLT ended.
 */
#define BEFORE_ROUNDS 3
static volatile u32 go;
static bool before_at_once[BEFORE_ROUNDS];
static void ap_kick_before_halt(unsigned cpu)
{
	if (cpu != A)
		return;
	x86_cli();
	for (u32 r = 0; r < BEFORE_ROUNDS; r++) {
		__atomic_store_n(&stage[cpu], 3 * r + 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&go, __ATOMIC_ACQUIRE) <= r)
			x86_pause();
		__atomic_store_n(&stage[cpu], 3 * r + 2, __ATOMIC_RELEASE);
		before_at_once[r] = halt_once(cpu);
		__atomic_store_n(&stage[cpu], 3 * r + 3, __ATOMIC_RELEASE);
	}
	x86_sti();
}

static void case_kvm_kick_before_halt(void)
{
	static const char name[] = "kvm_kick_before_halt";
	if (skipped(name, kvm_skip(true)))
		return;
	long rc = 0;
	unsigned at_once = 0;
	go = 0;
	start_aps(ap_kick_before_halt);
	for (u32 r = 0; r < BEFORE_ROUNDS; r++) {
		wait_u32(&stage[A], 3 * r + 1, 5000);
		if (inject && r == 0)
			kprintf("# inject: conform: %s: the kick is not sent\n", name);
		if (!inject)
			kick(A);
		rc |= result[0];
		__atomic_store_n(&go, r + 1, __ATOMIC_RELEASE);
		backstop_nmi(A, 3 * r + 3, 2000);
	}
	join_aps(name, 2000);
	for (u32 r = 0; r < BEFORE_ROUNDS; r++)
		at_once += before_at_once[r];
	kprintf("# conform: %s: %u rounds: KICK_CPU (rc=%ld) while cpu %u ran with interrupts off; its next HLT "
		"returned at once in %u, only on the NMI backstop (2 s) in %u; ref "
		"Documentation/virt/kvm/x86/hypercalls.rst (KVM_HC_KICK_CPU), cpuid.rst (PV_UNHALT)\n", name,
		BEFORE_ROUNDS, rc, A, at_once, BEFORE_ROUNDS - at_once);
	ktap_case(name, 0, rc == 0 && at_once == BEFORE_ROUNDS, "a kick sent before the HLT was lost");
}

/*
 * Rounds of the wake-up and the consumed-kick probe, then as many control HLTs
 * with no kick at all. Stages of A in round r: 10r+1 about to halt (HLT 1,
 * for the kick); 10r+2 HLT 1 ended; 10r+3 HLT 2 (the probe) ended. Control c:
 * 200+10c+1 about to halt, 200+10c+2 ended.
 */
#define ROUNDS 10
static struct {
	bool woke[ROUNDS];      /* HLT 1 ended without the NMI ... */
	bool after_kick[ROUNDS]; /* ... after the kick was sent */
	bool probe_at_once[ROUNDS]; /* HLT 2 ended without the NMI */
	bool control_at_once[ROUNDS];
} kr;
static volatile u32 kicked; /* round r's kick is on its way: r + 1 */

static void ap_kick_rounds(unsigned cpu)
{
	if (cpu != A)
		return;
	x86_cli();
	for (u32 r = 0; r < ROUNDS; r++) {
		__atomic_store_n(&stage[cpu], 10 * r + 1, __ATOMIC_RELEASE);
		kr.woke[r] = halt_once(cpu);
		kr.after_kick[r] = __atomic_load_n(&kicked, __ATOMIC_SEQ_CST) > r;
		__atomic_store_n(&stage[cpu], 10 * r + 2, __ATOMIC_RELEASE);
		kr.probe_at_once[r] = halt_once(cpu);
		__atomic_store_n(&stage[cpu], 10 * r + 3, __ATOMIC_RELEASE);
	}
	for (u32 c = 0; c < ROUNDS; c++) {
		__atomic_store_n(&stage[cpu], 200 + 10 * c + 1, __ATOMIC_RELEASE);
		kr.control_at_once[c] = halt_once(cpu);
		__atomic_store_n(&stage[cpu], 200 + 10 * c + 2, __ATOMIC_RELEASE);
	}
	x86_sti();
}

/*
 * A vCPU halted with interrupts off is woken by KVM_HC_KICK_CPU (the wake-up
 * latency is reported, on the kicker's clock: from before the hypercall until
 * it sees the subject's first store after its HLT), and the consumed kick does
 * not linger: the subject's next HLT blocks until the NMI backstop (Linux
 * 2025, "KVM: x86: Clear pv_unhalted on all transitions to
 * KVM_MP_STATE_RUNNABLE", fixed paths where it lingered). A HLT with
 * interrupts off can also end for no reason a guest can see (the nested
 * hypervisor here does it now and then; a PV lock survives it and counts it):
 * so each is done ROUNDS times, and the probe is compared with as many
 * control HLTs that follow no kick at all. A kick that lingers ends the probe
 * at once in (nearly) every round; spurious wake-ups end control HLTs too.
 */
static void case_kvm_kick_halted(void)
{
	static const char n1[] = "kvm_kick_wakes_halted", n2[] = "kvm_kick_consumed";
	const char *skip = kvm_skip(true);
	if (skip) {
		ktap_case(n1, skip, true, 0);
		ktap_case(n2, skip, true, 0);
		return;
	}
	u64 sent[ROUNDS], seen[ROUNDS]; /* BSP's TSC: kick sent, A's wake-up seen (one clock) */
	long rc = 0;
	unsigned lost = 0, before = 0, probe = 0, control = 0;
	kicked = 0;
	start_aps(ap_kick_rounds);
	for (u32 r = 0; r < ROUNDS; r++) {
		wait_u32(&stage[A], 10 * r + 1, 5000);
		delay_ms(20); /* A is in its HLT by now, or reaches it with the kick pending: both must wake */
		sent[r] = x86_rdtsc();
		__atomic_store_n(&kicked, r + 1, __ATOMIC_SEQ_CST);
		if (inject && r == 0)
			kprintf("# inject: conform: %s: no kick is sent; %s: a second kick imitates a lingering one\n",
				n1, n2);
		if (!inject)
			kick(A);
		rc |= result[0];
		backstop_nmi(A, 10 * r + 2, 2000);
		seen[r] = x86_rdtsc();
		if (inject)
			kick(A);
		backstop_nmi(A, 10 * r + 3, 200);
	}
	for (u32 c = 0; c < ROUNDS; c++) {
		wait_u32(&stage[A], 200 + 10 * c + 1, 5000);
		backstop_nmi(A, 200 + 10 * c + 2, 200);
	}
	join_aps(n1, 5000);
	u64 lat_min = ~0ull, lat_max = 0;
	for (u32 r = 0; r < ROUNDS; r++) {
		lost += !kr.woke[r];
		before += kr.woke[r] && !kr.after_kick[r];
		probe += kr.probe_at_once[r];
		control += kr.control_at_once[r];
		if (kr.woke[r] && kr.after_kick[r]) {
			u64 l = seen[r] - sent[r];
			lat_min = l < lat_min ? l : lat_min;
			lat_max = l > lat_max ? l : lat_max;
		}
	}
	kprintf("# conform: %s: %u rounds, KICK_CPU rc=%ld: %u woken by the kick, %u before it was sent (spurious), "
		"%u only by the NMI backstop (2 s); kick to the wake-up seen by the kicker %lu..%lu us; ref "
		"Documentation/virt/kvm/x86/hypercalls.rst (KVM_HC_KICK_CPU)\n", n1, ROUNDS, rc,
		ROUNDS - lost - before, before, lost, lat_min == ~0ull ? 0 : lat_min * 1000 / tsc_khz,
		lat_max * 1000 / tsc_khz);
	ktap_case(n1, 0, rc == 0 && lost == 0, "a halted vCPU was not woken by KVM_HC_KICK_CPU");
	kprintf("# conform: %s: the HLT after a kick's wake-up returned at once in %u of %u rounds, a HLT after "
		"no kick in %u of %u (spurious wake-ups); not ok from %u more; ref "
		"Documentation/virt/kvm/x86/cpuid.rst (PV_UNHALT)\n", n2, probe, ROUNDS, control, ROUNDS, ROUNDS / 2);
	ktap_case(n2, 0, probe < control + ROUNDS / 2, "a consumed kick lingered: the next HLT returned at once");
}

/*
 * KVM_HC_KICK_CPU for an APIC id no vCPU has: a defined return value (0:
 * hypercalls.rst defines no error for it, and KVM delivers the wake-up to no
 * one), nobody woken (A stays halted 100 ms), and a real kick still works
 * afterwards. The id is never 0xff, which xAPIC reads as broadcast. Three
 * rounds; a kick that reaches A wakes it in every one, a spurious wake-up in
 * one at most. Stages of A in round r: 2r+1 about to halt, 2r+2 the HLT ended.
 */
#define GHOST_ROUNDS 3
static bool ghost_woke_alone[GHOST_ROUNDS];
static void ap_halt_rounds(unsigned cpu)
{
	if (cpu != A)
		return;
	x86_cli();
	for (u32 r = 0; r < GHOST_ROUNDS; r++) {
		__atomic_store_n(&stage[cpu], 2 * r + 1, __ATOMIC_RELEASE);
		ghost_woke_alone[r] = halt_once(cpu);
		__atomic_store_n(&stage[cpu], 2 * r + 2, __ATOMIC_RELEASE);
	}
	x86_sti();
}

static void case_kvm_kick_nobody(void)
{
	static const char name[] = "kvm_kick_no_such_apic";
	if (skipped(name, kvm_skip(true)))
		return;
	u32 max = 0;
	for (unsigned i = 0; i < cpus_online; i++)
		max = cpus[i].apic_id > max ? cpus[i].apic_id : max;
	u32 ghost = max + 1 == 0xff ? max + 2 : max + 1; /* never xAPIC's broadcast 0xff */
	u32 target = ghost;
	if (inject) {
		kprintf("# inject: conform: %s: the kick goes to cpu %u's APIC id instead\n", name, A);
		target = cpus[A].apic_id;
	}
	long rc = 0;
	unsigned woken = 0, real_ok = 0;
	start_aps(ap_halt_rounds);
	for (u32 r = 0; r < GHOST_ROUNDS; r++) {
		wait_u32(&stage[A], 2 * r + 1, 5000);
		delay_ms(20);
		rc |= kvm_hypercall2(KVM_HC_KICK_CPU, 0, target);
		bool w = wait_u32(&stage[A], 2 * r + 2, 100);
		woken += w;
		if (!w) {
			kick(A);
			backstop_nmi(A, 2 * r + 2, 2000);
			real_ok += ghost_woke_alone[r];
		}
	}
	join_aps(name, 2000);
	kprintf("# conform: %s: %u rounds: KICK_CPU(apic id %u) rc=%ld; the halted vCPU woke within 100 ms in %u; "
		"then a real kick woke it in %u of %u; ref Documentation/virt/kvm/x86/hypercalls.rst\n", name,
		GHOST_ROUNDS, ghost, rc, woken, real_ok, GHOST_ROUNDS - woken);
	ktap_case(name, 0, rc == 0 && woken < GHOST_ROUNDS && real_ok == GHOST_ROUNDS - woken,
		  "a kick for no vCPU woke one, or failed, or a real kick then did not wake it");
}

/*
 * An unknown hypercall number returns -KVM_ENOSYS (Documentation/virt/kvm/x86/
 * hypercalls.rst: "If the hypercall ... is not implemented, -KVM_ENOSYS");
 * and with PV_UNHALT hidden while PV-feature enforcement is on
 * (KVM_CAP_ENFORCE_PV_FEATURE_CPUID, Documentation/virt/kvm/api.rst),
 * KVM_HC_KICK_CPU does too.
 */
static void case_kvm_enosys(void)
{
	static const char n1[] = "kvm_unknown_hypercall", n2[] = "kvm_kick_hidden_enforced";
	const char *skip = kvm_skip(false);
	if (skip) {
		ktap_case(n1, skip, true, 0);
	} else {
		long rc = kvm_hypercall2(0xfff0, 0, 0);
		if (inject) {
			kprintf("# inject: conform: %s: rc read as 0\n", n1);
			rc = 0;
		}
		kprintf("# conform: %s: hypercall 0xfff0 rc=%ld (want %d); ref "
			"Documentation/virt/kvm/x86/hypercalls.rst\n", n1, rc, -KVM_ENOSYS);
		ktap_case(n1, 0, rc == -KVM_ENOSYS, "an unknown hypercall did not return -KVM_ENOSYS");
	}
	if (!skip && kvm_has(KVM_FEATURE_PV_UNHALT))
		skip = "KVM_FEATURE_PV_UNHALT advertised (boot with kvm-pv-unhalt=off,kvm-pv-enforce-cpuid=on)";
	if (skip) {
		ktap_case(n2, skip, true, 0);
		return;
	}
	long rc = kvm_hypercall2(KVM_HC_KICK_CPU, 0, cpus[A].apic_id); /* A idles: a kick is harmless */
	if (inject) {
		kprintf("# inject: conform: %s: rc read as 0\n", n2);
		rc = 0;
	}
	kprintf("# conform: %s: PV_UNHALT hidden, KICK_CPU rc=%ld (want %d with enforcement on); ref "
		"Documentation/virt/kvm/api.rst (KVM_CAP_ENFORCE_PV_FEATURE_CPUID)\n", n2, rc, -KVM_ENOSYS);
	ktap_case(n2, 0, rc == -KVM_ENOSYS, "a hidden hypercall was served (PV-feature enforcement off, which "
		  "the guest cannot see, or not kept)");
}

static volatile u32 spin_stop;
static void ap_spin(unsigned cpu)
{
	__atomic_store_n(&stage[cpu], 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE))
		x86_pause();
}

/* A consistent copy of a steal-time record: the version even and unchanged around the read. */
static bool steal_read(const volatile struct kvm_steal_time *st, u64 *steal, u8 *preempted, u32 *version)
{
	u64 t0 = x86_rdtsc();
	while (x86_rdtsc() - t0 < ms_to_tsc(20)) { /* KVM may be descheduled mid-update: time, not tries */
		u32 v1 = __atomic_load_n(&st->version, __ATOMIC_ACQUIRE);
		u64 s = st->steal;
		u8 p = st->preempted;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		u32 v2 = st->version;
		if (v1 == v2 && !(v1 & 1)) {
			*steal = s;
			*preempted = p;
			*version = v1;
			return true;
		}
		x86_pause();
	}
	return false;
}

/*
 * Steal time (Documentation/virt/kvm/x86/msr.rst, MSR_KVM_STEAL_TIME): the
 * version is even when the record is stable, `preempted` is clear for the
 * vCPU reading its own record, and with more vCPUs than CPUs another vCPU's
 * record is seen preempted and its steal grows. The APs spin 1 s; the BSP
 * samples every record.
 */
static void case_kvm_steal(void)
{
	static const char name[] = "kvm_steal_time";
	const char *skip = kvm_skip(false);
	if (!skip && !kvm_has(KVM_FEATURE_STEAL_TIME))
		skip = "KVM_FEATURE_STEAL_TIME not advertised";
	if (!skip && !kvm_steal_record(0))
		skip = "steal time not registered: the KVM backend did not start (see its pv: line), or preempt=off";
	if (skip) {
		ktap_case(name, skip, true, 0);
		return;
	}
	u64 s0[MAX_CPUS], s1[MAX_CPUS];
	u32 v;
	u8 p;
	unsigned unstable = 0, self_preempted = 0, seen_preempted = 0, grew = 0, samples = 0;
	for (unsigned i = 0; i < cpus_online; i++)
		unstable += !steal_read(kvm_steal_record(i), &s0[i], &p, &v);
	spin_stop = 0;
	start_aps(ap_spin);
	u64 t0 = x86_rdtsc();
	while (x86_rdtsc() - t0 < ms_to_tsc(1000)) {
		for (unsigned i = 0; i < cpus_online; i++) {
			u64 s;
			if (!steal_read(kvm_steal_record(i), &s, &p, &v)) {
				unstable++;
				continue;
			}
			if (inject && i == 0 && samples == 0) {
				kprintf("# inject: conform: %s: the BSP's own record read as preempted\n", name);
				p = KVM_VCPU_PREEMPTED;
			}
			if (i == 0)
				self_preempted += (p & KVM_VCPU_PREEMPTED) != 0;
			else
				seen_preempted += (p & KVM_VCPU_PREEMPTED) != 0;
		}
		samples++;
		delay_ms(1);
	}
	__atomic_store_n(&spin_stop, 1, __ATOMIC_RELEASE);
	join_aps(name, 2000);
	for (unsigned i = 0; i < cpus_online; i++) {
		unstable += !steal_read(kvm_steal_record(i), &s1[i], &p, &v);
		grew += s1[i] > s0[i];
	}
	kprintf("# conform: %s: %u vCPUs busy 1 s, %u samples: %u unstable reads (odd or changing version), "
		"own record preempted %u times, others' %u times, steal grew on %u vCPU(s); ref "
		"Documentation/virt/kvm/x86/msr.rst (MSR_KVM_STEAL_TIME)\n", name, cpus_online, samples, unstable,
		self_preempted, seen_preempted, grew);
	ktap_case(name, 0, !unstable && !self_preempted && seen_preempted && grew,
		  unstable ? "a record never read stable" : self_preempted ? "a running vCPU read itself preempted" :
		  "no vCPU seen preempted, or no steal, with more vCPUs busy than CPUs");
}

/* ---- Xen ---- */

static const char *xen_skip(unsigned need_cpus)
{
	if (!x86_hypervisor_base("XenVMMXenVMM"))
		return "not Xen";
	if (!xen_ready())
		return "the Xen backend did not start (pvlock=off, or it failed: see its line)";
	if (cpus_online < need_cpus)
		return need_cpus == 2 ? "needs 2 vCPUs" : "needs 3 vCPUs";
	for (unsigned i = 0; i < cpus_online; i++)
		if (!xen_time_ok(i))
			return "a vCPU without a time record (past XEN_LEGACY_MAX_VCPUS)";
	return 0;
}

/* The case's subject polls these ports with this deadline (ns after its own now). */
static evtchn_port_t poll_ports[4];
static unsigned poll_n;
static u64 poll_ns;
static bool poll_send_self, poll_clear_first, poll_all; /* poll_all: every AP polls its own port */
static bool poll_past; /* the deadline is half the current system time: long gone */
/*
 * poll_until_sent: a poll that returns before the BSP's send (poll_sent) and
 * before its deadline is made again, counted in poll_spurious: with a callback
 * vector registered Xen may end a poll for an upcall (do_poll checks
 * local_events_need_delivery), which is not what the case asks about.
 */
static bool poll_until_sent;
static volatile bool poll_sent;
static volatile u32 poll_spurious;

static bool early(unsigned cpu);

/* Stages: 1 about to poll; 2 returned. stamp = Xen time at return, result = rc; deadline and
 * the time the poll began kept. */
static volatile u64 deadline[MAX_CPUS], begun[MAX_CPUS];
static void ap_poll(unsigned cpu)
{
	if (cpu != A && !poll_all)
		return;
	evtchn_port_t own = xen_cpu_port(cpu);
	const evtchn_port_t *ports = poll_n ? poll_ports : &own;
	unsigned n = poll_n ? poll_n : 1;
	if (poll_clear_first)
		for (unsigned i = 0; i < n; i++)
			xen_port_clear(ports[i]);
	if (poll_send_self)
		result[cpu] = xen_send(ports[0]);
	if (inject && poll_send_self) {
		kprintf("# inject: conform: xen_poll_pending: the pending bit is cleared before the poll\n");
		xen_port_clear(ports[0]);
	}
	begun[cpu] = xen_now(cpu);
	deadline[cpu] = poll_past ? begun[cpu] / 2 : begun[cpu] + poll_ns;
	__atomic_store_n(&stage[cpu], 1, __ATOMIC_RELEASE);
	for (;;) {
		result[cpu] = xen_poll(ports, n, deadline[cpu]);
		stamp[cpu] = xen_now(cpu);
		if (!poll_until_sent || __atomic_load_n(&poll_sent, __ATOMIC_ACQUIRE) || !early(cpu))
			break;
		poll_spurious++;
	}
	__atomic_store_n(&stage[cpu], 2, __ATOMIC_RELEASE);
}

/*
 * The BSP's backstop for a poll that outlives its deadline: after ms, clear
 * the port and send to it (a send to a port already pending wakes no poller).
 */
static bool backstop_send(unsigned cpu, evtchn_port_t port, u64 ms)
{
	if (wait_u32(&stage[cpu], 2, ms))
		return false;
	xen_port_clear(port);
	xen_send(port);
	wait_u32(&stage[cpu], 2, 1000);
	return true;
}

/*
 * Each vCPU reads Xen system time from its own time record, and records of
 * different pCPUs disagree by milliseconds under QEMU TCG (7 ms seen): a poll
 * "returned early" only if it returned this much before its deadline, and it
 * "returned at its timeout" if not this much before it.
 */
#define MARGIN_NS 10000000ull
static bool early(unsigned cpu) { return stamp[cpu] + MARGIN_NS < deadline[cpu]; }

/* Before a send meant to wake a poller: wait (1 s at most) until Xen shows it blocked, if it can. */
static void wait_blocked(unsigned cpu)
{
	const volatile struct vcpu_runstate_info *r = xen_runstate(cpu);
	u64 t0 = x86_rdtsc();
	if (r->state_entry_time)
		while (r->state != RUNSTATE_blocked && stage[cpu] < 2 && x86_rdtsc() - t0 < ms_to_tsc(1000))
			x86_pause();
	delay_ms(5);
}

/*
 * SCHEDOP_poll (xen/include/public/sched.h): "Poll a set of event-channel
 * ports. Return when one or more are pending. An optional timeout may be
 * specified." A port already pending makes it return at once; with nothing
 * pending it returns at the timeout, not before.
 */
static void case_xen_poll_pending_and_timeout(void)
{
	static const char n1[] = "xen_poll_pending", n2[] = "xen_poll_timeout";
	const char *skip = xen_skip(2);
	if (skip) {
		ktap_case(n1, skip, true, 0);
		ktap_case(n2, skip, true, 0);
		return;
	}
	evtchn_port_t p = xen_cpu_port(A);
	poll_n = 0, poll_ns = 2000000000ull, poll_send_self = true, poll_clear_first = true;
	start_aps(ap_poll);
	bool backstop = backstop_send(A, p, 3000);
	join_aps(n1, 2000);
	kprintf("# conform: %s: port %u pending before SCHEDOP_poll(2 s): rc=%ld, returned %s; ref "
		"xen/include/public/sched.h (SCHEDOP_poll)\n", n1, p, result[A],
		backstop ? "only on the backstop send (3 s)" : early(A) ? "at once" : "at the deadline");
	ktap_case(n1, 0, !backstop && early(A) && result[A] == 0, "a pending port did not end the poll at once");

	poll_ns = 50000000ull, poll_send_self = false;
	if (inject) {
		kprintf("# inject: conform: %s: the port is made pending before the poll\n", n2);
		xen_send(p);
		poll_clear_first = false;
	}
	start_aps(ap_poll);
	backstop = backstop_send(A, p, 3000);
	join_aps(n2, 2000);
	poll_clear_first = true;
	s64 late = (s64)(stamp[A] - deadline[A]);
	bool on_time = late >= -(s64)MARGIN_NS;
	kprintf("# conform: %s: nothing pending, SCHEDOP_poll(timeout 50 ms): rc=%ld, returned %ld us %s the "
		"deadline (its own clock; 10 ms allowed before)%s; ref xen/include/public/sched.h (sched_poll.timeout; "
		"an absolute system time: xen/common/sched/core.c do_poll)\n", n2, result[A],
		(late < 0 ? -late : late) / 1000, late < 0 ? "before" : "after",
		backstop ? ", only on the backstop send (3 s)" : "");
	bool part1 = !backstop && on_time && result[A] == 0;
	if (!part1 && !inject) {
		ktap_case(n2, 0, false, "the poll did not return at its timeout");
		return;
	}

	/*
	 * The timeout is an absolute system time (do_poll hands it to set_timer):
	 * one already past ends the poll at once. Taken as a duration it would
	 * last about as long as the system has been up. Conclusive only if that
	 * is long (100 ms at least); 3 rounds, one that returns within half of it
	 * is enough (a vCPU descheduled in every round could hide the answer).
	 */
	bool at_once = false, conclusive = false;
	u64 took = 0, dl = 0;
	poll_past = !inject;
	if (inject) {
		kprintf("# inject: conform: %s: the \"past\" deadline is 300 ms ahead\n", n2);
		poll_ns = 300000000ull;
	}
	for (int round = 0; round < 3 && !at_once; round++) {
		start_aps(ap_poll);
		backstop = backstop_send(A, p, 3000);
		join_aps(n2, 2000);
		dl = deadline[A];
		took = stamp[A] - begun[A];
		conclusive = dl >= 200000000ull;
		/* At once: within 100 ms (TCG preempts), and well before what a duration would last. */
		at_once = conclusive && !backstop && result[A] == 0 && took < 100000000ull && took < dl / 2;
	}
	poll_past = false;
	kprintf("# conform: %s: a deadline already past (system time %lu ms, half of now): the poll took %lu ms%s%s\n",
		n2, dl / 1000000, took / 1000000, at_once ? ", at once" : conclusive ? " in every round of 3: the "
		"timeout was taken as a duration, not an absolute time" : "", conclusive ? "" : " (inconclusive: "
		"the system has not been up 200 ms)");
	ktap_case(n2, 0, part1 && at_once, !part1 ? "the poll did not return at its timeout"
					   : conclusive ? "the timeout is not an absolute system time"
					   : "inconclusive: the system time is too young to tell");
}

/*
 * A masked port polled by A is woken by EVTCHNOP_send from B (event_channel.h:
 * EVTCHNOP_send; sched.h: SCHEDOP_poll), its pending bit set and no upcall
 * flagged (the port is masked: xen.h, "evtchn_mask ... prevents upcalls").
 * And a poll of several ports returns when any one of them is sent to (on
 * Xen a poller of several ports wakes on a send to any port of its domain,
 * xen/common/event_channel.c evtchn_check_pollers: the case cannot tell which
 * ports Xen watches, only that the second one counts).
 */
static void case_xen_poll_send(void)
{
	static const char n1[] = "xen_poll_masked_send", n2[] = "xen_poll_any_port";
	const char *skip = xen_skip(2);
	if (skip) {
		ktap_case(n1, skip, true, 0);
		ktap_case(n2, skip, true, 0);
		return;
	}
	evtchn_port_t p = xen_cpu_port(A);
	xen_upcall_clear(A);
	u64 upcalls0 = xen_upcalls(A);
	poll_n = 0, poll_ns = 2000000000ull, poll_send_self = false, poll_clear_first = true;
	start_aps(ap_poll);
	wait_u32(&stage[A], 1, 5000);
	wait_blocked(A);
	long rc = 0;
	if (inject)
		kprintf("# inject: conform: %s: the event is not sent\n", n1);
	else
		rc = xen_send(p);
	bool backstop = backstop_send(A, p, 3000);
	join_aps(n1, 2000);
	bool pend = xen_port_pending(p);
	/* An upcall flagged: still pending, or taken by A's callback vector handler (which clears it). */
	u64 taken = xen_upcalls(A) - upcalls0;
	u8 upcall = xen_upcall_pending(A) || taken;
	kprintf("# conform: %s: B sent to A's masked port %u (rc=%ld): A's poll %s, pending=%u, "
		"evtchn_upcall_pending=%u, callback vector taken %lu time(s); ref xen/include/public/event_channel.h "
		"(EVTCHNOP_send)\n", n1, p, rc,
		backstop ? "returned only on the backstop send" : early(A) ? "returned" : "ran to its deadline",
		pend, xen_upcall_pending(A), taken);
	ktap_case(n1, 0, rc == 0 && !backstop && early(A) && pend && !upcall,
		  "a send to a masked polled port did not end the poll, or flagged an upcall");

	evtchn_port_t q;
	rc = xen_bind_ipi(xen_cpu_vcpu(A), &q);
	if (rc) {
		kprintf("# conform: %s: EVTCHNOP_bind_ipi for a second port failed (%ld)\n", n2, rc);
		ktap_case(n2, 0, false, "could not bind a second port");
		return;
	}
	xen_port_mask(q, true);
	poll_ports[0] = p, poll_ports[1] = q, poll_n = 2;
	start_aps(ap_poll);
	wait_u32(&stage[A], 1, 5000);
	wait_blocked(A);
	if (inject)
		kprintf("# inject: conform: %s: the event is not sent\n", n2);
	else
		rc = xen_send(q);
	backstop = backstop_send(A, q, 3000);
	join_aps(n2, 2000);
	poll_n = 0;
	kprintf("# conform: %s: A polled ports %u and %u, B sent to %u (rc=%ld): the poll %s; ref "
		"xen/include/public/sched.h (SCHEDOP_poll: \"one or more\")\n", n2, p, q, q, rc,
		backstop ? "returned only on the backstop send" : early(A) ? "returned" : "ran to its deadline");
	ktap_case(n2, 0, rc == 0 && !backstop && early(A), "a send to the second polled port did not end the poll");
	xen_port_clear(q);
	xen_close(q);
}

/*
 * An event on an unmasked port that A does not poll, while A polls its masked
 * port. No header says what happens; Xen's behaviour is the reference, any
 * other is a divergence. pvtick registers a callback vector (xen/xen.c, step
 * 3), so the event is an upcall for A: Xen sets evtchn_upcall_pending and kicks
 * A (xen/common/event_channel.c, evtchn_2l_set_pending -> vcpu_mark_events_pending
 * -> hvm_assert_evtchn_irq -> vcpu_kick), which ends its poll early; A then
 * takes the vector (measured: make conform, xen-4.17 and xen-4.20 columns;
 * without a callback vector Xen 4.17 ran the poll to its deadline).
 */
#define XEN_UNPOLLED_WAKES true
static void case_xen_poll_unpolled(void)
{
	static const char name[] = "xen_poll_unmasked_other";
	if (skipped(name, xen_skip(2)))
		return;
	evtchn_port_t q;
	long rc = xen_bind_ipi(xen_cpu_vcpu(A), &q);
	if (rc) {
		kprintf("# conform: %s: EVTCHNOP_bind_ipi failed (%ld)\n", name, rc);
		ktap_case(name, 0, false, "could not bind a second port");
		return;
	}
	/* Conclusive only if A was still polling when the send was made: else once more, 3 tries. */
	bool woke = false, backstop = false, polling = false;
	u8 upcall = 0;
	u64 upcalls0 = xen_upcalls(A);
	for (int attempt = 0; attempt < 3 && !polling; attempt++) {
		xen_port_clear(q);
		xen_port_mask(q, false);
		xen_upcall_clear(A);
		poll_n = 0, poll_ns = 500000000ull, poll_send_self = false, poll_clear_first = true;
		poll_until_sent = true, poll_sent = false, poll_spurious = 0;
		start_aps(ap_poll);
		wait_u32(&stage[A], 1, 5000);
		wait_blocked(A);
		/*
		 * Still polling right before the send (read after it, a wake by
		 * the send itself would look like a poll that ended before it).
		 */
		polling = __atomic_load_n(&stage[A], __ATOMIC_ACQUIRE) == 1;
		__atomic_store_n(&poll_sent, true, __ATOMIC_RELEASE);
		if (!inject)
			rc = xen_send(q);
		backstop = backstop_send(A, xen_cpu_port(A), 3000);
		join_aps(name, 2000);
		/* Woken by the upcall: early, and A took the vector (a spurious return between the
		 * poll_sent store and the send would not have taken it). */
		woke = !backstop && early(A) && xen_upcalls(A) != upcalls0;
		poll_until_sent = false;
		upcall = xen_upcall_pending(A);
		xen_port_mask(q, true);
		xen_port_clear(q);
		xen_upcall_clear(A);
	}
	xen_close(q);
	if (!polling) {
		kprintf("# conform: %s: in 3 tries A's poll always ended before B's send (the last try: %u poll(s) "
			"returned early with nothing sent, and were made again)\n", name, poll_spurious);
		ktap_case(name, 0, false, "inconclusive: the poll never lasted until the send");
		return;
	}
	bool want = XEN_UNPOLLED_WAKES;
	/* Not an inversion of the observation: inverted, a hypervisor that differs would pass. */
	if (inject)
		kprintf("# inject: conform: %s: the event is not sent\n", name);
	kprintf("# conform: %s: B sent to A's unmasked, unpolled port %u (rc=%ld): A's poll of its own port %s, "
		"evtchn_upcall_pending=%u, callback vector taken %lu time(s), %u poll(s) ended before the send "
		"and were made again; Xen 4.17 and 4.20 %s; ref xen/common/sched/core.c do_poll (no header says)\n",
		name, q, rc, woke ? "returned early" : "ran to its deadline (500 ms)", upcall,
		xen_upcalls(A) - upcalls0, poll_spurious, want ? "return early" : "run to the deadline");
	ktap_case(name, 0, woke == want, "differs from Xen's own behaviour");
}

/*
 * EVTCHNOP_send to a port that is not bound: a closed port fails with -EINVAL
 * (xen/include/public/errno.h, XEN_EINVAL; event_channel.h: EVTCHNOP_send),
 * an allocated but unbound one is accepted and dropped, and neither wakes the
 * vCPU that polls its own port.
 */
static void case_xen_send_unbound(void)
{
	static const char name[] = "xen_send_unbound";
	if (skipped(name, xen_skip(2)))
		return;
	evtchn_port_t closed, unbound;
	/* The unbound port first: a port closed before it would be the one alloc_unbound hands out. */
	long ra = xen_alloc_unbound(&unbound), rb = xen_bind_ipi(0, &closed), rcl = rb ? 0 : xen_close(closed);
	if (rb || rcl || ra) {
		kprintf("# conform: %s: setting up the ports failed (bind %ld, close %ld, alloc_unbound %ld)\n", name,
			rb, rcl, ra);
		ktap_case(name, 0, false, "could not set up the ports");
		return;
	}
	evtchn_port_t to_closed = closed;
	if (inject) {
		kprintf("# inject: conform: %s: the \"closed\" send goes to A's own port\n", name);
		to_closed = xen_cpu_port(A);
	}
	/* Conclusive only if A was still polling after both sends: else once more, 3 tries. */
	long r1 = 0, r2 = 0;
	bool woke = false, polling = false;
	for (int attempt = 0; attempt < 3 && !polling; attempt++) {
		poll_n = 0, poll_ns = 300000000ull, poll_send_self = false, poll_clear_first = true;
		start_aps(ap_poll);
		wait_u32(&stage[A], 1, 5000);
		wait_blocked(A);
		r1 = xen_send(to_closed), r2 = xen_send(unbound);
		polling = __atomic_load_n(&stage[A], __ATOMIC_ACQUIRE) == 1;
		bool backstop = backstop_send(A, xen_cpu_port(A), 3000);
		join_aps(name, 2000);
		woke = !backstop && early(A);
	}
	xen_close(unbound);
	if (!polling && !inject) {
		kprintf("# conform: %s: in 3 tries A's poll always ended before B's sends\n", name);
		ktap_case(name, 0, false, "inconclusive: the poll never lasted until the sends");
		return;
	}
	kprintf("# conform: %s: send to closed port %u rc=%ld (want %d), to unbound port %u rc=%ld (want 0); A's "
		"poll %s; ref xen/include/public/event_channel.h (EVTCHNOP_send), xen/include/public/errno.h\n",
		name, closed, r1, -22, unbound, r2, woke ? "returned early (woken)" : "ran to its deadline");
	ktap_case(name, 0, r1 == -22 && r2 == 0 && !woke, "a send to an unbound port did not fail as defined, or woke");
}

/* A consistent runstate snapshot: XEN_RUNSTATE_UPDATE clear and state_entry_time unchanged around it. */
static bool runstate_read(const volatile struct vcpu_runstate_info *r, struct vcpu_runstate_info *out)
{
	for (int i = 0; i < 100000; i++) {
		u64 e1 = __atomic_load_n(&r->state_entry_time, __ATOMIC_ACQUIRE);
		out->state = r->state;
		for (int k = 0; k < 4; k++)
			out->time[k] = r->time[k];
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		u64 e2 = r->state_entry_time;
		if (e1 == e2 && !(e1 & XEN_RUNSTATE_UPDATE)) {
			out->state_entry_time = e1;
			return true;
		}
		x86_pause();
	}
	return false;
}

/*
 * The runstate area (xen/include/public/vcpu.h, VCPUOP_register_runstate_
 * memory_area and struct vcpu_runstate_info; XEN_RUNSTATE_UPDATE with
 * VMASST_TYPE_runstate_update_flag, xen.h): a completed update shows a state
 * in range; "the sum of these times is
 * guaranteed not to drift from system time": state_entry_time - sum(time[])
 * stays constant (Xen starts the sum at 0 when it creates the vCPU, so the
 * constant is the creation time; KVM's emulation makes it 0); nothing goes
 * backwards; the running BSP reads RUNSTATE_running ("runstate.state will
 * always be RUNSTATE_running" for the vCPU that reads its own); with more
 * vCPUs busy than pCPUs, some vCPU's runnable time grows.
 */
static void case_xen_runstate(void)
{
	static const char name[] = "xen_runstate";
	const char *skip = xen_skip(2);
	if (!skip && !xen_runstate(0)->state_entry_time)
		skip = "runstate areas not registered (preempt=off?)";
	if (skip) {
		ktap_case(name, skip, true, 0);
		return;
	}
	long va = xen_vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag);
	struct vcpu_runstate_info first[MAX_CPUS], last[MAX_CPUS], now;
	u64 offset[MAX_CPUS];
	unsigned torn = 0, bad = 0, samples = 0;
	for (unsigned i = 0; i < cpus_online; i++)
		torn += !runstate_read(xen_runstate(i), &first[i]);
	for (unsigned i = 0; i < cpus_online; i++) {
		last[i] = first[i];
		offset[i] = first[i].state_entry_time - (first[i].time[0] + first[i].time[1] + first[i].time[2] +
							 first[i].time[3]);
	}
	spin_stop = 0;
	start_aps(ap_spin);
	u64 t0 = x86_rdtsc();
	while (x86_rdtsc() - t0 < ms_to_tsc(1000)) {
		for (unsigned i = 0; i < cpus_online; i++) {
			if (!runstate_read(xen_runstate(i), &now)) {
				torn++;
				continue;
			}
			u64 sum = now.time[0] + now.time[1] + now.time[2] + now.time[3];
			/*
			 * Not checked: state_entry_time against the reader's clock. Each
			 * pCPU's Xen system time is its own scale; under QEMU TCG the BSP
			 * read another vCPU's entry time 7 ms ahead of its own now.
			 */
			bool ok = (u32)now.state <= RUNSTATE_offline && now.state_entry_time - sum == offset[i] &&
				  now.state_entry_time >= last[i].state_entry_time;
			for (int k = 0; k < 4; k++)
				ok &= now.time[k] >= last[i].time[k];
			if (i == 0)
				ok &= now.state == RUNSTATE_running;
			if (inject && i == 0 && samples == 0) {
				kprintf("# inject: conform: %s: the BSP's state read as runnable\n", name);
				ok = false;
			}
			if (!ok && bad++ < 3)
				kprintf("# conform: %s: cpu %u: state %d entry %lu (before %lu) time %lu/%lu/%lu/%lu, "
					"entry - sum %lu (was %lu)\n", name, i, now.state, now.state_entry_time,
					last[i].state_entry_time,
					now.time[0], now.time[1], now.time[2], now.time[3], now.state_entry_time - sum,
					offset[i]);
			last[i] = now;
		}
		samples++;
		delay_ms(1);
	}
	__atomic_store_n(&spin_stop, 1, __ATOMIC_RELEASE);
	join_aps(name, 2000);
	unsigned grew = 0;
	u64 most = 0;
	for (unsigned i = 0; i < cpus_online; i++) {
		u64 d = last[i].time[RUNSTATE_runnable] - first[i].time[RUNSTATE_runnable];
		grew += d > 0;
		most = d > most ? d : most;
	}
	kprintf("# conform: %s: vm_assist(runstate_update_flag) rc=%ld; %u vCPUs busy 1 s, %u samples: %u torn "
		"reads, %u inconsistent; runnable time grew on %u vCPU(s), at most %lu us; ref "
		"xen/include/public/vcpu.h (vcpu_runstate_info)\n", name, va, cpus_online, samples, torn, bad, grew,
		most / 1000);
	ktap_case(name, 0, !va && !torn && !bad && grew, va ? "VMASST_TYPE_runstate_update_flag refused" :
		  torn ? "an update never completed" : bad ? "an inconsistent runstate" :
		  "no runnable time with more vCPUs busy than pCPUs");
}

/*
 * EVTCHNOP_bind_ipi (event_channel.h: "Bind a local event channel to receive
 * events" on <vcpu>) gives each vCPU its own port, and a send to vCPU n's port
 * wakes n only: every AP polls its own port (deadline 2 s), the BSP sends to
 * the last AP's. Woken means returned within 5 margins of the send (the BSP
 * may take longer than a short deadline to see every AP blocked); the others,
 * not sent to, end at their deadline or on the backstop, either is fine.
 */
/* cpu's poll returned within 5 margins of a send at `sent` (not before it), and not at its own deadline. */
static bool woken_by_send(unsigned cpu, u64 sent)
{
	s64 after = (s64)(stamp[cpu] - sent), to_deadline = (s64)(stamp[cpu] - deadline[cpu]);
	return after >= -(s64)MARGIN_NS && after < 5 * (s64)MARGIN_NS &&
	       (to_deadline < -2 * (s64)MARGIN_NS || to_deadline > 2 * (s64)MARGIN_NS);
}

static void case_xen_ipi_ports(void)
{
	static const char name[] = "xen_ipi_port_per_vcpu";
	if (skipped(name, xen_skip(3)))
		return;
	unsigned dup = 0, n = cpus_online - 1;
	for (unsigned i = 0; i < cpus_online; i++)
		for (unsigned j = i + 1; j < cpus_online; j++)
			dup += !xen_cpu_port(i) || xen_cpu_port(i) == xen_cpu_port(j);
	/* Conclusive only if every other AP was still polling after the send: else once more, 3 tries. */
	long rc = 0;
	bool backstop = false, polling = false, woke = false;
	u64 sent = 0;
	if (inject)
		kprintf("# inject: conform: %s: every AP's port is sent to\n", name);
	for (int attempt = 0; attempt < 3 && !polling; attempt++) {
		poll_n = 0, poll_ns = 2000000000ull, poll_send_self = false, poll_clear_first = true, poll_all = true;
		start_aps(ap_poll);
		for (unsigned i = 1; i < cpus_online; i++)
			wait_u32(&stage[i], 1, 5000);
		for (unsigned i = 1; i < cpus_online; i++)
			wait_blocked(i);
		/*
		 * n woke if it returned soon after the send (its clock may be
		 * MARGIN_NS off ours: 5 margins), not by its deadline: the time it
		 * takes the BSP to see every AP blocked can outlast a deadline.
		 */
		bool n_polling = __atomic_load_n(&stage[n], __ATOMIC_ACQUIRE) == 1;
		sent = xen_now(0);
		rc = xen_send(xen_cpu_port(n));
		if (inject)
			for (unsigned i = 1; i < n; i++)
				xen_send(xen_cpu_port(i));
		polling = true;
		for (unsigned i = 1; i < n; i++)
			polling &= __atomic_load_n(&stage[i], __ATOMIC_ACQUIRE) == 1;
		polling &= n_polling;
		backstop = backstop_send(n, xen_cpu_port(n), 3000);
		for (unsigned i = 1; i < n; i++)
			backstop_send(i, xen_cpu_port(i), 3000);
		join_aps(name, 2000);
		woke = woken_by_send(n, sent);
		poll_all = false;
		polling |= inject;
	}
	unsigned others_woken = 0;
	for (unsigned i = 1; i < n; i++)
		others_woken += woken_by_send(i, sent);
	kprintf("# conform: %s: %u vCPUs, %u duplicate or zero ports; send to cpu %u's port %u (rc=%ld): it %s, "
		"%u other poller(s) woken%s; ref xen/include/public/event_channel.h (EVTCHNOP_bind_ipi)\n", name,
		cpus_online, dup, n, xen_cpu_port(n), rc, woke ? "woke within 50 ms" : "did not wake within 50 ms",
		others_woken, backstop ? "; its poll returned only on the backstop send" : "");
	ktap_case(name, 0, !dup && rc == 0 && polling && woke && !others_woken && !backstop,
		  !polling ? "inconclusive: an AP's poll ended before the send, in 3 tries"
			   : "ports shared, or a send woke another vCPU, or not its own");
}

/* Number of KTAP cases conform_run prints (tests compare it with the plan). */
#define CONFORM_NR 17
unsigned conform_cases(void) { return CONFORM_NR; }

unsigned conform_run(unsigned first, bool inject_breaks)
{
	ktap_n = first - 1;
	inject = inject_breaks;
	kvm_base_leaf = kvm_cpuid_base();
	trap_nmi_fn = conform_nmi;
	kprintf("# conform: %u vCPU(s); every case names the document it holds the hypervisor to%s\n", cpus_online,
		inject ? "; inject=conform breaks every case's promise on the guest's side" : "");
	case_leaves();
	case_tsc();
	case_kvm_kick_before_halt();
	case_kvm_kick_halted();
	case_kvm_kick_nobody();
	case_kvm_enosys();
	case_kvm_steal();
	case_xen_poll_pending_and_timeout();
	case_xen_poll_send();
	case_xen_poll_unpolled();
	case_xen_send_unbound();
	case_xen_runstate();
	case_xen_ipi_ports();
	trap_nmi_fn = 0;
	if (ktap_n - (first - 1) != CONFORM_NR)
		panic("conform: printed %u cases, the plan says %u", ktap_n - (first - 1), CONFORM_NR);
	return failed_n;
}
