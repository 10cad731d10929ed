// SPDX-License-Identifier: MIT
/* xen.c: the Xen backend: a waiter polls its own event channel, the unlocker sends to it. */
#include "xen.h"
#include <xen/memory.h>
#include <xen/hvm/params.h>
#include <xen/hvm/hvm_op.h>
#include <xen/io/console.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/features.h>
#include <xen/version.h>
#include "../locks/spinlock.h"

static u32 xen_base;                       /* CPUID base leaf of "XenVMMXenVMM" */
static struct shared_info *shared;         /* mapped over shared_page */
static u8 shared_page[4096] __attribute__((aligned(4096)));
static evtchn_port_t vcpu_port[MAX_CPUS]; /* per Xen vCPU id: its IPI port, kept masked */
/* Per cpu index: the port of that CPU's vCPU, found by the CPU itself (0 = not yet). */
static evtchn_port_t cpu_port[MAX_CPUS];
static u32 cpu_vcpu[MAX_CPUS];             /* per cpu index: Xen vCPU id (valid once cpu_port is) */
/* Per cpu index: its vCPU's runstate area, written by Xen at each of its context switches. */
static struct vcpu_runstate_info runstate[MAX_CPUS] __attribute__((aligned(64)));
static struct xencons_interface *cons;     /* PV console ring, or NULL (dom0 has none) */
static evtchn_port_t cons_port;
static u64 upcalls[MAX_CPUS];              /* per cpu index: callback vector interrupts taken */

/* ---- console: the PV console ring (xl console), port 0xe9 stays on too ---- */
static void xen_console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		XENCONS_RING_IDX cons_idx = __atomic_load_n(&cons->out_cons, __ATOMIC_ACQUIRE);
		XENCONS_RING_IDX prod = cons->out_prod;
		unsigned spins = 0;
		while (prod - cons_idx >= sizeof(cons->out)) {
			if (++spins > 10000000)
				return; /* nobody drains the ring: drop, 0xe9 still has it */
			x86_pause();
			cons_idx = __atomic_load_n(&cons->out_cons, __ATOMIC_ACQUIRE);
		}
		while (i < n && prod - cons_idx < sizeof(cons->out))
			cons->out[MASK_XENCONS_IDX(prod++, cons->out)] = s[i++];
		/* The bytes before the index: the console daemon reads out_prod, then the bytes. */
		__atomic_store_n(&cons->out_prod, prod, __ATOMIC_RELEASE);
		xen_send(cons_port);
	}
}

/* ---- end of run: SCHEDOP_shutdown, so `xl` sees poweroff (pass) or crash (fail) ---- */
static void xen_exit(bool pass)
{
	struct sched_shutdown sd = { .reason = pass ? SHUTDOWN_poweroff : SHUTDOWN_crash };
	xen_hypercall_sched_op(SCHEDOP_shutdown, &sd);
}

/*
 * This CPU's port. Xen numbers vCPUs by its own ids (CPUID leaf base+4), which
 * need not be pvtick's cpu index: the CPU looks its id up once, itself, before
 * it first publishes a wait slot; the kicker reads cpu_port[] only after it
 * found that slot, so it sees the port (the slot's release store orders it).
 */
static evtchn_port_t self_port(unsigned self)
{
	if (!cpu_port[self]) {
		struct cpuid_regs r = x86_cpuid(xen_base + 4, 0);
		u32 vcpu = (r.eax & XEN_HVM_CPUID_VCPU_ID_PRESENT) ? r.ebx : self;
		cpu_vcpu[self] = vcpu;
		cpu_port[self] = vcpu < MAX_CPUS ? vcpu_port[vcpu] : 0;
		if (!cpu_port[self])
			panic("xen: cpu %u is Xen vCPU %u, which has no IPI port", self, vcpu);
	}
	return cpu_port[self];
}

/*
 * Xen system time (ns) from this vCPU's time record: system_time at
 * tsc_timestamp, plus the TSC since, scaled by tsc_to_system_mul >> 32 after
 * tsc_shift. The version is odd while Xen updates the record.
 */
struct time_record {
	u64 tsc_timestamp, system_time;
	u32 mul;
	s8 shift;
};

