// SPDX-License-Identifier: MIT
/* fastpath.c: make bench: the cost of the lock's hook sites on bare metal, measured on the host. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include "locks/spinlock.h"

/*
 * The kernel's own lock (locks/spinlock.h, locks/ticket.c) and patcher
 * (patch/patch.c), built for Linux. One variant per process, chosen by argv[1]:
 *   nohooks   built with -DTICKET_NO_HOOKS: no sites, no SF test, plain unlock
 *   nop       the sites of this very process patched as the native backend does:
 *             NOPs, `mov $0,%eax`, and the unlock in place (`addw $2,0x0(%rdi)`)
 *   call      ... to direct calls: the unlock's site calls ticket_release_pv (the
 *             PV unlock: locked add, SF test), whose unlock_kick site calls an
 *             empty hook
 *   indirect  left as they are: a call of the stub, which jumps through pv_ops[kind]
 * argv[2]: "free" (the lock word as the kernel has it) or "sf" (SF kept set,
 * so every PV unlock runs its unlock_kick site: what the site itself costs;
 * the native unlock never looks at SF).
 * argv[3]: iterations of lock+unlock.
 * Prints "variant mode iters cycles_per_op" (TSC cycles, the minimum of 5 runs of
 * the loop in this process). Instructions are counted from outside, with
 * callgrind, as the difference between two iteration counts.
 *
 * The text is written through /proc/self/mem: a second way into the same page,
 * like the kernel's alias mapping; the text mapping itself never becomes
 * writable.
 */

static unsigned self_index;
unsigned ticket_self(void)
{
	return self_index;
}

#define HOOK __attribute__((force_align_arg_pointer, target("general-regs-only"), noinline, unused))
HOOK static void native_lock_spinning(struct ticketlock *lock, uint16_t want)
{
	(void)lock, (void)want;
}
HOOK static void native_unlock_kick(struct ticketlock *lock, uint16_t next)
{
	(void)lock, (void)next;
}

HOOK static bool native_vcpu_is_preempted(unsigned cpu)
{
	(void)cpu;
	return false;
}


static int mem_fd = -1;
__attribute__((unused)) static void write_text(uint8_t *dst, const uint8_t *src, size_t len)
{
	if (pwrite(mem_fd, src, len, (off_t)(uintptr_t)dst) != (ssize_t)len) {
		perror("fastpath: pwrite /proc/self/mem");
		exit(2);
	}
}

static struct ticketlock lock;

/* The measured loop: noinline, so each variant runs the same code around its sites. */
__attribute__((noinline)) static void loop(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		ticket_lock(&lock);
		__asm__ volatile("" ::: "memory");
		ticket_unlock(&lock);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[2], "free") && strcmp(argv[2], "sf"))) {
		fprintf(stderr, "usage: %s nohooks|nop|call|indirect free|sf ITERATIONS\n", argv[0]);
		return 2;
	}
	const char *v = argv[1];
	uint64_t n = strtoull(argv[3], 0, 10);
#ifdef TICKET_NO_HOOKS
	if (strcmp(v, "nohooks")) {
		fprintf(stderr, "fastpath: this build has no hooks: only 'nohooks'\n");
		return 2;
	}
#else
	struct patch_plan plans[PATCH_NR_KINDS] = {
		[PATCH_LOCK_SPINNING] = { PATCH_HOW_NOP, (void *)native_lock_spinning, 0, 0 },
		[PATCH_UNLOCK_KICK] = { PATCH_HOW_NOP, (void *)native_unlock_kick, 0, 0 },
		[PATCH_VCPU_IS_PREEMPTED] = { PATCH_HOW_NOP, (void *)native_vcpu_is_preempted, 0, 0 },
		/* call, indirect: the PV unlock (SF test, then the unlock_kick site) */
		[PATCH_RELEASE] = { PATCH_HOW_NOP, (void *)ticket_release_pv, 0, 0 },
	};
	struct patch_result r;
	enum patch_how how;
	if (!strcmp(v, "nop"))
		how = PATCH_HOW_NOP;
	else if (!strcmp(v, "call"))
		how = PATCH_HOW_CALL;
	else if (!strcmp(v, "indirect"))
		how = PATCH_HOW_KEEP;
	else {
		fprintf(stderr, "fastpath: unknown variant '%s' (nop|call|indirect in this build)\n", v);
		return 2;
	}
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		plans[k].how = how;
	/* As the kernel's native plan: the answer false in place (a NOP would leave %eax unset). */
	static const uint8_t mov0_eax[] = { 0xb8, 0, 0, 0, 0 };
	/* And the native unlock in place: ticket_release's site holds addw $2,0x0(%rdi). */
	static const uint8_t release[] = TICKET_RELEASE_NATIVE;
	if (how == PATCH_HOW_NOP) {
		plans[PATCH_VCPU_IS_PREEMPTED] = (struct patch_plan){ PATCH_HOW_INLINE, 0, mov0_eax, 5 };
		plans[PATCH_RELEASE] = (struct patch_plan){ PATCH_HOW_INLINE, 0, release, 5 };
	}
	mem_fd = open("/proc/self/mem", O_RDWR);
	if (mem_fd < 0) {
		perror("fastpath: open /proc/self/mem");
		return 2;
	}
	if (patch_table.magic != PATCH_TABLE_MAGIC) {
		fprintf(stderr, "fastpath: no site table: the Makefile runs patch/sitegen on this binary\n");
		return 2;
	}
	patch_apply(patch_table.sites, patch_table.sites + patch_table.count, plans, write_text, &r);
	unsigned patched = 0;
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		patched += r.patched[k];
	if (r.sites == 0 || r.refused || patched != (how == PATCH_HOW_KEEP ? 0 : r.sites)) {
		fprintf(stderr, "fastpath: %u sites, %u patched, %u refused\n", r.sites, patched, r.refused);
		return 1;
	}
#endif
	if (!strcmp(argv[2], "sf"))
		lock.t.tail |= TICKET_SLOWPATH_FLAG; /* lock/unlock keep it: unlock_kick runs every time */

	uint64_t best = UINT64_MAX;
	for (int run = 0; run < 5; run++) {
		uint64_t t0 = __builtin_ia32_rdtsc();
		loop(n);
		uint64_t t = __builtin_ia32_rdtsc() - t0;
		if (t < best)
			best = t;
	}
	/* The lock must be free and every acquisition accounted for. */
	if (lock.t.head != (uint16_t)(lock.t.tail & ~TICKET_SLOWPATH_FLAG) ||
	    lock.t.head != (uint16_t)(5 * n * TICKET_INC)) {
		fprintf(stderr, "fastpath: lock word %08x after %" PRIu64 " acquisitions\n", lock.word, 5 * n);
		return 1;
	}
	printf("%s %s %" PRIu64 " %.2f\n", v, argv[2], n, (double)best / (double)n);
	return 0;
}
