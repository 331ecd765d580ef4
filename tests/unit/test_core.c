/* SPDX-License-Identifier: MIT */
/*
 * test_core.c - the architecture-free core through the KVM-ABI face:
 * handles, dispatch errnos, VM and vCPU creation, KVM_CHECK_EXTENSION,
 * KVM_SET_GSI_ROUTING validation (all or nothing) and KVM_IRQ_LINE sums.
 * Expected errnos are those /dev/kvm gave on the build machine
 * (docs/kernel-facts.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include "testutil.h"
#include "virq-int.h"
#include "virq/virq.h"

static int open_vm(int *sys)
{
	*sys = virq_open(VIRQ_ARCH_X86);
	assert_true(*sys >= VIRQ_HANDLE_BASE);
	int vm = virq_ioctl(*sys, KVM_CREATE_VM, 0);
	assert_true(vm >= VIRQ_HANDLE_BASE);
	return vm;
}

static void test_open_arch(void **state)
{
	(void)state;
	int h = virq_open(VIRQ_ARCH_HOST);
	assert_true(h >= VIRQ_HANDLE_BASE);
	assert_int_equal(virq_close(h), 0);
	assert_errno(virq_open(VIRQ_ARCH_ARM), ENODEV);
	assert_errno(virq_open(VIRQ_ARCH_IA64), ENODEV);
	assert_errno(virq_open(VIRQ_ARCH_S390), ENODEV);
	assert_errno(virq_open((enum virq_arch)77), EINVAL);
}

static void test_handles_never_fds(void **state)
{
	(void)state;
	int fd = open("/dev/null", O_RDONLY);
	int h = virq_open(VIRQ_ARCH_X86);

	assert_true(fd >= 0);
	assert_true(h >= VIRQ_HANDLE_BASE);
	assert_true(h != fd);
	/* A process descriptor is not a virq handle. */
	assert_errno(virq_ioctl(fd, KVM_GET_API_VERSION, 0), EBADF);
	assert_errno(virq_close(fd), EBADF);
	assert_errno(virq_ioctl(-1, KVM_GET_API_VERSION, 0), EBADF);
	assert_errno(virq_ioctl(VIRQ_HANDLE_BASE + (1 << 24), KVM_GET_API_VERSION, 0), EBADF);
	/* Closed handles are dead; numbers are reused lowest-first. */
	assert_int_equal(virq_close(h), 0);
	assert_errno(virq_ioctl(h, KVM_GET_API_VERSION, 0), EBADF);
	assert_errno(virq_close(h), EBADF);
	int h2 = virq_open(VIRQ_ARCH_X86);
	assert_int_equal(h2, h);
	virq_close(h2);
	close(fd);
}

static void test_system_ioctls(void **state)
{
	(void)state;
	int sys = virq_open(VIRQ_ARCH_X86);

	assert_int_equal(virq_ioctl(sys, KVM_GET_API_VERSION, 0), 12);
	/* Unknown requests on the system handle: EINVAL (kvm_arch_dev_ioctl). */
	assert_errno(virq_ioctl(sys, _IO(KVMIO, 0x7f), 0), EINVAL);
	assert_errno(virq_ioctl(sys, _IO(0x12, 0x1), 0), EINVAL);
	assert_errno(virq_ioctl(sys, KVM_CREATE_IRQCHIP, 0), EINVAL);
	assert_errno(virq_ioctl(sys, KVM_CREATE_VM, 5), EINVAL);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), 4096);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), 1);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI), 1);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP), 1);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_INJECT_STATUS), 1);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS), 1024);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID), 4096);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_X2APIC_API), 15);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_IOAPIC_POLARITY_IGNORED), 1);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 0);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, 1000), 0);
	virq_close(sys);
}