/* A consistent copy of vCPU `vcpu`'s time record: the version even and unchanged around the read. */
static struct time_record time_record_read(u32 vcpu)
{
	volatile struct vcpu_time_info *t = &shared->vcpu_info[vcpu].time;
	struct time_record r;
	u32 ver;
	do {
		ver = t->version;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		r.tsc_timestamp = t->tsc_timestamp;
		r.system_time = t->system_time;
		r.mul = t->tsc_to_system_mul;
		r.shift = t->tsc_shift;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((ver & 1) || ver != t->version);
	return r;
}

static u64 xen_system_time(u32 vcpu)
{
	struct time_record r = time_record_read(vcpu);
	u64 delta = x86_rdtsc() - r.tsc_timestamp;
	delta = r.shift < 0 ? delta >> -r.shift : delta << r.shift;
	return r.system_time + (u64)(((unsigned __int128)delta * r.mul) >> 32);
}

/*
 * Xen's time scale for vCPU 0 as a TSC rate: system time advances
 * tsc_to_system_mul / 2^32 ns per TSC tick after the shift, so the TSC runs at
 * 10^6 * 2^32 / (mul << shift) kHz. 0 while Xen has not written the record.
 */
static u64 time_info_khz(void)
{
	struct cpuid_regs r = x86_cpuid(xen_base + 4, 0);
	u32 vcpu = (r.eax & XEN_HVM_CPUID_VCPU_ID_PRESENT) ? r.ebx : 0; /* the BSP's own record */
	if (vcpu >= XEN_LEGACY_MAX_VCPUS)
		return 0;
	volatile struct vcpu_time_info *t = &shared->vcpu_info[vcpu].time;
	for (int tries = 0; tries < 100 && !t->tsc_to_system_mul; tries++)
		xen_hypercall_sched_op(SCHEDOP_yield, 0); /* Xen writes it when it runs the vCPU again */
	struct time_record rec = time_record_read(vcpu);
	u32 mul = rec.mul;
	s8 shift = rec.shift;
	/* A shift beyond +-8 means a TSC under 1 MHz or over 4 THz: no scale to hold anything to. */
	if (!mul || shift > 8 || shift < -8)
		return 0;
	u64 num = 1000000ull << 32, den = mul; /* num << 8 and mul << 8 both fit in 64 bits */
	return shift >= 0 ? num / (den << shift) : (num << -shift) / den;
}

/*
 * A Xen PVH guest has no PIT: the TSC rate Xen's CPUID leaf reports is held
 * to the scale Xen uses for its own system time (a value from another
 * interface, which Xen must get right for its timers to work). When they
 * disagree by more than 10% the leaf is refused and the scale is used
 * (arch/tsc.c; KVM's Xen emulation once reported 4098204310 kHz there).
 */
static void check_tsc_leaf(void)
{
	u64 khz = time_info_khz();
	if (!khz && !tsc_leaf_check[0] && tsc_leaf_khz)
		ksnprintf(tsc_leaf_check, sizeof(tsc_leaf_check), "%s says %lu kHz, and Xen never wrote "
			  "vCPU 0's time record to hold it to: kept unchecked", tsc_leaf_source, tsc_leaf_khz);
	tsc_check_leaf(khz, "xen-time-info");
}

static void port_clear(evtchn_port_t p)
{
	__atomic_fetch_and(&shared->evtchn_pending[p / 64], ~(1ull << (p % 64)), __ATOMIC_SEQ_CST);
}

/*
 * lock_spinning under Xen. Why: a waiter that keeps spinning while the holder's
 * vCPU is descheduled burns the pCPU the holder needs; SCHEDOP_poll yields it
 * until our event channel fires. Cost: a hypercall to block and one to kick,
 * paid only after spin_threshold spins.
 *
 * The port is masked, so an event never interrupts us; SCHEDOP_poll still
 * returns as soon as the port is pending, and a pending bit set before the poll
 * makes it return at once. The race, with W the waiter and U the unlocker:
 *   1. W publishes (lock, want) in its slot.
 *   2. W clears its port's pending bit (an old kick must not end this poll).
 *   3. W sets SF (locked op: full barrier), then checks the head: not yet.
 *   4. U moves the head to want, sees SF, finds W's slot, sets the pending bit
 *      of W's port with EVTCHNOP_send.
 *   5. W polls: the bit is already set, the poll returns at once.
 * Had W cleared the pending bit after its check (2 after 3), U's kick in 4 [pml:M3]
 * could be wiped out and W would poll forever. Spurious returns (a stale kick
 * that arrived after 2) are counted and harmless: the caller spins again.
 */
static void xen_lock_spinning(struct ticketlock *lock, u16 want)
{
	unsigned self = ticket_self();
	struct ticket_stats *st = &ticket_stats[self];
	evtchn_port_t port = self_port(self);

	ticket_wait_publish(lock, want);             /* 1 */
	port_clear(port);                            /* 2 [pml:S2] */
	if (ticket_announce_and_check(lock, want)) { /* 3 */
		/*
		 * No timeout: every vCPU blocks until kicked, so a lost kick is a real
		 * stall that the watchdog reports. The watchdog still runs: it is the
		 * BSP's LAPIC timer, and an interrupt due to a polling vCPU ends its
		 * poll (Xen's vcpu_kick() unblocks it; KVM's Xen emulation halts the
		 * poller and wakes it on an interrupt it can take); interrupts are on
		 * here, as the lock's callers run with them. The BSP once polled with a
		 * 100 ms bound instead, an RDTSC (a VM exit where Xen emulates the TSC)
		 * per block on the path make bench measures. Checked by the drop-kick
		 * case: every kick lost, the watchdog must still name the stall.
		 */
		struct sched_poll poll = { .nr_ports = 1, .timeout = 0 };
		set_xen_guest_handle(poll.ports, &port);
		st->blocks++;
		xen_hypercall_sched_op(SCHEDOP_poll, &poll); /* 5 [pml:S5] */
		ticket_woken();
	}
	ticket_wait_clear();
}

/*
 * unlock_kick under Xen. Why: the next ticket's vCPU may be blocked in
 * SCHEDOP_poll; only its event channel wakes it. Cost: a scan of the wait
 * slots and one EVTCHNOP_send, only when SF was set (and, with nobody blocked
 * for next, a scan of the queue records and a runstate load).
 */
static void xen_unlock_kick(struct ticketlock *lock, u16 next)
{
	int cpu = ticket_wait_find(lock, next);
	if (cpu < 0) {
		/*
		 * Nobody blocked for next. If next's vCPU is preempted it is only
		 * counted: Xen offers a guest no yield to a given vCPU, and an
		 * event to a runnable vCPU does not make Xen run it sooner.
		 */
		(void)ticket_preempted_next(lock, next);
		return;
	}
	ticket_kick_mark(cpu);
	xen_send(cpu_port[cpu]); /* pml:U4 */
}

/*
 * vcpu_is_preempted under Xen. Why: a waiter whose lock's holder is not running
 * stops spinning at once (see spinlock.h). Cost: one load of the vCPU's runstate
 * area, which Xen rewrites at every context switch of that vCPU.
 * RUNSTATE_runnable is "wants to run, no pCPU": preempted. A vCPU blocked in
 * SCHEDOP_poll is RUNSTATE_blocked, not preempted: a kick wakes it. A cpu whose
 * area was never registered reads as running (0): never preempted.
 */
static bool xen_vcpu_is_preempted(unsigned cpu)
{
	return __atomic_load_n(&runstate[cpu].state, __ATOMIC_RELAXED) == RUNSTATE_runnable;
}

/* For the boot test: Xen wrote the area (a registered area has state_entry_time > 0). */
static bool xen_preempt_live(unsigned cpu)
{
	return __atomic_load_n(&runstate[cpu].state_entry_time, __ATOMIC_RELAXED) != 0;
}

/*
 * Per CPU, on that CPU: find its Xen vCPU id and port now (self_port), and
 * register its runstate area. Xen's HVM guests name the area by a virtual
 * address, which Xen writes through the vCPU's own page tables when it switches
 * the vCPU in or out: our identity map covers it on every CPU.
 */
static void xen_cpu_init(unsigned cpu)
{
	(void)self_port(cpu);
	if (!pv_preempt_wanted)
		return;
	struct vcpu_register_runstate_memory_area area = { .addr.v = &runstate[cpu] };
	long rc = xen_hypercall_vcpu_op(VCPUOP_register_runstate_memory_area, cpu_vcpu[cpu], &area);
	if (rc)
		kprintf("# xen: cpu %u (vCPU %u): VCPUOP_register_runstate_memory_area failed (%ld): "
			"it reads as never preempted\n", cpu, cpu_vcpu[cpu], rc);
}

/* pv_switch's hand-over: the same wake-up as unlock_kick's, for vCPU `cpu`. */
static void xen_kick(unsigned cpu)
{
	xen_send(cpu_port[cpu]);
}

static bool xen_detect(const char **why)
{
	xen_base = x86_hypervisor_base("XenVMMXenVMM");
	if (!xen_base)
		return false;
	if (cpu_count > MAX_CPUS) {
		*why = "xen-too-many-vCPUs";
		return false;
	}
	*why = "SCHEDOP_poll";
	return true;
}


/* HVM_PARAM_CALLBACK_IRQ: how event upcalls are delivered (0: not at all). */
static long set_callback(u64 value)
{
	struct xen_hvm_param cb = { .domid = DOMID_SELF, .index = HVM_PARAM_CALLBACK_IRQ, .value = value };
	return xen_hypercall_hvm_op(HVMOP_set_param, &cb);
}

static u64 hvm_param(u32 index, long *rc)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
	*rc = xen_hypercall_hvm_op(HVMOP_get_param, &p);
	return p.value;
}

