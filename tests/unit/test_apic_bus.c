/* SPDX-License-Identifier: MIT */
/*
 * test_apic_bus.c - interrupt delivery to the local APICs (apic_bus.c).
 *
 * Two parts:
 *  - the pure pieces (MSI decoding, route validation, the error paths of
 *    x86_set_msi, the map state machine) called directly;
 *  - scenarios run through the KVM-ABI face: a VM with N vCPUs whose
 *    LAPICs are configured with KVM_SET_LAPIC (and KVM_SET_CPUID2 +
 *    KVM_SET_MSRS for x2APIC or a hardware-disabled LAPIC), then a list of
 *    KVM_SIGNAL_MSI calls, each checked for its return value, errno and
 *    the vCPUs it reached (IRR bit of its vector, or a pending NMI / SMI /
 *    latched INIT read with KVM_GET_VCPU_EVENTS).
 *
 * Every expected value in the scenario tables was recorded on /dev/kvm
 * (Linux 6.18, vector_hashing=Y) by running this same harness with
 * ioctl(2) instead of virq_ioctl(); nothing in them was derived by hand.
 */
#include "testutil.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virq/virq.h"
#include "x86/x86.h"

/* ---- the pure pieces ------------------------------------------------------ */

#define MSI_LO(dest, rh, dm) (0xfee00000u | ((uint32_t)(dest) << 12) | ((rh) << 3) | ((dm) << 2))
#define MSI_DATA(vec, mode, assert_bit, level) \
	((vec) | ((mode) << 8) | ((assert_bit) << 14) | ((level) << 15))

static void test_msi_decode_physical(void **state)
{
	struct x86_vm xvm = { 0 };
	struct x86_irq irq;

	(void)state;
	x86_msi_to_irq(&xvm, MSI_LO(0x12, 0, 0), 0, MSI_DATA(0x34, 0, 1, 0), &irq);
	assert_int_equal(irq.dest_id, 0x12);
	assert_int_equal(irq.vector, 0x34);
	assert_int_equal(irq.delivery_mode, APIC_DM_FIXED);
	assert_int_equal(irq.dest_mode, APIC_DEST_PHYSICAL);
	assert_int_equal(irq.trig_mode, 0);
	assert_true(irq.level);
	assert_int_equal(irq.shorthand, APIC_DEST_NOSHORT);
	assert_false(irq.msi_redir_hint);
}

static void test_msi_decode_fields(void **state)
{
	struct x86_vm xvm = { 0 };
	struct x86_irq irq;
	uint32_t mode;

	(void)state;
	/* logical, redirection hint, level trigger without the assert bit */
	x86_msi_to_irq(&xvm, MSI_LO(0xff, 1, 1), 0, MSI_DATA(0xfe, 1, 0, 1), &irq);
	assert_int_equal(irq.dest_id, 0xff);
	assert_int_equal(irq.vector, 0xfe);
	assert_int_equal(irq.delivery_mode, APIC_DM_LOWEST);
	assert_int_equal(irq.dest_mode, APIC_DEST_LOGICAL);
	assert_int_equal(irq.trig_mode, 1);
	assert_true(irq.level); /* an MSI always asserts */
	assert_true(irq.msi_redir_hint);

	for (mode = 0; mode < 8; mode++) {
		x86_msi_to_irq(&xvm, MSI_LO(1, 0, 0), 0, MSI_DATA(0x20, mode, 1, 0), &irq);
		assert_int_equal(irq.delivery_mode, mode << 8);
	}

	/* bits outside the fields are ignored, the 0xfee base is not checked */
	x86_msi_to_irq(&xvm, 0x000ab000u | 0x3u | 0x10u | 0xfe0u, 0, 0xffff3fffu & ~0x8000u, &irq);
	assert_int_equal(irq.dest_id, 0xab);
	assert_int_equal(irq.vector, 0xff);
	assert_int_equal(irq.delivery_mode, APIC_DM_EXTINT);
	assert_int_equal(irq.dest_mode, APIC_DEST_PHYSICAL);
	assert_int_equal(irq.trig_mode, 0);
	assert_false(irq.msi_redir_hint);
}

static void test_msi_decode_x2apic_format(void **state)
{
	struct x86_vm xvm = { 0 };
	struct x86_irq irq;

	(void)state;
	/* without KVM_X2APIC_API_USE_32BIT_IDS address_hi is ignored */
	x86_msi_to_irq(&xvm, MSI_LO(0x2c, 0, 0), 0x12345600u, MSI_DATA(0x40, 0, 1, 0), &irq);
	assert_int_equal(irq.dest_id, 0x2c);

	xvm.x2apic_format = true;
	x86_msi_to_irq(&xvm, MSI_LO(0x2c, 0, 0), 0x100u, MSI_DATA(0x40, 0, 1, 0), &irq);
	assert_int_equal(irq.dest_id, 300);
	x86_msi_to_irq(&xvm, MSI_LO(0xff, 0, 1), 0xffffff00u, MSI_DATA(0x40, 0, 1, 0), &irq);
	assert_int_equal(irq.dest_id, 0xffffffffu);
	x86_msi_to_irq(&xvm, MSI_LO(0x00, 0, 1), 0x121000u, MSI_DATA(0x40, 0, 1, 0), &irq);
	assert_int_equal(irq.dest_id, 0x121000u);
	assert_int_equal(irq.dest_mode, APIC_DEST_LOGICAL);
}

static void test_msi_route_invalid(void **state)
{
	struct x86_vm xvm = { 0 };

	(void)state;
	assert_false(x86_msi_route_invalid(&xvm, 0));
	assert_false(x86_msi_route_invalid(&xvm, 0xff));
	assert_false(x86_msi_route_invalid(&xvm, 0xffffffffu));
	xvm.x2apic_format = true;
	assert_false(x86_msi_route_invalid(&xvm, 0));
	assert_false(x86_msi_route_invalid(&xvm, 0xffffff00u));
	assert_true(x86_msi_route_invalid(&xvm, 1));
	assert_true(x86_msi_route_invalid(&xvm, 0x80));
	assert_true(x86_msi_route_invalid(&xvm, 0x1ff));
}

/* A VM shell with no vCPU: enough for the paths that never reach a LAPIC. */
struct shell {
	struct virq_vm vm;
	struct x86_vm xvm;
};

static void shell_init(struct shell *s)
{
	memset(s, 0, sizeof(*s));
	s->vm.arch_vm = &s->xvm;
	s->xvm.vm = &s->vm;
	pthread_mutex_init(&s->vm.lock, NULL);
	pthread_mutex_init(&s->xvm.apic_map_lock, NULL);
}

static void shell_fini(struct shell *s)
{
	x86_apic_map_free(&s->xvm);
	assert_null(atomic_load(&s->xvm.apic_map));
	pthread_mutex_destroy(&s->xvm.apic_map_lock);
	pthread_mutex_destroy(&s->vm.lock);
}

static void test_set_msi_errors(void **state)
{
	struct shell s;

	(void)state;
	shell_init(&s);
	/* level 0: ignored */
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0, 0, 0), 0, MSI_DATA(0x30, 0, 1, 0), 0), -1);
	/* no map and no vCPU: the slow path finds nobody */
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0, 0, 0), 0, MSI_DATA(0x30, 0, 1, 0), 1), -1);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0xff, 0, 0), 0, MSI_DATA(0x30, 0, 1, 0), 1), -1);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(1, 0, 1), 0, MSI_DATA(0x30, 1, 1, 0), 1), -1);
	/* invalid x2APIC format beats level 0 */
	s.xvm.x2apic_format = true;
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0, 0, 0), 1, MSI_DATA(0x30, 0, 1, 0), 0), -EINVAL);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0, 0, 0), 1, MSI_DATA(0x30, 0, 1, 0), 1), -EINVAL);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0, 0, 0), 0x100, MSI_DATA(0x30, 0, 1, 0), 1), -1);
	shell_fini(&s);
}

