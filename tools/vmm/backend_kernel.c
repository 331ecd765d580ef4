/* SPDX-License-Identifier: MIT */
/*
 * backend_kernel.c - `--irqchip kernel`: KVM models every chip.
 *
 * KVM_CREATE_IRQCHIP makes the two 8259s, the IOAPIC and one LAPIC per vCPU
 * in the kernel, with the default routing (GSI 0-15 to PIC and IOAPIC,
 * 16-23 to the IOAPIC).  The LAPIC and IOAPIC MMIO, the PIC ports, HLT and
 * EOIs never leave the kernel, so only lines and MSIs are left to do.
 * No in-kernel PIT (KVM_CREATE_PIT2): the built-in guest does not use one.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "backend.h"

static int kernel_create(struct vmm *vm)
{
	if (ioctl(vmm_vm_fd(vm), KVM_CREATE_IRQCHIP, 0) < 0)
		return -errno;
	return 0;
}

static int kernel_set_line(struct vmm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vmm_vm_fd(vm), KVM_IRQ_LINE_STATUS, &irq) < 0)
		return -errno;
	/* irq.status shares storage with irq.irq (a union). */
	return irq.status < 0 ? 0 : irq.status;
}

static int kernel_signal_msi(struct vmm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	int r = ioctl(vmm_vm_fd(vm), KVM_SIGNAL_MSI, &msi);

	return r < 0 ? -errno : r;
}

static int kernel_irqfd(struct vmm *vm, uint32_t gsi, int fd, int resamplefd)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = KVM_IRQFD_FLAG_RESAMPLE,
		.resamplefd = (uint32_t)resamplefd,
	};

	return ioctl(vmm_vm_fd(vm), KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

const struct vmm_backend vmm_backend_kernel = {
	.name = "kernel",
	.lapic_in_kernel = true,
	.create = kernel_create,
	.set_line = kernel_set_line,
	.signal_msi = kernel_signal_msi,
	.irqfd = kernel_irqfd,
};
