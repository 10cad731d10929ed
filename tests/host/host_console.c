// SPDX-License-Identifier: MIT
/* host_console.c: the kernel's ksnprintf for host builds of its parsers (libc's vsnprintf). */
#include <stdio.h>
#include <stdarg.h>
#include "arch/arch.h"

int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}
