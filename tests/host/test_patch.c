// SPDX-License-Identifier: MIT
/* test_patch.c: the patcher applied to hand-made machine code in an mmap'd page, which is then run. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/nop.h"
#include "patch/patch.h"
#include "locks/spinlock.h"

#define NR_CASES 13

#include "ktap.h"

/* ---- hook targets ----------------------------------------------------- */

/*
 * The targets return a value of their own in %eax, and the hand-made function
 * returns whatever %eax holds after its site: so the return value tells which
 * of "nothing ran", f, g or an inline replacement happened at the site.
 */
#define EAX_BEFORE 0xdeadbeefu /* loaded before the site; survives a NOP site */
#define F_RET 0x0000f00fu
#define G_RET 0x00006006u
#define INLINE_IMM 0xc0115aa5u
#define XOR_IMM 0x0ff1ce00u
#define NOT_RUN 0x0badc0deu /* call_fn() refused to run the code */

struct calls {
	unsigned n;
	void *lock;
	unsigned ticket;
};
static struct calls f_calls, g_calls;

/* The generated code keeps %rsp 16-aligned; this is for a site that does not. */
#define TARGET __attribute__((noinline, force_align_arg_pointer))

TARGET static uint32_t target_f(void *lock, unsigned ticket)
{
	f_calls.n++;
	f_calls.lock = lock;
	f_calls.ticket = ticket;
	return F_RET;
}

TARGET static uint32_t target_g(void *lock, unsigned ticket)
{
	g_calls.n++;
	g_calls.lock = lock;
	g_calls.ticket = ticket;
	return G_RET;
}

/* ---- the code page ---------------------------------------------------- */

#define PAGE 4096ul
#define NEAR (1ul << 30) /* page within +-1 GiB of the binary: rel32 reaches both ways */
#define FN_SLOT 64       /* one hand-made function per 64 bytes */
#define REC_OFF 2048     /* the records live in the page too: self-relative int32 */
#define MAX_FNS (REC_OFF / FN_SLOT)

/*
 * Each hand-made function:
 *    0: 48 83 ec 08        sub  $8,%rsp       entry %rsp is 8 mod 16: realign for the call
 *    4: b8 ef be ad de     mov  $EAX_BEFORE,%eax
 *    9: <site, 5 bytes>    call <the kind's stub>, or what the patcher made of it
 *   14: 48 83 c4 08        add  $8,%rsp
 *   18: c3                 ret
 * %rdi and %rsi are untouched, so the C arguments reach the site as they would
 * reach a hook called from C.
 */
#define SITE_OFF 9
static const uint8_t prologue[SITE_OFF] = { 0x48, 0x83, 0xec, 0x08, 0xb8, 0xef, 0xbe, 0xad, 0xde };
static const uint8_t epilogue[] = { 0x48, 0x83, 0xc4, 0x08, 0xc3 };

typedef uint32_t (*gen_fn)(void *lock, unsigned ticket);

static uint8_t *page;
static struct patch_site *recs;
static unsigned nr_fns;

/* What the writer was asked to do. */
static unsigned writes, bytes_written;

int main(void);

static bool near(const void *a, const void *b)
{
	intptr_t d = (intptr_t)a - (intptr_t)b;

	return d > -(intptr_t)NEAR && d < (intptr_t)NEAR;
}

/*
 * Ask for a page at hints stepping away from main's; mmap takes a hint only if
 * the range is free, so keep the first answer that is near both the code and
 * the hook stubs (and thus every target in this binary).
 */
