/* SPDX-License-Identifier: MIT */
/* patch.h: paravirt patch-site records, the site table sitegen writes, and the apply loop's interface. */
#ifndef PVTICK_PATCH_H
#define PVTICK_PATCH_H

/*
 * A patch site is a call of one hook. To the C compiler the hooks are ordinary
 * external functions (declared in locks/spinlock.h), so a call of one is
 *
 *     e8 <rel32>             call lock_spinning              (5 bytes)
 *
 * and lock_spinning itself is a stub (patch/stubs.S) that jumps through the
 * ops table, `jmp *pv_ops+8*kind(%rip)`: unpatched, a site works on any
 * backend. The table of sites is not written by the compiler: patch/sitegen, a
 * host tool, reads the linked image's relocations, finds every call of a hook
 * and writes the table into the image's patch_table (reserved at full
 * size by patch/stubs.S, so nothing moves). At boot, before the APs start,
 * patch_apply() rewrites each site once:
 *     NOP      -> one 5-byte NOP                    (native: the hook does nothing)
 *     CALL     -> e8 <rel32 to the backend>          (a direct call into a backend)
 *     INLINE   -> the backend's bytes: one instruction of exactly 5 bytes
 *                 (any other length is called instead: never padded)
 * Every replacement the kernel uses is one instruction of 5 bytes (a NOP, a
 * call, `mov $0,%eax`, `addw $2,0x0(%rdi)`), so that a CPU interrupted at a
 * site is either before it or after it, never inside: live re-patching relies
 * on that.
 */
#define PATCH_SITE_LEN 5
#define PATCH_RECORD_SIZE 8
#define PATCH_TABLE_MAX 64          /* sites the reserved table holds */
#define PATCH_TABLE_MAGIC 0x53545650 /* "PVTS": sitegen filled the table */
#define PATCH_TABLE_BYTES (8 + PATCH_RECORD_SIZE * PATCH_TABLE_MAX)
#define PATCH_STUB_SIZE 8           /* stubs are laid out 8 bytes apart, in kind order */

#ifndef __ASSEMBLER__
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

/* Kinds of patch site. MUST match the index into pv_ops[] and the stubs' order. */
enum patch_kind {
	PATCH_LOCK_SPINNING = 0, /* void lock_spinning(struct ticketlock *, u16 want) */
	PATCH_UNLOCK_KICK = 1,   /* void unlock_kick(struct ticketlock *, u16 next) */
	PATCH_VCPU_IS_PREEMPTED = 2, /* bool vcpu_is_preempted(unsigned cpu) */
	PATCH_RELEASE = 3,       /* void ticket_release(struct ticketlock *): the whole unlock */
	PATCH_NR_KINDS
};

/* One record per site, written by patch/sitegen. */
struct patch_site {
	int32_t site; /* address of the site, relative to &this->site */
	uint8_t len;  /* bytes at the site (PATCH_SITE_LEN) */
	uint8_t kind; /* enum patch_kind */
	uint16_t pad;
};
_Static_assert(sizeof(struct patch_site) == PATCH_RECORD_SIZE, "record layout");

/* The table sitegen writes: magic, then count records sorted by address. */
struct patch_table {
	uint32_t magic; /* PATCH_TABLE_MAGIC once sitegen ran; 0 as linked */
	uint32_t count;
	struct patch_site sites[PATCH_TABLE_MAX];
};
_Static_assert(sizeof(struct patch_table) == PATCH_TABLE_BYTES, "table layout");

/* In patch/stubs.S: the table (filled after linking), and the stubs, kind k at +8k. */
extern const struct patch_table patch_table;
extern const char patch_stubs[];

/* The indirect targets the stubs jump through. */
extern void *pv_ops[PATCH_NR_KINDS];

static inline uint8_t *patch_site_addr(const struct patch_site *s)
{
	return (uint8_t *)((intptr_t)&s->site + s->site);
}

