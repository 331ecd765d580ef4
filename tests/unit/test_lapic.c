/* SPDX-License-Identifier: MIT */
/*
 * test_lapic.c - unit tests of the local APIC model (src/x86/lapic.c).
 *
 * The LAPICs live in a hand-built VM/vCPU fixture with a manual clock.
 * The calls lapic.c makes into x86.c and apic_bus.c are replaced by weak
 * recording stubs below: this program only pulls lapic.o out of the
 * internal library, so the stubs are what links (if the real objects were
 * ever pulled in, their strong definitions would win).
 *
 * Expected values marked "kvm:" were measured on the host's /dev/kvm
 * (Linux 6.18) with KVM_GET/SET_LAPIC, KVM_GET/SET_MSRS and KVM_SIGNAL_MSI.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "x86/lapic.h"

#define APIC_LVT_TIMER_PERIODIC (1u << 17)
#define APIC_LVT_TIMER_TSCDEADLINE (2u << 17)

/* ---- recording stubs ------------------------------------------------------ */

#define MAX_APICS 4

static struct {
	int kicks;
	int nmis;
	int smis;
	int eois;
	int eoi_vec[64];
	int ipis;
	struct x86_irq last_ipi;
	int map_dirty;
	int map_recalc;
	struct x86_lapic *apics[MAX_APICS]; /* IPI targets */
	uint32_t bsp_id;
} rec;

__attribute__((weak)) void x86_vcpu_inject_nmi(struct x86_vcpu *xv)
{
	(void)xv;
	__atomic_add_fetch(&rec.nmis, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&rec.kicks, 1, __ATOMIC_RELAXED);
}

static int smi_result; /* what x86_vcpu_request_smi() answers */

__attribute__((weak)) int x86_vcpu_request_smi(struct x86_vcpu *xv)
{
	(void)xv;
	if (smi_result == 0)
		rec.smis++;
	return smi_result;
}

__attribute__((weak)) void x86_vcpu_kick(struct x86_vcpu *xv)
{
	(void)xv;
	__atomic_add_fetch(&rec.kicks, 1, __ATOMIC_RELAXED);
}

__attribute__((weak)) void x86_vcpu_ioapic_eoi(struct x86_vcpu *xv, int vector)
{
	(void)xv;
	if (rec.eois < 64)
		rec.eoi_vec[rec.eois] = vector;
	rec.eois++;
}

__attribute__((weak)) bool x86_vcpu_is_bsp(const struct x86_vcpu *xv)
{
	return xv->vcpu->vcpu_id == xv->xvm->bsp_vcpu_id;
}

__attribute__((weak)) void x86_apic_map_mark_dirty(struct x86_vm *xvm)
{
	(void)xvm;
	rec.map_dirty++;
}

__attribute__((weak)) void x86_recalculate_apic_map(struct x86_vm *xvm)
{
	(void)xvm;
	rec.map_recalc++;
}

/* A tiny physical-mode bus: enough to see IPIs arrive. */
__attribute__((weak)) int x86_irq_delivery_to_apic(struct x86_vm *xvm, struct x86_lapic *src,
						   const struct x86_irq *irq,
						   struct x86_dest_map *dest_map)
{
	int r = -1;

	(void)xvm;
	rec.ipis++;
	rec.last_ipi = *irq;
	for (int i = 0; i < MAX_APICS; i++) {
		struct x86_lapic *a = rec.apics[i];
		bool match;

		if (!a)
			continue;
		switch (irq->shorthand) {
		case APIC_DEST_SELF:
			match = a == src;
			break;
		case APIC_DEST_ALLINC:
			match = true;
			break;
		case APIC_DEST_ALLBUT:
			match = a != src;
			break;
		default:
			match = irq->dest_mode == APIC_DEST_PHYSICAL && x86_lapic_id(a) == irq->dest_id;
			break;
		}
		if (match)
			r = (r < 0 ? 0 : r) + x86_lapic_accept_irq(a, irq, dest_map);
	}
	return r;
}

/* ---- fixture ---------------------------------------------------------------- */

struct fx {
	struct test_clock clk;
	struct virq_vm vm;
	struct x86_vm xvm;
	struct virq_vcpu vcpu[MAX_APICS];
	struct x86_vcpu xv[MAX_APICS];
	struct x86_lapic *apic[MAX_APICS];
	unsigned n;
};

static struct fx *fx_new(int mode, unsigned n, const uint32_t *ids, bool cpuid_x2apic,
			 bool cpuid_tscdl)
{
	struct fx *f = calloc(1, sizeof(*f));

	memset(&rec, 0, sizeof(rec));
	f->vm.clock = test_clock_read;
	f->vm.clock_opaque = &f->clk;
	f->xvm.vm = &f->vm;
	atomic_store(&f->xvm.irqchip_mode, mode);
	f->xvm.bsp_vcpu_id = 0;
	f->n = n;
	for (unsigned i = 0; i < n; i++) {
		f->vcpu[i].vm = &f->vm;
		f->vcpu[i].vcpu_id = ids ? ids[i] : i;
		f->vcpu[i].vcpu_idx = i;
		f->vcpu[i].arch_vcpu = &f->xv[i];
		f->xv[i].vcpu = &f->vcpu[i];
		f->xv[i].xvm = &f->xvm;
		f->xv[i].cpuid_x2apic = cpuid_x2apic;
		f->xv[i].cpuid_tsc_deadline = cpuid_tscdl;
		f->apic[i] = x86_lapic_create(&f->xv[i]);
		assert_non_null(f->apic[i]);
		f->xv[i].apic = f->apic[i];
		if (cpuid_x2apic || cpuid_tscdl)
			x86_lapic_update_cpuid(f->apic[i]);
		rec.apics[i] = f->apic[i];
	}
	rec.kicks = 0;
	return f;
}

static struct fx *fx_simple(void)
{
	return fx_new(X86_IRQCHIP_KERNEL, 2, NULL, true, true);
}

static void fx_free(struct fx *f)
{
	for (unsigned i = 0; i < f->n; i++)
		x86_lapic_destroy(f->apic[i]);
	memset(&rec, 0, sizeof(rec));
	free(f);
}

static uint32_t kreg(struct x86_lapic *a, uint32_t off)
{
	struct kvm_lapic_state s;

	assert_int_equal(x86_lapic_get_state(a, &s), 0);
	return test_lapic_reg(&s, off);
}

static uint32_t mr(struct x86_lapic *a, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(x86_lapic_mmio_read(a, off, &v, 4), 0);
	return v;
}

static void mw(struct x86_lapic *a, uint32_t off, uint32_t v)
{
	assert_int_equal(x86_lapic_mmio_write(a, off, &v, 4), 0);
}

static int msr_r(struct x86_lapic *a, uint32_t msr, uint64_t *v)
{
	*v = 0;
	return x86_lapic_msr_read(a, msr, v);
}

static void enable_sw(struct x86_lapic *a)
{
	mw(a, APIC_SPIV, 0x1ff);
}

static int fixed(struct x86_lapic *a, uint32_t vec, bool level_trig)
{
	struct x86_irq irq = {
		.vector = vec, .delivery_mode = APIC_DM_FIXED, .level = true,
		.trig_mode = level_trig,
	};
	return x86_lapic_accept_irq(a, &irq, NULL);
}

static bool irr_has(struct x86_lapic *a, uint32_t vec)
{
	return (x86_lapic_reg(a, APIC_IRR + (vec >> 5) * 0x10) >> (vec & 31)) & 1;
}

static bool isr_has(struct x86_lapic *a, uint32_t vec)
{
	return (x86_lapic_reg(a, APIC_ISR + (vec >> 5) * 0x10) >> (vec & 31)) & 1;
}

static bool tmr_has(struct x86_lapic *a, uint32_t vec)
{
	return (x86_lapic_reg(a, APIC_TMR + (vec >> 5) * 0x10) >> (vec & 31)) & 1;
}

/* Enter x2APIC mode as KVM_SET_MSRS(IA32_APIC_BASE) does. */
static void to_x2apic(struct x86_lapic *a)
{
	uint64_t base = x86_lapic_get_base(a) | MSR_IA32_APICBASE_EXTD;

	assert_int_equal(x86_lapic_set_base(a, base, true), 0);
}

/* ---- reset and version -------------------------------------------------------- */

