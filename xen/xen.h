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

/*
 * For the conformance suite (tests/guest/conform.c), valid once the backend
 * started (xen_ready()): each is one hypercall or one access to shared_info,
 * nothing more, so that what the suite sees is what Xen did. cpu is pvtick's
 * cpu index; ports are masked unless the suite unmasks one.
 */
bool xen_ready(void);
evtchn_port_t xen_cpu_port(unsigned cpu);       /* cpu's own IPI port (bound at init) */
u32 xen_cpu_vcpu(unsigned cpu);                 /* its Xen vCPU id */
u64 xen_now(unsigned cpu);                      /* Xen system time (ns) from cpu's time record */
bool xen_time_ok(unsigned cpu);                 /* cpu has a time record (legacy vCPU range) */
bool xen_port_pending(evtchn_port_t p);
void xen_port_clear(evtchn_port_t p);
void xen_port_mask(evtchn_port_t p, bool masked);
u8 xen_upcall_pending(unsigned cpu);            /* vcpu_info's evtchn_upcall_pending */
void xen_upcall_clear(unsigned cpu);            /* ... and evtchn_pending_sel */
long xen_poll(const evtchn_port_t *ports, unsigned n, u64 deadline_ns); /* SCHEDOP_poll */
long xen_send(evtchn_port_t p);                 /* EVTCHNOP_send */
long xen_bind_ipi(u32 vcpu, evtchn_port_t *port);
long xen_alloc_unbound(evtchn_port_t *port);    /* for DOMID_SELF */
long xen_close(evtchn_port_t p);
long xen_vm_assist(unsigned cmd, unsigned type);
u64 xen_upcalls(unsigned cpu);                   /* callback vector interrupts this CPU took */
const volatile struct vcpu_runstate_info *xen_runstate(unsigned cpu); /* registered by cpu_init */

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

static inline long xen_hypercall_xen_version(int cmd, void *arg)
{
	return xen_hypercall3(__HYPERVISOR_xen_version, (unsigned long)cmd, (unsigned long)arg, 0);
}

static inline long xen_hypercall_hvm_op(unsigned cmd, void *arg)
{
	return xen_hypercall3(__HYPERVISOR_hvm_op, cmd, (unsigned long)arg, 0);
}

#endif
