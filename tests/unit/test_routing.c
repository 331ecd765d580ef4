/* SPDX-License-Identifier: MIT */
/*
 * test_routing.c - the GSI routing table beyond KVM: one-GSI edits with
 * KVM_SET_GSI_ROUTING's validation, batches, read-back, the opt-in large
 * sparse GSI space, per-route counters, the reverse map under edits, and
 * save/restore of the table.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "virq-int.h"
#include "virq/virq.h"

struct vm {
	int sys, vm, vcpu;
};

static void vm_open(struct vm *v, bool irqchip, bool vcpu)
{
	v->sys = virq_open(VIRQ_ARCH_X86);
	assert_true(v->sys >= VIRQ_HANDLE_BASE);
	v->vm = virq_ioctl(v->sys, KVM_CREATE_VM, 0);
	assert_true(v->vm >= VIRQ_HANDLE_BASE);
	if (irqchip)
		assert_int_equal(virq_ioctl(v->vm, KVM_CREATE_IRQCHIP, 0), 0);
	v->vcpu = -1;
	if (vcpu) {
		struct kvm_lapic_state s;

		v->vcpu = virq_ioctl(v->vm, KVM_CREATE_VCPU, 0);
		assert_true(v->vcpu >= VIRQ_HANDLE_BASE);
		/* Software-enable the LAPIC so fixed MSIs land. */
		assert_int_equal(virq_ioctl(v->vcpu, KVM_GET_LAPIC, &s), 0);
		*(uint32_t *)&s.regs[0xf0] = 0x1ff;
		assert_int_equal(virq_ioctl(v->vcpu, KVM_SET_LAPIC, &s), 0);
	}
}

static void vm_close(struct vm *v)
{
	if (v->vcpu >= 0)
		virq_close(v->vcpu);
	virq_close(v->vm);
	virq_close(v->sys);
}

static struct kvm_irq_routing_entry msi(uint32_t gsi, uint32_t dest, uint32_t vector)
{
	struct kvm_irq_routing_entry e;

	memset(&e, 0, sizeof(e));
	e.gsi = gsi;
	e.type = KVM_IRQ_ROUTING_MSI;
	e.u.msi.address_lo = 0xfee00000u | (dest << 12);
	e.u.msi.data = vector;
	return e;
}

static struct kvm_irq_routing_entry chip(uint32_t gsi, uint32_t irqchip, uint32_t pin)
{
	struct kvm_irq_routing_entry e;

	memset(&e, 0, sizeof(e));
	e.gsi = gsi;
	e.type = KVM_IRQ_ROUTING_IRQCHIP;
	e.u.irqchip.irqchip = irqchip;
	e.u.irqchip.pin = pin;
	return e;
}

static int line(int vm, uint32_t gsi, uint32_t level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE_STATUS, &l), 0);
	return l.status;
}

static bool irr(int vcpu, unsigned vector)
{
	struct kvm_lapic_state s;

	assert_int_equal(virq_ioctl(vcpu, KVM_GET_LAPIC, &s), 0);
	return (*(uint32_t *)&s.regs[0x200 + 0x10 * (vector / 32)] >> (vector % 32)) & 1;
}

static int set_table(int vm, const struct kvm_irq_routing_entry *e, uint32_t nr)
{
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + nr * sizeof(*e));
	int ret;

	r->nr = nr;
	memcpy(r->entries, e, nr * sizeof(*e));
	ret = virq_ioctl(vm, KVM_SET_GSI_ROUTING, r);
	free(r);
	return ret;
}