static void test_reset_values_bsp(void **state)
{
	(void)state;
	struct fx *f = fx_new(X86_IRQCHIP_KERNEL, 1, NULL, false, false);
	struct kvm_lapic_state s;

	assert_int_equal(x86_lapic_get_state(f->apic[0], &s), 0);
	/* kvm: full v0: 030=00050014 0e0=ffffffff 0f0=000000ff 320=00010000
	 * 330=00010000 340=00010000 350=00000700 360=00010000 370=00010000 */
	for (uint32_t off = 0; off < KVM_APIC_REG_SIZE; off += 4) {
		uint32_t want = 0;

		switch (off) {
		case APIC_LVR: want = 0x50014; break;
		case APIC_DFR: want = 0xffffffff; break;
		case APIC_SPIV: want = 0xff; break;
		case APIC_LVTT: case APIC_LVTTHMR: case APIC_LVTPC: case APIC_LVT1:
		case APIC_LVTERR: want = 0x10000; break;
		case APIC_LVT0: want = 0x700; break;
		}
		if (test_lapic_reg(&s, off) != want)
			fail_msg("offset %#x: %#x, want %#x", off, test_lapic_reg(&s, off), want);
	}
	assert_int_equal(x86_lapic_get_base(f->apic[0]), 0xfee00900);
	assert_true(x86_lapic_hw_enabled(f->apic[0]));
	assert_false(x86_lapic_sw_enabled(f->apic[0]));
	assert_false(x86_lapic_x2apic_mode(f->apic[0]));
	assert_int_equal(x86_lapic_id(f->apic[0]), 0);
	assert_true(x86_lapic_accept_pic_intr(f->apic[0]));
	assert_int_equal(x86_lapic_get_tscdeadline(f->apic[0]), 0);
	fx_free(f);
}

static void test_reset_values_ap(void **state)
{
	(void)state;
	uint32_t ids[] = { 0, 1, 300 };
	struct fx *f = fx_new(X86_IRQCHIP_KERNEL, 3, ids, false, false);

	/* kvm: full v1: 020=01000000 ... 350=00010000; base fee00800 */
	assert_int_equal(kreg(f->apic[1], APIC_ID), 0x01000000);
	assert_int_equal(kreg(f->apic[1], APIC_LVT0), 0x10000);
	assert_int_equal(x86_lapic_get_base(f->apic[1]), 0xfee00800);
	assert_false(x86_lapic_accept_pic_intr(f->apic[1]));
	/* kvm: vcpu 300 -> 020=2c000000 (xAPIC ID is the low 8 bits) */
	assert_int_equal(kreg(f->apic[2], APIC_ID), 0x2c000000);
	assert_int_equal(x86_lapic_id(f->apic[2]), 0x2c);
	fx_free(f);
}

static void test_version(void **state)
{
	(void)state;
	struct fx *f;

	/* kvm: split without CPUID: 0x50014; with x2APIC CPUID 0x1050014 */
	f = fx_new(X86_IRQCHIP_SPLIT, 1, NULL, false, false);
	assert_int_equal(kreg(f->apic[0], APIC_LVR), 0x50014);
	f->xv[0].cpuid_x2apic = true;
	x86_lapic_update_cpuid(f->apic[0]);
	assert_int_equal(kreg(f->apic[0], APIC_LVR), 0x1050014);
	/* the directed-EOI bit becomes writable in SPIV */
	mw(f->apic[0], APIC_SPIV, 0xffffffff);
	assert_int_equal(mr(f->apic[0], APIC_SPIV), 0x13ff);
	fx_free(f);

	/* kvm: full irqchip with x2APIC CPUID: 0x50014 */
	f = fx_new(X86_IRQCHIP_KERNEL, 1, NULL, true, true);
	assert_int_equal(kreg(f->apic[0], APIC_LVR), 0x50014);
	mw(f->apic[0], APIC_SPIV, 0xffffffff);
	assert_int_equal(mr(f->apic[0], APIC_SPIV), 0x3ff);
	x86_lapic_set_version(f->apic[0]);
	assert_int_equal(kreg(f->apic[0], APIC_LVR), 0x50014);
	fx_free(f);
}

static void test_init_reset(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[1];

	enable_sw(a);
	mw(a, APIC_ID, 0x07000000);
	mw(a, APIC_LDR, 0x02000000);
	mw(a, APIC_TASKPRI, 0x30);
	fixed(a, 0x40, true);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x40);
	fixed(a, 0x50, false);
	x86_lapic_reset(a, true);
	/* INIT keeps APIC_BASE and the xAPIC ID, clears the rest */
	assert_int_equal(x86_lapic_get_base(a), 0xfee00800);
	assert_int_equal(kreg(a, APIC_ID), 0x07000000);
	assert_int_equal(kreg(a, APIC_LDR), 0);
	assert_int_equal(kreg(a, APIC_TASKPRI), 0);
	assert_int_equal(kreg(a, APIC_SPIV), 0xff);
	assert_false(isr_has(a, 0x40));
	assert_false(irr_has(a, 0x50));
	assert_false(tmr_has(a, 0x40));
	assert_int_equal(x86_lapic_eoi(a), -1);
	/* full reset restores the ID */
	x86_lapic_reset(a, false);
	assert_int_equal(kreg(a, APIC_ID), 0x01000000);

	/* INIT in x2APIC mode keeps ID and LDR */
	to_x2apic(a);
	x86_lapic_reset(a, true);
	assert_true(x86_lapic_x2apic_mode(a));
	uint64_t v;
	assert_int_equal(msr_r(a, 0x802, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(msr_r(a, 0x80d, &v), 0);
	assert_int_equal(v, 2);
	/* RESET leaves x2APIC mode */
	x86_lapic_reset(a, false);
	assert_false(x86_lapic_x2apic_mode(a));
	assert_int_equal(kreg(a, APIC_ID), 0x01000000);
	fx_free(f);
}

/* ---- accept --------------------------------------------------------------------- */

static void test_accept_sw_disabled(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];

	/* kvm: KVM_SIGNAL_MSI to a SW-disabled LAPIC returns 0 */
	assert_int_equal(fixed(a, 0x31, false), 0);
	assert_false(irr_has(a, 0x31));
	assert_int_equal(rec.kicks, 0);
	/* NMI is accepted even so */
	struct x86_irq nmi = { .delivery_mode = APIC_DM_NMI, .level = true };
	assert_int_equal(x86_lapic_accept_irq(a, &nmi, NULL), 1);
	assert_int_equal(rec.nmis, 1);
	/* HW-disabled: fixed dropped too */
	enable_sw(a);
	assert_int_equal(x86_lapic_set_base(a, 0xfee00000, true), 0);
	assert_int_equal(fixed(a, 0x31, false), 0);
	fx_free(f);
}

static void test_accept_modes(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];
	struct x86_dest_map *dm = calloc(1, sizeof(*dm));
	struct x86_irq irq;

	enable_sw(a);
	/* kvm (MSI sequence): edge 0x31 -> 1, again -> 1, level 0x52 -> 1,
	 * level 0x53 -> 1, lowest 0x31 -> 1, REMRD -> 1, ExtINT -> 0, INIT -> 1;
	 * afterwards 1a0=000c0000 210=00020000 220=000c0000 */
	assert_int_equal(fixed(a, 0x31, false), 1);
	assert_int_equal(rec.kicks, 1);
	assert_int_equal(fixed(a, 0x31, false), 1);
	assert_int_equal(fixed(a, 0x52, true), 1);
	assert_int_equal(fixed(a, 0x53, true), 1);
	irq = (struct x86_irq){ .vector = 0x31, .delivery_mode = APIC_DM_LOWEST, .level = true };
	assert_int_equal(x86_lapic_arb_prio(a), 0);
	assert_int_equal(x86_lapic_accept_irq(a, &irq, dm), 1);
	assert_int_equal(x86_lapic_arb_prio(a), 1);
	assert_true(x86_dest_map_test(dm, 0));
	assert_int_equal(dm->vectors[0], 0x31);
	assert_true(x86_lapic_compare_prio(a, f->apic[1]) > 0);
	irq = (struct x86_irq){ .delivery_mode = APIC_DM_REMRD, .level = true };
	int kicks = rec.kicks;
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 1);
	assert_int_equal(rec.kicks, kicks + 1);
	irq = (struct x86_irq){ .delivery_mode = APIC_DM_EXTINT, .level = true };
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 0);
	assert_int_equal(kreg(a, 0x1a0), 0x000c0000);
	assert_int_equal(kreg(a, 0x210), 0x00020000);
	assert_int_equal(kreg(a, 0x220), 0x000c0000);

	/* level-triggered deassert is dropped */
	irq = (struct x86_irq){ .vector = 0x60, .delivery_mode = APIC_DM_FIXED, .trig_mode = 1 };
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 0);
	assert_false(irr_has(a, 0x60));
	/* edge after level clears the TMR bit */
	assert_int_equal(fixed(a, 0x52, false), 1);
	assert_false(tmr_has(a, 0x52));
	assert_true(tmr_has(a, 0x53));

	/* SMI, NMI */
	irq = (struct x86_irq){ .delivery_mode = APIC_DM_SMI, .level = true };
	kicks = rec.kicks;
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 1);
	assert_int_equal(rec.smis, 1);
	assert_int_equal(rec.kicks, kicks + 1);
	smi_result = -ENOTTY; /* no SMM: not accepted */
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 0);
	assert_int_equal(rec.kicks, kicks + 1);
	smi_result = 0;
	irq = (struct x86_irq){ .delivery_mode = APIC_DM_NMI, .level = true };
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 1);
	assert_int_equal(rec.nmis, 1);

	/* INIT / SIPI */
	uint8_t vec = 0;
	bool init, sipi;
	irq = (struct x86_irq){ .vector = 0x9a, .delivery_mode = APIC_DM_STARTUP, .level = true };
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 1);
	irq = (struct x86_irq){ .delivery_mode = APIC_DM_INIT, .trig_mode = 1, .level = false };
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 0); /* INIT level de-assert */
	assert_false(x86_lapic_latched_init(a));
	x86_lapic_take_events(a, &init, &sipi, &vec);
	assert_false(init);
	assert_true(sipi);
	assert_int_equal(vec, 0x9a);
	x86_lapic_take_events(a, &init, &sipi, &vec);
	assert_false(sipi);
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 0);
	irq.level = true;
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 1);
	assert_true(x86_lapic_latched_init(a));
	/* a SIPI after INIT is kept; a later INIT drops a pending SIPI */
	irq = (struct x86_irq){ .vector = 0x10, .delivery_mode = APIC_DM_STARTUP, .level = true };
	x86_lapic_accept_irq(a, &irq, NULL);
	irq = (struct x86_irq){ .delivery_mode = APIC_DM_INIT, .level = true };
	x86_lapic_accept_irq(a, &irq, NULL);
	x86_lapic_take_events(a, &init, &sipi, &vec);
	assert_true(init);
	assert_false(sipi);
	x86_lapic_take_events(a, &init, &sipi, &vec);
	assert_false(init);
	/* unknown mode */
	irq = (struct x86_irq){ .delivery_mode = 0x800, .level = true };
	assert_int_equal(x86_lapic_accept_irq(a, &irq, NULL), 0);
	free(dm);
	fx_free(f);
}

