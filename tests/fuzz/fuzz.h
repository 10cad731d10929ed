/* SPDX-License-Identifier: MIT */
/* fuzz.h: what the fuzz targets share: the invariant check, and (FUZZ_GUEST_MEMORY) a guest memory. */
#ifndef PVTICK_FUZZ_H
#define PVTICK_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant of the code under test: report it and abort, so libFuzzer saves the input. */
#define CHECK(c)                                                                         \
	do {                                                                             \
		if (!(c)) {                                                              \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#c);                                                     \
			abort();                                                         \
		}                                                                        \
	} while (0)

#ifdef FUZZ_GUEST_MEMORY
#include <sanitizer/asan_interface.h>
/*
 * Guest physical memory [0, mem_len) for a parser that reads it through a
 * phys_map_fn: poisoned for ASan except what map() grants, so reading past
 * what the parser asked for is a report. Address 0 is never mapped. The
 * reference model reads `in`, the same bytes unpoisoned.
 */
#define MEM_MAX 0x10000
static uint8_t mem[MEM_MAX] __attribute__((aligned(4096)));
static size_t mem_len;
static const uint8_t *in;
static size_t in_len;

static const void *map(u64 pa, u64 len)
{
	if (pa == 0 || pa > mem_len || len > mem_len - pa)
		return NULL;
	ASAN_UNPOISON_MEMORY_REGION(mem + pa, len);
	return mem + pa;
}

/* The input as the guest memory, all of it unreadable until map() grants it. */
static void mem_load(const uint8_t *src, size_t len)
{
	in = src;
	in_len = len > MEM_MAX ? MEM_MAX : len;
	ASAN_UNPOISON_MEMORY_REGION(mem, sizeof(mem));
	memcpy(mem, src, in_len);
	mem_len = in_len;
	ASAN_POISON_MEMORY_REGION(mem, sizeof(mem));
}

/* The reference's view: readable like map(), and little-endian loads from `in`. */
static bool readable(u64 pa, u64 len)
{
	return pa != 0 && pa <= in_len && len <= in_len - pa;
}

static u32 rd32(u64 pa)
{
	u32 v;
	memcpy(&v, in + pa, 4);
	return v;
}

static u64 rd64(u64 pa)
{
	u64 v;
	memcpy(&v, in + pa, 8);
	return v;
}
#endif
#endif
