/* SPDX-License-Identifier: MIT */
/* cmdline.h: the command-line option table. */
#ifndef PVTICK_CMDLINE_H
#define PVTICK_CMDLINE_H

#include "arch.h"

struct cmdline_opt {
	const char *name;
	u64 *val;                   /* in: default, out: value (a choice's index) */
	u64 min, max;               /* numbers: accepted range */
	const char *const *choices; /* NULL-terminated, or NULL for a number */
	const char *choices_text;   /* "auto|off", for the error line */
	bool seen;
	/*
	 * list: the value is one or more of the choices, comma-separated, each at
	 * most once; out: a bit mask, bit i for choices[i] (at most 64 choices).
	 */
	bool list;
};

/*
 * Parse space-separated name=value words. Returns NULL, or err filled with one
 * line naming the problem (unknown option, missing or bad value, out of range,
 * given twice). Options not given keep their defaults.
 */
const char *cmdline_parse(const char *line, struct cmdline_opt *opts, unsigned nopts, char *err,
			  size_t errlen);

#endif
