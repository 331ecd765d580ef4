/* SPDX-License-Identifier: MIT */
/* testutil.h - shared helpers for the unit tests (cmocka). */
#ifndef VIRQ_TESTUTIL_H
#define VIRQ_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A manual clock for deterministic timers. */
struct test_clock {
	uint64_t now;
};
uint64_t test_clock_read(void *opaque);

#endif