static uint8_t *map_near_text(void)
{
	uintptr_t anchor = (uintptr_t)&main & ~(PAGE - 1);

	for (uintptr_t k = 1; k < 64; k++) {
		for (int sign = -1; sign <= 1; sign += 2) {
			uintptr_t hint = sign < 0 ? anchor - k * (16ul << 20) : anchor + k * (16ul << 20);
			void *p = mmap((void *)hint, PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				continue;
			if (near(p, (void *)anchor) && near(p, patch_stubs) && near(p, (void *)target_f) &&
			    near(p, (void *)target_g))
				return p;
			munmap(p, PAGE);
		}
	}
	return NULL;
}

static void protect(int prot)
{
	if (mprotect(page, PAGE, prot)) {
		printf("Bail out! mprotect\n");
		_exit(1);
	}
}

/* The patch_writer_fn: the page is RW only while written, never W and X at once. */
static void page_writer(uint8_t *dst, const uint8_t *src, size_t len)
{
	CHECK(dst >= page && dst + len <= page + REC_OFF);
	protect(PROT_READ | PROT_WRITE);
	memcpy(dst, src, len);
	protect(PROT_READ | PROT_EXEC);
	writes++;
	bytes_written += len;
}

static uint8_t *fn_addr(unsigned i)
{
	return page + i * FN_SLOT;
}

static uint8_t *site_addr(unsigned i)
{
	return fn_addr(i) + SITE_OFF;
}

static gen_fn fn_ptr(unsigned i)
{
	return (gen_fn)(void *)fn_addr(i);
}

/*
 * Fill the page afresh: one function and one record per kind given, every
 * site holding its original bytes. Traps everywhere else.
 */
static void build(const enum patch_kind *kinds, unsigned n)
{
	if (n > MAX_FNS) {
		printf("Bail out! %u functions do not fit\n", n);
		_exit(1);
	}
	protect(PROT_READ | PROT_WRITE);
	memset(page, 0xcc, PAGE);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *fn = fn_addr(i);

		memcpy(fn, prologue, sizeof(prologue));
		patch_original_bytes(site_addr(i), kinds[i], fn + SITE_OFF);
		memcpy(fn + SITE_OFF + PATCH_SITE_LEN, epilogue, sizeof(epilogue));
		recs[i] = (struct patch_site){
			.site = (int32_t)((intptr_t)site_addr(i) - (intptr_t)&recs[i].site),
			.len = PATCH_SITE_LEN,
			.kind = kinds[i],
		};
	}
	protect(PROT_READ | PROT_EXEC);
	nr_fns = n;
	writes = bytes_written = 0;
	f_calls = g_calls = (struct calls){ 0 };
}

/* Raw edit of the page behind the patcher's back (not counted as a write). */
static void poke(uint8_t *at, uint8_t v)
{
	protect(PROT_READ | PROT_WRITE);
	*at = v;
	protect(PROT_READ | PROT_EXEC);
}

static void apply(const struct patch_plan plans[PATCH_NR_KINDS], struct patch_result *r)
{
	patch_apply(recs, recs + nr_fns, plans, page_writer, r);
}

static bool site_is(unsigned i, const uint8_t *bytes)
{
	return !memcmp(site_addr(i), bytes, PATCH_SITE_LEN);
}

static bool site_is_original(unsigned i, enum patch_kind k)
{
	uint8_t orig[PATCH_SITE_LEN];

	patch_original_bytes(site_addr(i), k, orig);
	return site_is(i, orig);
}

static int32_t le32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			 (uint32_t)p[3] << 24);
}

/* Site i is `call rel32` to `to`. */
static bool site_calls(unsigned i, const void *to)
{
	const uint8_t *s = site_addr(i);

	return s[0] == 0xe8 && s + 5 + le32(s + 1) == (const uint8_t *)to;
}

static void dump_site(const char *what, unsigned i)
{
	const uint8_t *s = site_addr(i);

	printf("# %s site %u: %02x %02x %02x %02x %02x\n", what, i, s[0], s[1], s[2], s[3], s[4]);
}

/*
 * Run function i with distinctive arguments; check they reached whoever was
 * called. Not when a check of this case already failed: a site with wrong bytes
 * could jump anywhere, and a clean "not ok" says more than a crash.
 */
static uint32_t call_fn(unsigned i)
{
	static unsigned cookie = 0x1000;
	void *lock = (void *)(uintptr_t)(0x5ec0de00u + i);
	unsigned ticket = ++cookie;
	struct calls f0 = f_calls, g0 = g_calls;
	uint32_t ret;

	if (case_failed) {
		printf("# function %u not run\n", i);
		return NOT_RUN;
	}
	ret = fn_ptr(i)(lock, ticket);

	if (f_calls.n != f0.n)
		CHECK(f_calls.lock == lock && f_calls.ticket == ticket);
	if (g_calls.n != g0.n)
		CHECK(g_calls.lock == lock && g_calls.ticket == ticket);
	return ret;
}

