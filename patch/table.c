// SPDX-License-Identifier: MIT
/* table.c: the kernel's reading of the site table: every site re-read and logged, and the UP alternatives at boot. */
#include "patch.h"
#include "../arch/arch.h"

unsigned patch_verify_sites(const struct patch_plan plans[PATCH_NR_KINDS], bool lazy, const char *when,
			    unsigned *unpatched)
{
	unsigned bad = 0, i = 0;
	*unpatched = 0;
	const struct patch_site *first = patch_table.sites;
	const struct patch_site *last = first + (patch_table.magic == PATCH_TABLE_MAGIC && patch_table.count <= PATCH_TABLE_MAX ?
								  patch_table.count : 0);
	for (const struct patch_site *s = first; s < last; s++, i++) {
		const u8 *at = patch_site_addr(s);
		u8 want[PATCH_SITE_LEN];
		bool fell_back;
		if (s->kind >= PATCH_NR_KINDS || s->len != PATCH_SITE_LEN) {
			kprintf("# patch: site %u at %p has a bad record (kind %u len %u)\n", i, at,
				s->kind, s->len);
			bad++;
			continue;
		}
		u8 orig[PATCH_SITE_LEN];
		patch_original_bytes(at, s->kind, orig);
		if (!patch_build(at, s->len, &plans[s->kind], want, &fell_back))
			patch_original_bytes(at, s->kind, want);
		char hex[3 * PATCH_SITE_LEN + 1];
		int match = 1, is_orig = 1;
		for (unsigned j = 0; j < PATCH_SITE_LEN; j++) {
			ksnprintf(hex + 3 * j, 4, "%02x ", at[j]);
			match &= at[j] == want[j];
			is_orig &= at[j] == orig[j];
		}
		hex[3 * PATCH_SITE_LEN - 1] = 0;
		/* patch=lazy: a site no CPU has run yet still calls its stub, and that is right. */
		bool unrun = !match && is_orig && lazy;
		*unpatched += unrun;
		match |= unrun;
		kprintf("# patch: %s: site %u %s at %p: %s%s\n", when, i, patch_kind_name(s->kind), at, hex,
			unrun ? "  (lazy: not run yet)" : match ? "" : "  MISMATCH");
		bad += !match;
	}
	return bad;
}

bool patch_up_boot(unsigned cpus, bool up_off)
{
	unsigned records = (unsigned)(__stop_smp_locks - __start_smp_locks), refused = 0, n = 0, ds = 0;

	if (up_off || cpus != 1) {
		kprintf("# patch: up: %u LOCK prefixes kept (%s)\n", records,
			up_off ? "up=off" : "more than one vCPU");
		return true;
	}
	n = patch_up_locks(__start_smp_locks, __stop_smp_locks, paging_write_text, &refused);
	for (const int32_t *r = __start_smp_locks; r < __stop_smp_locks; r++)
		ds += *(const u8 *)((intptr_t)r + *r) == PATCH_DS_PREFIX;
	kprintf("# patch: up: one vCPU: %u of %u LOCK prefixes made DS prefixes (0x3e), %u refused, "
		"%u read back as 0x3e\n", n, records, refused, ds);
	return records && !refused && ds == records;
}
