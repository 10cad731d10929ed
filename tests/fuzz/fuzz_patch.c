// SPDX-License-Identifier: MIT
/* fuzz_patch.c: libFuzzer target for the patcher (patch/patch.c): site records, text, plans. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "patch/patch.h"
#include "fuzz.h"

/*
 * patch_apply() over fuzzed site records, text bytes and plans, and
 * patch_build() with fuzzed lengths. The text is a static buffer, so it lies
 * within rel32 reach of the hook stubs as a kernel's text does; nothing in it is
 * ever run. Targets are never called either: any canonical address will do.
 *
 * Input, read in order (missing bytes read as 0):
 *   1 byte    records used (mod MAX_RECS + 1)
 *   2 x 20    a plan per kind: how (mod 4), target selector sel, u64 v, nbytes
 *             (mod 10), 9 inline bytes. The target, by sel mod 5: NULL;
 *             text + (int32_t)v; the canonical address v; text + 5 + INT32_MAX
 *             + (int8_t)v, or text + 5 + INT32_MIN + (int8_t)v (the edges of
 *             rel32 reach)
 *   8 x 5     records: u16 site offset in the text, len, kind, flags:
 *               bit 0  write the kind's original bytes at the site first
 *               bit 1  ...those of the other kind instead
 *               bit 2  then flip bit 6 of byte (flags >> 5) % 5 of them
 *               bit 3  len as given (else PATCH_SITE_LEN)
 *               bit 4  kind as given (else its bit 0)
 *   2 bytes   patch_build() length (0..16) and site offset, for the plan of kind 0
 *   the rest  text bytes, before the originals are written over them
 *
 * Invariants checked on every input:
 *  1. patch_apply() does exactly what the model below predicts, record by
 *     record: refuse a bad kind or length, or bytes that are not
 *     `e8 <rel32 to the kind's stub>`; keep a KEEP site; else write the
 *     planned 5 bytes (NOP, inline + NOP padding, or `e8 <rel32>`, and
 *     refuse a CALL with no target or one out of rel32 reach). Every write is
 *     PATCH_SITE_LEN bytes at a record's site, inside the text; the counters
 *     add up (patched + refused + kept == sites); pv_ops[] ends at the targets.
 *  2. patch_build() writes no more than len bytes (out is a heap block of
 *     exactly len: ASan), and succeeds exactly when the model does, with the
 *     model's bytes; NOP padding is the SDM's NOPs, longest first.
 */

#define TEXT_LEN 256
#define MAX_RECS 8
#define MAX_BUILD_LEN 16

static uint8_t text[TEXT_LEN] __attribute__((aligned(64)));
static struct patch_site recs[MAX_RECS];

