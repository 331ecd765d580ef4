/* SPDX-License-Identifier: MIT */
/* backend_virq.c - glue shared by the split and userspace backends. */
#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "backend_virq.h"
#include "virq/virq.h"

int vb_set_line(int vfd, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	if (virq_ioctl(vfd, KVM_IRQ_LINE_STATUS, &irq) < 0)
		return -errno;
	/* irq.status shares storage with irq.irq (a union). */
	return irq.status < 0 ? 0 : irq.status;
}

int vb_signal_msi(int vfd, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data };
	int r = virq_ioctl(vfd, KVM_SIGNAL_MSI, &msi);

	/* -1/EPERM is "no destination", not a failure of the VMM. */
	if (r < 0)
		return errno == EPERM ? 0 : -errno;
	return r;
}

int vb_irqfd(int vfd, uint32_t gsi, int fd, int resamplefd)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = KVM_IRQFD_FLAG_RESAMPLE,
		.resamplefd = (uint32_t)resamplefd,
	};

	return virq_ioctl(vfd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int vb_claimed(int r)
{
	if (r == -EINVAL || r == -EOPNOTSUPP)
		return 0;
	return r < 0 ? r : 1;
}

int vb_pic_pio(int vfd, uint16_t port, void *data, int size, bool write)
{
	if (port != 0x20 && port != 0x21 && port != 0xa0 && port != 0xa1 && port != 0x4d0 && port != 0x4d1)
		return 0;
	int r = write ? virq_pio_write(vfd, port, data, (unsigned)size) : virq_pio_read(vfd, port, data, (unsigned)size);

	return r < 0 ? r : 1;
}

int vb_ioapic_mmio(int vfd, uint64_t addr, void *data, int size, bool write)
{
	uint32_t off;

	if (addr < VB_IOAPIC_BASE || addr >= VB_IOAPIC_BASE + VB_MMIO_PAGE)
		return 0;
	off = (uint32_t)(addr - VB_IOAPIC_BASE);
	return vb_claimed(write ? virq_ioapic_write(vfd, off, data, (unsigned)size)
				: virq_ioapic_read(vfd, off, data, (unsigned)size));
}

int vb_inject(int kvm_vcpu, struct kvm_run *run, int (*has)(int), int (*ack)(int), int h)
{
	int v;

	run->request_interrupt_window = 0;
	if (has(h) != 1)
		return 0;
	if (!run->ready_for_interrupt_injection || !run->if_flag) {
		run->request_interrupt_window = 1;
		return 0;
	}
	v = ack(h);
	if (v >= 0) {
		struct kvm_interrupt irq = { .irq = (uint32_t)v };

		if (ioctl(kvm_vcpu, KVM_INTERRUPT, &irq) < 0)
			return -errno;
	}
	return 0;
}
