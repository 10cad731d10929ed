// SPDX-License-Identifier: MIT
/* kvm.c: the KVM lock backend: a waiter halts, the unlocker kicks it awake with KVM_HC_KICK_CPU. */
#include <linux/kvm_para.h>
#include "kvm.h"
#include "../locks/spinlock.h"

static u32 kvm_base;       /* CPUID base leaf of "KVMKVMKVM" */
static bool kvm_vmmcall;   /* AMD/Hygon: vmmcall; Intel: vmcall */
static bool kvm_steal;     /* KVM_FEATURE_STEAL_TIME, and preemption records wanted */
/* Per cpu index: its steal-time record, written by KVM; 64-byte aligned as the MSR requires. */
static struct kvm_steal_time steal[MAX_CPUS] __attribute__((aligned(64)));

long kvm_hypercall2(unsigned long nr, unsigned long a0, unsigned long a1)
{
	long ret;
	if (kvm_vmmcall)
		__asm__ volatile("vmmcall" : "=a"(ret) : "a"(nr), "b"(a0), "c"(a1) : "memory");
	else
		__asm__ volatile("vmcall" : "=a"(ret) : "a"(nr), "b"(a0), "c"(a1) : "memory");
	return ret;
}

/*
 * lock_spinning under KVM. Why: a waiter that keeps spinning while the holder's
 * vCPU is preempted burns the pCPU the holder needs; halting gives it back.
 * Cost: a HLT exit and a kick hypercall from the unlocker, several microseconds
 * each, paid only after spin_threshold spins.
 *
 * HLT with interrupts off still wakes on a kick: KVM_FEATURE_PV_UNHALT makes
 * KVM_HC_KICK_CPU set the target's pv_unhalted flag, which ends (or pre-empts)
 * its halt. A kick sent between our last check and our HLT is therefore kept,
 * not lost [pml:M4]. Anything else may also end the HLT (a pending SIPI, the BSP's
 * watchdog tick): we count it as spurious and return to spinning.
 */
static void kvm_lock_spinning(struct ticketlock *lock, u16 want)
{
	struct ticket_stats *st = &ticket_stats[ticket_self()];

	ticket_wait_publish(lock, want);             /* 1. my slot says (lock, want) */
	if (ticket_announce_and_check(lock, want)) { /* 2. SF, a full barrier; 3. the last check */
		st->blocks++;
		x86_hlt();                           /* 4. until kicked [pml:S5] */
		ticket_woken();
	}
	ticket_wait_clear();                         /* 5. */
}

/*
 * unlock_kick under KVM. Why: the next ticket's holder may be halted in
 * kvm_lock_spinning; only a kick wakes it. Cost: a scan of the wait slots and
 * one hypercall, only when SF was set.
 */
static void kvm_unlock_kick(struct ticketlock *lock, u16 next)
{
	int cpu = ticket_wait_find(lock, next);
	if (cpu < 0) {
		/*
		 * Nobody blocked for next: it spins, or it is preempted while it
		 * spins (lock-waiter preemption: every vCPU behind it now waits for
		 * the hypervisor to run it). KVM_HC_KICK_CPU also yields our pCPU to
		 * its target when the target is preempted, so kick it anyway: it
		 * leaves the target's pv_unhalted set, and its next HLT in
		 * lock_spinning returns at once, counted as spurious.
		 */
		cpu = ticket_preempted_next(lock, next);
		if (cpu >= 0) {
			ticket_stats[ticket_self()].preempt_kicks++;
			kvm_hypercall2(KVM_HC_KICK_CPU, 0, cpus[cpu].apic_id); /* pml:U5 */
		}
		return;
	}
	ticket_kick_mark(cpu);
	kvm_hypercall2(KVM_HC_KICK_CPU, 0, cpus[cpu].apic_id); /* pml:U4 */
}

/*
 * vcpu_is_preempted under KVM. Why: a waiter whose lock's holder is not running
 * stops spinning at once (see spinlock.h). Cost: one load of the vCPU's
 * steal-time record. KVM sets KVM_VCPU_PREEMPTED there when it schedules the
 * vCPU's thread out while it could run (not when it halts), and clears it when
 * the vCPU enters the guest again.
 */
