// SPDX-License-Identifier: MIT
/* traps.c: the IDT; exceptions print vector, error code, RIP, CR2 and the vCPU, then fail the run. */
#include "arch.h"

struct idt_gate {
	u16 off0, sel;
	u8 ist, type;
	u16 off1;
	u32 off2, rsvd;
} __attribute__((packed));

static struct idt_gate idt[256];
extern const u64 trap_stubs[37];
void (*timer_tick_fn)(void);
bool (*trap_bp_fn)(struct trap_frame *f);
bool (*trap_nmi_fn)(struct trap_frame *f);
void (*trap_upcall_fn)(void);

static const char *const exc_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound",
	"#UD invalid opcode", "#NM no FPU", "#DF double fault", "coprocessor overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved", "#MF x87", "#AC alignment", "#MC machine check",
	"#XM SIMD", "#VE virtualisation", "#CP control protection",
};

static void set_gate(unsigned vec, u64 handler, u8 ist)
{
	idt[vec] = (struct idt_gate){
		.off0 = (u16)handler,
		.sel = SEL_CODE64,
		.ist = ist,
		.type = 0x8e, /* present, DPL 0, 64-bit interrupt gate */
		.off1 = (u16)(handler >> 16),
		.off2 = (u32)(handler >> 32),
	};
}

void idt_init(void)
{
	for (unsigned v = 0; v < 32; v++) {
		/*
		 * NMI, #PF, #MC run on IST1: a kernel stack overflow still gets
		 * reported. #BP has IST2 to itself: its handler may emulate a call at
		 * a site being re-patched, pushing below the interrupted %rsp
		 * (patch/live.c), and then returns; were its stack shared, a #PF or
		 * NMI inside it would start at the same top and overwrite its frame.
		 * #DF has IST3: it may come from a fault on IST1.
		 */
		u8 ist = v == 3 ? IST_BP : v == 8 ? IST_DF : (v == 2 || v == 14 || v == 18) ? IST_FAULT : 0;
		set_gate(v, trap_stubs[v], ist);
	}
	set_gate(VEC_TIMER, trap_stubs[32], 0);
	set_gate(VEC_SYNC, trap_stubs[33], 0);
	set_gate(VEC_WAKE, trap_stubs[34], 0);
	set_gate(VEC_UPCALL, trap_stubs[35], 0);
	set_gate(VEC_SPURIOUS, trap_stubs[36], 0);
}

void idt_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (u64)(uintptr_t)idt };
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

/* Which CPU is this, without trusting %gs (it may be what faulted). */
static int cpu_of_stack(u64 rsp)
{
	extern char _stacks_start[];
	u64 base = (u64)(uintptr_t)_stacks_start;
	if (rsp < base || rsp >= base + (u64)MAX_CPUS * STACK_SLOT)
		return -1;
	return (int)((rsp - base) / STACK_SLOT);
}

static void describe_pf(u64 cr2)
{
	extern char _stacks_start[];
	u64 base = (u64)(uintptr_t)_stacks_start;
	if (cr2 >= base && cr2 < base + (u64)MAX_CPUS * STACK_SLOT) {
		u64 off = (cr2 - base) % STACK_SLOT;
		static const struct { u64 guard; const char *stack; } guards[] = {
			{ STACK_GUARD1, "kernel" }, { STACK_GUARD2, "IST1 (NMI, #PF, #MC)" },
			{ STACK_GUARD3, "IST2 (#BP)" }, { STACK_GUARD4, "IST3 (#DF)" },
		};
		for (unsigned i = 0; i < sizeof(guards) / sizeof(guards[0]); i++)
			if (off >= guards[i].guard && off < guards[i].guard + 4096)
				kprintf("# fault: CR2 is in the guard page under cpu %u's %s stack (overflow)\n",
					(unsigned)((cr2 - base) / STACK_SLOT), guards[i].stack);
	}
	if (cr2 < 4096)
		kprintf("# fault: NULL pointer dereference\n");
}

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == VEC_TIMER) {
		if (timer_tick_fn)
			timer_tick_fn();
		apic_eoi();
		return;
	}
	if (f->vector == VEC_SPURIOUS)
		return;
	if (f->vector == VEC_WAKE) { /* its work is done: the halted AP is running again */
		apic_eoi();
		return;
	}
	if (f->vector == VEC_UPCALL && trap_upcall_fn) {
		trap_upcall_fn();
		apic_eoi();
		return;
	}
	if (f->vector == VEC_SYNC) {
		smp_sync_ack();
		apic_eoi();
		return; /* iretq: serialising, the point of the IPI */
	}
	if (f->vector == 3 && trap_bp_fn && trap_bp_fn(f))
		return;
	if (f->vector == 2 && trap_nmi_fn && trap_nmi_fn(f))
		return;

	u64 cr2 = x86_read_cr2();
	int cpu = cpu_of_stack(f->rsp);
	kprintf("# fault: %s (vector %u) error=%lx rip=%lx cr2=%lx rsp=%lx cpu=%d\n",
		f->vector < 32 && exc_names[f->vector] ? exc_names[f->vector] : "?",
		(unsigned)f->vector, f->error, f->rip, cr2, f->rsp, cpu);
	if (f->vector == 14) {
		kprintf("# fault: page fault on %s of a %s page, %s mode%s\n",
			f->error & 2 ? "write" : (f->error & 16 ? "instruction fetch" : "read"),
			f->error & 1 ? "present (rights violation)" : "not-present",
			f->error & 4 ? "user" : "kernel", f->error & 8 ? ", reserved bit" : "");
		describe_pf(cr2);
	}
	kprintf("not ok 1 unexpected_exception # vector %u on cpu %d\n", (unsigned)f->vector, cpu);
	machine_exit(false);
}
