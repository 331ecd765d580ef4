/* SPDX-License-Identifier: MIT */
#include <linux/kvm.h>
#include <string.h>

#include "testutil.h"

uint64_t test_clock_read(void *opaque)
{
	return ((struct test_clock *)opaque)->now;
}

uint32_t test_lapic_reg(const struct kvm_lapic_state *s, unsigned off)
{
	uint32_t v;

	memcpy(&v, s->regs + off, 4);
	return v;
}

void test_lapic_set(struct kvm_lapic_state *s, unsigned off, uint32_t v)
{
	memcpy(s->regs + off, &v, 4);
}