static void test_map_state_machine(void **state)
{
	struct shell s;
	void *map;

	(void)state;
	shell_init(&s);
	/* Clean and never built: a rebuild is a no-op, there is no map. */
	x86_recalculate_apic_map(&s.xvm);
	assert_null(atomic_load(&s.xvm.apic_map));

	/*
	 * Dirty: the rebuild publishes a map even with no vCPU (the kernel
	 * does the same when the first vCPU's reset runs before the vCPU is
	 * online).  With a map, an unmatched physical or logical destination
	 * is "found, not accepted" (0) instead of -1; a broadcast still takes
	 * the slow path.
	 */
	x86_apic_map_mark_dirty(&s.xvm);
	assert_int_equal(atomic_load(&s.xvm.apic_map_dirty), 2);
	x86_recalculate_apic_map(&s.xvm);
	map = atomic_load(&s.xvm.apic_map);
	assert_non_null(map);
	assert_int_equal(atomic_load(&s.xvm.apic_map_dirty), 0);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0, 0, 0), 0, MSI_DATA(0x30, 0, 1, 0), 1), 0);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0xfe, 0, 0), 0, MSI_DATA(0x30, 0, 1, 0), 1), 0);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0x3, 0, 1), 0, MSI_DATA(0x30, 1, 1, 0), 1), 0);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0xff, 0, 0), 0, MSI_DATA(0x30, 0, 1, 0), 1), -1);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0xff, 0, 1), 0, MSI_DATA(0x30, 0, 1, 0), 1), -1);

	/* Clean again: no rebuild, same snapshot. */
	x86_recalculate_apic_map(&s.xvm);
	assert_ptr_equal(atomic_load(&s.xvm.apic_map), map);

	/* Dirty again: a new snapshot replaces it (the old one goes via RCU). */
	x86_apic_map_mark_dirty(&s.xvm);
	x86_recalculate_apic_map(&s.xvm);
	assert_non_null(atomic_load(&s.xvm.apic_map));
	assert_int_equal(atomic_load(&s.xvm.apic_map_dirty), 0);

	/*
	 * 32-bit IDs: a destination above max_apic_id is dropped, not -1.
	 * With the broadcast quirk still on, only 0xff counts as a broadcast
	 * for MSIs, so 0xffffffff is just another absent ID (the kernel gives
	 * 0 too, see step 5 of scenario x2f); without the quirk it is the
	 * broadcast.
	 */
	s.xvm.x2apic_format = true;
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0, 0, 0), 0x1000, MSI_DATA(0x30, 0, 1, 0), 1), 0);
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0xff, 0, 0), 0xffffff00u, MSI_DATA(0x30, 0, 1, 0), 1), 0);
	s.xvm.x2apic_broadcast_quirk_disabled = true;
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0xff, 0, 0), 0xffffff00u, MSI_DATA(0x30, 0, 1, 0), 1), -1);
	/* ... and 0xff is "x2APIC cluster 0, CPUs 0-7" only if the map says x2APIC. */
	assert_int_equal(x86_set_msi(&s.xvm, MSI_LO(0xff, 0, 1), 0, MSI_DATA(0x30, 0, 1, 0), 1), -1);
	shell_fini(&s);
	synchronize_rcu();
}

/* Many threads rebuilding while others read: no lost update, no crash. */
struct churn {
	struct shell *s;
	atomic_bool stop;
	atomic_long bad;
};

static void *churn_rebuild(void *arg)
{
	struct churn *c = arg;
	int i;

	for (i = 0; i < 2000; i++) {
		x86_apic_map_mark_dirty(&c->s->xvm);
		x86_recalculate_apic_map(&c->s->xvm);
	}
	return NULL;
}

static void *churn_inject(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		int r = x86_set_msi(&c->s->xvm, MSI_LO(0, 0, 0), 0, MSI_DATA(0x30, 0, 1, 0), 1);

		if (r != 0) /* the map exists from before the threads start */
			atomic_fetch_add(&c->bad, 1);
	}
	return NULL;
}

static void test_map_rebuild_concurrent(void **state)
{
	struct shell s;
	struct churn c;
	pthread_t rb[3], in[3];
	int i;

	(void)state;
	shell_init(&s);
	c.s = &s;
	atomic_init(&c.stop, false);
	atomic_init(&c.bad, 0);
	x86_apic_map_mark_dirty(&s.xvm);
	x86_recalculate_apic_map(&s.xvm);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&in[i], NULL, churn_inject, &c), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&rb[i], NULL, churn_rebuild, &c), 0);
	for (i = 0; i < 3; i++)
		pthread_join(rb[i], NULL);
	atomic_store(&c.stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(in[i], NULL);
	assert_int_equal(atomic_load(&c.bad), 0);
	/* Whatever interleaving happened, nothing is left dirty. */
	assert_int_equal(atomic_load(&s.xvm.apic_map_dirty), 0);
	assert_non_null(atomic_load(&s.xvm.apic_map));
	shell_fini(&s);
	synchronize_rcu();
}

/* ---- the KVM-ABI scenarios -------------------------------------------------- */

enum { V_RESET = 0, V_XAPIC, V_X2APIC, V_HWOFF };

struct vcfg {
	uint32_t id;     /* vcpu_id */
	int mode;        /* V_RESET: left as KVM_CREATE_VCPU made it */
	uint8_t apic_id; /* xAPIC ID (V_XAPIC) */
	uint32_t ldr;    /* LDR register (V_XAPIC) */
	uint32_t dfr;    /* DFR register (V_XAPIC); 0 means flat */
	bool sw_on;      /* SPIV 0x1ff rather than 0xff */
};

struct vmcfg {
	int split; /* KVM_CAP_SPLIT_IRQCHIP instead of KVM_CREATE_IRQCHIP */
	int x2api; /* KVM_CAP_X2APIC_API flags, -1 to leave it off */
	int nv;
	struct vcfg v[8];
};

/*
 * One step: a KVM_SIGNAL_MSI (lo, hi, data) with its return value, errno
 * and reached vCPUs (bit i: IRR of vCPU i; bit 16 + i: NMI/SMI/INIT
 * pending on vCPU i), or, when lo is an OP_* value, a reconfiguration of
 * vCPU @hi with @data and the ioctl's return value.
 */
struct step {
	uint32_t lo, hi, data;
	int ret, err;
	uint32_t mask;
};

#define OP_SETID 0xffffffffu /* data: new xAPIC ID (KVM_SET_LAPIC) */
#define OP_BASE 0xfffffffeu  /* data: IA32_APIC_BASE (KVM_SET_MSRS) */
#define OP_SPIV 0xfffffffdu  /* data: SPIV (KVM_SET_LAPIC) */
#define OP_LDR 0xfffffffcu   /* data: LDR (KVM_SET_LAPIC) */

struct scenario {
	const char *name;
	const struct vmcfg *cfg;
	const struct step *steps;
	size_t nsteps;
};


/* ---- recorded on /dev/kvm (Linux 6.18, vector_hashing=Y) ---- */

