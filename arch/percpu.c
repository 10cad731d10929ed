// SPDX-License-Identifier: MIT
/* percpu.c: per-vCPU data reached through %gs, and each CPU's GDT entry for its TSS. */
#include "arch.h"

struct percpu cpus[MAX_CPUS];
unsigned cpu_count;

/* null, code64, data, code32, then one 16-byte TSS descriptor per CPU. */
static u64 gdt[4 + 2 * MAX_CPUS] __attribute__((aligned(16))) = {
	0,
	0x00af9a000000ffff, /* SEL_CODE64 */
	0x00cf92000000ffff, /* SEL_DATA */
	0x00cf9a000000ffff, /* SEL_CODE32 */
};

static void gdt_set_tss(unsigned index, struct tss64 *tss)
{
	u64 base = (u64)(uintptr_t)tss, limit = sizeof(*tss) - 1;
	gdt[4 + 2 * index] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			     (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[4 + 2 * index + 1] = base >> 32;
}

void percpu_init_self(unsigned index)
{
	extern char _stacks_start[];
	struct percpu *p = &cpus[index];
	u64 slot = (u64)(uintptr_t)_stacks_start + (u64)index * STACK_SLOT;

	p->self = p;
	p->index = index;
	p->stack_top = slot + STACK_TOP;
	p->tss.ist[IST_FAULT - 1] = slot + IST_TOP;
	p->tss.ist[IST_BP - 1] = slot + IST_BP_TOP;
	p->tss.ist[IST_DF - 1] = slot + IST_DF_TOP;
	p->tss.iomap = sizeof(p->tss);
	gdt_set_tss(index, &p->tss);

	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) gdtr = { sizeof(gdt) - 1, (u64)(uintptr_t)gdt };
	__asm__ volatile("lgdt %0" ::"m"(gdtr));
	__asm__ volatile("ltr %w0" ::"r"((u16)(SEL_TSS0 + 16 * index)));
	x86_wrmsr(MSR_GS_BASE, (u64)(uintptr_t)p);
	idt_load();
}
