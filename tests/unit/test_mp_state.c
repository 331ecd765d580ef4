/* SPDX-License-Identifier: MIT */
/*
 * test_mp_state.c - INIT and STARTUP IPIs and the MP state: acceptance by
 * KVM_GET_MP_STATE and virq_vcpu_accept_events(), KVM_SET_MP_STATE's
 * validation, the PV kick (REMRD) of a HALTED vCPU, the event callback's
 * kicks, save/restore of pending INIT/SIPI, and INIT/SIPI pairs racing
 * with their acceptance.  Expected values are those /dev/kvm gave on the
 * build machine (Linux 6.18, kvm_pvm).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VIRQ_TESTUTIL_VCPU
#include "testutil.h"
#include "virq/virq.h"

#define RUNNABLE KVM_MP_STATE_RUNNABLE
#define UNINIT KVM_MP_STATE_UNINITIALIZED
#define INIT_RCVD KVM_MP_STATE_INIT_RECEIVED
#define HALTED KVM_MP_STATE_HALTED

enum mode { NONE, FULL, SPLIT };

struct vmh {
	int sys, vm, v[3];
	int n;
};

static void make_vm(struct vmh *h, enum mode mode, int n)
{
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

	h->n = n;
	h->sys = virq_open(VIRQ_ARCH_X86);
	h->vm = virq_ioctl(h->sys, KVM_CREATE_VM, 0);
	if (mode == FULL)
		assert_int_equal(virq_ioctl(h->vm, KVM_CREATE_IRQCHIP), 0);
	if (mode == SPLIT)
		assert_int_equal(virq_ioctl(h->vm, KVM_ENABLE_CAP, &split), 0);
	for (int i = 0; i < n; i++) {
		h->v[i] = virq_ioctl(h->vm, KVM_CREATE_VCPU, i);
		assert_true(h->v[i] >= VIRQ_HANDLE_BASE);
	}
}

static void free_vm(struct vmh *h)
{
	for (int i = 0; i < h->n; i++)
		assert_int_equal(virq_close(h->v[i]), 0);
	assert_int_equal(virq_close(h->vm), 0);
	assert_int_equal(virq_close(h->sys), 0);
}

static int get_mp(int vcpu)
{
	struct kvm_mp_state mp = { .mp_state = 0xdead };

	assert_int_equal(virq_ioctl(vcpu, KVM_GET_MP_STATE, &mp), 0);
	return (int)mp.mp_state;
}

static int set_mp(int vcpu, uint32_t state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	return virq_ioctl(vcpu, KVM_SET_MP_STATE, &mp);
}

/* KVM_SIGNAL_MSI, physical destination @dest, MSI data @data. */
static int msi(int vm, uint32_t dest, uint32_t data)
{
	struct kvm_msi m = { .address_lo = 0xfee00000 | dest << 12, .data = data };

	return virq_ioctl(vm, KVM_SIGNAL_MSI, &m);
}

static struct kvm_lapic_state get_lapic(int vcpu)
{
	struct kvm_lapic_state s;

	assert_int_equal(virq_ioctl(vcpu, KVM_GET_LAPIC, &s), 0);
	return s;
}

/* Software-enable vCPU @i's LAPIC with TPR 0x20 and LDR bit @i. */
static void lapic_enable(struct vmh *h, int i)
{
	struct kvm_lapic_state s = get_lapic(h->v[i]);

	test_lapic_set(&s, 0xf0, 0x1ff);
	test_lapic_set(&s, 0x80, 0x20);
	test_lapic_set(&s, 0xd0, 1u << (24 + i));
	assert_int_equal(virq_ioctl(h->v[i], KVM_SET_LAPIC, &s), 0);
}

static bool irr_has(int vcpu, unsigned vec)
{
	struct kvm_lapic_state s = get_lapic(vcpu);

	return (test_lapic_reg(&s, 0x200 + (vec / 32) * 0x10) >> (vec % 32)) & 1;
}

