/* SPDX-License-Identifier: MIT */
/*
 * routing.c - the GSI routing table (the kernel's virt/kvm/irqchip.c).
 *
 * A table is built and validated completely off to the side, then
 * published with one pointer store; readers (every injection) look it up
 * inside an RCU read-side section and never block.  The old table is freed
 * after a grace period.  A table that fails validation is simply dropped,
 * so the one in force never changes on error.
 *
 * Layout: the entries of one GSI are contiguous (a CSR array), in the
 * order the caller gave them; chip[] is the reverse map (irqchip, pin) ->
 * GSI that ack notifications use.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct virq_ack_notifiers {
	pthread_mutex_t lock; /* writers */
	struct virq_irq_ack_notifier *_Atomic head; /* RCU list */
};

void virq_routing_free(struct virq_routing *rt)
{
	if (!rt)
		return;
	free(rt->first);
	free(rt->entries);
	free(rt->chip);
	free(rt);
}

static struct virq_routing *routing_alloc(const struct virq_arch_ops *arch, uint32_t nr_gsi, uint32_t nr)
{
	struct virq_routing *rt = calloc(1, sizeof(*rt));
	size_t nchip = (size_t)arch->nr_irqchips * arch->irqchip_pins;

	if (!rt)
		return NULL;
	rt->nr_gsi = nr_gsi;
	rt->nr_entries = nr;
	rt->first = calloc((size_t)nr_gsi + 1, sizeof(*rt->first));
	rt->entries = calloc(nr ? nr : 1, sizeof(*rt->entries));
	rt->chip = malloc((nchip ? nchip : 1) * sizeof(*rt->chip));
	if (!rt->first || !rt->entries || !rt->chip) {
		virq_routing_free(rt);
		return NULL;
	}
	for (size_t i = 0; i < nchip; i++)
		rt->chip[i] = -1;
	return rt;
}

/* The per-entry checks of kvm_set_irq_routing() and setup_routing_entry(),
 * in their order: flags, duplicates on the GSI, then the arch's rules. */
static int setup_entry(struct virq_vm *vm, struct virq_routing *rt, uint32_t *fill,
		       const struct kvm_irq_routing_entry *ue)
{
	const struct virq_arch_ops *arch = vm->arch;
	uint32_t gsi = ue->gsi;
	struct virq_route *e;
	int r;

	if (ue->type == KVM_IRQ_ROUTING_MSI) {
		if (ue->flags & ~KVM_MSI_VALID_DEVID)
			return -EINVAL;
	} else if (ue->flags) {
		return -EINVAL;
	}

	/* One route per irqchip on a GSI; any other type must be alone. */
	for (uint32_t j = rt->first[gsi]; j < fill[gsi]; j++) {
		const struct virq_route *ei = &rt->entries[j];

		if (ei->type != KVM_IRQ_ROUTING_IRQCHIP || ue->type != KVM_IRQ_ROUTING_IRQCHIP ||
		    ue->u.irqchip.irqchip == ei->irqchip.irqchip)
			return -EINVAL;
	}

	e = &rt->entries[fill[gsi]];
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = ue->type;
	r = arch->set_routing_entry(vm, e, ue);
	if (r)
		return r;
	if (e->type == KVM_IRQ_ROUTING_IRQCHIP) {
		/* The arch validated chip and pin; bound them again anyway. */
		if (e->irqchip.irqchip >= arch->nr_irqchips || e->irqchip.pin >= arch->irqchip_pins)
			return -EINVAL;
		rt->chip[e->irqchip.irqchip * arch->irqchip_pins + e->irqchip.pin] = (int32_t)gsi;
	}
	fill[gsi]++;
	return 0;
}

int virq_set_irq_routing(struct virq_vm *vm, const struct kvm_irq_routing_entry *ue,
			 uint32_t nr, uint32_t flags)
{
	struct virq_routing *rt, *old;
	uint32_t nr_gsi = 0, *fill;
	int r = 0;

	(void)flags;
	for (uint32_t i = 0; i < nr; i++) {
		if (ue[i].gsi >= vm->arch->max_irq_routes)
			return -EINVAL;
		if (ue[i].gsi > nr_gsi)
			nr_gsi = ue[i].gsi;
	}
	nr_gsi += 1;

	rt = routing_alloc(vm->arch, nr_gsi, nr);
	fill = calloc(nr_gsi, sizeof(*fill));
	if (!rt || !fill) {
		virq_routing_free(rt);
		free(fill);
		return -ENOMEM;
	}
	/* Slot ranges per GSI from a counting pass. */
	for (uint32_t i = 0; i < nr; i++)
		rt->first[ue[i].gsi + 1]++;
	for (uint32_t g = 0; g < nr_gsi; g++) {
		rt->first[g + 1] += rt->first[g];
		fill[g] = rt->first[g];
	}
	for (uint32_t i = 0; i < nr && !r; i++)
		r = setup_entry(vm, rt, fill, &ue[i]);
	/* Entries that were counted but rejected cannot exist here: any
	 * rejection fails the whole table. */
	free(fill);
	if (r) {
		virq_routing_free(rt);
		return r;
	}

	pthread_mutex_lock(&vm->irq_lock);
	old = atomic_exchange_explicit(&vm->routing, rt, memory_order_acq_rel);
	if (vm->arch->irq_routing_update)
		vm->arch->irq_routing_update(vm);
	pthread_mutex_unlock(&vm->irq_lock);

	/* The first table replaces none, so there is nobody to wait for
	 * (this also lets KVM_CREATE_IRQCHIP install the default routing
	 * under the VM lock without a grace period). */
	if (old) {
		synchronize_rcu();
		virq_routing_free(old);
	}
	return 0;
}

