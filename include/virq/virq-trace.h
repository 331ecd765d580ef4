/* SPDX-License-Identifier: MIT */
/*
 * virq-trace.h - trace events named and formatted as the kernel's KVM
 * tracepoints.
 *
 * One declaration list, VIRQ_TRACE_EVENTS, feeds three sinks:
 *
 *  1. a per-VM callback (virq_vm_set_trace_fn()) that receives every event
 *     as a struct virq_trace_event;
 *  2. USDT probes in libvirq.so, provider "virq", one per event, whose
 *     arguments are the event's fields in list order (bpftrace, perf,
 *     systemtap; see docs/trace.md);
 *  3. virq_trace_format(), which prints an event as the kernel's TP_printk
 *     prints the tracepoint of the same name (Linux 6.18), so a virq trace
 *     and `perf trace -e 'kvm:*'` of the same operations read alike.
 *
 * Each entry of the list is X(name, (type, field), ...): the event name,
 * then its fields in the order of the kernel tracepoint's TP_STRUCT__entry.
 * Events named kvm_* mirror a kernel tracepoint field for field; events
 * named virq_* are virq's own and have no kernel counterpart.
 */
#ifndef VIRQ_VIRQ_TRACE_H
#define VIRQ_VIRQ_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* clang-format off */
#define VIRQ_TRACE_EVENTS(X)                                                                            \
	/* include/trace/events/kvm.h */                                                                \
	X(kvm_set_irq, (uint32_t, gsi), (int32_t, level), (int32_t, irq_source_id))                     \
	X(kvm_ioapic_set_irq, (uint64_t, e), (int32_t, pin), (bool, coalesced))                         \
	X(kvm_ioapic_delayed_eoi_inj, (uint64_t, e))                                                    \
	X(kvm_msi_set_irq, (uint64_t, address), (uint64_t, data))                                       \
	X(kvm_ack_irq, (uint32_t, irqchip), (uint32_t, pin))                                            \
	/* arch/x86/kvm/trace.h */                                                                      \
	X(kvm_apic, (uint32_t, rw), (uint32_t, reg), (uint64_t, val))                                   \
	X(kvm_inj_virq, (uint32_t, vector), (bool, soft), (bool, reinjected))                           \
	X(kvm_pic_set_irq, (uint8_t, chip), (uint8_t, pin), (uint8_t, elcr), (uint8_t, imr),            \
	  (bool, coalesced))                                                                            \
	X(kvm_apic_ipi, (uint32_t, icr_low), (uint32_t, dest_id))                                       \
	X(kvm_apic_accept_irq, (uint32_t, apicid), (uint16_t, dm), (uint16_t, tm), (uint8_t, vec))      \
	X(kvm_eoi, (uint32_t, apicid), (int32_t, vector))                                               \
	/* virq's own (no kernel tracepoint) */                                                         \
	X(virq_irqfd_inject, (uint32_t, gsi), (bool, resample))                                         \
	X(virq_route_update, (uint32_t, gsi), (uint32_t, nr))                                           \
	X(virq_set_gsi_routing, (uint32_t, nr))
/* clang-format on */

#define VIRQ_TRACE__ID(name, ...) VIRQ_TRACE_##name,

/** Event ids: VIRQ_TRACE_<name>, in list order. */
enum virq_trace_id { VIRQ_TRACE_EVENTS(VIRQ_TRACE__ID) VIRQ_TRACE_NR };

/** No event has more fields than this. */
#define VIRQ_TRACE_MAX_FIELDS 6

/** One event, as the callback receives it. */
struct virq_trace_event {
	uint32_t id;        /* enum virq_trace_id */
	uint32_t nr_fields; /* fields of this event */
	int vm_fd;          /* the VM handle */
	int32_t vcpu_id;    /* the vCPU concerned (KVM_CREATE_VCPU id), or -1 */
	/* In declaration order; signed values sign-extended, bool 0 or 1. */
	uint64_t field[VIRQ_TRACE_MAX_FIELDS];
};

/**
 * The trace callback.  It runs synchronously on the thread that made the
 * transition, possibly with a device lock held (the IOAPIC's, the PIC's or
 * a LAPIC's) and inside an injection's RCU read-side section.  So it must
 * be quick and must not call into virq other than the virq_trace_*
 * helpers below: no ioctls, no injection, no register access, and not
 * virq_vm_set_trace_fn() (that could deadlock or recurse).  Copy @ev (or
 * format it) and return; @ev is valid only during the call.
 */
typedef void (*virq_trace_fn)(void *opaque, const struct virq_trace_event *ev);

/**
 * virq_vm_set_trace_fn() - install (or, with @fn NULL, remove) the VM's
 * trace callback.  Safe against concurrent injection: the pair (@fn,
 * @opaque) is published as one pointer, so an event sees the old pair or
 * the new one, never a mix.  Returns once no thread can still be calling
 * the old pair, so its @opaque may be freed then.  Returns 0, -EBADF if
 * @vm_fd is not a VM handle, -EDEADLK when called from a callback (trace
 * or event), -ENOMEM.
 */
VIRQ_API int virq_vm_set_trace_fn(int vm_fd, virq_trace_fn fn, void *opaque);

/** The event's name ("kvm_set_irq"); NULL for an unknown id. */
VIRQ_API const char *virq_trace_name(uint32_t id);

/** The name of field @i of event @id ("gsi"); NULL past the end or for an unknown id. */
VIRQ_API const char *virq_trace_field_name(uint32_t id, unsigned i);

/**
 * virq_trace_format() - the kernel's TP_printk text for @ev, for example
 * "gsi 16 level 1 source 0" for kvm_set_irq.  snprintf semantics: writes
 * at most @size bytes including the terminating NUL and returns the length
 * the full text has.  -EINVAL for a NULL @ev or an unknown id.
 */
VIRQ_API int virq_trace_format(const struct virq_trace_event *ev, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_VIRQ_TRACE_H */
