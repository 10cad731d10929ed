/* SPDX-License-Identifier: MIT */
/* ktap.h: KTAP plumbing for the single-file host tests: CHECK() and run_case(). */
#ifndef PVTICK_HOST_KTAP_H
#define PVTICK_HOST_KTAP_H

#include <stdbool.h>
#include <stdio.h>

static unsigned case_no;
static const char *case_name = "";
static bool case_failed;
static unsigned nr_failed;

/* Report a failed condition and mark the current case failed; carry on. */
#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			printf("# FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			case_failed = true;                                       \
		}                                                                 \
	} while (0)

/* Run one case and print its "ok N name" / "not ok N name" line. */
static inline void run_case(const char *name, void (*fn)(void))
{
	case_no++;
	case_name = name;
	case_failed = false;
	fn();
	printf("%sok %u %s\n", case_failed ? "not " : "", case_no, name);
	fflush(stdout);
	nr_failed += case_failed;
}

#endif