static const struct vmcfg cfg_none = { 0, -1, 0, { } };
static const struct step steps_none[] = {
	{ 0xfee00000, 0x00000000, 0x04030, -1, EPERM , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04031, -1, EPERM , 0x00000 },
	{ 0xfee01004, 0x00000000, 0x04032, -1, EPERM , 0x00000 },
	{ 0xfee00000, 0x00000000, 0x04433, -1, EPERM , 0x00000 },
};
static const struct vmcfg cfg_none_s = { 1, -1, 0, { } };
static const struct step steps_none_s[] = {
	{ 0xfee00000, 0x00000000, 0x04030, -1, EPERM , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04031, -1, EPERM , 0x00000 },
};
static const struct vmcfg cfg_fresh1 = { 0, -1, 1, {
	{ 0, V_RESET, 0, 0x00000000, 0x00000000, 0 } } };
static const struct step steps_fresh1[] = {
	{ 0xfee00000, 0x00000000, 0x04030,  0, 0     , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04031,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04032,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_fresh1n = { 0, -1, 1, {
	{ 0, V_RESET, 0, 0x00000000, 0x00000000, 0 } } };
static const struct step steps_fresh1n[] = {
	{ 0xfee00000, 0x00000000, 0x04430,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_fresh1i = { 0, -1, 1, {
	{ 0, V_RESET, 0, 0x00000000, 0x00000000, 0 } } };
static const struct step steps_fresh1i[] = {
	{ 0xfeeff000, 0x00000000, 0x04430,  1, 0     , 0x10000 },
};
static const struct vmcfg cfg_fresh2n0 = { 0, -1, 2, {
	{ 0, V_RESET, 0, 0x00000000, 0x00000000, 0 },
	{ 1, V_RESET, 0, 0x00000000, 0x00000000, 0 } } };
static const struct step steps_fresh2n0[] = {
	{ 0xfee00000, 0x00000000, 0x04430,  1, 0     , 0x10000 },
};
static const struct vmcfg cfg_fresh2n1 = { 0, -1, 2, {
	{ 0, V_RESET, 0, 0x00000000, 0x00000000, 0 },
	{ 1, V_RESET, 0, 0x00000000, 0x00000000, 0 } } };
static const struct step steps_fresh2n1[] = {
	{ 0xfee01000, 0x00000000, 0x04430,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_fresh2l = { 0, -1, 2, {
	{ 0, V_RESET, 0, 0x00000000, 0x00000000, 0 },
	{ 1, V_RESET, 0, 0x00000000, 0x00000000, 0 } } };
static const struct step steps_fresh2l[] = {
	{ 0xfee01004, 0x00000000, 0x04430,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_flat4 = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_flat4[] = {
	{ 0xfee00000, 0x00000000, 0x04040,  1, 0     , 0x00001 },
	{ 0xfee02000, 0x00000000, 0x04041,  1, 0     , 0x00004 },
	{ 0xfee07000, 0x00000000, 0x04042,  0, 0     , 0x00000 },
	{ 0xfeefe000, 0x00000000, 0x04043,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04044,  4, 0     , 0x0000f },
	{ 0xfee03004, 0x00000000, 0x04045,  2, 0     , 0x00003 },
	{ 0xfee30004, 0x00000000, 0x04046,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04047,  4, 0     , 0x0000f },
	{ 0xfee0f004, 0x00000000, 0x04048,  4, 0     , 0x0000f },
	{ 0xfee01008, 0x00000000, 0x04049,  1, 0     , 0x00002 },
	{ 0xfee03000, 0x00000000, 0x0414a,  1, 0     , 0x00008 },
	{ 0xfeeff000, 0x00000000, 0x0414b,  4, 0     , 0x0000f },
	{ 0xfeeff004, 0x00000000, 0x0414c,  1, 0     , 0x00001 },
	{ 0xfee30004, 0x00000000, 0x0414d,  0, 0     , 0x00000 },
	{ 0xfee40000, 0x00000000, 0x0404e,  0, 0     , 0x00000 },
	{ 0xfee02000, 0x00000000, 0x04041,  1, 0     , 0x00004 },
	{ 0xfee01000, 0x00000000, 0x0804f,  1, 0     , 0x00002 },
	{ 0xfee01000, 0x00000000, 0x0c050,  1, 0     , 0x00002 },
	{ 0x00001000, 0x00000000, 0x00051,  1, 0     , 0x00002 },
	{ 0xfee01000, 0x12345678, 0x00052,  1, 0     , 0x00002 },
	{ 0xfee00000, 0x00000000, 0x04000,  1, 0     , 0x00001 },
	{ 0xfee00000, 0x00000000, 0x0400f,  1, 0     , 0x00001 },
};
static const struct vmcfg cfg_flat4lp = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_flat4lp[] = {
	{ 0xfee0f004, 0x00000000, 0x04120,  1, 0     , 0x00001 },
	{ 0xfee0f004, 0x00000000, 0x04121,  1, 0     , 0x00002 },
	{ 0xfee0f004, 0x00000000, 0x04122,  1, 0     , 0x00004 },
	{ 0xfee0f004, 0x00000000, 0x04123,  1, 0     , 0x00008 },
	{ 0xfee0f004, 0x00000000, 0x04124,  1, 0     , 0x00001 },
	{ 0xfee0f004, 0x00000000, 0x04125,  1, 0     , 0x00002 },
	{ 0xfee0f004, 0x00000000, 0x04126,  1, 0     , 0x00004 },
	{ 0xfee0f004, 0x00000000, 0x04127,  1, 0     , 0x00008 },
	{ 0xfee0e004, 0x00000000, 0x04128,  1, 0     , 0x00004 },
	{ 0xfee0e004, 0x00000000, 0x04129,  1, 0     , 0x00008 },
	{ 0xfee0e004, 0x00000000, 0x0412a,  1, 0     , 0x00002 },
	{ 0xfee0e004, 0x00000000, 0x0412b,  1, 0     , 0x00004 },
	{ 0xfeeff004, 0x00000000, 0x0412c,  1, 0     , 0x00001 },
	{ 0xfeeff004, 0x00000000, 0x0412d,  1, 0     , 0x00002 },
	{ 0xfeeff004, 0x00000000, 0x0412e,  1, 0     , 0x00004 },
	{ 0xfeeff004, 0x00000000, 0x0412f,  1, 0     , 0x00008 },
	{ 0xfee0f00c, 0x00000000, 0x04030,  1, 0     , 0x00001 },
	{ 0xfee0f00c, 0x00000000, 0x04031,  1, 0     , 0x00002 },
	{ 0xfee0f00c, 0x00000000, 0x04032,  1, 0     , 0x00004 },
	{ 0xfee0f00c, 0x00000000, 0x04033,  1, 0     , 0x00008 },
	{ 0xfee3c004, 0x00000000, 0x04134,  1, 0     , 0x00004 },
	{ 0xfee3c004, 0x00000000, 0x04135,  1, 0     , 0x00008 },
	{ 0xfee3c004, 0x00000000, 0x04136,  0, 0     , 0x00000 },
	{ 0xfee3c004, 0x00000000, 0x04137,  0, 0     , 0x00000 },
	{ 0xfeef0004, 0x00000000, 0x04138,  0, 0     , 0x00000 },
	{ 0xfee02008, 0x00000000, 0x04039,  1, 0     , 0x00004 },
	{ 0xfeeff008, 0x00000000, 0x0403a,  1, 0     , 0x00004 },
	{ 0xfeeff00c, 0x00000000, 0x0403b,  1, 0     , 0x00008 },
};
static const struct vmcfg cfg_dm_fixed = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_fixed[] = {
	{ 0xfee01000, 0x00000000, 0x04060,  1, 0     , 0x00002 },
};
static const struct vmcfg cfg_dm_lowest = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_lowest[] = {
	{ 0xfee01000, 0x00000000, 0x04160,  1, 0     , 0x00002 },
};
static const struct vmcfg cfg_dm_smi = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_smi[] = {
	{ 0xfee01000, 0x00000000, 0x04260,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_dm_remrd = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_remrd[] = {
	{ 0xfee01000, 0x00000000, 0x04360,  1, 0     , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04360,  1, 0     , 0x00000 },
};
static const struct vmcfg cfg_dm_nmi = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_nmi[] = {
	{ 0xfee01000, 0x00000000, 0x04460,  1, 0     , 0x20000 },
};
static const struct vmcfg cfg_dm_init = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_init[] = {
	{ 0xfee01000, 0x00000000, 0x04560,  1, 0     , 0x20000 },
};
static const struct vmcfg cfg_dm_sipi = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_sipi[] = {
	{ 0xfee01000, 0x00000000, 0x04660,  1, 0     , 0x00000 },
};
static const struct vmcfg cfg_dm_extint = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_extint[] = {
	{ 0xfee01000, 0x00000000, 0x04760,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_dm_nmi_bc = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_nmi_bc[] = {
	{ 0xfeeff000, 0x00000000, 0x04460,  4, 0     , 0xf0000 },
};
static const struct vmcfg cfg_dm_nmi_lg = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_nmi_lg[] = {
	{ 0xfee06004, 0x00000000, 0x04460,  2, 0     , 0x60000 },
};
static const struct vmcfg cfg_dm_init_lg = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_init_lg[] = {
	{ 0xfee06004, 0x00000000, 0x04560,  2, 0     , 0x60000 },
};
static const struct vmcfg cfg_dm_extint_bc = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_extint_bc[] = {
	{ 0xfeeff000, 0x00000000, 0x04760,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_dm_nmi_abs = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_dm_nmi_abs[] = {
	{ 0xfee09000, 0x00000000, 0x04460,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_flat2lp = { 0, -1, 2, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 } } };
static const struct step steps_flat2lp[] = {
	{ 0xfee0f004, 0x00000000, 0x04120,  1, 0     , 0x00001 },
	{ 0xfee0f004, 0x00000000, 0x04121,  1, 0     , 0x00002 },
	{ 0xfee0f004, 0x00000000, 0x04122,  0, 0     , 0x00000 },
	{ 0xfee0f004, 0x00000000, 0x04123,  0, 0     , 0x00000 },
	{ 0xfee05004, 0x00000000, 0x04124,  1, 0     , 0x00001 },
	{ 0xfee05004, 0x00000000, 0x04125,  0, 0     , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x04126,  1, 0     , 0x00001 },
	{ 0xfee03004, 0x00000000, 0x04127,  1, 0     , 0x00002 },
};
static const struct vmcfg cfg_swoff = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 0 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 0 } } };
static const struct step steps_swoff[] = {
	{ 0xfee01000, 0x00000000, 0x04040,  0, 0     , 0x00000 },
	{ 0xfee00000, 0x00000000, 0x04041,  1, 0     , 0x00001 },
	{ 0xfee02004, 0x00000000, 0x04042,  0, 0     , 0x00000 },
	{ 0xfee0f004, 0x00000000, 0x04043,  2, 0     , 0x00005 },
	{ 0xfeeff000, 0x00000000, 0x04044,  2, 0     , 0x00005 },
	{ 0xfeeff000, 0x00000000, 0x04445,  4, 0     , 0xf0000 },
	{ 0xfee02004, 0x00000000, 0x04446,  0, 0     , 0xf0000 },
	{ 0xfee0f004, 0x00000000, 0x04120,  1, 0     , 0xf0001 },
	{ 0xfee0f004, 0x00000000, 0x04121,  0, 0     , 0xf0000 },
	{ 0xfee0f004, 0x00000000, 0x04122,  1, 0     , 0xf0004 },
	{ 0xfee0f004, 0x00000000, 0x04123,  0, 0     , 0xf0000 },
	{ 0xfeeff004, 0x00000000, 0x04124,  1, 0     , 0xf0001 },
	{ 0xfeeff004, 0x00000000, 0x04125,  1, 0     , 0xf0004 },
	{ 0xfeeff004, 0x00000000, 0x04126,  1, 0     , 0xf0001 },
};
static const struct vmcfg cfg_alloff = { 0, -1, 2, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 0 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 0 } } };
static const struct step steps_alloff[] = {
	{ 0xfee01000, 0x00000000, 0x04040,  0, 0     , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x04041,  0, 0     , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x04142,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04043,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04144, -1, EPERM , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04145,  0, 0     , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x04446,  0, 0     , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04147,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_clus = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x11000000, 0x0fffffff, 1 },
	{ 1, V_XAPIC, 1, 0x12000000, 0x0fffffff, 1 },
	{ 2, V_XAPIC, 2, 0x21000000, 0x0fffffff, 1 },
	{ 3, V_XAPIC, 3, 0x24000000, 0x0fffffff, 1 } } };
static const struct step steps_clus[] = {
	{ 0xfee13004, 0x00000000, 0x04040,  2, 0     , 0x00003 },
	{ 0xfee11004, 0x00000000, 0x04041,  1, 0     , 0x00001 },
	{ 0xfee2f004, 0x00000000, 0x04042,  2, 0     , 0x0000c },
	{ 0xfee1f004, 0x00000000, 0x04043,  2, 0     , 0x00003 },
	{ 0xfee01004, 0x00000000, 0x04044,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04045,  4, 0     , 0x0000f },
	{ 0xfeef1004, 0x00000000, 0x04046,  0, 0     , 0x00000 },
	{ 0xfee31004, 0x00000000, 0x04047,  0, 0     , 0x00000 },
	{ 0xfee13004, 0x00000000, 0x04120,  1, 0     , 0x00001 },
	{ 0xfee13004, 0x00000000, 0x04121,  1, 0     , 0x00002 },
	{ 0xfee2f004, 0x00000000, 0x04122,  1, 0     , 0x00008 },
	{ 0xfee2f004, 0x00000000, 0x04123,  0, 0     , 0x00000 },
	{ 0xfee2f004, 0x00000000, 0x04124,  1, 0     , 0x00004 },
	{ 0xfee2f004, 0x00000000, 0x04125,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04126,  1, 0     , 0x00004 },
	{ 0xfeeff004, 0x00000000, 0x04127,  1, 0     , 0x00008 },
};
static const struct vmcfg cfg_mixed = { 0, -1, 3, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x12000000, 0x0fffffff, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 } } };
static const struct step steps_mixed[] = {
	{ 0xfee05004, 0x00000000, 0x04040,  2, 0     , 0x00005 },
	{ 0xfee12004, 0x00000000, 0x04041,  1, 0     , 0x00002 },
	{ 0xfee08004, 0x00000000, 0x04042, -1, EPERM , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04043,  1, 0     , 0x00002 },
	{ 0xfee09000, 0x00000000, 0x04044,  0, 0     , 0x00000 },
	{ 0xfee17004, 0x00000000, 0x04120,  1, 0     , 0x00004 },
	{ 0xfee17004, 0x00000000, 0x04121,  1, 0     , 0x00001 },
	{ 0xfee17004, 0x00000000, 0x04122,  1, 0     , 0x00002 },
	{ 0xfee17004, 0x00000000, 0x04123,  1, 0     , 0x00004 },
	{ 0xfee05004, 0x00000000, 0x04124,  1, 0     , 0x00001 },
	{ 0xfee05004, 0x00000000, 0x04125,  1, 0     , 0x00004 },
};
static const struct vmcfg cfg_ldrdup = { 0, -1, 3, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x01000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x06000000, 0x00000000, 1 } } };
static const struct step steps_ldrdup[] = {
	{ 0xfee01004, 0x00000000, 0x04040,  2, 0     , 0x00003 },
	{ 0xfee04004, 0x00000000, 0x04041,  1, 0     , 0x00004 },
	{ 0xfee08004, 0x00000000, 0x04042, -1, EPERM , 0x00000 },
	{ 0xfee02000, 0x00000000, 0x04043,  1, 0     , 0x00004 },
	{ 0xfee07004, 0x00000000, 0x04120,  1, 0     , 0x00004 },
	{ 0xfee07004, 0x00000000, 0x04121,  1, 0     , 0x00001 },
	{ 0xfee07004, 0x00000000, 0x04122,  1, 0     , 0x00002 },
	{ 0xfee07004, 0x00000000, 0x04123,  1, 0     , 0x00004 },
};
static const struct vmcfg cfg_dup = { 0, -1, 3, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 0, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 1, 0x04000000, 0x00000000, 1 } } };
static const struct step steps_dup[] = {
	{ 0xfee00000, 0x00000000, 0x04040,  2, 0     , 0x00003 },
	{ 0xfee01000, 0x00000000, 0x04041,  1, 0     , 0x00004 },
	{ 0xfee05000, 0x00000000, 0x04042, -1, EPERM , 0x00000 },
	{ 0xfee30004, 0x00000000, 0x04043, -1, EPERM , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x04044,  2, 0     , 0x00003 },
	{ 0xfeeff000, 0x00000000, 0x04045,  3, 0     , 0x00007 },
	{ 0xfee00000, 0x00000000, 0x04446,  2, 0     , 0x30000 },
	{ 0xfee05000, 0x00000000, 0x04447, -1, EPERM , 0x30000 },
	{ 0xfee07004, 0x00000000, 0x04120,  1, 0     , 0x30004 },
	{ 0xfee07004, 0x00000000, 0x04121,  1, 0     , 0x30001 },
	{ 0xfee07004, 0x00000000, 0x04122,  1, 0     , 0x30002 },
	{ 0xfee07004, 0x00000000, 0x04123,  1, 0     , 0x30004 },
	{ 0xfee00000, 0x00000000, 0x04124,  1, 0     , 0x30001 },
	{ 0xfee00000, 0x00000000, 0x04125,  1, 0     , 0x30002 },
	{ 0xfee00008, 0x00000000, 0x04026,  1, 0     , 0x30001 },
	{ 0xfee00008, 0x00000000, 0x04027,  1, 0     , 0x30002 },
	{ 0xfeeff000, 0x00000000, 0x04128,  3, 0     , 0x30007 },
	{ 0xfeeff000, 0x00000000, 0x04129,  3, 0     , 0x30007 },
	{ 0xfee05000, 0x00000000, 0x0412a, -1, EPERM , 0x30000 },
	{ 0xfee30004, 0x00000000, 0x0412b, -1, EPERM , 0x30000 },
};
static const struct vmcfg cfg_dupoff = { 0, -1, 3, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 0 },
	{ 1, V_XAPIC, 0, 0x02000000, 0x00000000, 0 },
	{ 2, V_XAPIC, 1, 0x04000000, 0x00000000, 1 } } };
