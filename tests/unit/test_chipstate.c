/* SPDX-License-Identifier: MIT */
/*
 * test_chipstate.c - the virq tool's chip-state module (tools/virq/
 * chipstate.c) against a VM built through virq's public API: reading,
 * path lookups and their errors, assignments to the same paths, diffs,
 * and that the printers run.
 *
 * With "--json" or "--print" the program prints the example state instead
 * of testing (the chipstate_json test feeds the JSON to python3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipstate.h"
#include "virq/virq.h"

enum mode { NONE, FULL, SPLIT };

static int vioctl(int fd, unsigned long req, void *arg)
{
	return virq_ioctl(fd, req, arg);
}

struct vmh {
	int sys, vm, v[2];
	uint32_t ids[2];
};

static void lapic_w(int vcpu, uint32_t off, uint32_t val)
{
	assert_int_equal(virq_lapic_write(vcpu, off, &val, 4), 0);
}

static void make_vm(struct vmh *h, enum mode mode)
{
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

	h->sys = virq_open(VIRQ_ARCH_X86);
	assert_true(h->sys >= VIRQ_HANDLE_BASE);
	h->vm = virq_ioctl(h->sys, KVM_CREATE_VM, 0);
	assert_true(h->vm >= VIRQ_HANDLE_BASE);
	if (mode == FULL)
		assert_int_equal(virq_ioctl(h->vm, KVM_CREATE_IRQCHIP), 0);
	if (mode == SPLIT)
		assert_int_equal(virq_ioctl(h->vm, KVM_ENABLE_CAP, &split), 0);
	for (int i = 0; i < 2; i++) {
		h->ids[i] = (uint32_t)i;
		h->v[i] = virq_ioctl(h->vm, KVM_CREATE_VCPU, i);
		assert_true(h->v[i] >= VIRQ_HANDLE_BASE);
		if (mode != NONE)
			lapic_w(h->v[i], 0xf0, 0x1ff); /* SVR: software-enabled */
	}
}

static void free_vm(struct vmh *h)
{
	for (int i = 0; i < 2; i++)
		assert_int_equal(virq_close(h->v[i]), 0);
	assert_int_equal(virq_close(h->vm), 0);
	assert_int_equal(virq_close(h->sys), 0);
}

static void ioapic_w(int vm, uint32_t reg, uint32_t val)
{
	assert_int_equal(virq_ioapic_write(vm, 0x00, &reg, 4), 0);
	assert_int_equal(virq_ioapic_write(vm, 0x10, &val, 4), 0);
}

static void irq_line(int vm, uint32_t irq, uint32_t level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE, &l), 0);
}

/*
 * The example: MSI vector 0x41 to vCPU 0; GSI 16 rerouted to an MSI
 * (vector 0x42, vCPU 1) and raised twice; IOAPIC pin 5 programmed level,
 * vector 0x50, to vCPU 1, and raised; the master PIC's IMR written 0xb8;
 * an NMI queued on vCPU 0.
 */
static void make_example(struct vmh *h)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x41 };
	struct kvm_irq_routing_entry e = {
		.gsi = 16,
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = 0xfee01000, .data = 0x42 },
	};
	uint8_t imr = 0xb8;

	make_vm(h, FULL);
	assert_int_equal(virq_ioctl(h->vm, KVM_SIGNAL_MSI, &msi), 1);
	assert_int_equal(virq_route_set(h->vm, 16, &e, 1), 0);
	irq_line(h->vm, 16, 1);
	irq_line(h->vm, 16, 0);
	irq_line(h->vm, 16, 1);
	ioapic_w(h->vm, 0x10 + 2 * 5 + 1, 1u << 24);      /* dest 1 */
	ioapic_w(h->vm, 0x10 + 2 * 5, 0x50 | (1u << 15)); /* level, vector 0x50 */
	irq_line(h->vm, 5, 1);
	assert_int_equal(virq_pio_write(h->vm, 0x21, &imr, 1), 0);
	assert_int_equal(virq_ioctl(h->v[0], KVM_NMI), 0);
}

static struct chipstate *read_state(const struct vmh *h, bool is_virq)
{
	struct chipstate *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(cs_read(s, vioctl, is_virq, h->vm, h->v, h->ids, 2), 0);
	return s;
}

static void drop_state(struct chipstate *s)
{
	cs_free(s);
	free(s);
}

/* @path looks up to @want as cs_value_str() prints it. */
static void check(const struct chipstate *s, const char *path, const char *want)
{
	struct cs_value v;
	char err[512], buf[256];

	err[0] = 0;
	if (cs_lookup(s, path, &v, err, sizeof(err))) {
		print_error("%s: %s\n", path, err);
		fail();
	}
	cs_value_str(&v, path, buf, sizeof(buf));
	if (strcmp(buf, want)) {
		print_error("%s: got %s, want %s\n", path, buf, want);
		fail();
	}
}