static const struct patch_plan keep_all[PATCH_NR_KINDS] = {
	[PATCH_LOCK_SPINNING] = { .how = PATCH_HOW_KEEP, .target = (void *)target_f },
	[PATCH_UNLOCK_KICK] = { .how = PATCH_HOW_KEEP, .target = (void *)target_f },
	[PATCH_VCPU_IS_PREEMPTED] = { .how = PATCH_HOW_KEEP, .target = (void *)target_f },
};

/* ---- the cases -------------------------------------------------------- */

static void case_unpatched_stub(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING, PATCH_UNLOCK_KICK };

	build(kinds, 2);
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *s = site_addr(i);

		/* e8 rel32: call the kind's stub, which jumps through pv_ops[kind]. */
		CHECK(site_calls(i, patch_stubs + PATCH_STUB_SIZE * kinds[i]));
		CHECK(patch_site_addr(&recs[i]) == s);
	}
	pv_ops[PATCH_LOCK_SPINNING] = (void *)target_f;
	pv_ops[PATCH_UNLOCK_KICK] = (void *)target_g;
	CHECK(call_fn(0) == F_RET);
	CHECK(f_calls.n == 1 && g_calls.n == 0);
	CHECK(call_fn(1) == G_RET);
	CHECK(f_calls.n == 1 && g_calls.n == 1);
}

static void case_patch_nop(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING };
	struct patch_plan plans[PATCH_NR_KINDS];
	struct patch_result r;

	build(kinds, 1);
	memcpy(plans, keep_all, sizeof(plans));
	/* target f: if the site stayed a call, f would run and be counted */
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ .how = PATCH_HOW_NOP, .target = (void *)target_f };
	apply(plans, &r);
	dump_site("after", 0);
	CHECK(r.sites == 1 && r.patched[PATCH_LOCK_SPINNING] == 1 && r.patched[PATCH_UNLOCK_KICK] == 0);
	CHECK(r.refused == 0 && r.inline_misfit == 0);
	CHECK(writes == 1 && bytes_written == PATCH_SITE_LEN);
	CHECK(site_is(0, x86_nops[5]));
	CHECK(call_fn(0) == EAX_BEFORE);
	CHECK(f_calls.n == 0 && g_calls.n == 0);
}

static void case_patch_call(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING };
	struct patch_plan plans[PATCH_NR_KINDS];
	struct patch_result r;

	build(kinds, 1);
	memcpy(plans, keep_all, sizeof(plans));
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ .how = PATCH_HOW_CALL, .target = (void *)target_g };
	apply(plans, &r);
	dump_site("after", 0);
	CHECK(r.sites == 1 && r.patched[PATCH_LOCK_SPINNING] == 1 && r.refused == 0);
	CHECK(writes == 1);
	CHECK(pv_ops[PATCH_LOCK_SPINNING] == (void *)target_g);
	CHECK(site_calls(0, target_g));
	/* Repoint the table at f: only a direct call still reaches g. */
	pv_ops[PATCH_LOCK_SPINNING] = (void *)target_f;
	CHECK(call_fn(0) == G_RET);
	CHECK(g_calls.n == 1 && f_calls.n == 0);
}

static void case_patch_inline(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING, PATCH_UNLOCK_KICK };
	/* mov $INLINE_IMM,%eax: 5 bytes, the whole site, an instruction the #BP handler performs */
	static const uint8_t mov_eax[] = { 0xb8, INLINE_IMM & 0xff, (INLINE_IMM >> 8) & 0xff,
					   (INLINE_IMM >> 16) & 0xff, INLINE_IMM >> 24 };
	/*
	 * xor $XOR_IMM,%eax: 5 bytes too (35 imm32), one instruction, but not one
	 * patch_emulate() knows: a CPU at its int3 during a live write would have
	 * nothing to do, so it is called instead.
	 */
	static const uint8_t xor_eax[] = { 0x35, XOR_IMM & 0xff, (XOR_IMM >> 8) & 0xff,
					   (XOR_IMM >> 16) & 0xff, XOR_IMM >> 24 };
	struct patch_plan plans[PATCH_NR_KINDS] = {
		[PATCH_LOCK_SPINNING] = { .how = PATCH_HOW_INLINE, .target = (void *)target_f,
					  .bytes = mov_eax, .nbytes = sizeof(mov_eax) },
		[PATCH_UNLOCK_KICK] = { .how = PATCH_HOW_INLINE, .target = (void *)target_f,
					.bytes = xor_eax, .nbytes = sizeof(xor_eax) },
	};
	uint8_t e[PATCH_SITE_LEN];
	struct patch_result r;

	build(kinds, 2);
	apply(plans, &r);
	dump_site("after", 0);
	dump_site("after", 1);
	CHECK(r.sites == 2 && r.patched[0] == 1 && r.patched[1] == 1);
	CHECK(r.refused == 0 && r.inline_misfit == 1 && writes == 2);
	CHECK(site_is(0, mov_eax));
	CHECK(site_calls(1, target_f));
	CHECK(call_fn(0) == INLINE_IMM);
	CHECK(f_calls.n == 0 && g_calls.n == 0);
	/* What the #BP handler would do at each: the mov, and the call that replaced the xor. */
	memcpy(e, mov_eax, 5);
	struct patch_regs rg = { 0, 0, 0, 0 };
	CHECK(patch_emulate(e, 0x1000, &rg) && rg.rax == INLINE_IMM && rg.rip == 0x1005);
	CHECK(!patch_emulate(xor_eax, 0x1000, &rg));
}