static const struct step steps_dupoff[] = {
	{ 0xfee00000, 0x00000000, 0x04040,  0, 0     , 0x00000 },
	{ 0xfee00000, 0x00000000, 0x04141, -1, EPERM , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x04142, -1, EPERM , 0x00000 },
	{ 0xfee07004, 0x00000000, 0x04143,  1, 0     , 0x00004 },
	{ 0xfee03004, 0x00000000, 0x04044,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_hwoff = { 0, -1, 3, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_HWOFF, 0, 0x00000000, 0x00000000, 0 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 } } };
static const struct step steps_hwoff[] = {
	{ 0xfee01000, 0x00000000, 0x04040,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04041,  2, 0     , 0x00005 },
	{ 0xfee02004, 0x00000000, 0x04042,  0, 0     , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04443,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04444,  2, 0     , 0x50000 },
};
static const struct vmcfg cfg_flat4s = { 1, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_flat4s[] = {
	{ 0xfee02000, 0x00000000, 0x04041,  1, 0     , 0x00004 },
	{ 0xfee07000, 0x00000000, 0x04042,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04044,  4, 0     , 0x0000f },
	{ 0xfee0f004, 0x00000000, 0x04120,  1, 0     , 0x00001 },
	{ 0xfee0f004, 0x00000000, 0x04121,  1, 0     , 0x00002 },
};
static const struct vmcfg cfg_x2 = { 0, -1, 4, {
	{ 0, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 1, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 2, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 3, V_X2APIC, 0, 0x00000000, 0x00000000, 1 } } };
static const struct step steps_x2[] = {
	{ 0xfee02000, 0x00000000, 0x04040,  1, 0     , 0x00004 },
	{ 0xfeeff000, 0x00000000, 0x04041,  4, 0     , 0x0000f },
	{ 0xfee0f004, 0x00000000, 0x04042,  4, 0     , 0x0000f },
	{ 0xfee05004, 0x00000000, 0x04043,  2, 0     , 0x00005 },
	{ 0xfeeff004, 0x00000000, 0x04044,  4, 0     , 0x0000f },
	{ 0xfee09000, 0x00000000, 0x04045,  0, 0     , 0x00000 },
	{ 0xfee02000, 0x00000100, 0x00046,  1, 0     , 0x00004 },
	{ 0xfee0f004, 0x00000000, 0x04120,  1, 0     , 0x00001 },
	{ 0xfee0f004, 0x00000000, 0x04121,  1, 0     , 0x00002 },
	{ 0xfee0f004, 0x00000000, 0x04122,  1, 0     , 0x00004 },
	{ 0xfee0f004, 0x00000000, 0x04123,  1, 0     , 0x00008 },
	{ 0xfeeff004, 0x00000000, 0x04124,  1, 0     , 0x00001 },
	{ 0xfeeff004, 0x00000000, 0x04125,  1, 0     , 0x00002 },
	{ 0xfeeff000, 0x00000000, 0x04126,  4, 0     , 0x0000f },
	{ 0xfeeff000, 0x00000000, 0x04427,  4, 0     , 0xf0000 },
};
static const struct vmcfg cfg_x2f = { 0, 1, 4, {
	{ 0, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 1, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 2, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 3, V_X2APIC, 0, 0x00000000, 0x00000000, 1 } } };
static const struct step steps_x2f[] = {
	{ 0xfee02000, 0x00000000, 0x04040,  1, 0     , 0x00004 },
	{ 0xfeeff000, 0x00000000, 0x04041,  4, 0     , 0x0000f },
	{ 0xfee0f004, 0x00000000, 0x04042,  4, 0     , 0x0000f },
	{ 0xfee02000, 0x00000001, 0x00043, -1, EINVAL, 0x00000 },
	{ 0xfee02000, 0x00000100, 0x00044,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0xffffff00, 0x00045,  0, 0     , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x00046,  2, 0     , 0x00003 },
	{ 0xfee03004, 0x00010000, 0x00047,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04048,  4, 0     , 0x0000f },
};
static const struct vmcfg cfg_x2q = { 0, 3, 4, {
	{ 0, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 1, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 2, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 3, V_X2APIC, 0, 0x00000000, 0x00000000, 1 } } };
static const struct step steps_x2q[] = {
	{ 0xfee02000, 0x00000000, 0x04040,  1, 0     , 0x00004 },
	{ 0xfeeff000, 0x00000000, 0x04041,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04042,  4, 0     , 0x0000f },
	{ 0xfeeff000, 0xffffff00, 0x00043,  4, 0     , 0x0000f },
	{ 0xfeeff004, 0xffffff00, 0x00044,  4, 0     , 0x0000f },
	{ 0xfee0c004, 0x00000000, 0x04045,  2, 0     , 0x0000c },
	{ 0xfee0f004, 0x00000000, 0x04120,  1, 0     , 0x00001 },
	{ 0xfee0f004, 0x00000000, 0x04121,  1, 0     , 0x00002 },
	{ 0xfee0f004, 0x00000000, 0x04122,  1, 0     , 0x00004 },
	{ 0xfee0f004, 0x00000000, 0x04123,  1, 0     , 0x00008 },
	{ 0xfeeff004, 0x00000000, 0x04124,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04125,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x00000000, 0x04126,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0xffffff00, 0x00127,  1, 0     , 0x00008 },
	{ 0xfeeff000, 0xffffff00, 0x00128,  1, 0     , 0x00001 },
};
static const struct vmcfg cfg_x2big = { 0, 3, 3, {
	{ 0, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 300, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 17, V_X2APIC, 0, 0x00000000, 0x00000000, 1 } } };
static const struct step steps_x2big[] = {
	{ 0xfee2c000, 0x00000100, 0x00040,  1, 0     , 0x00002 },
	{ 0xfee2c000, 0x00000000, 0x04041,  0, 0     , 0x00000 },
	{ 0xfee11000, 0x00000000, 0x04042,  1, 0     , 0x00004 },
	{ 0xfee01004, 0x00010000, 0x00043,  0, 0     , 0x00000 },
	{ 0xfee02004, 0x00010000, 0x00044,  1, 0     , 0x00004 },
	{ 0xfee00004, 0x00121000, 0x00045,  1, 0     , 0x00002 },
	{ 0xfeeff004, 0x0012ff00, 0x00046,  1, 0     , 0x00002 },
	{ 0xfeeff004, 0x0012ff00, 0x00120,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x0012ff00, 0x00121,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x0012ff00, 0x00122,  0, 0     , 0x00000 },
	{ 0xfeeff004, 0x0012ff00, 0x00123,  0, 0     , 0x00000 },
	{ 0xfee00000, 0x00001000, 0x00047,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0xffffff00, 0x00048,  3, 0     , 0x00007 },
};
static const struct vmcfg cfg_hot = { 0, 1, 2, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 300, V_XAPIC, 44, 0x02000000, 0x00000000, 1 } } };
static const struct step steps_hot[] = {
	{ 0xfee2c000, 0x00000100, 0x00040,  1, 0     , 0x00002 },
	{ 0xfee2c000, 0x00000000, 0x04041,  1, 0     , 0x00002 },
	{ 0xfee00000, 0x00000000, 0x04042,  1, 0     , 0x00001 },
};
static const struct vmcfg cfg_hotl = { 0, -1, 2, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 300, V_XAPIC, 44, 0x02000000, 0x00000000, 1 } } };
static const struct step steps_hotl[] = {
	{ 0xfee2c000, 0x00000000, 0x04041,  1, 0     , 0x00002 },
	{ 0xfee00000, 0x00000000, 0x04042,  1, 0     , 0x00001 },
};
static const struct vmcfg cfg_swap = { 0, -1, 2, {
	{ 0, V_XAPIC, 1, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 0, 0x02000000, 0x00000000, 1 } } };