/* @path fails with a message that contains @want. */
static void check_err(const struct chipstate *s, const char *path, const char *want)
{
	struct cs_value v;
	char err[512];

	err[0] = 0;
	assert_int_equal(cs_lookup(s, path, &v, err, sizeof(err)), -1);
	if (!strstr(err, want)) {
		print_error("%s: error '%s' lacks '%s'\n", path, err, want);
		fail();
	}
}

static void test_lookup(void **state)
{
	struct vmh h;
	struct chipstate *s;

	(void)state;
	make_example(&h);
	s = read_state(&h, true);
	assert_true(s->have_pic);
	assert_true(s->have_ioapic);
	assert_true(s->have_routing);
	assert_int_equal(s->nvcpus, 2);

	check(s, "lapic[0].irr", "{0x41}");
	check(s, "lapic[0].isr", "{}");
	check(s, "lapic[1].irr", "{0x42, 0x50}");
	check(s, "lapic[0x1].tmr", "{0x50}");
	check(s, "lapic[0].svr", "0x1ff");
	check(s, "lapic[0].reg[0xf0]", "0x1ff");
	check(s, "lapic[0].reg[240]", "0x1ff");
	check(s, "lapic[1].id", "0x1000000");
	check(s, "lapic[0].apic_base", "0xfee00900");
	check(s, "lapic[1].apic_base", "0xfee00800");
	check(s, "lapic[0].lvt_lint0", "0x700"); /* the BSP's LINT0 is ExtINT */
	check(s, "lapic[1].lvt_lint0", "0x10000");
	check(s, "lapic[0].dfr", "0xffffffff");

	check(s, "ioapic.redir[5].vector", "0x50");
	check(s, "ioapic.redir[5].trig_mode", "1");
	check(s, "ioapic.redir[5].dest_id", "0x1");
	check(s, "ioapic.redir[5].remote_irr", "1");
	check(s, "ioapic.redir[5].mask", "0");
	check(s, "ioapic.redir[5].delivery_mode", "0");
	check(s, "ioapic.redir[5]", "0x10000000000c050");
	check(s, "ioapic.redir[0x5].raw", "0x10000000000c050");
	check(s, "ioapic.redir[6].mask", "1");
	check(s, "ioapic.irr", "0x20");
	check(s, "ioapic.base_address", "0xfec00000");

	check(s, "pic[0].imr", "0xb8");
	check(s, "pic[0].irq_base", "0x0");
	check(s, "pic[1].elcr", "0x0");

	check(s, "vcpu[0].nmi_pending", "1");
	check(s, "vcpu[1].nmi_pending", "0");

	check(s, "route[16].count", "1");
	check(s, "route[16][0].type", "2");
	check(s, "route[16][0].data", "0x42");
	check(s, "route[16][0].address_lo", "0xfee01000");
	check(s, "route[16][0].delivered", "2"); /* fixed MSIs never coalesce */
	check(s, "route[16][0].coalesced", "0");
	check(s, "route[16][0].masked", "0");
	check(s, "route[16][0].no_destination", "0");
	check(s, "route[5].count", "2");
	check(s, "route[40].count", "0");

	/* cs_value_str without a path prints hex; vector sets as sets. */
	{
		struct cs_value v = { .kind = CS_V_INT, .u = 12 };
		char buf[64];

		cs_value_str(&v, NULL, buf, sizeof(buf));
		assert_string_equal(buf, "0xc");
		cs_value_str(&v, "route[3][0].delivered", buf, sizeof(buf));
		assert_string_equal(buf, "12");
		cs_value_str(&v, "pic[0].irr", buf, sizeof(buf));
		assert_string_equal(buf, "0xc");
		v.kind = CS_V_VECSET;
		v.set[0] = 1;
		v.set[7] = 1u << 31;
		cs_value_str(&v, NULL, buf, sizeof(buf));
		assert_string_equal(buf, "{0x00, 0xff}");
		cs_value_str(&v, "lapic[0].irr", buf, 5);
		assert_string_equal(buf, "{0x0");
	}
	drop_state(s);
	free_vm(&h);
}