static uint64_t apic_base(int vcpu)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[1];
	} m = { .h.nmsrs = 1, .e[0].index = 0x1b };

	assert_int_equal(virq_ioctl(vcpu, KVM_GET_MSRS, &m), 1);
	return m.e[0].data;
}

static void set_apic_base(int vcpu, uint64_t v)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[1];
	} m = { .h.nmsrs = 1, .e[0].index = 0x1b, .e[0].data = v };

	assert_int_equal(virq_ioctl(vcpu, KVM_SET_MSRS, &m), 1);
}

static void test_capability(void **state)
{
	struct vmh h;

	(void)state;
	make_vm(&h, NONE, 0);
	assert_int_equal(virq_ioctl(h.sys, KVM_CHECK_EXTENSION, KVM_CAP_MP_STATE), 1);
	assert_int_equal(virq_ioctl(h.vm, KVM_CHECK_EXTENSION, KVM_CAP_MP_STATE), 1);
	free_vm(&h);
}

/* INIT, then STARTUP, by KVM_SIGNAL_MSI, taken by KVM_GET_MP_STATE. */
static void test_msi_init_sipi(void **state)
{
	(void)state;
	for (int mode = FULL; mode <= SPLIT; mode++) {
		struct kvm_vcpu_events e;
		struct vmh h;
		uint8_t vec = 0;

		/* Three vCPUs: the third's reset puts the second in the map. */
		make_vm(&h, mode, 3);
		assert_int_equal(get_mp(h.v[0]), RUNNABLE);
		assert_int_equal(get_mp(h.v[1]), UNINIT);

		/* The INIT is pending (latched) until something takes it. */
		assert_int_equal(msi(h.vm, 1, 0x500), 1);
		e = test_get_events(h.v[1]);
		assert_int_equal(e.smi.latched_init, 1);
		assert_int_equal(e.sipi_vector, 0);
		assert_int_equal(get_mp(h.v[1]), INIT_RCVD);
		assert_int_equal(test_get_events(h.v[1]).smi.latched_init, 0);
		assert_int_equal(get_mp(h.v[1]), INIT_RCVD);

		assert_int_equal(msi(h.vm, 1, 0x612), 1);
		assert_int_equal(get_mp(h.v[1]), RUNNABLE);
		/* GET_VCPU_EVENTS never reports the SIPI vector. */
		e = test_get_events(h.v[1]);
		assert_int_equal(e.sipi_vector, 0);
		assert_false(e.flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR);
		/* What GET_MP_STATE took is still reported to the VMM, once. */
		assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
		assert_int_equal(vec, 0x12);
		vec = 0x77;
		assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), 0);
		assert_int_equal(vec, 0x77);

		/* A STARTUP outside wait-for-SIPI is dropped. */
		assert_int_equal(msi(h.vm, 1, 0x613), 1);
		assert_int_equal(get_mp(h.v[1]), RUNNABLE);
		assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), 0);
		/* ...and does not linger for a later INIT. */
		assert_int_equal(msi(h.vm, 1, 0x500), 1);
		assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), VIRQ_ACCEPT_INIT);
		assert_int_equal(get_mp(h.v[1]), INIT_RCVD);

		/* A later INIT supersedes a STARTUP not yet taken. */
		assert_int_equal(msi(h.vm, 1, 0x620), 1);
		assert_int_equal(msi(h.vm, 1, 0x500), 1);
		assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), VIRQ_ACCEPT_INIT);
		assert_int_equal(get_mp(h.v[1]), INIT_RCVD);

		/* INIT and STARTUP together: both taken, in that order. */
		assert_int_equal(msi(h.vm, 1, 0x500), 1);
		assert_int_equal(msi(h.vm, 1, 0x634), 1);
		assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
		assert_int_equal(vec, 0x34);
		assert_int_equal(get_mp(h.v[1]), RUNNABLE);

		/* An MSI is always asserted: a "level de-assert" INIT counts. */
		assert_int_equal(msi(h.vm, 1, 0x8500), 1);
		assert_int_equal(get_mp(h.v[1]), INIT_RCVD);
		free_vm(&h);
	}
}