static void test_route_set_errors(void **state)
{
	(void)state;
	struct vm v;
	struct kvm_irq_routing_entry e[3], got[4];

	vm_open(&v, false, false);
	e[0] = msi(40, 0, 0x40);
	/* No irqchip: KVM_SET_GSI_ROUTING's EINVAL. */
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	assert_int_equal(virq_ioctl(v.vm, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), 0);

	/* Every rejection leaves GSI 40's route as it was. */
	e[0] = msi(4096, 0, 0x41);
	assert_int_equal(virq_route_set(v.vm, 4096, e, 1), -EINVAL);
	e[0] = msi(41, 0, 0x41); /* entry for another GSI */
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0] = msi(40, 0, 0x41);
	e[0].flags = 2; /* only KVM_MSI_VALID_DEVID is allowed */
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0].flags = KVM_MSI_VALID_DEVID; /* accepted, devid ignored */
	e[0].u.msi.devid = 77;
	e[1] = chip(40, KVM_IRQCHIP_IOAPIC, 3);
	e[1].flags = 1;
	assert_int_equal(virq_route_set(v.vm, 40, &e[1], 1), -EINVAL);
	e[1] = chip(40, KVM_IRQCHIP_IOAPIC, 3);
	assert_int_equal(virq_route_set(v.vm, 40, e, 2), -EINVAL); /* MSI + IRQCHIP */
	e[0] = chip(40, KVM_IRQCHIP_IOAPIC, 4);
	assert_int_equal(virq_route_set(v.vm, 40, e, 2), -EINVAL); /* same chip twice */
	e[0] = chip(40, KVM_IRQCHIP_PIC_MASTER, 8);
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0] = chip(40, KVM_IRQCHIP_PIC_SLAVE, 8);
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0] = chip(40, KVM_IRQCHIP_IOAPIC, 24);
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0] = chip(40, 3, 0);
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0] = msi(40, 0, 0x41);
	e[0].type = KVM_IRQ_ROUTING_HV_SINT; /* not built, as on this kernel */
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0].type = KVM_IRQ_ROUTING_XEN_EVTCHN;
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	e[0].type = KVM_IRQ_ROUTING_S390_ADAPTER;
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), -EINVAL);
	assert_int_equal(virq_route_set(v.vm, 40, NULL, 1), -EFAULT);
	assert_int_equal(virq_route_set(v.sys, 40, e, 1), -EBADF);
	assert_int_equal(virq_route_set(12345, 40, e, 1), -EBADF);

	assert_int_equal(virq_route_get(v.vm, 40, got, 4), 1);
	assert_int_equal(got[0].type, KVM_IRQ_ROUTING_MSI);
	assert_int_equal(got[0].u.msi.data, 0x40);
	assert_int_equal(got[0].gsi, 40);

	/* Three chips on one GSI are fine, as in the default routing. */
	e[0] = chip(41, KVM_IRQCHIP_IOAPIC, 3);
	e[1] = chip(41, KVM_IRQCHIP_PIC_MASTER, 3);
	e[2] = chip(41, KVM_IRQCHIP_PIC_SLAVE, 3);
	assert_int_equal(virq_route_set(v.vm, 41, e, 3), 0);
	assert_int_equal(virq_route_get(v.vm, 41, got, 4), 3);
	vm_close(&v);
}

static void test_split_and_x2apic_rules(void **state)
{
	(void)state;
	struct vm v;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };
	struct kvm_irq_routing_entry e;

	vm_open(&v, false, false);
	assert_int_equal(virq_ioctl(v.vm, KVM_ENABLE_CAP, &cap), 0);
	e = chip(3, KVM_IRQCHIP_IOAPIC, 3);
	assert_int_equal(virq_route_set(v.vm, 3, &e, 1), -EINVAL);
	e = msi(3, 0, 0x33);
	e.u.msi.address_hi = 0x1; /* low byte set: invalid in the 32-bit-ID format only */
	assert_int_equal(virq_route_set(v.vm, 3, &e, 1), 0);
	cap = (struct kvm_enable_cap){ .cap = KVM_CAP_X2APIC_API, .args = { KVM_X2APIC_API_USE_32BIT_IDS } };
	assert_int_equal(virq_ioctl(v.vm, KVM_ENABLE_CAP, &cap), 0);
	assert_int_equal(virq_route_set(v.vm, 4, (e.gsi = 4, &e), 1), -EINVAL);
	/* The route accepted before the format changed now refuses delivery. */
	assert_int_equal(line(v.vm, 3, 1), -1);
	vm_close(&v);

	/* KVM_IRQ_LINE on a GSI routed to an MSI works in split mode. */
	vm_open(&v, false, false);
	cap = (struct kvm_enable_cap){ .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };
	assert_int_equal(virq_ioctl(v.vm, KVM_ENABLE_CAP, &cap), 0);
	v.vcpu = virq_ioctl(v.vm, KVM_CREATE_VCPU, 0);
	struct kvm_lapic_state ls;
	assert_int_equal(virq_ioctl(v.vcpu, KVM_GET_LAPIC, &ls), 0);
	*(uint32_t *)&ls.regs[0xf0] = 0x1ff;
	assert_int_equal(virq_ioctl(v.vcpu, KVM_SET_LAPIC, &ls), 0);
	e = msi(5, 0, 0x35);
	assert_int_equal(virq_route_set(v.vm, 5, &e, 1), 0);
	assert_int_equal(line(v.vm, 5, 1), 1);
	assert_true(irr(v.vcpu, 0x35));
	assert_int_equal(line(v.vm, 5, 0), -1); /* an MSI ignores level 0 */
	vm_close(&v);
}

