/* SPDX-License-Identifier: MIT */
/*
 * ioapic.c - the 82093AA I/O APIC of a PC (24 pins, version 0x11), as KVM's
 * arch/x86/kvm/ioapic.c models it; the running kernel is the oracle.
 *
 * Guest view: two registers in a 0x100-byte MMIO window, IOREGSEL (0x00,
 * 8 bits) selecting an indirect register and IOWIN (0x10) reading/writing
 * it.  Indirect registers: 0x00 ID (bits 27:24), 0x01 version (0x170011,
 * read-only), 0x02 arbitration (reads as the ID), 0x10 + 2n / 0x11 + 2n the
 * low/high dword of redirection entry n.  Remote IRR and delivery status are
 * read-only; the model never sets delivery status itself.
 *
 * Pin state:
 *   line_state[pin]  one bit per irq_source_id; the line level is their OR.
 *   irr              the pin's request latch.  Level pins follow the line;
 *                    edge pins latch on 0->1 and clear when the line drops.
 *   irr_delivered    edges already sent to the LAPICs (KVM_GET_IRQCHIP
 *                    reports irr & ~irr_delivered, so a migrated edge is not
 *                    delivered twice).
 *   remote IRR       (entry bit 14) a level interrupt awaits its EOI.
 *
 * Return values of x86_ioapic_set_irq() (the kernel's, quirks included):
 *   line low                           1
 *   RTC pin, line_status, EOI pending  0   (coalesced)
 *   edge pin whose IRR was already set 0   (coalesced)
 *   masked, or level with remote IRR  -1   (even though the line is high)
 *   otherwise the delivery result: -1 no LAPIC selected, 0 none accepted,
 *   n > 0 accepted by n LAPICs.  A level pin gets remote IRR whenever that
 *   result is non-zero, -1 included.
 *
 * RTC (GSI 8): Windows keeps time by counting RTC interrupts, so callers
 * asking for line status learn whether the previous RTC interrupt was EOIed
 * by every vCPU it reached (rtc.pending_eoi, rtc.dest_map).
 *
 * EOI storm: a level pin re-delivered on 10000 successive EOIs while its
 * line stays high is re-delivered 10 ms later instead (x86_ioapic_poll).
 *
 * Locking: one mutex per IOAPIC.  @deliver and @resample run under it (leaf
 * hooks).  @acked runs with the lock dropped and retaken around it, at the
 * kernel's place, so ack notifiers may lower the line.  @mask and @scan are
 * collected while locked and fired after the unlock; @has_notifier, @match
 * and @pending_eoi are asked after the unlock on a snapshot of the table.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spinlock.h"
#include "ioapic.h"

#define IOAPIC_PINS X86_IOAPIC_NUM_PINS
#define IOAPIC_SOURCES 64 /* irq_source_id is a bit of a 64-bit word */
#define IOAPIC_VERSION 0x11
#define IOAPIC_DEFAULT_BASE 0xfec00000ull
#define IOAPIC_WINDOW 0x100
#define IOAPIC_RTC_PIN X86_RTC_GSI

/* Direct registers (offsets in the window). */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN 0x10

/* Indirect registers (IOREGSEL values). */
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_ARB 0x02
#define IOAPIC_REG_RTBL 0x10 /* entry n: 0x10 + 2n (low), 0x11 + 2n (high) */

/* Redirection table entry bits. */
#define RTE_VECTOR 0xffull
#define RTE_DELIVERY_SHIFT 8
#define RTE_DELIVERY_MASK 0x7ull
#define RTE_DEST_LOGICAL (1ull << 11)
#define RTE_DELIVERY_STATUS (1ull << 12)
#define RTE_POLARITY (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASKED (1ull << 16)
#define RTE_DEST_SHIFT 56
#define RTE_RO_BITS (RTE_REMOTE_IRR | RTE_DELIVERY_STATUS)
#define RTE_RESET RTE_MASKED

#define IOAPIC_EOI_STORM_COUNT 10000    /* IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT */
#define IOAPIC_EOI_STORM_DELAY_NS 10000000ull /* HZ / 100 */

