/* SPDX-License-Identifier: MIT */
/* core.h - declarations shared by the core's own files only. */
#ifndef VIRQ_CORE_CORE_H
#define VIRQ_CORE_CORE_H

#include "virq-int.h"

const struct virq_arch_ops *virq_arch_lookup(enum virq_arch arch, int *err);

int virq_vm_create(const struct virq_arch_ops *arch, unsigned long type);
int virq_vcpu_create(struct virq_vm *vm, unsigned long id);
int virq_vcpu_set_event_sink(struct virq_vcpu *vcpu, virq_event_fn fn, void *opaque);

void virq_routing_free(struct virq_routing *rt);
/* The table in force in GSI order into @entries[0 .. @max); returns the
 * number of routes (irq_lock held). */
uint32_t virq_routing_copy(struct virq_vm *vm, struct kvm_irq_routing_entry *entries, uint32_t max);
int virq_ack_notifiers_init(struct virq_vm *vm);
void virq_ack_notifiers_destroy(struct virq_vm *vm);

#endif
