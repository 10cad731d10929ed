// SPDX-License-Identifier: MIT
/* paging.c: the safe text writer (a temporary writable alias), and a page-table walker. */
#include "arch.h"

extern u64 boot_alias_pt[512];
static volatile u32 alias_lock;

/*
 * Text and the trampoline page are mapped without W, and CR0.WP makes that bind
 * ring 0. To rewrite them we map the same physical pages a second time, R+W+NX,
 * in the ALIAS_VA window, write there, and unmap again. The text mapping itself
 * never becomes writable, and no mapping is ever both W and X.
 */
void paging_write_text(u8 *dst, const u8 *src, size_t len)
{
	u64 pa = (u64)(uintptr_t)dst; /* identity mapped */
	u64 first = pa & ~0xfffull, last = (pa + len - 1) & ~0xfffull;
	unsigned pages = (unsigned)((last - first) / 4096 + 1);

	if (len == 0)
		return;
	if (pages > ALIAS_PAGES || pa + len > LOW_4K_END)
		panic("paging_write_text: %lu bytes at %p do not fit the alias window", (u64)len, dst);

	while (__atomic_exchange_n(&alias_lock, 1, __ATOMIC_ACQUIRE))
		x86_pause();
	for (unsigned i = 0; i < pages; i++) {
		WRITE_ONCE(boot_alias_pt[i], (first + 4096ull * i) | PTE_P | PTE_W | ((u64)PTE_NX_HI << 32));
		x86_invlpg((void *)(uintptr_t)(ALIAS_VA + 4096ull * i));
	}
	u8 *alias = (u8 *)(uintptr_t)(ALIAS_VA + (pa - first));
	for (size_t i = 0; i < len; i++)
		alias[i] = src[i];
	for (unsigned i = 0; i < pages; i++) {
		WRITE_ONCE(boot_alias_pt[i], 0);
		x86_invlpg((void *)(uintptr_t)(ALIAS_VA + 4096ull * i));
	}
	__atomic_store_n(&alias_lock, 0, __ATOMIC_RELEASE);
	/* The writes went through another linear address: serialise before running them. */
	x86_serialize();
}

u64 paging_lookup(u64 va, u64 *page_size)
{
	u64 *table = (u64 *)(uintptr_t)(x86_read_cr3() & ~0xfffull);
	u64 size = 1ull << 39;
	for (int level = 3; level >= 0; level--) {
		u64 e = table[(va >> (12 + 9 * level)) & 511];
		size >>= 9;
		if (!(e & PTE_P))
			return 0;
		if (level == 0 || (level < 3 && (e & PTE_PS))) {
			*page_size = level == 0 ? 4096 : (4096ull << (9 * level));
			return e;
		}
		table = (u64 *)(uintptr_t)(e & 0x000ffffffffff000ull);
	}
	(void)size;
	return 0;
}

/* The kernel's reader: identity map below 4 GiB, but not the real-mode IVT, nor the kernel. */
const void *phys_map_identity(u64 pa, u64 len)
{
	extern char _text_start[], _image_end[];
	if (pa < 0x400 || len > (1u << 20) || pa + len < pa || pa + len > 0xfe000000ull)
		return 0;
	if (pa < (u64)(uintptr_t)_image_end && pa + len > (u64)(uintptr_t)_text_start)
		return 0; /* inside the kernel image: not a firmware table */
	return (const void *)(uintptr_t)pa;
}
