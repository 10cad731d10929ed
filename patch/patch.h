/* SPDX-License-Identifier: MIT */
/* patch.h: paravirt patch-site records, the hook call macro, and the apply loop's interface. */
#ifndef PVTICK_PATCH_H
#define PVTICK_PATCH_H

/*
 * A patch site is the call of one hook, written as an indirect call through the
 * ops table:
 *
 *     ff 15 <rel32>          call *pv_ops+8*kind(%rip)        (6 bytes)
 *
 * Unpatched, that works on any backend: pv_ops[] holds the chosen functions.
 * At boot, before the APs start, patch_apply() rewrites each site once:
 *     NOP      -> 6-byte NOP                       (native: the hook does nothing)
 *     CALL     -> e8 <rel32> + 1-byte NOP           (direct call into a backend)
 *     INLINE   -> the backend's bytes + NOP padding (when they fit in 6 bytes)
 *
 * Each site has a record in section "patch_sites" (self-relative, so the table
 * is position independent and works in the kernel and in host tests alike).
 */
#define PATCH_SITE_LEN 6
#define PATCH_RECORD_SIZE 8

#ifndef __ASSEMBLER__
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

/* Kinds of patch site. MUST match the index into pv_ops[]. */
enum patch_kind {
	PATCH_LOCK_SPINNING = 0, /* void lock_spinning(struct ticketlock *, u16 want) */
	PATCH_UNLOCK_KICK = 1,   /* void unlock_kick(struct ticketlock *, u16 next) */
	PATCH_VCPU_IS_PREEMPTED = 2, /* bool vcpu_is_preempted(unsigned cpu) */
	PATCH_NR_KINDS
};

/* One record per site, emitted next to the call by PATCH_CALL_ASM. */
struct patch_site {
	int32_t site; /* address of the site, relative to &this->site */
	uint8_t len;  /* bytes at the site (PATCH_SITE_LEN) */
	uint8_t kind; /* enum patch_kind */
	uint16_t pad;
};
_Static_assert(sizeof(struct patch_site) == PATCH_RECORD_SIZE, "record layout");

/* The indirect targets used by unpatched sites. */
extern void *pv_ops[PATCH_NR_KINDS];

extern const struct patch_site __start_patch_sites[], __stop_patch_sites[];

static inline uint8_t *patch_site_addr(const struct patch_site *s)
{
	return (uint8_t *)((intptr_t)&s->site + s->site);
}

/*
 * PATCH_CALL_ASM: the assembly of one hook site; operands "i"(kind) named [kind]
 * and "i"(8*kind) named [off] MUST be given. The caller's asm statement MUST list
 * every register the SysV ABI lets a callee clobber.
 */
#define PATCH_CALL_ASM                                                  \
	"771: call *pv_ops+%c[off](%%rip)\n"                            \
	"772:\n"                                                        \
	".pushsection patch_sites, \"a\"\n"                             \
	".balign 4\n"                                                   \
	".long 771b - .\n"                                              \
	".byte 772b - 771b\n"                                           \
	".byte %c[kind]\n"                                              \
	".short 0\n"                                                    \
	".popsection\n"

/* How a backend wants the sites of one kind rewritten. */
enum patch_how {
	PATCH_HOW_NOP,    /* the hook is a no-op here */
	PATCH_HOW_CALL,   /* direct call to .target */
	PATCH_HOW_INLINE, /* copy .bytes/.nbytes in place, rest NOP; falls back to CALL if too long */
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
	unsigned inline_too_long;         /* INLINE plans that fell back to CALL */
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

/* Name of a kind, for logs. */
const char *patch_kind_name(enum patch_kind k);

#endif /* __ASSEMBLER__ */
#endif
