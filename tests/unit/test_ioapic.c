/* SPDX-License-Identifier: MIT */
/*
 * test_ioapic.c - the IOAPIC model against the behaviour of the kernel's
 * arch/x86/kvm/ioapic.c.  Values marked "kvm:" were measured on /dev/kvm
 * (kernel 6.18) with KVM_IRQ_LINE_STATUS and KVM_GET/SET_IRQCHIP.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "testutil.h"

#include "x86/ioapic.h"

/* ---- the stub world --------------------------------------------------------- */

#define MAX_LOG 64

struct stub {
	int deliver_ret;
	int deliveries;
	struct x86_irq last;
	bool last_had_map;
	uint32_t map_ids[4]; /* vCPUs the stub "delivers" to when given a dest_map */
	int nr_map_ids;

	int acked[MAX_LOG];
	int nr_acked;
	int scans;
	int masks[MAX_LOG];
	bool masked[MAX_LOG];
	int nr_masks;

	bool resample_ret;
	int resamples;
	uint32_t notifier_pins; /* has_notifier answers */

	/* An ack notifier that lowers the line, as a resampling irqfd does. */
	struct x86_ioapic *lower_on_ack;
	int lower_source;

	struct test_clock clock;
};

static struct stub st;

static int stub_deliver(void *opaque, const struct x86_irq *irq, struct x86_dest_map *dest_map)
{
	struct stub *t = opaque;

	t->deliveries++;
	t->last = *irq;
	t->last_had_map = dest_map != NULL;
	if (dest_map)
		for (int i = 0; i < t->nr_map_ids; i++)
			x86_dest_map_set(dest_map, t->map_ids[i], (uint8_t)irq->vector);
	return t->deliver_ret;
}

static void stub_acked(void *opaque, int pin)
{
	struct stub *t = opaque;

	if (t->nr_acked < MAX_LOG)
		t->acked[t->nr_acked] = pin;
	t->nr_acked++;
	if (t->lower_on_ack)
		x86_ioapic_set_irq(t->lower_on_ack, pin, t->lower_source, 0, false);
}

static bool stub_has_notifier(void *opaque, int pin)
{
	return (((struct stub *)opaque)->notifier_pins >> pin) & 1;
}

static void stub_scan(void *opaque)
{
	((struct stub *)opaque)->scans++;
}

static uint64_t stub_now(void *opaque)
{
	return ((struct stub *)opaque)->clock.now;
}

static void stub_mask(void *opaque, int pin, bool masked)
{
	struct stub *t = opaque;

	if (t->nr_masks < MAX_LOG) {
		t->masks[t->nr_masks] = pin;
		t->masked[t->nr_masks] = masked;
	}
	t->nr_masks++;
}

static bool stub_resample(void *opaque, int pin)
{
	struct stub *t = opaque;

	(void)pin;
	t->resamples++;
	return t->resample_ret;
}

static const struct x86_ioapic_hooks stub_hooks = {
	.opaque = &st,
	.deliver = stub_deliver,
	.acked = stub_acked,
	.has_notifier = stub_has_notifier,
	.scan = stub_scan,
	.now = stub_now,
	.mask = stub_mask,
	.resample = stub_resample,
};

static int setup(void **state)
{
	memset(&st, 0, sizeof(st));
	st.deliver_ret = 1;
	*state = x86_ioapic_create(&stub_hooks);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	x86_ioapic_destroy(*state);
	return 0;
}

/* ---- MMIO helpers ------------------------------------------------------------ */

static void wr32(struct x86_ioapic *s, uint32_t off, uint32_t v)
{
	assert_int_equal(x86_ioapic_mmio_write(s, off, &v, 4), 0);
}

static uint32_t rd32(struct x86_ioapic *s, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(x86_ioapic_mmio_read(s, off, &v, 4), 0);
	return v;
}

static uint32_t reg_read(struct x86_ioapic *s, uint32_t sel)
{
	wr32(s, 0x00, sel);
	return rd32(s, 0x10);
}

static void reg_write(struct x86_ioapic *s, uint32_t sel, uint32_t v)
{
	wr32(s, 0x00, sel);
	wr32(s, 0x10, v);
}

static void rte_write(struct x86_ioapic *s, int pin, uint64_t bits)
{
	reg_write(s, 0x11 + 2 * pin, (uint32_t)(bits >> 32));
	reg_write(s, 0x10 + 2 * pin, (uint32_t)bits);
}

static uint64_t rte_read(struct x86_ioapic *s, int pin)
{
	uint64_t lo = reg_read(s, 0x10 + 2 * pin);
	uint64_t hi = reg_read(s, 0x11 + 2 * pin);

	return lo | hi << 32;
}

static uint32_t state_irr(struct x86_ioapic *s)
{
	struct kvm_ioapic_state k;

	x86_ioapic_get_state(s, &k);
	return k.irr;
}

/* Store an entry through KVM_SET_IRQCHIP (so read-only bits can be preset). */
static void rte_set_raw(struct x86_ioapic *s, int pin, uint64_t bits)
{
	struct kvm_ioapic_state k;

	x86_ioapic_get_state(s, &k);
	k.redirtbl[pin].bits = bits;
	x86_ioapic_set_state(s, &k);
}

#define RIRR (1ull << 14)
#define LEVEL (1ull << 15)
#define MASKED (1ull << 16)

/* ---- registers ------------------------------------------------------------------ */

static void test_reset_state(void **state)
{
	struct x86_ioapic *s = *state;
	struct kvm_ioapic_state k, want;

	/* kvm: the reset image: base 0xfec00000, all entries 0x10000. */
	memset(&want, 0, sizeof(want));
	want.base_address = 0xfec00000;
	for (int i = 0; i < 24; i++)
		want.redirtbl[i].bits = 0x10000;
	memset(&k, 0xa5, sizeof(k));
	x86_ioapic_get_state(s, &k);
	assert_memory_equal(&k, &want, sizeof(k));
	assert_int_equal(sizeof(k), 8 + 16 + 24 * 8);
	for (int i = 0; i < 24; i++)
		assert_int_equal(rte_read(s, i), 0x10000);
	assert_int_equal(reg_read(s, 0x00), 0);
}