/* A redirection entry, decoded once. */
struct rte_info {
	uint8_t vector;
	uint8_t delivery_mode; /* 0-7, the IOAPIC encoding */
	bool logical;
	bool remote_irr;
	bool level;
	bool masked;
	uint8_t dest_id;
};

struct x86_ioapic {
	virq_spinlock_t lock; /* spinlock.h: short sections, no call-outs */
	struct x86_ioapic_hooks hooks;

	/* The guest-visible state, as struct kvm_ioapic_state stores it (SET
	 * stores every field as given, out-of-range values and pad included). */
	uint64_t base_address;
	uint32_t ioregsel;
	uint32_t id;
	uint32_t irr;
	uint32_t pad;
	uint64_t rtbl[IOAPIC_PINS]; /* redirection table */

	uint32_t irr_delivered;
	uint64_t line_state[IOAPIC_PINS]; /* kvm's irq_states[] */
	uint32_t eoi_count[IOAPIC_PINS];  /* kvm's irq_eoi[] */

	struct {
		int pending_eoi; /* vCPUs that have not EOIed the last RTC irq */
		struct x86_dest_map dest_map;
	} rtc;

	/* kvm's eoi_inject delayed work. */
	struct {
		bool pending;
		bool deadline_set; /* the clock is read after the lock is dropped */
		uint64_t deadline;
	} eoi_inject;
};

/* What a locked section leaves for after the unlock. */
struct ioapic_calls {
	bool scan;
	bool mask_changed;
	int mask_pin;
	bool masked;
};

/* ---- helpers (lock held unless stated) ---------------------------------- */

static struct rte_info rte_decode(uint64_t bits)
{
	struct rte_info e = {
		.vector = (uint8_t)(bits & RTE_VECTOR),
		.delivery_mode = (uint8_t)((bits >> RTE_DELIVERY_SHIFT) & RTE_DELIVERY_MASK),
		.logical = (bits & RTE_DEST_LOGICAL) != 0,
		.remote_irr = (bits & RTE_REMOTE_IRR) != 0,
		.level = (bits & RTE_LEVEL) != 0,
		.masked = (bits & RTE_MASKED) != 0,
		.dest_id = (uint8_t)(bits >> RTE_DEST_SHIFT),
	};
	return e;
}

static uint32_t rte_dest_mode(const struct rte_info *e)
{
	return e->logical ? APIC_DEST_LOGICAL : APIC_DEST_PHYSICAL;
}

static void ioapic_lock(struct x86_ioapic *s)
{
	virq_spin_lock(&s->lock);
}

static void ioapic_unlock(struct x86_ioapic *s)
{
	virq_spin_unlock(&s->lock);
}

static void ioapic_run_calls(struct x86_ioapic *s, const struct ioapic_calls *c)
{
	if (c->mask_changed && s->hooks.mask)
		s->hooks.mask(s->hooks.opaque, c->mask_pin, c->masked);
	if (c->scan && s->hooks.scan)
		s->hooks.scan(s->hooks.opaque);
}

static bool dest_map_test_clear(struct x86_dest_map *m, uint32_t id)
{
	uint64_t bit = 1ull << (id % 64);
	bool was = (m->map[id / 64] & bit) != 0;

	m->map[id / 64] &= ~bit;
	return was;
}

static void rtc_tracking_reset(struct x86_ioapic *s)
{
	s->rtc.pending_eoi = 0;
	memset(s->rtc.dest_map.map, 0, sizeof(s->rtc.dest_map.map));
}

/*
 * The kernel recomputes the tracking from every vCPU if the count ever went
 * negative (a kernel bug path, WARN_ON).  The model cannot see the vCPUs, so
 * it drops the tracking instead: the next RTC interrupt is not coalesced.
 */
static void rtc_pending_eoi_check(struct x86_ioapic *s)
{
	if (s->rtc.pending_eoi < 0)
		rtc_tracking_reset(s);
}