/* ---- IRR/ISR/PPR/EOI ---------------------------------------------------------------- */

static void test_ack_eoi_order(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];

	enable_sw(a);
	assert_int_equal(x86_lapic_has_interrupt(a), -1);
	assert_int_equal(x86_lapic_get_interrupt(a), -1);
	fixed(a, 0x31, false);
	fixed(a, 0x80, true);
	fixed(a, 0x52, false);
	assert_true(x86_lapic_pending_eoi(a, 0x31));
	assert_false(x86_lapic_pending_eoi(a, 0x32));
	assert_int_equal(x86_lapic_has_interrupt(a), 0x80);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x80);
	assert_true(isr_has(a, 0x80));
	assert_false(irr_has(a, 0x80));
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x80);
	/* nothing above PPR */
	assert_int_equal(x86_lapic_has_interrupt(a), -1);
	/* a higher vector preempts */
	fixed(a, 0x91, false);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x91);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x90);
	/* EOI ends the highest in-service first */
	rec.kicks = 0;
	assert_int_equal(x86_lapic_eoi(a), 0x91);
	assert_int_equal(rec.eois, 1);
	assert_int_equal(rec.eoi_vec[0], 0x91);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x80);
	assert_int_equal(x86_lapic_eoi(a), 0x80);
	assert_int_equal(rec.eoi_vec[1], 0x80);
	/* PPR fell and 0x52 became deliverable: a kick */
	assert_true(rec.kicks >= 1);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0);
	assert_true(tmr_has(a, 0x80)); /* EOI leaves TMR alone */
	assert_int_equal(x86_lapic_get_interrupt(a), 0x52);
	/* the EOI register write does the same */
	mw(a, APIC_EOI, 0);
	assert_int_equal(rec.eois, 3);
	assert_int_equal(rec.eoi_vec[2], 0x52);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x31);
	assert_int_equal(x86_lapic_eoi(a), 0x31);
	/* no ISR: -1 and no EOI broadcast */
	assert_int_equal(x86_lapic_eoi(a), -1);
	mw(a, APIC_EOI, 0);
	assert_int_equal(rec.eois, 4);
	fx_free(f);
}

static void test_tpr_ppr(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];
	struct kvm_lapic_state s;

	enable_sw(a);
	mw(a, APIC_TASKPRI, 0x1ff);
	assert_int_equal(mr(a, APIC_TASKPRI), 0xff);
	mw(a, APIC_TASKPRI, 0x50);
	assert_int_equal(mr(a, APIC_PROCPRI), 0x50);
	fixed(a, 0x52, false);
	assert_int_equal(x86_lapic_has_interrupt(a), -1); /* same class as TPR */
	fixed(a, 0x61, false);
	assert_int_equal(x86_lapic_has_interrupt(a), 0x61);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x61);
	assert_int_equal(mr(a, APIC_PROCPRI), 0x60);
	rec.kicks = 0;
	x86_lapic_eoi(a);
	assert_int_equal(mr(a, APIC_PROCPRI), 0x50);
	assert_int_equal(rec.kicks, 0); /* 0x52 still blocked */
	mw(a, APIC_TASKPRI, 0x4f);
	assert_int_equal(rec.kicks, 1); /* lowering TPR released 0x52 */
	assert_int_equal(x86_lapic_get_interrupt(a), 0x52);
	x86_lapic_eoi(a);

	/* kvm: SET_LAPIC TPR 0x20 + ISR 0x45 (PPR given 0x77) -> PPR 0x20;
	 * TPR 0x5f -> PPR 0x5f */
	x86_lapic_get_state(a, &s);
	test_lapic_set(&s, APIC_SPIV, 0x1ff);
	test_lapic_set(&s, APIC_TASKPRI, 0x20);
	test_lapic_set(&s, APIC_ISR + 0x20, 1u << 5);
	test_lapic_set(&s, APIC_PROCPRI, 0x77);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x20);
	test_lapic_set(&s, APIC_TASKPRI, 0x5f);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x5f);
	/* the restored ISR is EOIed */
	assert_int_equal(x86_lapic_eoi(a), 0x45);
	assert_int_equal(x86_lapic_eoi(a), -1);
	fx_free(f);
}

static void test_accept_pic_intr(void **state)
{
	(void)state;
	struct fx *f = fx_simple();

	assert_true(x86_lapic_accept_pic_intr(f->apic[0]));   /* BSP LVT0 = ExtINT */
	assert_false(x86_lapic_accept_pic_intr(f->apic[1]));  /* masked */
	enable_sw(f->apic[1]);
	mw(f->apic[1], APIC_LVT0, APIC_DM_EXTINT);
	assert_true(x86_lapic_accept_pic_intr(f->apic[1]));
	mw(f->apic[1], APIC_LVT0, APIC_DM_NMI);
	assert_false(x86_lapic_accept_pic_intr(f->apic[1]));
	assert_int_equal(x86_lapic_set_base(f->apic[1], 0, true), 0);
	assert_true(x86_lapic_accept_pic_intr(f->apic[1]));   /* HW-disabled */
	assert_int_equal(x86_lapic_has_interrupt(f->apic[1]), -1);
	fx_free(f);
}

/* ---- xAPIC MMIO ------------------------------------------------------------------------- */

