/* SPDX-License-Identifier: MIT */
/*
 * pic.h - the dual 8259A PIC (master at 0x20, slave at 0xa0, ELCR at
 * 0x4d0/0x4d1), behaving as the kernel's arch/x86/kvm/i8259.c.
 */
#ifndef VIRQ_X86_PIC_H
#define VIRQ_X86_PIC_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct x86_pic;
struct virq_trace_sink;

/* Calls the PIC makes outward; always with the PIC lock dropped. */
struct x86_pic_hooks {
	void *opaque;
	/* Optional (NULL: USDT probes only).  Where kvm_pic_set_irq events
	 * go; the sink's callback runs with the PIC lock held. */
	const struct virq_trace_sink *trace;
	/* The INT output was raised (pic_irq_request): kick the vCPU(s) that
	 * accept PIC interrupts. */
	void (*kick)(void *opaque);
	/* Pin @irq (0-15) was acknowledged/EOIed: the kernel's
	 * kvm_notify_acked_irq(SELECT_PIC(irq), irq). */
	void (*acked)(void *opaque, int irq);
	/* Optional (NULL: none).  OCW1 flipped the IMR bit of pin @irq (0-15):
	 * the kernel's kvm_fire_mask_notifiers(SELECT_PIC(irq), irq, masked),
	 * once per changed bit, in pin order. */
	void (*mask)(void *opaque, int irq, bool masked);
	/* Optional (NULL: true).  kvm_apic_accept_pic_intr() for some vCPU:
	 * an ICW1 acks (and clears from the ISR) the pending edge requests it
	 * drops only if a vCPU accepts PIC interrupts.  Asked before the PIC
	 * lock is taken, once per ICW1 write; must not call into the PIC. */
	bool (*accepts)(void *opaque);
};
/*
 * No hook runs with the PIC lock held, and every hook may call back into
 * the PIC.  As in the kernel, "acked" runs with the lock dropped in the
 * middle of the operation that acks (pic_clear_isr()), after any kick the
 * kernel would make on that unlock; a line change an ack notifier makes
 * (irqfd resampler) lands before the rest of the operation, exactly as on
 * /dev/kvm.  As in the kernel, "kick" fires whenever the output was low
 * before a re-evaluation (not only on a 0->1 change); the integrator kicks
 * the first vCPU that accepts PIC interrupts, or none.
 */

struct x86_pic *x86_pic_create(const struct x86_pic_hooks *hooks);
void x86_pic_destroy(struct x86_pic *s);

/* kvm_pic_set_irq(): line level of @irq (0-15) as the OR over sources.
 * Returns 1 delivered, 0 coalesced (already in IRR), -1 masked. */
int x86_pic_set_irq(struct x86_pic *s, int irq, int irq_source_id, int level);
/* Drop every line @irq_source_id holds (IRR and output are left as they
 * are, as kvm_pic_clear_all() did).  Bad @irq or @irq_source_id (0-63):
 * x86_pic_set_irq returns -1 and changes nothing. */
void x86_pic_clear_all(struct x86_pic *s, int irq_source_id);
/* The INT output (kvm's vpic->output). */
bool x86_pic_output(struct x86_pic *s);
/* kvm_pic_read_irq(): the INTA cycle; returns the vector, irq_base + pin
 * (may exceed 255 after KVM_SET_IRQCHIP stored an unaligned irq_base;
 * the kernel truncates it to u8 when it queues the interrupt). */
int x86_pic_read_irq(struct x86_pic *s);
/* kvm_pic_update_irq(): re-evaluate the output (KVM_SET_IRQCHIP does this
 * for every chip id, the IOAPIC's included). */
void x86_pic_update_irq(struct x86_pic *s);

/* Guest port I/O: 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1.  0, or
 * -EOPNOTSUPP for another port, -EINVAL for a bad length (0 or > 8) or a
 * NULL @data.  As in KVM, an access of 2..8 bytes to a PIC port is accepted
 * and does nothing (a read returns zeroes). */
int x86_pic_pio_read(struct x86_pic *s, uint16_t port, void *data, unsigned len);
int x86_pic_pio_write(struct x86_pic *s, uint16_t port, const void *data, unsigned len);

/* KVM_GET/SET_IRQCHIP for chip 0 (master) or 1 (slave): the 16 bytes are
 * copied as they are; set then re-evaluates the output.  Another chip: get
 * zero-fills, set does nothing. */
void x86_pic_get_state(struct x86_pic *s, int chip, struct kvm_pic_state *out);
void x86_pic_set_state(struct x86_pic *s, int chip, const struct kvm_pic_state *in);

#endif