static void test_readback(void **state)
{
	(void)state;
	struct vm v;
	struct kvm_irq_routing_entry got[64], e;

	vm_open(&v, true, false);
	/* The default table: GSI 0-15 on IOAPIC + PIC, 16-23 on the IOAPIC. */
	assert_int_equal(virq_routing_get(v.vm, NULL, 0), 40);
	assert_int_equal(virq_routing_get(v.vm, got, 64), 40);
	for (int i = 1; i < 40; i++)
		assert_true(got[i].gsi >= got[i - 1].gsi);
	assert_int_equal(virq_route_get(v.vm, 10, got, 4), 2);
	assert_int_equal(got[0].u.irqchip.irqchip, KVM_IRQCHIP_IOAPIC);
	assert_int_equal(got[0].u.irqchip.pin, 10);
	/* PIC slave pins read back as given, not as stored. */
	assert_int_equal(got[1].u.irqchip.irqchip, KVM_IRQCHIP_PIC_SLAVE);
	assert_int_equal(got[1].u.irqchip.pin, 2);
	/* Count beyond @max. */
	assert_int_equal(virq_route_get(v.vm, 10, got, 1), 2);
	assert_int_equal(virq_route_get(v.vm, 100, got, 4), 0);

	/* A round trip through KVM_SET_GSI_ROUTING is exact. */
	e = msi(30, 3, 0x55);
	e.flags = KVM_MSI_VALID_DEVID;
	e.u.msi.devid = 0x1234;
	e.u.msi.address_hi = 0x100;
	assert_int_equal(set_table(v.vm, &e, 1), 0);
	assert_int_equal(virq_routing_get(v.vm, got, 64), 1);
	assert_memory_equal(&got[0], &e, sizeof(e));

	/* Remove, then the table is empty. */
	assert_int_equal(virq_route_set(v.vm, 30, NULL, 0), 0);
	assert_int_equal(virq_routing_get(v.vm, got, 64), 0);
	assert_int_equal(virq_route_set(v.vm, 31, NULL, 0), 0); /* removing nothing is fine */
	assert_int_equal(virq_routing_get(12345, got, 64), -EBADF);
	vm_close(&v);
}

static void test_edit_delivers(void **state)
{
	(void)state;
	struct vm v;
	struct kvm_irq_routing_entry e;

	vm_open(&v, true, true);
	assert_int_equal(line(v.vm, 40, 1), -1); /* unrouted */
	e = msi(40, 0, 0x45);
	assert_int_equal(virq_route_set(v.vm, 40, &e, 1), 0);
	assert_int_equal(line(v.vm, 40, 1), 1);
	assert_true(irr(v.vcpu, 0x45));
	e = msi(40, 0, 0x46);
	assert_int_equal(virq_route_set(v.vm, 40, &e, 1), 0);
	assert_int_equal(line(v.vm, 40, 1), 1);
	assert_true(irr(v.vcpu, 0x46));
	assert_int_equal(virq_route_set(v.vm, 40, NULL, 0), 0);
	assert_int_equal(line(v.vm, 40, 1), -1);

	/* KVM_SET_GSI_ROUTING afterwards replaces everything, edits included. */
	e = msi(41, 0, 0x47);
	assert_int_equal(virq_route_set(v.vm, 41, &e, 1), 0);
	e = msi(42, 0, 0x48);
	assert_int_equal(set_table(v.vm, &e, 1), 0);
	assert_int_equal(line(v.vm, 41, 1), -1);
	assert_int_equal(line(v.vm, 42, 1), 1);
	assert_true(irr(v.vcpu, 0x48));
	vm_close(&v);
}