/* The BSP (IA32_APIC_BASE.BSP, not the reset BSP's id) goes back to
 * RUNNABLE and drops the STARTUP; INIT resets LAPIC and event state. */
static void test_init_bsp_reset(void **state)
{
	struct kvm_lapic_state l;
	struct kvm_vcpu_events e;
	struct vmh h;
	uint8_t vec = 0;

	(void)state;
	make_vm(&h, FULL, 3);
	lapic_enable(&h, 0);
	assert_int_equal(msi(h.vm, 0, 0x45), 1);
	assert_true(irr_has(h.v[0], 0x45));
	assert_int_equal(virq_ioctl(h.v[0], KVM_NMI), 0);
	e = test_get_events(h.v[0]);
	e.nmi.masked = 1;
	e.interrupt.injected = 1;
	e.interrupt.nr = 0x33;
	e.exception.injected = 1;
	e.exception.nr = 13;
	assert_int_equal(virq_ioctl(h.v[0], KVM_SET_VCPU_EVENTS, &e), 0);

	assert_int_equal(msi(h.vm, 0, 0x500), 1);
	assert_int_equal(msi(h.vm, 0, 0x677), 1);
	assert_int_equal(virq_vcpu_accept_events(h.v[0], &vec), VIRQ_ACCEPT_INIT);
	assert_int_equal(get_mp(h.v[0]), RUNNABLE);
	l = get_lapic(h.v[0]);
	assert_int_equal(test_lapic_reg(&l, 0x20), 0);      /* ID kept */
	assert_int_equal(test_lapic_reg(&l, 0xf0), 0xff);   /* software-disabled */
	assert_int_equal(test_lapic_reg(&l, 0x80), 0);      /* TPR */
	assert_int_equal(test_lapic_reg(&l, 0xd0), 0);      /* LDR */
	assert_int_equal(test_lapic_reg(&l, 0x350), 0x700); /* BSP LVT0: ExtINT */
	assert_false(irr_has(h.v[0], 0x45));
	assert_int_equal(apic_base(h.v[0]), 0xfee00900);
	e = test_get_events(h.v[0]);
	assert_int_equal(e.nmi.pending, 0);
	assert_int_equal(e.nmi.masked, 0);
	assert_int_equal(e.nmi.injected, 0);
	assert_int_equal(e.interrupt.injected, 0);
	assert_int_equal(e.interrupt.nr, 0x33); /* only the flags go */
	assert_int_equal(e.exception.injected, 0);
	assert_int_equal(e.exception.nr, 13);

	/* The BSP bit of IA32_APIC_BASE decides, and INIT keeps it. */
	set_apic_base(h.v[0], 0xfee00800);
	assert_int_equal(msi(h.vm, 0, 0x500), 1);
	assert_int_equal(get_mp(h.v[0]), INIT_RCVD);
	set_apic_base(h.v[1], 0xfee00900);
	assert_int_equal(msi(h.vm, 1, 0x500), 1);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	assert_int_equal(apic_base(h.v[1]), 0xfee00900);
	l = get_lapic(h.v[1]);
	assert_int_equal(test_lapic_reg(&l, 0x350), 0x10000); /* LVT0 follows the reset BSP */
	free_vm(&h);
}

