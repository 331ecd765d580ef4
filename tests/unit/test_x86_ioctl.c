/* SPDX-License-Identifier: MIT */
/*
 * test_x86_ioctl.c - the x86 vCPU ioctls that touch interrupt state:
 * KVM_INTERRUPT, KVM_NMI, KVM_GET/SET_VCPU_EVENTS, KVM_GET/SET_MSRS
 * (IA32_APIC_BASE, x2APIC range), KVM_GET/SET_LAPIC without an irqchip,
 * KVM_GET/SET_IRQCHIP errors, KVM_SET_BOOT_CPU_ID, KVM_GET_MP_STATE, and
 * the native acknowledge path for each irqchip mode.  Expected values are
 * those /dev/kvm gave on the build machine.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#define VIRQ_TESTUTIL_VCPU
#include "testutil.h"
#include "virq/virq.h"

enum mode { NONE, FULL, SPLIT };

struct vmh {
	int sys, vm, v[4];
};

static void make_vm(struct vmh *h, enum mode mode, int nvcpu)
{
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

	h->sys = virq_open(VIRQ_ARCH_X86);
	h->vm = virq_ioctl(h->sys, KVM_CREATE_VM, 0);
	if (mode == FULL)
		assert_int_equal(virq_ioctl(h->vm, KVM_CREATE_IRQCHIP), 0);
	if (mode == SPLIT)
		assert_int_equal(virq_ioctl(h->vm, KVM_ENABLE_CAP, &split), 0);
	for (int i = 0; i < nvcpu; i++) {
		h->v[i] = virq_ioctl(h->vm, KVM_CREATE_VCPU, i);
		assert_true(h->v[i] >= VIRQ_HANDLE_BASE);
	}
}

static void free_vm(struct vmh *h, int nvcpu)
{
	for (int i = 0; i < nvcpu; i++)
		assert_int_equal(virq_close(h->v[i]), 0);
	assert_int_equal(virq_close(h->vm), 0);
	assert_int_equal(virq_close(h->sys), 0);
}

struct msrs {
	struct kvm_msrs h;
	struct kvm_msr_entry e[4];
};

static int get_msr(int vcpu, uint32_t index, uint64_t *val)
{
	struct msrs m;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e[0].index = index;
	int r = virq_ioctl(vcpu, KVM_GET_MSRS, &m);
	*val = m.e[0].data;
	return r;
}

static int set_msr(int vcpu, uint32_t index, uint64_t val)
{
	struct msrs m;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e[0].index = index;
	m.e[0].data = val;
	return virq_ioctl(vcpu, KVM_SET_MSRS, &m);
}

static void test_apic_base_reset(void **state)
{
	(void)state;
	for (int mode = NONE; mode <= SPLIT; mode++) {
		struct vmh h;
		uint64_t v;

		make_vm(&h, mode, 2);
		assert_int_equal(get_msr(h.v[0], 0x1b, &v), 1);
		assert_int_equal(v, 0xfee00900);
		assert_int_equal(get_msr(h.v[1], 0x1b, &v), 1);
		assert_int_equal(v, 0xfee00800);
		/* x2APIC MSRs outside x2APIC mode fail: 0 processed. */
		assert_int_equal(get_msr(h.v[0], 0x802, &v), 0);
		assert_int_equal(get_msr(h.v[0], 0x6e0, &v), 1);
		assert_int_equal(v, 0);
		/* x2APIC enable without the x2APIC CPUID bit is refused... */
		assert_int_equal(set_msr(h.v[1], 0x1b, 0xfee00000 | 0x800 | 0x400), 0);
		/* ...disabling the APIC is allowed. */
		assert_int_equal(set_msr(h.v[1], 0x1b, 0xfee00000), 1);
		assert_int_equal(get_msr(h.v[1], 0x1b, &v), 1);
		assert_int_equal(v, 0xfee00000);
		/* Too many MSRs. */
		struct kvm_msrs big = { .nmsrs = 300 };
		assert_errno(virq_ioctl(h.v[1], KVM_GET_MSRS, &big), E2BIG);
		assert_errno(virq_ioctl(h.v[1], KVM_GET_MSRS, NULL), EFAULT);
		struct kvm_mp_state mp;
		assert_int_equal(virq_ioctl(h.v[0], KVM_GET_MP_STATE, &mp), 0);
		assert_int_equal(mp.mp_state, KVM_MP_STATE_RUNNABLE);
		assert_int_equal(virq_ioctl(h.v[1], KVM_GET_MP_STATE, &mp), 0);
		assert_int_equal(mp.mp_state, mode == NONE ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED);
		free_vm(&h, 2);
	}
}