/* How a backend wants the sites of one kind rewritten. */
enum patch_how {
	PATCH_HOW_NOP,    /* the hook is a no-op here */
	PATCH_HOW_CALL,   /* direct call to .target */
	PATCH_HOW_INLINE, /* copy .bytes/.nbytes in place: one instruction of exactly the site's
			     length (no NOP padding) that patch_emulate() performs:
			     `mov $imm32,%eax` or `addw $imm8,disp8(%rdi)`; anything
			     else falls back to CALL */
	PATCH_HOW_KEEP,   /* leave the indirect call (patch=off) */
};

struct patch_plan {
	enum patch_how how;
	void *target;        /* function for CALL (and for pv_ops[]) */
	const uint8_t *bytes; /* inline replacement, position independent */
	uint8_t nbytes;
};

/* What happened to the sites: filled in by patch_apply(). */
struct patch_result {
	unsigned sites;                   /* records seen */
	unsigned patched[PATCH_NR_KINDS]; /* sites rewritten, per kind */
	unsigned refused;                 /* sites left alone: bytes did not match, or plan unbuildable */
	unsigned inline_misfit;           /* INLINE plans not of the site's length: fell back to CALL */
};

/*
 * Writes len bytes at dst (text) from src. The kernel maps dst's pages through a
 * temporary writable alias; host tests write an mmap'd page. MUST NOT make the
 * text mapping itself writable.
 */
typedef void (*patch_writer_fn)(uint8_t *dst, const uint8_t *src, size_t len);

/* The bytes an unpatched site of kind k at address at MUST hold. */
void patch_original_bytes(const uint8_t *at, enum patch_kind k, uint8_t out[PATCH_SITE_LEN]);

/*
 * Build the bytes for one site under plan p (at: the site's address, len: its
 * length). Returns false if the plan cannot be expressed (target out of rel32
 * range).
 */
bool patch_build(const uint8_t *at, unsigned len, const struct patch_plan *p, uint8_t *out,
		 bool *inline_fell_back);

/*
 * Apply plans[kind] to every site in [first, last): check each site still holds
 * its original bytes (refuse otherwise, counted in r->refused), then write it
 * with write(). Single-threaded: the caller MUST ensure no other CPU runs the
 * sites (at boot, before the APs start). Also points pv_ops[] at the targets.
 */
void patch_apply(const struct patch_site *first, const struct patch_site *last,
		 const struct patch_plan plans[PATCH_NR_KINDS], patch_writer_fn write,
		 struct patch_result *r);

/*
 * UP alternatives: the LOCK prefixes the lock's atomics record in section
 * smp_locks (TICKET_LOCK in locks/spinlock.h), one self-relative int32 each.
 * patch_up_locks() writes 0x3e (DS) over each recorded 0xf0 with write(); a
 * byte that is not 0xf0 is left alone and counted in *refused. Returns the
 * number rewritten. MUST run only when the machine has one CPU, before anything
 * else runs the lock.
 */
extern const int32_t __start_smp_locks[], __stop_smp_locks[];
#define PATCH_LOCK_PREFIX 0xf0
#define PATCH_DS_PREFIX 0x3e
unsigned patch_up_locks(const int32_t *first, const int32_t *last, patch_writer_fn write, unsigned *refused);

/* The registers patch_emulate() reads or writes, of a CPU trapped at a site. */
struct patch_regs {
	uint64_t rip, rsp, rax, rdi;
};
/*
 * What the CPU would do running the 5-byte instruction `insn` at `site`, done
 * to a trapped CPU's registers: `call rel32` pushes site + 5 at rsp - 8 and
 * goes to the target; the 5-byte NOP goes to site + 5; `mov $imm32,%eax` sets
 * rax (zero-extended); `addw $imm8,disp8(%rdi)` adds to the 16-bit word there
 * (the flags are not set: after a site, which the compiler took for a call,
 * none is live). For the #BP handler of live re-patching (patch/live.c),
 * which MUST run on a stack of its own (IST) so that the push below the
 * interrupted rsp is free. false for any other bytes.
 */