static void test_ioregsel(void **state)
{
	struct x86_ioapic *s = *state;
	uint8_t b[8];
	uint16_t h;
	uint64_t q;

	wr32(s, 0x00, 0x12345);
	assert_int_equal(rd32(s, 0x00), 0x45); /* an 8-bit register */

	b[0] = 0x01;
	assert_int_equal(x86_ioapic_mmio_write(s, 0x00, b, 1), 0);
	assert_int_equal(rd32(s, 0x00), 0x01);
	h = 0xff02;
	assert_int_equal(x86_ioapic_mmio_write(s, 0x00, &h, 2), 0);
	assert_int_equal(rd32(s, 0x00), 0x02);
	q = 0xffffffff00000010ull; /* 8 bytes: low dword only */
	assert_int_equal(x86_ioapic_mmio_write(s, 0x00, &q, 8), 0);
	assert_int_equal(rd32(s, 0x00), 0x10);

	/* 8-byte read: the 32-bit value zero-extended. */
	wr32(s, 0x00, 0x01);
	q = ~0ull;
	assert_int_equal(x86_ioapic_mmio_read(s, 0x10, &q, 8), 0);
	assert_int_equal(q, 0x170011);
	/* 1- and 2-byte reads: the low bytes. */
	memset(b, 0xee, sizeof(b));
	assert_int_equal(x86_ioapic_mmio_read(s, 0x10, b, 1), 0);
	assert_int_equal(b[0], 0x11);
	assert_int_equal(b[1], 0xee);
	assert_int_equal(x86_ioapic_mmio_read(s, 0x10, &h, 2), 0);
	assert_int_equal(h, 0x0011);
}

static void test_id_version_arb(void **state)
{
	struct x86_ioapic *s = *state;
	struct kvm_ioapic_state k;

	assert_int_equal(reg_read(s, 0x01), 0x170011);
	reg_write(s, 0x01, 0);
	assert_int_equal(reg_read(s, 0x01), 0x170011);

	reg_write(s, 0x00, 0xffffffff);
	assert_int_equal(reg_read(s, 0x00), 0x0f000000);
	assert_int_equal(reg_read(s, 0x02), 0x0f000000); /* arb = id */
	x86_ioapic_get_state(s, &k);
	assert_int_equal(k.id, 0xf);

	reg_write(s, 0x02, 0x03000000); /* arbitration is read-only */
	assert_int_equal(reg_read(s, 0x00), 0x0f000000);
	reg_write(s, 0x00, 0x05abcdef);
	assert_int_equal(reg_read(s, 0x00), 0x05000000);
	assert_int_equal(st.scans, 0); /* no scan for these registers */

	/* An ID stored out of range by SET reads back masked. */
	x86_ioapic_get_state(s, &k);
	k.id = 0xff;
	x86_ioapic_set_state(s, &k);
	assert_int_equal(reg_read(s, 0x00), 0x0f000000);
}

static void test_rte_read_write(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 5, 0xab00000000018931ull);
	assert_int_equal(rte_read(s, 5), 0xab00000000018931ull);
	/* Dwords are independent. */
	reg_write(s, 0x10 + 10, 0x00000041);
	assert_int_equal(rte_read(s, 5), 0xab00000000000041ull);
	reg_write(s, 0x11 + 10, 0x12345678);
	assert_int_equal(rte_read(s, 5), 0x1234567800000041ull);
	/* Every RTE write asks for a rescan. */
	assert_int_equal(st.scans, 4);
	/* The guest cannot set remote IRR or delivery status. */
	reg_write(s, 0x10 + 10, 0x0000d041);
	assert_int_equal(rte_read(s, 5), 0x1234567800008041ull);
}

static void test_rte_ro_bits_preserved(void **state)
{
	struct x86_ioapic *s = *state;

	/* Level, remote IRR and delivery status preset through SET. */
	rte_set_raw(s, 3, LEVEL | RIRR | (1ull << 12) | 0x10000 | 0x33);
	reg_write(s, 0x10 + 6, 0x8034); /* unmask, level, clear RO bits */
	assert_int_equal(rte_read(s, 3), LEVEL | RIRR | (1ull << 12) | 0x34);
	reg_write(s, 0x11 + 6, 0x01000000); /* high dword write keeps them too */
	assert_int_equal(rte_read(s, 3), 0x0100000000000000ull | LEVEL | RIRR | (1ull << 12) | 0x34);

	/* Switching to edge clears remote IRR (Linux/Xen rely on it);
	 * delivery status stays. */
	reg_write(s, 0x10 + 6, 0x0034);
	assert_int_equal(rte_read(s, 3), 0x0100000000000000ull | (1ull << 12) | 0x34);
	reg_write(s, 0x10 + 6, 0x8034);
	assert_int_equal(rte_read(s, 3) & RIRR, 0);
}

static void test_rte_out_of_range(void **state)
{
	struct x86_ioapic *s = *state;
	struct kvm_ioapic_state before, after;

	x86_ioapic_get_state(s, &before);
	/* Selectors past entry 23 and the holes 0x03-0x0f read all ones. */
	assert_int_equal(reg_read(s, 0x40), 0xffffffff);
	assert_int_equal(reg_read(s, 0x41), 0xffffffff);
	assert_int_equal(reg_read(s, 0xff), 0xffffffff);
	for (uint32_t sel = 0x03; sel < 0x10; sel++)
		assert_int_equal(reg_read(s, sel), 0xffffffff);
	assert_int_equal(reg_read(s, 0x3f), 0); /* entry 23 high */
	st.scans = 0;
	reg_write(s, 0x40, 0);
	reg_write(s, 0x0f, 0);
	reg_write(s, 0xff, 0);
	assert_int_equal(st.scans, 0);
	x86_ioapic_get_state(s, &after);
	after.ioregsel = before.ioregsel;
	assert_memory_equal(&before, &after, sizeof(before));

	/* An IOREGSEL stored out of range by SET: read back whole, and the
	 * window reads all ones. */
	before.ioregsel = 0x12345;
	x86_ioapic_set_state(s, &before);
	assert_int_equal(rd32(s, 0x00), 0x12345);
	assert_int_equal(rd32(s, 0x10), 0xffffffff);
	wr32(s, 0x10, 0); /* ignored */
	x86_ioapic_get_state(s, &after);
	assert_memory_equal(&before, &after, sizeof(before));
}