struct cpuid {
	struct kvm_cpuid2 h;
	struct kvm_cpuid_entry2 e[2];
};

/* APIC_BASE reserved bits follow CPUID's MAXPHYADDR as given (64: none). */
static void test_maxphyaddr(void **state)
{
	(void)state;
	for (int mode = NONE; mode <= FULL; mode++) {
		struct vmh h;
		struct cpuid c;
		uint64_t v;

		make_vm(&h, mode, 1);
		assert_int_equal(set_msr(h.v[0], 0x1b, 0x100fee00900ull), 0); /* bit 40 >= 36 */
		memset(&c, 0, sizeof(c));
		c.h.nent = 2;
		c.e[0].function = 0x80000000;
		c.e[0].eax = 0x80000008;
		c.e[1].function = 0x80000008;
		c.e[1].eax = 64;
		assert_int_equal(virq_ioctl(h.v[0], KVM_SET_CPUID2, &c), 0);
		assert_int_equal(set_msr(h.v[0], 0x1b, 0x100fee00900ull), 1);
		assert_int_equal(get_msr(h.v[0], 0x1b, &v), 1);
		assert_int_equal(v, 0x100fee00900ull);
		c.e[1].eax = 40;
		assert_int_equal(virq_ioctl(h.v[0], KVM_SET_CPUID2, &c), 0);
		/* Writing the value already held is always accepted... */
		assert_int_equal(set_msr(h.v[0], 0x1b, 0x100fee00900ull), 1);
		/* ...another one with bit 40 set is not (measured on /dev/kvm). */
		assert_int_equal(set_msr(h.v[0], 0x1b, 0x100fee00800ull), 0);
		free_vm(&h, 1);
	}
}

static void test_interrupt_ioctl(void **state)
{
	(void)state;
	struct kvm_interrupt in = { .irq = 0x31 };
	struct vmh h;

	/* No irqchip: the interrupt is queued as injected. */
	make_vm(&h, NONE, 1);
	in.irq = 256;
	assert_errno(virq_ioctl(h.v[0], KVM_INTERRUPT, &in), EINVAL);
	in.irq = 0x31;
	assert_int_equal(virq_ioctl(h.v[0], KVM_INTERRUPT, &in), 0);
	assert_int_equal(virq_ioctl(h.v[0], KVM_INTERRUPT, &in), 0);
	struct kvm_vcpu_events e = test_get_events(h.v[0]);
	assert_int_equal(e.interrupt.injected, 1);
	assert_int_equal(e.interrupt.nr, 0x31);
	assert_int_equal(e.flags, 0x0d);
	assert_int_equal(virq_vcpu_has_interrupt(h.v[0]), 1);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), 0x31);
	assert_int_equal(virq_vcpu_has_interrupt(h.v[0]), 0);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), -EAGAIN);
	assert_int_equal(virq_vcpu_eoi(h.v[0]), -ENXIO);
	struct kvm_lapic_state ls;
	assert_errno(virq_ioctl(h.v[0], KVM_GET_LAPIC, &ls), EINVAL);
	assert_errno(virq_ioctl(h.v[0], KVM_SET_LAPIC, &ls), EINVAL);
	free_vm(&h, 1);

	/* Full irqchip: ExtINT comes from the in-kernel PIC. */
	make_vm(&h, FULL, 1);
	assert_errno(virq_ioctl(h.v[0], KVM_INTERRUPT, &in), ENXIO);
	free_vm(&h, 1);

	/* Split: one pending external vector at a time, taken by the INTA. */
	make_vm(&h, SPLIT, 1);
	assert_int_equal(virq_ioctl(h.v[0], KVM_INTERRUPT, &in), 0);
	assert_errno(virq_ioctl(h.v[0], KVM_INTERRUPT, &in), EEXIST);
	e = test_get_events(h.v[0]);
	assert_int_equal(e.interrupt.injected, 0);
	/* Reset LVT0 of the BSP is ExtINT, so the vCPU takes it. */
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), 0x31);
	assert_int_equal(virq_ioctl(h.v[0], KVM_INTERRUPT, &in), 0);
	free_vm(&h, 1);
}