/* INIT and STARTUP as the guest sends them: an ICR write. */
static void test_icr_init_sipi(void **state)
{
	struct vmh h;
	uint32_t icr2 = 1u << 24, icr;
	uint8_t vec = 0;

	(void)state;
	make_vm(&h, SPLIT, 3);
	lapic_enable(&h, 0);
	assert_int_equal(virq_lapic_write(h.v[0], 0x310, &icr2, 4), 0);
	/* Level-triggered de-assert: ignored. */
	icr = 0x8500; /* INIT, level-triggered, de-assert */
	assert_int_equal(virq_lapic_write(h.v[0], 0x300, &icr, 4), 0);
	assert_int_equal(test_get_events(h.v[1]).smi.latched_init, 0);
	assert_int_equal(get_mp(h.v[1]), UNINIT);
	/* Level-triggered assert, then edge STARTUP with vector 0x9f. */
	icr = 0xc500;
	assert_int_equal(virq_lapic_write(h.v[0], 0x300, &icr, 4), 0);
	assert_int_equal(test_get_events(h.v[1]).smi.latched_init, 1);
	icr = 0x469f;
	assert_int_equal(virq_lapic_write(h.v[0], 0x300, &icr, 4), 0);
	assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
	assert_int_equal(vec, 0x9f);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	/* The sender's own state is untouched. */
	assert_int_equal(get_mp(h.v[0]), RUNNABLE);
	assert_int_equal(virq_vcpu_accept_events(h.v[0], &vec), 0);
	free_vm(&h);
}

/* Interrupts to a vCPU waiting for SIPI stay in its IRR. */
static void test_interrupts_while_waiting(void **state)
{
	struct vmh h;
	uint8_t vec = 0;

	(void)state;
	make_vm(&h, FULL, 3);
	assert_int_equal(msi(h.vm, 1, 0x500), 1);
	assert_int_equal(get_mp(h.v[1]), INIT_RCVD);
	/* INIT left the LAPIC software-disabled: a fixed MSI is refused. */
	assert_int_equal(msi(h.vm, 1, 0x46), 0);
	lapic_enable(&h, 1);
	assert_int_equal(msi(h.vm, 1, 0x47), 1);
	assert_int_equal(get_mp(h.v[1]), INIT_RCVD);
	assert_true(irr_has(h.v[1], 0x47));
	assert_int_equal(virq_vcpu_has_interrupt(h.v[1]), 1);
	assert_int_equal(virq_ioctl(h.v[1], KVM_NMI), 0);
	/* STARTUP changes no LAPIC or event state. */
	assert_int_equal(msi(h.vm, 1, 0x600), 1);
	assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
	assert_int_equal(vec, 0);
	assert_true(irr_has(h.v[1], 0x47));
	assert_int_equal(test_get_events(h.v[1]).nmi.pending, 1);
	/* SET_MP_STATE(INIT_RECEIVED) is no INIT: nothing is reset. */
	assert_int_equal(set_mp(h.v[1], INIT_RCVD), 0);
	assert_true(irr_has(h.v[1], 0x47));
	assert_int_equal(get_mp(h.v[1]), INIT_RCVD);
	free_vm(&h);
}

