/* SPDX-License-Identifier: MIT */
/*
 * ext_bus.c - local APICs that live outside virq (virq_vm_set_apic_bus()).
 *
 * With KVM's split irqchip the kernel keeps the local APICs and the VMM
 * keeps the PICs, the IOAPIC and the routing table: here, virq's.  Every
 * message those would put on the APIC bus leaves as an MSI (the format
 * KVM_SIGNAL_MSI takes), and the IOAPIC's redirection entries are
 * reported as messages whenever they change, so the VMM can mirror them
 * into KVM's routing table, from which KVM learns which vectors need
 * KVM_EXIT_IOAPIC_EOI.
 *
 * The bus is installed once, before any vCPU, and never removed: readers
 * load the pointer without further synchronisation.
 */
#include <stdlib.h>
#include <string.h>

#include "ioapic.h"
#include "x86.h"

struct x86_ext_bus {
	struct virq_apic_bus ops;
	void *opaque;
	/* The last message reported per pin; serialises reports. */
	pthread_mutex_t lock;
	struct {
		bool known, masked;
		uint64_t address;
		uint32_t data;
	} pin[X86_IOAPIC_NUM_PINS];
};

/* An APIC-bus message in MSI format (the inverse of x86_msi_to_irq()). */
static void irq_to_msi(const struct x86_irq *irq, uint64_t *address, uint32_t *data)
{
	*address = 0xfee00000ull | (uint64_t)(irq->dest_id & 0xff) << 12 |
		   (irq->dest_mode == APIC_DEST_LOGICAL ? 1u << 2 : 0) |
		   (uint64_t)(irq->dest_id & 0xffffff00u) << 32;
	*data = (irq->vector & 0xff) | (irq->delivery_mode & 0x700) | (irq->level ? 1u << 14 : 0) |
		(irq->trig_mode ? 1u << 15 : 0);
}

int x86_ext_deliver(struct x86_ext_bus *bus, const struct x86_irq *irq)
{
	uint64_t address;
	uint32_t data;

	irq_to_msi(irq, &address, &data);
	return bus->ops.deliver(bus->opaque, address, data);
}

/* The message of a redirection entry, as the IOAPIC would send it. */
static void rte_to_msi(uint64_t bits, uint64_t *address, uint32_t *data)
{
	struct x86_irq irq = {
		.vector = bits & 0xff,
		.delivery_mode = (uint32_t)(bits & 0x700),
		.dest_mode = bits & (1u << 11) ? APIC_DEST_LOGICAL : APIC_DEST_PHYSICAL,
		.trig_mode = bits & (1u << 15) ? 1 : 0,
		.level = true,
		.dest_id = (uint32_t)(bits >> 56),
	};

	irq_to_msi(&irq, address, data);
}

void x86_ext_report_ioapic(struct x86_vm *xvm, bool all)
{
	struct x86_ext_bus *bus = atomic_load_explicit(&xvm->ext_bus, memory_order_acquire);
	struct kvm_ioapic_state st;

	if (!bus || !bus->ops.ioapic_entry || !xvm->ioapic)
		return;
	pthread_mutex_lock(&bus->lock);
	x86_ioapic_get_state(xvm->ioapic, &st);
	for (uint32_t pin = 0; pin < X86_IOAPIC_NUM_PINS; pin++) {
		uint64_t bits = st.redirtbl[pin].bits, address;
		bool masked = bits & (1u << 16);
		uint32_t data;

		rte_to_msi(bits, &address, &data);
		if (!all && bus->pin[pin].known && bus->pin[pin].masked == masked &&
		    bus->pin[pin].address == address && bus->pin[pin].data == data)
			continue;
		bus->pin[pin].known = true;
		bus->pin[pin].masked = masked;
		bus->pin[pin].address = address;
		bus->pin[pin].data = data;
		bus->ops.ioapic_entry(bus->opaque, pin, address, data, masked);
	}
	pthread_mutex_unlock(&bus->lock);
}

void x86_ext_extint(struct x86_vm *xvm)
{
	struct x86_ext_bus *bus = atomic_load_explicit(&xvm->ext_bus, memory_order_acquire);

	if (bus && bus->ops.extint)
		bus->ops.extint(bus->opaque);
}

int x86_ext_bus_install(struct x86_vm *xvm, const struct virq_apic_bus *ops, void *opaque)
{
	struct virq_vm *vm = xvm->vm;
	struct x86_ext_bus *bus, *none = NULL;
	int r = 0;

	if (!ops || !ops->deliver)
		return -EINVAL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->ops = *ops;
	bus->opaque = opaque;
	pthread_mutex_init(&bus->lock, NULL);

	pthread_mutex_lock(&vm->lock);
	if (!x86_irqchip_full(xvm))
		r = -EINVAL;
	else if (vm->created_vcpus)
		r = -EBUSY;
	else if (!atomic_compare_exchange_strong_explicit(&xvm->ext_bus, &none, bus, memory_order_release,
							  memory_order_relaxed))
		r = -EBUSY;
	pthread_mutex_unlock(&vm->lock);
	if (r) {
		pthread_mutex_destroy(&bus->lock);
		free(bus);
		return r;
	}
	x86_ext_report_ioapic(xvm, true);
	return 0;
}

void x86_ext_bus_free(struct x86_vm *xvm)
{
	struct x86_ext_bus *bus = atomic_load_explicit(&xvm->ext_bus, memory_order_relaxed);

	if (!bus)
		return;
	pthread_mutex_destroy(&bus->lock);
	free(bus);
}