static const struct step steps_swap[] = {
	{ 0xfee00000, 0x00000000, 0x04040,  1, 0     , 0x00002 },
	{ 0xfee01000, 0x00000000, 0x04041,  1, 0     , 0x00001 },
};
static const struct vmcfg cfg_swapf = { 0, 1, 2, {
	{ 0, V_XAPIC, 1, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 0, 0x02000000, 0x00000000, 1 } } };
static const struct step steps_swapf[] = {
	{ 0xfee00000, 0x00000000, 0x04040,  1, 0     , 0x00002 },
	{ 0xfee01000, 0x00000000, 0x04041,  1, 0     , 0x00001 },
};
static const struct vmcfg cfg_mx = { 0, -1, 3, {
	{ 0, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_X2APIC, 0, 0x00000000, 0x00000000, 1 } } };
static const struct step steps_mx[] = {
	{ 0xfee01000, 0x00000000, 0x04040,  1, 0     , 0x00002 },
	{ 0xfee02000, 0x00000000, 0x04041,  1, 0     , 0x00004 },
	{ 0xfeeff000, 0x00000000, 0x04042,  3, 0     , 0x00007 },
	{ 0xfee02004, 0x00000000, 0x04043,  1, 0     , 0x00002 },
	{ 0xfee05004, 0x00000000, 0x04044,  2, 0     , 0x00005 },
	{ 0xfee05004, 0x00000000, 0x04120,  1, 0     , 0x00001 },
	{ 0xfee05004, 0x00000000, 0x04121,  1, 0     , 0x00004 },
};
static const struct vmcfg cfg_mxd = { 0, -1, 2, {
	{ 0, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 0, 0x02000000, 0x00000000, 1 } } };
