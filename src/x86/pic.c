/* SPDX-License-Identifier: MIT */
/*
 * pic.c - the dual 8259A PIC of a PC, as KVM's arch/x86/kvm/i8259.c
 * models it (the running kernel is the oracle, quirks included).
 *
 * Two chips: the master (ports 0x20/0x21, chip 0) and the slave (ports
 * 0xa0/0xa1, chip 1) cascaded on master pin 2, plus the PIIX edge/level
 * control registers at 0x4d0 (master) and 0x4d1 (slave).  The register
 * file of each chip is kept as a struct kvm_pic_state, so KVM_GET/SET_IRQCHIP
 * are plain copies, exactly as in the kernel.
 *
 * Initialisation state machine (init_state), driven by the data port:
 *
 *   ICW1 (even port, bit 4) -> state 1, chip partly reset
 *   state 1: ICW2 = vector base (low 3 bits dropped)  -> state 2
 *   state 2: ICW3 (ignored)          -> state 3 if ICW1 asked for ICW4, else 0
 *   state 3: ICW4 = SFNM (bit 4), AEOI (bit 1)        -> state 0
 *   state 0: writes set the IMR (OCW1)
 *   other values (only through KVM_SET_IRQCHIP): data writes are ignored
 *
 * Quirks kept on purpose because KVM has them: special mask mode is stored
 * but never changes priority resolution; single mode and level-triggered
 * ICW1 bits are ignored; poll reads return the bare IRQ number (no bit 7);
 * a poll read with nothing pending returns 7; ELCR writes do not
 * re-evaluate the output; kvm_pic_clear_all() does not either.
 *
 * Locking: one mutex per PIC pair; no hook runs with it held.  The vCPU kick
 * (pic_unlock()) and the mask notifiers are queued while locked and run
 * after each unlock.  Ack notifiers run where the kernel runs them: in
 * pic_clear_isr(), which drops the lock in the middle of an operation.
 */
#include <errno.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "spinlock.h"
#include "pic.h"
#include "trace.h"

#define PIC_PINS 16
#define PIC_SOURCES 64 /* irq_source_id is a bit in a 64-bit word */
#define PIC_CASCADE_PIN 2
#define PIC_SPURIOUS_PIN 7
#define PIC_NO_IRQ (-1)
#define PIC_QUEUE_LEN 32

/* elcr_mask: which pins the ELCR may make level triggered (KVM's values:
 * master 0-2 and slave 8 and 13 are edge only). */
#define PIC_ELCR_MASK_MASTER 0xf8
#define PIC_ELCR_MASK_SLAVE 0xde

enum pic_call_kind {
	PIC_CALL_KICK,  /* hooks.kick */
	PIC_CALL_MASK,  /* hooks.mask */
};

struct pic_call {
	uint8_t kind;
	uint8_t irq;  /* 0-15 */
	uint8_t flag; /* PIC_CALL_MASK: the new mask bit */
};

struct x86_pic {
	virq_spinlock_t lock; /* spinlock.h: short sections, no call-outs */
	struct x86_pic_hooks hooks;

	/* [0] master, [1] slave: byte for byte what KVM_GET_IRQCHIP shows. */
	struct kvm_pic_state chip[2];
	/* irq_states: bit n set while source n drives the pin high. */
	uint64_t line[PIC_PINS];
	/* The INT output to the CPU (vpic->output). */
	atomic_bool output;
	/* Output was low when last evaluated: kick at the next unlock point. */
	bool wakeup_needed;

	/* Calls to make once the lock is dropped, in order. */
	struct pic_call queue[PIC_QUEUE_LEN];
	unsigned int queued;
};

/* ---- lock and deferred calls -------------------------------------------- */

static void pic_lock(struct x86_pic *s)
{
	virq_spin_lock(&s->lock);
}

static void pic_queue(struct x86_pic *s, uint8_t kind, int irq, bool flag)
{
	/* At most 8 mask calls and one kick are queued between two unlocks;
	 * the bound is never reached. */
	if (s->queued < PIC_QUEUE_LEN)
		s->queue[s->queued++] = (struct pic_call){ kind, (uint8_t)irq, flag };
}

/* pic_unlock(): drop the lock, then make the queued calls; a wakeup armed
 * by pic_set_output() becomes one kick, as in the kernel. */