/* rtc_irq_eoi(): vCPU @id EOIed @vector. */
static void rtc_eoi(struct x86_ioapic *s, uint32_t id, int vector)
{
	struct x86_dest_map *m = &s->rtc.dest_map;

	if (!x86_dest_map_test(m, id) || vector != m->vectors[id])
		return;
	if (dest_map_test_clear(m, id)) {
		s->rtc.pending_eoi--;
		rtc_pending_eoi_check(s);
	}
}

/* ioapic_service(): send the pin's interrupt to the LAPICs. */
static int ioapic_service(struct x86_ioapic *s, int pin, bool line_status)
{
	struct rte_info e = rte_decode(s->rtbl[pin]);
	struct x86_irq irq;
	int ret;

	if (e.masked || (e.level && e.remote_irr))
		return -1;

	memset(&irq, 0, sizeof(irq));
	irq.vector = e.vector;
	irq.delivery_mode = (uint32_t)e.delivery_mode << 8;
	irq.dest_mode = rte_dest_mode(&e);
	irq.level = true;
	irq.trig_mode = e.level;
	irq.shorthand = APIC_DEST_NOSHORT;
	irq.dest_id = e.dest_id;
	irq.msi_redir_hint = false;

	if (!e.level)
		s->irr_delivered |= 1u << pin;

	if (pin == IOAPIC_RTC_PIN && line_status) {
		/* The caller checked pending_eoi == 0 (coalescing); the map
		 * collects the vCPUs that must EOI this one. */
		ret = s->hooks.deliver ? s->hooks.deliver(s->hooks.opaque, &irq, &s->rtc.dest_map) : -1;
		s->rtc.pending_eoi = ret < 0 ? 0 : ret;
	} else {
		ret = s->hooks.deliver ? s->hooks.deliver(s->hooks.opaque, &irq, NULL) : -1;
	}

	if (ret && e.level)
		s->rtbl[pin] |= RTE_REMOTE_IRR;
	return ret;
}

/* ioapic_set_irq(): the pin's line is now @high. */
static int ioapic_set_line(struct x86_ioapic *s, int pin, bool high, bool line_status)
{
	uint32_t bit = 1u << pin;
	uint64_t entry = s->rtbl[pin]; /* traced as it was before delivery */
	bool edge = !(entry & RTE_LEVEL);
	uint32_t old_irr;
	int ret;

	if (!high) {
		s->irr &= ~bit;
		ret = 1;
		goto out;
	}

	/* An RTC interrupt not yet EOIed everywhere: report it coalesced. */
	if (pin == IOAPIC_RTC_PIN && line_status && s->rtc.pending_eoi > 0) {
		ret = 0;
		goto out;
	}

	old_irr = s->irr;
	s->irr |= bit;
	if (edge) {
		s->irr_delivered &= ~bit;
		if (old_irr == s->irr) {
			ret = 0; /* no rising edge */
			goto out;
		}
	}
	ret = ioapic_service(s, pin, line_status);
out:
	virq_trace_kvm_ioapic_set_irq(s->hooks.trace, -1, entry, pin, ret == 0);
	return ret;
}