static void test_nmi_and_events(void **state)
{
	(void)state;
	for (int mode = NONE; mode <= SPLIT; mode++) {
		struct vmh h;
		struct kvm_vcpu_events e;

		make_vm(&h, mode, 1);
		e = test_get_events(h.v[0]);
		assert_int_equal(e.nmi.pending, 0);
		assert_int_equal(e.flags, KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
						  KVM_VCPUEVENT_VALID_SMM);
		/* At most two NMIs pending. */
		for (int i = 1; i <= 3; i++) {
			assert_int_equal(virq_ioctl(h.v[0], KVM_NMI), 0);
			e = test_get_events(h.v[0]);
			assert_int_equal(e.nmi.pending, i < 2 ? i : 2);
		}
		assert_errno(virq_ioctl(h.v[0], KVM_SMI), ENOTTY);
		/* Masked NMIs: only one may be pending. */
		e.nmi.masked = 1;
		e.nmi.pending = 3;
		assert_int_equal(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &e), 0);
		e = test_get_events(h.v[0]);
		assert_int_equal(e.nmi.masked, 1);
		assert_int_equal(e.nmi.pending, 1);

		/* Validation. */
		struct kvm_vcpu_events bad = e;
		bad.flags = 0x40;
		assert_errno(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &bad), EINVAL);
		bad = e;
		bad.flags |= KVM_VCPUEVENT_VALID_PAYLOAD;
		assert_errno(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &bad), EINVAL);
		bad = e;
		bad.exception.injected = 1;
		bad.exception.nr = 2;
		assert_errno(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &bad), EINVAL);
		bad.exception.nr = 32;
		assert_errno(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &bad), EINVAL);
		assert_errno(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, NULL), EFAULT);
		/* The checks above come before any change. */
		struct kvm_vcpu_events after = test_get_events(h.v[0]);
		assert_memory_equal(&after, &e, sizeof(e));
		/* SMM and triple-fault refusals come after the kernel has
		 * committed the interrupt and NMI parts: EINVAL, yet applied. */
		bad = e;
		bad.flags |= KVM_VCPUEVENT_VALID_SMM;
		bad.smi.smm = 1;
		bad.interrupt.injected = 1;
		bad.interrupt.nr = 0x30;
		assert_errno(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &bad), EINVAL);
		after = test_get_events(h.v[0]);
		assert_int_equal(after.interrupt.injected, 1);
		assert_int_equal(after.interrupt.nr, 0x30);
		bad = e;
		bad.flags |= KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
		assert_errno(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &bad), EINVAL);
		after = test_get_events(h.v[0]);
		assert_int_equal(after.interrupt.injected, 0);

		/* Exceptions round-trip; soft ones (#BP, #OF) read back as not injected. */
		e.exception.injected = 1;
		e.exception.nr = 14;
		e.exception.has_error_code = 1;
		e.exception.error_code = 0x6;
		assert_int_equal(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &e), 0);
		after = test_get_events(h.v[0]);
		assert_int_equal(after.exception.injected, 1);
		assert_int_equal(after.exception.nr, 14);
		assert_int_equal(after.exception.error_code, 6);
		e.exception.nr = 3;
		assert_int_equal(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &e), 0);
		after = test_get_events(h.v[0]);
		assert_int_equal(after.exception.injected, 0);
		assert_int_equal(after.exception.nr, 3);
		/* A latched INIT round-trips only with an in-kernel LAPIC. */
		e.flags |= KVM_VCPUEVENT_VALID_SMM;
		e.smi.latched_init = 1;
		assert_int_equal(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &e), 0);
		after = test_get_events(h.v[0]);
		assert_int_equal(after.smi.latched_init, mode == NONE ? 0 : 1);
		e.smi.latched_init = 0;
		assert_int_equal(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &e), 0);
		after = test_get_events(h.v[0]);
		assert_int_equal(after.smi.latched_init, 0);
		free_vm(&h, 1);
	}
}

