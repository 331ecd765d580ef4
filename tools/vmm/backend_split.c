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
#include "virq/virq.h"

#define SPLIT_PINS 24
#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_SIZE 0x1000ull

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
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	if (virq_ioctl(s->vfd, KVM_IRQ_LINE_STATUS, &irq) < 0)
		return -errno;
	return s->mirror_err ? s->mirror_err : (irq.status < 0 ? 0 : irq.status);
}

static int split_signal_msi(struct vmm *vm, uint64_t addr, uint32_t data)
{
	struct split *s = split_of(vm);
	struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data };
	int r = virq_ioctl(s->vfd, KVM_SIGNAL_MSI, &msi);

	/* -1/EPERM is "no destination", not a failure of the VMM. */
	return r < 0 && errno != EPERM ? -errno : (r < 0 ? 0 : r);
}

static bool pic_port(uint16_t port)
{
	return port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1 || port == 0x4d0 || port == 0x4d1;
}

static int split_pio(struct vmm *vm, int cpu, uint16_t port, void *data, int size, bool write)
{
	struct split *s = split_of(vm);
	int r;

	(void)cpu;
	if (!pic_port(port))
		return 0;
	r = write ? virq_pio_write(s->vfd, port, data, (unsigned)size) : virq_pio_read(s->vfd, port, data, (unsigned)size);
	return r < 0 ? r : 1;
}

static int split_mmio(struct vmm *vm, int cpu, uint64_t addr, void *data, int size, bool write)
{
	struct split *s = split_of(vm);
	uint32_t off;
	int r;

	(void)cpu;
	if (addr < IOAPIC_BASE || addr >= IOAPIC_BASE + IOAPIC_SIZE)
		return 0;
	off = (uint32_t)(addr - IOAPIC_BASE);
	r = write ? virq_ioapic_write(s->vfd, off, data, (unsigned)size)
		  : virq_ioapic_read(s->vfd, off, data, (unsigned)size);
	/* An access the IOAPIC refuses (bad size) reads as ones, as unclaimed. */
	if (r == -EINVAL || r == -EOPNOTSUPP)
		return 0;
	return r < 0 ? r : (s->mirror_err ? s->mirror_err : 1);
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
	struct split *s = split_of(vm);
	struct kvm_run *run = vmm_vcpu_run(vm, cpu);
	int v;

	if (cpu != 0)
		return 0;
	run->request_interrupt_window = 0;
	if (virq_pic_has_interrupt(s->vfd) != 1)
		return 0;
	if (!run->ready_for_interrupt_injection || !run->if_flag) {
		run->request_interrupt_window = 1;
		return 0;
	}
	v = virq_pic_ack_interrupt(s->vfd);
	if (v >= 0) {
		struct kvm_interrupt irq = { .irq = (uint32_t)v };

		if (ioctl(vmm_vcpu_fd(vm, cpu), KVM_INTERRUPT, &irq) < 0)
			return -errno;
	}
	return 0;
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
	.pio = split_pio,
	.mmio = split_mmio,
	.ioapic_eoi = split_ioapic_eoi,
	.pre_run = split_pre_run,
	.destroy = split_destroy,
};
