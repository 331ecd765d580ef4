/* SPDX-License-Identifier: MIT */
/*
 * test_ext_bus.c - local APICs outside virq (virq_vm_set_apic_bus()): the
 * messages virq's IOAPIC, PIC and routing send, the redirection-entry
 * reports, EOI from outside, and the PIC's INTA.
 */
#include <linux/kvm.h>
#include <stdbool.h>
#include <string.h>

#include "testutil.h"
#include "virq/virq.h"

struct msg {
	uint64_t address;
	uint32_t data;
};

struct rec {
	struct msg sent[16];
	unsigned nsent, extint;
	struct msg entry[24];
	bool masked[24];
	unsigned nentries;
	int ret;
};

static int rec_deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct rec *r = opaque;

	if (r->nsent < 16)
		r->sent[r->nsent] = (struct msg){ address, data };
	r->nsent++;
	return r->ret;
}

static void rec_extint(void *opaque)
{
	((struct rec *)opaque)->extint++;
}

static void rec_entry(void *opaque, uint32_t pin, uint64_t address, uint32_t data, bool masked)
{
	struct rec *r = opaque;

	r->entry[pin] = (struct msg){ address, data };
	r->masked[pin] = masked;
	r->nentries++;
}

static const struct virq_apic_bus bus = { rec_deliver, rec_extint, rec_entry };

static int vm_with_bus(int *sys, struct rec *r)
{
	int vm;

	memset(r, 0, sizeof(*r));
	r->ret = 1;
	*sys = virq_open(VIRQ_ARCH_X86);
	vm = virq_ioctl(*sys, KVM_CREATE_VM, 0);
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(virq_vm_set_apic_bus(vm, &bus, r), 0);
	return vm;
}

static void ioapic_rte(int vm, unsigned pin, uint64_t bits)
{
	uint32_t sel = 0x10 + 2 * pin, lo = (uint32_t)bits, hi = (uint32_t)(bits >> 32);

	assert_int_equal(virq_ioapic_write(vm, 0, &sel, 4), 0);
	assert_int_equal(virq_ioapic_write(vm, 0x10, &lo, 4), 0);
	sel++;
	assert_int_equal(virq_ioapic_write(vm, 0, &sel, 4), 0);
	assert_int_equal(virq_ioapic_write(vm, 0x10, &hi, 4), 0);
}

static int line(int vm, unsigned gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	return virq_ioctl(vm, KVM_IRQ_LINE, &l);
}

static void test_install_rules(void **state)
{
	(void)state;
	struct rec r;
	int sys = virq_open(VIRQ_ARCH_X86), vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	struct virq_apic_bus none = { 0 };

	/* No irqchip yet, no deliver callback, not a VM. */
	assert_int_equal(virq_vm_set_apic_bus(vm, &bus, &r), -EINVAL);
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(virq_vm_set_apic_bus(vm, &none, &r), -EINVAL);
	assert_int_equal(virq_vm_set_apic_bus(vm, NULL, &r), -EINVAL);
	assert_int_equal(virq_vm_set_apic_bus(sys, &bus, &r), -EBADF);
	/* A vCPU exists: too late. */
	int vcpu = virq_ioctl(vm, KVM_CREATE_VCPU, 0);

	assert_int_equal(virq_vm_set_apic_bus(vm, &bus, &r), -EBUSY);
	virq_close(vcpu);
	virq_close(vm);
	/* Once only; every pin is reported at installation, masked. */
	vm = vm_with_bus(&sys, &r);
	assert_int_equal(r.nentries, 24);
	assert_true(r.masked[0] && r.masked[23]);
	assert_int_equal(virq_vm_set_apic_bus(vm, &bus, &r), -EBUSY);
	assert_int_equal(virq_ioapic_eoi(vm, 256), -EINVAL);
	assert_int_equal(virq_ioapic_eoi(sys, 0x40), -EBADF);
	virq_close(vm);
	virq_close(sys);
}