/* A shorter instruction would need a NOP after it: two instructions. It is called instead. */
static void case_inline_too_short(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING };
	static const uint8_t xor_eax_eax[] = { 0x31, 0xc0 }; /* 2 bytes */
	struct patch_plan plans[PATCH_NR_KINDS];
	struct patch_result r;

	build(kinds, 1);
	memcpy(plans, keep_all, sizeof(plans));
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ .how = PATCH_HOW_INLINE, .target = (void *)target_g,
							  .bytes = xor_eax_eax, .nbytes = sizeof(xor_eax_eax) };
	apply(plans, &r);
	dump_site("after", 0);
	CHECK(r.sites == 1 && r.patched[PATCH_LOCK_SPINNING] == 1);
	CHECK(r.inline_misfit == 1 && r.refused == 0 && writes == 1);
	CHECK(site_calls(0, target_g));
	CHECK(call_fn(0) == G_RET);
	CHECK(g_calls.n == 1 && f_calls.n == 0);
}

static void case_inline_too_long(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING };
	/* mov $imm32,%rax: 7 bytes, two more than a site has */
	static const uint8_t mov_rax[] = { 0x48, 0xc7, 0xc0, 0x11, 0x22, 0x33, 0x44 };
	struct patch_plan plans[PATCH_NR_KINDS];
	struct patch_result r;

	build(kinds, 1);
	memcpy(plans, keep_all, sizeof(plans));
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ .how = PATCH_HOW_INLINE, .target = (void *)target_g,
							  .bytes = mov_rax, .nbytes = sizeof(mov_rax) };
	apply(plans, &r);
	dump_site("after", 0);
	CHECK(r.sites == 1 && r.patched[PATCH_LOCK_SPINNING] == 1);
	CHECK(r.inline_misfit == 1 && r.refused == 0 && writes == 1);
	CHECK(site_calls(0, target_g));
	pv_ops[PATCH_LOCK_SPINNING] = (void *)target_f;
	CHECK(call_fn(0) == G_RET);
	CHECK(g_calls.n == 1 && f_calls.n == 0);
}

static void case_refuse_mismatch(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING, PATCH_LOCK_SPINNING,
						 PATCH_LOCK_SPINNING };
	struct patch_plan plans[PATCH_NR_KINDS];
	uint8_t bad[PATCH_SITE_LEN], odd[PATCH_SITE_LEN];
	struct patch_result r;

	build(kinds, 3);
	/* Site 0: one displacement byte off, as if something else rewrote it. */
	poke(site_addr(0) + 3, site_addr(0)[3] ^ 0x40);
	memcpy(bad, site_addr(0), PATCH_SITE_LEN);
	/* Site 2: intact bytes, but its record claims 6 of them. */
	protect(PROT_READ | PROT_WRITE);
	recs[2].len = 6;
	protect(PROT_READ | PROT_EXEC);
	memcpy(odd, site_addr(2), PATCH_SITE_LEN);
	memcpy(plans, keep_all, sizeof(plans));
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ .how = PATCH_HOW_CALL, .target = (void *)target_g };
	apply(plans, &r);
	dump_site("refused", 0);
	CHECK(r.sites == 3);
	CHECK(r.refused == 2);
	CHECK(r.patched[PATCH_LOCK_SPINNING] == 1);
	/* Only the intact site 1 was written. */
	CHECK(writes == 1);
	CHECK(site_is(0, bad));
	CHECK(site_is(2, odd));
	CHECK(site_calls(1, target_g));
	CHECK(call_fn(1) == G_RET && g_calls.n == 1);
	/* Site 0 is not run: its corrupt call would jump anywhere. */
}