static void test_lookup_errors(void **state)
{
	struct vmh h;
	struct chipstate *s;
	struct cs_value v;

	(void)state;
	make_example(&h);
	s = read_state(&h, true);
	check_err(s, "lapic[7].tpr", "no vCPU with id 7");
	check_err(s, "vcpu[2].nmi_pending", "no vCPU with id 2");
	check_err(s, "lapic[0].foo", "unknown LAPIC register 'foo' (valid: id, version,");
	check_err(s, "lapic[0].foo", ", irr, isr, tmr, apic_base, reg[OFF])");
	check_err(s, "lapic[0].tpr.x", "unexpected '.x' after LAPIC register 'tpr'");
	check_err(s, "lapic[0].reg[0x81]",
		  "LAPIC register offset 0x81 is not a 4-byte aligned offset below 0x400");
	check_err(s, "lapic[0].reg[0x400]", "offset 0x400");
	check_err(s, "lapic[x].tpr", "bad path 'lapic[x].tpr'");
	check_err(s, "lapic[0]", "bad path");
	check_err(s, "lapic[-1].tpr", "bad path");
	check_err(s, "lapic[0x].tpr", "bad path");
	check_err(s, "ioapic.redir[24].vector", "no IOAPIC pin 24 (pins 0-23)");
	check_err(s, "ioapic.redir[3].bogus",
		  "unknown redirection entry field 'bogus' (valid: vector, delivery_mode,");
	check_err(s, "ioapic.nope",
		  "unknown IOAPIC field 'nope' (valid: id, base_address, ioregsel, irr, redir[N])");
	check_err(s, "pic[2].imr", "no PIC 2 (0 is the master, 1 the slave)");
	check_err(s, "pic[0].imrx", "unknown PIC field 'imrx'");
	check_err(s, "vcpu[0].nmi", "unknown vCPU event field 'nmi' (valid: exception_injected,");
	check_err(s, "bogus.x", "unknown path 'bogus.x' (valid: pic[N].<field>");
	check_err(s, "", "unknown path ''");
	check_err(s, "route[16][3].delivered", "GSI 16 has 1 route: no route[16][3]");
	check_err(s, "route[16][0].pin", "route[16][0] is an msi route: it has no 'pin'");
	check_err(s, "route[16].counts", "unknown route field 'counts'");
	check_err(s, "route[16][0].bogus", "unknown route field 'bogus' (valid: type, flags,");
	/* Random paths made of path pieces: no crash, an answer or a message. */
	{
		static const char *const pieces[] = {
			"pic", "ioapic", "lapic", "vcpu", "route", "redir", "reg", "irr", "tpr", "count",
			"delivered", "vector", "[", "]", ".", "0", "1", "0x", "f", "16",
			"99999999999999999999", "-", "", " ", "[0]", "[0x80]",
		};
		unsigned seed = 12345;
		char path[128], err[64], buf[64];

		for (int i = 0; i < 20000; i++) {
			size_t len = 0;
			int n = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 7;

			path[0] = 0;
			while (n--) {
				const char *pc = pieces[((seed = seed * 1103515245 + 12345) >> 16) %
							(sizeof(pieces) / sizeof(pieces[0]))];

				if (len + strlen(pc) < sizeof(path)) {
					memcpy(path + len, pc, strlen(pc) + 1);
					len += strlen(pc);
				}
			}
			err[0] = 0;
			if (cs_lookup(s, path, &v, err, sizeof(err)))
				assert_true(err[0] != 0);
			else
				cs_value_str(&v, path, buf, sizeof(buf));
		}
	}
	/* A short error buffer is truncated, not overrun. */
	{
		char err[8];

		assert_int_equal(cs_lookup(s, "lapic[7].tpr", &v, err, sizeof(err)), -1);
		assert_string_equal(err, "no vCPU");
	}
	drop_state(s);
	free_vm(&h);

	/* Split irqchip: no PIC, no IOAPIC; the LAPICs are there. */
	make_vm(&h, SPLIT);
	s = read_state(&h, true);
	assert_false(s->have_pic);
	assert_false(s->have_ioapic);
	check_err(s, "ioapic.irr", "no IOAPIC in this VM");
	check_err(s, "ioapic.redir[0].mask", "no IOAPIC in this VM");
	check_err(s, "pic[0].imr", "no PIC in this VM");
	check(s, "lapic[1].svr", "0x1ff");
	drop_state(s);
	free_vm(&h);

	/* No irqchip: no LAPIC state; the kernel's face has no routing table. */
	make_vm(&h, NONE);
	s = read_state(&h, false);
	assert_false(s->have_routing);
	check_err(s, "lapic[0].tpr", "vCPU 0 has no LAPIC state");
	check(s, "lapic[0].apic_base", "0xfee00900");
	check(s, "vcpu[1].nmi_masked", "0");
	check_err(s, "route[0].count", "no routing table (only virq can read it back)");
	drop_state(s);
	free_vm(&h);
}

static void set_int(struct cs_value *v, uint64_t u)
{
	memset(v, 0, sizeof(*v));
	v->kind = CS_V_INT;
	v->u = u;
}

/* Assign @u to @path, then look it up as @want. */
static void assign_int(struct chipstate *s, const char *path, uint64_t u, const char *want)
{
	struct cs_value v;
	char err[512];

	set_int(&v, u);
	err[0] = 0;
	if (cs_assign(s, path, &v, err, sizeof(err))) {
		print_error("assign %s: %s\n", path, err);
		fail();
	}
	check(s, path, want);
}

/* Assigning @v to @path fails with a message containing @want and leaves
 * the state as it was. */
static void assign_err(struct chipstate *s, const char *path, const struct cs_value *v, const char *want)
{
	struct chipstate *before = calloc(1, sizeof(*before));
	char err[512];

	assert_non_null(before);
	assert_int_equal(cs_dup(before, s), 0);
	err[0] = 0;
	assert_int_equal(cs_assign(s, path, v, err, sizeof(err)), -1);
	if (!strstr(err, want)) {
		print_error("assign %s: error '%s' lacks '%s'\n", path, err, want);
		fail();
	}
	assert_memory_equal(before->pic, s->pic, sizeof(s->pic));
	assert_memory_equal(&before->ioapic, &s->ioapic, sizeof(s->ioapic));
	assert_memory_equal(before->vcpu, s->vcpu, sizeof(s->vcpu));
	drop_state(before);
}

