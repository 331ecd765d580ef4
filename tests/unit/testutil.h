/* SPDX-License-Identifier: MIT */
/* testutil.h - shared helpers for the unit tests (cmocka). */
#ifndef VIRQ_TESTUTIL_H
#define VIRQ_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

/* A KVM-ABI call failed with -1 and exactly errno @e. */
#define assert_errno(call, e)                 \
	do {                                  \
		errno = 0;                    \
		assert_int_equal((call), -1); \
		assert_int_equal(errno, (e)); \
	} while (0)

/* A manual clock for deterministic timers. */
struct test_clock {
	uint64_t now;
};
uint64_t test_clock_read(void *opaque);

#endif