static void test_irqchip_ioctl_errors(void **state)
{
	(void)state;
	struct vmh h;
	struct kvm_irqchip c;

	make_vm(&h, FULL, 0);
	memset(&c, 0x5a, sizeof(c));
	c.chip_id = 3;
	assert_errno(virq_ioctl(h.vm, KVM_GET_IRQCHIP, &c), EINVAL);
	assert_errno(virq_ioctl(h.vm, KVM_SET_IRQCHIP, &c), EINVAL);
	assert_errno(virq_ioctl(h.vm, KVM_GET_IRQCHIP, NULL), EFAULT);
	assert_errno(virq_ioctl(h.vm, KVM_SET_IRQCHIP, NULL), EFAULT);
	/* GET overwrites only the chip's own state: the rest of the union
	 * comes back as the caller passed it. */
	c.chip_id = 0;
	assert_int_equal(virq_ioctl(h.vm, KVM_GET_IRQCHIP, &c), 0);
	assert_int_equal((unsigned char)c.chip.dummy[100], 0x5a);
	assert_int_equal(c.chip.pic.elcr_mask, 0xf8);
	c.chip_id = 1;
	assert_int_equal(virq_ioctl(h.vm, KVM_GET_IRQCHIP, &c), 0);
	assert_int_equal(c.chip.pic.elcr_mask, 0xde);
	c.chip_id = 2;
	assert_int_equal(virq_ioctl(h.vm, KVM_GET_IRQCHIP, &c), 0);
	assert_int_equal(c.chip.ioapic.base_address, 0xfec00000);
	assert_int_equal(c.chip.ioapic.redirtbl[0].bits, 0x10000);
	assert_int_equal((unsigned char)c.chip.dummy[300], 0x5a);
	/* SET_BOOT_CPU_ID before vCPUs only. */
	assert_errno(virq_ioctl(h.vm, KVM_SET_BOOT_CPU_ID, 4097), EINVAL);
	assert_int_equal(virq_ioctl(h.vm, KVM_SET_BOOT_CPU_ID, 1), 0);
	h.v[0] = virq_ioctl(h.vm, KVM_CREATE_VCPU, 0);
	h.v[1] = virq_ioctl(h.vm, KVM_CREATE_VCPU, 1);
	assert_errno(virq_ioctl(h.vm, KVM_SET_BOOT_CPU_ID, 0), EBUSY);
	uint64_t v;
	assert_int_equal(get_msr(h.v[1], 0x1b, &v), 1);
	assert_int_equal(v, 0xfee00900);
	assert_int_equal(get_msr(h.v[0], 0x1b, &v), 1);
	assert_int_equal(v, 0xfee00800);
	free_vm(&h, 2);
}