static void pic_unlock(struct x86_pic *s)
{
	struct pic_call calls[PIC_QUEUE_LEN];
	unsigned int i, n;

	if (s->wakeup_needed) {
		s->wakeup_needed = false;
		pic_queue(s, PIC_CALL_KICK, 0, false);
	}
	n = s->queued;
	memcpy(calls, s->queue, n * sizeof(calls[0]));
	s->queued = 0;
	virq_spin_unlock(&s->lock);

	for (i = 0; i < n; i++) {
		switch (calls[i].kind) {
		case PIC_CALL_KICK:
			if (s->hooks.kick)
				s->hooks.kick(s->hooks.opaque);
			break;
		case PIC_CALL_MASK:
			if (s->hooks.mask)
				s->hooks.mask(s->hooks.opaque, calls[i].irq, calls[i].flag);
			break;
		}
	}
}

/* ---- one chip ---------------------------------------------------------- */

/*
 * pic_clear_isr(): drop @pin from the ISR and tell the ack notifiers (with
 * the 0-15 number: slave pins are 8-15).  As in the kernel, the lock is
 * dropped around the notification, in the middle of the operation: an ack
 * notifier (irqfd resampler, PIT reinjection) may call x86_pic_set_irq()
 * and that must land before the rest of the operation, or the cascade pin
 * ends up different from KVM's (measured with resample irqfds on
 * /dev/kvm).  The state is consistent at this point; callers re-read it.
 */
static void pic_isr_clear(struct x86_pic *s, int c, int pin)
{
	s->chip[c].isr &= (uint8_t)~(1u << pin);
	pic_unlock(s);
	if (s->hooks.acked)
		s->hooks.acked(s->hooks.opaque, pin + 8 * c);
	pic_lock(s);
}

/*
 * Feed the line level of @pin into the IRR.  Level-triggered pins (ELCR
 * bit set) follow the line; edge-triggered pins latch on a 0->1 change
 * seen through last_irr.  1: newly requested, 0: already requested
 * (coalesced), -1: masked in the IMR, whatever happened to the IRR.
 */
static int pic_line(struct kvm_pic_state *r, int pin, int level)
{
	uint8_t bit = (uint8_t)(1u << pin);
	int fresh = 1;

	if (r->elcr & bit) {
		if (level) {
			fresh = !(r->irr & bit);
			r->irr |= bit;
			r->last_irr |= bit;
		} else {
			r->irr &= (uint8_t)~bit;
			r->last_irr &= (uint8_t)~bit;
		}
	} else if (level) {
		if (!(r->last_irr & bit)) {
			fresh = !(r->irr & bit);
			r->irr |= bit;
		}
		r->last_irr |= bit;
	} else {
		r->last_irr &= (uint8_t)~bit;
	}
	return (r->imr & bit) ? -1 : fresh;
}

/* Rank of the best pin in @bits, counted from the rotation base
 * priority_add (0 = highest priority); 8 when @bits is empty. */
static int pic_rank(const struct kvm_pic_state *r, unsigned int bits)
{
	int rank;

	bits &= 0xff;
	if (!bits)
		return 8;
	for (rank = 0; !(bits & (1u << ((rank + r->priority_add) & 7))); rank++)
		;
	return rank;
}

/* pic_get_irq(): the pin chip @c wants to present, or PIC_NO_IRQ when
 * nothing unmasked outranks what is in service.  With special fully nested
 * mode the master ignores the cascade pin's ISR bit, so a slave interrupt
 * can nest into another one. */
static int pic_pending(const struct x86_pic *s, int c)
{
	const struct kvm_pic_state *r = &s->chip[c];
	unsigned int in_service = r->isr;
	int want;

	want = pic_rank(r, (unsigned int)r->irr & ~(unsigned int)r->imr);
	if (want == 8)
		return PIC_NO_IRQ;
	if (c == 0 && r->special_fully_nested_mode)
		in_service &= ~(1u << PIC_CASCADE_PIN);
	if (want >= pic_rank(r, in_service))
		return PIC_NO_IRQ;
	return (want + r->priority_add) & 7;
}

/* pic_irq_request(): the kernel arms a wakeup whenever the output was low
 * before this evaluation, even if it stays low. */