static void test_mmio_write_masks(void **state)
{
	(void)state;
	struct fx *f = fx_simple(); /* CPUID: x2APIC + TSC deadline */
	struct x86_lapic *a = f->apic[1];

	/* LVT writes while SW-disabled are forced masked (kvm: LVT0 0x700 -> 0x10700) */
	mw(a, APIC_LVT0, 0x700);
	assert_int_equal(mr(a, APIC_LVT0), 0x10700);
	enable_sw(a);
	assert_int_equal(mr(a, APIC_SPIV), 0x1ff);
	/* kvm (x2APIC MSR writes of 0xffffffff, same masks): */
	mw(a, APIC_LVTT, 0xffffffff);
	assert_int_equal(mr(a, APIC_LVTT), 0x710ff);
	mw(a, APIC_LVTTHMR, 0xffffffff);
	assert_int_equal(mr(a, APIC_LVTTHMR), 0x117ff);
	mw(a, APIC_LVTPC, 0xffffffff);
	assert_int_equal(mr(a, APIC_LVTPC), 0x117ff);
	mw(a, APIC_LVT0, 0xffffffff);
	assert_int_equal(mr(a, APIC_LVT0), 0x1f7ff);
	mw(a, APIC_LVT1, 0xffffffff);
	assert_int_equal(mr(a, APIC_LVT1), 0x1f7ff);
	mw(a, APIC_LVTERR, 0xffffffff);
	assert_int_equal(mr(a, APIC_LVTERR), 0x110ff);
	mw(a, APIC_LVTCMCI, 0xffffffff); /* no CMCI: ignored, not readable */
	assert_int_equal(kreg(a, APIC_LVTCMCI), 0);
	assert_int_equal(mr(a, APIC_LVTCMCI), 0);
	mw(a, APIC_TDCR, 0xff);
	assert_int_equal(mr(a, APIC_TDCR), 0xb);
	mw(a, APIC_SPIV, 0xffffffff);
	assert_int_equal(mr(a, APIC_SPIV), 0x3ff);
	mw(a, APIC_ID, 0xffffffff);
	assert_int_equal(mr(a, APIC_ID), 0xff000000);
	assert_int_equal(x86_lapic_id(a), 0xff);
	mw(a, APIC_LDR, 0xffffffff);
	assert_int_equal(mr(a, APIC_LDR), 0xff000000);
	mw(a, APIC_DFR, 0);
	assert_int_equal(mr(a, APIC_DFR), 0x0fffffff);
	assert_int_equal(x86_lapic_reg(a, APIC_DFR), APIC_DFR_CLUSTER);
	mw(a, APIC_ICR2, 0xffffffff);
	assert_int_equal(mr(a, APIC_ICR2), 0xff000000);
	/* read-only and reserved registers ignore writes */
	mw(a, APIC_LVR, 0);
	mw(a, APIC_PROCPRI, 0x55);
	mw(a, APIC_ARBPRI, 0x55);
	mw(a, APIC_ISR, 0xffffffff);
	mw(a, APIC_TMR, 0xffffffff);
	mw(a, APIC_IRR, 0xffffffff);
	mw(a, APIC_TMCCT, 0x1234);
	mw(a, APIC_ESR, 0x1234);
	mw(a, APIC_SELF_IPI, 0x40); /* x2APIC only */
	mw(a, 0x10, 0x1234);
	mw(a, 0x400, 0x1234);
	assert_int_equal(rec.ipis, 0);
	assert_int_equal(kreg(a, APIC_LVR), 0x50014);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0);
	assert_int_equal(kreg(a, APIC_ARBPRI), 0);
	assert_int_equal(kreg(a, APIC_ISR), 0);
	assert_int_equal(kreg(a, APIC_IRR), 0);
	assert_int_equal(kreg(a, APIC_ESR), 0);
	assert_int_equal(kreg(a, 0x10), 0);
	/* SPIV software-disable masks every LVT (kvm: LVTT 0x200ef -> 0x300ef) */
	mw(a, APIC_SPIV, 0x1ff);
	mw(a, APIC_LVTT, 0x200ef);
	mw(a, APIC_LVT0, 0x700);
	int dirty = rec.map_dirty;
	mw(a, APIC_SPIV, 0xff);
	assert_true(rec.map_dirty > dirty);
	assert_false(x86_lapic_sw_enabled(a));
	assert_int_equal(mr(a, APIC_LVTT), 0x300ef);
	assert_int_equal(mr(a, APIC_LVT0), 0x10700);
	fx_free(f);
}

static void test_mmio_widths(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[1];
	uint8_t b[8];
	uint16_t h;
	uint32_t w;

	/* byte and half-word reads inside a register */
	memset(b, 0xaa, sizeof(b));
	assert_int_equal(x86_lapic_mmio_read(a, APIC_ID + 3, b, 1), 0);
	assert_int_equal(b[0], 0x01);
	assert_int_equal(x86_lapic_mmio_read(a, APIC_LVR + 2, &h, 2), 0);
	assert_int_equal(h, 0x0005);
	/* crossing the dword or 8 bytes: nothing read */
	assert_int_equal(x86_lapic_mmio_read(a, APIC_LVR + 2, b, 4), 0);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	assert_int_equal(x86_lapic_mmio_read(a, APIC_LVR, b, 8), 0);
	assert_int_equal(b[0], 0);
	/* reserved, write-only, and beyond 0x3f0 */
	assert_int_equal(mr(a, 0x00), 0);
	assert_int_equal(mr(a, APIC_EOI), 0);
	assert_int_equal(mr(a, APIC_RRR), 0);
	assert_int_equal(mr(a, APIC_SELF_IPI), 0);
	assert_int_equal(mr(a, 0x3f4), 0);
	assert_int_equal(mr(a, 0x800), 0);
	assert_int_equal(x86_lapic_mmio_read(a, 0x1000, &w, 4), -EOPNOTSUPP);
	assert_int_equal(x86_lapic_mmio_read(a, 0, NULL, 4), -EINVAL);
	/* ARBPRI reads 0 whatever is stored */
	struct kvm_lapic_state s;
	x86_lapic_get_state(a, &s);
	test_lapic_set(&s, APIC_ARBPRI, 0x12345678);
	x86_lapic_set_state(a, &s);
	assert_int_equal(kreg(a, APIC_ARBPRI), 0x12345678);
	assert_int_equal(mr(a, APIC_ARBPRI), 0);
	/* writes: only aligned dwords */
	enable_sw(a);
	h = 0x40;
	assert_int_equal(x86_lapic_mmio_write(a, APIC_TASKPRI, &h, 2), 0);
	assert_int_equal(mr(a, APIC_TASKPRI), 0);
	w = 0x40;
	assert_int_equal(x86_lapic_mmio_write(a, APIC_TASKPRI + 4, &w, 4), 0);
	assert_int_equal(mr(a, APIC_TASKPRI), 0);
	assert_int_equal(x86_lapic_mmio_write(a, APIC_TASKPRI, &w, 4), 0);
	assert_int_equal(mr(a, APIC_TASKPRI), 0x40);
	/* x2APIC or HW-disabled: not ours */
	to_x2apic(a);
	assert_int_equal(x86_lapic_mmio_read(a, APIC_ID, &w, 4), -EOPNOTSUPP);
	assert_int_equal(x86_lapic_mmio_write(a, APIC_TASKPRI, &w, 4), -EOPNOTSUPP);
	assert_int_equal(x86_lapic_set_base(a, 0, true), 0);
	assert_int_equal(x86_lapic_mmio_read(a, APIC_ID, &w, 4), -EOPNOTSUPP);
	fx_free(f);
}

static void test_icr_ipi(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0], *b = f->apic[1];

	enable_sw(a);
	enable_sw(b);
	/* fixed, level-assert, level-trig, physical, to APIC ID 1 */
	mw(a, APIC_ICR2, 0x01abcdef);
	mw(a, APIC_ICR, 0x0000d041 | (1u << 12));
	assert_int_equal(rec.ipis, 1);
	assert_int_equal(rec.last_ipi.vector, 0x41);
	assert_int_equal(rec.last_ipi.delivery_mode, APIC_DM_FIXED);
	assert_int_equal(rec.last_ipi.dest_mode, APIC_DEST_PHYSICAL);
	assert_true(rec.last_ipi.level);
	assert_int_equal(rec.last_ipi.trig_mode, 1);
	assert_int_equal(rec.last_ipi.shorthand, APIC_DEST_NOSHORT);
	assert_int_equal(rec.last_ipi.dest_id, 1);
	assert_int_equal(mr(a, APIC_ICR), 0xc041); /* busy bit cleared */
	assert_true(irr_has(b, 0x41));
	assert_true(tmr_has(b, 0x41));
	/* self shorthand, logical, NMI and INIT decode */
	mw(a, APIC_ICR, APIC_DEST_SELF | 0x42);
	assert_true(irr_has(a, 0x42));
	mw(a, APIC_ICR, APIC_DEST_ALLBUT | APIC_DEST_LOGICAL | APIC_DM_NMI);
	assert_int_equal(rec.last_ipi.shorthand, APIC_DEST_ALLBUT);
	assert_int_equal(rec.last_ipi.dest_mode, APIC_DEST_LOGICAL);
	assert_int_equal(rec.last_ipi.delivery_mode, APIC_DM_NMI);
	assert_int_equal(rec.nmis, 1);
	mw(a, APIC_ICR, APIC_DM_INIT | 0x4000);
	assert_true(x86_lapic_latched_init(b));
	mw(a, APIC_ICR, APIC_DM_STARTUP | 0x9f);
	uint8_t v = 0;
	bool init, sipi;
	x86_lapic_take_events(b, &init, &sipi, &v);
	assert_true(init);
	assert_true(sipi);
	assert_int_equal(v, 0x9f);
	fx_free(f);
}

/* ---- x2APIC MSRs ----------------------------------------------------------------------------- */

