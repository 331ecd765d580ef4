/* SPDX-License-Identifier: MIT */
/*
 * ioapic.h - the 82093AA IOAPIC (24 pins, version 0x11), behaving as the
 * kernel's arch/x86/kvm/ioapic.c, including RTC (GSI 8) coalescing
 * tracking and the EOI-storm throttle.
 */
#ifndef VIRQ_X86_IOAPIC_H
#define VIRQ_X86_IOAPIC_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "x86.h"

struct x86_ioapic;

struct x86_ioapic_hooks {
	void *opaque;
	/* Optional (NULL: USDT probes only).  Where kvm_ioapic_set_irq and
	 * kvm_ioapic_delayed_eoi_inj go; the sink's callback runs with the
	 * IOAPIC lock held. */
	const struct virq_trace_sink *trace;
	/* Deliver to the LAPICs (x86_irq_delivery_to_apic).  Called WITH the
	 * IOAPIC lock held: it is a leaf and never calls back. */
	int (*deliver)(void *opaque, const struct x86_irq *irq, struct x86_dest_map *dest_map);
	/* Pin was acknowledged: kvm_notify_acked_irq(KVM_IRQCHIP_IOAPIC, pin).
	 * Called with the IOAPIC lock dropped. */
	void (*acked)(void *opaque, int pin);
	/* kvm_irq_has_notifier(KVM_IRQCHIP_IOAPIC, pin). */
	bool (*has_notifier)(void *opaque, int pin);
	/* The redirection table changed in a way that affects which vectors
	 * need EOI interception (kvm_make_scan_ioapic_request). Lock dropped. */
	void (*scan)(void *opaque);
	/* The VM clock, for the EOI-storm delay (10 ms).  Called with the lock
	 * dropped.  NULL: the clock reads 0. */
	uint64_t (*now)(void *opaque);
	/* Optional (NULL: none).  A redirection-entry write flipped the mask
	 * bit of @pin: kvm_fire_mask_notifiers(KVM_IRQCHIP_IOAPIC, pin, masked).
	 * Lock dropped; in write order, before that write's @scan. */
	void (*mask)(void *opaque, int pin, bool masked);
	/* Optional (NULL: false).  kvm_notify_irqfd_resampler(KVM_IRQCHIP_IOAPIC,
	 * pin): signal the resamplefd of every resampling irqfd on the GSI of
	 * @pin WITHOUT lowering any line (unlike the ack path), and return
	 * whether there was one.  Asked when a redirection-entry write leaves
	 * a level pin unmasked, with IRR set and remote IRR clear: true clears
	 * the pin's IRR (the device re-asserts if it still needs service),
	 * false re-delivers it.  Called WITH the lock held, like @deliver: a
	 * leaf that must not call into the IOAPIC nor take a lock held by
	 * anyone calling into it (look the resamplers up under RCU, as the
	 * kernel does under SRCU). */
	bool (*resample)(void *opaque, int pin);
};
/*
 * Hook order is the kernel's.  x86_ioapic_update_eoi() drops the lock
 * around each @acked call exactly where kvm_ioapic_update_eoi_one() does,
 * so an ack notifier may call x86_ioapic_set_irq() (irqfd resampling lowers
 * the line there) and the re-delivery check after it sees the new level.
 * @has_notifier, and scan_entry's @match/@pending_eoi, are asked with the
 * lock dropped, on a snapshot of the redirection table.
 */

struct x86_ioapic *x86_ioapic_create(const struct x86_ioapic_hooks *hooks);
void x86_ioapic_destroy(struct x86_ioapic *s);

/* kvm_ioapic_set_irq(): returns the kernel's tri-state for the pin.  A bad
 * @pin (0-23) or @irq_source_id (0-63) returns -1 and changes nothing. */
int x86_ioapic_set_irq(struct x86_ioapic *s, int pin, int irq_source_id, int level, bool line_status);
void x86_ioapic_clear_all(struct x86_ioapic *s, int irq_source_id);

/* Guest MMIO, offset within the 0x100-byte window (IOREGSEL 0x00, IOWIN
 * 0x10).  0, -EOPNOTSUPP outside the window, -EINVAL bad length or NULL
 * @data.  As in KVM: lengths 1, 2, 4 and 8 are accepted (an 8-byte read is
 * the 32-bit value zero-extended, an 8-byte write uses its low dword, a
 * 1- or 2-byte IOWIN write stores the value zero-extended to 32 bits); any
 * other offset in the window reads 0 and ignores writes. */
int x86_ioapic_mmio_read(struct x86_ioapic *s, uint32_t offset, void *data, unsigned len);
int x86_ioapic_mmio_write(struct x86_ioapic *s, uint32_t offset, const void *data, unsigned len);

/* kvm_ioapic_update_eoi(): vCPU @vcpu_id EOIed @vector.  @directed_eoi is
 * the vCPU's SPIV bit 12 (suppress EOI broadcast). */
void x86_ioapic_update_eoi(struct x86_ioapic *s, uint32_t vcpu_id, bool directed_eoi,
			   int vector, int trigger_mode);

/* kvm_ioapic_scan_entry(): add to @handled (256-bit) the vectors whose EOI
 * from this vCPU the IOAPIC must see.  @match answers kvm_apic_match_dest
 * for this vCPU (dest_mode is APIC_DEST_PHYSICAL or APIC_DEST_LOGICAL);
 * @pending_eoi answers kvm_apic_pending_eoi.  As kvm_scan_ioapic_irq(),
 * @pending_eoi is asked only for entries @match rejected, so the vectors it
 * answers true for are exactly the "stale" ones whose maximum the kernel
 * keeps in vcpu->arch.highest_stale_pending_ioapic_eoi. */
void x86_ioapic_scan_entry(struct x86_ioapic *s, uint32_t vcpu_id,
			   bool (*match)(void *ctx, uint32_t dest_id, uint32_t dest_mode),
			   bool (*pending_eoi)(void *ctx, int vector), void *ctx,
			   uint64_t handled[4]);

/* kvm_rtc_eoi_tracking_restore_one(): after KVM_SET_LAPIC on a vCPU. */
void x86_ioapic_rtc_restore_one(struct x86_ioapic *s, uint32_t vcpu_id,
				bool (*match)(void *ctx, uint32_t dest_id, uint32_t dest_mode),
				bool (*pending_eoi)(void *ctx, int vector), void *ctx);

/* KVM_GET/SET_IRQCHIP (chip 2).  Set replays the saved IRR.  Callers
 * restoring RTC tracking call x86_ioapic_rtc_restore_one per vCPU after
 * x86_ioapic_set_state (kvm_rtc_eoi_tracking_restore_all). */
void x86_ioapic_get_state(struct x86_ioapic *s, struct kvm_ioapic_state *out);
void x86_ioapic_set_state(struct x86_ioapic *s, const struct kvm_ioapic_state *in);
void x86_ioapic_rtc_reset_tracking(struct x86_ioapic *s);

/* Run the delayed EOI injection if due.  Returns ns until it is due, or
 * INT64_MAX if nothing is scheduled.  An EOI storm (10000 successive
 * re-deliveries of one level pin) schedules it 10 ms after the EOI; call
 * this after x86_ioapic_update_eoi() to learn whether a timer is needed. */
int64_t x86_ioapic_poll(struct x86_ioapic *s, uint64_t now);

#endif
