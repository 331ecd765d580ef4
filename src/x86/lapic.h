/* SPDX-License-Identifier: MIT */
/*
 * lapic.h - the local APIC of one vCPU (xAPIC MMIO and x2APIC MSRs),
 * behaving as the kernel's arch/x86/kvm/lapic.c.
 *
 * Threads: x86_lapic_accept_irq() may run on any thread concurrently with
 * everything else (it only sets IRR/TMR bits atomically and kicks).  All
 * other calls for one LAPIC are serialised by the LAPIC's own lock, which
 * is a leaf: it is never held while calling out of the file.
 */
#ifndef VIRQ_X86_LAPIC_H
#define VIRQ_X86_LAPIC_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "x86.h"

struct x86_lapic *x86_lapic_create(struct x86_vcpu *xv);
void x86_lapic_destroy(struct x86_lapic *apic);
/* kvm_lapic_reset(); @init_event for INIT (keeps APIC_BASE). */
void x86_lapic_reset(struct x86_lapic *apic, bool init_event);
/* kvm_apic_set_version(): recompute LVR from CPUID and irqchip mode. */
void x86_lapic_set_version(struct x86_lapic *apic);
/* kvm_apic_update_cpuid-ish: CPUID changed (x2APIC, TSC-deadline bits). */
void x86_lapic_update_cpuid(struct x86_lapic *apic);

/* Additive: what CPUID and the TSC say, beyond struct x86_vcpu.
 * x86_lapic_set_phys_bits(): the guest MAXPHYADDR (CPUID 0x80000008 EAX[7:0];
 * default 36, KVM's value without that leaf); bits at and above it are
 * reserved in IA32_APIC_BASE.
 * x86_lapic_set_tsc_khz(): the guest TSC rate for IA32_TSC_DEADLINE.  The
 * guest TSC is modelled as VM-clock ns * khz / 10^6 (0 at clock 0); the
 * default 1000000 kHz makes it equal to the VM clock in ns. */
void x86_lapic_set_phys_bits(struct x86_lapic *apic, unsigned bits);
void x86_lapic_set_tsc_khz(struct x86_lapic *apic, uint32_t khz);

/* KVM_GET_LAPIC / KVM_SET_LAPIC: 0 or -errno.  Like the kernel, SET
 * applies SPIV before it validates, so a refused state (-EINVAL: x2APIC
 * ID mismatch with KVM_X2APIC_API_USE_32BIT_IDS) still changes SPIV and
 * nothing else (docs/kernel-facts.md section 9). */
int x86_lapic_get_state(struct x86_lapic *apic, struct kvm_lapic_state *s);
int x86_lapic_set_state(struct x86_lapic *apic, const struct kvm_lapic_state *s);

/* IA32_APIC_BASE.  set returns 0, or 1 if the value is refused
 * (kvm_apic_set_base semantics, host_initiated as for KVM_SET_MSRS). */
uint64_t x86_lapic_get_base(struct x86_lapic *apic);
int x86_lapic_set_base(struct x86_lapic *apic, uint64_t value, bool host_initiated);
/* IA32_TSC_DEADLINE. */
uint64_t x86_lapic_get_tscdeadline(struct x86_lapic *apic);
void x86_lapic_set_tscdeadline(struct x86_lapic *apic, uint64_t value);

/* Guest MMIO to the APIC page; 0, -EOPNOTSUPP when not in xAPIC mode or
 * the offset is not handled. */
int x86_lapic_mmio_read(struct x86_lapic *apic, uint32_t offset, void *data, unsigned len);
int x86_lapic_mmio_write(struct x86_lapic *apic, uint32_t offset, const void *data, unsigned len);
/* x2APIC MSRs 0x800-0x8ff: 0 or 1 (#GP), like kvm_x2apic_msr_read/write.
 * @host_initiated: KVM_GET/SET_MSRS rather than the guest. */
int x86_lapic_msr_read(struct x86_lapic *apic, uint32_t msr, uint64_t *value);
int x86_lapic_msr_write(struct x86_lapic *apic, uint32_t msr, uint64_t value, bool host_initiated);

/* __apic_accept_irq(): returns 1 accepted, 0 not (disabled, etc.). */
/* x86_lapic_accept_irq() for a fixed, edge-triggered interrupt without a
 * destination map: the MSI fast path. */
int x86_lapic_accept_fixed_edge(struct x86_lapic *apic, uint32_t vector);
int x86_lapic_accept_irq(struct x86_lapic *apic, const struct x86_irq *irq, struct x86_dest_map *dest_map);

/* Interrupt acceptance by the vCPU. */
int x86_lapic_has_interrupt(struct x86_lapic *apic);  /* kvm_apic_has_interrupt: vector or -1 */
int x86_lapic_get_interrupt(struct x86_lapic *apic);  /* kvm_get_apic_interrupt: IRR->ISR; vector or -1 */
bool x86_lapic_accept_pic_intr(struct x86_lapic *apic); /* kvm_apic_accept_pic_intr */
bool x86_lapic_pending_eoi(struct x86_lapic *apic, int vector); /* IRR or ISR has it */
/* EOI the highest in-service vector (APIC_EOI write); vector or -1. */
int x86_lapic_eoi(struct x86_lapic *apic);
/* Pending INIT / SIPI (kvm apic->pending_events); sipi vector via *vec. */
bool x86_lapic_latched_init(struct x86_lapic *apic);
/* KVM_SET_VCPU_EVENTS: smi.latched_init and sipi_vector. */
void x86_lapic_set_latched_init(struct x86_lapic *apic, bool latched);
void x86_lapic_set_sipi_vector(struct x86_lapic *apic, uint32_t vector);
/* Take INIT and SIPI in one exchange, so that a SIPI is never seen
 * before the INIT sent ahead of it. */
void x86_lapic_take_events(struct x86_lapic *apic, bool *init, bool *sipi, uint8_t *vec);
/* An INIT or SIPI is pending (kvm_apic_has_pending_init_or_sipi). */
bool x86_lapic_events_pending(struct x86_lapic *apic);
/* KVM_SET_MP_STATE(SIPI_RECEIVED) and save/restore: the SIPI bit alone. */
bool x86_lapic_sipi_pending(struct x86_lapic *apic);
void x86_lapic_set_sipi_pending(struct x86_lapic *apic, bool pending);
uint32_t x86_lapic_sipi_vector(struct x86_lapic *apic);

/* Timers: fire what has expired by @now; returns ns to the next deadline
 * or INT64_MAX. */
int64_t x86_lapic_timer_poll(struct x86_lapic *apic, uint64_t now);

/* What apic_bus.c needs to build the map and match destinations. */
bool x86_lapic_hw_enabled(struct x86_lapic *apic);   /* APIC_BASE.EN */
bool x86_lapic_sw_enabled(struct x86_lapic *apic);   /* SPIV.APIC_ENABLED */
bool x86_lapic_x2apic_mode(struct x86_lapic *apic);
uint32_t x86_lapic_id(struct x86_lapic *apic);       /* xAPIC: ID[31:24]; x2APIC: full ID */
uint32_t x86_lapic_reg(struct x86_lapic *apic, uint32_t offset); /* raw register (LDR, DFR, ...) */
uint32_t x86_lapic_arb_prio(struct x86_lapic *apic);
int x86_lapic_compare_prio(struct x86_lapic *a, struct x86_lapic *b); /* kvm_apic_compare_prio */
struct x86_vcpu *x86_lapic_vcpu(struct x86_lapic *apic);

#endif
