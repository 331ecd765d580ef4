/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - trace events: the sequence of events and their text for
 * KVM_IRQ_LINE, KVM_SIGNAL_MSI, PIC lines, a guest EOI of a level vector
 * and IPIs, compared with what the kernel prints for the same operations.
 *
 * The expected lines are "name: text" exactly as /sys/kernel/tracing/trace
 * shows them on Linux 6.18.  The IRQ_LINE, MSI and PIC sequences were
 * checked against /dev/kvm with tracefs on the build machine (the same
 * ioctls, the same redirection entries); the EOI and IPI sequences follow
 * the kernel's call order (apic_set_eoi, kvm_ioapic_update_eoi_one,
 * kvm_apic_send_ipi) and its TP_printk formats.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "virq/virq.h"
#include "virq/virq-trace.h"

/* ---- recording callback ------------------------------------------------------ */

#define MAX_REC 64

static struct {
	int n;
	char line[MAX_REC][160];
	int32_t vcpu[MAX_REC];
	int vm_fd[MAX_REC];
} rec;

static void record(void *opaque, const struct virq_trace_event *ev)
{
	char text[128];

	(void)opaque;
	if (rec.n >= MAX_REC)
		return;
	assert_true(virq_trace_format(ev, text, sizeof(text)) > 0);
	snprintf(rec.line[rec.n], sizeof(rec.line[0]), "%s: %s", virq_trace_name(ev->id), text);
	rec.vcpu[rec.n] = ev->vcpu_id;
	rec.vm_fd[rec.n] = ev->vm_fd;
	rec.n++;
}

static void rec_clear(void)
{
	memset(&rec, 0, sizeof(rec));
}

/* The recorded lines are exactly @want (NULL-terminated). */
static void expect(const char *const *want)
{
	int n = 0;

	for (; want[n]; n++) {
		if (n >= rec.n)
			fail_msg("event %d missing: want \"%s\"", n, want[n]);
		if (strcmp(rec.line[n], want[n]))
			fail_msg("event %d: got \"%s\", want \"%s\"", n, rec.line[n], want[n]);
	}
	if (rec.n != n)
		fail_msg("%d extra events, first \"%s\"", rec.n - n, rec.line[n]);
	rec_clear();
}

/* ---- a VM: full irqchip, two vCPUs with enabled LAPICs (flat logical ids 1, 2) --- */

struct vmh {
	int sys, vm, v[2];
};

static void lapic_w(int vcpu, uint32_t reg, uint32_t val)
{
	assert_int_equal(virq_lapic_write(vcpu, reg, &val, 4), 0);
}

static void rte(int vm, unsigned pin, uint64_t bits)
{
	uint32_t sel = 0x10 + 2 * pin, lo = (uint32_t)bits, hi = (uint32_t)(bits >> 32);

	assert_int_equal(virq_ioapic_write(vm, 0x00, &sel, 4), 0);
	assert_int_equal(virq_ioapic_write(vm, 0x10, &lo, 4), 0);
	sel++;
	assert_int_equal(virq_ioapic_write(vm, 0x00, &sel, 4), 0);
	assert_int_equal(virq_ioapic_write(vm, 0x10, &hi, 4), 0);
}