static void test_vm_dispatch(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);

	/* Unknown VM requests: ENOTTY (kvm_arch_vm_ioctl). */
	assert_errno(virq_ioctl(vm, _IO(KVMIO, 0x7f), 0), ENOTTY);
	assert_errno(virq_ioctl(vm, _IO(0x12, 0x1), 0), ENOTTY);
	assert_errno(virq_ioctl(vm, KVM_GET_API_VERSION, 0), ENOTTY);
	/* A VM handle answers CHECK_EXTENSION with per-VM values. */
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_X2APIC_API), 11);
	/* NULL pointers are EFAULT where the kernel copies from user. */
	assert_errno(virq_ioctl(vm, KVM_SET_GSI_ROUTING, NULL), EFAULT);
	assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, NULL), EFAULT);
	assert_errno(virq_ioctl(vm, KVM_IRQ_LINE, NULL), EFAULT);
	assert_errno(virq_ioctl(vm, KVM_SIGNAL_MSI, NULL), EFAULT);
	/* No irqchip. */
	struct kvm_irq_level l = { .irq = 0, .level = 1 };
	assert_errno(virq_ioctl(vm, KVM_IRQ_LINE, &l), ENXIO);
	struct kvm_msi m = { 0 };
	assert_errno(virq_ioctl(vm, KVM_SIGNAL_MSI, &m), EINVAL);
	struct kvm_irqchip c = { 0 };
	assert_errno(virq_ioctl(vm, KVM_GET_IRQCHIP, &c), ENXIO);
	assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &(struct kvm_enable_cap){ .cap = 9999 }), EINVAL);
	virq_close(vm);
	virq_close(sys);
}

static void test_vcpu_create(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);

	assert_errno(virq_ioctl(vm, KVM_CREATE_VCPU, 5000), EINVAL);
	assert_errno(virq_ioctl(vm, KVM_CREATE_VCPU, 4096), EINVAL);
	int v = virq_ioctl(vm, KVM_CREATE_VCPU, 4095);
	assert_true(v >= VIRQ_HANDLE_BASE);
	int v0 = virq_ioctl(vm, KVM_CREATE_VCPU, 0);
	assert_true(v0 >= VIRQ_HANDLE_BASE);
	assert_errno(virq_ioctl(vm, KVM_CREATE_VCPU, 0), EEXIST);
	/* vCPU handles: foreign ioctl types and unknown requests are EINVAL. */
	assert_errno(virq_ioctl(v0, _IO(KVMIO, 0x7f), 0), EINVAL);
	assert_errno(virq_ioctl(v0, _IO(0x12, 0x1), 0), EINVAL);
	assert_errno(virq_ioctl(v0, KVM_CHECK_EXTENSION, 0), EINVAL);
	/* Irqchip after vCPUs. */
	assert_errno(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EINVAL);
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };
	assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &split), EEXIST);
	/* The VM outlives its handle while vCPU handles exist. */
	virq_close(vm);
	assert_errno(virq_ioctl(vm, KVM_CREATE_VCPU, 1), EBADF);
	struct kvm_mp_state mp;
	assert_int_equal(virq_ioctl(v0, KVM_GET_MP_STATE, &mp), 0);
	virq_close(v);
	virq_close(v0);
	virq_close(sys);
}

static void test_vcpu_limit(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);
	int *h = calloc(1025, sizeof(int));

	for (int i = 0; i < 1024; i++) {
		h[i] = virq_ioctl(vm, KVM_CREATE_VCPU, i);
		assert_true(h[i] >= VIRQ_HANDLE_BASE);
	}
	assert_errno(virq_ioctl(vm, KVM_CREATE_VCPU, 2000), EINVAL);
	for (int i = 0; i < 1024; i++)
		virq_close(h[i]);
	free(h);
	virq_close(vm);
	virq_close(sys);
}

