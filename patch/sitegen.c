// SPDX-License-Identifier: MIT
/* sitegen.c: host tool: find every call of a hook in a linked ELF and write the patch-site table into it. */
/*
 * Usage: sitegen IMAGE          fill IMAGE's patch_table (in place)
 *        sitegen --list IMAGE   print the table IMAGE holds: "ADDRESS KIND" per site
 *
 * The hooks (lock_spinning, unlock_kick, vcpu_is_preempted, ticket_release) are ordinary
 * external functions to the C compiler. IMAGE MUST be linked with
 * --emit-relocs: the relocations of its executable sections then survive in
 * IMAGE, and each call of a hook is a R_X86_64_PLT32 (or PC32) relocation
 * against the hook's symbol, addend -4, at the rel32 of an `e8` call. Every
 * such relocation becomes a site. Any other reference to a hook from code (a
 * tail jump `e9`, an address taken) is an error: that use could not be
 * patched, so the build stops and names it.
 *
 * The table (patch/patch.h, struct patch_table) goes where the symbol
 * patch_table is: reserved at full size by patch/stubs.S, so nothing in IMAGE
 * moves. Records are sorted by address and self-relative.
 */
#include <elf.h>
#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch/patch.h"

static const char *const hook_names[PATCH_NR_KINDS] = {
	[PATCH_LOCK_SPINNING] = "lock_spinning",
	[PATCH_UNLOCK_KICK] = "unlock_kick",
	[PATCH_VCPU_IS_PREEMPTED] = "vcpu_is_preempted",
	[PATCH_RELEASE] = "ticket_release",
};

static const char *image;
static uint8_t *buf;
static size_t size;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sitegen: %s: ", image);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* A pointer to n bytes at file offset off, or die. */
static void *at(uint64_t off, uint64_t n)
{
	if (off > size || n > size - off)
		die("truncated or malformed ELF (offset %#llx + %llu past the end)", (unsigned long long)off,
		    (unsigned long long)n);
	return buf + off;
}

static Elf64_Ehdr *eh;
static Elf64_Shdr *sh;

static const char *section_name(unsigned i)
{
	Elf64_Shdr *strs = &sh[eh->e_shstrndx];
	return (const char *)at(strs->sh_offset + sh[i].sh_name, 1);
}

/* The file byte at virtual address va, inside an allocated section with contents. */
static uint8_t byte_at(uint64_t va)
{
	for (unsigned i = 0; i < eh->e_shnum; i++)
		if ((sh[i].sh_flags & SHF_ALLOC) && sh[i].sh_type != SHT_NOBITS && va >= sh[i].sh_addr &&
		    va < sh[i].sh_addr + sh[i].sh_size)
			return *(uint8_t *)at(sh[i].sh_offset + (va - sh[i].sh_addr), 1);
	die("address %#llx is in no section with contents", (unsigned long long)va);
}

struct found {
	uint64_t va;
	unsigned kind;
};

static int by_address(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	return x->va < y->va ? -1 : x->va > y->va;
}

static void load(const char *path, bool writable)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("%s", strerror(errno));
	fseek(f, 0, SEEK_END);
	size = (size_t)ftell(f);
	rewind(f);
	buf = malloc(size ? size : 1);
	if (!buf || fread(buf, 1, size, f) != size)
		die("cannot read it");
	fclose(f);
	(void)writable;
	eh = at(0, sizeof(*eh));
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_machine != EM_X86_64)
		die("not an x86-64 ELF64 file");
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || !eh->e_shnum || eh->e_shstrndx >= eh->e_shnum)
		die("no usable section headers");
	sh = at(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr));
}

/*
 * The table: the object the symbol patch_table names (patch/stubs.S), wherever
 * the link put it. *va: its address.
 */
static struct patch_table *table_in_file(uint64_t *va)
{
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
			continue;
		Elf64_Shdr *strtab = &sh[sh[i].sh_link];
		size_t nsym = sh[i].sh_size / sizeof(Elf64_Sym);
		Elf64_Sym *syms = at(sh[i].sh_offset, nsym * sizeof(Elf64_Sym));
		for (size_t j = 0; j < nsym; j++) {
			if (strcmp((const char *)at(strtab->sh_offset + syms[j].st_name, 1), "patch_table"))
				continue;
			if (syms[j].st_size != sizeof(struct patch_table))
				die("patch_table is %llu bytes, want %zu", (unsigned long long)syms[j].st_size,
				    sizeof(struct patch_table));
			Elf64_Shdr *t = syms[j].st_shndx < eh->e_shnum ? &sh[syms[j].st_shndx] : NULL;
			if (!t || t->sh_type == SHT_NOBITS || syms[j].st_value < t->sh_addr ||
			    syms[j].st_value + sizeof(struct patch_table) > t->sh_addr + t->sh_size)
				die("patch_table is not inside a section with contents");
			*va = syms[j].st_value;
			return at(t->sh_offset + (syms[j].st_value - t->sh_addr), sizeof(struct patch_table));
		}
	}
	die("no symbol patch_table (patch/stubs.S reserves the table)");
}