static const struct step steps_mxd[] = {
	{ 0xfee00000, 0x00000000, 0x04040,  2, 0     , 0x00003 },
	{ 0xfee01000, 0x00000000, 0x04041, -1, EPERM , 0x00000 },
	{ 0xfee05000, 0x00000000, 0x04042, -1, EPERM , 0x00000 },
};
static const struct vmcfg cfg_reconf = { 0, -1, 4, {
	{ 0, V_XAPIC, 0, 0x01000000, 0x00000000, 1 },
	{ 1, V_XAPIC, 1, 0x02000000, 0x00000000, 1 },
	{ 2, V_XAPIC, 2, 0x04000000, 0x00000000, 1 },
	{ 3, V_XAPIC, 3, 0x08000000, 0x00000000, 1 } } };
static const struct step steps_reconf[] = {
	{ 0xfee03000, 0x00000000, 0x04040,  1, 0     , 0x00008 },
	{ 0xffffffff, 0x00000003, 0x00009,  0, 0     , 0x00000 },
	{ 0xfee03000, 0x00000000, 0x04041,  0, 0     , 0x00000 },
	{ 0xfee09000, 0x00000000, 0x04042,  1, 0     , 0x00008 },
	{ 0xffffffff, 0x00000001, 0x00000,  0, 0     , 0x00000 },
	{ 0xfee00000, 0x00000000, 0x04043,  2, 0     , 0x00003 },
	{ 0xfee07000, 0x00000000, 0x04044, -1, EPERM , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04045, -1, EPERM , 0x00000 },
	{ 0xffffffff, 0x00000001, 0x00001,  0, 0     , 0x00000 },
	{ 0xfee07000, 0x00000000, 0x04046,  0, 0     , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04047,  1, 0     , 0x00002 },
	{ 0xfffffffe, 0x00000002, 0x00000,  1, 0     , 0x00000 },
	{ 0xfee02000, 0x00000000, 0x04048,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04049,  3, 0     , 0x0000b },
	{ 0xfee04004, 0x00000000, 0x0404a,  0, 0     , 0x00000 },
	{ 0xfffffffe, 0x00000002, 0xfee00800,  1, 0     , 0x00000 },
	{ 0xfee02000, 0x00000000, 0x0404b,  1, 0     , 0x00004 },
	{ 0xfee04004, 0x00000000, 0x0404c,  1, 0     , 0x00004 },
	{ 0xfffffffd, 0x00000000, 0x000ff,  0, 0     , 0x00000 },
	{ 0xfee00000, 0x00000000, 0x0404d,  0, 0     , 0x00000 },
	{ 0xfee01004, 0x00000000, 0x0404e,  0, 0     , 0x00000 },
	{ 0xfee0f004, 0x00000000, 0x04120,  0, 0     , 0x00000 },
	{ 0xfee0f004, 0x00000000, 0x04121,  1, 0     , 0x00002 },
	{ 0xfffffffd, 0x00000000, 0x001ff,  0, 0     , 0x00000 },
	{ 0xfee01004, 0x00000000, 0x0404f,  1, 0     , 0x00001 },
	{ 0xfffffffc, 0x00000003, 0x3000000,  0, 0     , 0x00000 },
	{ 0xfee01004, 0x00000000, 0x04050,  2, 0     , 0x00009 },
	{ 0xfee08004, 0x00000000, 0x04051, -1, EPERM , 0x00000 },
	{ 0xfee03004, 0x00000000, 0x04052,  3, 0     , 0x0000b },
	{ 0xfffffffc, 0x00000003, 0x80000000,  0, 0     , 0x00000 },
	{ 0xfee80004, 0x00000000, 0x04053,  1, 0     , 0x00008 },
	{ 0xfee8f004, 0x00000000, 0x04122,  1, 0     , 0x00008 },
	{ 0xfee8f004, 0x00000000, 0x04123,  1, 0     , 0x00001 },
	{ 0xfee8f004, 0x00000000, 0x04124,  1, 0     , 0x00002 },
	{ 0xfee8f004, 0x00000000, 0x04125,  1, 0     , 0x00004 },
	{ 0xfee8f004, 0x00000000, 0x04126,  0, 0     , 0x00000 },
};
static const struct vmcfg cfg_x2toggle = { 0, -1, 2, {
	{ 0, V_X2APIC, 0, 0x00000000, 0x00000000, 1 },
	{ 1, V_X2APIC, 0, 0x00000000, 0x00000000, 1 } } };