static void test_batch(void **state)
{
	(void)state;
	struct vm v;
	struct virq_route_batch *b;
	struct kvm_irq_routing_entry e, got[4];

	vm_open(&v, true, true);
	assert_int_equal(virq_route_batch_begin(12345, &b), -EBADF);
	assert_null(b);
	assert_int_equal(virq_route_batch_begin(v.vm, &b), 0);
	e = msi(40, 0, 0x50);
	assert_int_equal(virq_route_batch_set(b, 40, &e, 1), 0);
	e = msi(41, 0, 0x51);
	assert_int_equal(virq_route_batch_set(b, 41, &e, 1), 0);
	e = msi(40, 0, 0x52); /* the last change of a GSI wins */
	assert_int_equal(virq_route_batch_set(b, 40, &e, 1), 0);
	e = chip(42, KVM_IRQCHIP_IOAPIC, 24);
	assert_int_equal(virq_route_batch_set(b, 42, &e, 1), -EINVAL); /* refused, batch goes on */
	assert_int_equal(virq_route_batch_set(b, 5, NULL, 0), 0);       /* remove GSI 5 */
	/* Nothing is visible before commit. */
	assert_int_equal(virq_route_get(v.vm, 40, got, 4), 0);
	assert_int_equal(virq_route_get(v.vm, 5, got, 4), 2);
	assert_int_equal(virq_route_batch_commit(b), 0);
	assert_int_equal(virq_route_get(v.vm, 40, got, 4), 1);
	assert_int_equal(got[0].u.msi.data, 0x52);
	assert_int_equal(virq_route_get(v.vm, 41, got, 4), 1);
	assert_int_equal(virq_route_get(v.vm, 5, got, 4), 0);
	assert_int_equal(line(v.vm, 40, 1), 1);
	assert_true(irr(v.vcpu, 0x52));

	/* Abort applies nothing. */
	assert_int_equal(virq_route_batch_begin(v.vm, &b), 0);
	e = msi(43, 0, 0x53);
	assert_int_equal(virq_route_batch_set(b, 43, &e, 1), 0);
	virq_route_batch_abort(b);
	assert_int_equal(virq_route_get(v.vm, 43, got, 4), 0);

	/* A change that no longer validates at commit: nothing applies. */
	assert_int_equal(virq_route_batch_begin(v.vm, &b), 0);
	e = msi(44, 0, 0x54);
	assert_int_equal(virq_route_batch_set(b, 44, &e, 1), 0);
	e = msi(45, 0, 0x55);
	e.u.msi.address_hi = 1;
	assert_int_equal(virq_route_batch_set(b, 45, &e, 1), 0);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X2APIC_API, .args = { KVM_X2APIC_API_USE_32BIT_IDS } };
	assert_int_equal(virq_ioctl(v.vm, KVM_ENABLE_CAP, &cap), 0);
	assert_int_equal(virq_route_batch_commit(b), -EINVAL);
	assert_int_equal(virq_route_get(v.vm, 44, got, 4), 0);
	assert_int_equal(virq_route_get(v.vm, 45, got, 4), 0);

	/* The VM handle may go away while a batch is open. */
	assert_int_equal(virq_route_batch_begin(v.vm, &b), 0);
	e = msi(46, 0, 0x56);
	assert_int_equal(virq_route_batch_set(b, 46, &e, 1), 0);
	vm_close(&v);
	assert_int_equal(virq_route_batch_commit(b), 0);
	assert_int_equal(virq_route_batch_commit(NULL), -EFAULT);
	virq_route_batch_abort(NULL);
}

static void test_gsi_limit(void **state)
{
	(void)state;
	struct vm v;
	struct kvm_irq_routing_entry e[3], got[4];

	vm_open(&v, true, true);
	e[0] = msi(4096, 0, 0x60);
	assert_int_equal(virq_route_set(v.vm, 4096, e, 1), -EINVAL);
	assert_errno(set_table(v.vm, e, 1), EINVAL);
	assert_int_equal(virq_ioctl(v.vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), 4096);
	assert_int_equal(virq_vm_set_gsi_limit(v.vm, 4095), -EINVAL);
	assert_int_equal(virq_vm_set_gsi_limit(v.vm, VIRQ_MAX_GSIS + 1), -EINVAL);
	assert_int_equal(virq_vm_set_gsi_limit(v.sys, VIRQ_MAX_GSIS), -EBADF);

	assert_int_equal(virq_vm_set_gsi_limit(v.vm, VIRQ_MAX_GSIS), 0);
	assert_int_equal(virq_ioctl(v.vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), VIRQ_MAX_GSIS);
	assert_int_equal(virq_ioctl(v.sys, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), 4096);
	/* The default routes survived the change of space. */
	assert_int_equal(virq_routing_get(v.vm, NULL, 0), 40);
	assert_int_equal(line(v.vm, 4, 0), 2);

	e[0] = msi(VIRQ_MAX_GSIS - 1, 0, 0x61);
	assert_int_equal(virq_route_set(v.vm, VIRQ_MAX_GSIS - 1, e, 1), 0);
	assert_int_equal(line(v.vm, VIRQ_MAX_GSIS - 1, 1), 1);
	assert_true(irr(v.vcpu, 0x61));
	e[0] = msi(VIRQ_MAX_GSIS, 0, 0x61);
	assert_int_equal(virq_route_set(v.vm, VIRQ_MAX_GSIS, e, 1), -EINVAL);

	/* A sparse KVM_SET_GSI_ROUTING (comparison-sorted path). */
	e[0] = msi(999999, 0, 0x62);
	e[1] = chip(7, KVM_IRQCHIP_IOAPIC, 7);
	e[2] = msi(500000, 0, 0x63);
	assert_int_equal(set_table(v.vm, e, 3), 0);
	assert_int_equal(virq_routing_get(v.vm, got, 4), 3);
	assert_int_equal(got[0].gsi, 7);
	assert_int_equal(got[1].gsi, 500000);
	assert_int_equal(got[2].gsi, 999999);
	assert_int_equal(line(v.vm, 500000, 1), 1);
	assert_true(irr(v.vcpu, 0x63));
	/* Duplicates are still found on the sparse path. */
	e[1] = chip(999999, KVM_IRQCHIP_IOAPIC, 7);
	assert_errno(set_table(v.vm, e, 3), EINVAL);
	assert_int_equal(virq_routing_get(v.vm, NULL, 0), 3);

	/* Shrinking below a route in use is refused. */
	assert_int_equal(virq_vm_set_gsi_limit(v.vm, 4096), -EBUSY);
	assert_int_equal(virq_route_set(v.vm, 999999, NULL, 0), 0);
	assert_int_equal(virq_vm_set_gsi_limit(v.vm, 4096), -EBUSY);
	assert_int_equal(virq_route_set(v.vm, 500000, NULL, 0), 0);
	assert_int_equal(virq_vm_set_gsi_limit(v.vm, 4096), 0);
	assert_int_equal(virq_routing_get(v.vm, got, 4), 1);
	assert_int_equal(line(v.vm, 7, 0), 1);
	vm_close(&v);
}