static void make_vm(struct vmh *h, bool x2apic_ids)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X2APIC_API, .args = { KVM_X2APIC_API_USE_32BIT_IDS } };

	h->sys = virq_open(VIRQ_ARCH_X86);
	h->vm = virq_ioctl(h->sys, KVM_CREATE_VM, 0);
	assert_true(h->vm >= VIRQ_HANDLE_BASE);
	assert_int_equal(virq_vm_set_trace_fn(h->vm, record, NULL), 0);
	if (x2apic_ids)
		assert_int_equal(virq_ioctl(h->vm, KVM_ENABLE_CAP, &cap), 0);
	assert_int_equal(virq_ioctl(h->vm, KVM_CREATE_IRQCHIP), 0);
	for (int i = 0; i < 2; i++) {
		h->v[i] = virq_ioctl(h->vm, KVM_CREATE_VCPU, i);
		assert_true(h->v[i] >= VIRQ_HANDLE_BASE);
		lapic_w(h->v[i], 0xf0, 0x1ff);          /* SPIV: software-enabled */
		lapic_w(h->v[i], 0xd0, (1u << i) << 24); /* LDR: flat logical id */
	}
	rte(h->vm, 16, 0x40ull | 1ull << 56);                               /* edge -> APIC 1 */
	rte(h->vm, 17, 0x41ull | 1u << 15);                                 /* level -> APIC 0 */
	rte(h->vm, 18, 0x42ull | 1u << 11 | 1u << 8 | 3ull << 56);          /* logical lowest */
	rte(h->vm, 19, 0x43ull | 1u << 16);                                 /* masked */
	rec_clear();
}

static void free_vm(struct vmh *h)
{
	assert_int_equal(virq_vm_set_trace_fn(h->vm, NULL, NULL), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(virq_close(h->v[i]), 0);
	assert_int_equal(virq_close(h->vm), 0);
	assert_int_equal(virq_close(h->sys), 0);
}

static void line(int vm, uint32_t gsi, uint32_t level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE, &l), 0);
}

/* ---- sequences ------------------------------------------------------------------- */

static void test_irq_line_ioapic(void **state)
{
	struct vmh h;

	(void)state;
	make_vm(&h, false);
	line(h.vm, 16, 1);
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.vcpu[0], -1);
	assert_int_equal(rec.vcpu[1], 1); /* the LAPIC that accepted */
	assert_int_equal(rec.vm_fd[1], h.vm);
	expect((const char *const[]){
		"kvm_set_irq: gsi 16 level 1 source 0",
		"kvm_apic_accept_irq: apicid 1 vec 64 (Fixed|edge)",
		"kvm_ioapic_set_irq: pin 16 dst 1 vec 64 (Fixed|physical|edge)",
		NULL });
	line(h.vm, 16, 0);
	expect((const char *const[]){
		"kvm_set_irq: gsi 16 level 0 source 0",
		"kvm_ioapic_set_irq: pin 16 dst 1 vec 64 (Fixed|physical|edge)",
		NULL });
	/* Raised twice without an acknowledgement: the second is coalesced. */
	line(h.vm, 16, 1);
	line(h.vm, 16, 1);
	expect((const char *const[]){
		"kvm_set_irq: gsi 16 level 1 source 0",
		"kvm_apic_accept_irq: apicid 1 vec 64 (Fixed|edge)",
		"kvm_ioapic_set_irq: pin 16 dst 1 vec 64 (Fixed|physical|edge)",
		"kvm_set_irq: gsi 16 level 1 source 0",
		"kvm_ioapic_set_irq: pin 16 dst 1 vec 64 (Fixed|physical|edge) (coalesced)",
		NULL });
	/* Logical lowest priority: the kernel picks APIC 0. */
	line(h.vm, 18, 1);
	expect((const char *const[]){
		"kvm_set_irq: gsi 18 level 1 source 0",
		"kvm_apic_accept_irq: apicid 0 vec 66 (LowPrio|edge)",
		"kvm_ioapic_set_irq: pin 18 dst 3 vec 66 (LowPrio|logical|edge)",
		NULL });
	line(h.vm, 19, 1);
	expect((const char *const[]){
		"kvm_set_irq: gsi 19 level 1 source 0",
		"kvm_ioapic_set_irq: pin 19 dst 0 vec 67 (Fixed|physical|edge|masked)",
		NULL });
	/* The vCPU takes the interrupt: the kernel's injection event. */
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[1]), 0x40);
	assert_int_equal(rec.vcpu[0], 1);
	expect((const char *const[]){ "kvm_inj_virq: IRQ 0x40", NULL });
	free_vm(&h);
}