static void test_assign(void **state)
{
	struct vmh h;
	struct chipstate *s;
	struct cs_value v;

	(void)state;
	make_example(&h);
	s = read_state(&h, true);

	/* PIC fields: bytes. */
	assign_int(s, "pic[0].imr", 0x12, "0x12");
	assign_int(s, "pic[1].irq_base", 0x70, "0x70");
	assign_int(s, "pic[1].init4", 1, "1");
	assign_int(s, "pic[0].elcr", 0xff, "0xff");
	check(s, "pic[1].imr", "0x0"); /* the other PIC untouched */

	/* IOAPIC fields, the 64-bit entry, and bit fields within it. */
	assign_int(s, "ioapic.id", 0x2, "0x2");
	assign_int(s, "ioapic.irr", 0x00ffffff, "0xffffff");
	assign_int(s, "ioapic.ioregsel", 0x11, "0x11");
	assign_int(s, "ioapic.base_address", 0x1fec00000ull, "0x1fec00000");
	assign_int(s, "ioapic.redir[7]", 0xff0000000001c041ull, "0xff0000000001c041");
	check(s, "ioapic.redir[7].mask", "1");
	check(s, "ioapic.redir[7].dest_id", "0xff");
	assign_int(s, "ioapic.redir[7].vector", 0x55, "0x55");
	assign_int(s, "ioapic.redir[7].mask", 0, "0");
	assign_int(s, "ioapic.redir[7].dest_id", 0x3, "0x3");
	assign_int(s, "ioapic.redir[7].delivery_mode", 7, "7");
	assign_int(s, "ioapic.redir[7].remote_irr", 0, "0");
	check(s, "ioapic.redir[7]", "0x300000000008755");
	assign_int(s, "ioapic.redir[0x7].raw", 0x10000, "0x10000");
	check(s, "ioapic.redir[6]", "0x10000"); /* its neighbours untouched */
	check(s, "ioapic.redir[8]", "0x10000");

	/* LAPIC registers: 32-bit words at their offsets. */
	assign_int(s, "lapic[1].tpr", 0x20, "0x20");
	check(s, "lapic[1].reg[0x80]", "0x20");
	check(s, "lapic[0].tpr", "0x0"); /* the other vCPU untouched */
	assign_int(s, "lapic[1].reg[0x3e0]", 0xb, "0xb");
	check(s, "lapic[1].tdcr", "0xb");
	assign_int(s, "lapic[0].ldr", 0xffffffff, "0xffffffff");
	check(s, "lapic[0].dfr", "0xffffffff");
	check(s, "lapic[0].svr", "0x1ff");
	assign_int(s, "lapic[0].eoi", 0, "0x0");

	/* Vector sets: eight words 16 bytes apart. */
	memset(&v, 0, sizeof(v));
	v.kind = CS_V_VECSET;
	v.set[2] = 1u << 0;   /* 0x40 */
	v.set[7] = 1u << 31;  /* 0xff */
	assert_int_equal(cs_assign(s, "lapic[0].irr", &v, NULL, 0), 0);
	check(s, "lapic[0].irr", "{0x40, 0xff}");
	check(s, "lapic[0].reg[0x220]", "0x1");
	check(s, "lapic[0].reg[0x270]", "0x80000000");
	assert_int_equal(cs_assign(s, "lapic[1].isr", &v, NULL, 0), 0);
	check(s, "lapic[1].isr", "{0x40, 0xff}");
	memset(v.set, 0, sizeof(v.set));
	assert_int_equal(cs_assign(s, "lapic[1].tmr", &v, NULL, 0), 0);
	check(s, "lapic[1].tmr", "{}");
	check(s, "lapic[1].irr", "{0x42, 0x50}");
	drop_state(s);
	free_vm(&h);

	/* What KVM_SET_LAPIC in a scenario builds: one vCPU, its LAPIC only. */
	{
		struct chipstate *one = calloc(1, sizeof(*one));

		assert_non_null(one);
		one->nvcpus = 1;
		one->vcpu[0].id = 5;
		one->vcpu[0].have_lapic = true;
		assign_int(one, "lapic[5].svr", 0x1ff, "0x1ff");
		set_int(&v, 1);
		assign_err(one, "lapic[0].svr", &v, "no vCPU with id 0");
		assign_err(one, "pic[0].imr", &v, "no PIC in this VM");
		assign_err(one, "ioapic.redir[1].mask", &v, "no IOAPIC in this VM");
		free(one);
	}

	/* The names of LAPIC offsets, for MMIO annotations. */
	assert_string_equal(cs_lapic_reg_name(0xf0), "svr");
	assert_string_equal(cs_lapic_reg_name(0x20), "id");
	assert_string_equal(cs_lapic_reg_name(0xb0), "eoi");
	assert_string_equal(cs_lapic_reg_name(0x3e0), "tdcr");
	assert_string_equal(cs_lapic_reg_name(0x100), "isr");
	assert_string_equal(cs_lapic_reg_name(0x170), "isr");
	assert_string_equal(cs_lapic_reg_name(0x270), "irr");
	assert_string_equal(cs_lapic_reg_name(0x280), "esr");
	assert_null(cs_lapic_reg_name(0x10));
	assert_null(cs_lapic_reg_name(0x108));
	assert_null(cs_lapic_reg_name(0x3f0));
	assert_null(cs_lapic_reg_name(0x400));
	assert_null(cs_lapic_reg_name(UINT32_MAX));
}

