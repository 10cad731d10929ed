// SPDX-License-Identifier: MIT
/* patch.c: the apply loop: check each hook site's original bytes, build its replacement, write it. */
#include "patch.h"
#include "../arch/nop.h"

#define OP_CALL_REL32 0xe8

void *pv_ops[PATCH_NR_KINDS];

static const char *const kind_names[PATCH_NR_KINDS] = {
	[PATCH_LOCK_SPINNING] = "lock_spinning",
	[PATCH_UNLOCK_KICK] = "unlock_kick",
	[PATCH_VCPU_IS_PREEMPTED] = "vcpu_is_preempted",
	[PATCH_RELEASE] = "ticket_release",
};

const char *patch_kind_name(enum patch_kind k)
{
	return (unsigned)k < PATCH_NR_KINDS ? kind_names[k] : "?";
}

static void put_le32(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;
	p[0] = u;
	p[1] = u >> 8;
	p[2] = u >> 16;
	p[3] = u >> 24;
}

/* rel32 from the end of an instruction at `end` to `to`; false if out of range. */
static bool rel32(const uint8_t *end, const void *to, int32_t *out)
{
	intptr_t d = (intptr_t)to - (intptr_t)end;
	if (d != (intptr_t)(int32_t)d)
		return false;
	*out = (int32_t)d;
	return true;
}

void patch_original_bytes(const uint8_t *at, enum patch_kind k, uint8_t out[PATCH_SITE_LEN])
{
	int32_t d = 0;
	out[0] = OP_CALL_REL32;
	/* The stub is in the same image as the site: always within rel32. */
	(void)rel32(at + PATCH_SITE_LEN, patch_stubs + PATCH_STUB_SIZE * k, &d);
	put_le32(out + 1, d);
}

bool patch_same(const uint8_t *a, const uint8_t *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* The instructions a site may hold, as the #BP handler performs them (patch_emulate). */
enum insn { INSN_OTHER, INSN_CALL, INSN_NOP5, INSN_MOV_EAX, INSN_ADDW_RDI };

static enum insn decode(const uint8_t insn[PATCH_SITE_LEN])
{
	static const uint8_t nop5[PATCH_SITE_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	if (insn[0] == OP_CALL_REL32)
		return INSN_CALL;
	if (patch_same(insn, nop5, PATCH_SITE_LEN))
		return INSN_NOP5;
	if (insn[0] == 0xb8) /* mov $imm32,%eax */
		return INSN_MOV_EAX;
	if (insn[0] == 0x66 && insn[1] == 0x83 && insn[2] == 0x47) /* addw $imm8,disp8(%rdi): 66 83 /0 */
		return INSN_ADDW_RDI;
	return INSN_OTHER;
}

bool patch_build(const uint8_t *at, unsigned len, const struct patch_plan *p, uint8_t *out,
		 bool *inline_fell_back)
{
	int32_t d;

	*inline_fell_back = false;
	switch (p->how) {
	case PATCH_HOW_KEEP:
		return false;
	case PATCH_HOW_NOP:
		x86_fill_nops(out, len);
		return true;
	case PATCH_HOW_INLINE:
		/*
		 * One instruction of exactly the site's length, never padded: a
		 * shorter one plus a NOP would be two instructions, and a CPU
		 * interrupted between them would return into the middle of what
		 * the live writer (patch/live.c) and patch_emulate() take as one.
		 * And one the #BP handler can perform, or a live write of it
		 * would leave a CPU at its int3 with nothing to do.
		 */
		if (p->nbytes == len && len == PATCH_SITE_LEN &&
		    (decode(p->bytes) == INSN_MOV_EAX || decode(p->bytes) == INSN_ADDW_RDI)) {
			for (unsigned i = 0; i < p->nbytes; i++)
				out[i] = p->bytes[i];
			return true;
		}
		*inline_fell_back = true;
		/* a replacement that does not fill the site exactly is called instead */
		__attribute__((fallthrough));
	case PATCH_HOW_CALL:
		if (len < 5 || !p->target || !rel32(at + 5, p->target, &d))
			return false;
		out[0] = OP_CALL_REL32;
		put_le32(out + 1, d);
		x86_fill_nops(out + 5, len - 5);
		return true;
	}
	return false;
}

void patch_apply(const struct patch_site *first, const struct patch_site *last,
		 const struct patch_plan plans[PATCH_NR_KINDS], patch_writer_fn write,
		 struct patch_result *r)
{
	*r = (struct patch_result){ 0 };
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		pv_ops[k] = plans[k].target;

	for (const struct patch_site *s = first; s < last; s++) {
		uint8_t orig[PATCH_SITE_LEN], repl[PATCH_SITE_LEN];
		uint8_t *at = patch_site_addr(s);
		bool fell_back;

		r->sites++;
		if (s->kind >= PATCH_NR_KINDS || s->len != PATCH_SITE_LEN) {
			r->refused++;
			continue;
		}
		patch_original_bytes(at, s->kind, orig);
		if (!patch_same(at, orig, s->len)) {
			r->refused++;
			continue;
		}
		if (plans[s->kind].how == PATCH_HOW_KEEP)
			continue; /* patch=off: the indirect call stays and works */
		if (!patch_build(at, s->len, &plans[s->kind], repl, &fell_back)) {
			r->refused++; /* no target, or target out of rel32 reach */
			continue;
		}
		r->inline_misfit += fell_back;
		write(at, repl, s->len);
		r->patched[s->kind]++;
	}
}

unsigned patch_up_locks(const int32_t *first, const int32_t *last, patch_writer_fn write, unsigned *refused)
{
	static const uint8_t ds = PATCH_DS_PREFIX;
	unsigned n = 0;

	*refused = 0;
	for (const int32_t *r = first; r < last; r++) {
		uint8_t *at = (uint8_t *)((intptr_t)r + *r);
		if (*at != PATCH_LOCK_PREFIX) {
			(*refused)++;
			continue;
		}
		write(at, &ds, 1);
		n++;
	}
	return n;
}

bool patch_emulate(const uint8_t insn[PATCH_SITE_LEN], uint64_t site, struct patch_regs *r)
{
	uint32_t imm = (uint32_t)insn[1] | (uint32_t)insn[2] << 8 | (uint32_t)insn[3] << 16 | (uint32_t)insn[4] << 24;

	switch (decode(insn)) {
	case INSN_CALL:
		r->rsp -= 8;
		*(uint64_t *)(uintptr_t)r->rsp = site + PATCH_SITE_LEN;
		r->rip = site + PATCH_SITE_LEN + (uint64_t)(int64_t)(int32_t)imm;
		return true;
	case INSN_NOP5:
		r->rip = site + PATCH_SITE_LEN;
		return true;
	case INSN_MOV_EAX: /* the upper half of %rax is cleared */
		r->rax = imm;
		r->rip = site + PATCH_SITE_LEN;
		return true;
	case INSN_ADDW_RDI: {
		uint16_t *w = (uint16_t *)(uintptr_t)(r->rdi + (uint64_t)(int64_t)(int8_t)insn[3]);
		*w = (uint16_t)(*w + (uint16_t)(int16_t)(int8_t)insn[4]);
		r->rip = site + PATCH_SITE_LEN;
		return true;
	}
	case INSN_OTHER:
		break;
	}
	return false;
}