/* virq_vm_set_max_vcpus(): an opt-in beyond KVM_MAX_VCPUS, before any vCPU. */
static void test_max_vcpus_opt_in(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys), last;

	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS), 1024);
	assert_int_equal(virq_vm_set_max_vcpus(vm, 0), -EINVAL);
	assert_int_equal(virq_vm_set_max_vcpus(vm, VIRQ_MAX_VCPUS + 1), -EINVAL);
	assert_int_equal(virq_vm_set_max_vcpus(sys, 2048), -EBADF);
	assert_int_equal(virq_vm_set_max_vcpus(vm, VIRQ_MAX_VCPUS), 0);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS), VIRQ_MAX_VCPUS);
	/* The system handle still answers the kernel's number. */
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS), 1024);
	for (int i = 0; i < VIRQ_MAX_VCPUS; i++)
		assert_true(virq_ioctl(vm, KVM_CREATE_VCPU, i) >= VIRQ_HANDLE_BASE);
	/* All ids are used up: KVM_MAX_VCPU_IDS refuses the next. */
	assert_errno(virq_ioctl(vm, KVM_CREATE_VCPU, VIRQ_MAX_VCPUS), EINVAL);
	assert_int_equal(virq_vm_set_max_vcpus(vm, 8), -EBUSY);
	/* A smaller limit takes effect as well. */
	virq_close(vm);
	vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	assert_int_equal(virq_vm_set_max_vcpus(vm, 2), 0);
	assert_true(virq_ioctl(vm, KVM_CREATE_VCPU, 0) >= VIRQ_HANDLE_BASE);
	last = virq_ioctl(vm, KVM_CREATE_VCPU, 1);
	assert_true(last >= VIRQ_HANDLE_BASE);
	assert_errno(virq_ioctl(vm, KVM_CREATE_VCPU, 2), EINVAL);
	virq_close(vm);
	virq_close(sys);
}

static void test_irqchip_modes(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	assert_errno(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EEXIST);
	assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &split), EEXIST);
	virq_close(vm);

	vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	split.args[0] = 4097;
	assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &split), EINVAL);
	split.flags = 1;
	split.args[0] = 24;
	assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &split), EINVAL);
	split.flags = 0;
	split.args[0] = 4096;
	assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &split), 0);
	assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &split), EEXIST);
	assert_errno(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EEXIST);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_X2APIC_API), 15);
	struct kvm_irqchip c = { .chip_id = 2 };
	assert_errno(virq_ioctl(vm, KVM_GET_IRQCHIP, &c), ENXIO);
	assert_errno(virq_ioctl(vm, KVM_SET_IRQCHIP, &c), ENXIO);
	/* Split irqchip is "in kernel": lines work (no routes: status -1). */
	struct kvm_irq_level l = { .irq = 0, .level = 1 };
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE_STATUS, &l), 0);
	assert_int_equal(l.status, -1);
	/* No vCPU at all: the MSI reaches nobody, -1 = EPERM. */
	struct kvm_msi m = { .address_lo = 0xfee00000, .data = 0x30 };
	assert_errno(virq_ioctl(vm, KVM_SIGNAL_MSI, &m), EPERM);
	m.flags = 2;
	assert_errno(virq_ioctl(vm, KVM_SIGNAL_MSI, &m), EINVAL);
	m.flags = KVM_MSI_VALID_DEVID;
	assert_errno(virq_ioctl(vm, KVM_SIGNAL_MSI, &m), EPERM);
	virq_close(vm);
	virq_close(sys);
}

static void test_x2apic_api(void **state)
{
	(void)state;
	int sys;

	for (int mode = 0; mode < 3; mode++) {
		int vm = open_vm(&sys);
		struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

		if (mode == 1)
			assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
		if (mode == 2)
			assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &split), 0);
		for (int b = 0; b < 6; b++) {
			struct kvm_enable_cap xa = { .cap = KVM_CAP_X2APIC_API, .args = { 1ull << b } };
			bool ok = b == 0 || b == 1 || b == 3 || (b == 2 && mode == 2);

			if (ok)
				assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &xa), 0);
			else
				assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &xa), EINVAL);
		}
		struct kvm_enable_cap both = { .cap = KVM_CAP_X2APIC_API, .args = { 12 } };
		assert_errno(virq_ioctl(vm, KVM_ENABLE_CAP, &both), EINVAL);
		virq_close(vm);
		virq_close(sys);
	}
}

