/* SPDX-License-Identifier: MIT */
/* irqfd.c - placeholder until irqfd lands (being written). */
#include "core.h"

long virq_irqfd_ioctl(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	(void)vm;
	(void)args;
	return -ENOTTY;
}

bool virq_notify_irqfd_resampler(struct virq_vm *vm, uint32_t gsi)
{
	(void)vm;
	(void)gsi;
	return false;
}

void virq_irqfd_routing_update(struct virq_vm *vm)
{
	(void)vm;
}

uint32_t virq_irqfd_save(struct virq_vm *vm, struct virq_state_irqfd *out, uint32_t max)
{
	(void)vm;
	(void)out;
	(void)max;
	return 0;
}

int virq_irqfd_restore(struct virq_vm *vm, const struct virq_state_irqfd *recs, uint32_t n)
{
	(void)vm;
	(void)recs;
	return n ? -EINVAL : 0;
}

void virq_irqfds_destroy(struct virq_vm *vm)
{
	(void)vm;
}

int virq_irqfd_set_mode(int vm_fd, int mode)
{
	(void)vm_fd;
	(void)mode;
	return -ENOSYS;
}

int virq_irqfd_dispatch(int vm_fd)
{
	(void)vm_fd;
	return -ENOSYS;
}

int virq_irqfd_trigger(int vm_fd, int eventfd)
{
	(void)vm_fd;
	(void)eventfd;
	return -ENOSYS;
}
