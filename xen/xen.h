/* SPDX-License-Identifier: MIT */
/* xen.h: the Xen backend: raw hypercalls, typed helpers, and the lock hooks' backend description. */
#ifndef PVTICK_XEN_H
#define PVTICK_XEN_H

#include <stdint.h>
/* The current public ABI (guest handles as structs); expands once xen-compat.h defines it. */
#define __XEN_INTERFACE_VERSION__ __XEN_LATEST_INTERFACE_VERSION__
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/event_channel.h>
#include <xen/vcpu.h>
#include "../locks/pvlock.h"

extern const struct pv_backend xen_backend;

/*
 * Test only (inject=bad-hypercall): xen_init() binds vCPU 0's IPI port for a
 * vCPU id the domain does not have, so Xen itself refuses the hypercall and the
 * backend's failure path (a logged fallback to native) runs for real. Cleared
 * once used.
 */
extern bool xen_inject_bad_hypercall;

/* The hypercall page: 32 bytes per hypercall, filled by Xen at init. */
extern char xen_hypercall_page[4096];

/* Raw hypercall nr with up to three arguments; returns Xen's status (0 or -errno). */
static inline long xen_hypercall3(unsigned nr, unsigned long a1, unsigned long a2, unsigned long a3)
{
	long ret;
	register unsigned long rdi __asm__("rdi") = a1;
	register unsigned long rsi __asm__("rsi") = a2;
	register unsigned long rdx __asm__("rdx") = a3;
	__asm__ volatile("call *%[entry]"
			 : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx)
			 : [entry] "r"(xen_hypercall_page + nr * 32)
			 : "rcx", "r8", "r9", "r10", "r11", "memory");
	return ret;
}

static inline long xen_hypercall_sched_op(int cmd, void *arg)
{
	return xen_hypercall3(__HYPERVISOR_sched_op, (unsigned long)cmd, (unsigned long)arg, 0);
}

static inline long xen_hypercall_event_channel_op(int cmd, void *arg)
{
	return xen_hypercall3(__HYPERVISOR_event_channel_op, (unsigned long)cmd, (unsigned long)arg, 0);
}

static inline long xen_hypercall_memory_op(unsigned cmd, void *arg)
{
	return xen_hypercall3(__HYPERVISOR_memory_op, cmd, (unsigned long)arg, 0);
}

static inline long xen_hypercall_vcpu_op(int cmd, unsigned vcpu, void *arg)
{
	return xen_hypercall3(__HYPERVISOR_vcpu_op, (unsigned long)cmd, vcpu, (unsigned long)arg);
}

static inline long xen_hypercall_hvm_op(unsigned cmd, void *arg)
{
	return xen_hypercall3(__HYPERVISOR_hvm_op, cmd, (unsigned long)arg, 0);
}

#endif