/*
 * kvm_set_irq(): deliver @level on @gsi through every route of the GSI and
 * combine the results: <0 routes are skipped, the others are summed; -1 if
 * the GSI has no route or every route ignored it.
 */
int virq_set_irq(struct virq_vm *vm, int irq_source_id, uint32_t gsi, int level, bool line_status)
{
	struct virq_routing *rt;
	int ret = -1;

	rcu_read_lock();
	rt = virq_routing_deref(vm);
	if (rt && gsi < rt->nr_gsi) {
		for (uint32_t j = rt->first[gsi]; j < rt->first[gsi + 1]; j++) {
			const struct virq_route *e = &rt->entries[j];
			int r = e->set(e, vm, irq_source_id, level, line_status);

			if (r < 0)
				continue;
			ret = r + (ret < 0 ? 0 : ret);
		}
	}
	rcu_read_unlock();
	return ret;
}

int virq_irqchip_pin_to_gsi(struct virq_vm *vm, uint32_t irqchip, uint32_t pin)
{
	struct virq_routing *rt = virq_routing_deref(vm);

	if (!rt || irqchip >= vm->arch->nr_irqchips || pin >= vm->arch->irqchip_pins)
		return -1;
	return rt->chip[irqchip * vm->arch->irqchip_pins + pin];
}

/* ---- ack notifiers -------------------------------------------------------- */

int virq_ack_notifiers_init(struct virq_vm *vm)
{
	vm->ack = calloc(1, sizeof(*vm->ack));
	if (!vm->ack)
		return -ENOMEM;
	pthread_mutex_init(&vm->ack->lock, NULL);
	pthread_mutex_init(&vm->irq_lock, NULL);
	return 0;
}

void virq_ack_notifiers_destroy(struct virq_vm *vm)
{
	if (!vm->ack)
		return;
	pthread_mutex_destroy(&vm->ack->lock);
	pthread_mutex_destroy(&vm->irq_lock);
	free(vm->ack);
	vm->ack = NULL;
}

void virq_register_irq_ack_notifier(struct virq_vm *vm, struct virq_irq_ack_notifier *kian)
{
	pthread_mutex_lock(&vm->ack->lock);
	kian->next = atomic_load_explicit(&vm->ack->head, memory_order_relaxed);
	atomic_store_explicit(&vm->ack->head, kian, memory_order_release);
	pthread_mutex_unlock(&vm->ack->lock);
}

void virq_unregister_irq_ack_notifier(struct virq_vm *vm, struct virq_irq_ack_notifier *kian)
{
	struct virq_irq_ack_notifier *_Atomic *pp;

	pthread_mutex_lock(&vm->ack->lock);
	for (pp = &vm->ack->head; *pp; pp = (struct virq_irq_ack_notifier *_Atomic *)&(*pp)->next) {
		if (*pp == kian) {
			atomic_store_explicit(pp, kian->next, memory_order_release);
			break;
		}
	}
	pthread_mutex_unlock(&vm->ack->lock);
	synchronize_rcu();
}

static void notify_acked_gsi(struct virq_vm *vm, int gsi)
{
	struct virq_irq_ack_notifier *kian;

	for (kian = atomic_load_explicit(&vm->ack->head, memory_order_acquire); kian;
	     kian = atomic_load_explicit(&kian->next, memory_order_acquire))
		if (kian->gsi == (uint32_t)gsi)
			kian->irq_acked(kian);
}

void virq_notify_acked_irq(struct virq_vm *vm, uint32_t irqchip, uint32_t pin)
{
	int gsi;

	if (!atomic_load_explicit(&vm->ack->head, memory_order_relaxed))
		return;
	rcu_read_lock();
	gsi = virq_irqchip_pin_to_gsi(vm, irqchip, pin);
	if (gsi != -1)
		notify_acked_gsi(vm, gsi);
	rcu_read_unlock();
}

bool virq_irq_has_notifier(struct virq_vm *vm, uint32_t irqchip, uint32_t pin)
{
	struct virq_irq_ack_notifier *kian;
	bool found = false;
	int gsi;

	if (!atomic_load_explicit(&vm->ack->head, memory_order_relaxed))
		return false;
	rcu_read_lock();
	gsi = virq_irqchip_pin_to_gsi(vm, irqchip, pin);
	for (kian = atomic_load_explicit(&vm->ack->head, memory_order_acquire);
	     gsi != -1 && kian && !found; kian = atomic_load_explicit(&kian->next, memory_order_acquire))
		found = kian->gsi == (uint32_t)gsi;
	rcu_read_unlock();
	return found;
}