static void test_x2apic_msr_reads(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[1];
	uint64_t v;

	/* not in x2APIC mode: #GP */
	assert_int_equal(msr_r(a, 0x802, &v), 1);
	assert_int_equal(x86_lapic_msr_write(a, 0x808, 0, false), 1);
	to_x2apic(a);
	/* kvm (KVM_GET_MSRS, vcpu 1): ok 802=1 803=50014 808 80a 80d=2 80f=ff
	 * 810 828 830 832=10000 835=10000 838 839 83e; #GP 809 80b 80c 80e 82f
	 * 831 83f 840 8ff */
	static const struct { uint32_t msr; int r; uint64_t v; } t[] = {
		{ 0x802, 0, 1 }, { 0x803, 0, 0x50014 }, { 0x808, 0, 0 }, { 0x809, 1, 0 },
		{ 0x80a, 0, 0 }, { 0x80b, 1, 0 }, { 0x80c, 1, 0 }, { 0x80d, 0, 2 },
		{ 0x80e, 1, 0 }, { 0x80f, 0, 0xff }, { 0x810, 0, 0 }, { 0x828, 0, 0 },
		{ 0x82f, 1, 0 }, { 0x830, 0, 0 }, { 0x831, 1, 0 }, { 0x832, 0, 0x10000 },
		{ 0x835, 0, 0x10000 }, { 0x838, 0, 0 }, { 0x839, 0, 0 }, { 0x83e, 0, 0 },
		{ 0x83f, 1, 0 }, { 0x840, 1, 0 }, { 0x8ff, 1, 0 }, { 0x7ff, 1, 0 }, { 0x900, 1, 0 },
	};
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = msr_r(a, t[i].msr, &v);

		if (r != t[i].r || (r == 0 && v != t[i].v))
			fail_msg("msr %#x: r=%d v=%#llx", t[i].msr, r, (unsigned long long)v);
	}
	/* kvm: GET_LAPIC in x2APIC mode without x2apic_format: 020=01000000 0d0=00000002 */
	assert_int_equal(kreg(a, APIC_ID), 0x01000000);
	assert_int_equal(kreg(a, APIC_LDR), 2);
	assert_int_equal(x86_lapic_id(a), 1);
	fx_free(f);
}

static void test_x2apic_msr_writes(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[1];
	struct kvm_lapic_state s;
	uint64_t v;

	to_x2apic(a);
	/* kvm: the write table of the probe (r: 0 ok, 1 #GP; value read back) */
	static const struct { uint32_t msr; uint64_t val; int r; uint64_t back; } t[] = {
		{ 0x808, 0x1ff, 0, 0xff },
		{ 0x808, 0x100000010ull, 1, 0xff },
		{ 0x80f, 0xffffffff, 0, 0x3ff },
		{ 0x832, 0xffffffff, 0, 0x710ff },
		{ 0x833, 0xffffffff, 0, 0x117ff },
		{ 0x834, 0xffffffff, 0, 0x117ff },
		{ 0x835, 0xffffffff, 0, 0x1f7ff },
		{ 0x836, 0xffffffff, 0, 0x1f7ff },
		{ 0x837, 0xffffffff, 0, 0x110ff },
		{ 0x83e, 0xff, 0, 0xb },
		{ 0x828, 1, 1, 0 },
		{ 0x828, 0, 0, 0 },
		{ 0x802, 1, 1, 1 },
		{ 0x80d, 1, 1, 2 },
		{ 0x803, 0, 1, 0x50014 },
		{ 0x80a, 0, 1, 0xff },
		{ 0x838, 0x1000, 0, 0x1000 },
		{ 0x830, 0x500000030ull, 0, 0x500000030ull },
		{ 0x830, 1ull << 13, 1, 0x500000030ull },
		{ 0x830, 1ull << 20, 1, 0x500000030ull },
		{ 0x830, 1ull << 16, 1, 0x500000030ull },
	};
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = x86_lapic_msr_write(a, t[i].msr, t[i].val, true);

		if (r != t[i].r)
			fail_msg("wrmsr %#x=%#llx: r=%d", t[i].msr, (unsigned long long)t[i].val, r);
		assert_int_equal(msr_r(a, t[i].msr, &v), 0);
		if (v != t[i].back)
			fail_msg("wrmsr %#x: read back %#llx", t[i].msr, (unsigned long long)v);
	}
	/* #GP without a readable register behind */
	assert_int_equal(x86_lapic_msr_write(a, 0x80e, 1, false), 1);
	assert_int_equal(x86_lapic_msr_write(a, 0x831, 1, false), 1);
	assert_int_equal(x86_lapic_msr_write(a, 0x809, 0, false), 1);
	assert_int_equal(x86_lapic_msr_write(a, 0x82f, 0x10000, false), 1);
	assert_int_equal(x86_lapic_msr_write(a, 0x839, 5, false), 1);
	assert_int_equal(x86_lapic_msr_write(a, 0x83f, 0x100, false), 1);
	assert_int_equal(x86_lapic_msr_write(a, 0x8ff, 0, false), 1);
	/* EOI accepts any low dword (kvm: 80b=5 -> ok) */
	assert_int_equal(x86_lapic_msr_write(a, 0x80b, 5, false), 0);
	assert_int_equal(x86_lapic_msr_write(a, 0x80b, 1ull << 32, false), 1);
	/* kvm: after ICR 0x500000030: 300=00000030 304=00000005 310=00000005 */
	x86_lapic_get_state(a, &s);
	assert_int_equal(test_lapic_reg(&s, 0x300), 0x30);
	assert_int_equal(test_lapic_reg(&s, 0x304), 5);
	assert_int_equal(test_lapic_reg(&s, 0x310), 5);
	assert_int_equal(rec.last_ipi.dest_id, 5);
	assert_int_equal(rec.last_ipi.vector, 0x30);
	/* busy bit: cleared, no #GP */
	assert_int_equal(x86_lapic_msr_write(a, 0x830, 0x200001031ull, false), 0);
	assert_int_equal(msr_r(a, 0x830, &v), 0);
	assert_int_equal(v, 0x200000031ull);
	/* SELF IPI */
	assert_int_equal(x86_lapic_msr_write(a, 0x80f, 0x1ff, false), 0);
	assert_int_equal(x86_lapic_msr_write(a, 0x808, 0, false), 0);
	assert_int_equal(x86_lapic_msr_write(a, 0x83f, 0x77, false), 0);
	assert_int_equal(rec.last_ipi.shorthand, APIC_DEST_SELF);
	assert_int_equal(rec.last_ipi.vector, 0x77);
	assert_true(irr_has(a, 0x77));
	assert_int_equal(x86_lapic_get_interrupt(a), 0x77);
	assert_int_equal(x86_lapic_msr_write(a, 0x80b, 0, false), 0);
	assert_int_equal(rec.eoi_vec[0], 0x77);
	fx_free(f);
}

/* ---- APIC base --------------------------------------------------------------------------------- */