static void stats(int vm, uint32_t gsi, struct virq_route_stats *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(virq_route_stats(vm, gsi, s, 1), 1);
}

static void test_counters(void **state)
{
	(void)state;
	struct vm v;
	struct virq_route_stats s;
	struct kvm_irq_routing_entry e;
	uint32_t sel, val;

	/* No vCPU at all: an MSI finds no destination. */
	vm_open(&v, true, false);
	e = msi(40, 0, 0x40);
	assert_int_equal(virq_route_set(v.vm, 40, &e, 1), 0);
	assert_int_equal(line(v.vm, 40, 1), -1);
	assert_int_equal(line(v.vm, 40, 0), -1); /* deasserts are not counted */
	stats(v.vm, 40, &s);
	assert_int_equal(s.no_destination, 1);
	assert_int_equal(s.delivered + s.coalesced + s.masked, 0);
	vm_close(&v);

	vm_open(&v, true, true);
	/* IOAPIC pin 16: masked at reset. */
	assert_int_equal(line(v.vm, 16, 1), -1);
	assert_int_equal(line(v.vm, 16, 0), 1);
	stats(v.vm, 16, &s);
	assert_int_equal(s.masked, 1);
	/* Unmask it as edge-triggered, vector 0x70, to APIC 0. */
	sel = 0x10 + 2 * 16;
	val = 0x70;
	assert_int_equal(virq_ioapic_write(v.vm, 0, &sel, 4), 0);
	assert_int_equal(virq_ioapic_write(v.vm, 0x10, &val, 4), 0);
	assert_int_equal(line(v.vm, 16, 1), 1);
	assert_int_equal(line(v.vm, 16, 1), 0); /* no new edge */
	stats(v.vm, 16, &s);
	assert_int_equal(s.masked, 1);
	assert_int_equal(s.delivered, 1);
	assert_int_equal(s.coalesced, 1);
	assert_int_equal(virq_route_stats(v.vm, 16, NULL, 0), 1);
	assert_int_equal(virq_route_stats(v.vm, 999, &s, 1), 0);
	assert_int_equal(virq_route_stats(12345, 16, &s, 1), -EBADF);

	/* An identical route keeps its counts, a different one starts at 0. */
	e = chip(16, KVM_IRQCHIP_IOAPIC, 16);
	assert_int_equal(virq_route_set(v.vm, 16, &e, 1), 0);
	stats(v.vm, 16, &s);
	assert_int_equal(s.delivered, 1);
	struct kvm_irq_routing_entry all[41];
	assert_int_equal(virq_routing_get(v.vm, all, 41), 40);
	assert_int_equal(set_table(v.vm, all, 40), 0); /* also across KVM_SET_GSI_ROUTING */
	stats(v.vm, 16, &s);
	assert_int_equal(s.delivered, 1);
	e = chip(16, KVM_IRQCHIP_IOAPIC, 17);
	assert_int_equal(virq_route_set(v.vm, 16, &e, 1), 0);
	stats(v.vm, 16, &s);
	assert_int_equal(s.delivered + s.coalesced + s.masked + s.no_destination, 0);
	vm_close(&v);
}