static void test_mmio_bad_access(void **state)
{
	struct x86_ioapic *s = *state;
	uint32_t v = 0x1234;
	uint8_t buf[16];

	assert_int_equal(x86_ioapic_mmio_read(s, 0x100, &v, 4), -EOPNOTSUPP);
	assert_int_equal(x86_ioapic_mmio_write(s, 0x100, &v, 4), -EOPNOTSUPP);
	assert_int_equal(x86_ioapic_mmio_read(s, 0xffffffff, &v, 4), -EOPNOTSUPP);
	for (unsigned len = 0; len <= 16; len++) {
		if (len == 1 || len == 2 || len == 4 || len == 8)
			continue;
		memset(buf, 0x5a, sizeof(buf));
		assert_int_equal(x86_ioapic_mmio_read(s, 0x10, buf, len), -EINVAL);
		assert_int_equal(buf[0], 0x5a); /* untouched */
		assert_int_equal(x86_ioapic_mmio_write(s, 0x00, buf, len), -EINVAL);
	}
	assert_int_equal(rd32(s, 0x00), 0);
	assert_int_equal(x86_ioapic_mmio_read(s, 0x10, NULL, 4), -EINVAL);
	assert_int_equal(x86_ioapic_mmio_write(s, 0x10, NULL, 4), -EINVAL);
	assert_int_equal(x86_ioapic_mmio_read(NULL, 0x10, &v, 4), -EINVAL);

	/* Other offsets in the window read 0 and ignore writes, including
	 * misaligned ones inside the registers. */
	wr32(s, 0x00, 0x01);
	for (uint32_t off = 0; off < 0x100; off++) {
		if (off == 0x00 || off == 0x10)
			continue;
		assert_int_equal(rd32(s, off), 0);
		wr32(s, off, 0xffffffff);
	}
	assert_int_equal(rd32(s, 0x00), 0x01);

	/* A 1-byte IOWIN write stores the byte zero-extended: it unmasks. */
	wr32(s, 0x00, 0x10);
	buf[0] = 0x77;
	assert_int_equal(x86_ioapic_mmio_write(s, 0x10, buf, 1), 0);
	assert_int_equal(rte_read(s, 0), 0x77);
	/* Unaligned buffers are fine. */
	memcpy(buf + 1, &(uint32_t){ 0x10012 }, 4);
	wr32(s, 0x00, 0x12);
	assert_int_equal(x86_ioapic_mmio_write(s, 0x10, buf + 1, 4), 0);
	assert_int_equal(x86_ioapic_mmio_read(s, 0x10, buf + 3, 4), 0);
	assert_memory_equal(buf + 3, &(uint32_t){ 0x10012 }, 4);
}

/* The access sequence a 32-bit guest ran against the kernel's IOAPIC
 * (kvm: every value below was read back by the guest). */
static void test_mmio_guest_sequence(void **state)
{
	struct x86_ioapic *s = *state;
	struct kvm_ioapic_state k;
	uint32_t v;
	uint16_t h;
	uint8_t b;

	wr32(s, 0x00, 0x10);
	b = 0x77;
	x86_ioapic_mmio_write(s, 0x10, &b, 1);
	assert_int_equal(rd32(s, 0x10), 0x77);
	wr32(s, 0x00, 0x12345);
	assert_int_equal(rd32(s, 0x00), 0x45);
	h = 0x0111;
	x86_ioapic_mmio_write(s, 0x00, &h, 2);
	assert_int_equal(rd32(s, 0x00), 0x11);
	wr32(s, 0x00, 1);
	h = 0xaaaa;
	x86_ioapic_mmio_read(s, 0x10, &h, 2);
	assert_int_equal(h, 0x0011);
	b = 0xaa;
	x86_ioapic_mmio_read(s, 0x10, &b, 1);
	assert_int_equal(b, 0x11);
	assert_int_equal(rd32(s, 0x04), 0);
	assert_int_equal(rd32(s, 0x01), 0);
	wr32(s, 0x20, 5);
	assert_int_equal(reg_read(s, 0), 0); /* the write to 0x20 did nothing */
	reg_write(s, 0x00, 0xffffffff);
	assert_int_equal(rd32(s, 0x10), 0x0f000000);
	assert_int_equal(reg_read(s, 0x02), 0x0f000000);
	assert_int_equal(reg_read(s, 0x03), 0xffffffff);
	assert_int_equal(reg_read(s, 0x40), 0xffffffff);
	reg_write(s, 0x12, 0xd041);
	assert_int_equal(rd32(s, 0x10), 0x8041);
	reg_write(s, 0x13, 0x12345678);
	assert_int_equal(rd32(s, 0x10), 0x12345678);
	reg_write(s, 0x01, 0);
	assert_int_equal(rd32(s, 0x10), 0x170011);
	wr32(s, 0x00, 0x11);
	b = 0x55;
	x86_ioapic_mmio_write(s, 0x11, &b, 1);
	v = 0xdead;
	x86_ioapic_mmio_read(s, 0x11, &v, 4);
	assert_int_equal(v, 0);
	wr32(s, 0x00, 0x21);
	assert_int_equal(rd32(s, 0x00), 0x21);
	x86_ioapic_get_state(s, &k);
	assert_int_equal(k.ioregsel, 0x21);
	assert_int_equal(k.id, 0xf);
	assert_int_equal(k.redirtbl[0].bits, 0x77);
	assert_int_equal(k.redirtbl[1].bits, 0x1234567800008041ull);
}

static void test_rte_decode(void **state)
{
	struct x86_ioapic *s = *state;

	for (uint32_t dm = 0; dm < 8; dm++) {
		rte_write(s, 16, 0x0f00000000000800ull | (dm << 8) | 0x5a | LEVEL);
		st.deliveries = 0;
		assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), 1);
		assert_int_equal(st.deliveries, 1);
		assert_int_equal(st.last.vector, 0x5a);
		assert_int_equal(st.last.delivery_mode, dm << 8);
		assert_int_equal(st.last.dest_mode, APIC_DEST_LOGICAL);
		assert_true(st.last.level);
		assert_int_equal(st.last.trig_mode, 1);
		assert_int_equal(st.last.shorthand, APIC_DEST_NOSHORT);
		assert_int_equal(st.last.dest_id, 0x0f);
		assert_false(st.last.msi_redir_hint);
		assert_false(st.last_had_map);
		x86_ioapic_set_irq(s, 16, 0, 0, false);
		x86_ioapic_update_eoi(s, 0, false, 0x5a, 1);
	}
	/* Physical, edge, polarity ignored, dest 0xff. */
	rte_write(s, 17, 0xff00000000002031ull);
	assert_int_equal(x86_ioapic_set_irq(s, 17, 0, 1, false), 1);
	assert_int_equal(st.last.vector, 0x31);
	assert_int_equal(st.last.delivery_mode, APIC_DM_FIXED);
	assert_int_equal(st.last.dest_mode, APIC_DEST_PHYSICAL);
	assert_int_equal(st.last.trig_mode, 0);
	assert_int_equal(st.last.dest_id, 0xff);
}

/* ---- lines ---------------------------------------------------------------------- */