bool patch_emulate(const uint8_t insn[PATCH_SITE_LEN], uint64_t site, struct patch_regs *r);

/*
 * Kernel only (patch/live.c): rewrite one site with `new` while other CPUs may
 * be running it (the breakpoint protocol; see live.c). Sites are rewritten one
 * at a time (callers on several CPUs at once are serialised), and the
 * comparison happens under the same lock as the write, so no caller ever sees
 * a half-written site:
 *   PATCH_LIVE_HELD   the site held `new` already: nothing written;
 *   PATCH_LIVE_OTHER  expect (MAY be NULL: any bytes) was given and the site
 *                     held neither it nor `new`: nothing written (another
 *                     writer got there first with other bytes);
 *   PATCH_LIVE_WROTE  the site held `expect` (or anything, if NULL): rewritten;
 *   PATCH_LIVE_REWROTE the same, at an address a live write had written
 *                     before (a live switch does that all the time; a lazy
 *                     resolver never may: see lazy.c).
 * The #BP handler claims an int3 at any address ever written here (see
 * live.c for why the byte in memory cannot decide). Counts the CPUs sent on
 * at the site in flight (bp_hits) and those sent back to run an address again
 * (stale_hits).
 */
enum patch_live_result { PATCH_LIVE_WROTE, PATCH_LIVE_REWROTE, PATCH_LIVE_HELD, PATCH_LIVE_OTHER };
enum patch_live_result patch_live_write(uint8_t *site, const uint8_t *expect, const uint8_t new[PATCH_SITE_LEN]);
extern uint64_t patch_live_bp_hits, patch_live_stale_hits;
/* Has patch_live_write() ever written int3 at site? (Lock-free: the #BP handler's test.) */
bool patch_live_written(const uint8_t *site);
/*
 * inject=slow-patch: microseconds spent inside each step of a live write
 * (after the int3, after bytes 1..4), and, through patch_live_slow(), by a
 * lazy resolver before it looks at its site: the windows a race needs.
 */
extern uint64_t patch_live_delay_us;
void patch_live_slow(void);

/*
 * Kernel only (patch/lazy.c), patch=lazy: point pv_ops[] at one resolver per
 * kind. A resolver is entered from a site's call of its stub; it rewrites
 * that site live to what plans[kind] builds (if the site still holds the call
 * of the stub: see lazy.c) and returns to the site, which runs again. The
 * table is not read. Counts: sites rewritten, and resolver calls (several
 * vCPUs may reach one site at once).
 */
void patch_lazy_start(const struct patch_plan plans[PATCH_NR_KINDS]);
extern unsigned patch_lazy_resolved, patch_lazy_calls;
/* Resolver writes over a site a live write had changed: a lost switch; must stay 0. */
extern unsigned patch_lazy_overwrites;

/*
 * Kernel only (patch/table.c): re-read every site of patch_table and compare
 * it with what plans[] builds (lazy: or its original call, if no CPU ran it
 * yet: counted in *unpatched). Logs each site's bytes, prefixed by `when`;
 * returns the number of sites that differ.
 */
unsigned patch_verify_sites(const struct patch_plan plans[PATCH_NR_KINDS], bool lazy, const char *when,
			    unsigned *unpatched);

/*
 * Kernel only (patch/table.c), UP alternatives (option up=): with one CPU and
 * !up_off, every recorded LOCK prefix becomes a DS prefix. Logs one line
 * either way: "# patch: up: ...". MUST run on the BSP before any AP starts.
 * false if a recorded byte was not a LOCK prefix, or did not read back as DS.
 */
bool patch_up_boot(unsigned cpus, bool up_off);

/* n bytes of a and b equal? (Sites are compared with it everywhere in patch/.) */
bool patch_same(const uint8_t *a, const uint8_t *b, unsigned n);

/* Name of a kind, for logs. */
const char *patch_kind_name(enum patch_kind k);

#endif /* __ASSEMBLER__ */
#endif