/* The recommended NOPs of the Intel SDM (vol. 2B, "NOP"), as the model's own table. */
static const uint8_t sdm_nops[9][8] = {
	[1] = { 0x90 },
	[2] = { 0x66, 0x90 },
	[3] = { 0x0f, 0x1f, 0x00 },
	[4] = { 0x0f, 0x1f, 0x40, 0x00 },
	[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[7] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

static void model_nops(uint8_t *out, unsigned len)
{
	while (len) {
		unsigned n = len > 8 ? 8 : len;
		memcpy(out, sdm_nops[n], n);
		out += n;
		len -= n;
	}
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* rel32 from `end` to `to` in integers (no pointer arithmetic out of an object). */
static bool model_rel32(uintptr_t end, uintptr_t to, uint32_t *out)
{
	int64_t d = (int64_t)(to - end);
	if (d < INT32_MIN || d > INT32_MAX)
		return false;
	*out = (uint32_t)d;
	return true;
}

static void model_original(uintptr_t at, unsigned kind, uint8_t out[PATCH_SITE_LEN])
{
	uint32_t d = 0;
	out[0] = 0xe8;
	CHECK(model_rel32(at + PATCH_SITE_LEN, (uintptr_t)patch_stubs + PATCH_STUB_SIZE * kind, &d));
	le32(out + 1, d);
}

/* What patch_build() must produce: false if it must fail. */
static bool model_build(uintptr_t at, unsigned len, const struct patch_plan *p, uint8_t *out,
			bool *fell_back)
{
	uint32_t d;

	*fell_back = false;
	switch (p->how) {
	case PATCH_HOW_KEEP:
		return false;
	case PATCH_HOW_NOP:
		model_nops(out, len);
		return true;
	case PATCH_HOW_INLINE:
		/* one instruction the #BP handler performs (mov $imm32,%eax, addw $i8,d8(%rdi)), the whole site */
		if (p->nbytes == len && len == 5 &&
		    (p->bytes[0] == 0xb8 || (p->bytes[0] == 0x66 && p->bytes[1] == 0x83 && p->bytes[2] == 0x47))) {
			memcpy(out, p->bytes, p->nbytes);
			return true;
		}
		*fell_back = true;
		/* fall through: a replacement that does not fit is called */
		__attribute__((fallthrough));
	case PATCH_HOW_CALL:
		if (len < 5 || !p->target || !model_rel32(at + 5, (uintptr_t)p->target, &d))
			return false;
		out[0] = 0xe8;
		le32(out + 1, d);
		model_nops(out + 5, len - 5);
		return true;
	}
	CHECK(!"plan.how out of range");
	return false;
}

/* ---- the input ---- */

static const uint8_t *cur, *lim;

static uint8_t take8(void)
{
	return cur < lim ? *cur++ : 0;
}

static uint64_t take(unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)take8() << (8 * i);
	return v;
}

/* A canonical x86-64 address: bits 63..47 all equal. */
static uintptr_t canonical(uint64_t v)
{
	return (uintptr_t)((int64_t)(v << 16) >> 16);
}

static void *pick_target(uint8_t sel, uint64_t v)
{
	uintptr_t t = (uintptr_t)text;

	switch (sel % 5) {
	case 0: return NULL;
	case 1: return (void *)(t + (uintptr_t)(int64_t)(int32_t)v); /* near */
	case 2: return (void *)canonical(v);                          /* anywhere */
	case 3: return (void *)(t + 5 + (uintptr_t)INT32_MAX + (uintptr_t)(int64_t)(int8_t)v);
	default: return (void *)(t + 5 - (uintptr_t)0x80000000u + (uintptr_t)(int64_t)(int8_t)v);
	}
}

/* ---- the writer, checked against the model's list of writes ---- */

struct write {
	uint8_t *at;
	uint8_t bytes[PATCH_SITE_LEN];
};
static struct write want_w[MAX_RECS];
static unsigned nr_want_w, nr_w;

static void writer(uint8_t *dst, const uint8_t *src, size_t len)
{
	CHECK(dst >= text && dst <= text + TEXT_LEN - PATCH_SITE_LEN);
	CHECK(len == PATCH_SITE_LEN);
	CHECK(nr_w < nr_want_w);
	CHECK(dst == want_w[nr_w].at);
	CHECK(!memcmp(src, want_w[nr_w].bytes, PATCH_SITE_LEN));
	memcpy(dst, src, len);
	nr_w++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct patch_plan plans[PATCH_NR_KINDS];
	uint8_t *inl[PATCH_NR_KINDS];
	uint8_t model[TEXT_LEN];
	struct patch_result r, want = { 0 };
	unsigned kept = 0;

	cur = data;
	lim = data + size;
	unsigned nrecs = take8() % (MAX_RECS + 1);
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++) {
		uint8_t how = take8() % 4, sel = take8();
		uint64_t v = take(8);
		uint8_t nbytes = take8() % 10;
		/* Exactly nbytes: a read past them is an ASan report. */
		inl[k] = malloc(nbytes);
		for (unsigned i = 0; i < 9; i++) {
			uint8_t b = take8();
			if (i < nbytes)
				inl[k][i] = b;
		}
		plans[k] = (struct patch_plan){ .how = how, .target = pick_target(sel, v),
						.bytes = inl[k], .nbytes = nbytes };
	}
	uint8_t rec_in[MAX_RECS][5];
	for (unsigned i = 0; i < MAX_RECS; i++)
		for (unsigned j = 0; j < 5; j++)
			rec_in[i][j] = take8();
	unsigned build_len = take8() % (MAX_BUILD_LEN + 1), build_at = take8();
	memset(text, 0xcc, sizeof(text));
	memcpy(text, cur, (size_t)(lim - cur) < TEXT_LEN ? (size_t)(lim - cur) : TEXT_LEN);

	/* Records, and the original bytes they ask for. */
	for (unsigned i = 0; i < nrecs; i++) {
		unsigned off = (rec_in[i][0] | rec_in[i][1] << 8) % (TEXT_LEN - PATCH_SITE_LEN + 1);
		uint8_t flags = rec_in[i][4];
		uint8_t len = flags & 8 ? rec_in[i][2] : PATCH_SITE_LEN;
		uint8_t kind = flags & 16 ? rec_in[i][3] : rec_in[i][3] & 1;

		recs[i] = (struct patch_site){
			.site = (int32_t)((intptr_t)(text + off) - (intptr_t)&recs[i].site),
			.len = len,
			.kind = kind,
			.pad = 0,
		};
		CHECK(patch_site_addr(&recs[i]) == text + off);
		if (flags & 1) {
			model_original((uintptr_t)(text + off), (kind ^ (flags >> 1)) & 1, text + off);
			if (flags & 4)
				text[off + (flags >> 5) % PATCH_SITE_LEN] ^= 0x40;
		}
	}

	/* The model, record by record, on a copy of the text. */
	memcpy(model, text, sizeof(model));
	nr_want_w = nr_w = 0;
	for (unsigned i = 0; i < nrecs; i++) {
		uint8_t *at = patch_site_addr(&recs[i]);
		unsigned off = (unsigned)(at - text), kind = recs[i].kind;
		uint8_t orig[PATCH_SITE_LEN], repl[PATCH_SITE_LEN];
		bool fb;

		want.sites++;
		if (kind >= PATCH_NR_KINDS || recs[i].len != PATCH_SITE_LEN) {
			want.refused++;
			continue;
		}
		model_original((uintptr_t)at, kind, orig);
		if (memcmp(model + off, orig, PATCH_SITE_LEN)) {
			want.refused++;
			continue;
		}
		if (plans[kind].how == PATCH_HOW_KEEP) {
			kept++;
			continue;
		}
		if (!model_build((uintptr_t)at, PATCH_SITE_LEN, &plans[kind], repl, &fb)) {
			want.refused++;
			continue;
		}
		want.inline_misfit += fb;
		want.patched[kind]++;
		memcpy(model + off, repl, PATCH_SITE_LEN);
		want_w[nr_want_w].at = at;
		memcpy(want_w[nr_want_w].bytes, repl, PATCH_SITE_LEN);
		nr_want_w++;
	}

	memset(&r, 0xa5, sizeof(r));
	patch_apply(recs, recs + nrecs, plans, writer, &r);

	CHECK(nr_w == nr_want_w);
	CHECK(!memcmp(text, model, sizeof(text)));
	CHECK(r.sites == nrecs && r.sites == want.sites);
	CHECK(r.refused == want.refused);
	CHECK(r.inline_misfit == want.inline_misfit);
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++) {
		CHECK(r.patched[k] == want.patched[k]);
		CHECK(pv_ops[k] == plans[k].target);
	}
	unsigned patched = 0;
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		patched += r.patched[k];
	CHECK(patched + r.refused + kept == r.sites);
	CHECK(r.inline_misfit <= patched);

	/* patch_build() alone, any length: the plan of kind 0 at a fuzzed spot. */
	{
		uint8_t *at = text + build_at, want_out[MAX_BUILD_LEN];
		uint8_t *out = malloc(build_len);
		bool fb = true, want_fb;
		bool ok = patch_build(at, build_len, &plans[0], out, &fb);
		bool want_ok = model_build((uintptr_t)at, build_len, &plans[0], want_out, &want_fb);

		CHECK(ok == want_ok);
		CHECK(fb == want_fb);
		if (ok)
			CHECK(!memcmp(out, want_out, build_len));
		free(out);
	}
	CHECK(patch_kind_name((enum patch_kind)build_at) != NULL);

	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		free(inl[k]);
	return 0;
}