static void test_native_errors(void **state)
{
	(void)state;
	struct vmh h;
	uint32_t val = 0;
	uint64_t q;

	make_vm(&h, SPLIT, 1);
	/* Split mode: PIC and IOAPIC live in the VMM. */
	assert_int_equal(virq_pio_read(h.vm, 0x20, &val, 1), -ENXIO);
	assert_int_equal(virq_ioapic_read(h.vm, 0x10, &val, 4), -ENXIO);
	assert_int_equal(virq_lapic_read(h.v[0], 0x30, NULL, 4), -EINVAL);
	assert_int_equal(virq_lapic_read(h.vm, 0x30, &val, 4), -EBADF);
	assert_int_equal(virq_ioapic_read(h.v[0], 0x10, &val, 4), -EBADF);
	assert_int_equal(virq_msr_read(h.v[0], 0x10, &q), -EOPNOTSUPP);
	assert_int_equal(virq_msr_read(h.v[0], 0x1b, &q), 0);
	assert_int_equal(q, 0xfee00900);
	assert_int_equal(virq_vm_poll_timers(h.v[0]), -EBADF);
	assert_int_equal(virq_vm_set_clock(h.vm, test_clock_read, NULL), -EBUSY);
	assert_int_equal(virq_vcpu_set_event_fn(h.vm, NULL, NULL), -EBADF);
	free_vm(&h, 1);
	assert_int_equal(virq_lapic_read(h.v[0], 0x30, &val, 4), -EBADF);
}

struct reenter {
	int vm;
	int kicks;
	int inner_status;
};

/* The VMM's callback injects again from inside a kick: virq must have
 * dropped every chip lock by then. */
static void reenter_cb(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct reenter *c = opaque;
	struct kvm_irq_level l = { .irq = 17, .level = 1 };

	(void)vcpu_fd;
	if (ev->type != VIRQ_EVENT_KICK || c->kicks++)
		return;
	assert_int_equal(virq_ioctl(c->vm, KVM_IRQ_LINE_STATUS, &l), 0);
	c->inner_status = l.status;
}

static void test_kick_reentry(void **state)
{
	(void)state;
	struct vmh h;
	struct reenter c = { 0 };
	uint32_t v;

	make_vm(&h, FULL, 1);
	c.vm = h.vm;
	v = 0x1ff;
	assert_int_equal(virq_lapic_write(h.v[0], 0xf0, &v, 4), 0);
	/* IOAPIC pins 16 and 17: edge, vectors 0x40/0x41, to APIC ID 0. */
	for (uint32_t pin = 16; pin <= 17; pin++) {
		uint32_t sel = 0x10 + 2 * pin, lo = 0x30 + pin, hi = 0;

		assert_int_equal(virq_ioapic_write(h.vm, 0, &sel, 4), 0);
		assert_int_equal(virq_ioapic_write(h.vm, 0x10, &lo, 4), 0);
		sel++;
		assert_int_equal(virq_ioapic_write(h.vm, 0, &sel, 4), 0);
		assert_int_equal(virq_ioapic_write(h.vm, 0x10, &hi, 4), 0);
	}
	assert_int_equal(virq_vcpu_set_event_fn(h.v[0], reenter_cb, &c), 0);
	struct kvm_irq_level l = { .irq = 16, .level = 1 };
	assert_int_equal(virq_ioctl(h.vm, KVM_IRQ_LINE_STATUS, &l), 0);
	assert_int_equal(l.status, 1);
	assert_int_equal(c.inner_status, 1);
	assert_true(c.kicks >= 2);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), 0x41);
	/* 0x40 is in the same priority class as the in-service 0x41. */
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), -EAGAIN);
	assert_int_equal(virq_vcpu_eoi(h.v[0]), 0x41);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), 0x40);
	assert_int_equal(virq_vcpu_set_event_fn(h.v[0], NULL, NULL), 0);
	free_vm(&h, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apic_base_reset),
		cmocka_unit_test(test_maxphyaddr),
		cmocka_unit_test(test_interrupt_ioctl),
		cmocka_unit_test(test_nmi_and_events),
		cmocka_unit_test(test_irqchip_ioctl_errors),
		cmocka_unit_test(test_native_errors),
		cmocka_unit_test(test_kick_reentry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
