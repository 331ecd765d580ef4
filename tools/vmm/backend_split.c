/* SPDX-License-Identifier: MIT */
/*
 * backend_split.c - `--irqchip split`: KVM keeps the local APICs
 * (KVM_CAP_SPLIT_IRQCHIP), virq owns the PICs, the IOAPIC and the routing.
 *
 *   guest IOAPIC MMIO, PIC ports      -> exits -> virq_ioapic_*, virq_pio_*
 *   IRQ test device, MSI test port    -> KVM_IRQ_LINE / KVM_SIGNAL_MSI on virq
 *   virq's messages for the LAPICs    -> KVM_SIGNAL_MSI on the kernel VM
 *   guest EOI of a level vector       -> KVM_EXIT_IOAPIC_EOI -> virq_ioapic_eoi
 *   PIC INT output                    -> KVM_INTERRUPT on vCPU 0 (ExtINT)
 *
 * KVM decides which EOIs to report from the MSI routes of GSIs below the
 * reserved IOAPIC pin count, so every unmasked redirection entry is
 * mirrored into the kernel's routing table as an MSI route on GSI = pin,
 * whenever virq reports it changed (guest writes, KVM_SET_IRQCHIP,
 * restore).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "backend.h"
#include "backend_virq.h"
#include "virq/virq.h"

#define SPLIT_PINS 24

struct split {
	struct vmm *vm;
	int sys, vfd; /* virq's handles */
	pthread_mutex_t lock; /* the mirror */
	struct {
		bool on;
		uint64_t address;
		uint32_t data;
	} pin[SPLIT_PINS];
	int mirror_err; /* the first KVM_SET_GSI_ROUTING failure, reported by the next hook */
};

static struct split *split_of(struct vmm *vm)
{
	return vmm_backend_data(vm);
}

/* virq -> the kernel's LAPICs. */
static int split_deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct split *s = opaque;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)address,
		.address_hi = (uint32_t)(address >> 32),
		.data = data,
	};
	int r = ioctl(vmm_vm_fd(s->vm), KVM_SIGNAL_MSI, &msi);

	return r < 0 ? -1 : r;
}

/* The PIC's output rose: vCPU 0 injects in pre_run. */
static void split_extint(void *opaque)
{
	struct split *s = opaque;

	vmm_kick(s->vm, 0);
}

static void split_ioapic_entry(void *opaque, uint32_t pin, uint64_t address, uint32_t data, bool masked)
{
	struct split *s = opaque;
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[SPLIT_PINS];
	} t;

	if (pin >= SPLIT_PINS)
		return;
	memset(&t, 0, sizeof(t));
	pthread_mutex_lock(&s->lock);
	s->pin[pin].on = !masked;
	s->pin[pin].address = address;
	s->pin[pin].data = data;
	for (uint32_t i = 0; i < SPLIT_PINS; i++) {
		struct kvm_irq_routing_entry *e = &t.e[t.r.nr];

		if (!s->pin[i].on)
			continue;
		e->gsi = i;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)s->pin[i].address;
		e->u.msi.address_hi = (uint32_t)(s->pin[i].address >> 32);
		e->u.msi.data = s->pin[i].data;
		t.r.nr++;
	}
	if (ioctl(vmm_vm_fd(s->vm), KVM_SET_GSI_ROUTING, &t) < 0 && !s->mirror_err)
		s->mirror_err = -errno;
	pthread_mutex_unlock(&s->lock);
}

static const struct virq_apic_bus split_bus = {
	.deliver = split_deliver,
	.extint = split_extint,
	.ioapic_entry = split_ioapic_entry,
};

static void split_destroy(struct vmm *vm);

static int split_create(struct vmm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args[0] = SPLIT_PINS };
	struct split *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->sys = s->vfd = -1;
	pthread_mutex_init(&s->lock, NULL);
	vmm_set_backend_data(vm, s);
	r = 0;
	if (ioctl(vmm_vm_fd(vm), KVM_ENABLE_CAP, &cap) < 0)
		r = -errno;
	else if ((s->sys = virq_open(VIRQ_ARCH_X86)) < 0)
		r = -errno;
	else if ((s->vfd = virq_ioctl(s->sys, KVM_CREATE_VM, 0)) < 0 ||
		 virq_ioctl(s->vfd, KVM_CREATE_IRQCHIP, 0) < 0)
		r = -errno;
	else
		r = virq_vm_set_apic_bus(s->vfd, &split_bus, s);
	if (!r)
		r = s->mirror_err;
	if (r < 0)
		split_destroy(vm); /* destroy() runs only after a create() that succeeded */
	return r;
}

static int split_set_line(struct vmm *vm, uint32_t gsi, int level)
{
	struct split *s = split_of(vm);
	int r = vb_set_line(s->vfd, gsi, level);

	return r >= 0 && s->mirror_err ? s->mirror_err : r;
}

static int split_signal_msi(struct vmm *vm, uint64_t addr, uint32_t data)
{
	return vb_signal_msi(split_of(vm)->vfd, addr, data);
}

static int split_irqfd(struct vmm *vm, uint32_t gsi, int fd, int resamplefd)
{
	return vb_irqfd(split_of(vm)->vfd, gsi, fd, resamplefd);
}

static int split_pio(struct vmm *vm, int cpu, uint16_t port, void *data, int size, bool write)
{
	(void)cpu;
	return vb_pic_pio(split_of(vm)->vfd, port, data, size, write);
}

static int split_mmio(struct vmm *vm, int cpu, uint64_t addr, void *data, int size, bool write)
{
	struct split *s = split_of(vm);
	int r;

	(void)cpu;
	r = vb_ioapic_mmio(s->vfd, addr, data, size, write);
	return r > 0 && s->mirror_err ? s->mirror_err : r;
}

static int split_ioapic_eoi(struct vmm *vm, int cpu, int vector)
{
	struct split *s = split_of(vm);

	(void)cpu;
	return virq_ioapic_eoi(s->vfd, (uint32_t)vector);
}

/* ExtINT: vCPU 0 takes the PIC's vector when the guest can. */
static int split_pre_run(struct vmm *vm, int cpu)
{
	if (cpu != 0)
		return 0;
	return vb_inject(vmm_vcpu_fd(vm, cpu), vmm_vcpu_run(vm, cpu), virq_pic_has_interrupt,
			 virq_pic_ack_interrupt, split_of(vm)->vfd);
}

static void split_destroy(struct vmm *vm)
{
	struct split *s = split_of(vm);

	if (!s)
		return;
	if (s->vfd >= 0)
		virq_close(s->vfd);
	if (s->sys >= 0)
		virq_close(s->sys);
	pthread_mutex_destroy(&s->lock);
	free(s);
	vmm_set_backend_data(vm, NULL);
}

const struct vmm_backend vmm_backend_split = {
	.name = "split",
	.lapic_in_kernel = true,
	.create = split_create,
	.set_line = split_set_line,
	.signal_msi = split_signal_msi,
	.irqfd = split_irqfd,
	.pio = split_pio,
	.mmio = split_mmio,
	.ioapic_eoi = split_ioapic_eoi,
	.pre_run = split_pre_run,
	.destroy = split_destroy,
};