static void test_assign_errors(void **state)
{
	struct vmh h;
	struct chipstate *s;
	struct cs_value n, set;

	(void)state;
	make_example(&h);
	s = read_state(&h, true);
	set_int(&n, 1);
	memset(&set, 0, sizeof(set));
	set.kind = CS_V_VECSET;
	set.set[2] = 1;

	/* Read-only paths. */
	assign_err(s, "lapic[0].apic_base", &n, "lapic[0].apic_base is read-only (the IA32_APIC_BASE MSR");
	assign_err(s, "vcpu[0].nmi_pending", &n, "vcpu[0].nmi_pending is read-only (vCPU events; writable: "
						 "pic[N].<field>, ioapic.<field>, ioapic.redir[N][.<field>], "
						 "lapic[ID].<reg>)");
	assign_err(s, "route[16][0].data", &n, "route[16][0].data is read-only (the routing table;");
	assign_err(s, "route[16][0].delivered", &n, "is read-only");
	assign_err(s, "route[16].count", &n, "route[16].count is read-only");

	/* Unknown names and places: cs_lookup's messages. */
	assign_err(s, "lapic[0].foo", &n, "unknown LAPIC register 'foo' (valid: id, version,");
	assign_err(s, "pic[0].redir[3]", &n, "unknown PIC field 'redir[3]' (valid: irr, imr,");
	assign_err(s, "ioapic.nope", &n, "unknown IOAPIC field 'nope' (valid: id, base_address, ioregsel, "
					 "irr, redir[N])");
	assign_err(s, "ioapic.redir[3].bogus", &n, "unknown redirection entry field 'bogus' (valid: vector,");
	assign_err(s, "bogus.x", &n, "unknown path 'bogus.x' (valid: pic[N].<field>");
	assign_err(s, "lapic[7].tpr", &n, "no vCPU with id 7");
	assign_err(s, "pic[2].imr", &n, "no PIC 2 (0 is the master, 1 the slave)");
	assign_err(s, "ioapic.redir[24]", &n, "no IOAPIC pin 24 (pins 0-23)");
	assign_err(s, "lapic[0].reg[0x81]", &n, "not a 4-byte aligned offset below 0x400");

	/* Kinds and widths. */
	assign_err(s, "lapic[0].irr", &n, "lapic[0].irr is a vector set: {0x40, 0x41} or {}");
	assign_err(s, "lapic[0].tpr", &set, "lapic[0].tpr is a number, not a vector set");
	assign_err(s, "ioapic.redir[3]", &set, "is a number, not a vector set");
	set_int(&n, 0x100);
	assign_err(s, "pic[0].imr", &n, "0x100 does not fit pic[0].imr (8 bits: at most 0xff)");
	set_int(&n, 8);
	assign_err(s, "ioapic.redir[3].delivery_mode", &n,
		   "0x8 does not fit ioapic.redir[3].delivery_mode (3 bits: at most 0x7)");
	set_int(&n, 2);
	assign_err(s, "ioapic.redir[3].mask", &n, "(1 bits: at most 0x1)");
	set_int(&n, 0x100000000ull);
	assign_err(s, "lapic[0].svr", &n, "does not fit lapic[0].svr (32 bits");
	assign_err(s, "ioapic.irr", &n, "does not fit ioapic.irr (32 bits");
	set_int(&n, UINT64_MAX); /* a 64-bit field takes anything */
	assert_int_equal(cs_assign(s, "ioapic.redir[3]", &n, NULL, 0), 0);
	check(s, "ioapic.redir[3]", "0xffffffffffffffff");

	/* A short error buffer is truncated, not overrun. */
	{
		char err[8];

		set_int(&n, 1);
		assert_int_equal(cs_assign(s, "vcpu[0].nmi_pending", &n, err, sizeof(err)), -1);
		assert_string_equal(err, "vcpu[0]");
	}
	drop_state(s);
	free_vm(&h);

	/* Split irqchip: no PIC, no IOAPIC.  No irqchip: no LAPIC state. */
	make_vm(&h, SPLIT);
	s = read_state(&h, true);
	set_int(&n, 1);
	assign_err(s, "ioapic.id", &n, "no IOAPIC in this VM");
	assign_err(s, "pic[1].imr", &n, "no PIC in this VM");
	assign_int(s, "lapic[1].tpr", 0x10, "0x10");
	drop_state(s);
	free_vm(&h);
	make_vm(&h, NONE);
	s = read_state(&h, false);
	assign_err(s, "lapic[0].tpr", &n, "vCPU 0 has no LAPIC state");
	drop_state(s);
	free_vm(&h);
}