static void case_keep(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING };
	struct patch_result r;

	build(kinds, 1);
	pv_ops[PATCH_LOCK_SPINNING] = NULL;
	apply(keep_all, &r);
	CHECK(r.sites == 1 && r.patched[0] == 0 && r.patched[1] == 0 && r.refused == 0);
	CHECK(writes == 0);
	CHECK(site_is_original(0, PATCH_LOCK_SPINNING));
	/* patch=off: the call of the stub stays, through the table apply filled in. */
	CHECK(pv_ops[PATCH_LOCK_SPINNING] == (void *)target_f);
	CHECK(call_fn(0) == F_RET);
	CHECK(f_calls.n == 1 && g_calls.n == 0);
}

static void case_mixed_kinds(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING, PATCH_UNLOCK_KICK,
						 PATCH_LOCK_SPINNING };
	const struct patch_plan plans[PATCH_NR_KINDS] = {
		[PATCH_LOCK_SPINNING] = { .how = PATCH_HOW_CALL, .target = (void *)target_g },
		[PATCH_UNLOCK_KICK] = { .how = PATCH_HOW_NOP, .target = (void *)target_f },
	};
	struct patch_result r;

	build(kinds, 3);
	apply(plans, &r);
	CHECK(r.sites == 3 && r.refused == 0);
	CHECK(r.patched[PATCH_LOCK_SPINNING] == 2 && r.patched[PATCH_UNLOCK_KICK] == 1);
	CHECK(writes == 3);
	CHECK(site_calls(0, target_g));
	CHECK(site_is(1, x86_nops[5]));
	CHECK(site_calls(2, target_g));
	/* Both table entries at f: only the patched code can reach g, or nothing. */
	pv_ops[PATCH_LOCK_SPINNING] = (void *)target_f;
	pv_ops[PATCH_UNLOCK_KICK] = (void *)target_f;
	CHECK(call_fn(0) == G_RET);
	CHECK(call_fn(1) == EAX_BEFORE);
	CHECK(call_fn(2) == G_RET);
	CHECK(g_calls.n == 2 && f_calls.n == 0);
}

static void case_out_of_range(void)
{
	static const enum patch_kind kinds[] = { PATCH_LOCK_SPINNING };
	struct patch_plan plans[PATCH_NR_KINDS];
	struct patch_result r;
	uint8_t out[PATCH_SITE_LEN];
	bool fell_back;
	/* 3 GiB past the site: no rel32 reaches it. Never called. */
	void *far = (void *)((uintptr_t)site_addr(0) + (3ul << 30));

	build(kinds, 1);
	memcpy(plans, keep_all, sizeof(plans));
	plans[PATCH_LOCK_SPINNING] = (struct patch_plan){ .how = PATCH_HOW_CALL, .target = far };
	CHECK(!patch_build(site_addr(0), PATCH_SITE_LEN, &plans[PATCH_LOCK_SPINNING], out, &fell_back));
	apply(plans, &r);
	CHECK(r.sites == 1 && r.refused == 1 && r.patched[PATCH_LOCK_SPINNING] == 0);
	CHECK(writes == 0);
	CHECK(site_is_original(0, PATCH_LOCK_SPINNING));
	/* apply pointed the table at the far target; a refused site still works once it is real. */
	CHECK(pv_ops[PATCH_LOCK_SPINNING] == far);
	pv_ops[PATCH_LOCK_SPINNING] = (void *)target_f;
	CHECK(call_fn(0) == F_RET && f_calls.n == 1);

	/* Just inside and just outside the reach of a rel32 from the end of the call. */
	plans[0].target = (void *)((uintptr_t)site_addr(0) + 5 + INT32_MAX);
	CHECK(patch_build(site_addr(0), PATCH_SITE_LEN, &plans[0], out, &fell_back));
	CHECK(out[0] == 0xe8 && le32(out + 1) == INT32_MAX);
	plans[0].target = (void *)((uintptr_t)site_addr(0) + 5 + (uintptr_t)INT32_MAX + 1);
	CHECK(!patch_build(site_addr(0), PATCH_SITE_LEN, &plans[0], out, &fell_back));
}

