/* SPDX-License-Identifier: MIT */
/* kvm.h: the KVM lock backend: halt a waiter, wake it with KVM_HC_KICK_CPU. */
#ifndef PVTICK_KVM_H
#define PVTICK_KVM_H

#include "../locks/pvlock.h"

extern const struct pv_backend kvm_backend;

/* Raw hypercall with two arguments (vmcall on Intel, vmmcall on AMD/Hygon). */
long kvm_hypercall2(unsigned long nr, unsigned long a0, unsigned long a1);

#endif