static void test_signal_msi(void **state)
{
	struct vmh h;
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x31 };
	/* Logical destination 3, redirection hint, level, lowest priority. */
	struct kvm_msi lowest = { .address_lo = 0xfee0300c, .data = 0xc132 };

	(void)state;
	make_vm(&h, false);
	assert_int_equal(virq_ioctl(h.vm, KVM_SIGNAL_MSI, &msi), 1);
	assert_int_equal(virq_ioctl(h.vm, KVM_SIGNAL_MSI, &lowest), 1);
	expect((const char *const[]){
		"kvm_msi_set_irq: dst 0 vec 49 (Fixed|physical|edge)",
		"kvm_apic_accept_irq: apicid 0 vec 49 (Fixed|edge)",
		"kvm_msi_set_irq: dst 3 vec 50 (LowPrio|logical|level|rh)",
		"kvm_apic_accept_irq: apicid 0 vec 50 (LowPrio|level)",
		NULL });
	free_vm(&h);
}

static void test_msi_x2apic_dest(void **state)
{
	struct vmh h;
	/* KVM_X2APIC_API_USE_32BIT_IDS: address_hi carries dest bits 31:8. */
	struct kvm_msi msi = { .address_lo = 0xfee01000, .address_hi = 0x100, .data = 0x433 };

	(void)state;
	make_vm(&h, true);
	virq_ioctl(h.vm, KVM_SIGNAL_MSI, &msi); /* no APIC 0x101: nobody accepts */
	expect((const char *const[]){ "kvm_msi_set_irq: dst 101 vec 51 (NMI|physical|edge)", NULL });
	free_vm(&h);
}

static void test_pic_line(void **state)
{
	struct vmh h;
	uint8_t b;

	(void)state;
	make_vm(&h, false);
	line(h.vm, 3, 1);
	line(h.vm, 3, 0);
	line(h.vm, 3, 1); /* still in the IRR: coalesced */
	expect((const char *const[]){
		"kvm_set_irq: gsi 3 level 1 source 0",
		"kvm_ioapic_set_irq: pin 3 dst 0 vec 0 (Fixed|physical|edge|masked)",
		"kvm_pic_set_irq: chip 0 pin 3 (edge)",
		"kvm_set_irq: gsi 3 level 0 source 0",
		"kvm_ioapic_set_irq: pin 3 dst 0 vec 0 (Fixed|physical|edge|masked)",
		"kvm_pic_set_irq: chip 0 pin 3 (edge)",
		"kvm_set_irq: gsi 3 level 1 source 0",
		"kvm_ioapic_set_irq: pin 3 dst 0 vec 0 (Fixed|physical|edge|masked)",
		"kvm_pic_set_irq: chip 0 pin 3 (edge) (coalesced)",
		NULL });
	/* Slave pin 2 (GSI 10), level-triggered in the ELCR and masked. */
	b = 0x04;
	assert_int_equal(virq_pio_write(h.vm, 0x4d1, &b, 1), 0);
	assert_int_equal(virq_pio_write(h.vm, 0xa1, &b, 1), 0);
	line(h.vm, 10, 1);
	expect((const char *const[]){
		"kvm_set_irq: gsi 10 level 1 source 0",
		"kvm_ioapic_set_irq: pin 10 dst 0 vec 0 (Fixed|physical|edge|masked)",
		"kvm_pic_set_irq: chip 1 pin 2 (level|masked)",
		NULL });
	free_vm(&h);
}