static void test_set_base(void **state)
{
	(void)state;
	struct fx *f = fx_new(X86_IRQCHIP_KERNEL, 2, NULL, false, false);
	struct x86_lapic *a0 = f->apic[0], *a = f->apic[1];

	/* same value: accepted even with reserved bits elsewhere unchanged */
	assert_int_equal(x86_lapic_set_base(a, 0xfee00800, false), 0);
	/* kvm: no x2APIC CPUID -> EXTD reserved; maxphyaddr 36 without CPUID */
	assert_int_equal(x86_lapic_set_base(a0, 0xfee00d00, true), 1);
	assert_int_equal(x86_lapic_set_base(a0, 0x1000fee00900ull, true), 1);
	assert_int_equal(x86_lapic_set_base(a0, 0x800fee00900ull, true), 1);
	assert_int_equal(x86_lapic_set_base(a0, 0xfee00801, true), 1);
	assert_int_equal(x86_lapic_set_base(a0, 0xfee00a00, true), 1); /* bit 9 */
	assert_int_equal(x86_lapic_get_base(a0), 0xfee00900);
	x86_lapic_set_phys_bits(a0, 48);
	assert_int_equal(x86_lapic_set_base(a0, 0x1000fee00900ull, true), 0);
	assert_int_equal(x86_lapic_set_base(a0, 0x1000000fee00900ull, true), 1);
	fx_free(f);

	f = fx_simple();
	a = f->apic[1];
	/* kvm: BSP bit on an AP is fine; EXTD without ENABLE is invalid */
	assert_int_equal(x86_lapic_set_base(a, 0xfee00900, false), 0);
	assert_int_equal(x86_lapic_set_base(a, 0xfee00400, true), 1);
	assert_int_equal(x86_lapic_set_base(a, 0xfee00800, false), 0);
	/* xAPIC -> x2APIC (guest ok): ID = vcpu_id, LDR derived */
	int dirty = rec.map_dirty, recalc = rec.map_recalc;
	assert_int_equal(x86_lapic_set_base(a, 0xfee00c00, false), 0);
	assert_true(rec.map_dirty > dirty);
	assert_true(rec.map_recalc > recalc);
	assert_int_equal(x86_lapic_reg(a, APIC_ID), 1);
	assert_int_equal(x86_lapic_reg(a, APIC_LDR), 2);
	/* x2APIC -> xAPIC: guest #GP, host ok; kvm: ID 01000000, LDR stays 2 */
	assert_int_equal(x86_lapic_set_base(a, 0xfee00800, false), 1);
	assert_int_equal(x86_lapic_set_base(a, 0xfee00800, true), 0);
	assert_int_equal(kreg(a, APIC_ID), 0x01000000);
	assert_int_equal(kreg(a, APIC_LDR), 2);
	/* xAPIC -> disabled: ID untouched */
	assert_int_equal(x86_lapic_set_base(a, 0xfee00000, false), 0);
	assert_int_equal(kreg(a, APIC_ID), 0x01000000);
	assert_false(x86_lapic_hw_enabled(a));
	/* disabled -> x2APIC: guest #GP, host ok */
	assert_int_equal(x86_lapic_set_base(a, 0xfee00c00, false), 1);
	assert_int_equal(x86_lapic_set_base(a, 0xfee00c00, true), 0);
	assert_int_equal(kreg(a, APIC_ID), 0x01000000);
	/* x2APIC -> disabled (guest ok); kvm: ID now reads raw 00000001 */
	assert_int_equal(x86_lapic_set_base(a, 0, false), 0);
	assert_int_equal(x86_lapic_get_base(a), 0);
	assert_int_equal(kreg(a, APIC_ID), 1);
	/* disabled -> xAPIC at another base: ID set; kvm: base fed00800 */
	assert_int_equal(x86_lapic_set_base(a, 0xfed00800, false), 0);
	assert_int_equal(x86_lapic_get_base(a), 0xfed00800);
	assert_int_equal(kreg(a, APIC_ID), 0x01000000);
	/* TSC deadline MSR needs an enabled APIC in deadline mode */
	x86_lapic_set_tscdeadline(a, 1234);
	assert_int_equal(x86_lapic_get_tscdeadline(a), 0);
	fx_free(f);
}

/* ---- KVM_GET/SET_LAPIC ----------------------------------------------------------------------------- */

static void test_state_garbage_roundtrip(void **state)
{
	(void)state;
	struct fx *f = fx_new(X86_IRQCHIP_KERNEL, 2, NULL, false, false);
	struct x86_lapic *a = f->apic[1];
	struct kvm_lapic_state s, g;

	for (int pat = 0; pat < 2; pat++) {
		uint8_t byte = pat ? 0x5a : 0xff;

		memset(&s, byte, sizeof(s));
		test_lapic_set(&s, APIC_TMICT, 0);
		assert_int_equal(x86_lapic_set_state(a, &s), 0);
		assert_int_equal(x86_lapic_get_state(a, &g), 0);
		/* kvm: every byte kept except LVR 00050014, PPR 000000ff/0000005a,
		 * TMCCT 0 */
		for (uint32_t off = 0; off < KVM_APIC_REG_SIZE; off += 4) {
			uint32_t want = test_lapic_reg(&s, off);

			if (off == APIC_LVR)
				want = 0x50014;
			else if (off == APIC_PROCPRI)
				want = byte;
			else if (off == APIC_TMCCT)
				want = 0;
			if (test_lapic_reg(&g, off) != want)
				fail_msg("pattern %#x offset %#x: %#x want %#x", byte, off,
					 test_lapic_reg(&g, off), want);
		}
		assert_true(x86_lapic_sw_enabled(a) == !!(byte & 1));
	}
	/* kvm quirk: the all-ones ISR counted as 0 (u8), so it looks empty */
	memset(&s, 0xff, sizeof(s));
	test_lapic_set(&s, APIC_TMICT, 0);
	x86_lapic_set_state(a, &s);
	assert_int_equal(x86_lapic_eoi(a), -1);
	assert_int_equal(x86_lapic_get_interrupt(a), -1); /* PPR 0xff */
	/* GET -> SET -> GET is the identity */
	x86_lapic_get_state(a, &s);
	x86_lapic_set_state(a, &s);
	x86_lapic_get_state(a, &g);
	assert_memory_equal(&s, &g, sizeof(s));
	fx_free(f);
}

static void test_state_x2apic(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[1];
	struct kvm_lapic_state s;

	to_x2apic(a);
	/* kvm: non-format SET in x2APIC mode: user ID ignored, LDR derived;
	 * with ISR/TPR 0x5a.. over a previous 0x5a.. state the PPR is 0xf0
	 * (over an empty ISR it would read 0x5a: PPR comes before the ISR
	 * caches are rebuilt) */
	memset(&s, 0x5a, sizeof(s));
	test_lapic_set(&s, APIC_TMICT, 0);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x5a);
	test_lapic_set(&s, APIC_ID, 0x09000000);
	test_lapic_set(&s, APIC_LDR, 0x5555);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	x86_lapic_get_state(a, &s);
	assert_int_equal(test_lapic_reg(&s, APIC_ID), 0x01000000);
	assert_int_equal(test_lapic_reg(&s, APIC_LDR), 2);
	assert_int_equal(test_lapic_reg(&s, APIC_PROCPRI), 0xf0);
	/* ICR2 becomes the upper half of the 64-bit ICR */
	assert_int_equal(test_lapic_reg(&s, 0x304), 0x5a5a5a5a);
	assert_int_equal(test_lapic_reg(&s, APIC_ICR2), 0x5a5a5a5a);
	fx_free(f);

	/* x2apic_format: the ID must match (kvm: -EINVAL otherwise) */
	f = fx_simple();
	f->xvm.x2apic_format = true;
	a = f->apic[1];
	to_x2apic(a);
	x86_lapic_get_state(a, &s);
	/* kvm: fmt x2: 020=00000001 */
	assert_int_equal(test_lapic_reg(&s, APIC_ID), 1);
	test_lapic_set(&s, APIC_SPIV, 0x1ff);
	test_lapic_set(&s, APIC_ID, 7);
	assert_int_equal(x86_lapic_set_state(a, &s), -EINVAL);
	/* kvm: the SPIV of the refused state (0x1ff) is kept, nothing else */
	assert_int_equal(kreg(a, APIC_SPIV), 0x1ff);
	assert_true(x86_lapic_sw_enabled(a));
	assert_int_equal(kreg(a, APIC_ID), 1);
	/* kvm: ID ok, ICR lo 0x40, 0x304 0x77, ICR2 0x99 -> 304=99 310=99, MSR 0x9900000040 */
	test_lapic_set(&s, APIC_ID, 1);
	test_lapic_set(&s, APIC_LDR, 0x1234);
	test_lapic_set(&s, APIC_ICR, 0x40);
	test_lapic_set(&s, 0x304, 0x77);
	test_lapic_set(&s, APIC_ICR2, 0x99);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	x86_lapic_get_state(a, &s);
	assert_int_equal(test_lapic_reg(&s, APIC_ID), 1);
	assert_int_equal(test_lapic_reg(&s, APIC_LDR), 2);
	assert_int_equal(test_lapic_reg(&s, APIC_ICR), 0x40);
	assert_int_equal(test_lapic_reg(&s, 0x304), 0x99);
	assert_int_equal(test_lapic_reg(&s, APIC_ICR2), 0x99);
	uint64_t v;
	assert_int_equal(msr_r(a, 0x830, &v), 0);
	assert_int_equal(v, 0x9900000040ull);
	assert_true(x86_lapic_sw_enabled(a));
	fx_free(f);
}

static void test_state_derived(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];
	struct kvm_lapic_state s;

	enable_sw(a);
	fixed(a, 0x33, false);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x33);
	x86_lapic_get_state(a, &s);
	/* restore: ISR 0x33 and 0xe0, IRR 0x40 */
	test_lapic_set(&s, APIC_ISR + 0x70, 1u << 0);
	test_lapic_set(&s, APIC_IRR + 0x20, 1u << 0);
	test_lapic_set(&s, APIC_LVR, 0);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	assert_int_equal(kreg(a, APIC_LVR), 0x50014);
	/* PPR from the old ISR cache (0x33), as the kernel does */
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x30);
	assert_int_equal(x86_lapic_arb_prio(a), 0);
	assert_int_equal(x86_lapic_has_interrupt(a), -1);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0xe0);
	assert_int_equal(x86_lapic_eoi(a), 0xe0);
	assert_int_equal(x86_lapic_has_interrupt(a), 0x40);
	assert_int_equal(x86_lapic_eoi(a), 0x33);
	assert_int_equal(x86_lapic_eoi(a), -1);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x40);
	assert_int_equal(x86_lapic_eoi(a), 0x40);

	/* kvm (x2APIC MSRs): SET ISR 0x45 over an empty ISR -> GET PPR 0
	 * (stale), a PPR read recomputes 0x40 */
	x86_lapic_get_state(a, &s);
	memset(s.regs + APIC_ISR, 0, 0x180);
	test_lapic_set(&s, APIC_ISR + 0x20, 1u << 5);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0);
	assert_int_equal(mr(a, APIC_PROCPRI), 0x40);
	assert_int_equal(kreg(a, APIC_PROCPRI), 0x40);
	fx_free(f);
}