static const struct step steps_x2toggle[] = {
	{ 0xfee01000, 0x00000000, 0x04040,  1, 0     , 0x00002 },
	{ 0xfffffffe, 0x00000001, 0x00000,  1, 0     , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04041,  0, 0     , 0x00000 },
	{ 0xfeeff000, 0x00000000, 0x04042,  1, 0     , 0x00001 },
	{ 0xfffffffe, 0x00000001, 0xfee00800,  1, 0     , 0x00000 },
	{ 0xfee01000, 0x00000000, 0x04043,  1, 0     , 0x00002 },
	{ 0xfeeff000, 0x00000000, 0x04044,  2, 0     , 0x00003 },
	{ 0xfee03004, 0x00000000, 0x04045,  1, 0     , 0x00001 },
};

#define SCEN(n) { #n, &cfg_##n, steps_##n, sizeof(steps_##n) / sizeof(steps_##n[0]) }
static const struct scenario scenarios[] = {
	SCEN(none),
	SCEN(none_s),
	SCEN(fresh1),
	SCEN(fresh1n),
	SCEN(fresh1i),
	SCEN(fresh2n0),
	SCEN(fresh2n1),
	SCEN(fresh2l),
	SCEN(flat4),
	SCEN(flat4lp),
	SCEN(dm_fixed),
	SCEN(dm_lowest),
	SCEN(dm_smi),
	SCEN(dm_remrd),
	SCEN(dm_nmi),
	SCEN(dm_init),
	SCEN(dm_sipi),
	SCEN(dm_extint),
	SCEN(dm_nmi_bc),
	SCEN(dm_nmi_lg),
	SCEN(dm_init_lg),
	SCEN(dm_extint_bc),
	SCEN(dm_nmi_abs),
	SCEN(flat2lp),
	SCEN(swoff),
	SCEN(alloff),
	SCEN(clus),
	SCEN(mixed),
	SCEN(ldrdup),
	SCEN(dup),
	SCEN(dupoff),
	SCEN(hwoff),
	SCEN(flat4s),
	SCEN(x2),
	SCEN(x2f),
	SCEN(x2q),
	SCEN(x2big),
	SCEN(hot),
	SCEN(hotl),
	SCEN(swap),
	SCEN(swapf),
	SCEN(mx),
	SCEN(mxd),
	SCEN(reconf),
	SCEN(x2toggle),
};

struct env {
	int sys, vm, nv, vc[8];
};

static uint32_t *lapic_reg(struct kvm_lapic_state *s, uint32_t off)
{
	return (uint32_t *)(void *)(s->regs + off);
}

static int env_set_msr(int vcpu, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry ent[1];
	} msrs;

	memset(&msrs, 0, sizeof(msrs));
	msrs.h.nmsrs = 1;
	msrs.ent[0].index = index;
	msrs.ent[0].data = value;
	return virq_ioctl(vcpu, KVM_SET_MSRS, &msrs);
}

static void env_setup(struct env *e, const struct vmcfg *c)
{
	int i;

	memset(e, 0, sizeof(*e));
	e->nv = c->nv;
	e->sys = virq_open(VIRQ_ARCH_X86);
	assert_true(e->sys >= 0);
	e->vm = virq_ioctl(e->sys, KVM_CREATE_VM, 0);
	assert_true(e->vm >= 0);
	if (c->split) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

		assert_int_equal(virq_ioctl(e->vm, KVM_ENABLE_CAP, &cap), 0);
	} else {
		assert_int_equal(virq_ioctl(e->vm, KVM_CREATE_IRQCHIP, 0), 0);
	}
	if (c->x2api >= 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_X2APIC_API, .args = { (uint64_t)c->x2api } };

		assert_int_equal(virq_ioctl(e->vm, KVM_ENABLE_CAP, &cap), 0);
	}
	for (i = 0; i < c->nv; i++) {
		e->vc[i] = virq_ioctl(e->vm, KVM_CREATE_VCPU, (unsigned long)c->v[i].id);
		assert_true(e->vc[i] >= 0);
	}
	for (i = 0; i < c->nv; i++) {
		const struct vcfg *v = &c->v[i];
		struct kvm_lapic_state s;

		if (v->mode == V_RESET)
			continue;
		if (v->mode == V_X2APIC) {
			struct {
				struct kvm_cpuid2 h;
				struct kvm_cpuid_entry2 ent[1];
			} cpuid;

			memset(&cpuid, 0, sizeof(cpuid));
			cpuid.h.nent = 1;
			cpuid.ent[0].function = 1;
			cpuid.ent[0].ecx = 1u << 21; /* x2APIC */
			assert_int_equal(virq_ioctl(e->vc[i], KVM_SET_CPUID2, &cpuid), 0);
			assert_int_equal(env_set_msr(e->vc[i], MSR_IA32_APICBASE,
						     APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE |
							     MSR_IA32_APICBASE_EXTD), 1);
		} else if (v->mode == V_HWOFF) {
			assert_int_equal(env_set_msr(e->vc[i], MSR_IA32_APICBASE, 0), 1);
		}
		assert_int_equal(virq_ioctl(e->vc[i], KVM_GET_LAPIC, &s), 0);
		if (v->mode == V_XAPIC) {
			*lapic_reg(&s, APIC_ID) = (uint32_t)v->apic_id << 24;
			*lapic_reg(&s, APIC_LDR) = v->ldr;
			*lapic_reg(&s, APIC_DFR) = v->dfr ? v->dfr : APIC_DFR_FLAT;
		}
		*lapic_reg(&s, APIC_SPIV) = v->sw_on ? 0x1ff : 0xff;
		assert_int_equal(virq_ioctl(e->vc[i], KVM_SET_LAPIC, &s), 0);
	}
}