/* cs_diff()'s output and line count. */
static char *diff_text(const struct chipstate *a, const struct chipstate *b, unsigned what, int *n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	*n = cs_diff(f, a, "kernel", b, "virq", what);
	fclose(f);
	return text;
}

static void check_diff(const struct chipstate *a, const struct chipstate *b, unsigned what, const char *want,
		       int nwant)
{
	int n;
	char *text = diff_text(a, b, what, &n);

	if (strcmp(text, want)) {
		print_error("diff:\n%s---- want:\n%s", text, want);
		fail();
	}
	assert_int_equal(n, nwant);
	free(text);
}

static void test_diff(void **state)
{
	struct vmh h;
	struct chipstate *a, *b;
	int i;

	(void)state;
	make_example(&h);
	a = read_state(&h, true);
	b = calloc(1, sizeof(*b));
	assert_non_null(b);
	assert_int_equal(cs_dup(b, a), 0);
	assert_true(b->routes != a->routes);
	check_diff(a, b, CS_ALL, "", 0);

	b->pic[0].imr = 0xff;
	b->ioapic.redirtbl[5].fields.remote_irr = 0;
	b->ioapic.redirtbl[5].fields.vector = 0x51;
	b->ioapic.redirtbl[7].bits |= 1ull << 20; /* reserved bit only */
	b->vcpu[0].lapic.regs[0x220] = 0;        /* IRR 0x41 gone */
	b->vcpu[1].lapic.regs[0x390] = 0x55;     /* TMCCT: not compared */
	b->vcpu[1].lapic.regs[0x80] = 0x20;      /* TPR */
	b->vcpu[0].events.nmi.pending = 0;
	b->vcpu[1].apic_base = 0xfee00c00;
	for (i = 0; i < (int)b->nroutes && b->routes[i].e.gsi != 16; i++)
		;
	assert_true(i < (int)b->nroutes);
	b->routes[i].st.delivered = 5;
	b->routes[i].e.u.msi.data = 0x43;

	check_diff(a, b, CS_ALL,
		   "  pic[0].imr: kernel 0xb8  virq 0xff\n"
		   "  ioapic.redir[5].vector: kernel 0x50  virq 0x51\n"
		   "  ioapic.redir[5].remote_irr: kernel 1  virq 0\n"
		   "  ioapic.redir[7]: kernel 0x10000  virq 0x110000\n"
		   "  lapic[0].irr: kernel {0x41}  virq {}\n"
		   "  vcpu[0].nmi_pending: kernel 1  virq 0\n"
		   "  lapic[1].tpr: kernel 0x0  virq 0x20\n"
		   "  lapic[1].apic_base: kernel 0xfee00800  virq 0xfee00c00\n"
		   "  route[16][0].data: kernel 0x42  virq 0x43\n"
		   "  route[16][0].delivered: kernel 2  virq 5\n",
		   10);
	check_diff(a, b, CS_PIC | CS_IOAPIC,
		   "  pic[0].imr: kernel 0xb8  virq 0xff\n"
		   "  ioapic.redir[5].vector: kernel 0x50  virq 0x51\n"
		   "  ioapic.redir[5].remote_irr: kernel 1  virq 0\n"
		   "  ioapic.redir[7]: kernel 0x10000  virq 0x110000\n",
		   4);
	/* Vector sets on both sides. */
	b->vcpu[0].lapic.regs[0x220] = 0x6;      /* 0x41, 0x42 */
	b->vcpu[0].lapic.regs[0x270 + 3] = 0x80; /* 0xff */
	check_diff(a, b, CS_LAPIC,
		   "  lapic[0].irr: kernel {0x41}  virq {0x41, 0x42, 0xff}\n"
		   "  vcpu[0].nmi_pending: kernel 1  virq 0\n"
		   "  lapic[1].tpr: kernel 0x0  virq 0x20\n"
		   "  lapic[1].apic_base: kernel 0xfee00800  virq 0xfee00c00\n",
		   4);

	/* Presence: chips, vCPUs, routes. */
	drop_state(b);
	b = calloc(1, sizeof(*b));
	assert_non_null(b);
	assert_int_equal(cs_dup(b, a), 0);
	b->have_ioapic = false;
	b->vcpu[1].id = 3;
	b->vcpu[0].have_events = false;
	b->routes[0].e.u.irqchip.pin ^= 1;
	b->nroutes--; /* the last GSI (23) loses its route */
	check_diff(a, b, CS_ALL,
		   "  ioapic: kernel present  virq absent\n"
		   "  vcpu[0].events: kernel present  virq absent\n"
		   "  vcpu[1]: kernel present  virq absent\n"
		   "  vcpu[3]: kernel absent  virq present\n"
		   "  route[0][0].pin: kernel 0  virq 1\n"
		   "  route[23].count: kernel 1  virq 0\n",
		   6);
	/* Routing is compared only if both have it. */
	b->have_routing = false;
	check_diff(a, b, CS_ROUTING, "", 0);
	drop_state(b);
	drop_state(a);
	free_vm(&h);
}

