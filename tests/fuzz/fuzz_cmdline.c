// SPDX-License-Identifier: MIT
/* fuzz_cmdline.c: libFuzzer target for cmdline_parse() (arch/cmdline.c), the guest's options. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/cmdline.h"
#include "fuzz.h"

/*
 * Input: byte 0 picks the error buffer's size (1..ERR_MAX); the rest, up to
 * its first NUL and at most LINE_MAX bytes, is the command line. Both the line
 * and the error buffer are heap blocks of exactly their size, so ASan catches
 * a read past the line's NUL or a write past errlen.
 *
 * The option table is the guest's (tests/guest/main.c), plus "big" with the
 * whole u64 range and "stress" (a prefix of two other names).
 *
 * Invariants checked on every input:
 *  1. The parser accepts exactly when the reference below does: words split on
 *     space, tab and newline; each word is name=value for a known name, no
 *     name twice; a choice's value is one of its choices, a number's is 1..19
 *     decimal digits within [min, max].
 *  2. Accepted: every option holds the value the reference found, or its
 *     default if absent; a number lies in [min, max], a choice's index names
 *     one of its choices.
 *  3. Refused: the returned pointer is err, a NUL-terminated single line within
 *     errlen, beginning with "cmdline: " (as far as errlen allows).
 */

#define LINE_MAX 2048
#define ERR_MAX 200

static const char *const pvlock_choices[] = { "auto", "off", 0 };
static const char *const patch_choices[] = { "on", "off", 0 };
static const char *const inject_choices[] = { "none", "drop-kick", 0 };

#define NOPTS 9
static const struct cmdline_opt table[NOPTS] = {
	{ "pvlock", 0, 0, 0, pvlock_choices, "auto|off", false, false },
	{ "patch", 0, 0, 0, patch_choices, "on|off", false, false },
	{ "stress.iters", 0, 1, 100000000, 0, 0, false, false },
	{ "stress.cs", 0, 0, 100000, 0, 0, false, false },
	{ "spin_threshold", 0, 1, 1u << 30, 0, 0, false, false },
	{ "watchdog", 0, 1, 3600, 0, 0, false, false },
	{ "inject", 0, 0, 0, inject_choices, "none|drop-kick", false, false },
	{ "big", 0, 0, UINT64_MAX, 0, 0, false, false },
	{ "stress", 0, 7, 7, 0, 0, false, false },
};
static const u64 defaults[NOPTS] = { 0, 0, 1000, 20, 2048, 60, 0, 12345, 7 };

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Expected values in want[] (defaults where absent), or false if the line must be refused. */
static bool reference(const char *line, u64 want[NOPTS])
{
	bool seen[NOPTS] = { false };
	const char *p = line;

	memcpy(want, defaults, sizeof(defaults));
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			return true;
		const char *w = p;
		while (*p && !is_space(*p))
			p++;
		size_t wlen = (size_t)(p - w);
		const char *eq = memchr(w, '=', wlen);
		size_t nlen = eq ? (size_t)(eq - w) : wlen;
		int o = -1;
		for (int i = 0; i < NOPTS; i++)
			if (strlen(table[i].name) == nlen && !memcmp(w, table[i].name, nlen))
				o = i;
		if (o < 0 || !eq || seen[o])
			return false;
		seen[o] = true;
		const char *v = eq + 1;
		size_t vlen = wlen - nlen - 1;
		if (table[o].choices) {
			int c;
			for (c = 0; table[o].choices[c]; c++)
				if (strlen(table[o].choices[c]) == vlen && !memcmp(v, table[o].choices[c], vlen))
					break;
			if (!table[o].choices[c])
				return false;
			want[o] = (u64)c;
		} else {
			unsigned __int128 x = 0;
			if (vlen < 1 || vlen > 19)
				return false;
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					return false;
				x = x * 10 + (unsigned)(v[i] - '0');
			}
			if (x < table[o].min || x > table[o].max)
				return false;
			want[o] = (u64)x;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmdline_opt opts[NOPTS];
	u64 vals[NOPTS], want[NOPTS];

	if (size < 1)
		return 0;
	size_t errlen = 1 + data[0] % ERR_MAX;
	size_t n = strnlen((const char *)data + 1, size - 1);
	if (n > LINE_MAX)
		n = LINE_MAX;
	char *line = malloc(n + 1), *err = malloc(errlen);
	memcpy(line, data + 1, n);
	line[n] = 0;
	memset(err, 0x5a, errlen);
	memcpy(opts, table, sizeof(opts));
	memcpy(vals, defaults, sizeof(vals));
	for (int i = 0; i < NOPTS; i++)
		opts[i].val = &vals[i];

	const char *e = cmdline_parse(line, opts, NOPTS, err, errlen);

	bool ok = reference(line, want);
	if (e) {
		CHECK(!ok);
		CHECK(e == err);
		size_t len = strnlen(err, errlen);
		CHECK(len < errlen);
		CHECK(!memchr(err, '\n', len));
		CHECK(!strncmp(err, "cmdline: ", len < 9 ? len : 9));
	} else {
		CHECK(ok);
		for (int i = 0; i < NOPTS; i++) {
			CHECK(vals[i] == want[i]);
			if (!table[i].choices) {
				CHECK(vals[i] == defaults[i] || (vals[i] >= table[i].min && vals[i] <= table[i].max));
			} else {
				unsigned nch = 0;
				while (table[i].choices[nch])
					nch++;
				CHECK(vals[i] < nch);
			}
		}
	}
	free(line);
	free(err);
	return 0;
}