static void pic_set_output(struct x86_pic *s, bool level)
{
	if (!atomic_load_explicit(&s->output, memory_order_relaxed))
		s->wakeup_needed = true;
	atomic_store_explicit(&s->output, level, memory_order_relaxed);
}

/* pic_update_irq(): a slave request pulses master pin 2, then the master
 * decides the output. */
static void pic_evaluate(struct x86_pic *s)
{
	if (pic_pending(s, 1) != PIC_NO_IRQ) {
		pic_line(&s->chip[0], PIC_CASCADE_PIN, 1);
		pic_line(&s->chip[0], PIC_CASCADE_PIN, 0);
	}
	pic_set_output(s, pic_pending(s, 0) != PIC_NO_IRQ);
}

/* pic_intack(): the INTA cycle moves @pin from IRR to ISR (a level pin
 * stays requested); in AEOI mode it is EOIed at once. */
static void pic_inta(struct x86_pic *s, int c, int pin)
{
	struct kvm_pic_state *r = &s->chip[c];
	uint8_t bit = (uint8_t)(1u << pin);

	r->isr |= bit;
	if (!(r->elcr & bit))
		r->irr &= (uint8_t)~bit;
	if (r->auto_eoi) {
		if (r->rotate_on_auto_eoi)
			r->priority_add = (uint8_t)((pin + 1) & 7);
		pic_isr_clear(s, c, pin);
	}
}

/* ICW1 (the kernel's kvm_pic_reset): level requests survive, pending edges
 * are dropped and, if some vCPU takes PIC interrupts, acked (which also
 * clears their ISR bit). */
static void pic_icw1(struct x86_pic *s, int c, uint8_t val, bool vcpu_accepts)
{
	struct kvm_pic_state *r = &s->chip[c];
	uint8_t lost_edges = r->irr & (uint8_t)~r->elcr;
	int pin;

	r->init4 = val & 1;
	r->last_irr = 0;
	r->irr &= r->elcr;
	r->imr = 0;
	r->priority_add = 0;
	r->special_mask = 0;
	r->read_reg_select = 0;
	if (!r->init4) {
		r->special_fully_nested_mode = 0;
		r->auto_eoi = 0;
	}
	r->init_state = 1;

	if (!vcpu_accepts)
		return;
	for (pin = 0; pin < 8; pin++)
		if (lost_edges & (1u << pin))
			pic_isr_clear(s, c, pin);
}

/* OCW2: EOI, rotation and priority commands (bits 7-5). */
static void pic_ocw2(struct x86_pic *s, int c, uint8_t val)
{
	struct kvm_pic_state *r = &s->chip[c];
	int op = val >> 5, pin, rank;

	switch (op) {
	case 0: /* clear rotate in AEOI mode */
	case 4: /* set rotate in AEOI mode */
		r->rotate_on_auto_eoi = op == 4;
		break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		rank = pic_rank(r, r->isr);
		if (rank == 8)
			break;
		pin = (rank + r->priority_add) & 7;
		if (op == 5)
			r->priority_add = (uint8_t)((pin + 1) & 7);
		pic_isr_clear(s, c, pin);
		pic_evaluate(s);
		break;
	case 3: /* specific EOI: acks even a pin that is not in service */
		pic_isr_clear(s, c, val & 7);
		pic_evaluate(s);
		break;
	case 6: /* set priority: the named pin becomes the lowest */
		r->priority_add = (uint8_t)((val + 1) & 7);
		pic_evaluate(s);
		break;
	case 7: /* rotate on specific EOI */
		pin = val & 7;
		r->priority_add = (uint8_t)((pin + 1) & 7);
		pic_isr_clear(s, c, pin);
		pic_evaluate(s);
		break;
	default: /* 2: no operation */
		break;
	}
}

/* OCW3: poll command, IRR/ISR read select, special mask mode. */
static void pic_ocw3(struct kvm_pic_state *r, uint8_t val)
{
	if (val & 0x04)
		r->poll = 1;
	if (val & 0x02)
		r->read_reg_select = val & 1;
	if (val & 0x40)
		r->special_mask = (val >> 5) & 1;
}

static void pic_write_cmd(struct x86_pic *s, int c, uint8_t val, bool vcpu_accepts)
{
	if (val & 0x10)
		pic_icw1(s, c, val, vcpu_accepts);
	else if (val & 0x08)
		pic_ocw3(&s->chip[c], val);
	else
		pic_ocw2(s, c, val);
}