static void test_reverse_map(void **state)
{
	(void)state;
	struct vm v;
	struct kvm_irq_routing_entry e;
	struct virq_vm *vm;

	vm_open(&v, true, false);
	vm = virq_vm_get(v.vm);
	assert_non_null(vm);
	rcu_read_lock();
	assert_int_equal(virq_irqchip_pin_to_gsi(vm, KVM_IRQCHIP_IOAPIC, 5), 5);
	rcu_read_unlock();
	e = chip(50, KVM_IRQCHIP_IOAPIC, 5);
	assert_int_equal(virq_route_set(v.vm, 50, &e, 1), 0);
	rcu_read_lock();
	assert_int_equal(virq_irqchip_pin_to_gsi(vm, KVM_IRQCHIP_IOAPIC, 5), 50);
	rcu_read_unlock();
	/* The newest route lost: the pin falls back to the other GSI on it. */
	assert_int_equal(virq_route_set(v.vm, 50, NULL, 0), 0);
	rcu_read_lock();
	assert_int_equal(virq_irqchip_pin_to_gsi(vm, KVM_IRQCHIP_IOAPIC, 5), 5);
	rcu_read_unlock();
	assert_int_equal(virq_route_set(v.vm, 5, NULL, 0), 0);
	rcu_read_lock();
	assert_int_equal(virq_irqchip_pin_to_gsi(vm, KVM_IRQCHIP_IOAPIC, 5), -1);
	assert_int_equal(virq_irqchip_pin_to_gsi(vm, KVM_IRQCHIP_PIC_MASTER, 5), -1);
	assert_int_equal(virq_irqchip_pin_to_gsi(vm, KVM_IRQCHIP_PIC_MASTER, 4), 4);
	rcu_read_unlock();
	/* KVM_SET_GSI_ROUTING: the last entry in table order wins. */
	struct kvm_irq_routing_entry t[2] = { chip(60, KVM_IRQCHIP_IOAPIC, 9), chip(8, KVM_IRQCHIP_IOAPIC, 9) };
	assert_int_equal(set_table(v.vm, t, 2), 0);
	rcu_read_lock();
	assert_int_equal(virq_irqchip_pin_to_gsi(vm, KVM_IRQCHIP_IOAPIC, 9), 8);
	rcu_read_unlock();
	virq_obj_put(&vm->obj);
	vm_close(&v);
}

struct churn {
	int vm;
	_Atomic bool stop;
	_Atomic uint64_t injected;
};

static void *inject_thread(void *opaque)
{
	struct churn *c = opaque;
	uint32_t gsi = 40;

	while (!atomic_load(&c->stop)) {
		struct kvm_irq_level l = { .irq = gsi, .level = 1 };

		assert_int_equal(virq_ioctl(c->vm, KVM_IRQ_LINE_STATUS, &l), 0);
		assert_true(l.status == 1 || l.status == -1);
		atomic_fetch_add(&c->injected, 1);
		gsi = gsi == 47 ? 40 : gsi + 1;
	}
	return NULL;
}

/* Injections never see a half-made table while routes change under them
 * (the counting stress test is tests/stress). */
static void test_concurrent_edits(void **state)
{
	(void)state;
	struct vm v;
	struct churn c = { 0 };
	pthread_t t[4];
	struct kvm_irq_routing_entry e[8];

	vm_open(&v, true, true);
	c.vm = v.vm;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, inject_thread, &c), 0);
	/* At least 3000 edits, and on until the injectors got going (no
	 * assumption about how threads are scheduled). */
	for (int round = 0; round < 3000 || atomic_load(&c.injected) < 1000; round++) {
		uint32_t gsi = 40 + round % 8;

		e[0] = msi(gsi, 0, 0x40 + round % 64);
		assert_int_equal(virq_route_set(v.vm, gsi, round % 5 ? e : NULL, round % 5 ? 1 : 0), 0);
		if (round % 100 == 0) {
			for (int i = 0; i < 8; i++)
				e[i] = msi(40 + i, 0, 0x80 + i);
			assert_int_equal(set_table(v.vm, e, 8), 0);
		}
		if (round % 250 == 0)
			assert_int_equal(virq_vm_set_gsi_limit(v.vm, round % 500 ? 4096 : 8192), 0);
		if (round >= 3000)
			sched_yield();
	}
	atomic_store(&c.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_true(atomic_load(&c.injected) > 0);
	vm_close(&v);
}