static void test_edge(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 16, 0x30);
	/* kvm: raise 1, raise again 0, lower 1, lower again 1, raise 1. */
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), 1);
	assert_int_equal(state_irr(s), 0); /* kvm: delivered edges are hidden */
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), 0);
	assert_int_equal(st.deliveries, 1);
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 0, false), 1);
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 0, false), 1);
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), 1);
	assert_int_equal(st.deliveries, 2);
	/* The delivery result is passed through; edges never set remote IRR. */
	x86_ioapic_set_irq(s, 16, 0, 0, false);
	st.deliver_ret = 3;
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), 3);
	x86_ioapic_set_irq(s, 16, 0, 0, false);
	st.deliver_ret = -1;
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), -1);
	assert_int_equal(rte_read(s, 16), 0x30);
}

static void test_edge_masked(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 17, 0x10031);
	/* kvm: masked raise -1, IRR visible; raise again 0. */
	assert_int_equal(x86_ioapic_set_irq(s, 17, 0, 1, false), -1);
	assert_int_equal(state_irr(s), 1u << 17);
	assert_int_equal(x86_ioapic_set_irq(s, 17, 0, 1, false), 0);
	assert_int_equal(st.deliveries, 0);
	/* Unmasking an edge entry does not deliver the latched edge. */
	rte_write(s, 17, 0x31);
	assert_int_equal(st.deliveries, 0);
	assert_int_equal(state_irr(s), 1u << 17);
	assert_int_equal(st.resamples, 0);
	/* SET replays it (kvm: after the SET the edge is delivered). */
	struct kvm_ioapic_state k;
	x86_ioapic_get_state(s, &k);
	x86_ioapic_set_state(s, &k);
	assert_int_equal(st.deliveries, 1);
	assert_int_equal(state_irr(s), 0);
}

static void test_level(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 18, 0x8040);
	/* kvm: raise 1 (remote IRR set, IRR visible), raise again -1, lower 1,
	 * raise -1. */
	assert_int_equal(x86_ioapic_set_irq(s, 18, 0, 1, false), 1);
	assert_int_equal(rte_read(s, 18), 0xc040);
	assert_int_equal(state_irr(s), 1u << 18);
	assert_int_equal(x86_ioapic_set_irq(s, 18, 0, 1, false), -1);
	assert_int_equal(x86_ioapic_set_irq(s, 18, 0, 0, false), 1);
	assert_int_equal(state_irr(s), 0);
	assert_int_equal(x86_ioapic_set_irq(s, 18, 0, 1, false), -1);
	assert_int_equal(st.deliveries, 1);

	/* EOI: ack notifier, remote IRR cleared, held line re-delivered. */
	x86_ioapic_update_eoi(s, 0, false, 0x40, 1);
	assert_int_equal(st.nr_acked, 1);
	assert_int_equal(st.acked[0], 18);
	assert_int_equal(st.deliveries, 2);
	assert_int_equal(rte_read(s, 18), 0xc040);

	/* EOI with the line low: no re-delivery. */
	x86_ioapic_set_irq(s, 18, 0, 0, false);
	x86_ioapic_update_eoi(s, 0, false, 0x40, 1);
	assert_int_equal(st.deliveries, 2);
	assert_int_equal(rte_read(s, 18), 0x8040);

	/* Another vector: nothing. */
	x86_ioapic_update_eoi(s, 0, false, 0x41, 1);
	assert_int_equal(st.nr_acked, 2);
}

static void test_level_remote_irr_result(void **state)
{
	struct x86_ioapic *s = *state;

	/* kvm: with no vCPU the delivery is -1, and remote IRR is set. */
	rte_write(s, 16, 0x8040);
	st.deliver_ret = -1;
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), -1);
	assert_int_equal(rte_read(s, 16), 0xc040);
	/* kvm: an absent destination gives 0: no remote IRR. */
	rte_write(s, 21, 0x0900000000008070ull);
	st.deliver_ret = 0;
	assert_int_equal(x86_ioapic_set_irq(s, 21, 0, 1, false), 0);
	assert_int_equal(rte_read(s, 21), 0x0900000000008070ull);
	/* kvm: remote IRR preset by SET, then a raise: -1, IRR visible. */
	rte_set_raw(s, 19, 0xc050);
	st.deliveries = 0;
	assert_int_equal(x86_ioapic_set_irq(s, 19, 0, 1, false), -1);
	assert_int_equal(st.deliveries, 0);
	assert_true(state_irr(s) & (1u << 19));
	/* kvm: masked level: -1 twice. */
	rte_write(s, 20, 0x18060);
	assert_int_equal(x86_ioapic_set_irq(s, 20, 0, 1, false), -1);
	assert_int_equal(x86_ioapic_set_irq(s, 20, 0, 1, false), -1);
	assert_int_equal(st.deliveries, 0);
}

static void test_per_source_or(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 20, 0x20); /* edge */
	assert_int_equal(x86_ioapic_set_irq(s, 20, 0, 1, false), 1);
	assert_int_equal(x86_ioapic_set_irq(s, 20, 1, 1, false), 0); /* no new edge */
	/* Source 0 lets go; source 1 still holds the line. */
	assert_int_equal(x86_ioapic_set_irq(s, 20, 0, 0, false), 0);
	assert_int_equal(st.deliveries, 1);
	assert_int_equal(x86_ioapic_set_irq(s, 20, 1, 0, false), 1);
	assert_int_equal(x86_ioapic_set_irq(s, 20, 63, 7, false), 1); /* any level != 0 */
	assert_int_equal(st.deliveries, 2);

	/* clear_all drops a source everywhere but leaves IRR alone. */
	rte_write(s, 21, 0x10021);
	x86_ioapic_set_irq(s, 21, 5, 1, false);
	x86_ioapic_clear_all(s, 5);
	x86_ioapic_clear_all(s, 63);
	assert_int_equal(state_irr(s), 1u << 21);
	x86_ioapic_set_irq(s, 21, 0, 0, false);
	assert_int_equal(state_irr(s), 0);
	/* Line 20 is low now: a new raise is an edge. */
	assert_int_equal(x86_ioapic_set_irq(s, 20, 0, 1, false), 0);
	x86_ioapic_set_irq(s, 20, 0, 0, false);
	assert_int_equal(x86_ioapic_set_irq(s, 20, 0, 1, false), 1);
}