static void pic_write_data(struct x86_pic *s, int c, uint8_t val)
{
	struct kvm_pic_state *r = &s->chip[c];
	uint8_t changed;
	int pin;

	switch (r->init_state) {
	case 0: /* OCW1: the IMR; mask notifiers see every flipped bit */
		changed = r->imr ^ val;
		r->imr = val;
		for (pin = 0; pin < 8; pin++)
			if (changed & (1u << pin))
				pic_queue(s, PIC_CALL_MASK, pin + 8 * c, (val >> pin) & 1);
		pic_evaluate(s);
		break;
	case 1: /* ICW2 */
		r->irq_base = val & 0xf8;
		r->init_state = 2;
		break;
	case 2: /* ICW3: cascade wiring is fixed */
		r->init_state = r->init4 ? 3 : 0;
		break;
	case 3: /* ICW4 */
		r->special_fully_nested_mode = (val >> 4) & 1;
		r->auto_eoi = (val >> 1) & 1;
		r->init_state = 0;
		break;
	default: /* unreachable by the guest; KVM_SET_IRQCHIP can store it */
		break;
	}
}

/* Poll command read (pic_poll_read): acknowledge-and-EOI in one access.
 * A read through the slave's ports also clears the master's cascade bit. */
static uint8_t pic_poll(struct x86_pic *s, int c)
{
	int pin = pic_pending(s, c);

	if (pin == PIC_NO_IRQ) {
		pic_evaluate(s);
		return PIC_SPURIOUS_PIN;
	}
	if (c == 1) {
		s->chip[0].isr &= (uint8_t)~(1u << PIC_CASCADE_PIN);
		s->chip[0].irr &= (uint8_t)~(1u << PIC_CASCADE_PIN);
	}
	s->chip[c].irr &= (uint8_t)~(1u << pin);
	pic_isr_clear(s, c, pin);
	if (c == 1 || pin != PIC_CASCADE_PIN)
		pic_evaluate(s);
	return (uint8_t)(0x80 | pin);
}

static uint8_t pic_read_port(struct x86_pic *s, int c, uint16_t port)
{
	struct kvm_pic_state *r = &s->chip[c];
	uint8_t val;

	if (r->poll) {
		val = pic_poll(s, c);
		r->poll = 0;
	} else if (port & 1) {
		val = r->imr;
	} else {
		val = r->read_reg_select ? r->isr : r->irr;
	}
	return val;
}

/* ---- public entry points ------------------------------------------------ */

int x86_pic_set_irq(struct x86_pic *s, int irq, int irq_source_id, int level)
{
	uint64_t *line;
	int ret;

	if (irq < 0 || irq >= PIC_PINS || irq_source_id < 0 || irq_source_id >= PIC_SOURCES)
		return -1;
	line = &s->line[irq];

	pic_lock(s);
	if (level)
		*line |= 1ull << irq_source_id;
	else
		*line &= ~(1ull << irq_source_id);
	ret = pic_line(&s->chip[irq >> 3], irq & 7, *line != 0);
	pic_evaluate(s);
	/* After the re-evaluation, as kvm_pic_set_irq(): "coalesced" is a
	 * request already pending (ret 0), not a masked one (-1). */
	virq_trace_kvm_pic_set_irq(s->hooks.trace, -1, (uint8_t)(irq >> 3), (uint8_t)(irq & 7),
				   s->chip[irq >> 3].elcr, s->chip[irq >> 3].imr, ret == 0);
	pic_unlock(s);
	return ret;
}

void x86_pic_clear_all(struct x86_pic *s, int irq_source_id)
{
	int i;

	if (irq_source_id < 0 || irq_source_id >= PIC_SOURCES)
		return;
	pic_lock(s);
	for (i = 0; i < PIC_PINS; i++)
		s->line[i] &= ~(1ull << irq_source_id);
	pic_unlock(s);
}

bool x86_pic_output(struct x86_pic *s)
{
	return atomic_load_explicit(&s->output, memory_order_relaxed);
}