/*
 * This binary's own site table, written into it after linking by
 * patch/sitegen (the Makefile links it with --emit-relocs and runs sitegen):
 * own_site()'s call of unlock_kick is its one site. The record must locate it
 * holding the original bytes; checked with KEEP (the binary's text is not
 * written), then the site is run through its stub.
 */
static void __attribute__((noinline, noclone)) own_site(void *lock, unsigned ticket)
{
	unlock_kick(lock, (uint16_t)ticket);
}

static void case_table_records(void)
{
	struct patch_result r;

	printf("# patch_table: magic %#x, %u record(s)\n", patch_table.magic, patch_table.count);
	CHECK(patch_table.magic == PATCH_TABLE_MAGIC);
	CHECK(patch_table.count == 1);
	if (case_failed)
		return;
	const struct patch_site *s = &patch_table.sites[0];
	uint8_t orig[PATCH_SITE_LEN];
	CHECK(s->len == PATCH_SITE_LEN && s->kind == PATCH_UNLOCK_KICK && s->pad == 0);
	patch_original_bytes(patch_site_addr(s), s->kind, orig);
	CHECK(!memcmp(patch_site_addr(s), orig, PATCH_SITE_LEN));
	CHECK(patch_site_addr(s) > (uint8_t *)own_site && patch_site_addr(s) < (uint8_t *)own_site + 64);
	writes = 0;
	patch_apply(patch_table.sites, patch_table.sites + patch_table.count, keep_all, page_writer, &r);
	CHECK(r.sites == 1 && r.refused == 0 && writes == 0);
	f_calls = (struct calls){ 0 };
	own_site((void *)0x10c4, 0xbeef);
	CHECK(f_calls.n == 1 && f_calls.lock == (void *)0x10c4 && f_calls.ticket == 0xbeef);
}

/*
 * UP alternatives: records pointing at LOCK prefixes become DS prefixes and
 * the code still runs (xadd without the bus lock); a record pointing at any
 * other byte is refused and that byte left alone.
 */
static void case_up_locks(void)
{
	/* mov $5,%eax; lock xadd %eax,(%rdi); ret */
	static const uint8_t code[] = { 0xb8, 0x05, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0xc1, 0x07, 0xc3 };
	int32_t *lrecs = (int32_t *)(page + REC_OFF + 1024);
	uint32_t word = 10;
	unsigned refused = 99;

	protect(PROT_READ | PROT_WRITE);
	memset(page, 0xcc, PAGE);
	memcpy(page, code, sizeof(code));
	lrecs[0] = (int32_t)((intptr_t)(page + 5) - (intptr_t)&lrecs[0]); /* the LOCK prefix */
	lrecs[1] = (int32_t)((intptr_t)(page + 0) - (intptr_t)&lrecs[1]); /* mov: not a prefix */
	protect(PROT_READ | PROT_EXEC);
	writes = bytes_written = 0;
	CHECK(patch_up_locks(lrecs, lrecs + 2, page_writer, &refused) == 1);
	CHECK(refused == 1 && writes == 1 && bytes_written == 1);
	CHECK(page[5] == PATCH_DS_PREFIX && page[0] == 0xb8);
	if (!case_failed) {
		CHECK(((uint32_t(*)(uint32_t *))(void *)page)(&word) == 10);
		CHECK(word == 15);
	}
}