static void test_save_restore(void **state)
{
	(void)state;
	struct vm v, w;
	struct kvm_irq_routing_entry e[3], a[64], b[64];
	long n;
	char *blob;

	vm_open(&v, true, false);
	e[0] = msi(40, 1, 0x41);
	e[1] = chip(41, KVM_IRQCHIP_PIC_SLAVE, 6);
	e[2] = chip(41, KVM_IRQCHIP_IOAPIC, 6);
	assert_int_equal(virq_route_set(v.vm, 40, e, 1), 0);
	assert_int_equal(virq_route_set(v.vm, 41, &e[1], 2), 0);
	assert_int_equal(virq_vm_save(v.vm, NULL, 0, ~0u), -EINVAL);
	assert_int_equal(virq_vm_save(12345, NULL, 0, VIRQ_STATE_ALL), -EBADF);
	n = virq_vm_save(v.vm, NULL, 0, VIRQ_STATE_ROUTING);
	assert_true(n > (long)(42 * sizeof(struct kvm_irq_routing_entry)));
	blob = calloc(1, n);
	assert_int_equal(virq_vm_save(v.vm, blob, n - 1, VIRQ_STATE_ROUTING), n); /* too small */
	assert_int_equal(virq_vm_save(v.vm, blob, n, VIRQ_STATE_ROUTING), n);
	assert_int_equal(((struct virq_state_header *)blob)->magic, VIRQ_STATE_MAGIC);

	/* Into another VM: same table. */
	vm_open(&w, true, false);
	assert_int_equal(virq_route_set(w.vm, 3, NULL, 0), 0);
	assert_int_equal(virq_vm_restore(w.vm, blob, n), 0);
	assert_int_equal(virq_routing_get(v.vm, a, 64), 43);
	assert_int_equal(virq_routing_get(w.vm, b, 64), 43);
	assert_memory_equal(a, b, 43 * sizeof(a[0]));

	/* Broken blobs change nothing. */
	assert_int_equal(virq_route_set(w.vm, 40, NULL, 0), 0);
	assert_int_equal(virq_vm_restore(w.vm, blob, n - 1), -EINVAL);
	assert_int_equal(virq_vm_restore(w.vm, blob, 8), -EINVAL);
	assert_int_equal(virq_vm_restore(w.vm, NULL, n), -EFAULT);
	blob[0] ^= 1;
	assert_int_equal(virq_vm_restore(w.vm, blob, n), -EINVAL);
	blob[0] ^= 1;
	((struct virq_state_section *)(blob + sizeof(struct virq_state_header)))->type = 99;
	assert_int_equal(virq_vm_restore(w.vm, blob, n), -EINVAL);
	((struct virq_state_section *)(blob + sizeof(struct virq_state_header)))->type = VIRQ_SECTION_ROUTING;
	/* A route KVM_SET_GSI_ROUTING would refuse. */
	struct kvm_irq_routing_entry *re = (void *)(blob + sizeof(struct virq_state_header) +
						    sizeof(struct virq_state_section));
	uint32_t pin = re[0].u.irqchip.pin;
	re[0].u.irqchip.pin = 99;
	assert_int_equal(virq_vm_restore(w.vm, blob, n), -EINVAL);
	re[0].u.irqchip.pin = pin;
	assert_int_equal(virq_routing_get(w.vm, NULL, 0), 42);
	/* No irqchip: EINVAL, as KVM_SET_GSI_ROUTING. */
	vm_close(&w);
	vm_open(&w, false, false);
	assert_int_equal(virq_vm_restore(w.vm, blob, n), -EINVAL);
	vm_close(&w);
	free(blob);

	/* An empty save still restores (clears the table). */
	n = virq_vm_save(v.vm, NULL, 0, 0);
	assert_int_equal(n, sizeof(struct virq_state_header));
	vm_close(&v);
}

static void chips(int vm, struct kvm_irqchip c[3])
{
	for (uint32_t i = 0; i < 3; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].chip_id = i;
		assert_int_equal(virq_ioctl(vm, KVM_GET_IRQCHIP, &c[i]), 0);
	}
}

/* The whole VM: routing, PIC, IOAPIC, LAPICs, MSRs, events; and a restore
 * that fails half-way puts everything back. */
