/* SPDX-License-Identifier: MIT */
/* nop.h: the recommended multi-byte x86 NOPs (Intel SDM vol. 2B, "NOP"), and a filler. */
#ifndef PVTICK_NOP_H
#define PVTICK_NOP_H

#include <stdint.h>

#define X86_MAX_NOP 8

/* x86_nops[n] is one instruction of n bytes that does nothing (n = 1..8). */
static const uint8_t x86_nops[X86_MAX_NOP + 1][X86_MAX_NOP] = {
	[1] = { 0x90 },
	[2] = { 0x66, 0x90 },
	[3] = { 0x0f, 0x1f, 0x00 },
	[4] = { 0x0f, 0x1f, 0x40, 0x00 },
	[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[7] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

/* Fill len bytes with as few NOP instructions as possible. */
static inline void x86_fill_nops(uint8_t *buf, unsigned len)
{
	while (len) {
		unsigned n = len > X86_MAX_NOP ? X86_MAX_NOP : len;
		for (unsigned i = 0; i < n; i++)
			buf[i] = x86_nops[n][i];
		buf += n;
		len -= n;
	}
}

#endif