static void test_bad_arguments(void **state)
{
	struct x86_ioapic *s = *state;
	struct kvm_ioapic_state before, after;
	uint64_t handled[4] = { 0 };

	x86_ioapic_get_state(s, &before);
	assert_int_equal(x86_ioapic_set_irq(s, -1, 0, 1, false), -1);
	assert_int_equal(x86_ioapic_set_irq(s, 24, 0, 1, false), -1);
	assert_int_equal(x86_ioapic_set_irq(s, 1 << 30, 0, 1, false), -1);
	assert_int_equal(x86_ioapic_set_irq(s, 0, -1, 1, false), -1);
	assert_int_equal(x86_ioapic_set_irq(s, 0, 64, 1, false), -1);
	assert_int_equal(x86_ioapic_set_irq(NULL, 0, 0, 1, false), -1);
	x86_ioapic_clear_all(s, -1);
	x86_ioapic_clear_all(s, 64);
	x86_ioapic_clear_all(NULL, 0);
	x86_ioapic_update_eoi(s, X86_MAX_VCPU_IDS, false, 0, 1);
	x86_ioapic_update_eoi(s, UINT32_MAX, false, 0, 1);
	x86_ioapic_update_eoi(NULL, 0, false, 0, 1);
	x86_ioapic_rtc_restore_one(s, X86_MAX_VCPU_IDS, NULL, NULL, NULL);
	x86_ioapic_scan_entry(s, UINT32_MAX, NULL, NULL, NULL, handled);
	x86_ioapic_get_state(NULL, &after);
	x86_ioapic_set_state(NULL, &after);
	x86_ioapic_set_state(s, NULL);
	x86_ioapic_rtc_reset_tracking(NULL);
	x86_ioapic_destroy(NULL);
	assert_int_equal(x86_ioapic_poll(NULL, 0), INT64_MAX);
	assert_int_equal(st.nr_acked, 0);
	x86_ioapic_get_state(s, &after);
	assert_memory_equal(&before, &after, sizeof(before));
}

/* ---- EOI ------------------------------------------------------------------------ */

static void test_eoi_directed_and_edge(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 10, 0x8050);
	rte_write(s, 11, 0x8050); /* two pins share the vector */
	x86_ioapic_set_irq(s, 10, 0, 1, false);
	x86_ioapic_set_irq(s, 11, 0, 1, false);
	assert_int_equal(st.deliveries, 2);

	/* Directed EOI (SPIV bit 12): acked, but remote IRR stays. */
	x86_ioapic_update_eoi(s, 0, true, 0x50, 1);
	assert_int_equal(st.nr_acked, 2);
	assert_int_equal(st.acked[0], 10);
	assert_int_equal(st.acked[1], 11);
	assert_true(rte_read(s, 10) & RIRR);
	/* An edge EOI (TMR clear) likewise. */
	x86_ioapic_update_eoi(s, 0, false, 0x50, 0);
	assert_int_equal(st.nr_acked, 4);
	assert_true(rte_read(s, 11) & RIRR);
	assert_int_equal(st.deliveries, 2);
	/* A level EOI clears both and re-delivers both held lines. */
	x86_ioapic_update_eoi(s, 3, false, 0x50, 1);
	assert_int_equal(st.deliveries, 4);

	/* A masked pin: remote IRR cleared, nothing delivered. */
	rte_write(s, 12, 0x18051);
	rte_set_raw(s, 12, 0x1c051);
	x86_ioapic_set_irq(s, 12, 0, 1, false);
	x86_ioapic_update_eoi(s, 0, false, 0x51, 1);
	assert_int_equal(rte_read(s, 12), 0x18051);
	assert_int_equal(st.deliveries, 4);
}

static void test_eoi_ack_lowers_line(void **state)
{
	struct x86_ioapic *s = *state;

	/* The ack notifier runs with the lock dropped and lowers the line
	 * (irqfd resampling): the pin is not re-delivered. */
	rte_write(s, 9, 0x8060);
	x86_ioapic_set_irq(s, 9, 1, 1, false);
	assert_int_equal(st.deliveries, 1);
	st.lower_on_ack = s;
	st.lower_source = 1;
	x86_ioapic_update_eoi(s, 0, false, 0x60, 1);
	assert_int_equal(st.nr_acked, 1);
	assert_int_equal(st.deliveries, 1);
	assert_int_equal(rte_read(s, 9), 0x8060);
	assert_int_equal(state_irr(s), 0);
}

static void test_eoi_storm(void **state)
{
	struct x86_ioapic *s = *state;

	assert_int_equal(x86_ioapic_poll(s, 0), INT64_MAX);
	rte_write(s, 4, 0x8070);
	st.clock.now = 1000;
	x86_ioapic_set_irq(s, 4, 0, 1, false);
	assert_int_equal(st.deliveries, 1);
	/* 9999 EOIs re-deliver at once; the 10000th schedules. */
	for (int i = 1; i < 10000; i++)
		x86_ioapic_update_eoi(s, 0, false, 0x70, 1);
	assert_int_equal(st.deliveries, 10000);
	assert_int_equal(x86_ioapic_poll(s, 1000), INT64_MAX);
	x86_ioapic_update_eoi(s, 0, false, 0x70, 1);
	assert_int_equal(st.deliveries, 10000);
	assert_int_equal(rte_read(s, 4), 0x8070); /* waiting, no remote IRR */

	st.clock.now = 5000;
	assert_int_equal(x86_ioapic_poll(s, 5000), 10000000 - 4000);
	assert_int_equal(st.deliveries, 10000);
	assert_int_equal(x86_ioapic_poll(s, 1000 + 10000000 - 1), 1);
	assert_int_equal(x86_ioapic_poll(s, 1000 + 10000000), INT64_MAX);
	assert_int_equal(st.deliveries, 10001);
	assert_int_equal(rte_read(s, 4), 0xc070);
	assert_int_equal(x86_ioapic_poll(s, 1000 + 20000000), INT64_MAX);
	assert_int_equal(st.deliveries, 10001);

	/* The counter restarted: 9999 more go out at once. */
	for (int i = 0; i < 9999; i++)
		x86_ioapic_update_eoi(s, 0, false, 0x70, 1);
	assert_int_equal(st.deliveries, 20000);
	/* An EOI with the line low resets the count. */
	x86_ioapic_set_irq(s, 4, 0, 0, false);
	x86_ioapic_update_eoi(s, 0, false, 0x70, 1);
	x86_ioapic_set_irq(s, 4, 0, 1, false);
	assert_int_equal(st.deliveries, 20001);
	x86_ioapic_update_eoi(s, 0, false, 0x70, 1);
	assert_int_equal(st.deliveries, 20002);
	assert_int_equal(x86_ioapic_poll(s, UINT64_MAX), INT64_MAX);

	/* The delayed injection skips a pin that was masked meanwhile. */
	for (int i = 0; i < 9999; i++)
		x86_ioapic_update_eoi(s, 0, false, 0x70, 1);
	assert_int_equal(x86_ioapic_poll(s, 0), 10000000 + 5000); /* clock read 5000 */
	reg_write(s, 0x10 + 8, 0x18070); /* low dword only: see below */
	assert_int_equal(x86_ioapic_poll(s, UINT64_MAX), INT64_MAX);
	assert_int_equal(st.deliveries, 20002 + 9998);

	/* Unmasking re-delivers the held level request. */
	reg_write(s, 0x10 + 8, 0x8070);
	assert_int_equal(st.deliveries, 20002 + 9998 + 1);
	reg_write(s, 0x11 + 8, 0); /* remote IRR set: nothing */
	assert_int_equal(st.deliveries, 20002 + 9998 + 1);
	/* A delivery that reached no LAPIC (0) leaves remote IRR clear; then
	 * any write to the entry, a high-dword one too, delivers again. */
	st.deliver_ret = 0;
	x86_ioapic_update_eoi(s, 0, false, 0x70, 1);
	assert_int_equal(st.deliveries, 20002 + 9998 + 2);
	assert_int_equal(rte_read(s, 4), 0x8070);
	reg_write(s, 0x11 + 8, 0);
	assert_int_equal(st.deliveries, 20002 + 9998 + 3);
}