/* ---- timer ---------------------------------------------------------------------------------------- */

static void test_timer_oneshot(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];

	f->clk.now = 1000000;
	enable_sw(a);
	mw(a, APIC_LVTT, 0xef);
	mw(a, APIC_TDCR, 0xb); /* divide by 1 */
	mw(a, APIC_TMICT, 1000);
	/* kernel quirk: remaining % period, so a fresh count reads 0 */
	assert_int_equal(mr(a, APIC_TMCCT), 0);
	f->clk.now += 250;
	assert_int_equal(mr(a, APIC_TMCCT), 750);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 750);
	f->clk.now += 749;
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 1);
	assert_false(irr_has(a, 0xef));
	f->clk.now += 1;
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), INT64_MAX);
	assert_true(irr_has(a, 0xef));
	assert_int_equal(mr(a, APIC_TMCCT), 0);
	assert_int_equal(mr(a, APIC_TMICT), 1000);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now + 10000), INT64_MAX);

	/* divide by 2 (TDCR 0): 1000 counts = 2000 ns */
	mw(a, APIC_TDCR, 0);
	mw(a, APIC_TMICT, 1000);
	f->clk.now += 500;
	assert_int_equal(mr(a, APIC_TMCCT), 750);
	/* TDCR change mid-count keeps the count (kvm: TMCCT continuous) */
	mw(a, APIC_TDCR, 0xa); /* divide by 128 */
	assert_int_equal(mr(a, APIC_TMCCT), 750);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 750 * 128);
	/* TMICT = 0 stops it */
	mw(a, APIC_TMICT, 0);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now + 1000000), INT64_MAX);
	assert_int_equal(mr(a, APIC_TMCCT), 0);

	/* masked LVTT: the timer runs, nothing is delivered */
	x86_lapic_get_interrupt(a);
	x86_lapic_eoi(a);
	mw(a, APIC_TDCR, 0xb);
	mw(a, APIC_LVTT, APIC_LVT_MASKED | 0xef);
	mw(a, APIC_TMICT, 10);
	f->clk.now += 10;
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), INT64_MAX);
	assert_false(irr_has(a, 0xef));
	/* NMI-mode LVTT (only through SET_LAPIC) injects an NMI */
	struct kvm_lapic_state s;
	x86_lapic_get_state(a, &s);
	test_lapic_set(&s, APIC_LVTT, APIC_DM_NMI);
	test_lapic_set(&s, APIC_TMICT, 100);
	test_lapic_set(&s, APIC_TMCCT, 100);
	x86_lapic_set_state(a, &s);
	f->clk.now += 100;
	x86_lapic_timer_poll(a, f->clk.now);
	assert_int_equal(rec.nmis, 1);
	fx_free(f);
}

static void test_timer_periodic(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];

	enable_sw(a);
	mw(a, APIC_TDCR, 0xb);
	mw(a, APIC_LVTT, APIC_LVT_TIMER_PERIODIC | 0x30);
	/* tiny period: clamped to 200 us (kvm: TMICT 10 -> TMCCT ~179139) */
	mw(a, APIC_TMICT, 10);
	f->clk.now += 37;
	assert_int_equal(mr(a, APIC_TMCCT), 200000 - 37);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 200000 - 37);
	f->clk.now = 200000;
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 200000);
	assert_true(irr_has(a, 0x30));
	assert_int_equal(x86_lapic_get_interrupt(a), 0x30);
	x86_lapic_eoi(a);
	/* late by more than a period: one interrupt, no catch-up */
	f->clk.now = 650000;
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 200000);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x30);
	x86_lapic_eoi(a);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 200000);
	assert_int_equal(x86_lapic_has_interrupt(a), -1);

	/* no drift: late polls keep the phase */
	mw(a, APIC_TMICT, 300000);
	uint64_t t0 = f->clk.now;
	for (int i = 1; i <= 5; i++) {
		f->clk.now = t0 + 300000ull * (uint64_t)i + 50;
		assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 299950);
		assert_int_equal(x86_lapic_get_interrupt(a), 0x30);
		x86_lapic_eoi(a);
	}
	/* periodic -> one-shot: fires once more and stops */
	mw(a, APIC_LVTT, 0x30);
	f->clk.now = t0 + 300000ull * 6;
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), INT64_MAX);
	assert_int_equal(x86_lapic_get_interrupt(a), 0x30);
	fx_free(f);
}

static void test_timer_tscdeadline(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];

	enable_sw(a);
	f->clk.now = 1000;
	mw(a, APIC_TDCR, 0xb);
	mw(a, APIC_TMICT, 5000);
	/* switching to deadline mode stops the count timer and clears TMICT */
	mw(a, APIC_LVTT, APIC_LVT_TIMER_TSCDEADLINE | 0xd0);
	assert_int_equal(mr(a, APIC_TMICT), 0);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now + 10000), INT64_MAX);
	/* TMICT writes are ignored, TMCCT reads 0 */
	mw(a, APIC_TMICT, 5);
	assert_int_equal(mr(a, APIC_TMICT), 0);
	assert_int_equal(mr(a, APIC_TMCCT), 0);
	x86_lapic_set_tscdeadline(a, 5000);
	assert_int_equal(x86_lapic_get_tscdeadline(a), 5000);
	assert_int_equal(x86_lapic_timer_poll(a, 4999), 1);
	assert_false(irr_has(a, 0xd0));
	assert_int_equal(x86_lapic_timer_poll(a, 5000), INT64_MAX);
	assert_true(irr_has(a, 0xd0));
	assert_int_equal(x86_lapic_get_tscdeadline(a), 0);
	/* a deadline in the past fires at the next poll; 0 disarms */
	f->clk.now = 9000;
	x86_lapic_set_tscdeadline(a, 10);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), INT64_MAX);
	x86_lapic_set_tscdeadline(a, 20000);
	x86_lapic_set_tscdeadline(a, 0);
	assert_int_equal(x86_lapic_timer_poll(a, 30000), INT64_MAX);
	/* a 2 GHz TSC: deadline 40000 at t=9000 (TSC 18000) is 11000 ns away */
	x86_lapic_set_tsc_khz(a, 2000000);
	x86_lapic_set_tscdeadline(a, 40000);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 11000);
	/* leaving deadline mode cancels; kvm: MSR reads 0 outside it */
	mw(a, APIC_LVTT, 0xd0);
	assert_int_equal(x86_lapic_get_tscdeadline(a), 0);
	assert_int_equal(x86_lapic_timer_poll(a, 1000000), INT64_MAX);
	mw(a, APIC_LVTT, APIC_LVT_TIMER_TSCDEADLINE | 0xd0);
	assert_int_equal(x86_lapic_get_tscdeadline(a), 0);
	fx_free(f);

	/* without TSC-deadline CPUID the mode bit cannot be set */
	f = fx_new(X86_IRQCHIP_KERNEL, 1, NULL, true, false);
	a = f->apic[0];
	enable_sw(a);
	mw(a, APIC_LVTT, APIC_LVT_TIMER_TSCDEADLINE | APIC_LVT_TIMER_PERIODIC | 0xd0);
	assert_int_equal(mr(a, APIC_LVTT), APIC_LVT_TIMER_PERIODIC | 0xd0);
	fx_free(f);
	/* without any CPUID only one-shot exists */
	f = fx_new(X86_IRQCHIP_KERNEL, 1, NULL, false, false);
	a = f->apic[0];
	enable_sw(a);
	mw(a, APIC_LVTT, 0x60000 | 0xd0);
	assert_int_equal(mr(a, APIC_LVTT), 0xd0);
	fx_free(f);
}