/* A routing table built from entries on the stack. */
struct routing {
	struct kvm_irq_routing hdr;
	struct kvm_irq_routing_entry e[64];
};

static struct kvm_irq_routing_entry chip_entry(uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP };

	e.u.irqchip.irqchip = chip;
	e.u.irqchip.pin = pin;
	return e;
}

static struct kvm_irq_routing_entry msi_entry(uint32_t gsi, uint32_t lo, uint32_t hi, uint32_t data)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI };

	e.u.msi.address_lo = lo;
	e.u.msi.address_hi = hi;
	e.u.msi.data = data;
	return e;
}

static int set_routing(int vm, struct routing *r, uint32_t nr)
{
	r->hdr.nr = nr;
	r->hdr.flags = 0;
	return virq_ioctl(vm, KVM_SET_GSI_ROUTING, r);
}

static int line_status(int vm, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE_STATUS, &l), 0);
	return l.status;
}

static void test_routing_validation(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);
	struct routing *r = calloc(1, sizeof(*r) + 4100 * sizeof(struct kvm_irq_routing_entry));

	/* Without an irqchip. */
	r->e[0] = msi_entry(30, 0xfee00000, 0, 0x40);
	assert_errno(set_routing(vm, r, 1), EINVAL);
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	int vcpu = virq_ioctl(vm, KVM_CREATE_VCPU, 0);

	/* Header checks. */
	r->hdr.nr = 4097;
	assert_errno(virq_ioctl(vm, KVM_SET_GSI_ROUTING, r), EINVAL);
	r->hdr.nr = 1;
	r->hdr.flags = 1;
	assert_errno(virq_ioctl(vm, KVM_SET_GSI_ROUTING, r), EINVAL);

	/* Entry checks, each of which must leave the default table in force. */
	struct kvm_irq_routing_entry bad[] = {
		msi_entry(4096, 0xfee00000, 0, 0),     /* gsi range */
		chip_entry(1, KVM_IRQCHIP_PIC_MASTER, 8), /* PIC pin range */
		chip_entry(1, KVM_IRQCHIP_PIC_SLAVE, 8),
		chip_entry(1, KVM_IRQCHIP_IOAPIC, 24),
		chip_entry(1, 3, 0),                   /* unknown chip */
		{ .gsi = 1, .type = KVM_IRQ_ROUTING_S390_ADAPTER },
		{ .gsi = 1, .type = KVM_IRQ_ROUTING_HV_SINT },
		{ .gsi = 1, .type = KVM_IRQ_ROUTING_XEN_EVTCHN },
		{ .gsi = 1, .type = 99 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r->e[0] = chip_entry(5, KVM_IRQCHIP_IOAPIC, 5);
		r->e[1] = bad[i];
		assert_errno(set_routing(vm, r, 2), EINVAL);
	}
	/* Flags: MSI may carry only VALID_DEVID; others none. */
	r->e[0] = msi_entry(30, 0xfee00000, 0, 0x40);
	r->e[0].flags = KVM_MSI_VALID_DEVID;
	assert_int_equal(set_routing(vm, r, 1), 0);
	r->e[0].flags = 2;
	assert_errno(set_routing(vm, r, 1), EINVAL);
	r->e[0] = chip_entry(1, KVM_IRQCHIP_IOAPIC, 1);
	r->e[0].flags = 1;
	assert_errno(set_routing(vm, r, 1), EINVAL);
	/* Duplicates: IRQCHIP routes only on different chips; anything else alone. */
	r->e[0] = chip_entry(3, KVM_IRQCHIP_IOAPIC, 3);
	r->e[1] = chip_entry(3, KVM_IRQCHIP_IOAPIC, 4);
	assert_errno(set_routing(vm, r, 2), EINVAL);
	r->e[1] = msi_entry(3, 0xfee00000, 0, 0x40);
	assert_errno(set_routing(vm, r, 2), EINVAL);
	r->e[0] = msi_entry(3, 0xfee00000, 0, 0x40);
	r->e[1] = msi_entry(3, 0xfee00000, 0, 0x41);
	assert_errno(set_routing(vm, r, 2), EINVAL);
	r->e[0] = chip_entry(3, KVM_IRQCHIP_IOAPIC, 3);
	r->e[1] = chip_entry(3, KVM_IRQCHIP_PIC_MASTER, 3);
	r->e[2] = chip_entry(3, KVM_IRQCHIP_PIC_SLAVE, 3);
	assert_int_equal(set_routing(vm, r, 3), 0);
	/* Two GSIs on one pin are fine (the last wins for acks). */
	r->e[0] = chip_entry(3, KVM_IRQCHIP_IOAPIC, 3);
	r->e[1] = chip_entry(40, KVM_IRQCHIP_IOAPIC, 3);
	assert_int_equal(set_routing(vm, r, 2), 0);
	/* The maximum table size is accepted. */
	for (uint32_t i = 0; i < 4096; i++)
		r->e[i] = msi_entry(i, 0xfee00000, 0, 0x40);
	assert_int_equal(set_routing(vm, r, 4096), 0);
	/* nr == 0 clears the table: every GSI is unrouted. */
	assert_int_equal(set_routing(vm, r, 0), 0);
	assert_int_equal(line_status(vm, 4, 1), -1);
	virq_close(vcpu);
	virq_close(vm);
	virq_close(sys);
	free(r);
}