/* ---- RTC ------------------------------------------------------------------------ */

static bool ctx_match(void *ctx, uint32_t dest_id, uint32_t dest_mode)
{
	const uint32_t *want = ctx; /* {dest_id, dest_mode, pending vector or 0x100} */

	return dest_id == want[0] && dest_mode == want[1];
}

static bool ctx_pending(void *ctx, int vector)
{
	const uint32_t *want = ctx;

	return (uint32_t)vector == want[2];
}

static void test_rtc_coalescing(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 8, 0xff00000000000038ull);
	st.deliver_ret = 2;
	st.map_ids[0] = 0;
	st.map_ids[1] = 4095;
	st.nr_map_ids = 2;
	/* kvm: raise 2, lower 1, raise 0 (coalesced). */
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 2);
	assert_true(st.last_had_map);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 0, true), 1);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 0);
	assert_int_equal(st.deliveries, 1);
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	/* Without line status there is no coalescing (and no map). */
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, false), 2);
	assert_false(st.last_had_map);
	x86_ioapic_set_irq(s, 8, 0, 0, false);

	/* EOIs: wrong vector, then one vCPU, then the other. */
	x86_ioapic_update_eoi(s, 0, false, 0x39, 0);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 0);
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	x86_ioapic_update_eoi(s, 0, false, 0x38, 0);
	x86_ioapic_update_eoi(s, 0, false, 0x38, 0); /* twice: counted once */
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 0);
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	x86_ioapic_update_eoi(s, 4095, false, 0x38, 0);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 2);
	x86_ioapic_set_irq(s, 8, 0, 0, true);

	/* A delivery that reached nobody (-1) tracks nothing. */
	x86_ioapic_rtc_reset_tracking(s);
	st.deliver_ret = -1;
	st.nr_map_ids = 0;
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), -1);
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	st.deliver_ret = 1;
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 1);
}

static void test_rtc_restore(void **state)
{
	struct x86_ioapic *s = *state;
	uint32_t ctx[3] = { 0xff, APIC_DEST_PHYSICAL, 0x38 };

	rte_write(s, 8, 0xff00000000000038ull);
	/* kvm: after SET_IRQCHIP the tracking is rebuilt from the LAPICs:
	 * vectors still pending make the next RTC raise coalesce. */
	x86_ioapic_rtc_restore_one(s, 0, ctx_match, ctx_pending, ctx);
	x86_ioapic_rtc_restore_one(s, 1, ctx_match, ctx_pending, ctx);
	x86_ioapic_rtc_restore_one(s, 1, ctx_match, ctx_pending, ctx); /* idempotent */
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 0);
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	/* kvm: clearing one LAPIC (KVM_SET_LAPIC) is not enough, both are. */
	ctx[2] = 0x100;
	x86_ioapic_rtc_restore_one(s, 0, ctx_match, ctx_pending, ctx);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 0);
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	x86_ioapic_rtc_restore_one(s, 1, ctx_match, ctx_pending, ctx);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 1);
	x86_ioapic_set_irq(s, 8, 0, 0, true);

	/* A vCPU the entry does not target is left alone. */
	x86_ioapic_rtc_reset_tracking(s);
	ctx[0] = 3;
	ctx[2] = 0x38;
	x86_ioapic_rtc_restore_one(s, 2, ctx_match, ctx_pending, ctx);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 1);
	x86_ioapic_set_irq(s, 8, 0, 0, true);

	/* EOI of the restored vector clears the tracking. */
	ctx[0] = 0xff;
	x86_ioapic_rtc_reset_tracking(s);
	x86_ioapic_rtc_restore_one(s, 7, ctx_match, ctx_pending, ctx);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 0);
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	x86_ioapic_update_eoi(s, 7, false, 0x38, 0);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 1);
}

static void test_rtc_set_state_replay(void **state)
{
	struct x86_ioapic *s = *state;
	struct kvm_ioapic_state k;

	rte_write(s, 8, 0xff00000000000038ull);
	st.deliver_ret = 2;
	st.map_ids[0] = 0;
	st.map_ids[1] = 1;
	st.nr_map_ids = 2;
	x86_ioapic_get_state(s, &k);
	k.irr = 1u << 8;
	x86_ioapic_set_state(s, &k);
	/* Replayed with line status and a map, then the tracking is left
	 * cleared for the per-vCPU restore. */
	assert_int_equal(st.deliveries, 1);
	assert_true(st.last_had_map);
	assert_int_equal(state_irr(s), 0);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 0); /* IRR latched */
	x86_ioapic_set_irq(s, 8, 0, 0, true);
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 2);
}

/* ---- scan ----------------------------------------------------------------------- */

static bool scan_match(void *ctx, uint32_t dest_id, uint32_t dest_mode)
{
	(void)ctx;
	return dest_id == 1 && dest_mode == APIC_DEST_PHYSICAL;
}

static bool scan_pending(void *ctx, int vector)
{
	(void)ctx;
	return vector == 0x66;
}

static bool test_bit256(const uint64_t *h, int v)
{
	return (h[v / 64] >> (v % 64)) & 1;
}