static u32 hypercall_msr;

/*
 * Every run on Xen, whatever the lock mode: the hypercall page (Xen writes its
 * stubs into the guest-physical page we name), the PV console ring, and
 * SCHEDOP_shutdown as the end of the run. Without a hypercall page nothing else
 * can work: say so and leave the run to isa-debug-exit (dom0) or the watchdog.
 */
static void xen_platform(void)
{
	struct cpuid_regs hp = x86_cpuid(xen_base + 2, 0);
	long rc, rc2;

	if (hp.eax < 1) {
		kprintf("# xen: CPUID leaf %x offers no hypercall page: no PV console, no shutdown\n",
			xen_base + 2);
		return;
	}
	hypercall_msr = hp.ebx;
	x86_wrmsr(hp.ebx, (u64)(uintptr_t)xen_hypercall_page);
	if ((u8)xen_hypercall_page[0] == 0xcc) {
		kprintf("# xen: the hypercall page was not filled after wrmsr %x\n", hp.ebx);
		return;
	}
	u64 pfn = hvm_param(HVM_PARAM_CONSOLE_PFN, &rc);
	u64 port = hvm_param(HVM_PARAM_CONSOLE_EVTCHN, &rc2);
	if (!rc && !rc2 && pfn && pfn < (1ull << 20)) {
		cons = (struct xencons_interface *)(uintptr_t)(pfn << 12);
		cons_port = (evtchn_port_t)port;
		console_set_sink(xen_console_write);
	}
	machine_set_exit(xen_exit);
}