static void test_routing_all_or_nothing(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);
	struct routing r;

	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	/* Default routing: GSI 0-15 reach the PIC and the IOAPIC (both pins
	 * masked at reset: each route says -1 when raised, 1 when lowered). */
	assert_int_equal(line_status(vm, 4, 0), 2);
	assert_int_equal(line_status(vm, 20, 0), 1);
	assert_int_equal(line_status(vm, 24, 1), -1);
	/* A rejected table keeps the default one. */
	memset(&r, 0, sizeof(r));
	r.e[0] = chip_entry(4, KVM_IRQCHIP_IOAPIC, 4);
	r.e[1] = chip_entry(4, KVM_IRQCHIP_IOAPIC, 5);
	assert_errno(set_routing(vm, &r, 2), EINVAL);
	assert_int_equal(line_status(vm, 4, 0), 2);
	/* An accepted one replaces it. */
	assert_int_equal(set_routing(vm, &r, 1), 0);
	assert_int_equal(line_status(vm, 4, 0), 1);
	assert_int_equal(line_status(vm, 20, 0), -1);
	virq_close(vm);
	virq_close(sys);
}

static void test_split_routing(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };
	struct routing r;

	assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &split), 0);
	memset(&r, 0, sizeof(r));
	r.e[0] = chip_entry(2, KVM_IRQCHIP_IOAPIC, 2);
	assert_errno(set_routing(vm, &r, 1), EINVAL); /* IRQCHIP refused in split mode */
	/* x2APIC format: address_hi low byte must be 0. */
	struct kvm_enable_cap xa = { .cap = KVM_CAP_X2APIC_API, .args = { KVM_X2APIC_API_USE_32BIT_IDS } };
	r.e[0] = msi_entry(2, 0xfee00000, 0x1, 0x40);
	assert_int_equal(set_routing(vm, &r, 1), 0);
	assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &xa), 0);
	assert_errno(set_routing(vm, &r, 1), EINVAL);
	r.e[0] = msi_entry(2, 0xfee00000, 0x100, 0x40);
	assert_int_equal(set_routing(vm, &r, 1), 0);
	/* KVM_IRQ_LINE on a GSI routed to MSI works in split mode; no vCPU: -1. */
	assert_int_equal(line_status(vm, 2, 1), -1);
	int v = virq_ioctl(vm, KVM_CREATE_VCPU, 0);
	/* Lowering an MSI route does nothing (-1). */
	assert_int_equal(line_status(vm, 2, 0), -1);
	virq_close(v);
	virq_close(vm);
	virq_close(sys);
}