/* A level pin: the message, remote IRR, EOI from outside, re-delivery. */
static void test_ioapic_level(void **state)
{
	(void)state;
	struct rec r;
	int sys, vm = vm_with_bus(&sys, &r);

	r.nentries = 0;
	/* Pin 17: vector 0x41, level, logical destination 0x03. */
	ioapic_rte(vm, 17, 0x41 | 1u << 15 | 1u << 11 | (uint64_t)0x03 << 56);
	assert_true(r.nentries >= 1);
	assert_false(r.masked[17]);
	assert_int_equal(r.entry[17].address, 0xfee03004);
	assert_int_equal(r.entry[17].data, 0x41 | 1u << 14 | 1u << 15);

	assert_int_equal(line(vm, 17, 1), 0);
	assert_int_equal(r.nsent, 1);
	assert_int_equal(r.sent[0].address, 0xfee03004);
	assert_int_equal(r.sent[0].data, 0xc041);
	/* Remote IRR holds it while the line stays high. */
	assert_int_equal(line(vm, 17, 1), 0);
	assert_int_equal(r.nsent, 1);
	/* The EOI comes from outside: sent again, the line is still high. */
	assert_int_equal(virq_ioapic_eoi(vm, 0x41), 0);
	assert_int_equal(r.nsent, 2);
	assert_int_equal(line(vm, 17, 0), 0);
	assert_int_equal(virq_ioapic_eoi(vm, 0x41), 0);
	assert_int_equal(r.nsent, 2);
	/* Masking is reported. */
	ioapic_rte(vm, 17, 0x41 | 1u << 15 | 1u << 16);
	assert_true(r.masked[17]);
	virq_close(vm);
	virq_close(sys);
}

/* Edge pins and MSIs leave as they are; the callback's result is returned. */
static void test_edge_and_msi(void **state)
{
	(void)state;
	struct rec r;
	int sys, vm = vm_with_bus(&sys, &r);
	struct kvm_msi msi = { .address_lo = 0xfee01000, .data = 0x4051 };

	ioapic_rte(vm, 16, 0x40 | (uint64_t)1 << 56);
	assert_int_equal(line(vm, 16, 1), 0);
	assert_int_equal(line(vm, 16, 0), 0);
	assert_int_equal(r.nsent, 1);
	assert_int_equal(r.sent[0].address, 0xfee01000);
	assert_int_equal(r.sent[0].data, 0x4040);
	assert_int_equal(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), 1);
	assert_int_equal(r.sent[1].address, 0xfee01000);
	assert_int_equal(r.sent[1].data, 0x4051);
	r.ret = 0;
	assert_int_equal(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), 0);
	/* An MSI route too. */
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[1];
	} t = { .r.nr = 1, .e[0] = { .gsi = 30, .type = KVM_IRQ_ROUTING_MSI,
				     .u.msi = { .address_lo = 0xfee02000, .data = 0x52 } } };

	r.ret = 1;
	assert_int_equal(virq_ioctl(vm, KVM_SET_GSI_ROUTING, &t), 0);
	assert_int_equal(line(vm, 30, 1), 0);
	assert_int_equal(r.sent[3].address, 0xfee02000);
	assert_int_equal(r.sent[3].data, 0x4052);
	virq_close(vm);
	virq_close(sys);
}

/* The PIC raises INT; the VMM acknowledges and injects the vector. */
static void test_pic_extint(void **state)
{
	(void)state;
	struct rec r;
	int sys, vm = vm_with_bus(&sys, &r);
	static const uint8_t init[][2] = {
		{ 0x20, 0x11 }, { 0x21, 0x20 }, { 0x21, 0x04 }, { 0x21, 0x01 }, { 0x21, 0xf7 }, /* IRQ 3 only */
	};

	for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++)
		assert_int_equal(virq_pio_write(vm, init[i][0], &init[i][1], 1), 0);
	assert_int_equal(virq_pic_has_interrupt(vm), 0);
	assert_int_equal(virq_pic_ack_interrupt(vm), -EAGAIN);
	assert_int_equal(line(vm, 3, 1), 0);
	assert_true(r.extint >= 1);
	assert_int_equal(virq_pic_has_interrupt(vm), 1);
	assert_int_equal(virq_pic_ack_interrupt(vm), 0x23);
	assert_int_equal(virq_pic_has_interrupt(vm), 0);
	assert_int_equal(virq_pic_has_interrupt(sys), -EBADF);
	virq_close(vm);
	virq_close(sys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_rules),
		cmocka_unit_test(test_ioapic_level),
		cmocka_unit_test(test_edge_and_msi),
		cmocka_unit_test(test_pic_extint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
