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

/* A 32-bit register of a KVM_GET/SET_LAPIC page, by MMIO offset. */
struct kvm_lapic_state;
uint32_t test_lapic_reg(const struct kvm_lapic_state *s, unsigned off);
void test_lapic_set(struct kvm_lapic_state *s, unsigned off, uint32_t v);

/*
 * KVM_GET_VCPU_EVENTS on a virq vCPU, asserted to succeed (the buffer is
 * poisoned first, so fields virq leaves unset show).  Inline, for the
 * tests that link the whole library (the model tests link stubs instead).
 */
#ifdef VIRQ_TESTUTIL_VCPU
#include <string.h>
#include <linux/kvm.h>
#include "virq/virq.h"
static inline struct kvm_vcpu_events test_get_events(int vcpu)
{
	struct kvm_vcpu_events e;

	memset(&e, 0xaa, sizeof(e));
	assert_int_equal(virq_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &e), 0);
	return e;
}
#endif

#endif