/* Dropping the last reference inside an RCU read-side section (as a VMM
 * callback running under an injection may) must not wait for itself. */
static void test_release_inside_read_section(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);
	int v = virq_ioctl(vm, KVM_CREATE_VCPU, 0);
	struct virq_vcpu *vcpu = virq_vcpu_get(v);

	assert_non_null(vcpu);
	assert_int_equal(virq_close(v), 0);
	assert_int_equal(virq_close(vm), 0);
	rcu_read_lock();
	virq_obj_put(&vcpu->obj); /* last vCPU ref, then last VM ref */
	rcu_read_unlock();
	rcu_barrier(); /* the deferred release has run */
	virq_close(sys);
}

struct race {
	atomic_bool stop;
	int handle;
	struct kvm_irq_routing_entry *entries;
	int vm;
};

static void *open_close_loop(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 20000; i++) {
		int h = virq_open(VIRQ_ARCH_X86);

		assert_true(h >= VIRQ_HANDLE_BASE);
		virq_close(h);
	}
	atomic_store(&r->stop, true);
	return NULL;
}

static void *ioctl_loop(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop))
		virq_ioctl(r->handle, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP);
	return NULL;
}

/* Handles closed while other threads still use their number: never a use
 * after free (the ASan build checks). */
static void test_close_while_in_use(void **state)
{
	(void)state;
	struct race r = { .handle = VIRQ_HANDLE_BASE };
	pthread_t t[3];

	assert_int_equal(pthread_create(&t[0], NULL, open_close_loop, &r), 0);
	for (int i = 1; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ioctl_loop, &r), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
}

static void *flip_gsi(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop))
		r->entries[1].gsi = r->entries[1].gsi == 1 ? 4095 : 1;
	return NULL;
}

/* The caller rewrites its routing entries during KVM_SET_GSI_ROUTING:
 * virq reads them once, as the kernel does (no out-of-bounds writes). */
static void test_routing_entries_read_once(void **state)
{
	(void)state;
	int sys, vm = open_vm(&sys);
	struct kvm_irq_routing *rt = calloc(1, sizeof(*rt) + 2 * sizeof(rt->entries[0]));
	struct race r;
	pthread_t t;

	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	rt->nr = 2;
	for (int i = 0; i < 2; i++) {
		rt->entries[i].gsi = (uint32_t)i;
		rt->entries[i].type = KVM_IRQ_ROUTING_MSI;
		rt->entries[i].u.msi.address_lo = 0xfee00000;
	}
	memset(&r, 0, sizeof(r));
	r.entries = rt->entries;
	assert_int_equal(pthread_create(&t, NULL, flip_gsi, &r), 0);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(virq_ioctl(vm, KVM_SET_GSI_ROUTING, rt), 0);
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	free(rt);
	virq_close(vm);
	virq_close(sys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_arch),
		cmocka_unit_test(test_handles_never_fds),
		cmocka_unit_test(test_system_ioctls),
		cmocka_unit_test(test_vm_dispatch),
		cmocka_unit_test(test_vcpu_create),
		cmocka_unit_test(test_vcpu_limit),
		cmocka_unit_test(test_max_vcpus_opt_in),
		cmocka_unit_test(test_irqchip_modes),
		cmocka_unit_test(test_x2apic_api),
		cmocka_unit_test(test_routing_validation),
		cmocka_unit_test(test_routing_all_or_nothing),
		cmocka_unit_test(test_split_routing),
		cmocka_unit_test(test_release_inside_read_section),
		cmocka_unit_test(test_close_while_in_use),
		cmocka_unit_test(test_routing_entries_read_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