static char *print_text(const struct chipstate *s, unsigned what, bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	if (json)
		cs_print_json(f, s, what);
	else
		cs_print(f, s, what);
	fclose(f);
	return text;
}

static void test_print(void **state)
{
	struct vmh h;
	struct chipstate *s;
	char *t;

	(void)state;
	make_example(&h);
	s = read_state(&h, true);
	t = print_text(s, CS_ALL, false);
	assert_non_null(strstr(t, "PIC master  irr 0x20 imr 0xb8 isr 0x00"));
	assert_non_null(strstr(t, "\nIOAPIC  id 0x0 base_address 0xfec00000 ioregsel 0x"));
	assert_non_null(strstr(t, "\n  pin  vector  mode   destmode  dest  trig   pol   mask  rirr  ds  raw\n"
				  "  5    0x50    fixed  phys      0x01  level  high  -     1     -   "
				  "0x010000000000c050\n"
				  "  (23 masked pins at reset value not shown: 0-4, 6-23)\n"));
	assert_non_null(strstr(t, "(23 masked pins at reset value not shown: 0-4, 6-23)"));
	assert_non_null(strstr(t, "\nvCPU 0  apic id 0  apic_base 0xfee00900 (enabled, BSP, xAPIC)\n"));
	assert_non_null(strstr(t, "\nvCPU 1  apic id 1  apic_base 0xfee00800 (enabled, xAPIC)\n"));
	assert_non_null(strstr(t, "\n  irr {0x42, 0x50}  isr {}  tmr {0x50}\n"));
	assert_non_null(strstr(t, "\n  events nmi_pending 1\n"));
	assert_non_null(strstr(t, "\n  events none\n"));
	assert_non_null(strstr(t, "addr 0xfee01000 data 0x42 (dest phys 0x01 vec 0x42 fixed edge)  2  "));
	free(t);
	t = print_text(s, CS_PIC, false);
	assert_null(strstr(t, "IOAPIC"));
	free(t);
	t = print_text(s, CS_ALL, true);
	assert_true(t[0] == '{');
	assert_non_null(strstr(t, "\"irr\": [66, 80]"));
	assert_non_null(strstr(t, "\"raw\": \"0x010000000000c050\""));
	free(t);

	/* x2APIC: the ID register holds the whole id; MSI address_hi holds
	 * destination bits 8-31. */
	{
		struct chipstate *x = calloc(1, sizeof(*x));
		uint32_t id = 0x105;

		assert_non_null(x);
		assert_int_equal(cs_dup(x, s), 0);
		x->vcpu[1].apic_base |= 1u << 10;
		memcpy(x->vcpu[1].lapic.regs + 0x20, &id, 4);
		for (uint32_t i = 0; i < x->nroutes; i++)
			if (x->routes[i].e.gsi == 16)
				x->routes[i].e.u.msi.address_hi = 0x100;
		t = print_text(x, CS_LAPIC | CS_ROUTING, false);
		assert_non_null(strstr(t, "\nvCPU 1  apic id 261  apic_base 0xfee00c00 (enabled, x2APIC)\n"));
		assert_non_null(strstr(t, "  16     msi      addr 0x00000100:fee01000 data 0x42 "
					  "(dest phys 0x101 x2APIC vec 0x42 fixed edge)  2  "));
		free(t);
		check(x, "lapic[1].id", "0x105");
		drop_state(x);
	}

	/* Runs of GSIs with KVM_CREATE_IRQCHIP's routes and no traffic take
	 * one line; the JSON keeps every route. */
	t = print_text(s, CS_ROUTING, false);
	assert_non_null(strstr(t, "Routing (40 routes)\n"
				  "  gsi    type     target  "));
	assert_non_null(strstr(t, "\n  0-4    default  PIC + IOAPIC (KVM_CREATE_IRQCHIP's routes, no traffic)\n"
				  "  5[0]   irqchip  IOAPIC pin 5  "));
	assert_non_null(strstr(t, "\n  5[1]   irqchip  PIC master pin 5  "));
	assert_non_null(strstr(t, "\n  6-15   default  PIC + IOAPIC (KVM_CREATE_IRQCHIP's routes, no traffic)\n"
				  "  16     msi      addr 0xfee01000 "));
	assert_non_null(strstr(t, "\n  17-23  default  IOAPIC (KVM_CREATE_IRQCHIP's routes, no traffic)\n"));
	assert_null(strstr(t, "IOAPIC pin 6"));
	free(t);
	t = print_text(s, CS_ROUTING, true);
	{
		int n = 0;

		for (const char *p = t; (p = strstr(p, "\"gsi\": ")); p++)
			n++;
		assert_int_equal(n, 40);
	}
	free(t);
	/* Not collapsed: a route changed, counters unknown, a single GSI. */
	{
		struct chipstate *x = calloc(1, sizeof(*x));

		assert_non_null(x);
		assert_int_equal(cs_dup(x, s), 0);
		for (uint32_t i = 0; i < x->nroutes; i++) {
			struct cs_route *r = &x->routes[i];

			if (r->e.gsi == 2 && r->e.u.irqchip.irqchip == KVM_IRQCHIP_PIC_MASTER)
				r->e.u.irqchip.pin = 0; /* PIC pin 0 for GSI 2 */
			if (r->e.gsi == 9)
				r->have_stats = false;
			if (r->e.gsi == 19)
				r->e.flags = 1;
		}
		t = print_text(x, CS_ROUTING, false);
		assert_non_null(strstr(t, "\n  0-1    default  PIC + IOAPIC (KVM_CREATE_IRQCHIP's routes, no "
					  "traffic)\n  2[0]   irqchip  IOAPIC pin 2 "));
		assert_non_null(strstr(t, "\n  2[1]   irqchip  PIC master pin 0 "));
		assert_non_null(strstr(t, "\n  3-4    default  PIC + IOAPIC"));
		assert_non_null(strstr(t, "\n  6-8    default  PIC + IOAPIC"));
		assert_non_null(strstr(t, "\n  9[1]   irqchip  PIC slave pin 1   "));
		assert_non_null(strstr(t, "\n  10-15  default  PIC + IOAPIC"));
		assert_non_null(strstr(t, "\n  17-18  default  IOAPIC (KVM_CREATE_IRQCHIP's routes, no traffic)\n"
					  "  19     irqchip  IOAPIC pin 19 "));
		assert_non_null(strstr(t, "\n  20-23  default  IOAPIC"));
		free(t);
		drop_state(x);
	}
	drop_state(s);
	free_vm(&h);

	/* Just KVM_CREATE_IRQCHIP: two lines. */
	make_vm(&h, FULL);
	s = read_state(&h, true);
	t = print_text(s, CS_ROUTING, false);
	assert_string_equal(t, "Routing (40 routes)\n"
			       "  gsi    type     target  delivered  coalesced  masked  no_dest\n"
			       "  0-15   default  PIC + IOAPIC (KVM_CREATE_IRQCHIP's routes, no traffic)\n"
			       "  16-23  default  IOAPIC (KVM_CREATE_IRQCHIP's routes, no traffic)\n");
	free(t);
	drop_state(s);
	free_vm(&h);

	/* Absent parts print as such. */
	make_vm(&h, NONE);
	s = read_state(&h, false);
	t = print_text(s, CS_ALL, false);
	assert_non_null(strstr(t, "PIC  absent"));
	assert_non_null(strstr(t, "IOAPIC  absent"));
	assert_non_null(strstr(t, "vCPU 0  no LAPIC  apic_base 0xfee00900 (enabled, BSP, xAPIC)\n"));
	assert_non_null(strstr(t, "Routing  not available"));
	free(t);
	t = print_text(s, CS_ALL, true);
	assert_non_null(strstr(t, "\"pic\": null"));
	assert_non_null(strstr(t, "\"routing\": null"));
	free(t);
	drop_state(s);
	free_vm(&h);
}