static int list(void)
{
	uint64_t tva;
	struct patch_table *tab = table_in_file(&tva);
	if (tab->magic != PATCH_TABLE_MAGIC)
		die("patch_table was never filled (magic %#x): run sitegen IMAGE first", tab->magic);
	for (unsigned i = 0; i < tab->count && i < PATCH_TABLE_MAX; i++) {
		const struct patch_site *s = &tab->sites[i];
		uint64_t rec = tva + offsetof(struct patch_table, sites) + (uint64_t)i * sizeof(*s);
		printf("%llx %s\n", (unsigned long long)(rec + (int64_t)s->site),
		       s->kind < PATCH_NR_KINDS ? hook_names[s->kind] : "?");
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool listing = argc == 3 && !strcmp(argv[1], "--list");
	if (argc != 2 && !listing) {
		fprintf(stderr, "usage: sitegen IMAGE | sitegen --list IMAGE\n");
		return 2;
	}
	image = argv[argc - 1];
	load(image, !listing);
	if (listing)
		return list();

	/* The hooks' symbol indexes, per symbol table. */
	static struct found sites[PATCH_TABLE_MAX + 1];
	unsigned n = 0, relocs_seen = 0;
	for (unsigned r = 0; r < eh->e_shnum; r++) {
		if (sh[r].sh_type != SHT_RELA || sh[r].sh_info >= eh->e_shnum ||
		    !(sh[sh[r].sh_info].sh_flags & SHF_EXECINSTR))
			continue;
		relocs_seen++;
		Elf64_Shdr *symtab = &sh[sh[r].sh_link], *strtab;
		if (sh[r].sh_link >= eh->e_shnum || symtab->sh_link >= eh->e_shnum)
			die("relocation section %s has no symbol table", section_name(r));
		strtab = &sh[symtab->sh_link];
		size_t nrel = sh[r].sh_size / sizeof(Elf64_Rela);
		Elf64_Rela *rel = at(sh[r].sh_offset, nrel * sizeof(Elf64_Rela));
		for (size_t i = 0; i < nrel; i++) {
			uint32_t si = ELF64_R_SYM(rel[i].r_info), type = ELF64_R_TYPE(rel[i].r_info);
			if (!si || (uint64_t)si * sizeof(Elf64_Sym) >= symtab->sh_size)
				continue;
			Elf64_Sym *sym = at(symtab->sh_offset + (uint64_t)si * sizeof(Elf64_Sym), sizeof(Elf64_Sym));
			const char *name = (const char *)at(strtab->sh_offset + sym->st_name, 1);
			unsigned kind = PATCH_NR_KINDS;
			for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
				if (!strcmp(name, hook_names[k]))
					kind = k;
			if (kind == PATCH_NR_KINDS)
				continue;
			uint64_t va = rel[i].r_offset - 1;
			uint8_t op = byte_at(va);
			if ((type != R_X86_64_PLT32 && type != R_X86_64_PC32) || rel[i].r_addend != -4 || op != 0xe8)
				die("%s is referenced at %#llx by something other than a direct call (opcode %02x, "
				    "relocation type %u%s): it cannot be patched", name, (unsigned long long)va, op, type,
				    op == 0xe9 ? ", a tail jump: build with -fno-optimize-sibling-calls" : "");
			if (n == PATCH_TABLE_MAX)
				die("more than %u hook call sites: raise PATCH_TABLE_MAX in patch/patch.h", PATCH_TABLE_MAX);
			sites[n++] = (struct found){ va, kind };
		}
	}
	if (!relocs_seen)
		die("no relocations for its code: link it with --emit-relocs");
	qsort(sites, n, sizeof(sites[0]), by_address);

	uint64_t tva;
	struct patch_table *tab = table_in_file(&tva);
	memset(tab, 0, sizeof(*tab));
	tab->magic = PATCH_TABLE_MAGIC;
	tab->count = n;
	for (unsigned i = 0; i < n; i++) {
		uint64_t rec = tva + offsetof(struct patch_table, sites) + (uint64_t)i * sizeof(struct patch_site);
		int64_t d = (int64_t)(sites[i].va - rec);
		if (d != (int32_t)d)
			die("site %#llx is out of int32 reach of its record", (unsigned long long)sites[i].va);
		tab->sites[i] = (struct patch_site){ .site = (int32_t)d, .len = PATCH_SITE_LEN, .kind = (uint8_t)sites[i].kind };
	}
	FILE *f = fopen(image, "r+b");
	if (!f || fseek(f, (long)((uint8_t *)tab - buf), SEEK_SET) || fwrite(tab, sizeof(*tab), 1, f) != 1 || fclose(f))
		die("cannot write the table: %s", strerror(errno));
	unsigned per[PATCH_NR_KINDS] = { 0 };
	for (unsigned i = 0; i < n; i++)
		per[sites[i].kind]++;
	printf("sitegen: %s: %u sites (", image, n);
	for (unsigned k = 0; k < PATCH_NR_KINDS; k++)
		printf("%s%s %u", k ? ", " : "", hook_names[k], per[k]);
	printf(")\n");
	return 0;
}