static void test_timer_set_state(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct x86_lapic *a = f->apic[0];
	struct kvm_lapic_state s;

	f->clk.now = 5000;
	x86_lapic_get_state(a, &s);
	test_lapic_set(&s, APIC_SPIV, 0x1ff);
	test_lapic_set(&s, APIC_LVTT, 0xef);
	test_lapic_set(&s, APIC_TDCR, 0xb);
	test_lapic_set(&s, APIC_TMICT, 1000000000);
	/* kvm: restart from TMCCT 5e8 -> TMCCT ~499988502 right after */
	test_lapic_set(&s, APIC_TMCCT, 500000000);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	assert_int_equal(kreg(a, APIC_TMCCT), 500000000);
	f->clk.now += 12345;
	assert_int_equal(kreg(a, APIC_TMCCT), 500000000 - 12345);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 500000000 - 12345);
	/* kvm: TMCCT > TMICT restarts from TMICT (reads ~998912837) */
	test_lapic_set(&s, APIC_TMCCT, 2000000000u);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	f->clk.now += 1;
	assert_int_equal(kreg(a, APIC_TMCCT), 999999999);
	/* kvm: TMCCT 0 with TMICT set fires at once (reads 0 afterwards) */
	test_lapic_set(&s, APIC_TMCCT, 0);
	assert_int_equal(x86_lapic_set_state(a, &s), 0);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), INT64_MAX);
	assert_true(irr_has(a, 0xef));
	assert_int_equal(kreg(a, APIC_TMCCT), 0);
	/* kvm: div 2 / div 128 keep TMCCT 1e8 */
	test_lapic_set(&s, APIC_TDCR, 0);
	test_lapic_set(&s, APIC_TMCCT, 100000000);
	x86_lapic_set_state(a, &s);
	assert_int_equal(kreg(a, APIC_TMCCT), 100000000);
	test_lapic_set(&s, APIC_TDCR, 0xa);
	x86_lapic_set_state(a, &s);
	assert_int_equal(kreg(a, APIC_TMCCT), 100000000);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now), 12800000000ll);
	/* kvm: SET into deadline mode clears TMICT; back to one-shot also */
	test_lapic_set(&s, APIC_LVTT, APIC_LVT_TIMER_TSCDEADLINE | 0xef);
	x86_lapic_set_state(a, &s);
	assert_int_equal(kreg(a, APIC_TMICT), 0);
	assert_int_equal(kreg(a, APIC_TMCCT), 0);
	assert_int_equal(x86_lapic_timer_poll(a, f->clk.now + 1), INT64_MAX);
	test_lapic_set(&s, APIC_LVTT, 0xef);
	test_lapic_set(&s, APIC_TMICT, 777);
	x86_lapic_set_state(a, &s);
	assert_int_equal(kreg(a, APIC_TMICT), 0);
	/* periodic clamp through SET (kvm: TMICT 10 -> TMCCT up to 200000) */
	test_lapic_set(&s, APIC_LVTT, APIC_LVT_TIMER_PERIODIC | 0xef);
	test_lapic_set(&s, APIC_TDCR, 0xb);
	test_lapic_set(&s, APIC_TMICT, 10);
	test_lapic_set(&s, APIC_TMCCT, 0);
	x86_lapic_set_state(a, &s);
	f->clk.now += 37;
	assert_int_equal(kreg(a, APIC_TMCCT), 200000 - 37);
	fx_free(f);
}

/* ---- robustness --------------------------------------------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void test_random_writes(void **state)
{
	(void)state;
	struct fx *f = fx_new(X86_IRQCHIP_SPLIT, 2, NULL, true, true);

	for (int i = 0; i < 200000; i++) {
		struct x86_lapic *a = f->apic[rnd() & 1];
		uint64_t r = rnd();
		uint32_t off = (uint32_t)(rnd() % 0x1000), val = (uint32_t)rnd();
		uint64_t v;
		uint8_t buf[8];

		f->clk.now += rnd() % 100000;
		switch (r % 16) {
		case 0: case 1: case 2:
			x86_lapic_mmio_write(a, off & ~0xfu, &val, 4);
			break;
		case 3:
			x86_lapic_mmio_write(a, off, &val, (unsigned)(rnd() % 9));
			break;
		case 4:
			x86_lapic_mmio_read(a, off, buf, (unsigned)(rnd() % 9));
			break;
		case 5:
			x86_lapic_msr_write(a, 0x800 + (uint32_t)(rnd() % 0x100),
					    rnd() % 4 ? val : rnd(), rnd() & 1);
			break;
		case 6:
			x86_lapic_msr_read(a, 0x800 + (uint32_t)(rnd() % 0x100), &v);
			break;
		case 7: {
			static const uint64_t bases[] = { 0, 0xfee00000, 0xfee00800, 0xfee00c00,
							  0xfee00400, 0xfee00900, 0xfee00d00 };
			x86_lapic_set_base(a, bases[rnd() % 7] | (rnd() % 8 == 0 ? rnd() : 0), rnd() & 1);
			break;
		}
		case 8: {
			struct x86_irq irq = {
				.vector = (uint32_t)rnd(), .delivery_mode = (uint32_t)(rnd() % 8) << 8,
				.level = rnd() & 1, .trig_mode = rnd() & 1,
			};
			x86_lapic_accept_irq(a, &irq, NULL);
			break;
		}
		case 9:
			x86_lapic_get_interrupt(a);
			break;
		case 10:
			x86_lapic_eoi(a);
			break;
		case 11:
			x86_lapic_timer_poll(a, f->clk.now);
			break;
		case 12: {
			struct kvm_lapic_state s;

			if (x86_lapic_get_state(a, &s) == 0) {
				for (int k = 0; k < 8; k++)
					s.regs[rnd() % KVM_APIC_REG_SIZE] = (char)rnd();
				x86_lapic_set_state(a, &s);
			}
			break;
		}
		case 13:
			x86_lapic_set_tscdeadline(a, f->clk.now + rnd() % 1000000);
			break;
		case 14:
			if (rnd() % 64 == 0)
				x86_lapic_reset(a, rnd() & 1);
			break;
		default:
			x86_lapic_has_interrupt(a);
			break;
		}
		/* invariants */
		int64_t next = x86_lapic_timer_poll(a, f->clk.now);
		assert_true(next >= 0);
		uint32_t ppr = x86_lapic_reg(a, APIC_PROCPRI);
		assert_true(ppr <= 0xff);
		uint32_t lvt0 = x86_lapic_reg(a, APIC_LVT0);
		(void)lvt0;
	}
	fx_free(f);
}

/* IRR bits set from another thread while the vCPU acks and EOIs. */
struct injector {
	struct x86_lapic *apic;
	atomic_int done;
	int accepted;
};

static void *inject_thread(void *arg)
{
	struct injector *in = arg;

	for (int i = 0; i < 100000; i++)
		in->accepted += fixed(in->apic, 0x40 + (uint32_t)(i % 64), i & 1);
	atomic_store(&in->done, 1);
	return NULL;
}

static void test_concurrent_accept(void **state)
{
	(void)state;
	struct fx *f = fx_simple();
	struct injector in = { .apic = f->apic[0] };
	pthread_t t;
	int acked = 0;

	enable_sw(f->apic[0]);
	assert_int_equal(pthread_create(&t, NULL, inject_thread, &in), 0);
	for (;;) {
		bool done = atomic_load(&in.done);
		int v = x86_lapic_get_interrupt(f->apic[0]);

		if (v >= 0) {
			assert_true(v >= 0x40 && v < 0x80);
			acked++;
			assert_int_equal(x86_lapic_eoi(f->apic[0]), v);
		} else if (done) {
			break;
		}
	}
	pthread_join(t, NULL);
	assert_int_equal(in.accepted, 100000);
	assert_true(acked >= 1 && acked <= 100000);
	for (uint32_t off = 0; off < 0x80; off += 0x10) {
		assert_int_equal(x86_lapic_reg(f->apic[0], APIC_IRR + off), 0);
		assert_int_equal(x86_lapic_reg(f->apic[0], APIC_ISR + off), 0);
	}
	assert_int_equal(kreg(f->apic[0], APIC_PROCPRI), 0);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_values_bsp),
		cmocka_unit_test(test_reset_values_ap),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_init_reset),
		cmocka_unit_test(test_accept_sw_disabled),
		cmocka_unit_test(test_accept_modes),
		cmocka_unit_test(test_ack_eoi_order),
		cmocka_unit_test(test_tpr_ppr),
		cmocka_unit_test(test_accept_pic_intr),
		cmocka_unit_test(test_mmio_write_masks),
		cmocka_unit_test(test_mmio_widths),
		cmocka_unit_test(test_icr_ipi),
		cmocka_unit_test(test_x2apic_msr_reads),
		cmocka_unit_test(test_x2apic_msr_writes),
		cmocka_unit_test(test_set_base),
		cmocka_unit_test(test_state_garbage_roundtrip),
		cmocka_unit_test(test_state_x2apic),
		cmocka_unit_test(test_state_derived),
		cmocka_unit_test(test_timer_oneshot),
		cmocka_unit_test(test_timer_periodic),
		cmocka_unit_test(test_timer_tscdeadline),
		cmocka_unit_test(test_timer_set_state),
		cmocka_unit_test(test_random_writes),
		cmocka_unit_test(test_concurrent_accept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