static uint32_t ioapic_read_indirect(struct x86_ioapic *s)
{
	uint32_t index;
	uint64_t entry = ~0ull;

	switch (s->ioregsel) {
	case IOAPIC_REG_VERSION:
		return ((uint32_t)(IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB:
		return (s->id & 0xf) << 24;
	default:
		/* Unsigned: selectors 0x03-0x0f wrap far out of range. */
		index = (s->ioregsel - IOAPIC_REG_RTBL) >> 1;
		if (index < IOAPIC_PINS)
			entry = s->rtbl[index];
		return (s->ioregsel & 1) ? (uint32_t)(entry >> 32) : (uint32_t)entry;
	}
}

static void ioapic_write_rte(struct x86_ioapic *s, uint32_t index, uint32_t val,
			     struct ioapic_calls *calls)
{
	uint64_t old = s->rtbl[index];
	uint64_t bits = old;
	struct rte_info e;
	uint32_t bit = 1u << index;

	if (s->ioregsel & 1)
		bits = (bits & 0xffffffffull) | ((uint64_t)val << 32);
	else
		bits = (bits & ~0xffffffffull) | val;
	bits = (bits & ~RTE_RO_BITS) | (old & RTE_RO_BITS);

	/*
	 * Linux and Xen clear a stuck remote IRR by switching the entry to
	 * edge and back (IOAPICs older than version 0x20 have no EOI
	 * register), so an edge entry never keeps remote IRR.
	 */
	if (!(bits & RTE_LEVEL))
		bits &= ~RTE_REMOTE_IRR;
	s->rtbl[index] = bits;
	e = rte_decode(bits);

	if ((old ^ bits) & RTE_MASKED) {
		calls->mask_changed = true;
		calls->mask_pin = (int)index;
		calls->masked = e.masked;
	}

	/*
	 * Unmasking a level pin with IRR set: the line may have dropped while
	 * it was masked (a oneshot handler acks the device before unmasking)
	 * and nothing told us.  With an irqfd resampler, clear IRR and let the
	 * device re-assert; without one, deliver and risk a spurious interrupt.
	 */
	if (e.level && (s->irr & bit) && !e.masked && !e.remote_irr) {
		if (s->hooks.resample && s->hooks.resample(s->hooks.opaque, (int)index))
			s->irr &= ~bit;
		else
			ioapic_service(s, (int)index, false);
	}

	/* The kernel asks only the vCPUs of the old and new destinations of
	 * a fixed entry to rescan; the integrator rescans all (a superset). */
	calls->scan = true;
}

static void ioapic_write_indirect(struct x86_ioapic *s, uint32_t val, struct ioapic_calls *calls)
{
	uint32_t index;

	switch (s->ioregsel) {
	case IOAPIC_REG_VERSION:
	case IOAPIC_REG_ARB:
		break; /* read-only */
	case IOAPIC_REG_ID:
		s->id = (val >> 24) & 0xf;
		break;
	default:
		index = (s->ioregsel - IOAPIC_REG_RTBL) >> 1;
		if (index < IOAPIC_PINS)
			ioapic_write_rte(s, index, val, calls);
		break;
	}
}

/* The delayed re-delivery after an EOI storm (kvm_ioapic_eoi_inject_work). */
static void ioapic_eoi_inject(struct x86_ioapic *s)
{
	for (int pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t bits = s->rtbl[pin];

		if (!(bits & RTE_LEVEL))
			continue;
		if ((s->irr & (1u << pin)) && !(bits & RTE_REMOTE_IRR))
			ioapic_service(s, pin, false);
	}
}

/* kvm_ioapic_update_eoi_one(); drops and retakes the lock. */
static void ioapic_eoi_pin(struct x86_ioapic *s, bool directed_eoi, int trigger_mode, int pin)
{
	/*
	 * Ack notifiers may call back into the IOAPIC (a resampling irqfd
	 * lowers the line).  Remote IRR is cleared only after they return,
	 * so an interrupt raised meanwhile waits in IRR and goes out below.
	 */
	ioapic_unlock(s);
	if (s->hooks.acked)
		s->hooks.acked(s->hooks.opaque, pin);
	ioapic_lock(s);

	if (trigger_mode != 1 || directed_eoi)
		return;

	s->rtbl[pin] &= ~RTE_REMOTE_IRR;
	if (!(s->rtbl[pin] & RTE_MASKED) && (s->irr & (1u << pin))) {
		/*
		 * Real IOAPICs do not re-deliver instantly on an EOI
		 * broadcast; a guest that never quiets its device still makes
		 * slow progress if a storm is slowed down.
		 */
		if (++s->eoi_count[pin] == IOAPIC_EOI_STORM_COUNT) {
			if (!s->eoi_inject.pending) {
				s->eoi_inject.pending = true;
				s->eoi_inject.deadline_set = false;
			}
			s->eoi_count[pin] = 0;
			virq_trace_kvm_ioapic_delayed_eoi_inj(s->hooks.trace, -1, s->rtbl[pin]);
		} else {
			ioapic_service(s, pin, false);
		}
	} else {
		s->eoi_count[pin] = 0;
	}
}

static void ioapic_reset(struct x86_ioapic *s)
{
	for (int pin = 0; pin < IOAPIC_PINS; pin++)
		s->rtbl[pin] = RTE_RESET;
	s->base_address = IOAPIC_DEFAULT_BASE;
	s->ioregsel = 0;
	s->id = 0;
	s->irr = 0;
	s->pad = 0;
	s->irr_delivered = 0;
	memset(s->eoi_count, 0, sizeof(s->eoi_count));
	memset(&s->eoi_inject, 0, sizeof(s->eoi_inject));
	rtc_tracking_reset(s);
}

/* ---- lines ----------------------------------------------------------------- */

int x86_ioapic_set_irq(struct x86_ioapic *s, int pin, int irq_source_id, int level, bool line_status)
{
	uint64_t bit;
	int ret;

	if (!s || pin < 0 || pin >= IOAPIC_PINS || irq_source_id < 0 || irq_source_id >= IOAPIC_SOURCES)
		return -1;
	bit = 1ull << irq_source_id;

	ioapic_lock(s);
	if (level)
		s->line_state[pin] |= bit;
	else
		s->line_state[pin] &= ~bit;
	ret = ioapic_set_line(s, pin, s->line_state[pin] != 0, line_status);
	ioapic_unlock(s);
	return ret;
}

void x86_ioapic_clear_all(struct x86_ioapic *s, int irq_source_id)
{
	if (!s || irq_source_id < 0 || irq_source_id >= IOAPIC_SOURCES)
		return;
	ioapic_lock(s);
	/* As kvm_ioapic_clear_all(): IRR is not re-evaluated. */
	for (int pin = 0; pin < IOAPIC_PINS; pin++)
		s->line_state[pin] &= ~(1ull << irq_source_id);
	ioapic_unlock(s);
}

/* ---- guest MMIO -------------------------------------------------------------- */

static bool mmio_len_ok(unsigned len)
{
	return len == 1 || len == 2 || len == 4 || len == 8;
}

int x86_ioapic_mmio_read(struct x86_ioapic *s, uint32_t offset, void *data, unsigned len)
{
	uint8_t *out = data;
	uint64_t val;

	if (!s || !data)
		return -EINVAL;
	if (offset >= IOAPIC_WINDOW)
		return -EOPNOTSUPP;
	if (!mmio_len_ok(len))
		return -EINVAL;

	ioapic_lock(s);
	switch (offset) {
	case IOAPIC_IOREGSEL:
		val = s->ioregsel;
		break;
	case IOAPIC_IOWIN:
		val = ioapic_read_indirect(s);
		break;
	default:
		val = 0;
		break;
	}
	ioapic_unlock(s);

	for (unsigned i = 0; i < len; i++)
		out[i] = (uint8_t)(val >> (8 * i));
	return 0;
}

int x86_ioapic_mmio_write(struct x86_ioapic *s, uint32_t offset, const void *data, unsigned len)
{
	const uint8_t *in = data;
	struct ioapic_calls calls = { 0 };
	uint32_t val = 0;

	if (!s || !data)
		return -EINVAL;
	if (offset >= IOAPIC_WINDOW)
		return -EOPNOTSUPP;
	if (!mmio_len_ok(len))
		return -EINVAL;

	/* An 8-byte write carries its low dword only. */
	for (unsigned i = 0; i < len && i < 4; i++)
		val |= (uint32_t)in[i] << (8 * i);

	ioapic_lock(s);
	switch (offset) {
	case IOAPIC_IOREGSEL:
		s->ioregsel = val & 0xff;
		break;
	case IOAPIC_IOWIN:
		ioapic_write_indirect(s, val, &calls);
		break;
	default:
		break;
	}
	ioapic_unlock(s);

	ioapic_run_calls(s, &calls);
	return 0;
}

/* ---- EOI --------------------------------------------------------------------- */

void x86_ioapic_update_eoi(struct x86_ioapic *s, uint32_t vcpu_id, bool directed_eoi,
			   int vector, int trigger_mode)
{
	bool need_clock;
	uint64_t now;

	if (!s || vcpu_id >= X86_MAX_VCPU_IDS)
		return;

	ioapic_lock(s);
	rtc_eoi(s, vcpu_id, vector);
	for (int pin = 0; pin < IOAPIC_PINS; pin++) {
		/* Tested under the lock; ioapic_eoi_pin() drops it. */
		if ((int)(s->rtbl[pin] & RTE_VECTOR) != vector)
			continue;
		ioapic_eoi_pin(s, directed_eoi, trigger_mode, pin);
	}
	need_clock = s->eoi_inject.pending && !s->eoi_inject.deadline_set;
	ioapic_unlock(s);

	if (!need_clock)
		return;
	/* The storm delay starts now; read the clock with the lock dropped. */
	now = s->hooks.now ? s->hooks.now(s->hooks.opaque) : 0;
	ioapic_lock(s);
	if (s->eoi_inject.pending && !s->eoi_inject.deadline_set) {
		s->eoi_inject.deadline = now + IOAPIC_EOI_STORM_DELAY_NS;
		s->eoi_inject.deadline_set = true;
	}
	ioapic_unlock(s);
}

int64_t x86_ioapic_poll(struct x86_ioapic *s, uint64_t now)
{
	int64_t ret = INT64_MAX;

	if (!s)
		return INT64_MAX;

	ioapic_lock(s);
	if (s->eoi_inject.pending) {
		if (!s->eoi_inject.deadline_set) {
			s->eoi_inject.deadline = now + IOAPIC_EOI_STORM_DELAY_NS;
			s->eoi_inject.deadline_set = true;
		}
		if (now < s->eoi_inject.deadline) {
			uint64_t left = s->eoi_inject.deadline - now;

			ret = left > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)left;
		} else {
			s->eoi_inject.pending = false;
			s->eoi_inject.deadline_set = false;
			ioapic_eoi_inject(s);
		}
	}
	ioapic_unlock(s);
	return ret;
}

/* ---- EOI interception and RTC tracking ------------------------------------------ */

void x86_ioapic_scan_entry(struct x86_ioapic *s, uint32_t vcpu_id,
			   bool (*match)(void *ctx, uint32_t dest_id, uint32_t dest_mode),
			   bool (*pending_eoi)(void *ctx, int vector), void *ctx,
			   uint64_t handled[4])
{
	uint64_t rtbl[IOAPIC_PINS];
	bool rtc_pending = false;
	uint8_t rtc_vector = 0;

	if (!s || !match || !handled)
		return;

	ioapic_lock(s);
	memcpy(rtbl, s->rtbl, sizeof(rtbl));
	if (x86_dest_map_test(&s->rtc.dest_map, vcpu_id)) {
		rtc_pending = true;
		rtc_vector = s->rtc.dest_map.vectors[vcpu_id];
	}
	ioapic_unlock(s);

	/* An RTC interrupt this vCPU has not EOIed yet must be seen. */
	if (rtc_pending)
		handled[rtc_vector / 64] |= 1ull << (rtc_vector % 64);

	for (int pin = 0; pin < IOAPIC_PINS; pin++) {
		struct rte_info e = rte_decode(rtbl[pin]);
		bool wanted = e.level || pin == IOAPIC_RTC_PIN ||
			      (s->hooks.has_notifier && s->hooks.has_notifier(s->hooks.opaque, pin));

		if (!wanted)
			continue;
		/* The vCPU is a target of the entry, or still holds an
		 * interrupt it sent under an older routing. */
		if (match(ctx, e.dest_id, rte_dest_mode(&e)) ||
		    (pending_eoi && pending_eoi(ctx, e.vector)))
			handled[e.vector / 64] |= 1ull << (e.vector % 64);
	}
}

void x86_ioapic_rtc_restore_one(struct x86_ioapic *s, uint32_t vcpu_id,
				bool (*match)(void *ctx, uint32_t dest_id, uint32_t dest_mode),
				bool (*pending_eoi)(void *ctx, int vector), void *ctx)
{
	struct x86_dest_map *m;
	struct rte_info e;
	uint64_t snap;
	bool now_pending, was_pending;

	if (!s || vcpu_id >= X86_MAX_VCPU_IDS || !match || !pending_eoi)
		return;

	/* Ask the LAPIC with the lock dropped; retry if the guest rewrote the
	 * RTC entry meanwhile (bounded: a racing guest gets the last answer). */
	ioapic_lock(s);
	for (int tries = 0;; tries++) {
		snap = s->rtbl[IOAPIC_RTC_PIN];
		ioapic_unlock(s);
		e = rte_decode(snap);
		if (!match(ctx, e.dest_id, rte_dest_mode(&e)))
			return;
		now_pending = pending_eoi(ctx, e.vector);
		ioapic_lock(s);
		if (s->rtbl[IOAPIC_RTC_PIN] == snap || tries >= 8)
			break;
	}

	m = &s->rtc.dest_map;
	was_pending = x86_dest_map_test(m, vcpu_id);
	if (now_pending && !was_pending) {
		x86_dest_map_set(m, vcpu_id, e.vector);
		s->rtc.pending_eoi++;
	} else if (!now_pending && was_pending) {
		dest_map_test_clear(m, vcpu_id);
		s->rtc.pending_eoi--;
		rtc_pending_eoi_check(s);
	}
	ioapic_unlock(s);
}

void x86_ioapic_rtc_reset_tracking(struct x86_ioapic *s)
{
	if (!s)
		return;
	ioapic_lock(s);
	rtc_tracking_reset(s);
	ioapic_unlock(s);
}

/* ---- create / destroy ------------------------------------------------------------ */

struct x86_ioapic *x86_ioapic_create(const struct x86_ioapic_hooks *hooks)
{
	struct x86_ioapic *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	virq_spin_init(&s->lock);
	if (hooks)
		s->hooks = *hooks;
	ioapic_reset(s);
	return s;
}

void x86_ioapic_destroy(struct x86_ioapic *s)
{
	if (!s)
		return;
	/* The delayed injection is a deadline polled by the owner: nothing
	 * to cancel here. */
	free(s);
}

/* ---- KVM_GET/SET_IRQCHIP (chip 2) --------------------------------------------------- */

void x86_ioapic_get_state(struct x86_ioapic *s, struct kvm_ioapic_state *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!s)
		return;

	ioapic_lock(s);
	out->base_address = s->base_address;
	out->ioregsel = s->ioregsel;
	out->id = s->id;
	/* Edges already delivered are not reported, so a restore does not
	 * deliver them a second time. */
	out->irr = s->irr & ~s->irr_delivered;
	out->pad = s->pad;
	for (int pin = 0; pin < IOAPIC_PINS; pin++)
		out->redirtbl[pin].bits = s->rtbl[pin];
	ioapic_unlock(s);
}