static void test_parse_what(void **state)
{
	unsigned w = 0;

	(void)state;
	assert_int_equal(cs_parse_what("all", &w), 0);
	assert_int_equal(w, CS_ALL);
	assert_int_equal(cs_parse_what("pic,lapic", &w), 0);
	assert_int_equal(w, CS_PIC | CS_LAPIC);
	assert_int_equal(cs_parse_what("routing", &w), 0);
	assert_int_equal(w, CS_ROUTING);
	assert_int_equal(cs_parse_what("ioapic,ioapic", &w), 0);
	assert_int_equal(w, CS_IOAPIC);
	w = 77;
	assert_int_equal(cs_parse_what("pic,", &w), -1);
	assert_int_equal(cs_parse_what("", &w), -1);
	assert_int_equal(cs_parse_what("pics", &w), -1);
	assert_int_equal(cs_parse_what(",pic", &w), -1);
	assert_int_equal(w, 77);
}

/* --json / --print: the example state, for python3 and for eyes. */
static int dump(bool json)
{
	struct vmh h;
	struct chipstate *s;

	make_example(&h);
	s = read_state(&h, true);
	if (json)
		cs_print_json(stdout, s, CS_ALL);
	else
		cs_print(stdout, s, CS_ALL);
	drop_state(s);
	free_vm(&h);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_lookup_errors),
		cmocka_unit_test(test_assign),
		cmocka_unit_test(test_assign_errors),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_parse_what),
	};

	if (argc > 1 && !strcmp(argv[1], "--json"))
		return dump(true);
	if (argc > 1 && !strcmp(argv[1], "--print"))
		return dump(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
