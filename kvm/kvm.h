/* SPDX-License-Identifier: MIT */
/* kvm.h: the KVM lock backend: halt a waiter, wake it with KVM_HC_KICK_CPU. */
#ifndef PVTICK_KVM_H
#define PVTICK_KVM_H

#include "../locks/pvlock.h"

extern const struct pv_backend kvm_backend;

/* Raw hypercall with two arguments (vmcall on Intel, vmmcall on AMD/Hygon). */
long kvm_hypercall2(unsigned long nr, unsigned long a0, unsigned long a1);

/*
 * For the conformance suite (tests/guest/conform.c): the base of KVM's CPUID
 * leaves as the backend's detect found it (0: not KVM, or the backends never
 * looked: pvlock=off), and cpu's steal-time record (NULL unless the backend
 * registered it: backend kvm with preempt=auto and KVM_FEATURE_STEAL_TIME).
 */
struct kvm_steal_time;
u32 kvm_cpuid_base(void);
const volatile struct kvm_steal_time *kvm_steal_record(unsigned cpu);

#endif
