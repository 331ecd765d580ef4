/* SPDX-License-Identifier: MIT */
#include "testutil.h"

uint64_t test_clock_read(void *opaque)
{
	return ((struct test_clock *)opaque)->now;
}
