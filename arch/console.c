// SPDX-License-Identifier: MIT
/* console.c: COM1 (and port 0xe9) output, a small printf, and panic. */
#include "arch.h"

#define COM1 0x3f8
#define LSR_THRE 0x20

static bool use_e9;
static void (*extra_sink)(const char *s, size_t n);
/*
 * A test-and-set lock, not a ticket lock: printing must work while the lock
 * under test is broken, and from the watchdog. A holder that never releases is
 * waited out (after ~1e7 tries the line is printed anyway, mixed if need be).
 */
static volatile u32 console_lock;

void console_init(void)
{
	x86_outb(COM1 + 1, 0x00); /* no interrupts */
	x86_outb(COM1 + 3, 0x80); /* DLAB */
	x86_outb(COM1 + 0, 0x01); /* 115200 baud */
	x86_outb(COM1 + 1, 0x00);
	x86_outb(COM1 + 3, 0x03); /* 8n1 */
	x86_outb(COM1 + 2, 0xc7); /* FIFO on */
}

void console_use_e9(void) { use_e9 = true; }
void console_set_sink(void (*sink)(const char *s, size_t n)) { extra_sink = sink; }

static void com1_putc(char c)
{
	/* Bounded: where no UART answers (a Xen domU), LSR reads 0xff or 0 forever. */
	for (int i = 0; i < 100000 && !(x86_inb(COM1 + 5) & LSR_THRE); i++)
		x86_pause();
	x86_outb(COM1, (u8)c);
}

static void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			com1_putc('\r');
		com1_putc(s[i]);
		if (use_e9)
			x86_outb(0xe9, (u8)s[i]);
	}
	if (extra_sink)
		extra_sink(s, n);
}

struct out {
	char *buf;
	size_t n, len;
};

static void out_c(struct out *o, char c)
{
	if (o->len + 1 < o->n)
		o->buf[o->len] = c;
	o->len++;
}

static void out_num(struct out *o, u64 v, unsigned base, bool neg, int width, char pad)
{
	char tmp[24];
	int i = 0;
	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[i++] = '-';
	while (width-- > i)
		out_c(o, pad);
	while (i)
		out_c(o, tmp[--i]);
}

/* %[0][width][.*][l|ll|z](d|u|x|s|c|p|%) */
static int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = { buf, n, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_c(&o, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0, prec = -1;
		if (*fmt == '0')
			pad = '0', fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.' && fmt[1] == '*') {
			prec = va_arg(ap, int);
			fmt += 2;
		}
		while (*fmt == 'l' || *fmt == 'z')
			lng++, fmt++;
		switch (*fmt) {
		case 'd': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
			out_num(&o, v < 0 ? -(u64)v : (u64)v, 10, v < 0, width, pad);
			break;
		}
		case 'u':
			out_num(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, false, width, pad);
			break;
		case 'x':
			out_num(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, false, width, pad);
			break;
		case 'p':
			out_c(&o, '0');
			out_c(&o, 'x');
			out_num(&o, (u64)(uintptr_t)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len = 0;
			if (!s)
				s = "(null)";
			for (const char *p = s; *p && (prec < 0 || len < prec); p++)
				len++;
			while (width-- > len)
				out_c(&o, ' ');
			for (int i = 0; i < len; i++)
				out_c(&o, s[i]);
			break;
		}
		case 'c':
			out_c(&o, (char)va_arg(ap, int));
			break;
		case '%':
			out_c(&o, '%');
			break;
		default:
			out_c(&o, '?');
			if (!*fmt)
				fmt--;
		}
	}
	if (n)
		o.buf[o.len < n ? o.len : n - 1] = 0;
	return (int)o.len;
}

int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = kvsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

void kvprintf(const char *fmt, va_list ap)
{
	char line[512];
	int len = kvsnprintf(line, sizeof(line), fmt, ap);
	if (len >= (int)sizeof(line)) { /* cut, and say so: the line still ends */
		len = sizeof(line) - 1;
		line[len - 4] = '.', line[len - 3] = '.', line[len - 2] = '.', line[len - 1] = '\n';
	}
	for (u32 i = 0; __atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE) && i < 10000000; i++)
		x86_pause();
	console_write(line, (size_t)len);
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

void panic(const char *fmt, ...)
{
	va_list ap;
	kprintf("# PANIC: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	machine_exit(false);
}