bool xen_inject_bad_hypercall;

/*
 * The callback vector's handler. Only a port left unmasked raises it (the
 * conformance suite unmasks one on purpose): count it and take the upcall
 * down (evtchn_upcall_pending, evtchn_pending_sel), leaving the ports'
 * pending bits to whoever polls them.
 */
static void xen_upcall(void)
{
	unsigned self = this_cpu()->index;
	upcalls[self]++;
	/*
	 * Only vCPU 0 (the notify vCPU of every port nobody rebinds) and the
	 * subject of the conformance case that unmasks a port it binds to
	 * itself ever get an upcall; both have their vcpu_info in shared_info.
	 * A vCPU past XEN_LEGACY_MAX_VCPUS has none, and only masked ports.
	 */
	if (!cpu_port[self] || cpu_vcpu[self] >= XEN_LEGACY_MAX_VCPUS)
		return;
	struct vcpu_info *vi = &shared->vcpu_info[cpu_vcpu[self]];
	__atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
	__atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
}
u64 xen_upcalls(unsigned cpu) { return __atomic_load_n(&upcalls[cpu], __ATOMIC_RELAXED); }

static bool xen_init(struct patch_plan plans[PATCH_NR_KINDS], const char **why)
{
	static char msg[96];
	u32 ver = x86_cpuid(xen_base + 1, 0).eax;
	long rc;

	/* 1. The hypercall page, set up by xen_platform(). */
	if (!hypercall_msr || (u8)xen_hypercall_page[0] == 0xcc) {
		*why = "xen-no-hypercall-page";
		return false;
	}

	/* 2. shared_info over a page of ours: the event channels' pending and mask bits. */
	struct xen_add_to_physmap xatp = { .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info,
					   .idx = 0, .gpfn = (u64)(uintptr_t)shared_page >> 12 };
	rc = xen_hypercall_memory_op(XENMEM_add_to_physmap, &xatp);
	if (rc) {
		ksnprintf(msg, sizeof(msg), "xen-shared_info-map-failed(%ld)", rc);
		*why = msg;
		return false;
	}
	shared = (struct shared_info *)shared_page;
	check_tsc_leaf();
	if (cons)
		xen_port_mask(cons_port, true); /* we only send on it */

	/*
	 * 3. An upcall: the callback vector (xen/include/public/hvm/params.h,
	 * HVM_PARAM_CALLBACK_TYPE_VECTOR), before any port is bound. Every port
	 * pvtick binds stays masked, so Xen never delivers it; why register it:
	 * under KVM's Xen emulation (QEMU 10, Linux 6.12), QEMU hands event
	 * channels to KVM only once a callback vector is set
	 * (hw/i386/kvm/xen_evtchn.c: evtchn_in_kernel), and only KVM wakes a
	 * vCPU in SCHEDOP_poll (arch/x86/kvm/xen.c, kvm_xen_check_poller); without
	 * it QEMU sets a masked port pending in shared_info itself and the poller
	 * sleeps on (seen: the 4-vCPU stress ended in the watchdog, every kick
	 * lost). Linux too enables its Xen PV spinlocks only with a callback vector.
	 */
	struct xen_feature_info fi = { .submap_idx = 0 };
	rc = xen_hypercall_xen_version(XENVER_get_features, &fi);
	if (rc || !(fi.submap & (1u << XENFEAT_hvm_callback_vector))) {
		ksnprintf(msg, sizeof(msg), "xen-no-callback-vector(rc=%ld,features=%x)", rc, fi.submap);
		*why = msg;
		return false;
	}
	trap_upcall_fn = xen_upcall;
	rc = set_callback(((u64)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) | VEC_UPCALL);
	if (rc) {
		trap_upcall_fn = 0;
		ksnprintf(msg, sizeof(msg), "xen-callback-vector-failed(%ld)", rc);
		*why = msg;
		return false;
	}

	/* 4. One IPI event channel per vCPU, masked: polled, never delivered. */
	for (unsigned v = 0; v < cpu_count; v++) {
		u32 vcpu = v;
		if (xen_inject_bad_hypercall && v == 0) {
			vcpu = 0x7fff; /* no domain here has that many vCPUs */
			xen_inject_bad_hypercall = false; /* used: main.c says so if it never is */
		}
		evtchn_port_t port;
		rc = xen_bind_ipi(vcpu, &port);
		if (rc) {
			/*
			 * Native from here: no upcall must outlive the backend. A
			 * pending one (a domU's xenstore port notifies vCPU 0 at
			 * boot) would be injected again at every sti, before the
			 * timer, and nothing would clear it.
			 */
			set_callback(0);
			trap_upcall_fn = 0;
			ksnprintf(msg, sizeof(msg), "xen-bind_ipi-vcpu%u-failed(%ld)", v, rc);
			*why = msg;
			return false;
		}
		vcpu_port[v] = port;
		xen_port_mask(port, true);
	}

	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ PATCH_HOW_CALL, (void *)xen_lock_spinning, 0, 0 };
	plans[PATCH_UNLOCK_KICK] = (struct patch_plan){ PATCH_HOW_CALL, (void *)xen_unlock_kick, 0, 0 };
	plans[PATCH_VCPU_IS_PREEMPTED] = (struct patch_plan){ PATCH_HOW_CALL, (void *)xen_vcpu_is_preempted, 0, 0 };
	pv_preempt_source = "xen-runstate";
	kprintf("# xen: version %u.%u, cpuid base %x, hypercall page via msr %x, callback vector 0x%x, "
		"%u IPI ports (%u..%u), PV console %s\n", ver >> 16, ver & 0xffff, xen_base, hypercall_msr,
		VEC_UPCALL, cpu_count, vcpu_port[0], vcpu_port[cpu_count - 1], cons ? "ring" : "none (0xe9 only)");
	/* What shapes the benchmark's clock: an emulated TSC makes each RDTSC a VM exit. */
	if (x86_cpuid(xen_base, 0).eax >= xen_base + 3) {
		static const char *const mode[] = { "default", "always emulate", "native", "native+TSC_AUX" };
		struct cpuid_regs t = x86_cpuid(xen_base + 3, 0); /* xen/arch-x86/cpuid.h, Leaf 4 */
		kprintf("# xen: TSC mode %u (%s), RDTSC %s, host TSC %s\n", t.ebx, t.ebx < 4 ? mode[t.ebx] : "unknown",
			(t.eax & 1) ? "emulated (a VM exit each)" : "not emulated", (t.eax & 2) ? "reliable" : "not known reliable");
	} else {
		kprintf("# xen: no TSC leaf (CPUID %x): TSC mode unknown\n", xen_base + 3);
	}
	return true;
}