/* KVM_SET_MP_STATE's validation, per irqchip mode (measured). */
static void test_set_mp_state(void **state)
{
	(void)state;
	for (int mode = NONE; mode <= SPLIT; mode++) {
		struct kvm_vcpu_events e;
		struct vmh h;
		uint8_t vec = 0;

		make_vm(&h, mode, 3);
		for (uint32_t s = 0; s <= 12; s++) {
			bool ok = s == RUNNABLE || (mode != NONE && (s <= KVM_MP_STATE_SIPI_RECEIVED ||
								     s == KVM_MP_STATE_AP_RESET_HOLD));
			int before = get_mp(h.v[1]);

			if (ok) {
				assert_int_equal(set_mp(h.v[1], s), 0);
				/* SIPI_RECEIVED is INIT_RECEIVED with the SIPI pending. */
				assert_int_equal(get_mp(h.v[1]),
						 s == KVM_MP_STATE_SIPI_RECEIVED ? RUNNABLE : (int)s);
			} else {
				assert_errno(set_mp(h.v[1], s), EINVAL);
				assert_int_equal(get_mp(h.v[1]), before);
			}
		}
		assert_errno(set_mp(h.v[1], 0xffffffff), EINVAL);
		assert_errno(virq_ioctl(h.v[1], KVM_SET_MP_STATE, NULL), EFAULT);
		assert_errno(virq_ioctl(h.v[1], KVM_GET_MP_STATE, NULL), EFAULT);
		assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec),
				 mode == NONE ? -ENXIO : (int)VIRQ_ACCEPT_SIPI);
		if (mode == NONE) {
			free_vm(&h);
			continue;
		}

		/* SIPI_RECEIVED starts at the vector SET_VCPU_EVENTS gave. */
		e = test_get_events(h.v[2]);
		e.flags = KVM_VCPUEVENT_VALID_SIPI_VECTOR;
		e.sipi_vector = 0x9a;
		assert_int_equal(virq_ioctl(h.v[2], KVM_SET_VCPU_EVENTS, &e), 0);
		assert_int_equal(set_mp(h.v[2], KVM_MP_STATE_SIPI_RECEIVED), 0);
		assert_int_equal(virq_vcpu_accept_events(h.v[2], &vec), VIRQ_ACCEPT_SIPI);
		assert_int_equal(vec, 0x9a);
		assert_int_equal(get_mp(h.v[2]), RUNNABLE);
		/* A pending SIPI left behind by RUNNABLE is dropped. */
		assert_int_equal(set_mp(h.v[2], KVM_MP_STATE_SIPI_RECEIVED), 0);
		assert_int_equal(set_mp(h.v[2], RUNNABLE), 0);
		assert_int_equal(virq_vcpu_accept_events(h.v[2], &vec), 0);
		/* Setting a state leaves a pending INIT pending. */
		assert_int_equal(msi(h.vm, 1, 0x500), 1);
		assert_int_equal(set_mp(h.v[1], RUNNABLE), 0);
		assert_int_equal(test_get_events(h.v[1]).smi.latched_init, 1);
		/* A GET with a NULL argument takes it, then fails. */
		assert_errno(virq_ioctl(h.v[1], KVM_GET_MP_STATE, NULL), EFAULT);
		assert_int_equal(test_get_events(h.v[1]).smi.latched_init, 0);
		assert_int_equal(get_mp(h.v[1]), INIT_RCVD);
		/* SMM cannot be entered in wait-for-SIPI (nor at all here). */
		e = test_get_events(h.v[1]);
		e.flags = KVM_VCPUEVENT_VALID_SMM;
		e.smi.smm = 1;
		assert_errno(virq_ioctl(h.v[1], KVM_SET_VCPU_EVENTS, &e), EINVAL);
		free_vm(&h);
	}
}

/* A PV kick (delivery mode 3) makes a HALTED vCPU read as RUNNABLE until
 * it really becomes RUNNABLE. */
static void test_pv_unhalt(void **state)
{
	struct vmh h;

	(void)state;
	make_vm(&h, FULL, 3);
	assert_int_equal(set_mp(h.v[1], HALTED), 0);
	assert_int_equal(get_mp(h.v[1]), HALTED);
	assert_int_equal(msi(h.vm, 1, 0x300), 1);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	assert_int_equal(set_mp(h.v[1], HALTED), 0);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	assert_int_equal(set_mp(h.v[1], RUNNABLE), 0);
	assert_int_equal(set_mp(h.v[1], HALTED), 0);
	assert_int_equal(get_mp(h.v[1]), HALTED);
	assert_int_equal(set_mp(h.v[1], KVM_MP_STATE_AP_RESET_HOLD), 0);
	assert_int_equal(msi(h.vm, 1, 0x300), 1);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	/* INIT to an AP does not make it RUNNABLE: the kick survives it. */
	assert_int_equal(msi(h.vm, 1, 0x500), 1);
	assert_int_equal(get_mp(h.v[1]), INIT_RCVD);
	assert_int_equal(set_mp(h.v[1], HALTED), 0);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	free_vm(&h);
}