static void env_teardown(struct env *e)
{
	int i;

	for (i = 0; i < e->nv; i++)
		assert_int_equal(virq_close(e->vc[i]), 0);
	assert_int_equal(virq_close(e->vm), 0);
	assert_int_equal(virq_close(e->sys), 0);
}

static uint32_t env_observe(struct env *e, uint32_t vector)
{
	uint32_t mask = 0;
	int i;

	for (i = 0; i < e->nv; i++) {
		struct kvm_lapic_state s;
		struct kvm_vcpu_events ev;

		assert_int_equal(virq_ioctl(e->vc[i], KVM_GET_LAPIC, &s), 0);
		if ((*lapic_reg(&s, APIC_IRR + (vector / 32) * 0x10) >> (vector % 32)) & 1)
			mask |= 1u << i;
		memset(&ev, 0, sizeof(ev));
		assert_int_equal(virq_ioctl(e->vc[i], KVM_GET_VCPU_EVENTS, &ev), 0);
		if (ev.nmi.pending || ev.smi.pending || ev.smi.latched_init)
			mask |= 1u << (i + 16);
	}
	return mask;
}

static int env_op(struct env *e, uint32_t op, uint32_t idx, uint32_t data)
{
	struct kvm_lapic_state s;

	if (op == OP_BASE)
		return env_set_msr(e->vc[idx], MSR_IA32_APICBASE, data);
	assert_int_equal(virq_ioctl(e->vc[idx], KVM_GET_LAPIC, &s), 0);
	if (op == OP_SETID)
		*lapic_reg(&s, APIC_ID) = data << 24;
	else if (op == OP_SPIV)
		*lapic_reg(&s, APIC_SPIV) = data;
	else
		*lapic_reg(&s, APIC_LDR) = data;
	return virq_ioctl(e->vc[idx], KVM_SET_LAPIC, &s);
}

static void run_scenario(void **state)
{
	const struct scenario *sc = *state;
	struct env e;
	size_t i;

	env_setup(&e, sc->cfg);
	for (i = 0; i < sc->nsteps; i++) {
		const struct step *st = &sc->steps[i];
		struct kvm_msi msi;
		uint32_t mask = 0;
		int r, err = 0;

		if (st->lo >= OP_LDR) {
			r = env_op(&e, st->lo, st->hi, st->data);
		} else {
			memset(&msi, 0, sizeof(msi));
			msi.address_lo = st->lo;
			msi.address_hi = st->hi;
			msi.data = st->data;
			errno = 0;
			r = virq_ioctl(e.vm, KVM_SIGNAL_MSI, &msi);
			err = r < 0 ? errno : 0;
			mask = env_observe(&e, st->data & 0xff);
		}
		if (r != st->ret || err != st->err || mask != st->mask)
			fail_msg("%s step %zu (lo %#x hi %#x data %#x): got ret %d errno %d reached %#x, "
				 "kernel gave ret %d errno %d reached %#x",
				 sc->name, i, st->lo, st->hi, st->data, r, err, mask, st->ret, st->err,
				 st->mask);
	}
	env_teardown(&e);
}

/*
 * KVM_SIGNAL_MSI from several threads while another one keeps rebuilding
 * the map through KVM_SET_LAPIC: vCPU 3 alternates between its own ID, a
 * free ID (9) and vCPU 0's ID (map disabled, slow path).  vCPUs 1 and 2
 * never change, so messages to them must always land; broadcasts reach
 * all four; vCPU 0 gets one or two copies.
 */
struct race {
	struct env e;
	atomic_bool stop;
	atomic_long bad;
};

static void *race_inject(void *arg)
{
	struct race *rc = arg;
	struct kvm_msi msi;
	unsigned n = 0;

	memset(&msi, 0, sizeof(msi));
	while (!atomic_load(&rc->stop)) {
		int r, want_lo = 1, want_hi = 1;

		switch (n++ % 4) {
		case 0:
			msi.address_lo = MSI_LO(1 + n % 2, 0, 0);
			break;
		case 1:
			msi.address_lo = MSI_LO(0xff, 0, 0);
			want_lo = want_hi = 4;
			break;
		case 2:
			msi.address_lo = MSI_LO(0, 0, 0);
			want_hi = 2;
			break;
		default:
			msi.address_lo = MSI_LO(0x6, 0, 1); /* logical, vCPUs 1 and 2 */
			want_lo = want_hi = 2;
			break;
		}
		msi.data = MSI_DATA(0x40 + n % 64, 0, 1, 0);
		r = virq_ioctl(rc->e.vm, KVM_SIGNAL_MSI, &msi);
		if (r < want_lo || r > want_hi)
			atomic_fetch_add(&rc->bad, 1);
	}
	return NULL;
}

static void test_signal_msi_while_remapping(void **state)
{
	static const struct vmcfg cfg = { 0, -1, 4, {
		{ 0, V_XAPIC, 0, 0x01000000, 0, 1 },
		{ 1, V_XAPIC, 1, 0x02000000, 0, 1 },
		{ 2, V_XAPIC, 2, 0x04000000, 0, 1 },
		{ 3, V_XAPIC, 3, 0x08000000, 0, 1 } } };
	static const uint32_t ids[] = { 3, 9, 0 };
	struct race rc;
	pthread_t th[3];
	int i;

	(void)state;
	env_setup(&rc.e, &cfg);
	atomic_init(&rc.stop, false);
	atomic_init(&rc.bad, 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_inject, &rc), 0);
	for (i = 0; i < 3000; i++)
		assert_int_equal(env_op(&rc.e, OP_SETID, 3, ids[i % 3]), 0);
	atomic_store(&rc.stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&rc.bad), 0);
	env_teardown(&rc.e);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_msi_decode_physical),
		cmocka_unit_test(test_msi_decode_fields),
		cmocka_unit_test(test_msi_decode_x2apic_format),
		cmocka_unit_test(test_msi_route_invalid),
		cmocka_unit_test(test_set_msi_errors),
		cmocka_unit_test(test_map_state_machine),
		cmocka_unit_test(test_map_rebuild_concurrent),
		cmocka_unit_test(test_signal_msi_while_remapping),
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t nscen = sizeof(scenarios) / sizeof(scenarios[0]);
	struct CMUnitTest *tests = calloc(nfixed + nscen, sizeof(*tests));
	size_t i;
	int r;

	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (i = 0; i < nscen; i++) {
		tests[nfixed + i].name = scenarios[i].name;
		tests[nfixed + i].test_func = run_scenario;
		tests[nfixed + i].initial_state = (void *)&scenarios[i];
	}
	r = _cmocka_run_group_tests("apic_bus", tests, nfixed + nscen, NULL, NULL);
	free(tests);
	return r;
}