/* The #BP handler's emulation of a site's new instruction (live re-patching). */
static void case_emulate(void)
{
	static const uint8_t call[] = { 0xe8, 0x10, 0x00, 0x00, 0x00 }, nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
			     mov0[] = { 0xb8, 0x00, 0x00, 0x00, 0x00 }, mov7[] = { 0xb8, 0x07, 0x00, 0x00, 0x00 },
			     int3[] = { 0xcc, 0x10, 0x00, 0x00, 0x00 };
	/* addw $2,0x0(%rdi), the native ticket_release, and addw $-1,0x2(%rdi) */
	static const uint8_t addw2[] = { 0x66, 0x83, 0x47, 0x00, 0x02 }, addw_m1_at2[] = { 0x66, 0x83, 0x47, 0x02, 0xff };
	uint64_t stack[4] = { 0 }, site = 0x401000;
	uint16_t words[2] = { 40, 7 };
	struct patch_regs r = { site + 1, (uint64_t)(uintptr_t)&stack[2], 0x5555, 0 };

	CHECK(patch_emulate(call, site, &r));
	CHECK(r.rip == site + 5 + 0x10 && r.rsp == (uint64_t)(uintptr_t)&stack[1] && stack[1] == site + 5 && r.rax == 0x5555);
	r = (struct patch_regs){ site + 1, 99, 0x5555, 0 };
	CHECK(patch_emulate(nop5, site, &r) && r.rip == site + 5 && r.rsp == 99 && r.rax == 0x5555);
	r.rax = ~0ull;
	CHECK(patch_emulate(mov0, site, &r) && r.rip == site + 5 && r.rax == 0);
	CHECK(patch_emulate(mov7, site, &r) && r.rax == 7);
	r = (struct patch_regs){ site + 1, 99, 0x5555, (uint64_t)(uintptr_t)words };
	CHECK(patch_emulate(addw2, site, &r) && r.rip == site + 5 && words[0] == 42 && words[1] == 7 && r.rax == 0x5555);
	CHECK(patch_emulate(addw_m1_at2, site, &r) && words[0] == 42 && words[1] == 6);
	r.rip = site + 1;
	CHECK(!patch_emulate(int3, site, &r) && r.rip == site + 1);
}

static void case_patch_kind_name(void)
{
	CHECK(!strcmp(patch_kind_name(PATCH_LOCK_SPINNING), "lock_spinning"));
	CHECK(!strcmp(patch_kind_name(PATCH_UNLOCK_KICK), "unlock_kick"));
	CHECK(!strcmp(patch_kind_name(PATCH_VCPU_IS_PREEMPTED), "vcpu_is_preempted"));
	CHECK(!strcmp(patch_kind_name(PATCH_RELEASE), "ticket_release"));
	CHECK(!strcmp(patch_kind_name(PATCH_NR_KINDS), "?"));
	CHECK(!strcmp(patch_kind_name((enum patch_kind)-1), "?"));
}

/*
 * Running patched code that is wrong ends in a fault; report which case it
 * was in KTAP form rather than die silently. Async-signal-safe: write() only.
 */
static void put(const char *str)
{
	if (write(STDOUT_FILENO, str, strlen(str)) < 0)
		_exit(2);
}

static void on_fault(int sig)
{
	char num[12];
	unsigned v = case_no, k = sizeof(num);

	num[--k] = 0;
	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(sig == SIGSEGV ? "# SIGSEGV" : sig == SIGILL ? "# SIGILL" : sig == SIGTRAP ? "# SIGTRAP" : "# SIGBUS");
	put(" running patched code\nnot ok ");
	put(num + k);
	put(" ");
	put(case_name);
	put(" # crashed\n");
	_exit(1);
}

int main(void)
{
	static const int sigs[] = { SIGSEGV, SIGILL, SIGTRAP, SIGBUS };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("KTAP version 1\n1..%d\n", NR_CASES);
	page = map_near_text();
	if (!page) {
		printf("Bail out! no page within 1 GiB of the text\n");
		return 1;
	}
	recs = (struct patch_site *)(page + REC_OFF);
	printf("# code page at %p, main at %p, pv_ops at %p\n", (void *)page, (void *)&main,
	       (void *)pv_ops);
	protect(PROT_READ | PROT_EXEC);

	run_case("unpatched_stub", case_unpatched_stub);
	run_case("patch_nop", case_patch_nop);
	run_case("patch_call", case_patch_call);
	run_case("patch_inline", case_patch_inline);
	run_case("inline_too_long", case_inline_too_long);
	run_case("inline_too_short", case_inline_too_short);
	run_case("refuse_mismatch", case_refuse_mismatch);
	run_case("keep", case_keep);
	run_case("mixed_kinds", case_mixed_kinds);
	run_case("out_of_range", case_out_of_range);
	run_case("table_records", case_table_records);
	run_case("up_locks", case_up_locks);
	run_case("emulate", case_emulate);
	run_case("patch_kind_name", case_patch_kind_name);
	munmap(page, PAGE);
	return nr_failed ? 1 : 0;
}