const struct pv_backend xen_backend = { "xen", xen_detect, xen_init, xen_platform, xen_cpu_init,
					xen_preempt_live, xen_kick };
PV_BACKEND(xen_backend);

/* ---- for the conformance suite (tests/guest/conform.c): the interface, one call each ---- */
bool xen_ready(void) { return shared && cpu_port[0]; }
evtchn_port_t xen_cpu_port(unsigned cpu) { return cpu_port[cpu]; }
u32 xen_cpu_vcpu(unsigned cpu) { return cpu_vcpu[cpu]; }
u64 xen_now(unsigned cpu) { return xen_system_time(cpu_vcpu[cpu]); }
bool xen_time_ok(unsigned cpu) { return cpu_vcpu[cpu] < XEN_LEGACY_MAX_VCPUS; }
bool xen_port_pending(evtchn_port_t p)
{
	return __atomic_load_n(&shared->evtchn_pending[p / 64], __ATOMIC_SEQ_CST) & (1ull << (p % 64));
}
void xen_port_clear(evtchn_port_t p) { port_clear(p); }
void xen_port_mask(evtchn_port_t p, bool masked)
{
	if (masked)
		__atomic_fetch_or(&shared->evtchn_mask[p / 64], 1ull << (p % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&shared->evtchn_mask[p / 64], ~(1ull << (p % 64)), __ATOMIC_SEQ_CST);
}
u8 xen_upcall_pending(unsigned cpu)
{
	return __atomic_load_n(&shared->vcpu_info[cpu_vcpu[cpu]].evtchn_upcall_pending, __ATOMIC_SEQ_CST);
}
void xen_upcall_clear(unsigned cpu)
{
	__atomic_store_n(&shared->vcpu_info[cpu_vcpu[cpu]].evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&shared->vcpu_info[cpu_vcpu[cpu]].evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
}
long xen_poll(const evtchn_port_t *ports, unsigned n, u64 deadline_ns)
{
	struct sched_poll poll = { .nr_ports = n, .timeout = deadline_ns };
	set_xen_guest_handle(poll.ports, (evtchn_port_t *)ports);
	return xen_hypercall_sched_op(SCHEDOP_poll, &poll);
}
long xen_send(evtchn_port_t p)
{
	struct evtchn_send send = { .port = p };
	return xen_hypercall_event_channel_op(EVTCHNOP_send, &send);
}
long xen_bind_ipi(u32 vcpu, evtchn_port_t *port)
{
	struct evtchn_bind_ipi b = { .vcpu = vcpu };
	long rc = xen_hypercall_event_channel_op(EVTCHNOP_bind_ipi, &b);
	*port = b.port;
	return rc;
}
long xen_alloc_unbound(evtchn_port_t *port)
{
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = DOMID_SELF };
	long rc = xen_hypercall_event_channel_op(EVTCHNOP_alloc_unbound, &a);
	*port = a.port;
	return rc;
}
long xen_close(evtchn_port_t p)
{
	struct evtchn_close c = { .port = p };
	return xen_hypercall_event_channel_op(EVTCHNOP_close, &c);
}
long xen_vm_assist(unsigned cmd, unsigned type) { return xen_hypercall3(__HYPERVISOR_vm_assist, cmd, type, 0); }
const volatile struct vcpu_runstate_info *xen_runstate(unsigned cpu) { return &runstate[cpu]; }
