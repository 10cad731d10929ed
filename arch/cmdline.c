// SPDX-License-Identifier: MIT
/* cmdline.c: parse "name=value" words against a table; any unknown or bad word is an error. */
#include "cmdline.h"

static bool str_eq_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return b[n] == 0;
}

static bool parse_u64(const char *s, size_t n, u64 *out)
{
	u64 v = 0;
	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (u64)(s[i] - '0');
	}
	*out = v;
	return true;
}

const char *cmdline_parse(const char *line, struct cmdline_opt *opts, unsigned nopts, char *err,
			  size_t errlen)
{
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			return 0;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		size_t wlen = (size_t)(p - w), nlen = 0;
		while (nlen < wlen && w[nlen] != '=')
			nlen++;
		struct cmdline_opt *o = 0;
		for (unsigned i = 0; i < nopts && !o; i++)
			if (str_eq_n(w, opts[i].name, nlen))
				o = &opts[i];
		if (!o) {
			ksnprintf(err, errlen, "cmdline: unknown option '%.*s'", (int)nlen, w);
			return err;
		}
		if (nlen == wlen) {
			ksnprintf(err, errlen, "cmdline: option '%s' needs a value (%s=...)", o->name,
				  o->name);
			return err;
		}
		if (o->seen) {
			ksnprintf(err, errlen, "cmdline: option '%s' given twice", o->name);
			return err;
		}
		o->seen = true;
		const char *v = w + nlen + 1;
		size_t vlen = wlen - nlen - 1;
		if (o->choices && o->list) {
			u64 mask = 0;
			for (size_t at = 0; at <= vlen;) {
				size_t n = 0;
				while (at + n < vlen && v[at + n] != ',')
					n++;
				unsigned i;
				for (i = 0; o->choices[i]; i++)
					if (str_eq_n(v + at, o->choices[i], n))
						break;
				if (!o->choices[i]) {
					ksnprintf(err, errlen, "cmdline: %s=%.*s: '%.*s' is not one of %s", o->name,
						  (int)vlen, v, (int)n, v + at, o->choices_text);
					return err;
				}
				if (mask & (1ull << i)) {
					ksnprintf(err, errlen, "cmdline: %s=%.*s: '%s' given twice", o->name, (int)vlen,
						  v, o->choices[i]);
					return err;
				}
				mask |= 1ull << i;
				at += n + 1;
			}
			*o->val = mask;
		} else if (o->choices) {
			unsigned i;
			for (i = 0; o->choices[i]; i++)
				if (str_eq_n(v, o->choices[i], vlen))
					break;
			if (!o->choices[i]) {
				ksnprintf(err, errlen, "cmdline: %s=%.*s: expected one of %s", o->name,
					  (int)vlen, v, o->choices_text);
				return err;
			}
			*o->val = i;
		} else {
			u64 x;
			if (!parse_u64(v, vlen, &x)) {
				ksnprintf(err, errlen, "cmdline: %s=%.*s: not a decimal number", o->name,
					  (int)vlen, v);
				return err;
			}
			if (x < o->min || x > o->max) {
				ksnprintf(err, errlen, "cmdline: %s=%lu is out of range [%lu, %lu]", o->name,
					  x, o->min, o->max);
				return err;
			}
			*o->val = x;
		}
	}
}