int x86_pic_read_irq(struct x86_pic *s)
{
	int pin, spin, vector;

	/* As the kernel: the output drops before the lock is taken, so the
	 * re-evaluation below always arms a kick. */
	atomic_store_explicit(&s->output, false, memory_order_relaxed);

	pic_lock(s);
	pin = pic_pending(s, 0);
	if (pin == PIC_NO_IRQ) {
		/* Spurious interrupt on the master. */
		vector = s->chip[0].irq_base + PIC_SPURIOUS_PIN;
	} else {
		pic_inta(s, 0, pin);
		if (pin == PIC_CASCADE_PIN) {
			spin = pic_pending(s, 1);
			if (spin != PIC_NO_IRQ)
				pic_inta(s, 1, spin);
			else
				spin = PIC_SPURIOUS_PIN; /* spurious on the slave */
			vector = s->chip[1].irq_base + spin;
		} else {
			vector = s->chip[0].irq_base + pin;
		}
	}
	pic_evaluate(s);
	pic_unlock(s);
	return vector;
}

void x86_pic_update_irq(struct x86_pic *s)
{
	pic_lock(s);
	pic_evaluate(s);
	pic_unlock(s);
}

/* Chip and register of a PIC port; -1 if the port is not ours. */
static int pic_decode(uint16_t port, int *chip, bool *elcr)
{
	switch (port) {
	case 0x20:
	case 0x21:
	case 0xa0:
	case 0xa1:
		*chip = port >> 7;
		*elcr = false;
		return 0;
	case 0x4d0:
	case 0x4d1:
		*chip = port & 1;
		*elcr = true;
		return 0;
	default:
		return -1;
	}
}

int x86_pic_pio_read(struct x86_pic *s, uint16_t port, void *data, unsigned len)
{
	int c;
	bool elcr;
	uint8_t val;

	if (pic_decode(port, &c, &elcr))
		return -EOPNOTSUPP;
	if (!data || len == 0 || len > 8)
		return -EINVAL;
	if (len != 1) {
		/* KVM: "non byte read", reads as zeroes. */
		memset(data, 0, len);
		return 0;
	}

	pic_lock(s);
	val = elcr ? s->chip[c].elcr : pic_read_port(s, c, port);
	pic_unlock(s);
	*(uint8_t *)data = val;
	return 0;
}

int x86_pic_pio_write(struct x86_pic *s, uint16_t port, const void *data, unsigned len)
{
	int c;
	bool elcr, accepts = true;
	uint8_t val;

	if (pic_decode(port, &c, &elcr))
		return -EOPNOTSUPP;
	if (!data || len == 0 || len > 8)
		return -EINVAL;
	if (len != 1)
		return 0; /* KVM: "non byte write", ignored */
	val = *(const uint8_t *)data;

	/* The kernel asks kvm_apic_accept_pic_intr() during ICW1 with the
	 * PIC lock held; ask before taking it instead. */
	if (!elcr && !(port & 1) && (val & 0x10) && s->hooks.accepts)
		accepts = s->hooks.accepts(s->hooks.opaque);

	pic_lock(s);
	if (elcr)
		s->chip[c].elcr = val & s->chip[c].elcr_mask;
	else if (port & 1)
		pic_write_data(s, c, val);
	else
		pic_write_cmd(s, c, val, accepts);
	pic_unlock(s);
	return 0;
}

void x86_pic_get_state(struct x86_pic *s, int chip, struct kvm_pic_state *out)
{
	if (chip != 0 && chip != 1) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pic_lock(s);
	*out = s->chip[chip];
	pic_unlock(s);
}

void x86_pic_set_state(struct x86_pic *s, int chip, const struct kvm_pic_state *in)
{
	if (chip != 0 && chip != 1)
		return;
	pic_lock(s);
	s->chip[chip] = *in; /* as given, out-of-range values included */
	pic_evaluate(s);
	pic_unlock(s);
}

/* ---- create / destroy --------------------------------------------------- */

struct x86_pic *x86_pic_create(const struct x86_pic_hooks *hooks)
{
	struct x86_pic *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	virq_spin_init(&s->lock);
	if (hooks)
		s->hooks = *hooks;
	atomic_init(&s->output, false);
	s->chip[0].elcr_mask = PIC_ELCR_MASK_MASTER;
	s->chip[1].elcr_mask = PIC_ELCR_MASK_SLAVE;
	return s;
}

void x86_pic_destroy(struct x86_pic *s)
{
	if (!s)
		return;
	free(s);
}