static bool kvm_vcpu_is_preempted(unsigned cpu)
{
	return __atomic_load_n(&steal[cpu].preempted, __ATOMIC_RELAXED) & KVM_VCPU_PREEMPTED;
}

/* For the boot test: KVM has updated the record (version goes up by 2 per update). */
static bool kvm_preempt_live(unsigned cpu)
{
	return __atomic_load_n(&steal[cpu].version, __ATOMIC_RELAXED) != 0;
}

/* Per CPU, on that CPU: MSR_KVM_STEAL_TIME is per vCPU. */
static void kvm_cpu_init(unsigned cpu)
{
	if (kvm_steal)
		x86_wrmsr(MSR_KVM_STEAL_TIME, (u64)(uintptr_t)&steal[cpu] | KVM_MSR_ENABLED);
}

/* pv_switch's hand-over: the same wake-up as unlock_kick's, for vCPU `cpu`. */
static void kvm_kick(unsigned cpu)
{
	kvm_hypercall2(KVM_HC_KICK_CPU, 0, cpus[cpu].apic_id);
}

static bool kvm_detect(const char **why)
{
	kvm_base = x86_hypervisor_base(KVM_SIGNATURE);
	if (!kvm_base)
		return false; /* not KVM: let the next backend look */
	struct cpuid_regs v = x86_cpuid(0, 0);
	/* "AuthenticAMD" / "HygonGenuine": EBX is "Auth" / "Hygo". */
	kvm_vmmcall = v.ebx == 0x68747541 || v.ebx == 0x6f677948;
	u32 leaf = kvm_base + (KVM_CPUID_FEATURES - KVM_CPUID_SIGNATURE);
	struct cpuid_regs f = x86_cpuid(leaf, 0);
	if (!(f.eax & (1u << KVM_FEATURE_PV_UNHALT))) {
		*why = "kvm-without-PV_UNHALT";
		return false;
	}
	if (f.edx & (1u << KVM_HINTS_REALTIME)) {
		*why = "KVM_HINTS_REALTIME(vCPUs-never-preempted)";
		return false;
	}
	if (cpu_count <= 1) {
		*why = "kvm-one-vCPU(PV-unlock-costs-more-than-it-saves)";
		return false;
	}
	*why = "PV_UNHALT";
	return true;
}

static bool kvm_init(struct patch_plan plans[PATCH_NR_KINDS], const char **why)
{
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ PATCH_HOW_CALL, (void *)kvm_lock_spinning, 0, 0 };
	plans[PATCH_UNLOCK_KICK] = (struct patch_plan){ PATCH_HOW_CALL, (void *)kvm_unlock_kick, 0, 0 };
	u32 features = x86_cpuid(kvm_base + (KVM_CPUID_FEATURES - KVM_CPUID_SIGNATURE), 0).eax;
	kvm_steal = pv_preempt_wanted && (features & (1u << KVM_FEATURE_STEAL_TIME));
	if (kvm_steal) {
		plans[PATCH_VCPU_IS_PREEMPTED] = (struct patch_plan){ PATCH_HOW_CALL, (void *)kvm_vcpu_is_preempted, 0, 0 };
		pv_preempt_source = "kvm-steal-time";
	} else {
		/* The documented fallback: without the record, no vCPU ever reads as preempted. */
		plans[PATCH_VCPU_IS_PREEMPTED] = pv_native_preempt_plan();
		pv_preempt_source = pv_preempt_wanted ? "kvm-without-STEAL_TIME" : "preempt=off";
	}
	kprintf("# kvm: signature at cpuid %x, hypercall insn %s\n", kvm_base,
		kvm_vmmcall ? "vmmcall" : "vmcall");
	(void)why;
	return true;
}

const struct pv_backend kvm_backend = { "kvm", kvm_detect, kvm_init, 0, kvm_cpu_init, kvm_preempt_live,
					kvm_kick };
PV_BACKEND(kvm_backend);

/* ---- for the conformance suite (tests/guest/conform.c) ---- */
u32 kvm_cpuid_base(void) { return kvm_base; }
const volatile struct kvm_steal_time *kvm_steal_record(unsigned cpu) { return kvm_steal ? &steal[cpu] : 0; }