static void test_eoi_level(void **state)
{
	struct vmh h;
	uint32_t val;

	(void)state;
	make_vm(&h, false);
	line(h.vm, 17, 1);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), 0x41);
	rec_clear();
	/* The guest EOIs while the line is still high: the IOAPIC sees the
	 * EOI, runs the ack notifiers and delivers again. */
	lapic_w(h.v[0], 0xb0, 0);
	assert_int_equal(rec.vcpu[1], 0);
	expect((const char *const[]){
		"kvm_apic: apic_write APIC_EOI = 0x0",
		"kvm_eoi: apicid 0 vector 65",
		"kvm_ack_irq: irqchip IOAPIC pin 17",
		"kvm_apic_accept_irq: apicid 0 vec 65 (Fixed|level)",
		NULL });
	line(h.vm, 17, 0);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v[0]), 0x41);
	assert_int_equal(virq_vcpu_eoi(h.v[0]), 0x41);
	/* An EOI with nothing in service: the kernel traces vector -1. */
	lapic_w(h.v[0], 0xb0, 0);
	expect((const char *const[]){
		"kvm_set_irq: gsi 17 level 0 source 0",
		"kvm_ioapic_set_irq: pin 17 dst 0 vec 65 (Fixed|physical|level)",
		"kvm_inj_virq: IRQ 0x41",
		"kvm_eoi: apicid 0 vector 65",
		"kvm_ack_irq: irqchip IOAPIC pin 17",
		"kvm_apic: apic_write APIC_EOI = 0x0",
		"kvm_eoi: apicid 0 vector -1",
		NULL });
	/* Register reads; a register the kernel has no name for prints in hex. */
	assert_int_equal(virq_lapic_read(h.v[0], 0x80, &val, 4), 0);
	assert_int_equal(virq_lapic_read(h.v[0], 0x110, &val, 4), 0);
	expect((const char *const[]){
		"kvm_apic: apic_read APIC_TASKPRI = 0x0",
		"kvm_apic: apic_read 0x110 = 0x0",
		NULL });
	free_vm(&h);
}

static void test_ipi(void **state)
{
	struct vmh h;

	(void)state;
	make_vm(&h, false);
	lapic_w(h.v[0], 0x310, 1u << 24);
	lapic_w(h.v[0], 0x300, 0x4050); /* fixed, assert, physical dest 1 */
	assert_int_equal(rec.vcpu[2], 0); /* the sender */
	assert_int_equal(rec.vcpu[3], 1); /* the receiver */
	expect((const char *const[]){
		"kvm_apic: apic_write APIC_ICR2 = 0x1000000",
		"kvm_apic: apic_write APIC_ICR = 0x4050",
		"kvm_apic_ipi: dst 1 vec 80 (Fixed|physical|assert|edge|dst)",
		"kvm_apic_accept_irq: apicid 1 vec 80 (Fixed|edge)",
		NULL });
	/* All but self, logical, level (de-asserted INIT level de-assert). */
	lapic_w(h.v[0], 0x300, 0xc0d00);
	expect((const char *const[]){
		"kvm_apic: apic_write APIC_ICR = 0xc0d00",
		"kvm_apic_ipi: dst 1 vec 0 (INIT|logical|de-assert|edge|all-but-self)",
		"kvm_apic_accept_irq: apicid 1 vec 0 (INIT|edge)",
		NULL });
	free_vm(&h);
}

/* ---- the formatter and the names --------------------------------------------------- */

static const char *fmt(uint32_t id, uint64_t f0, uint64_t f1, uint64_t f2)
{
	static char buf[128];
	struct virq_trace_event ev = { .id = id, .field = { f0, f1, f2 } };

	assert_true(virq_trace_format(&ev, buf, sizeof(buf)) >= 0);
	return buf;
}