/* virq_vcpu_accept_events() errors change nothing. */
static void test_accept_errors(void **state)
{
	struct vmh h;
	uint8_t vec = 0x5a;

	(void)state;
	make_vm(&h, NONE, 1);
	assert_int_equal(virq_vcpu_accept_events(h.v[0], &vec), -ENXIO);
	assert_int_equal(virq_vcpu_accept_events(h.vm, &vec), -EBADF);
	assert_int_equal(virq_vcpu_accept_events(h.sys, &vec), -EBADF);
	assert_int_equal(virq_vcpu_accept_events(-1, &vec), -EBADF);
	assert_int_equal(vec, 0x5a);
	free_vm(&h);
	assert_int_equal(virq_vcpu_accept_events(h.v[0], &vec), -EBADF);

	make_vm(&h, FULL, 3);
	assert_int_equal(msi(h.vm, 1, 0x500), 1);
	assert_int_equal(msi(h.vm, 1, 0x6aa), 1);
	assert_int_equal(virq_vcpu_accept_events(h.v[1], NULL), -EINVAL);
	assert_int_equal(test_get_events(h.v[1]).smi.latched_init, 1);
	assert_int_equal(virq_vcpu_accept_events(h.v[1], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
	assert_int_equal(vec, 0xaa);
	free_vm(&h);
}

struct kicks {
	int n[3];
	int ids[3];
};

static void kick_cb(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct kicks *k = opaque;

	for (int i = 0; i < 3; i++)
		if (k->ids[i] == vcpu_fd && ev->type == VIRQ_EVENT_KICK && ev->vcpu_id == (uint32_t)i)
			k->n[i]++;
}

/* An INIT or STARTUP wakes the vCPU's thread. */
static void test_kicks(void **state)
{
	struct kicks k = { 0 };
	struct vmh h;
	uint32_t icr2 = 2u << 24, icr = 0x4500;
	uint8_t vec;

	(void)state;
	make_vm(&h, SPLIT, 3);
	lapic_enable(&h, 0);
	lapic_enable(&h, 2); /* rebuilds the map with vCPU 2 */
	for (int i = 0; i < 3; i++) {
		k.ids[i] = h.v[i];
		assert_int_equal(virq_vcpu_set_event_fn(h.v[i], kick_cb, &k), 0);
	}
	assert_int_equal(msi(h.vm, 1, 0x500), 1);
	assert_int_equal(k.n[1], 1);
	assert_int_equal(msi(h.vm, 1, 0x610), 1);
	assert_int_equal(k.n[1], 2);
	assert_int_equal(k.n[0] + k.n[2], 0);
	/* By IPI from vCPU 0. */
	assert_int_equal(virq_lapic_write(h.v[0], 0x310, &icr2, 4), 0);
	assert_int_equal(virq_lapic_write(h.v[0], 0x300, &icr, 4), 0);
	assert_int_equal(k.n[2], 1);
	icr = 0x4620;
	assert_int_equal(virq_lapic_write(h.v[0], 0x300, &icr, 4), 0);
	assert_int_equal(k.n[2], 2);
	/* Taking them sends nothing. */
	assert_int_equal(virq_vcpu_accept_events(h.v[2], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
	assert_int_equal(vec, 0x20);
	assert_int_equal(k.n[2], 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(virq_vcpu_set_event_fn(h.v[i], NULL, NULL), 0);
	free_vm(&h);
}

/* The vCPU section of the state blob, and its first record. */
static uint8_t *vcpu_records(uint8_t *blob)
{
	const struct virq_state_header *hd = (const void *)blob;
	size_t off = sizeof(*hd);

	for (uint32_t i = 0; i < hd->nr_sections; i++) {
		struct virq_state_section *s = (void *)(blob + off);

		if (s->type == VIRQ_SECTION_X86_VCPU)
			return blob + off + sizeof(*s);
		off += sizeof(*s) + s->size;
	}
	fail();
	abort();
}

#define REC_SIZE 1120
#define REC_FLAGS 4
#define REC_MP_STATE 24
#define REC_MP_FLAGS 28

static void rec_set32(uint8_t *rec, unsigned off, uint32_t v)
{
	memcpy(rec + off, &v, 4);
}

/* Pending INIT/SIPI, the SIPI vector and the MP state survive a save and a
 * restore into another VM; older records (no MP state) still restore. */
static void test_save_restore(void **state)
{
	struct kvm_vcpu_events e;
	struct vmh a, b;
	uint8_t *blob, *rec, vec = 0;
	long n;

	(void)state;
	make_vm(&a, FULL, 3);
	make_vm(&b, FULL, 3);
	assert_int_equal(msi(a.vm, 1, 0x500), 1);
	assert_int_equal(msi(a.vm, 1, 0x6c1), 1);               /* vCPU 1: INIT + SIPI */
	assert_int_equal(set_mp(a.v[2], KVM_MP_STATE_SIPI_RECEIVED), 0); /* vCPU 2 */
	e = test_get_events(a.v[2]);
	e.flags = KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	e.sipi_vector = 0x42;
	assert_int_equal(virq_ioctl(a.v[2], KVM_SET_VCPU_EVENTS, &e), 0);
	assert_int_equal(set_mp(a.v[0], HALTED), 0);
	assert_int_equal(msi(a.vm, 0, 0x300), 1);                /* vCPU 0: PV kick */

	n = virq_vm_save(a.vm, NULL, 0, VIRQ_STATE_ARCH);
	assert_true(n > 3 * REC_SIZE);
	blob = malloc(n);
	assert_int_equal(virq_vm_save(a.vm, blob, n, VIRQ_STATE_ARCH), n);
	/* Saving takes nothing. */
	assert_int_equal(test_get_events(a.v[1]).smi.latched_init, 1);

	assert_int_equal(virq_vm_restore(b.vm, blob, n), 0);
	assert_int_equal(get_mp(b.v[0]), RUNNABLE);
	assert_int_equal(set_mp(b.v[0], HALTED), 0);
	assert_int_equal(get_mp(b.v[0]), RUNNABLE); /* the kick came along */
	assert_int_equal(test_get_events(b.v[1]).smi.latched_init, 1);
	assert_int_equal(virq_vcpu_accept_events(b.v[1], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
	assert_int_equal(vec, 0xc1);
	assert_int_equal(virq_vcpu_accept_events(b.v[2], &vec), VIRQ_ACCEPT_SIPI);
	assert_int_equal(vec, 0x42);
	assert_int_equal(get_mp(b.v[2]), RUNNABLE);

	/* Unreported events taken by GET_MP_STATE come along too. */
	assert_int_equal(get_mp(a.v[1]), RUNNABLE);
	assert_int_equal(virq_vm_save(a.vm, blob, n, VIRQ_STATE_ARCH), n);
	assert_int_equal(virq_vm_restore(b.vm, blob, n), 0);
	assert_int_equal(virq_vcpu_accept_events(b.v[1], &vec), VIRQ_ACCEPT_INIT | VIRQ_ACCEPT_SIPI);
	assert_int_equal(vec, 0xc1);

	/* A record without the MP state (version 1 as first written)
	 * restores and leaves the MP state alone. */
	rec = vcpu_records(blob);
	assert_int_equal(set_mp(b.v[1], UNINIT), 0);
	for (int i = 0; i < 3; i++) {
		rec_set32(rec + i * REC_SIZE, REC_FLAGS, 0);
		rec_set32(rec + i * REC_SIZE, REC_MP_STATE, 0);
		rec_set32(rec + i * REC_SIZE, REC_MP_FLAGS, 0);
	}
	assert_int_equal(virq_vm_restore(b.vm, blob, n), 0);
	assert_int_equal(get_mp(b.v[1]), UNINIT);
	/* Bad MP fields are refused before anything changes. */
	assert_int_equal(set_mp(b.v[1], HALTED), 0);
	rec_set32(rec, REC_MP_STATE, KVM_MP_STATE_INIT_RECEIVED);
	assert_int_equal(virq_vm_restore(b.vm, blob, n), -EINVAL); /* no flag */
	rec_set32(rec, REC_FLAGS, 1);
	rec_set32(rec, REC_MP_STATE, KVM_MP_STATE_SIPI_RECEIVED);
	assert_int_equal(virq_vm_restore(b.vm, blob, n), -EINVAL);
	rec_set32(rec, REC_MP_STATE, RUNNABLE);
	rec_set32(rec, REC_MP_FLAGS, 1u << 4);
	assert_int_equal(virq_vm_restore(b.vm, blob, n), -EINVAL);
	rec_set32(rec, REC_FLAGS, 2);
	rec_set32(rec, REC_MP_FLAGS, 0);
	assert_int_equal(virq_vm_restore(b.vm, blob, n), -EINVAL);
	assert_int_equal(get_mp(b.v[1]), HALTED);
	free(blob);
	free_vm(&a);
	free_vm(&b);
}

struct race {
	int vm;
	int rounds;
	int refused; /* MSIs not accepted (checked by the main thread) */
};

static void *race_sender(void *opaque)
{
	struct race *r = opaque;

	for (int i = 0; i < r->rounds; i++) {
		r->refused += msi(r->vm, 1, 0x500) != 1;
		r->refused += msi(r->vm, 1, 0x600 | (0x10 + i % 0x40)) != 1;
	}
	return NULL;
}

/* INIT/STARTUP pairs sent while the vCPU's thread takes them: every
 * STARTUP reported carries a vector that was sent, each one after an
 * INIT, and the vCPU ends RUNNABLE. */
static void test_concurrent(void **state)
{
	struct race r = { .rounds = 2000 };
	struct vmh h;
	pthread_t t;
	int sipis = 0, inits = 0, got;
	uint8_t vec;

	(void)state;
	make_vm(&h, SPLIT, 3);
	r.vm = h.vm;
	assert_int_equal(pthread_create(&t, NULL, race_sender, &r), 0);
	for (int i = 0; i < 20000; i++) {
		vec = 0;
		got = virq_vcpu_accept_events(h.v[1], &vec);
		assert_true(got >= 0 && got <= 3);
		if (got & VIRQ_ACCEPT_SIPI) {
			assert_true(vec >= 0x10 && vec < 0x50);
			assert_true(inits > sipis || (got & VIRQ_ACCEPT_INIT));
			sipis++;
		}
		inits += got & VIRQ_ACCEPT_INIT;
		if (i % 7 == 0)
			(void)get_mp(h.v[1]);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r.refused, 0);
	got = virq_vcpu_accept_events(h.v[1], &vec);
	inits += got & VIRQ_ACCEPT_INIT;
	sipis += (got & VIRQ_ACCEPT_SIPI) ? 1 : 0;
	assert_true(inits >= 1 && inits <= r.rounds);
	assert_true(sipis >= 1 && sipis <= inits);
	assert_int_equal(get_mp(h.v[1]), RUNNABLE);
	free_vm(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capability),
		cmocka_unit_test(test_msi_init_sipi),
		cmocka_unit_test(test_init_bsp_reset),
		cmocka_unit_test(test_icr_init_sipi),
		cmocka_unit_test(test_interrupts_while_waiting),
		cmocka_unit_test(test_set_mp_state),
		cmocka_unit_test(test_pv_unhalt),
		cmocka_unit_test(test_accept_errors),
		cmocka_unit_test(test_kicks),
		cmocka_unit_test(test_save_restore),
		cmocka_unit_test(test_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