static void test_scan_entry(void **state)
{
	struct x86_ioapic *s = *state;
	uint64_t h[4] = { 0 };

	rte_write(s, 0, 0x0100000000018061ull); /* level, masked, dest 1: yes */
	rte_write(s, 1, 0x0100000000000062ull); /* edge dest 1, no notifier: no */
	rte_write(s, 2, 0x0100000000000063ull); /* edge dest 1, notifier: yes */
	rte_write(s, 3, 0x0200000000008064ull); /* level dest 2: no */
	rte_write(s, 8, 0x0100000000000065ull); /* RTC: always considered */
	rte_write(s, 5, 0x0200000000008066ull); /* level dest 2, pending: yes */
	rte_write(s, 6, 0x0100000000008867ull); /* level logical 1: no */
	st.notifier_pins = 1u << 2;
	x86_ioapic_scan_entry(s, 0, scan_match, scan_pending, NULL, h);
	assert_true(test_bit256(h, 0x61));
	assert_false(test_bit256(h, 0x62));
	assert_true(test_bit256(h, 0x63));
	assert_false(test_bit256(h, 0x64));
	assert_true(test_bit256(h, 0x65));
	assert_true(test_bit256(h, 0x66));
	assert_false(test_bit256(h, 0x67));
	/* Pins still at reset (vector 0, masked edge): not considered. */
	assert_false(test_bit256(h, 0x00));

	/* Without pending_eoi only matches count. */
	memset(h, 0, sizeof(h));
	x86_ioapic_scan_entry(s, 0, scan_match, NULL, NULL, h);
	assert_false(test_bit256(h, 0x66));
	/* Existing bits are kept (the caller ORs several sources). */
	h[3] = 1ull << 63;
	x86_ioapic_scan_entry(s, 0, scan_match, NULL, NULL, h);
	assert_true(test_bit256(h, 255));

	/* An RTC interrupt not yet EOIed by this vCPU: its vector. */
	rte_write(s, 8, 0x0300000000000099ull);
	st.map_ids[0] = 3000;
	st.nr_map_ids = 1;
	assert_int_equal(x86_ioapic_set_irq(s, 8, 0, 1, true), 1);
	rte_write(s, 8, 0x0300000000000098ull);
	memset(h, 0, sizeof(h));
	x86_ioapic_scan_entry(s, 3000, scan_match, NULL, NULL, h);
	assert_true(test_bit256(h, 0x99));
	assert_false(test_bit256(h, 0x98));
	memset(h, 0, sizeof(h));
	x86_ioapic_scan_entry(s, 2999, scan_match, NULL, NULL, h);
	assert_false(test_bit256(h, 0x99));
}

/* ---- write side effects ------------------------------------------------------------ */

static void test_unmask_level_with_irr(void **state)
{
	struct x86_ioapic *s = *state;

	rte_write(s, 14, 0x18044);
	assert_int_equal(st.nr_masks, 0);
	assert_int_equal(x86_ioapic_set_irq(s, 14, 0, 1, false), -1);
	/* No resampler: unmasking delivers the held request. */
	rte_write(s, 14, 0x8044);
	assert_int_equal(st.resamples, 1);
	assert_int_equal(st.deliveries, 1);
	assert_int_equal(rte_read(s, 14), 0xc044);
	assert_int_equal(st.nr_masks, 1);
	assert_int_equal(st.masks[0], 14);
	assert_false(st.masked[0]);
	/* Rewriting while remote IRR is set: nothing. */
	rte_write(s, 14, 0x8044);
	assert_int_equal(st.deliveries, 1);

	/* A resampler: IRR cleared, nothing delivered, even though the line
	 * is still high (the device re-asserts). */
	rte_write(s, 15, 0x18045);
	x86_ioapic_set_irq(s, 15, 0, 1, false);
	st.resample_ret = true;
	rte_write(s, 15, 0x8045);
	assert_int_equal(st.deliveries, 1);
	assert_false(state_irr(s) & (1u << 15));
	assert_int_equal(rte_read(s, 15), 0x8045);
	assert_int_equal(st.masks[st.nr_masks - 1], 15);
	/* Masking reports masked = true. */
	rte_write(s, 15, 0x18045);
	assert_true(st.masked[st.nr_masks - 1]);
}

static void test_set_state_roundtrip(void **state)
{
	struct x86_ioapic *s = *state;
	struct kvm_ioapic_state in, out;

	/* kvm: this input gives irr 0xeefff7 (delivered edges 3, 16, 20
	 * hidden; bits above 23 dropped) and every other field as given. */
	memset(&in, 0, sizeof(in));
	in.base_address = 0x123456789abcull;
	in.ioregsel = 0x12345;
	in.id = 0xff;
	in.pad = 0xdeadbeef;
	in.irr = 0xffffffff;
	for (int i = 0; i < 24; i++)
		in.redirtbl[i].bits = 0x10000;
	in.redirtbl[3].bits = 0xfedcba9876543210ull;
	in.redirtbl[16].bits = 0x50;
	in.redirtbl[17].bits = 0x10051;
	in.redirtbl[18].bits = 0x8052;
	in.redirtbl[19].bits = 0xc053;
	in.redirtbl[20].bits = 0x1054;
	st.scans = 0;
	x86_ioapic_set_state(s, &in);
	assert_int_equal(st.scans, 1);
	assert_int_equal(st.deliveries, 4); /* 3, 16, 18, 20 */
	x86_ioapic_get_state(s, &out);
	assert_int_equal(out.irr, 0xeefff7);
	in.redirtbl[18].bits = 0xc052; /* remote IRR from the replay */
	in.irr = out.irr;
	assert_memory_equal(&in, &out, sizeof(in));

	/* kvm: the replay does not set line states: raising 16 finds IRR
	 * already set (0, and now visible), raising 17 likewise. */
	assert_int_equal(x86_ioapic_set_irq(s, 16, 0, 1, false), 0);
	assert_int_equal(x86_ioapic_set_irq(s, 17, 0, 1, false), 0);
	assert_int_equal(x86_ioapic_set_irq(s, 17, 0, 0, false), 1);
	assert_int_equal(state_irr(s), 0xedfff7);

	/* kvm: GET -> SET -> GET gives 0xecfff7: the replay delivers the
	 * undelivered edge of unmasked pin 16.  From then on it is stable. */
	st.deliveries = 0;
	x86_ioapic_get_state(s, &in);
	x86_ioapic_set_state(s, &in);
	x86_ioapic_get_state(s, &out);
	assert_int_equal(out.irr, 0xecfff7);
	/* Only 16: 3 and 20 were hidden, 18 and 19 have remote IRR, the
	 * rest are masked. */
	assert_int_equal(st.deliveries, 1);
	x86_ioapic_get_state(s, &in);
	x86_ioapic_set_state(s, &in);
	x86_ioapic_get_state(s, &out);
	assert_memory_equal(&in, &out, sizeof(in));
}