void x86_ioapic_set_state(struct x86_ioapic *s, const struct kvm_ioapic_state *in)
{
	struct ioapic_calls calls = { .scan = true };
	uint32_t replay;

	if (!s || !in)
		return;

	ioapic_lock(s);
	s->base_address = in->base_address;
	s->ioregsel = in->ioregsel;
	s->id = in->id;
	s->pad = in->pad;
	for (int pin = 0; pin < IOAPIC_PINS; pin++)
		s->rtbl[pin] = in->redirtbl[pin].bits;
	s->irr = 0;
	s->irr_delivered = 0;

	/*
	 * kvm_ioapic_inject_all(): raise every saved request again (pins
	 * 0-23; the line states are left alone), RTC with line status, then
	 * rebuild the RTC tracking from the LAPICs: the caller does that part
	 * with x86_ioapic_rtc_restore_one() per vCPU, on a cleared tracking.
	 */
	replay = in->irr & ((1u << IOAPIC_PINS) - 1);
	rtc_tracking_reset(s);
	for (int pin = 0; pin < IOAPIC_PINS; pin++)
		if (replay & (1u << pin))
			ioapic_set_line(s, pin, true, true);
	rtc_tracking_reset(s);
	ioapic_unlock(s);

	ioapic_run_calls(s, &calls);
}