static void test_format(void **state)
{
	struct virq_trace_event ev = { .id = VIRQ_TRACE_kvm_set_irq, .field = { 16, 1, 0 } };
	char small[8];

	(void)state;
	assert_string_equal(fmt(VIRQ_TRACE_kvm_ack_irq, 1, 12, 0), "irqchip PIC slave pin 12");
	assert_string_equal(fmt(VIRQ_TRACE_kvm_ack_irq, 5, 1, 0), "irqchip 0x5 pin 1");
	assert_string_equal(fmt(VIRQ_TRACE_kvm_inj_virq, 0x80, 1, 1), "Soft/INTn 0x80 [reinjected]");
	assert_string_equal(fmt(VIRQ_TRACE_kvm_eoi, 3, (uint64_t)-1, 0), "apicid 3 vector -1");
	assert_string_equal(fmt(VIRQ_TRACE_kvm_set_irq, 4, (uint64_t)-1, 2), "gsi 4 level -1 source 2");
	assert_string_equal(fmt(VIRQ_TRACE_kvm_apic, 1, 0x300, 0x1200004050ull),
			    "apic_write APIC_ICR = 0x1200004050");
	assert_string_equal(fmt(VIRQ_TRACE_kvm_ioapic_delayed_eoi_inj, 0x0200000000008f31ull, 0, 0),
			    "dst 2 vec 49 (ExtINT|logical|level)");
	assert_string_equal(fmt(VIRQ_TRACE_kvm_msi_set_irq, 0x12345fee0f008ull, 0x631, 0),
			    "dst 1230f vec 49 (SIPI|physical|edge|rh)");
	assert_string_equal(fmt(VIRQ_TRACE_virq_route_update, 30, 2, 0), "gsi 30 nr 2");

	/* snprintf semantics: the full length, a truncated NUL-terminated text. */
	assert_int_equal(virq_trace_format(&ev, small, sizeof(small)), 23);
	assert_string_equal(small, "gsi 16 ");
	assert_int_equal(virq_trace_format(&ev, NULL, 0), 23);
	ev.id = VIRQ_TRACE_NR;
	assert_int_equal(virq_trace_format(&ev, small, sizeof(small)), -EINVAL);
	assert_int_equal(virq_trace_format(NULL, small, sizeof(small)), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(virq_trace_name(VIRQ_TRACE_kvm_set_irq), "kvm_set_irq");
	assert_string_equal(virq_trace_name(VIRQ_TRACE_kvm_apic_accept_irq), "kvm_apic_accept_irq");
	assert_null(virq_trace_name(VIRQ_TRACE_NR));
	assert_string_equal(virq_trace_field_name(VIRQ_TRACE_kvm_set_irq, 2), "irq_source_id");
	assert_string_equal(virq_trace_field_name(VIRQ_TRACE_kvm_pic_set_irq, 4), "coalesced");
	assert_null(virq_trace_field_name(VIRQ_TRACE_kvm_set_irq, 3));
	assert_null(virq_trace_field_name(VIRQ_TRACE_NR, 0));
	for (uint32_t id = 0; id < VIRQ_TRACE_NR; id++) {
		unsigned n = 0;

		assert_non_null(virq_trace_name(id));
		while (virq_trace_field_name(id, n))
			n++;
		assert_true(n >= 1 && n <= VIRQ_TRACE_MAX_FIELDS);
	}
}

static void test_set_fn(void **state)
{
	struct vmh h;

	(void)state;
	assert_int_equal(virq_vm_set_trace_fn(12345, record, NULL), -EBADF);
	make_vm(&h, false);
	assert_int_equal(virq_vm_set_trace_fn(h.v[0], record, NULL), -EBADF); /* a vCPU handle */
	assert_int_equal(virq_vm_set_trace_fn(h.vm, NULL, NULL), 0);
	line(h.vm, 16, 1);
	assert_int_equal(rec.n, 0);
	assert_int_equal(virq_vm_set_trace_fn(h.vm, record, NULL), 0);
	line(h.vm, 16, 0);
	assert_int_equal(rec.n, 2);
	rec_clear();
	free_vm(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irq_line_ioapic), cmocka_unit_test(test_signal_msi),
		cmocka_unit_test(test_msi_x2apic_dest), cmocka_unit_test(test_pic_line),
		cmocka_unit_test(test_eoi_level),       cmocka_unit_test(test_ipi),
		cmocka_unit_test(test_format),          cmocka_unit_test(test_names),
		cmocka_unit_test(test_set_fn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