/* ---- random sequence ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

static bool rnd_match(void *ctx, uint32_t dest_id, uint32_t dest_mode)
{
	(void)ctx;
	(void)dest_mode;
	return (dest_id & 1) != 0;
}

static bool rnd_pending(void *ctx, int vector)
{
	(void)ctx;
	return (vector & 3) == 0;
}

static void test_random_sequence(void **state)
{
	struct x86_ioapic *s = *state;
	uint8_t buf[16];
	uint64_t h[4];

	rng_state = 0x1234567;
	st.nr_map_ids = 2;
	st.map_ids[0] = 1;
	st.map_ids[1] = 4095;
	for (int step = 0; step < 200000; step++) {
		uint32_t op = rng() % 12;
		uint32_t v = rng();

		st.deliver_ret = (int)(rng() % 4) - 1;
		st.resample_ret = rng() & 1;
		st.notifier_pins = rng();
		switch (op) {
		case 0:
		case 1:
			x86_ioapic_set_irq(s, (int)(rng() % 30) - 3, (int)(rng() % 70) - 3,
					   (int)(rng() % 3), rng() & 1);
			break;
		case 2:
			for (int i = 0; i < 16; i++)
				buf[i] = (uint8_t)rng();
			x86_ioapic_mmio_write(s, rng() % 0x120, buf, rng() % 10);
			break;
		case 3:
			x86_ioapic_mmio_read(s, rng() % 0x120, buf, rng() % 10);
			break;
		case 4:
			wr32(s, 0x00, rng() % 0x48);
			break;
		case 5:
			wr32(s, 0x10, v);
			break;
		case 6:
			x86_ioapic_update_eoi(s, rng() % 5000, rng() & 1, (int)(rng() % 260) - 2,
					      (int)(rng() % 3));
			break;
		case 7:
			memset(h, 0, sizeof(h));
			x86_ioapic_scan_entry(s, rng() % 5000, rnd_match, rnd_pending, NULL, h);
			break;
		case 8:
			x86_ioapic_rtc_restore_one(s, rng() % 5000, rnd_match, rnd_pending, NULL);
			break;
		case 9:
			st.clock.now += rng() % 20000000;
			x86_ioapic_poll(s, st.clock.now);
			break;
		case 10:
			if (rng() % 64 == 0) {
				struct kvm_ioapic_state k;

				x86_ioapic_get_state(s, &k);
				k.irr ^= rng();
				k.redirtbl[rng() % 24].bits ^= (uint64_t)rng() << (rng() % 40);
				x86_ioapic_set_state(s, &k);
			}
			break;
		default:
			if (rng() % 256 == 0)
				x86_ioapic_clear_all(s, (int)(rng() % 70) - 3);
			break;
		}
		/* Invariant: an edge entry never holds remote IRR unless SET
		 * put it there. */
		if (op == 5 && (v & 0x8000) == 0 && rd32(s, 0x00) >= 0x10 && rd32(s, 0x00) < 0x40 &&
		    !(rd32(s, 0x00) & 1))
			assert_false(rd32(s, 0x10) & RIRR);
	}
	/* Still a working IOAPIC. */
	assert_int_equal(reg_read(s, 0x01), 0x170011);
}

/* ---- threads ----------------------------------------------------------------------- */

struct mt {
	struct x86_ioapic *s;
	_Atomic int acks;
	_Atomic int deliveries;
	int id;
};

static int mt_deliver(void *opaque, const struct x86_irq *irq, struct x86_dest_map *dest_map)
{
	struct mt *m = opaque;

	(void)irq;
	if (dest_map)
		x86_dest_map_set(dest_map, 0, (uint8_t)irq->vector);
	atomic_fetch_add(&m->deliveries, 1);
	return 1;
}

static void mt_acked(void *opaque, int pin)
{
	struct mt *m = opaque;

	atomic_fetch_add(&m->acks, 1);
	/* Re-enter, as a resampling irqfd does. */
	x86_ioapic_set_irq(m->s, pin, 1, 0, false);
}

static void *mt_worker(void *arg)
{
	struct mt *m = arg;
	uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)(m->id + 1);

	for (int i = 0; i < 20000; i++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t x = (uint32_t)(r >> 33);
		int pin = (int)(x % 24);

		switch (m->id) {
		case 0:
			x86_ioapic_set_irq(m->s, pin, (int)(x >> 8) & 1, (x >> 9) & 1, (x >> 10) & 1);
			break;
		case 1:
			x86_ioapic_update_eoi(m->s, 0, false, 0x40 + pin, 1);
			break;
		case 2: {
			uint32_t sel = 0x10 + 2 * (uint32_t)pin, v = 0x40 + (uint32_t)pin;

			v |= (x & 0x18000); /* level and/or masked */
			x86_ioapic_mmio_write(m->s, 0x00, &sel, 4);
			x86_ioapic_mmio_write(m->s, 0x10, &v, 4);
			break;
		}
		default: {
			struct kvm_ioapic_state k;
			uint64_t h[4] = { 0 };

			x86_ioapic_get_state(m->s, &k);
			if ((x & 63) == 0)
				x86_ioapic_set_state(m->s, &k);
			x86_ioapic_scan_entry(m->s, 0, rnd_match, rnd_pending, NULL, h);
			x86_ioapic_poll(m->s, (uint64_t)i * 1000000);
			break;
		}
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct mt shared = { 0 };
	struct x86_ioapic_hooks hooks = {
		.opaque = &shared, .deliver = mt_deliver, .acked = mt_acked,
	};
	struct mt args[4];
	pthread_t t[4];

	(void)state;
	shared.s = x86_ioapic_create(&hooks);
	assert_non_null(shared.s);
	/* Give every entry the vector the EOI thread ends, so acks happen
	 * whatever the interleaving (the RTE thread may come last). */
	for (uint32_t pin = 0; pin < 24; pin++) {
		uint32_t sel = 0x10 + 2 * pin, v = 0x40 + pin;

		x86_ioapic_mmio_write(shared.s, 0x00, &sel, 4);
		x86_ioapic_mmio_write(shared.s, 0x10, &v, 4);
	}
	for (int i = 0; i < 4; i++) {
		args[i].s = shared.s;
		args[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, mt_worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_true(atomic_load(&shared.deliveries) > 0);
	assert_true(atomic_load(&shared.acks) > 0);
	assert_int_equal(reg_read(shared.s, 0x01), 0x170011);
	x86_ioapic_destroy(shared.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioregsel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_version_arb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rte_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rte_ro_bits_preserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rte_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmio_bad_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmio_guest_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rte_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_masked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_remote_irr_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_source_or, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eoi_directed_and_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eoi_ack_lowers_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eoi_storm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_set_state_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmask_level_with_irr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_state_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_sequence, setup, teardown),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