static void test_save_restore_vm(void **state)
{
	(void)state;
	struct vm v, w;
	struct kvm_irqchip ca[3], cb[3];
	struct kvm_lapic_state la, lb;
	struct kvm_vcpu_events ea, eb;
	struct kvm_irq_routing_entry e = msi(40, 0, 0x44);
	struct kvm_msi m = { .address_lo = 0xfee00000, .data = 0x66 };
	uint32_t sel = 0x10 + 2 * 17, val = 0xa051; /* level, vector 0x51 */
	long n;
	char *blob;

	vm_open(&v, true, true);
	assert_int_equal(virq_route_set(v.vm, 40, &e, 1), 0);
	assert_int_equal(virq_ioapic_write(v.vm, 0, &sel, 4), 0);
	assert_int_equal(virq_ioapic_write(v.vm, 0x10, &val, 4), 0);
	assert_int_equal(line(v.vm, 17, 1), 1);   /* remote IRR set, vector pending */
	assert_int_equal(virq_ioctl(v.vm, KVM_SIGNAL_MSI, &m), 1);
	assert_int_equal(virq_ioctl(v.vcpu, KVM_NMI), 0);
	assert_int_equal(virq_vcpu_ack_interrupt(v.vcpu), 0x66); /* one in service */
	/* PIC IRR (its IOAPIC pin is masked); LVT0 would take it as ExtINT. */
	assert_int_equal(line(v.vm, 3, 1), 1);

	n = virq_vm_save(v.vm, NULL, 0, VIRQ_STATE_ALL);
	assert_true(n > 3 * (long)sizeof(struct kvm_irqchip) + 1120);
	blob = malloc(n);
	assert_int_equal(virq_vm_save(v.vm, blob, n, VIRQ_STATE_ALL), n);

	vm_open(&w, true, true);
	assert_int_equal(virq_vm_restore(w.vm, blob, n), 0);
	chips(v.vm, ca);
	chips(w.vm, cb);
	assert_memory_equal(ca, cb, sizeof(ca));
	assert_int_equal(virq_ioctl(v.vcpu, KVM_GET_LAPIC, &la), 0);
	assert_int_equal(virq_ioctl(w.vcpu, KVM_GET_LAPIC, &lb), 0);
	/* PPR after KVM_SET_LAPIC is computed from the ISR count the vCPU
	 * had before (a kernel quirk virq keeps, docs/kernel-facts.md); it
	 * is right again after the next EOI. */
	memcpy(&lb.regs[0xa0], &la.regs[0xa0], 4);
	assert_memory_equal(&la, &lb, sizeof(la));
	assert_int_equal(virq_ioctl(v.vcpu, KVM_GET_VCPU_EVENTS, &ea), 0);
	assert_int_equal(virq_ioctl(w.vcpu, KVM_GET_VCPU_EVENTS, &eb), 0);
	assert_memory_equal(&ea, &eb, sizeof(ea));
	assert_int_equal(eb.nmi.pending, 1);
	assert_int_equal(virq_route_get(w.vm, 40, &e, 1), 1);
	/* The restored VM goes on where the first one was. */
	assert_int_equal(virq_vcpu_eoi(w.vcpu), 0x66);
	assert_int_equal(virq_vcpu_ack_interrupt(w.vcpu), 3); /* ExtINT first, PIC base 0 */
	assert_int_equal(virq_vcpu_ack_interrupt(w.vcpu), 0x51);

	/* A record the vCPU refuses (APIC_BASE reserved bits) after the
	 * routing and the chips were applied: all of it goes back. */
	struct kvm_irq_routing_entry before[64], after[64];
	long nb = virq_routing_get(w.vm, before, 64);
	chips(w.vm, ca);
	assert_int_equal(virq_route_set(v.vm, 41, &e, (e.gsi = 41, 1)), 0);
	n = virq_vm_save(v.vm, NULL, 0, VIRQ_STATE_ALL);
	blob = realloc(blob, n);
	assert_int_equal(virq_vm_save(v.vm, blob, n, VIRQ_STATE_ALL), n);
	/* Find the vCPU section and poison its APIC_BASE. */
	size_t off = sizeof(struct virq_state_header);
	for (;;) {
		struct virq_state_section *s = (void *)(blob + off);

		if (s->type == VIRQ_SECTION_X86_VCPU) {
			uint64_t *apic_base = (uint64_t *)(blob + off + sizeof(*s) + 8);
			*apic_base |= 1ull << 60;
			break;
		}
		off += sizeof(*s) + s->size;
	}
	assert_int_equal(virq_vm_restore(w.vm, blob, n), -EINVAL);
	assert_int_equal(virq_routing_get(w.vm, after, 64), nb);
	assert_memory_equal(before, after, nb * sizeof(before[0]));
	chips(w.vm, cb);
	assert_memory_equal(ca, cb, sizeof(ca));
	free(blob);
	vm_close(&w);
	vm_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_set_errors),
		cmocka_unit_test(test_split_and_x2apic_rules),
		cmocka_unit_test(test_readback),
		cmocka_unit_test(test_edit_delivers),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_gsi_limit),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_reverse_map),
		cmocka_unit_test(test_concurrent_edits),
		cmocka_unit_test(test_save_restore),
		cmocka_unit_test(test_save_restore_vm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
